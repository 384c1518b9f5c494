//! Settings of the MQTT telemetry adapter (off unless MQTT_URL is set) and the broker URL parser shared with
//! `rul replay --to mqtt`.

use clap::Args;

use super::fleet::redacted_url;

/// Where the MQTT adapter connects and which topics it uses.
#[derive(Args, Clone, PartialEq)]
pub struct MqttArgs {
    /// Broker to subscribe to readings on and publish predictions to: `mqtt://[user[:password]@]host[:port]`
    /// (`tcp://` also accepted; port 1883 by default). Off if unset.
    #[arg(long, env = "MQTT_URL")]
    pub mqtt_url: Option<String>,
    /// Topic prefix: readings on `{prefix}/engines/+/readings`, predictions on `{prefix}/engines/{id}/rul`,
    /// alerts on `{prefix}/alerts`, rejected messages on `{prefix}/dead-letter`.
    #[arg(long, env = "MQTT_TOPIC_PREFIX", default_value = "rul")]
    pub mqtt_topic_prefix: String,
    /// Client id of the subscriber's persistent session (the publisher uses `{id}-pub`); one per replica.
    #[arg(long, env = "MQTT_CLIENT_ID", default_value = "rul-server")]
    pub mqtt_client_id: String,
    /// Reading messages processed at once (across engines; one engine's messages are applied in order).
    #[arg(long, env = "MQTT_MAX_IN_FLIGHT", default_value_t = 256)]
    pub mqtt_max_in_flight: usize,
    /// Largest reading payload accepted in bytes; larger ones are dead-lettered.
    #[arg(long, env = "MQTT_MAX_PAYLOAD_BYTES", default_value_t = 1_048_576)]
    pub mqtt_max_payload_bytes: usize,
}

impl Default for MqttArgs {
    fn default() -> Self {
        Self {
            mqtt_url: None,
            mqtt_topic_prefix: "rul".into(),
            mqtt_client_id: "rul-server".into(),
            mqtt_max_in_flight: 256,
            mqtt_max_payload_bytes: 1_048_576,
        }
    }
}

/// A parsed broker address.
#[derive(Clone, PartialEq, Eq)]
pub struct Broker {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// User name and password, when the URL has them.
    pub credentials: Option<(String, String)>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.credentials.as_ref().map(|(u, _)| u))
            .finish()
    }
}

/// Default MQTT port.
pub const DEFAULT_MQTT_PORT: u16 = 1883;

impl Broker {
    /// Parses `mqtt://[user[:password]@]host[:port]` or the same with `tcp://`; anything else is refused with
    /// a message naming what is wrong (the password is never echoed).
    pub fn parse(url: &str) -> Result<Broker, String> {
        let shown = redacted_url(url);
        let parsed = url::Url::parse(url).map_err(|e| format!("{shown:?} is not a URL: {e}"))?;
        if !matches!(parsed.scheme(), "mqtt" | "tcp") {
            return Err(format!(
                "{shown:?} must start with mqtt:// or tcp:// (TLS is not supported)"
            ));
        }
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("{shown:?} has no host"))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        if !matches!(parsed.path(), "" | "/")
            || parsed.query().is_some()
            || parsed.fragment().is_some()
        {
            return Err(format!(
                "{shown:?} must be only scheme, credentials, host and port"
            ));
        }
        let port = parsed.port().unwrap_or(DEFAULT_MQTT_PORT);
        if port == 0 {
            return Err(format!("{shown:?} has port 0"));
        }
        let credentials = (!parsed.username().is_empty()).then(|| {
            (
                percent_decode(parsed.username()),
                parsed.password().map(percent_decode).unwrap_or_default(),
            )
        });
        Ok(Broker {
            host,
            port,
            credentials,
        })
    }
}

/// `%XX` escapes of a URL's user info decoded (invalid escapes kept as written, invalid UTF-8 replaced).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Everything the adapter needs, validated.
#[derive(Clone, Debug)]
pub struct MqttSettings {
    /// The broker.
    pub broker: Broker,
    /// Topic prefix (no wildcards, no leading or trailing `/`).
    pub prefix: String,
    /// Subscriber client id.
    pub client_id: String,
    /// Reading messages processed at once.
    pub max_in_flight: usize,
    /// Largest reading payload accepted.
    pub max_payload_bytes: usize,
}

impl MqttArgs {
    /// The broker URL, treating an empty value as unset.
    pub fn url(&self) -> Option<&str> {
        self.mqtt_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
    }

    /// Problems with these settings, one message each (none when MQTT is off).
    pub fn problems(&self) -> Vec<String> {
        let Some(url) = self.url() else {
            return Vec::new();
        };
        let mut problems = Vec::new();
        if let Err(e) = Broker::parse(url) {
            problems.push(format!("MQTT_URL: {e}"));
        }
        if let Some(reason) = prefix_problem(&self.mqtt_topic_prefix) {
            problems.push(format!("MQTT_TOPIC_PREFIX {reason}"));
        }
        let id = self.mqtt_client_id.trim();
        if id.is_empty() || id.len() > 200 || id.chars().any(char::is_control) {
            problems.push(
                "MQTT_CLIENT_ID must be 1..=200 bytes without control characters".to_string(),
            );
        }
        if !(1..=65_535).contains(&self.mqtt_max_in_flight) {
            problems.push("MQTT_MAX_IN_FLIGHT must be between 1 and 65535".to_string());
        }
        if !(1024..=MAX_PAYLOAD_LIMIT).contains(&self.mqtt_max_payload_bytes) {
            problems.push(format!(
                "MQTT_MAX_PAYLOAD_BYTES must be between 1024 and {MAX_PAYLOAD_LIMIT}"
            ));
        }
        problems
    }

