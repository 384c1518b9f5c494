//! What `rul track` and `rul profile` both start from: an artifact, its subset's data files, and the engine
//! split it was trained with (so held-out engines stay held out).

use std::path::{Path, PathBuf};

use anyhow::Context;
use rul_data::{Engine, SubsetData};
use rul_model::Artifact;
use rul_model::pipeline::Prepared;

/// An artifact with its data and training split.
pub struct ModelData {
    pub artifact: Artifact,
    /// The C-MAPSS directory the data came from.
    pub dir: PathBuf,
    pub data: SubsetData,
    pub split: Prepared,
}

impl ModelData {
    /// Loads the artifact at `model` and its subset from `data_dir` (default $CMAPSS_DIR, else data/cmapss).
    pub fn load(model: &Path, data_dir: Option<&Path>) -> anyhow::Result<Self> {
        let artifact =
            Artifact::load(model).with_context(|| format!("loading {}", model.display()))?;
        let spec = artifact.spec().clone();
        let dir = rul_data::resolve_data_dir(data_dir);
        let data = rul_data::load_subset(&dir, spec.subset)
            .with_context(|| format!("reading {} from {}", spec.subset, dir.display()))?;
        let split = rul_model::pipeline::prepare(&spec.training, &data.train)?;
        Ok(ModelData {
            artifact,
            dir,
            data,
            split,
        })
    }

    /// Every held-out run-to-failure engine: validation and calibration (never trained on, never the test set).
    pub fn held_out(&self) -> Vec<Engine> {
        self.split
            .val_engines
            .iter()
            .chain(&self.split.cal_engines)
            .cloned()
            .collect()
    }
}
