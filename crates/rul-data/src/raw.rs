//! Readings as a client writes them, before the value rules: every sensor and setting optional, by position.
//! The one text format for readings (CSV with a header of names) is parsed here, for `rul predict` files and
//! `/invocations` bodies alike.

use crate::schema::{SENSOR_NAMES, SETTING_NAMES};
use crate::text::echo;
use crate::validate::{Reading, Violation};

/// Column names that identify a row rather than carry a value (C-MAPSS exports have them); CSV ignores them.
pub const ID_COLUMNS: [&str; 5] = [
    "unit",
    "cycle",
    "engine_id",
    "unit_number",
    "time_in_cycles",
];

/// One reading as decoded by a transport: `sensors[i]` is `SENSOR_NAMES[i]`, every value optional.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RawReading {
    /// s1..s21 in order.
    pub sensors: [Option<f64>; 21],
    /// setting_1..setting_3.
    pub settings: [Option<f64>; 3],
}

/// Where a named value goes in a [`RawReading`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// `s1`..`s21` → 0..=20.
    Sensor(usize),
    /// `setting_1`..`setting_3` → 0..=2.
    Setting(usize),
}

impl Field {
    /// The field of an exact name (`s7`, `setting_2`); the one name table every decoder uses.
    pub fn of(name: &str) -> Option<Field> {
        if let Some(i) = SENSOR_NAMES.iter().position(|s| *s == name) {
            Some(Field::Sensor(i))
        } else {
            SETTING_NAMES
                .iter()
                .position(|s| *s == name)
                .map(Field::Setting)
        }
    }
}

impl RawReading {
    /// Sets the value of `field`.
    pub fn set(&mut self, field: Field, value: Option<f64>) {
        match field {
            Field::Sensor(i) => self.sensors[i] = value,
            Field::Setting(i) => self.settings[i] = value,
        }
    }

    /// The core's reading: the sensors as given, the settings all three or none (the one place of that rule).
    pub fn to_reading(&self) -> Result<Reading, Violation> {
        let settings = match self.settings {
            [Some(a), Some(b), Some(c)] => Some([a, b, c]),
            [None, None, None] => None,
            _ => {
                return Err(Violation {
                    reading: None,
                    field: Some(SETTING_NAMES[0].to_string()),
                    reason:
                        "setting_1, setting_2 and setting_3 must be given together or not at all"
                            .into(),
                });
            }
        };
        Ok(Reading {
            sensors: self.sensors,
            settings,
        })
    }
}

/// The client's form of a core reading (settings given as all three or none).
impl From<Reading> for RawReading {
    fn from(reading: Reading) -> Self {
        RawReading {
            sensors: reading.sensors,
            settings: reading.settings.map_or([None; 3], |s| s.map(Some)),
        }
    }
}

/// JSON form: an object of the values given (`{"s2": 642.1, "setting_1": 0.0}`); `null` is an absent value.
impl serde::Serialize for RawReading {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let sensors = SENSOR_NAMES.iter().zip(&self.sensors);
        let settings = SETTING_NAMES.iter().zip(&self.settings);
        let mut map = serializer.serialize_map(None)?;
        for (name, value) in sensors.chain(settings) {
            if let Some(v) = value {
                map.serialize_entry(name, v)?;
            }
        }
        map.end()
    }
}

