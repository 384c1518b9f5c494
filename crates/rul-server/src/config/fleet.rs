//! Settings of the fleet state (per-engine streams, tracked RUL, history store).

use clap::Args;

/// Where the fleet keeps its history and for how long.
#[derive(Args, Clone, PartialEq)]
pub struct FleetArgs {
    /// Keep per-engine streams (the /engines, /alerts and /drift routes). Off for a stateless prediction tier
    /// that scales horizontally (deploy/k8s/deployment.yaml); always off in SageMaker container mode.
    #[arg(long, env = "FLEET_ENABLED", default_value_t = true, action = clap::ArgAction::Set)]
    pub fleet_enabled: bool,
    /// History store: `sqlite://FILE` (created if missing; WAL) or `postgres://user@host/db`. Off in SageMaker
    /// container mode.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://rul.db")]
    pub database_url: String,
    /// Readings and predictions older than this many days are pruned (hourly).
    #[arg(long, env = "HISTORY_DAYS", default_value_t = 365)]
    pub history_days: u32,
    /// An engine raises an alert when its tracked RUL's lower bound falls below this many cycles (engine label
    /// `alert_rul_below` overrides it per engine).
    #[arg(long, env = "ALERT_RUL_BELOW", default_value_t = 30.0)]
    pub alert_rul_below: f64,
    /// Below this lower bound the alert is critical.
    #[arg(long, env = "ALERT_CRITICAL_BELOW", default_value_t = 10.0)]
    pub alert_critical_below: f64,
    /// An active alert clears when the lower bound climbs back above this (hysteresis).
    #[arg(long, env = "ALERT_CLEAR_ABOVE", default_value_t = 40.0)]
    pub alert_clear_above: f64,
    /// Every alert change is POSTed here as JSON (retried with backoff; never blocks ingestion). Off if unset.
    #[arg(long, env = "ALERT_WEBHOOK_URL")]
    pub alert_webhook_url: Option<String>,
    /// A reading is out of range beyond the training minimum/maximum by more than this fraction of the range.
    #[arg(long, env = "QUALITY_RANGE_MARGIN", default_value_t = 0.1)]
    pub quality_range_margin: f64,
    /// A reading jumped when an input moved more than this many training standard deviations in one cycle.
    #[arg(long, env = "QUALITY_JUMP_SIGMAS", default_value_t = 6.0)]
    pub quality_jump_sigmas: f64,
    /// A sensor is stuck after this many identical values in a row (and longer than training ever showed).
    #[arg(long, env = "QUALITY_STUCK_CYCLES", default_value_t = 5)]
    pub quality_stuck_cycles: usize,
    /// Most recent readings of the whole fleet behind GET /drift's per-input PSI and `rul_input_drift`.
    #[arg(long, env = "DRIFT_FLEET_WINDOW", default_value_t = 2000)]
    pub drift_fleet_window: usize,
    /// Replicas sharing one PostgreSQL store; each owns the engines whose id hashes to its index (see
    /// README "Replicas").
    #[arg(long, env = "FLEET_REPLICAS", default_value_t = 1)]
    pub fleet_replicas: u32,
    /// This replica's index (0-based). Unset: taken from a StatefulSet hostname's ordinal (`rul-2` → 2).
    #[arg(long, env = "FLEET_REPLICA")]
    pub fleet_replica: Option<u32>,
}

impl Default for FleetArgs {
    fn default() -> Self {
        let alerts = rul_fleet::AlertPolicy::default();
        let quality = rul_fleet::QualityPolicy::default();
        Self {
            fleet_enabled: true,
            database_url: "sqlite://rul.db".into(),
            history_days: 365,
            alert_rul_below: alerts.rul_below,
            alert_critical_below: alerts.critical_below,
            alert_clear_above: alerts.clear_above,
            alert_webhook_url: None,
            quality_range_margin: quality.range_margin,
            quality_jump_sigmas: quality.jump_sigmas,
            quality_stuck_cycles: quality.stuck_cycles,
            drift_fleet_window: rul_fleet::drift::DEFAULT_FLEET_WINDOW,
            fleet_replicas: 1,
            fleet_replica: None,
        }
    }
}

