//! The fleet's read side: one engine, the ranked and filtered list, counts.

use std::sync::Arc;

use crate::error::FleetError;
use crate::state::EngineSlot;
use crate::types::{EnginePage, EngineView, ListQuery, SortKey};

use super::Fleet;

impl Fleet {
    /// One engine's view.
    pub fn engine(&self, engine_id: &str) -> Result<EngineView, FleetError> {
        let slot = self.stored(engine_id).ok_or(FleetError::NotFound)?;
        let view = slot.state().view(engine_id);
        Ok(view)
    }

    /// Engines matching `query`, ordered and paged.
    pub fn list(&self, query: &ListQuery) -> EnginePage {
        let slots: Vec<(String, Arc<EngineSlot>)> = {
            let engines = self.inner.engines.read().unwrap_or_else(|p| p.into_inner());
            engines
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        let mut views: Vec<EngineView> = slots
            .iter()
            .filter_map(|(id, slot)| {
                let state = slot.state();
                state.persisted.then(|| state.view(id))
            })
            .filter(|v| query.tag.as_ref().is_none_or(|t| v.meta.tags.contains(t)))
            .collect();
        let key = |v: &EngineView| match query.sort {
            SortKey::LowerBound => v.latest.as_ref().map_or(f64::INFINITY, |p| p.lower),
            SortKey::Rul => v.latest.as_ref().map_or(f64::INFINITY, |p| p.rul),
            SortKey::EngineId => 0.0,
        };
        views.sort_by(|a, b| {
            key(a)
                .total_cmp(&key(b))
                .then_with(|| a.engine_id.cmp(&b.engine_id))
        });
        let total = views.len();
        let engines = views
            .into_iter()
            .skip(query.offset)
            .take(query.limit)
            .collect();
        EnginePage { total, engines }
    }

    /// Number of engines known.
    pub fn len(&self) -> usize {
        self.inner.engines.read().map_or(0, |e| e.len())
    }

    /// Whether no engine is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the store holds the engine (for history queries, which read the store).
    pub fn contains(&self, engine_id: &str) -> bool {
        self.stored(engine_id).is_some()
    }
}