/// Reads the JSON form; an unknown or repeated name is an error naming it.
impl<'de> serde::Deserialize<'de> for RawReading {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RawReading;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of sensor values such as {\"s2\": 642.1}")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<RawReading, A::Error> {
                use serde::de::Error;
                let mut reading = RawReading::default();
                let mut seen: Vec<Field> = Vec::new();
                while let Some(name) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    let field = Field::of(&name).ok_or_else(|| {
                        A::Error::custom(format!(
                            "unknown field {:?} (expected s1..s21, setting_1..setting_3)",
                            echo(&name)
                        ))
                    })?;
                    if seen.contains(&field) {
                        return Err(A::Error::custom(format!("field {name:?} is given twice")));
                    }
                    seen.push(field);
                    reading.set(field, map.next_value::<Option<f64>>()?);
                }
                Ok(reading)
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// Implements the conversions between [`RawReading`] and a transport's reading type with fields `s1`..`s21` and
/// `setting_1`..`setting_3`, all `Option<f64>` (the proto's `SensorReading`, a REST body): the one mapping.
#[macro_export]
macro_rules! raw_reading_conversions {
    ($ty:ty) => {
        $crate::raw_reading_conversions!(@fields $ty; s1 s2 s3 s4 s5 s6 s7 s8 s9 s10 s11 s12 s13 s14 s15 s16 s17 s18 s19 s20 s21);
    };
    (@fields $ty:ty; $($s:ident)*) => {
        impl From<&$ty> for $crate::RawReading {
            fn from(r: &$ty) -> Self {
                Self {
                    sensors: [$(r.$s),*],
                    settings: [r.setting_1, r.setting_2, r.setting_3],
                }
            }
        }

        impl From<&$crate::RawReading> for $ty {
            fn from(raw: &$crate::RawReading) -> Self {
                let [$($s),*] = raw.sensors;
                let [setting_1, setting_2, setting_3] = raw.settings;
                Self {
                    $($s,)*
                    setting_1,
                    setting_2,
                    setting_3,
                }
            }
        }
    };
}

/// Why a readings text was refused; `line` is 1-based.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{}{reason}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct TextError {
    /// The line at fault, when one is.
    pub line: Option<usize>,
    /// What is wrong, with any echoed client text clipped.
    pub reason: String,
}

fn at(line: usize, reason: impl Into<String>) -> TextError {
    TextError {
        line: Some(line),
        reason: reason.into(),
    }
}

/// Whether a CSV line is a header of names rather than a row of numbers.
pub fn is_header(line: &str) -> bool {
    line.split(',')
        .any(|cell| cell.trim().parse::<f64>().is_err())
}

