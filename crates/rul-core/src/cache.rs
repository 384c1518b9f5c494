//! Prediction cache keyed by a SHA-256 of engine id, model version and the full reading history.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use moka::sync::Cache;
use rul_data::Reading;
use sha2::{Digest, Sha256};

use crate::metrics_names as m;
use crate::types::Prediction;

/// SHA-256 of a whole reading history (every reading, every sensor name and value, settings).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ReadingsDigest([u8; 32]);

/// Cache key: SHA-256 of (engine id, model version, readings digest), all length-prefixed.
pub(crate) type CacheKey = [u8; 32];

/// Hashes the full history; values are hashed by their exact bit pattern so no two distinct inputs share a digest
/// short of a SHA-256 collision.
pub(crate) fn digest_readings(readings: &[Reading]) -> ReadingsDigest {
    let mut h = Sha256::new();
    h.update((readings.len() as u64).to_le_bytes());
    for r in readings {
        h.update((r.sensors.len() as u64).to_le_bytes());
        for (name, value) in &r.sensors {
            h.update((name.len() as u64).to_le_bytes());
            h.update(name.as_bytes());
            h.update(value.to_bits().to_le_bytes());
        }
        match &r.settings {
            Some(s) => {
                h.update([1u8]);
                for v in s {
                    h.update(v.to_bits().to_le_bytes());
                }
            }
            None => h.update([0u8]),
        }
    }
    ReadingsDigest(h.finalize().into())
}

/// Combines the per-request parts into the cache key.
pub(crate) fn cache_key(engine_id: &str, version: &str, readings: &ReadingsDigest) -> CacheKey {
    let mut h = Sha256::new();
    h.update((engine_id.len() as u64).to_le_bytes());
    h.update(engine_id.as_bytes());
    h.update((version.len() as u64).to_le_bytes());
    h.update(version.as_bytes());
    h.update(readings.0);
    h.finalize().into()
}

/// Bounded TTL cache of fresh predictions plus hit/miss counters.
pub(crate) struct PredictionCache {
    cache: Option<Cache<CacheKey, Prediction>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl PredictionCache {
    /// A cache holding at most `capacity` entries for `ttl`; either being zero disables caching.
    pub(crate) fn new(capacity: u64, ttl: Duration) -> Self {
        let cache = (capacity > 0 && !ttl.is_zero()).then(|| {
            Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .build()
        });
        PredictionCache {
            cache,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Whether lookups can ever hit (lets callers skip hashing when disabled).
    pub(crate) fn enabled(&self) -> bool {
        self.cache.is_some()
    }

    /// Looks a key up, counting the hit or miss.
    pub(crate) fn get(&self, key: &CacheKey) -> Option<Prediction> {
        let cache = self.cache.as_ref()?;
        match cache.get(key) {
            Some(p) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                metrics::counter!(m::CACHE_HITS).increment(1);
                Some(p)
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                metrics::counter!(m::CACHE_MISSES).increment(1);
                None
            }
        }
    }

    /// Stores a fresh prediction.
    pub(crate) fn insert(&self, key: CacheKey, prediction: Prediction) {
        if let Some(cache) = &self.cache {
            cache.insert(key, prediction);
            metrics::gauge!(m::CACHE_SIZE).set(cache.entry_count() as f64);
        }
    }

    /// (hits, misses, approximate size).
    pub(crate) fn counters(&self) -> (u64, u64, u64) {
        let size = self.cache.as_ref().map_or(0, |c| c.entry_count());
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
            size,
        )
    }

    /// Flushes moka's pending maintenance so `entry_count` is exact (tests, stats endpoints).
    pub(crate) fn sync(&self) {
        if let Some(c) = &self.cache {
            c.run_pending_tasks();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(v: f64) -> Reading {
        Reading {
            sensors: vec![("s2".into(), v), ("s3".into(), 1.0)],
            settings: None,
        }
    }

    #[test]
    fn histories_sharing_last_reading_differ() {
        let a = digest_readings(&[reading(1.0), reading(2.0), reading(3.0)]);
        let b = digest_readings(&[reading(9.0), reading(2.0), reading(3.0)]);
        let c = digest_readings(&[reading(3.0)]);
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            a,
            digest_readings(&[reading(1.0), reading(2.0), reading(3.0)])
        );
    }

    #[test]
    fn key_depends_on_engine_and_version() {
        let d = digest_readings(&[reading(1.0)]);
        let k = cache_key("e1", "v1", &d);
        assert_ne!(k, cache_key("e2", "v1", &d));
        assert_ne!(k, cache_key("e1", "v2", &d));
        // Length prefixes keep ("e1v", "1") and ("e1", "v1") apart.
        assert_ne!(k, cache_key("e1v", "1", &d));
    }

    #[test]
    fn settings_and_signed_zero_are_hashed() {
        let mut with = reading(1.0);
        with.settings = Some([0.0, 0.0, 100.0]);
        assert_ne!(digest_readings(&[reading(1.0)]), digest_readings(&[with]));
        assert_ne!(
            digest_readings(&[reading(0.0)]),
            digest_readings(&[reading(-0.0)])
        );
    }

    #[test]
    fn disabled_cache_never_hits() {
        let c = PredictionCache::new(0, Duration::from_secs(1));
        assert!(!c.enabled());
        assert!(c.get(&[0; 32]).is_none());
        assert_eq!(c.counters(), (0, 0, 0));
    }
}
