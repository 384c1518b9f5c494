//! Unit tests of the server configuration.

use super::*;
use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    config: ServerConfig,
}

#[test]
fn defaults_match_plan_and_validate() {
    let cli = Cli::try_parse_from(["rul"]).expect("parse");
    let parsed = cli.config;
    // Environment of the test process may set some names; compare the ones nobody sets in CI.
    assert_eq!(ServerConfig::default().grpc_port, 50051);
    assert_eq!(ServerConfig::default().http_port, 8000);
    assert_eq!(
        ServerConfig::default().service_name,
        "ml-prediction-service"
    );
    assert_eq!(parsed.model_path, PathBuf::from("models/fd001"));
    ServerConfig::default()
        .validate()
        .expect("defaults are valid");
}

#[test]
fn the_server_and_the_core_share_one_set_of_defaults() {
    let served = ServerConfig::default().predictor_config();
    let core = PredictorConfig::default();
    assert_eq!(served.model_path, core.model_path);
    assert_eq!(
        (served.max_batch, served.max_wait, served.queue_capacity),
        (core.max_batch, core.max_wait, core.queue_capacity)
    );
    assert_eq!(
        (served.cache_ttl, served.cache_capacity, served.idle_spin),
        (core.cache_ttl, core.cache_capacity, core.idle_spin)
    );
    let parsed = Cli::try_parse_from(["rul"]).expect("parse").config;
    assert_eq!(parsed.model_path, core.model_path);
}

#[test]
fn flags_parse() {
    let cli = Cli::try_parse_from([
        "rul",
        "--grpc-port",
        "6000",
        "--cors-origins",
        "http://a.example,https://b.example",
        "--sequence-length",
        "30",
    ])
    .expect("parse");
    assert_eq!(cli.config.grpc_port, 6000);
    assert_eq!(cli.config.cors_origins.len(), 2);
    assert_eq!(cli.config.sequence_length, Some(30));
}

#[test]
fn validate_reports_every_problem() {
    let config = ServerConfig {
        host: "not-an-ip".into(),
        http_port: 7000,
        grpc_port: 7000,
        max_batch: 0,
        admin_token: Some("short".into()),
        cors_origins: vec!["ftp://x".into()],
        rul_ceiling: Some(f64::NAN),
        ..ServerConfig::default()
    };
    let message = config.validate().expect_err("invalid").to_string();
    for needle in [
        "HOST",
        "must differ",
        "MAX_BATCH",
        "ADMIN_TOKEN",
        "CORS_ORIGINS",
        "RUL_CEILING",
    ] {
        assert!(message.contains(needle), "{needle} missing from {message}");
    }
}

#[test]
fn the_byte_budget_must_hold_the_largest_request() {
    let mut config = ServerConfig::default();
    config.connections.max_inflight_bytes = config.grpc_max_message_bytes;
    let message = config.validate().expect_err("too small").to_string();
    assert!(message.contains("MAX_INFLIGHT_BYTES"), "{message}");
    config.connections.max_inflight_bytes = config.largest_request_bytes();
    config.validate().expect("exactly one largest request fits");
    config.sagemaker.container = true;
    let message = config.validate().expect_err("6 MB invocations").to_string();
    assert!(message.contains("MAX_INFLIGHT_BYTES"), "{message}");
}

#[test]
fn debug_redacts_admin_token() {
    let config = ServerConfig {
        admin_token: Some("super-secret-token-123".into()),
        ..ServerConfig::default()
    };
    let shown = format!("{config:?}");
    assert!(!shown.contains("super-secret"));
    assert!(shown.contains("<redacted>"));
}

#[test]
fn empty_optional_values_count_as_unset() {
    let config = ServerConfig {
        admin_token: Some("  ".into()),
        sagemaker: SageMakerArgs {
            endpoint: Some(String::new()),
            ..SageMakerArgs::default()
        },
        cors_origins: vec![String::new()],
        ..ServerConfig::default()
    };
    assert_eq!(config.admin_token(), None);
    assert_eq!(config.sagemaker_endpoint(), None);
    assert!(config.cors_origins().is_empty());
    config.validate().expect("valid");
}
