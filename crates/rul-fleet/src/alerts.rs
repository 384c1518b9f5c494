//! RUL alerts: an engine whose tracked interval's lower bound falls below a threshold raises one alert (not one
//! per cycle), escalates from `warning` to `critical` below a second threshold, and clears with hysteresis once
//! the bound climbs back above a third. Pure logic here; the fleet persists each transition with the prediction
//! that caused it.

use serde::{Deserialize, Serialize};

/// Label on an engine's metadata that overrides the policy's `rul_below` for that engine.
pub const RUL_BELOW_LABEL: &str = "alert_rul_below";

/// When alerts open, escalate and clear (cycles of the tracked lower bound).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertPolicy {
    /// An alert opens when the lower bound falls below this (ALERT_RUL_BELOW).
    pub rul_below: f64,
    /// Below this the alert is critical (ALERT_CRITICAL_BELOW).
    pub critical_below: f64,
    /// An open alert clears when the lower bound rises above this (ALERT_CLEAR_ABOVE).
    pub clear_above: f64,
}

impl Default for AlertPolicy {
    fn default() -> Self {
        AlertPolicy {
            rul_below: 30.0,
            critical_below: 10.0,
            clear_above: 40.0,
        }
    }
}

impl AlertPolicy {
    /// Checks `0 <= critical_below <= rul_below <= clear_above`, all finite.
    pub fn validate(&self) -> Result<(), String> {
        let values = [self.critical_below, self.rul_below, self.clear_above];
        if values.iter().any(|v| !v.is_finite() || *v < 0.0) {
            return Err(format!(
                "alert thresholds must be finite and >= 0, got {self:?}"
            ));
        }
        if !(self.critical_below <= self.rul_below && self.rul_below <= self.clear_above) {
            return Err(format!(
                "alert thresholds must satisfy ALERT_CRITICAL_BELOW ({}) <= ALERT_RUL_BELOW ({}) <= \
                 ALERT_CLEAR_ABOVE ({})",
                self.critical_below, self.rul_below, self.clear_above
            ));
        }
        Ok(())
    }

    /// This policy with an engine's own opening threshold, when its metadata sets a valid one. The clearing
    /// threshold keeps its distance above the opening one.
    pub fn for_engine(&self, labels: &std::collections::BTreeMap<String, String>) -> AlertPolicy {
        match labels.get(RUL_BELOW_LABEL).and_then(|v| parse_threshold(v)) {
            Some(rul_below) => AlertPolicy {
                rul_below,
                critical_below: self.critical_below.min(rul_below),
                clear_above: rul_below + (self.clear_above - self.rul_below),
            },
            None => *self,
        }
    }
}

/// A per-engine threshold label's value, if it is a finite number >= 0.
pub fn parse_threshold(value: &str) -> Option<f64> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
}

/// How urgent an alert is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Lower bound below `rul_below`.
    Warning,
    /// Lower bound below `critical_below`.
    Critical,
}

impl Severity {
    /// Lower-case name, as stored and served.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Severity> {
        match s {
            "warning" => Some(Severity::Warning),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }
}

/// Where an alert is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// Raised, nobody has acknowledged it.
    Open,
    /// Acknowledged by someone; still active until it clears.
    Acked,
    /// The lower bound came back above the clearing threshold.
    Cleared,
}

impl AlertState {
    /// Lower-case name, as stored and served.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Open => "open",
            AlertState::Acked => "acked",
            AlertState::Cleared => "cleared",
        }
    }

    /// Parses a stored or requested name.
    pub fn parse(s: &str) -> Option<AlertState> {
        match s {
            "open" => Some(AlertState::Open),
            "acked" => Some(AlertState::Acked),
            "cleared" => Some(AlertState::Cleared),
            _ => None,
        }
    }

    /// Open or acked: the engine still needs attention.
    pub fn is_active(self) -> bool {
        self != AlertState::Cleared
    }
}