    /// The validated settings, or None when MQTT is off or the settings are invalid (see [`Self::problems`]).
    pub fn settings(&self) -> Option<MqttSettings> {
        let broker = Broker::parse(self.url()?).ok()?;
        if !self.problems().is_empty() {
            return None;
        }
        Some(MqttSettings {
            broker,
            prefix: self.mqtt_topic_prefix.clone(),
            client_id: self.mqtt_client_id.trim().to_string(),
            max_in_flight: self.mqtt_max_in_flight,
            max_payload_bytes: self.mqtt_max_payload_bytes,
        })
    }
}

/// Largest payload limit one may configure (the adapter reads packets up to MQTT's own 256 MiB limit).
pub const MAX_PAYLOAD_LIMIT: usize = 64 * 1_048_576;

/// Why `prefix` cannot be a topic prefix, if it cannot.
pub fn prefix_problem(prefix: &str) -> Option<&'static str> {
    if prefix.is_empty() {
        Some("must not be empty")
    } else if prefix.contains(['+', '#']) {
        Some("must not contain the wildcards + or #")
    } else if prefix.starts_with('/') || prefix.ends_with('/') || prefix.contains("//") {
        Some("must not start or end with / or contain an empty level")
    } else if prefix.starts_with('$') {
        Some("must not start with $ (reserved for the broker)")
    } else if prefix.chars().any(|c| c.is_control()) || prefix.len() > 1000 {
        Some("must be at most 1000 bytes without control characters")
    } else {
        None
    }
}

impl std::fmt::Debug for MqttArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttArgs")
            .field("mqtt_url", &self.mqtt_url.as_deref().map(redacted_url))
            .field("mqtt_topic_prefix", &self.mqtt_topic_prefix)
            .field("mqtt_client_id", &self.mqtt_client_id)
            .field("mqtt_max_in_flight", &self.mqtt_max_in_flight)
            .field("mqtt_max_payload_bytes", &self.mqtt_max_payload_bytes)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls() {
        let b = Broker::parse("mqtt://127.0.0.1:1884").expect("valid");
        assert_eq!(
            (b.host.as_str(), b.port, b.credentials),
            ("127.0.0.1", 1884, None)
        );
        let b = Broker::parse("tcp://broker.example").expect("valid");
        assert_eq!((b.host.as_str(), b.port), ("broker.example", 1883));
        let b = Broker::parse("mqtt://[::1]:1883/").expect("valid");
        assert_eq!(b.host, "::1");
        let b = Broker::parse("mqtt://plant%40x:p%3Ass@h").expect("valid");
        assert_eq!(b.credentials, Some(("plant@x".into(), "p:ss".into())));
        for bad in [
            "http://h:1883",
            "mqtts://h",
            "mqtt://",
            "mqtt://h:0",
            "mqtt://h/topic",
            "mqtt://h?x=1",
            "mqtt://h:99999",
            "h:1883",
        ] {
            assert!(Broker::parse(bad).is_err(), "{bad} accepted");
        }
        let err = Broker::parse("ws://u:s3cret@h").expect_err("scheme");
        assert!(!err.contains("s3cret"), "{err}");
    }

    #[test]
    fn validation_and_redaction() {
        assert!(MqttArgs::default().problems().is_empty());
        assert!(MqttArgs::default().settings().is_none());
        let on = MqttArgs {
            mqtt_url: Some("mqtt://u:pw-secret@127.0.0.1".into()),
            ..MqttArgs::default()
        };
        assert!(on.problems().is_empty(), "{:?}", on.problems());
        let settings = on.settings().expect("on");
        assert_eq!(settings.prefix, "rul");
        assert!(!format!("{on:?}").contains("pw-secret"));
        assert!(!format!("{settings:?}").contains("pw-secret"));
        let bad = MqttArgs {
            mqtt_url: Some("amqp://x".into()),
            mqtt_topic_prefix: "plant/+".into(),
            mqtt_client_id: " ".into(),
            mqtt_max_in_flight: 0,
            mqtt_max_payload_bytes: 10,
        };
        assert_eq!(bad.problems().len(), 5, "{:?}", bad.problems());
        assert!(bad.settings().is_none());
    }

    #[test]
    fn prefixes() {
        for good in ["rul", "plant-7/rul", "a/b/c"] {
            assert_eq!(prefix_problem(good), None, "{good}");
        }
        for bad in ["", "a/#", "+", "/rul", "rul/", "a//b", "$SYS"] {
            assert!(prefix_problem(bad).is_some(), "{bad}");
        }
    }
}
