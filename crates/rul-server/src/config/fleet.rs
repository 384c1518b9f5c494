//! Settings of the fleet state (per-engine streams, tracked RUL, history store).

use clap::Args;

/// Where the fleet keeps its history and for how long.
#[derive(Args, Clone, PartialEq)]
pub struct FleetArgs {
    /// History store: `sqlite://FILE` (created if missing; WAL) or `postgres://user@host/db`. Off in SageMaker
    /// container mode.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://rul.db")]
    pub database_url: String,
    /// Readings and predictions older than this many days are pruned (hourly).
    #[arg(long, env = "HISTORY_DAYS", default_value_t = 365)]
    pub history_days: u32,
}

impl Default for FleetArgs {
    fn default() -> Self {
        Self {
            database_url: "sqlite://rul.db".into(),
            history_days: 365,
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
        problems
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
        };
        assert!(!format!("{args:?}").contains("pw"));
    }

    #[test]
    fn validation() {
        assert!(FleetArgs::default().problems().is_empty());
        let bad = FleetArgs {
            database_url: "mysql://x".into(),
            history_days: 0,
        };
        assert_eq!(bad.problems().len(), 2);
    }
}
