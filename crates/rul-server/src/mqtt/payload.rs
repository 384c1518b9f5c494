//! What travels over MQTT: reading payloads in (decoded with the REST route's bodies), the engine id from the
//! topic, and the dead-letter record of a rejected message.
//!
//! A reading payload is a JSON object, either one reading (`{"cycle": 7, "s2": 642.1, ...}`: `cycle` plus the
//! fields of a REST reading, s1..s21 and setting_1..setting_3) or the body of POST /engines/{id}/readings
//! (`{"readings": [{"cycle": 7, ...}, ...]}`, 1..=1000 readings in cycle order, applied all or nothing).

use rul_data::Reading;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::http::fleet::{CycleReadingBody, ReadingsBody, fleet_readings};
use crate::http::json::ObjectOnly;

/// Bytes of a rejected payload copied into its dead letter.
pub const DEAD_LETTER_PAYLOAD_BYTES: usize = 1024;

/// Why a message was not ingested: a stable kind (metrics label, dead-letter `kind`) and a readable reason.
#[derive(Clone, Debug, PartialEq)]
pub struct Rejection {
    /// `bad_topic`, `too_large`, `malformed`, `validation`, `conflict`, or another fleet error kind.
    pub kind: &'static str,
    /// What is wrong, for the sender.
    pub reason: String,
}

impl Rejection {
    fn new(kind: &'static str, reason: impl Into<String>) -> Self {
        Rejection {
            kind,
            reason: reason.into(),
        }
    }
}

/// The reading topic filter for `prefix`.
pub fn readings_filter(prefix: &str) -> String {
    format!("{prefix}/engines/+/readings")
}

/// The engine id of a reading topic `{prefix}/engines/{id}/readings`.
pub fn engine_of(prefix: &str, topic: &str) -> Result<String, Rejection> {
    topic
        .strip_prefix(prefix)
        .and_then(|t| t.strip_prefix("/engines/"))
        .and_then(|t| t.strip_suffix("/readings"))
        .filter(|id| !id.contains('/'))
        .map(str::to_string)
        .ok_or_else(|| {
            Rejection::new(
                "bad_topic",
                format!("topic is not {prefix}/engines/{{engine_id}}/readings"),
            )
        })
}

/// Decodes a payload into the fleet's `(cycle, reading)` pairs for `engine_id`, with the REST route's rules.
pub fn decode(
    engine_id: &str,
    payload: &[u8],
    max_bytes: usize,
) -> Result<Vec<(u64, Reading)>, Rejection> {
    if payload.len() > max_bytes {
        return Err(Rejection::new(
            "too_large",
            format!(
                "payload has {} bytes; at most {max_bytes} are accepted",
                payload.len()
            ),
        ));
    }
    let malformed = |e: serde_json::Error| Rejection::new("malformed", e.to_string());
    let ObjectOnly(object) =
        serde_json::from_slice::<ObjectOnly<serde_json::Map<String, Value>>>(payload)
            .map_err(malformed)?;
    let readings = if object.contains_key("readings") {
        ReadingsBody::deserialize(Value::Object(object))
            .map_err(malformed)?
            .readings
    } else {
        vec![CycleReadingBody::deserialize(Value::Object(object)).map_err(malformed)?]
    };
    fleet_readings(engine_id, &readings).map_err(|v| Rejection::new("validation", v.to_string()))
}

/// What `{prefix}/dead-letter` receives for each rejected message.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DeadLetter {
    /// The topic the message came on.
    pub topic: String,
    /// Why it was rejected.
    pub reason: String,
    /// Stable kind: bad_topic, too_large, malformed, validation, conflict, ...
    pub kind: String,
    /// The payload's first [`DEAD_LETTER_PAYLOAD_BYTES`] bytes, as UTF-8 (invalid sequences replaced).
    pub payload: String,
    /// Whether `payload` was cut.
    pub truncated: bool,
}

