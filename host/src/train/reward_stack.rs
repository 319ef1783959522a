//! Several reward models in one arm (`[[reward.parts]]`): each part scores every response, and
//! the step's reward is the weighted sum of the parts, a part optionally gated by another
//! part's language gate (LRPO's gated similarity plus a rule reward, say: the rule's score then
//! only counts in the routed language). The host combines them, so reward plugins never depend
//! on each other; each part's own reward is kept for the metrics.

use lrpo_core::{Error, Result, Reward, RewardInput, RewardModel};

/// One part of the arm's reward.
pub struct RewardPart {
    /// The `[components.reward_model.<instance>]` it was built from.
    pub name: String,
    pub model: Box<dyn RewardModel>,
    pub weight: f64,
    /// Index of the part whose `gate` multiplies this part's value.
    pub gated_by: Option<usize>,
}

/// The arm's reward: one model, or a weighted combination of several.
pub struct RewardStack {
    parts: Vec<RewardPart>,
}

/// The combined rewards and, for a combination, each part's (gated) value per response.
pub struct Scored {
    pub rewards: Vec<Reward>,
    pub parts: Vec<(String, Vec<f64>)>,
}

impl From<Box<dyn RewardModel>> for RewardStack {
    fn from(model: Box<dyn RewardModel>) -> RewardStack {
        RewardStack::single(model)
    }
}

impl RewardStack {
    pub fn single(model: Box<dyn RewardModel>) -> RewardStack {
        RewardStack { parts: vec![RewardPart { name: String::new(), model, weight: 1.0, gated_by: None }] }
    }

    /// A combination; the first part supplies the reward's breakdown (cosines, gate, detected
    /// language) as the one the language-gate rate is measured on.
    pub fn combined(parts: Vec<RewardPart>) -> Result<RewardStack> {
        if parts.is_empty() {
            return Err(Error::config("reward.parts", "lists no part"));
        }
        Ok(RewardStack { parts })
    }

    pub fn is_combined(&self) -> bool {
        self.parts.len() > 1 || self.parts[0].weight != 1.0 || self.parts[0].gated_by.is_some()
    }

    pub fn score(&mut self, inputs: &[RewardInput]) -> Result<Scored> {
        let mut scored: Vec<Vec<Reward>> = Vec::with_capacity(self.parts.len());
        for part in &mut self.parts {
            let rewards = part.model.score(inputs)?;
            let who =
                if part.name.is_empty() { "reward model".to_string() } else { format!("reward part `{}`", part.name) };
            if rewards.len() != inputs.len() {
                return Err(Error::runtime(format!(
                    "{who} returned {} rewards for {} responses",
                    rewards.len(),
                    inputs.len()
                )));
            }
            if let Some(i) = rewards.iter().position(|r| !r.value.is_finite()) {
                return Err(Error::runtime(format!(
                    "{who} returned a non-finite reward ({}) for response {i}",
                    rewards[i].value
                )));
            }
            scored.push(rewards);
        }
        if !self.is_combined() {
            return Ok(Scored { rewards: scored.pop().expect("one part"), parts: vec![] });
        }
        let values: Vec<Vec<f64>> = self
            .parts
            .iter()
            .zip(&scored)
            .map(|(part, rewards)| {
                rewards
                    .iter()
                    .enumerate()
                    .map(|(i, r)| r.value * part.gated_by.map_or(1.0, |g| scored[g][i].gate))
                    .collect()
            })
            .collect();
        let mut rewards = scored.swap_remove(0);
        for (i, r) in rewards.iter_mut().enumerate() {
            r.value = self.parts.iter().zip(&values).map(|(p, v)| p.weight * v[i]).sum();
        }
        let parts = self.parts.iter().map(|p| p.name.clone()).zip(values).collect();
        Ok(Scored { rewards, parts })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lrpo_core::{Lang, LangPrediction};

    /// Scores `value` for every response, with the gate open on even rows only.
    struct Fixed(f64);
    impl RewardModel for Fixed {
        fn score(&mut self, inputs: &[RewardInput]) -> Result<Vec<Reward>> {
            Ok((0..inputs.len())
                .map(|i| Reward {
                    value: self.0,
                    raw_cosine: 0.0,
                    calibrated_cosine: 0.0,
                    r_emb: self.0,
                    gate: if i % 2 == 0 { 1.0 } else { 0.0 },
                    detected: LangPrediction::none(),
                })
                .collect())
        }
    }

    fn inputs(n: usize) -> Vec<RewardInput> {
        (0..n).map(|_| RewardInput::new("r", "a", Lang::new("en"), Lang::new("en"), LangPrediction::none())).collect()
    }

    #[test]
    fn a_weighted_sum_with_a_gated_part() {
        let mut stack = RewardStack::combined(vec![
            RewardPart { name: "sim".into(), model: Box::new(Fixed(0.5)), weight: 0.6, gated_by: None },
            RewardPart { name: "rule".into(), model: Box::new(Fixed(1.0)), weight: 0.4, gated_by: Some(0) },
        ])
        .unwrap();
        let out = stack.score(&inputs(2)).unwrap();
        // Row 0: 0.6·0.5 + 0.4·1·gate(1); row 1: the rule part is gated off.
        assert!((out.rewards[0].value - 0.7).abs() < 1e-12, "{}", out.rewards[0].value);
        assert!((out.rewards[1].value - 0.3).abs() < 1e-12, "{}", out.rewards[1].value);
        assert_eq!(out.parts[1], ("rule".to_string(), vec![1.0, 0.0]));
        assert_eq!(out.rewards[1].gate, 0.0, "the first part's breakdown is kept");
    }

    #[test]
    fn one_model_passes_through_and_bad_answers_are_named() {
        let mut single = RewardStack::single(Box::new(Fixed(0.25)));
        let out = single.score(&inputs(3)).unwrap();
        assert!(out.parts.is_empty() && out.rewards.iter().all(|r| r.value == 0.25));

        struct Short;
        impl RewardModel for Short {
            fn score(&mut self, _: &[RewardInput]) -> Result<Vec<Reward>> {
                Ok(vec![])
            }
        }
        let mut stack = RewardStack::combined(vec![
            RewardPart { name: "a".into(), model: Box::new(Fixed(1.0)), weight: 1.0, gated_by: None },
            RewardPart { name: "b".into(), model: Box::new(Short), weight: 1.0, gated_by: None },
        ])
        .unwrap();
        let err = stack.score(&inputs(2)).err().unwrap().to_string();
        assert!(err.contains("reward part `b` returned 0 rewards for 2 responses"), "{err}");
        let mut nan = RewardStack::single(Box::new(Fixed(f64::NAN)));
        let err = nan.score(&inputs(1)).err().unwrap().to_string();
        assert!(err.contains("non-finite reward (NaN) for response 0"), "{err}");
    }
}
