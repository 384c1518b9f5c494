//! Column schema of the C-MAPSS files and the four subsets.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The three operational-setting columns, in file order.
pub const SETTING_NAMES: [&str; 3] = ["setting_1", "setting_2", "setting_3"];

/// The 21 sensor columns, in file order (`s1` is column 6 of a line).
pub const SENSOR_NAMES: [&str; 21] = [
    "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s12", "s13", "s14", "s15",
    "s16", "s17", "s18", "s19", "s20", "s21",
];

/// The 14 sensors that vary with degradation; the other seven are constant in FD001/FD003.
pub const DEFAULT_SENSORS: [&str; 14] = [
    "s2", "s3", "s4", "s7", "s8", "s9", "s11", "s12", "s13", "s14", "s15", "s17", "s20", "s21",
];

/// Numbers on one data line: unit, cycle, three settings, 21 sensors.
pub const COLUMNS: usize = 2 + SETTING_NAMES.len() + SENSOR_NAMES.len();

/// Index of a sensor name (`"s7"` → 6) in [`SENSOR_NAMES`].
pub fn sensor_index(name: &str) -> Option<usize> {
    SENSOR_NAMES.iter().position(|s| *s == name)
}

/// One of the four C-MAPSS sub-datasets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Subset {
    FD001,
    FD002,
    FD003,
    FD004,
}

impl Subset {
    /// All four subsets in order.
    pub fn all() -> [Subset; 4] {
        [Subset::FD001, Subset::FD002, Subset::FD003, Subset::FD004]
    }

    /// The subset's name as used in file names (`FD001`).
    pub fn name(self) -> &'static str {
        match self {
            Subset::FD001 => "FD001",
            Subset::FD002 => "FD002",
            Subset::FD003 => "FD003",
            Subset::FD004 => "FD004",
        }
    }

    /// Whether the subset was flown in six operating conditions (FD002, FD004) rather than one.
    pub fn multi_condition(self) -> bool {
        matches!(self, Subset::FD002 | Subset::FD004)
    }
}

impl fmt::Display for Subset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Subset {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "FD001" => Ok(Subset::FD001),
            "FD002" => Ok(Subset::FD002),
            "FD003" => Ok(Subset::FD003),
            "FD004" => Ok(Subset::FD004),
            _ => Err(format!(
                "unknown subset {s:?}: expected FD001, FD002, FD003 or FD004"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_sensors_exclude_settings_and_constants() {
        for s in DEFAULT_SENSORS {
            assert!(sensor_index(s).is_some(), "{s} is a sensor");
            assert!(!s.starts_with("setting"));
        }
        for constant in ["s1", "s5", "s6", "s10", "s16", "s18", "s19"] {
            assert!(!DEFAULT_SENSORS.contains(&constant));
        }
        assert_eq!(COLUMNS, 26);
    }

    #[test]
    fn subset_parses_case_insensitively() {
        assert_eq!("fd003".parse::<Subset>(), Ok(Subset::FD003));
        assert!("FD005".parse::<Subset>().is_err());
        assert_eq!(Subset::FD004.to_string(), "FD004");
    }
}
