//! One engine's in-memory state and the turn-taking that keeps its readings in arrival order.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use tokio::sync::oneshot;

use crate::types::{CycleReading, EngineMeta, EngineView, TrackedPrediction, rfc3339_ms};

/// What the service remembers about one engine between readings.
#[derive(Clone, Debug, Default)]
pub(crate) struct EngineState {
    pub(crate) meta: EngineMeta,
    pub(crate) created_ms: i64,
    /// Whether the engines table already holds this engine.
    pub(crate) persisted: bool,
    pub(crate) first_cycle: Option<u64>,
    pub(crate) count: u64,
    pub(crate) missing: u64,
    /// The last readings (at most the slot's `keep`), oldest first.
    pub(crate) recent: VecDeque<CycleReading>,
    pub(crate) latest: Option<TrackedPrediction>,
    /// The engine's active (open or acked) alert.
    pub(crate) alert: Option<crate::alerts::Alert>,
    /// How far the engine's recent inputs sit from the training distribution (None without a profile or
    /// enough readings).
    pub(crate) drift: Option<rul_data::Drift>,
}

impl EngineState {
    /// The last accepted cycle.
    pub(crate) fn last_cycle(&self) -> Option<u64> {
        self.recent.back().map(|r| r.cycle)
    }

    /// The API view of this engine.
    pub(crate) fn view(&self, engine_id: &str) -> EngineView {
        EngineView {
            engine_id: engine_id.to_string(),
            meta: self.meta.clone(),
            first_cycle: self.first_cycle,
            last_cycle: self.last_cycle(),
            readings: self.count,
            missing_cycles: self.missing,
            registered: rfc3339_ms(self.created_ms),
            latest: self.latest.clone(),
            drift: self.drift.clone(),
        }
    }
}

/// An engine's state plus a FIFO turn: callers take their turn synchronously, in call order, and wait for the
/// previous holder to finish — so one engine's messages are applied in the order they arrived, while different
/// engines proceed concurrently.
#[derive(Debug, Default)]
pub(crate) struct EngineSlot {
    state: Mutex<EngineState>,
    tail: Mutex<Option<oneshot::Receiver<()>>>,
    /// Set once the slot has left the fleet's map (deleted, or dropped before it was ever stored): callers
    /// still queued on it must look the engine up again rather than write through a detached slot.
    retired: AtomicBool,
}

/// Held while a caller works on an engine; dropping it lets the next caller in.
pub(crate) struct Turn {
    _release: oneshot::Sender<()>,
}

impl EngineSlot {
    pub(crate) fn new(state: EngineState) -> Self {
        EngineSlot {
            state: Mutex::new(state),
            tail: Mutex::new(None),
            retired: AtomicBool::new(false),
        }
    }

    /// Marks the slot as no longer the engine's (see the field).
    pub(crate) fn retire(&self) {
        self.retired.store(true, Ordering::Release);
    }

    /// Whether the slot has left the fleet's map.
    pub(crate) fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Acquire)
    }

    /// Queues for a turn now (synchronously, so call order is turn order) and returns a future that resolves
    /// when it is this caller's turn.
    pub(crate) fn queue(&self) -> impl Future<Output = Turn> + Send + use<> {
        let (release, next) = oneshot::channel();
        let previous = lock(&self.tail).replace(next);
        async move {
            if let Some(previous) = previous {
                // Err = the previous holder finished (or was cancelled): either way it is our turn.
                let _ = previous.await;
            }
            Turn { _release: release }
        }
    }

    /// The state (hold only briefly, never across an await).
    pub(crate) fn state(&self) -> MutexGuard<'_, EngineState> {
        lock(&self.state)
    }
}

/// Locks a mutex, recovering the data if a panicking holder poisoned it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn turns_follow_call_order_even_when_polled_out_of_order() {
        let slot = Arc::new(EngineSlot::default());
        let order = Arc::new(Mutex::new(Vec::new()));
        let futures: Vec<_> = (0..5).map(|_| slot.queue()).collect();
        let mut handles = Vec::new();
        // Spawn in reverse: the later turns are polled first but must still wait.
        for (i, fut) in futures.into_iter().enumerate().rev() {
            let order = order.clone();
            handles.push(tokio::spawn(async move {
                let _turn = fut.await;
                order.lock().unwrap().push(i);
                tokio::task::yield_now().await;
            }));
        }
        for h in handles {
            h.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4]);
    }

    #[tokio::test]
    async fn a_cancelled_turn_does_not_block_the_next() {
        let slot = EngineSlot::default();
        let first = slot.queue();
        let second = slot.queue();
        drop(first);
        let _turn = second.await;
    }
}
