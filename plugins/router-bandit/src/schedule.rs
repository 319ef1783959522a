//! Closed-form annealing of temperature and epsilon (spec §3.6).
//!
//! Each schedule is computed on its own. The reference skips the epsilon schedule whenever the
//! temperature does not anneal (its early return); the spec recommends against reproducing that.

use serde::{Deserialize, Serialize};

/// `value(k) = max(floor, init * decay^k)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub init: f64,
    pub floor: f64,
    pub decay: f64,
}

impl Schedule {
    /// A decay of 0 or `None` means no decay, as in the reference.
    pub fn new(init: f64, floor: f64, decay: Option<f64>) -> Self {
        let decay = match decay {
            None | Some(0.0) => 1.0,
            Some(d) => d,
        };
        Schedule { init, floor, decay }
    }

    /// The value after `k` completed router steps.
    pub fn at(&self, k: u64) -> f64 {
        // powf like the reference's `**`, so figures match its last digits.
        self.floor.max(self.init * self.decay.powf(k as f64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_decay_means_constant() {
        let s = Schedule::new(0.7, 0.1, Some(0.0));
        assert_eq!((s.at(0), s.at(10_000)), (0.7, 0.7));
        assert_eq!(Schedule::new(0.7, 0.1, None).at(3), 0.7);
    }

    #[test]
    fn epsilon_anneals_even_when_temperature_is_constant() {
        // The reference would leave epsilon at its constructor value here (its early return).
        let temperature = Schedule::new(1.0, 1.0, Some(1.0));
        let epsilon = Schedule::new(0.2, 0.0, Some(0.995));
        assert_eq!(temperature.at(1), 1.0);
        assert!((epsilon.at(1) - 0.199).abs() < 1e-12);
    }

    #[test]
    fn huge_step_counts_do_not_overflow() {
        let s = Schedule::new(1.0, 0.3, Some(0.999));
        assert_eq!(s.at(u64::MAX), 0.3);
    }
}