/// Lines that carry content: blank lines and `#` comments are skipped; numbers are 1-based.
pub fn content_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(n, l)| (n + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

/// Parses CSV readings: a header row of names (`s1`..`s21`, `setting_1`..`setting_3`, any case, optionally
/// quoted; [`ID_COLUMNS`] ignored), then one row per cycle, oldest first; an empty cell is an absent value.
/// Zero rows after the header is not an error here: the caller decides (the core refuses an empty history).
pub fn parse_csv(text: &str) -> Result<Vec<RawReading>, TextError> {
    let mut lines = content_lines(text);
    let (header_line, header) = lines.next().ok_or(TextError {
        line: None,
        reason: "empty: expected a header row of sensor names".into(),
    })?;
    let columns = header_columns(header_line, header)?;
    lines
        .map(|(n, line)| {
            let cells: Vec<&str> = line.split(',').collect();
            if cells.len() != columns.len() {
                return Err(at(
                    n,
                    format!("{} cells, the header names {}", cells.len(), columns.len()),
                ));
            }
            let mut reading = RawReading::default();
            for (c, (cell, column)) in cells.iter().zip(&columns).enumerate() {
                let cell = cell.trim();
                let Some(field) = column else { continue };
                let value = if cell.is_empty() {
                    None
                } else {
                    Some(cell.parse::<f64>().map_err(|_| {
                        at(
                            n,
                            format!("column {}: {:?} is not a number", c + 1, echo(cell)),
                        )
                    })?)
                };
                reading.set(*field, value);
            }
            Ok(reading)
        })
        .collect()
}

/// The header's columns (`None` = an ignored identifier column); unknown or repeated names are errors.
fn header_columns(line: usize, header: &str) -> Result<Vec<Option<Field>>, TextError> {
    let mut seen: Vec<Field> = Vec::new();
    header
        .split(',')
        .map(|cell| {
            let name = cell.trim().trim_matches('"').to_ascii_lowercase();
            if ID_COLUMNS.contains(&name.as_str()) {
                return Ok(None);
            }
            let field = Field::of(&name).ok_or_else(|| {
                at(
                    line,
                    format!(
                        "unknown column {:?} (expected s1..s21, setting_1..setting_3, unit, cycle)",
                        echo(&name)
                    ),
                )
            })?;
            if seen.contains(&field) {
                return Err(at(line, format!("column {:?} is named twice", echo(&name))));
            }
            seen.push(field);
            Ok(Some(field))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_rows_comments_and_identifier_columns() {
        let text =
            "# exported\n\"Unit\",cycle,S2,s3,setting_1\n1,1,642.1,1589.7,0.0\n\n1,2,642.2,,0.1\n";
        let readings = parse_csv(text).expect("csv");
        assert_eq!(readings.len(), 2);
        assert_eq!(readings[0].sensors[1], Some(642.1));
        assert_eq!(readings[1].sensors[2], None);
        assert_eq!(readings[1].settings[0], Some(0.1));
        assert_eq!(parse_csv("s2\n").expect("header only"), vec![]);
    }

    #[test]
    fn errors_name_the_line_and_clip_echoed_text() {
        let err = |text: &str| parse_csv(text).expect_err(text).to_string();
        assert!(err("s2,bogus\n1,2\n").contains("bogus"));
        assert!(err("s2,s2\n1,2\n").contains("named twice"));
        assert!(err("s2,s3\n1\n").starts_with("line 2:"));
        assert!(err("# c\ns2\nabc\n").starts_with("line 3: column 1"));
        assert!(err("").contains("header"));
        let long = err(&format!("s2\n{}\n", "9x".repeat(10_000)));
        assert!(long.len() < 200 && long.contains('…'), "{long}");
    }

    #[test]
    fn settings_are_all_or_none() {
        let mut raw = RawReading::default();
        raw.sensors[1] = Some(642.0);
        assert_eq!(raw.to_reading().expect("no settings").settings, None);
        raw.settings = [Some(0.0), Some(0.1), None];
        let v = raw.to_reading().expect_err("partial");
        assert_eq!(v.field.as_deref(), Some("setting_1"));
        raw.settings[2] = Some(100.0);
        let reading = raw.to_reading().expect("all three");
        assert_eq!(reading.settings, Some([0.0, 0.1, 100.0]));
        assert_eq!(reading.sensors, raw.sensors);
        assert_eq!(RawReading::from(reading), raw);
    }

    #[test]
    fn json_form_round_trips_and_names_unknown_fields() {
        let mut raw = RawReading::default();
        raw.sensors[1] = Some(642.5);
        raw.settings = [Some(0.0), Some(0.5), Some(100.0)];
        let text = serde_json::to_string(&raw).expect("json");
        assert_eq!(
            text,
            r#"{"s2":642.5,"setting_1":0.0,"setting_2":0.5,"setting_3":100.0}"#
        );
        assert_eq!(
            serde_json::from_str::<RawReading>(&text).expect("back"),
            raw
        );
        let nulls: RawReading = serde_json::from_str(r#"{"s2": null, "s3": 1}"#).expect("nulls");
        assert_eq!((nulls.sensors[1], nulls.sensors[2]), (None, Some(1.0)));
        for bad in [
            r#"{"s99": 1}"#,
            r#"{"s2": 1, "s2": 2}"#,
            r#"{"s2": "x"}"#,
            "[1]",
        ] {
            assert!(serde_json::from_str::<RawReading>(bad).is_err(), "{bad}");
        }
        let err = serde_json::from_str::<RawReading>(r#"{"s99": 1}"#).expect_err("unknown");
        assert!(err.to_string().contains("s99"), "{err}");
    }

    #[test]
    fn names_resolve_once() {
        assert_eq!(Field::of("s1"), Some(Field::Sensor(0)));
        assert_eq!(Field::of("s21"), Some(Field::Sensor(20)));
        assert_eq!(Field::of("setting_3"), Some(Field::Setting(2)));
        assert_eq!(Field::of("s22"), None);
        assert!(is_header("s2,s3") && !is_header("1, 2.5"));
    }
}
