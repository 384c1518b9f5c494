//! Engine ownership across replicas: with FLEET_REPLICAS = n, engine ids are partitioned by a stable hash
//! and replica i keeps the state of, and accepts readings for, only the engines that hash to i. One engine's
//! readings therefore always meet one in-memory state and one FIFO turn, so replicas sharing one PostgreSQL
//! database can neither lose nor reorder them. A gateway (or `rul replay`) routes with [`replica_of`]; a
//! misrouted reading is refused with the owner's index, never half-applied.

/// Which share of the fleet this process owns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ownership {
    /// This replica's index, 0-based.
    pub replica: u32,
    /// Replicas sharing the store.
    pub replicas: u32,
}

impl Default for Ownership {
    /// One replica owns every engine.
    fn default() -> Self {
        Ownership {
            replica: 0,
            replicas: 1,
        }
    }
}

impl Ownership {
    /// Checks that the index is within the replica count.
    pub fn validate(&self) -> Result<(), String> {
        if self.replicas == 0 || self.replica >= self.replicas {
            return Err(format!(
                "FLEET_REPLICA must be below FLEET_REPLICAS (got replica {} of {})",
                self.replica, self.replicas
            ));
        }
        Ok(())
    }

    /// Whether this replica owns `engine_id`.
    pub fn owns(&self, engine_id: &str) -> bool {
        self.replicas <= 1 || replica_of(engine_id, self.replicas) == self.replica
    }
}

/// The replica (0-based) that owns `engine_id` among `replicas`: FNV-1a of the id's bytes, modulo the count.
/// Stable across processes, versions and platforms, so every router agrees.
pub fn replica_of(engine_id: &str, replicas: u32) -> u32 {
    if replicas <= 1 {
        return 0;
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in engine_id.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (hash % u64::from(replicas)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_engine_has_exactly_one_owner_and_the_split_is_even() {
        let replicas = 3;
        let mut per = [0u32; 3];
        for unit in 0..3000 {
            let id = format!("FD001-test-{unit:03}");
            let owners: Vec<u32> = (0..replicas)
                .filter(|&r| {
                    Ownership {
                        replica: r,
                        replicas,
                    }
                    .owns(&id)
                })
                .collect();
            assert_eq!(owners, vec![replica_of(&id, replicas)]);
            per[owners[0] as usize] += 1;
        }
        assert!(per.iter().all(|&n| (900..=1100).contains(&n)), "{per:?}");
    }

    #[test]
    fn known_values_pin_the_hash() {
        // FNV-1a 64 of "" and "a" (published test vectors), so routers in other languages can match it.
        assert_eq!(
            replica_of("", u32::MAX),
            (0xcbf2_9ce4_8422_2325u64 % u64::from(u32::MAX)) as u32
        );
        assert_eq!(
            replica_of("a", u32::MAX),
            (0xaf63_dc4c_8601_ec8cu64 % u64::from(u32::MAX)) as u32
        );
        assert_eq!(replica_of("anything", 1), 0);
        assert!(
            Ownership {
                replica: 2,
                replicas: 2
            }
            .validate()
            .is_err()
        );
        assert!(Ownership::default().owns("x"));
    }
}
