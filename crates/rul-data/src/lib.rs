//! C-MAPSS data for the `rul` service: reading the files, labelling RUL, normalising, windowing,
//! splitting by engine, the saved preprocessor, validation of serving input, and the inputs' training
//! distribution ([`profile`]) that flags suspicious readings and drift.
//!
//! Training and serving call the same [`Preprocessor`], so a model sees identical inputs in both.
//! This crate has no ML, async or transport dependencies.

mod conditions;
mod error;
mod labels;
mod preprocessor;
pub mod profile;
pub mod raw;
mod reader;
mod scaler;
mod schema;
mod split;
pub mod synthetic;
pub mod text;
pub mod time;
mod validate;
mod window;

pub use conditions::{Assignment, Conditions};
pub use error::DataError;
pub use labels::{test_labels, train_labels};
pub use preprocessor::{Prepared, Preprocessor, PreprocessorConfig};
pub use profile::{Drift, InputProfile, PROFILE_FILE};
pub use raw::{Field, RawReading};
pub use reader::{
    Cycle, Engine, FileDigest, SubsetData, load_subset, parse_rul, parse_series, resolve_data_dir,
};
pub use scaler::{Scaler, ScalerKind};
pub use schema::{COLUMNS, DEFAULT_SENSORS, SENSOR_NAMES, SETTING_NAMES, Subset, sensor_index};
pub use split::split_engines;
pub use validate::{
    Bound, MAX_READINGS, MAX_VIOLATIONS, Reading, SENSORS, ValidationError, Violation,
};
pub use window::{Padding, Windows, push_window};
