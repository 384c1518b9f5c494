//! A consecutive-failure circuit breaker: closed → open after `failure_threshold` failures in a row; open →
//! half-open once `cooldown` has passed, letting exactly one probe call through; the probe's outcome closes it
//! or opens it for another cool-down. Callers refused by an open breaker fall back at once, without waiting.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::metrics_names as m;

/// Breaker settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failures that open the breaker (at least 1).
    pub failure_threshold: u32,
    /// How long an open breaker refuses calls before letting one probe through.
    pub cooldown: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            cooldown: Duration::from_secs(30),
        }
    }
}

/// Observable state of a breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through; `failures` in a row so far.
    Closed,
    /// Calls are refused until the cool-down has passed.
    Open,
    /// The cool-down has passed; one probe call decides (others are refused meanwhile).
    HalfOpen,
}

impl BreakerState {
    /// Gauge value: 0 closed, 1 open, 2 half-open.
    fn gauge(self) -> f64 {
        match self {
            BreakerState::Closed => 0.0,
            BreakerState::Open => 1.0,
            BreakerState::HalfOpen => 2.0,
        }
    }
}

#[derive(Debug)]
enum Inner {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen,
}

/// The breaker; share it behind an `Arc`.
#[derive(Debug)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    inner: Mutex<Inner>,
}

/// Permission to make one call; report its outcome with [`Permit::success`] or [`Permit::failure`]. A permit
/// dropped without an outcome (the caller was cancelled) counts as a failure, so a half-open probe can never
/// leave the breaker stuck.
#[derive(Debug)]
pub struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    done: bool,
}

impl Permit<'_> {
    /// The call succeeded: the breaker closes and the failure count resets.
    pub fn success(mut self) {
        self.done = true;
        self.breaker.set(Inner::Closed { failures: 0 });
    }

    /// The call failed.
    pub fn failure(mut self) {
        self.done = true;
        self.breaker.failed();
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.breaker.failed();
        }
    }
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(config: BreakerConfig) -> Self {
        metrics::gauge!(m::BREAKER_STATE).set(BreakerState::Closed.gauge());
        Self {
            config: BreakerConfig {
                failure_threshold: config.failure_threshold.max(1),
                cooldown: config.cooldown,
            },
            inner: Mutex::new(Inner::Closed { failures: 0 }),
        }
    }

    /// A permit to call the remote, or None while the breaker is open (or its half-open probe is in flight).
    pub fn try_acquire(&self) -> Option<Permit<'_>> {
        let mut inner = self.lock();
        match *inner {
            Inner::Closed { .. } => Some(()),
            Inner::Open { until } if Instant::now() >= until => {
                *inner = Inner::HalfOpen;
                metrics::gauge!(m::BREAKER_STATE).set(BreakerState::HalfOpen.gauge());
                tracing::info!("remote circuit breaker half-open: probing the endpoint");
                Some(())
            }
            Inner::Open { .. } | Inner::HalfOpen => None,
        }
        .map(|()| Permit {
            breaker: self,
            done: false,
        })
    }

    /// The current state; an open breaker whose cool-down has passed reports `HalfOpen` (the next call probes).
    pub fn state(&self) -> BreakerState {
        match *self.lock() {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::Open { until } if Instant::now() >= until => BreakerState::HalfOpen,
            Inner::Open { .. } => BreakerState::Open,
            Inner::HalfOpen => BreakerState::HalfOpen,
        }
    }

    fn failed(&self) {
        let mut inner = self.lock();
        let next = match *inner {
            Inner::Closed { failures } if failures + 1 < self.config.failure_threshold => {
                Inner::Closed {
                    failures: failures + 1,
                }
            }
            Inner::Closed { .. } | Inner::HalfOpen | Inner::Open { .. } => {
                tracing::warn!(
                    cooldown_ms = self.config.cooldown.as_millis() as u64,
                    "remote circuit breaker open: answering locally until the cool-down has passed"
                );
                Inner::Open {
                    until: Instant::now() + self.config.cooldown,
                }
            }
        };
        Self::publish(&next);
        *inner = next;
    }

    fn set(&self, next: Inner) {
        let mut inner = self.lock();
        if !matches!(*inner, Inner::Closed { .. }) {
            tracing::info!("remote circuit breaker closed: the endpoint answered");
        }
        Self::publish(&next);
        *inner = next;
    }

    fn publish(state: &Inner) {
        let s = match state {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::Open { .. } => BreakerState::Open,
            Inner::HalfOpen => BreakerState::HalfOpen,
        };
        metrics::gauge!(m::BREAKER_STATE).set(s.gauge());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(threshold: u32, cooldown_ms: u64) -> CircuitBreaker {
        CircuitBreaker::new(BreakerConfig {
            failure_threshold: threshold,
            cooldown: Duration::from_millis(cooldown_ms),
        })
    }

    #[test]
    fn opens_after_threshold_consecutive_failures() {
        let b = breaker(3, 60_000);
        for _ in 0..2 {
            b.try_acquire().expect("closed").failure();
            assert_eq!(b.state(), BreakerState::Closed);
        }
        // A success resets the count.
        b.try_acquire().expect("closed").success();
        for _ in 0..2 {
            b.try_acquire().expect("closed").failure();
        }
        assert_eq!(b.state(), BreakerState::Closed);
        b.try_acquire().expect("closed").failure();
        assert_eq!(b.state(), BreakerState::Open);
        assert!(b.try_acquire().is_none());
    }

    #[test]
    fn half_open_probe_closes_or_reopens() {
        let b = breaker(1, 0);
        b.try_acquire().expect("closed").failure();
        // Zero cool-down: the next call is the probe, and only one probe at a time.
        let probe = b.try_acquire().expect("probe");
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(b.try_acquire().is_none(), "second caller during the probe");
        probe.failure();
        let probe = b.try_acquire().expect("next probe");
        probe.success();
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn a_dropped_probe_counts_as_failure() {
        let b = breaker(1, 0);
        b.try_acquire().expect("closed").failure();
        drop(b.try_acquire().expect("probe"));
        assert!(b.try_acquire().is_some(), "not stuck half-open");
    }

    #[test]
    fn stays_open_during_the_cooldown() {
        let b = breaker(1, 3_600_000);
        b.try_acquire().expect("closed").failure();
        assert_eq!(b.state(), BreakerState::Open);
        assert!(b.try_acquire().is_none());
    }
}
