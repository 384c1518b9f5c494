//! Per-engine ordering of MQTT messages: a message's turn is taken in arrival order, and it starts only when the
//! engine's previous message has finished (retries included), so a retried reading is never overtaken by a later
//! cycle of the same engine. Different engines never wait for each other. Only engines with a message in flight
//! have an entry, so the map stays as small as the number of messages in flight.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

/// The engines with messages in flight: each maps to its newest message's sequence number and completion signal.
#[derive(Clone, Default)]
pub struct Lanes {
    inner: Arc<Mutex<LaneMap>>,
}

#[derive(Default)]
struct LaneMap {
    next: u64,
    tails: HashMap<String, (u64, oneshot::Receiver<()>)>,
}

/// One message's place in its engine's lane; dropping it (finished or aborted) lets the next message go.
pub struct Turn {
    lanes: Lanes,
    engine: String,
    seq: u64,
    previous: Option<oneshot::Receiver<()>>,
    _done: oneshot::Sender<()>,
}

impl Lanes {
    /// Takes the next turn of `engine` (call in arrival order).
    pub fn enter(&self, engine: &str) -> Turn {
        let (done, signal) = oneshot::channel();
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.next += 1;
        let seq = map.next;
        let previous = map
            .tails
            .insert(engine.to_string(), (seq, signal))
            .map(|(_, rx)| rx);
        Turn {
            lanes: self.clone(),
            engine: engine.to_string(),
            seq,
            previous,
            _done: done,
        }
    }

    /// Engines with a message in flight.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .tails
            .len()
    }

    /// Whether no message is in flight.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Turn {
    /// Waits until the engine's previous message has finished.
    pub async fn ready(&mut self) {
        if let Some(previous) = self.previous.as_mut() {
            // Sent or dropped: either way the previous message is over. Cancel-safe: the signal is kept until then.
            let _ = previous.await;
            self.previous = None;
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut map = self.lanes.inner.lock().unwrap_or_else(|p| p.into_inner());
        if map
            .tails
            .get(&self.engine)
            .is_some_and(|(s, _)| *s == self.seq)
        {
            map.tails.remove(&self.engine);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;

    #[tokio::test]
    async fn one_engine_in_order_others_free() {
        let lanes = Lanes::default();
        let mut a1 = lanes.enter("a");
        let mut a2 = lanes.enter("a");
        let mut b1 = lanes.enter("b");
        a1.ready().await;
        b1.ready().await;
        // a2 must wait for a1: polled once, it is not ready.
        assert!(a2.ready().now_or_never().is_none());
        drop(a1);
        a2.ready().await;
        assert_eq!(lanes.len(), 2);
        drop(a2);
        drop(b1);
        assert!(lanes.is_empty());
    }

    #[tokio::test]
    async fn a_finished_older_turn_does_not_remove_a_newer_one() {
        let lanes = Lanes::default();
        let a1 = lanes.enter("a");
        let mut a2 = lanes.enter("a");
        drop(a1);
        assert_eq!(lanes.len(), 1);
        a2.ready().await;
        drop(a2);
        assert!(lanes.is_empty());
    }
}
