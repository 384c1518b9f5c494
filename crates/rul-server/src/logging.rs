//! Process logging: JSON lines by default, human-readable text on a terminal, filter from LOG_LEVEL.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Output format of log lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line (machines, log shippers).
    Json,
    /// Human-readable lines (terminals).
    Text,
}

impl LogFormat {
    /// `Some("json"|"text")` picks explicitly; otherwise text when stdout is a terminal, JSON when not.
    pub fn resolve(requested: Option<&str>) -> Result<LogFormat, LoggingError> {
        match requested.map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) if s.eq_ignore_ascii_case("json") => Ok(LogFormat::Json),
            Some(s) if s.eq_ignore_ascii_case("text") => Ok(LogFormat::Text),
            Some(other) => Err(LoggingError(format!(
                "LOG_FORMAT must be \"json\" or \"text\", got {other:?}"
            ))),
            None if std::io::stdout().is_terminal() => Ok(LogFormat::Text),
            None => Ok(LogFormat::Json),
        }
    }
}

/// Logging could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("logging: {0}")]
pub struct LoggingError(String);

/// Installs the global tracing subscriber. `level` uses EnvFilter syntax ("info", "rul_server=debug,warn").
///
/// Called once by the CLI; the server itself never installs a subscriber, so tests and embedders choose.
pub fn init(level: &str, format: Option<&str>) -> Result<(), LoggingError> {
    let filter =
        EnvFilter::try_new(level).map_err(|e| LoggingError(format!("LOG_LEVEL {level:?}: {e}")))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout);
    let result = match LogFormat::resolve(format)? {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
    result.map_err(|e| LoggingError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_formats_win() {
        assert_eq!(
            LogFormat::resolve(Some("json")).expect("json"),
            LogFormat::Json
        );
        assert_eq!(
            LogFormat::resolve(Some("TEXT")).expect("text"),
            LogFormat::Text
        );
        assert!(LogFormat::resolve(Some("xml")).is_err());
    }

    #[test]
    fn bad_filter_is_reported() {
        let err = init("rul_server=notalevel", Some("json")).expect_err("bad filter");
        assert!(err.to_string().contains("LOG_LEVEL"), "{err}");
    }
}
