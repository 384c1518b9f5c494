//! RUL labels: piecewise-linear for run-to-failure series, RUL-file based for test series.

use crate::reader::Engine;

/// Train labels: `min(last cycle − cycle, ceiling)` for every cycle of a run-to-failure series.
pub fn train_labels(engine: &Engine, ceiling: f64) -> Vec<f64> {
    let last = f64::from(engine.last_cycle());
    engine
        .cycles
        .iter()
        .map(|c| (last - f64::from(c.cycle)).min(ceiling))
        .collect()
}

/// Raw (uncapped) test truth: `final_rul` at the last cycle, plus the cycles still to come in the series before it.
pub fn test_labels(engine: &Engine, final_rul: f64) -> Vec<f64> {
    let last = f64::from(engine.last_cycle());
    engine
        .cycles
        .iter()
        .map(|c| final_rul + (last - f64::from(c.cycle)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::Cycle;
    use proptest::prelude::*;

    pub(crate) fn engine(unit: u32, n: u32) -> Engine {
        Engine {
            unit,
            cycles: (1..=n)
                .map(|cycle| Cycle {
                    unit,
                    cycle,
                    settings: [0.0; 3],
                    sensors: [0.0; 21],
                })
                .collect(),
        }
    }

    #[test]
    fn train_labels_are_capped_and_end_at_zero() {
        let labels = train_labels(&engine(1, 200), 125.0);
        assert_eq!(labels[0], 125.0);
        assert_eq!(labels[199], 0.0);
        assert_eq!(labels[150], 49.0);
    }

    #[test]
    fn test_labels_count_back_from_the_rul_file_value() {
        let labels = test_labels(&engine(1, 31), 112.0);
        assert_eq!(labels[30], 112.0);
        assert_eq!(labels[0], 142.0);
    }

    proptest! {
        #[test]
        fn train_labels_decrease_by_one_until_the_cap(n in 1u32..400, ceiling in 1.0f64..300.0) {
            let labels = train_labels(&engine(1, n), ceiling);
            prop_assert_eq!(labels.len(), n as usize);
            prop_assert!(labels.iter().all(|l| *l >= 0.0 && *l <= ceiling));
            for w in labels.windows(2) {
                prop_assert!(w[0] >= w[1]);
                prop_assert!(w[0] - w[1] <= 1.0 + 1e-9);
            }
        }
    }
}