impl FleetArgs {
    /// Problems with these settings, one message each.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let url = self.database_url.as_str();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            problems.push(format!(
                "DATABASE_URL must start with sqlite:, postgres:// or postgresql://, got {:?}",
                redacted_url(url)
            ));
        }
        if self.history_days == 0 {
            problems.push("HISTORY_DAYS must be at least 1".to_string());
        }
        if let Err(e) = self.alert_policy().validate() {
            problems.push(e);
        }
        if let Err(e) = self.quality_policy().validate() {
            problems.push(e);
        }
        if let Err(e) = self.ownership() {
            problems.push(e);
        }
        if !(1..=1_000_000).contains(&self.drift_fleet_window) {
            problems.push(format!(
                "DRIFT_FLEET_WINDOW must be 1..=1000000, got {}",
                self.drift_fleet_window
            ));
        }
        if let Some(url) = &self.alert_webhook_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            problems.push(format!(
                "ALERT_WEBHOOK_URL must start with http:// or https://, got {:?}",
                redacted_url(url)
            ));
        }
        problems
    }

    /// The alert thresholds.
    pub fn alert_policy(&self) -> rul_fleet::AlertPolicy {
        rul_fleet::AlertPolicy {
            rul_below: self.alert_rul_below,
            critical_below: self.alert_critical_below,
            clear_above: self.alert_clear_above,
        }
    }

    /// This replica's share of the engines: FLEET_REPLICA, else the ordinal at the end of HOSTNAME.
    pub fn ownership(&self) -> Result<rul_fleet::Ownership, String> {
        let replica = match self.fleet_replica {
            Some(r) => r,
            None if self.fleet_replicas <= 1 => 0,
            None => std::env::var("HOSTNAME")
                .ok()
                .and_then(|h| h.rsplit('-').next().and_then(|n| n.parse().ok()))
                .ok_or_else(|| {
                    "FLEET_REPLICAS > 1 needs FLEET_REPLICA (or a HOSTNAME ending in -<ordinal>)"
                        .to_string()
                })?,
        };
        let own = rul_fleet::Ownership {
            replica,
            replicas: self.fleet_replicas,
        };
        own.validate()?;
        Ok(own)
    }

    /// When a reading is flagged.
    pub fn quality_policy(&self) -> rul_fleet::QualityPolicy {
        rul_fleet::QualityPolicy {
            range_margin: self.quality_range_margin,
            jump_sigmas: self.quality_jump_sigmas,
            stuck_cycles: self.quality_stuck_cycles,
        }
    }
}

/// The URL with any password replaced, for logs.
pub fn redacted_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            if userinfo.contains(':') {
                format!("{scheme}://{user}:<redacted>@{host}")
            } else {
                url.to_string()
            }
        }
        None => url.to_string(),
    }
}

impl std::fmt::Debug for FleetArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetArgs")
            .field("database_url", &redacted_url(&self.database_url))
            .field("history_days", &self.history_days)
            .field("alerts", &self.alert_policy())
            .field("quality", &self.quality_policy())
            .field("drift_fleet_window", &self.drift_fleet_window)
            .field("fleet_replicas", &self.fleet_replicas)
            .field("fleet_replica", &self.fleet_replica)
            .field(
                "alert_webhook_url",
                &self.alert_webhook_url.as_deref().map(redacted_url),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redacted_url("postgres://rul:s3cret@db:5432/rul"),
            "postgres://rul:<redacted>@db:5432/rul"
        );
        assert_eq!(redacted_url("sqlite://rul.db"), "sqlite://rul.db");
        let args = FleetArgs {
            database_url: "postgres://u:pw@h/d".into(),
            history_days: 1,
            alert_webhook_url: Some("https://bot:token@hooks.example/alerts".into()),
            ..FleetArgs::default()
        };
        let shown = format!("{args:?}");
        assert!(!shown.contains("pw") && !shown.contains("token"), "{shown}");
    }

    #[test]
    fn validation() {
        assert!(FleetArgs::default().problems().is_empty());
        let bad = FleetArgs {
            database_url: "mysql://x".into(),
            history_days: 0,
            alert_rul_below: 5.0,
            alert_webhook_url: Some("ftp://x".into()),
            ..FleetArgs::default()
        };
        assert_eq!(bad.problems().len(), 4, "{:?}", bad.problems());
    }
}
