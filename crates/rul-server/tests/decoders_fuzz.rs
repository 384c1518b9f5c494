//! Every decoder a client can reach — REST JSON bodies, `/invocations` JSON and CSV, the readings files of
//! `rul predict`, MQTT payloads — fed arbitrary bytes and near-valid JSON: each answers with a value or a
//! structured error (bounded in size), never a panic. Runs 1,000 cases per decoder (`PROPTEST_CASES` overrides).

use proptest::prelude::*;
use rul_server::http::errors::{ApiError, MAX_ERROR_BODY_BYTES};
use rul_server::http::fleet::ReadingsBody;
use rul_server::http::json::parse_object;
use rul_server::http::predict::{BatchBody, PredictBody};
use rul_server::http::sagemaker::parse::{parse_csv, parse_json};
use serde_json::Value;

/// Field names the decoders know, plus a few they do not, so generated objects reach deep into the schemas.
const KEYS: [&str; 14] = [
    "engine_id",
    "sensor_data",
    "readings",
    "requests",
    "instances",
    "cycle",
    "s2",
    "s3",
    "s21",
    "setting_1",
    "setting_3",
    "use_sagemaker",
    "tags",
    "x",
];

/// JSON values shaped like the API's bodies: objects over [`KEYS`], arrays, and awkward scalars.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        prop_oneof![any::<f64>(), Just(1e308), Just(-0.0), Just(642.5)].prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(&KEYS[..]), inner), 0..8).prop_map(
                |fields| {
                    Value::Object(
                        fields
                            .into_iter()
                            .map(|(k, v)| (k.to_string(), v))
                            .collect(),
                    )
                }
            ),
        ]
    })
}

fn bounded(err: &ApiError) {
    let size = serde_json::to_vec(&err.body().clone().bounded()).map_or(0, |v| v.len());
    assert!(size <= MAX_ERROR_BODY_BYTES, "{size} bytes");
    assert!(!err.body().error.is_empty() && !err.body().kind.is_empty());
}

fn all_rest_bodies(bytes: &[u8]) {
    for result in [
        parse_object::<PredictBody>(bytes).err(),
        parse_object::<BatchBody>(bytes).err(),
        parse_object::<ReadingsBody>(bytes).err(),
    ]
    .iter()
    .flatten()
    {
        bounded(result);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn rest_bodies_from_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        all_rest_bodies(&bytes);
    }

    #[test]
    fn rest_bodies_from_near_valid_json(value in json_value()) {
        all_rest_bodies(value.to_string().as_bytes());
    }

    #[test]
    fn invocations_from_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        for err in [parse_json(&bytes).err(), parse_csv(&bytes).err()].iter().flatten() {
            bounded(err);
        }
    }

    #[test]
    fn invocations_from_near_valid_input(
        value in json_value(),
        rows in prop::collection::vec("[-0-9.,e a-z_]{0,40}", 0..8),
    ) {
        if let Err(e) = parse_json(value.to_string().as_bytes()) {
            bounded(&e);
        }
        let csv = format!("s2,s3,setting_1\n{}", rows.join("\n"));
        if let Err(e) = parse_csv(csv.as_bytes()) {
            bounded(&e);
        }
    }

    #[test]
    fn readings_files_never_panic(text in "\\PC{0,300}", value in json_value()) {
        let _ = rul_data::raw::parse_csv(&text);
        let _ = rul_client::predict::parse_json_readings(&text);
        let _ = rul_client::predict::parse_json_readings(&value.to_string());
    }

    #[test]
    fn mqtt_payloads_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512), value in json_value()) {
        for payload in [bytes, value.to_string().into_bytes()] {
            if let Err(r) = rul_server::mqtt::payload::decode("engine-1", &payload, 4096) {
                assert!(!r.kind.is_empty() && r.reason.len() < 4096, "{}", r.reason);
            }
        }
    }
}