impl DeadLetter {
    /// The dead letter of `payload` on `topic`.
    pub fn new(topic: &str, payload: &[u8], rejection: &Rejection) -> Self {
        let cut = payload.len().min(DEAD_LETTER_PAYLOAD_BYTES);
        DeadLetter {
            topic: topic.to_string(),
            reason: rejection.reason.clone(),
            kind: rejection.kind.to_string(),
            payload: String::from_utf8_lossy(&payload[..cut]).into_owned(),
            truncated: cut < payload.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MAX: usize = 1 << 20;

    #[test]
    fn topics() {
        assert_eq!(
            engine_of("rul", "rul/engines/e-7/readings").as_deref(),
            Ok("e-7")
        );
        assert_eq!(
            engine_of("plant/a", "plant/a/engines/x/readings").as_deref(),
            Ok("x")
        );
        // An empty level is a topic the filter matches; the fleet refuses the empty id.
        assert_eq!(engine_of("rul", "rul/engines//readings").as_deref(), Ok(""));
        for bad in [
            "rul/engines/a/b/readings",
            "rul/engines/a/rul",
            "other/engines/a/readings",
            "rulx/engines/a/readings",
        ] {
            assert_eq!(engine_of("rul", bad).map_err(|r| r.kind), Err("bad_topic"));
        }
        assert_eq!(readings_filter("rul"), "rul/engines/+/readings");
    }

    #[test]
    fn one_reading_or_a_rest_body() {
        let one = decode("e", br#"{"cycle": 3, "s2": 642.5, "s3": 1589.7}"#, MAX).expect("one");
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].0, 3);
        assert_eq!(
            one[0].1,
            Reading::from_named([("s2", 642.5), ("s3", 1589.7)], None)
        );
        let many = decode(
            "e",
            br#"{"readings": [{"cycle": 1, "s2": 1.0}, {"cycle": 2.0, "s2": 2.0, "setting_1": 0, "setting_2": 0, "setting_3": 100}]}"#,
            MAX,
        )
        .expect("body");
        assert_eq!(many.iter().map(|r| r.0).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(many[1].1.settings, Some([0.0, 0.0, 100.0]));
    }

    #[test]
    fn rejections_have_kinds() {
        let kind = |payload: &[u8]| decode("e", payload, MAX).map(|_| ()).map_err(|r| r.kind);
        assert_eq!(kind(b"{not json"), Err("malformed"));
        assert_eq!(kind(b"[1, 2]"), Err("malformed"));
        assert_eq!(kind(b"null"), Err("malformed"));
        assert_eq!(kind(br#"{"s2": 1.0}"#), Err("malformed"));
        assert_eq!(kind(br#"{"cycle": -1, "s2": 1.0}"#), Err("malformed"));
        assert_eq!(kind(br#"{"cycle": 1, "bogus": 1.0}"#), Err("malformed"));
        assert_eq!(kind(br#"{"readings": [[1]]}"#), Err("malformed"));
        assert_eq!(kind(br#"{"readings": [], "x": 1}"#), Err("malformed"));
        assert_eq!(
            kind(br#"{"cycle": 1, "setting_1": 0.5}"#),
            Err("validation")
        );
        assert_eq!(
            decode("", br#"{"cycle": 1}"#, MAX).map_err(|r| r.kind),
            Err("validation")
        );
        assert_eq!(
            decode("e", &[b' '; 2048], 1024).map_err(|r| r.kind),
            Err("too_large")
        );
    }

    #[test]
    fn dead_letters_truncate_lossily() {
        let rejection = Rejection::new("malformed", "bad");
        let mut payload = vec![0xff, b'a'];
        payload.extend(std::iter::repeat_n(b'x', 5000));
        let letter = DeadLetter::new("rul/engines/e/readings", &payload, &rejection);
        assert!(letter.truncated);
        assert!(letter.payload.starts_with("\u{fffd}a"));
        assert!(letter.payload.len() <= DEAD_LETTER_PAYLOAD_BYTES + 2);
        let short = DeadLetter::new("t", b"{}", &rejection);
        assert_eq!((short.payload.as_str(), short.truncated), ("{}", false));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode("e", &bytes, 256);
            let _ = DeadLetter::new("t", &bytes, &Rejection::new("malformed", "x"));
        }

        #[test]
        fn arbitrary_json_objects_never_panic(
            cycle in any::<i64>(),
            values in proptest::collection::vec((0usize..30, any::<f64>()), 0..30),
        ) {
            let mut map = serde_json::Map::new();
            map.insert("cycle".into(), cycle.into());
            for (i, v) in values {
                let name = if i < 21 { format!("s{}", i + 1) } else { format!("setting_{}", i % 3 + 1) };
                map.insert(name, serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number));
            }
            let text = serde_json::to_vec(&Value::Object(map)).unwrap_or_default();
            let _ = decode("e", &text, MAX);
        }
    }
}
