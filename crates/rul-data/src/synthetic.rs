//! Small synthetic run-to-failure fleets for tests and examples: sensors near FD001's typical
//! values that drift with wear, so a model can learn something in seconds.

use crate::reader::{Cycle, Engine};
use crate::split::SplitMix64;

/// Typical FD001 sensor values (s1..s21) and the drift each shows over a life.
pub const SENSOR_PROFILE: [(f64, f64); 21] = [
    (518.67, 0.0),
    (642.0, 1.5),
    (1585.0, 12.0),
    (1400.0, 25.0),
    (14.62, 0.0),
    (21.61, 0.0),
    (554.0, -3.0),
    (2388.0, 0.15),
    (9050.0, 40.0),
    (1.3, 0.0),
    (47.3, 0.8),
    (522.0, -2.5),
    (2388.0, 0.15),
    (8140.0, 30.0),
    (8.42, 0.08),
    (0.03, 0.0),
    (392.0, 4.0),
    (2388.0, 0.0),
    (100.0, 0.0),
    (38.9, -0.5),
    (23.3, -0.3),
];

/// `n` engines with lives of 40–160 cycles; the same seed gives the same fleet.
pub fn fleet(n: u32, seed: u64) -> Vec<Engine> {
    let mut rng = SplitMix64::new(seed);
    let mut noise = move || (rng.next_u64() % 2001) as f64 / 1000.0 - 1.0;
    (1..=n)
        .map(|unit| {
            let life = 40 + (noise() * 60.0 + 60.0) as u32;
            let cycles = (1..=life)
                .map(|cycle| {
                    let wear = (f64::from(cycle) / f64::from(life)).powi(3);
                    let mut sensors = [0.0; 21];
                    for (s, (base, drift)) in sensors.iter_mut().zip(SENSOR_PROFILE) {
                        *s = base + drift * wear + drift.abs() * 0.05 * noise();
                    }
                    Cycle {
                        unit,
                        cycle,
                        settings: [0.001 * noise(), 0.0003 * noise(), 100.0],
                        sensors,
                    }
                })
                .collect();
            Engine { unit, cycles }
        })
        .collect()
}
