//! Prediction cache keyed by a 128-bit XXH3 hash (seeded at random per process) of engine id, model version and
//! the full reading history.
//!
//! XXH3 is not collision resistant, so the key is not trusted alone: a hit is used only when the cached answer's
//! engine id and model version are the request's, which makes a cross-engine or cross-model answer impossible
//! whatever collides. What remains, a crafted collision between two histories of the same engine, needs the
//! per-process seed (never exposed) and would only hand that engine's own earlier answer back.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use moka::sync::Cache;
use rul_data::Reading;
use xxhash_rust::xxh3::xxh3_128_with_seed;

use crate::metrics_names as m;
use crate::types::Prediction;

/// Hash of a whole reading history (every reading, which sensors it gives and their values, settings).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ReadingsDigest(u128);

/// Cache key: hash of (engine id, model version, readings digest), all length-prefixed.
pub(crate) type CacheKey = u128;

/// Hashes the full history under `seed`; each reading is a bit mask of the sensors it gives followed by their
/// values' exact bit patterns, and the count is prefixed, so distinct inputs differ in the hashed bytes.
fn digest_readings(seed: u64, readings: &[Reading]) -> ReadingsDigest {
    const PER_READING: usize = 4 + 8 * rul_data::SENSORS + 1 + 24;
    let mut bytes = Vec::with_capacity(8 + readings.len() * PER_READING);
    bytes.extend_from_slice(&(readings.len() as u64).to_le_bytes());
    for r in readings {
        let mask = r
            .sensors
            .iter()
            .enumerate()
            .fold(0u32, |m, (i, v)| if v.is_some() { m | (1 << i) } else { m });
        bytes.extend_from_slice(&mask.to_le_bytes());
        for value in r.sensors.iter().flatten() {
            bytes.extend_from_slice(&value.to_bits().to_le_bytes());
        }
        match &r.settings {
            Some(s) => {
                bytes.push(1);
                for v in s {
                    bytes.extend_from_slice(&v.to_bits().to_le_bytes());
                }
            }
            None => bytes.push(0),
        }
    }
    ReadingsDigest(xxh3_128_with_seed(&bytes, seed))
}

/// Combines the per-request parts into the cache key.
fn cache_key(seed: u64, engine_id: &str, version: &str, readings: &ReadingsDigest) -> CacheKey {
    let mut bytes = Vec::with_capacity(32 + engine_id.len() + version.len());
    bytes.extend_from_slice(&(engine_id.len() as u64).to_le_bytes());
    bytes.extend_from_slice(engine_id.as_bytes());
    bytes.extend_from_slice(&(version.len() as u64).to_le_bytes());
    bytes.extend_from_slice(version.as_bytes());
    bytes.extend_from_slice(&readings.0.to_le_bytes());
    xxh3_128_with_seed(&bytes, seed)
}

/// Bounded TTL cache of fresh predictions plus hit/miss counters.
pub(crate) struct PredictionCache {
    cache: Option<Cache<CacheKey, Prediction>>,
    /// Random per cache (and so per process); never leaves it.
    seed: u64,
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
            seed: RandomState::new().hash_one("rul prediction cache"),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Whether lookups can ever hit (lets callers skip hashing when disabled).
    pub(crate) fn enabled(&self) -> bool {
        self.cache.is_some()
    }

    /// The digest of a request's history (computed once; a stale job reuses it).
    pub(crate) fn digest(&self, readings: &[Reading]) -> ReadingsDigest {
        digest_readings(self.seed, readings)
    }

    /// The key of one engine's history under one model version.
    pub(crate) fn key(&self, engine_id: &str, version: &str, digest: &ReadingsDigest) -> CacheKey {
        cache_key(self.seed, engine_id, version, digest)
    }

    /// Looks the request up, counting the hit or miss. An entry of another engine or model version under the
    /// same key (a hash collision) is a miss.
    pub(crate) fn get(
        &self,
        engine_id: &str,
        version: &str,
        digest: &ReadingsDigest,
    ) -> Option<Prediction> {
        let cache = self.cache.as_ref()?;
        match cache
            .get(&self.key(engine_id, version, digest))
            .filter(|p| p.engine_id == engine_id && p.model_version == version)
        {
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
        Reading::from_named([("s2", v), ("s3", 1.0)], None)
    }

    const SEED: u64 = 7;

    #[test]
    fn histories_sharing_last_reading_differ() {
        let a = digest_readings(SEED, &[reading(1.0), reading(2.0), reading(3.0)]);
        let b = digest_readings(SEED, &[reading(9.0), reading(2.0), reading(3.0)]);
        let c = digest_readings(SEED, &[reading(3.0)]);
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            a,
            digest_readings(SEED, &[reading(1.0), reading(2.0), reading(3.0)])
        );
        assert_ne!(
            a,
            digest_readings(SEED + 1, &[reading(1.0), reading(2.0), reading(3.0)])
        );
    }

    #[test]
    fn key_depends_on_engine_and_version() {
        let d = digest_readings(SEED, &[reading(1.0)]);
        let k = cache_key(SEED, "e1", "v1", &d);
        assert_ne!(k, cache_key(SEED, "e2", "v1", &d));
        assert_ne!(k, cache_key(SEED, "e1", "v2", &d));
        // Length prefixes keep ("e1v", "1") and ("e1", "v1") apart.
        assert_ne!(k, cache_key(SEED, "e1v", "1", &d));
    }

    #[test]
    fn settings_and_signed_zero_are_hashed() {
        let mut with = reading(1.0);
        with.settings = Some([0.0, 0.0, 100.0]);
        assert_ne!(
            digest_readings(SEED, &[reading(1.0)]),
            digest_readings(SEED, &[with])
        );
        assert_ne!(
            digest_readings(SEED, &[reading(0.0)]),
            digest_readings(SEED, &[reading(-0.0)])
        );
    }

    #[test]
    fn a_colliding_entry_of_another_engine_is_a_miss() {
        let c = PredictionCache::new(10, Duration::from_secs(60));
        let d = c.digest(&[reading(1.0)]);
        let answer = |engine: &str| Prediction {
            engine_id: engine.into(),
            rul: 42.0,
            lower: 30.0,
            upper: 60.0,
            level: 0.9,
            confidence: 0.5,
            tolerance: 15.0,
            model_version: "v1".into(),
            padded: false,
            padded_cycles: 0,
            unknown_condition: false,
            source: crate::types::Source::Local,
            fallback_reason: None,
            cached: false,
            timing: crate::types::Timing::default(),
        };
        // Plant another engine's answer under e1's key, as a hash collision would.
        c.insert(c.key("e1", "v1", &d), answer("e2"));
        assert!(
            c.get("e1", "v1", &d).is_none(),
            "never another engine's answer"
        );
        c.insert(c.key("e1", "v1", &d), answer("e1"));
        assert_eq!(
            c.get("e1", "v1", &d).map(|p| p.engine_id),
            Some("e1".into())
        );
        assert!(c.get("e1", "v2", &d).is_none());
        assert_eq!(c.counters().0, 1);
    }

    #[test]
    fn disabled_cache_never_hits() {
        let c = PredictionCache::new(0, Duration::from_secs(1));
        assert!(!c.enabled());
        let d = c.digest(&[reading(1.0)]);
        assert!(c.get("e1", "v1", &d).is_none());
        assert_eq!(c.counters(), (0, 0, 0));
    }
}
