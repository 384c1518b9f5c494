//! Plausible readings: the synthetic training fleet's typical FD001 values and their drift over a life, so a
//! tiny test model accepts them and a longer history looks more worn.

use rul_data::synthetic::SENSOR_PROFILE;
use rul_data::{DEFAULT_SENSORS, RawReading, Reading, sensor_index};
use serde_json::{Value, json};

/// The 14 informative sensors every default model needs.
pub const SENSORS: [&str; 14] = DEFAULT_SENSORS;

/// Plausible value of `sensor` at cycle `i` of `n` (wear grows towards the end).
pub fn value(sensor: &str, i: usize, n: usize) -> f64 {
    let Some(k) = sensor_index(sensor) else {
        panic!("{sensor:?} is not a sensor");
    };
    let (base, drift) = SENSOR_PROFILE[k];
    let wear = ((i + 1) as f64 / n.max(1) as f64).powi(3);
    base + drift * wear * 0.8
}

/// Cycle `i` of `n` as a transport-decoded reading (the default sensors, no settings).
pub fn raw_reading(i: usize, n: usize) -> RawReading {
    RawReading::from(Reading::from_named(
        SENSORS.map(|s| (s, value(s, i, n))),
        None,
    ))
}

/// `n` readings in transport-neutral form (for gRPC and the client).
pub fn raw_readings(n: usize) -> Vec<RawReading> {
    (0..n).map(|i| raw_reading(i, n)).collect()
}

/// Cycle `i` of `n` as REST JSON (`{"s2": ..., ...}`).
pub fn reading_json(i: usize, n: usize) -> Value {
    let mut map = serde_json::Map::new();
    for s in SENSORS {
        map.insert(s.to_string(), json!(value(s, i, n)));
    }
    Value::Object(map)
}

/// `n` readings as REST JSON.
pub fn readings_json(n: usize) -> Vec<Value> {
    (0..n).map(|i| reading_json(i, n)).collect()
}

/// A valid POST /predict body of `n` readings.
pub fn predict_body(engine: &str, n: usize) -> Value {
    json!({ "engine_id": engine, "sensor_data": readings_json(n) })
}