/// One alert with its history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// `{engine_id}@{opened_cycle}`: unique, and the same after a restart.
    pub alert_id: String,
    /// The engine.
    pub engine_id: String,
    /// Current severity (the highest reached while active).
    pub severity: Severity,
    /// Current state.
    pub state: AlertState,
    /// Threshold the lower bound crossed.
    pub threshold: f64,
    /// Cycle of the prediction that opened it.
    pub opened_cycle: u64,
    /// Tracked lower bound at that cycle.
    pub opened_lower: f64,
    /// Latest tracked lower bound while active.
    pub last_lower: f64,
    /// Cycle of the latest change (open, escalation, ack, clear).
    pub updated_cycle: u64,
    /// When it opened (ms since the epoch).
    pub opened_ms: i64,
    /// Who acknowledged it.
    pub acked_by: Option<String>,
    /// Their note.
    pub ack_note: Option<String>,
    /// When (ms since the epoch).
    pub acked_ms: Option<i64>,
    /// Cycle at which it cleared.
    pub cleared_cycle: Option<u64>,
    /// When (ms since the epoch).
    pub cleared_ms: Option<i64>,
}

/// A transport's alert message from an [`Alert`] `a`: the one field mapping REST and gRPC share (the two
/// types have the same field names; times become RFC 3339): `alert_message!(a => pb::Alert)`.
#[macro_export]
macro_rules! alert_message {
    ($a:expr => $ty:path) => {{
        let a: &$crate::Alert = $a;
        $ty {
            alert_id: a.alert_id.clone(),
            engine_id: a.engine_id.clone(),
            severity: a.severity.as_str().into(),
            state: a.state.as_str().into(),
            threshold: a.threshold,
            opened_cycle: a.opened_cycle,
            opened_lower: a.opened_lower,
            last_lower: a.last_lower,
            updated_cycle: a.updated_cycle,
            opened_at: $crate::rfc3339_ms(a.opened_ms),
            acked_by: a.acked_by.clone(),
            ack_note: a.ack_note.clone(),
            acked_at: a.acked_ms.map($crate::rfc3339_ms),
            cleared_cycle: a.cleared_cycle,
            cleared_at: a.cleared_ms.map($crate::rfc3339_ms),
        }
    }};
}

/// What one tracked prediction does to an engine's alert.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Transition {
    /// Nothing changes.
    None,
    /// A new alert opens with this severity.
    Open(Severity),
    /// The active alert becomes critical.
    Escalate,
    /// The active alert clears.
    Clear,
}

/// The transition for a new tracked lower bound, given the engine's active alert's severity (if any).
pub fn transition(policy: &AlertPolicy, active: Option<Severity>, lower: f64) -> Transition {
    let severity = if lower < policy.critical_below {
        Some(Severity::Critical)
    } else if lower < policy.rul_below {
        Some(Severity::Warning)
    } else {
        None
    };
    match (active, severity) {
        (None, Some(s)) => Transition::Open(s),
        (None, None) => Transition::None,
        (Some(Severity::Warning), Some(Severity::Critical)) => Transition::Escalate,
        (Some(_), _) if lower > policy.clear_above => Transition::Clear,
        (Some(_), _) => Transition::None,
    }
}

