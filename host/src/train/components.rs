//! The components of one training arm, as core trait objects: the one type the registry builds
//! and the loop runs on (in-process test doubles fill it the same way).

use super::reward_stack::{RewardPart, RewardStack};
use crate::config::ArmRewardPart;
use lrpo_core::{ComponentKind, Error, LanguageId, Optimizer, Result, RolloutEngine, Router};
use lrpo_sdk::AnyComponent;

/// The five components a training arm needs; the router may be absent (monolingual GRPO).
pub struct ArmComponents {
    pub router: Option<Box<dyn Router>>,
    pub language_id: Box<dyn LanguageId>,
    /// One reward model, or several combined (`[[reward.parts]]`).
    pub reward_model: RewardStack,
    pub rollout_engine: Box<dyn RolloutEngine>,
    pub optimizer: Box<dyn Optimizer>,
}

impl ArmComponents {
    /// Sorts built components into their places and checks that every kind training needs is
    /// there, naming the config table to add when one is not. A kind given twice is an error,
    /// except reward models when `rewards` lists them (in that order).
    pub fn assemble(
        arm: &str,
        parts: impl IntoIterator<Item = AnyComponent>,
        rewards: &[ArmRewardPart],
    ) -> Result<ArmComponents> {
        let (mut router, mut language_id, mut rollout_engine, mut optimizer) = (None, None, None, None);
        let mut reward_models = Vec::new();
        for part in parts {
            let kind = part.kind();
            let twice = match part {
                AnyComponent::Router(c) => router.replace(c).is_some(),
                AnyComponent::LanguageId(c) => language_id.replace(c).is_some(),
                AnyComponent::RewardModel(c) => {
                    reward_models.push(c);
                    reward_models.len() > rewards.len().max(1)
                }
                AnyComponent::RolloutEngine(c) => rollout_engine.replace(c).is_some(),
                AnyComponent::Optimizer(c) => optimizer.replace(c).is_some(),
            };
            if twice {
                return Err(Error::config(
                    format!("components.{kind}"),
                    format!("arm `{arm}` was given two {kind} components"),
                ));
            }
        }
        fn required<T>(c: Option<T>, arm: &str, kind: ComponentKind) -> Result<T> {
            c.ok_or_else(|| {
                Error::config(
                    format!("components.{kind}"),
                    format!(
                        "arm `{arm}` has no {kind} component: add a [components.{kind}.<name>] table naming a plugin"
                    ),
                )
            })
        }
        // The kinds are checked in their order (language ID before reward model).
        let language_id = required(language_id, arm, ComponentKind::LanguageId)?;
        let reward_model = if rewards.is_empty() {
            RewardStack::single(required(reward_models.pop(), arm, ComponentKind::RewardModel)?)
        } else {
            if reward_models.len() != rewards.len() {
                return Err(Error::runtime(format!(
                    "arm `{arm}`: {} reward models built for {} reward parts",
                    reward_models.len(),
                    rewards.len()
                )));
            }
            RewardStack::combined(
                rewards
                    .iter()
                    .zip(reward_models)
                    .map(|(p, model)| RewardPart {
                        name: p.instance.clone(),
                        model,
                        weight: p.weight,
                        gated_by: p.gated_by,
                    })
                    .collect(),
            )?
        };
        Ok(ArmComponents {
            router,
            language_id,
            reward_model,
            rollout_engine: required(rollout_engine, arm, ComponentKind::RolloutEngine)?,
            optimizer: required(optimizer, arm, ComponentKind::Optimizer)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lrpo_core::LangPrediction;

    struct Silent;
    impl LanguageId for Silent {
        fn detect(&mut self, texts: &[String]) -> Result<Vec<LangPrediction>> {
            Ok(texts.iter().map(|_| LangPrediction::none()).collect())
        }
    }
    fn lid() -> AnyComponent {
        AnyComponent::from(Box::new(Silent) as Box<dyn LanguageId>)
    }

    #[test]
    fn a_missing_kind_names_the_table_to_add() {
        let err = ArmComponents::assemble("main", [lid()], &[]).err().unwrap();
        assert_eq!(
            err.to_string(),
            "config `components.reward_model`: arm `main` has no reward_model component: add a [components.reward_model.<name>] table naming a plugin"
        );
        let err = ArmComponents::assemble("A", [lid(), lid()], &[]).err().unwrap();
        assert_eq!(err.to_string(), "config `components.language_id`: arm `A` was given two language_id components");
    }
}
