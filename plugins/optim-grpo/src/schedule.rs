//! Learning rate per training step: linear warm-up, then constant or half-cosine decay, as the
//! transformers/verl schedules (the step index counts completed training steps, so the first
//! step of a warm-up runs at lr 0).

use crate::config::LrSchedule;

#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub lr: f64,
    pub kind: LrSchedule,
    pub warmup_steps: u64,
    pub total_steps: u64,
    pub min_lr_ratio: f64,
}

impl Schedule {
    pub fn lr_at(&self, step: u64) -> f64 {
        self.lr * self.factor(step)
    }

    fn factor(&self, step: u64) -> f64 {
        if step < self.warmup_steps {
            return step as f64 / self.warmup_steps.max(1) as f64;
        }
        match self.kind {
            LrSchedule::Constant => 1.0,
            LrSchedule::Cosine => {
                let span = self.total_steps.saturating_sub(self.warmup_steps).max(1) as f64;
                let progress = ((step - self.warmup_steps) as f64 / span).min(1.0);
                let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
                self.min_lr_ratio + (1.0 - self.min_lr_ratio) * cosine
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_constant() {
        let s = Schedule { lr: 1e-3, kind: LrSchedule::Constant, warmup_steps: 4, total_steps: 100, min_lr_ratio: 0.0 };
        let got: Vec<f64> = (0..6).map(|k| s.lr_at(k)).collect();
        let want = [0.0, 2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-15, "{got:?}");
        }
    }

    #[test]
    fn cosine_decays_to_the_floor() {
        let s = Schedule { lr: 1.0, kind: LrSchedule::Cosine, warmup_steps: 2, total_steps: 12, min_lr_ratio: 0.1 };
        assert_eq!(s.lr_at(1), 0.5);
        assert!((s.lr_at(2) - 1.0).abs() < 1e-15);
        assert!((s.lr_at(7) - 0.55).abs() < 1e-12); // halfway: 0.1 + 0.9·0.5
        assert!((s.lr_at(12) - 0.1).abs() < 1e-12);
        assert!((s.lr_at(50) - 0.1).abs() < 1e-12);
    }
}