/// Applies a tracked prediction (cycle, lower bound) to an engine's active alert; returns the transition and
/// the alert as it must be stored when something changed.
pub fn apply(
    policy: &AlertPolicy,
    engine_id: &str,
    active: Option<&Alert>,
    cycle: u64,
    lower: f64,
    now_ms: i64,
) -> Option<(Transition, Alert)> {
    let step = transition(policy, active.map(|a| a.severity), lower);
    let alert = match step {
        Transition::None => None,
        Transition::Open(severity) => Some(Alert {
            alert_id: format!("{engine_id}@{cycle}"),
            engine_id: engine_id.to_string(),
            severity,
            state: AlertState::Open,
            threshold: policy.rul_below,
            opened_cycle: cycle,
            opened_lower: lower,
            last_lower: lower,
            updated_cycle: cycle,
            opened_ms: now_ms,
            acked_by: None,
            ack_note: None,
            acked_ms: None,
            cleared_cycle: None,
            cleared_ms: None,
        }),
        Transition::Escalate => active.map(|a| Alert {
            severity: Severity::Critical,
            last_lower: lower,
            updated_cycle: cycle,
            ..a.clone()
        }),
        Transition::Clear => active.map(|a| Alert {
            state: AlertState::Cleared,
            last_lower: lower,
            updated_cycle: cycle,
            cleared_cycle: Some(cycle),
            cleared_ms: Some(now_ms),
            ..a.clone()
        }),
    };
    alert.map(|a| (step, a))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(policy: &AlertPolicy, lowers: &[f64]) -> Vec<Alert> {
        let mut changes = Vec::new();
        let mut active: Option<Alert> = None;
        for (k, &lower) in lowers.iter().enumerate() {
            if let Some((_, a)) = apply(policy, "e1", active.as_ref(), k as u64 + 1, lower, 0) {
                active = a.state.is_active().then(|| a.clone());
                changes.push(a);
            }
        }
        changes
    }

    #[test]
    fn one_alert_per_crossing_not_one_per_cycle() {
        let p = AlertPolicy::default();
        let changes = run(&p, &[50.0, 35.0, 29.0, 28.0, 27.0, 31.0, 29.0, 25.0]);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].alert_id, "e1@3");
        assert_eq!(changes[0].severity, Severity::Warning);
    }

    #[test]
    fn escalates_once_then_clears_with_hysteresis() {
        let p = AlertPolicy::default();
        let changes = run(&p, &[29.0, 9.0, 5.0, 12.0, 39.0, 40.0, 41.0, 42.0, 29.0]);
        let kinds: Vec<_> = changes.iter().map(|a| (a.severity, a.state)).collect();
        assert_eq!(
            kinds,
            vec![
                (Severity::Warning, AlertState::Open),
                (Severity::Critical, AlertState::Open),
                (Severity::Critical, AlertState::Cleared),
                (Severity::Warning, AlertState::Open),
            ]
        );
        assert_eq!(changes[2].cleared_cycle, Some(7));
        assert_eq!(changes[3].alert_id, "e1@9");
    }

    #[test]
    fn straight_to_critical() {
        let changes = run(&AlertPolicy::default(), &[100.0, 3.0, 2.0]);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].severity, Severity::Critical);
    }

    #[test]
    fn per_engine_threshold_from_labels() {
        let p = AlertPolicy::default();
        let mut labels = std::collections::BTreeMap::new();
        labels.insert(RUL_BELOW_LABEL.to_string(), "60".to_string());
        let e = p.for_engine(&labels);
        assert_eq!(
            (e.rul_below, e.critical_below, e.clear_above),
            (60.0, 10.0, 70.0)
        );
        assert!(e.validate().is_ok());
        labels.insert(RUL_BELOW_LABEL.to_string(), "soon".to_string());
        assert_eq!(p.for_engine(&labels), p);
        labels.insert(RUL_BELOW_LABEL.to_string(), "5".to_string());
        assert_eq!(p.for_engine(&labels).critical_below, 5.0);
    }

    #[test]
    fn policy_validation() {
        assert!(AlertPolicy::default().validate().is_ok());
        let inverted = AlertPolicy {
            rul_below: 30.0,
            critical_below: 40.0,
            clear_above: 50.0,
        };
        assert!(inverted.validate().is_err());
        let nan = AlertPolicy {
            clear_above: f64::NAN,
            ..AlertPolicy::default()
        };
        assert!(nan.validate().is_err());
    }

    #[test]
    fn names_round_trip() {
        for s in [Severity::Warning, Severity::Critical] {
            assert_eq!(Severity::parse(s.as_str()), Some(s));
        }
        for s in [AlertState::Open, AlertState::Acked, AlertState::Cleared] {
            assert_eq!(AlertState::parse(s.as_str()), Some(s));
        }
        assert_eq!(AlertState::parse("closed"), None);
    }
}
