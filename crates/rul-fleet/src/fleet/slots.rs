//! The life of an engine's slot in the fleet's map: created on first sight, visible once stored, dropped again
//! if its first message never reached the store, and never written through after it left the map.

use std::sync::Arc;

use crate::state::{EngineSlot, EngineState, Turn};
use crate::types::now_ms;

use super::Fleet;

/// A caller's hold on an engine's slot. Dropping it (the message failed, was cancelled, or succeeded) removes a
/// slot that was never stored and that nobody else holds, so rejected first messages leave no phantom engine.
pub(super) struct SlotUse {
    fleet: Fleet,
    engine_id: String,
    slot: Arc<EngineSlot>,
}

impl SlotUse {
    /// The engine's current slot, created on first sight.
    pub(super) fn take(fleet: &Fleet, engine_id: &str) -> SlotUse {
        SlotUse {
            fleet: fleet.clone(),
            engine_id: engine_id.to_string(),
            slot: fleet.slot(engine_id),
        }
    }

    pub(super) fn slot(&self) -> &Arc<EngineSlot> {
        &self.slot
    }

    /// Waits for `first` (a turn queued on this slot), then — if the slot left the map meanwhile (the engine
    /// was deleted) — queues on the engine's new slot instead, so no write goes to a detached slot.
    pub(super) async fn settle(&mut self, first: impl Future<Output = Turn>) -> Turn {
        let mut turn = first.await;
        while self.slot.is_retired() {
            drop(turn);
            self.slot = self.fleet.slot(&self.engine_id);
            turn = self.slot.queue().await;
        }
        turn
    }
}

impl Drop for SlotUse {
    fn drop(&mut self) {
        self.fleet.forget_unsaved(&self.engine_id, &self.slot);
    }
}

impl Fleet {
    /// The engine's slot if the map holds one (stored or still being created).
    pub(super) fn existing(&self, engine_id: &str) -> Option<Arc<EngineSlot>> {
        let engines = self.inner.engines.read().unwrap_or_else(|p| p.into_inner());
        engines.get(engine_id).cloned()
    }

    /// The engine's slot once the store holds the engine: what every read and delete sees.
    pub(super) fn stored(&self, engine_id: &str) -> Option<Arc<EngineSlot>> {
        self.existing(engine_id)
            .filter(|slot| slot.state().persisted)
    }

    /// The engine's slot, created (in memory; persisted with its first write) on first sight.
    fn slot(&self, engine_id: &str) -> Arc<EngineSlot> {
        if let Some(slot) = self.existing(engine_id) {
            return slot;
        }
        let mut engines = self
            .inner
            .engines
            .write()
            .unwrap_or_else(|p| p.into_inner());
        let mut added = false;
        let slot = engines
            .entry(engine_id.to_string())
            .or_insert_with(|| {
                added = true;
                Arc::new(EngineSlot::new(EngineState {
                    created_ms: now_ms(),
                    ..Default::default()
                }))
            })
            .clone();
        metrics::gauge!("rul_fleet_engines").set(engines.len() as f64);
        if added {
            self.inner.counts.shift(Err(()), Ok(None));
        }
        slot
    }

    /// Removes `slot` from the map if it is still the engine's, was never stored, and only the map and the
    /// caller hold it. Under the map's write lock nobody can pick the slot up meanwhile.
    fn forget_unsaved(&self, engine_id: &str, slot: &Arc<EngineSlot>) {
        // Stored slots never become unstored: the common case needs no map lock.
        if slot.state().persisted {
            return;
        }
        let mut engines = self
            .inner
            .engines
            .write()
            .unwrap_or_else(|p| p.into_inner());
        let ours = engines.get(engine_id).is_some_and(|s| Arc::ptr_eq(s, slot));
        if !ours || Arc::strong_count(slot) != 2 || slot.state().persisted {
            return;
        }
        engines.remove(engine_id);
        slot.retire();
        metrics::gauge!("rul_fleet_engines").set(engines.len() as f64);
        drop(engines);
        self.inner.counts.shift(Ok(None), Err(()));
    }
}
