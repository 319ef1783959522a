//! `#[repr(C)]` twins of the lrpo-core data types and their conversions. Only plain data
//! crosses the boundary: strings, vectors and numbers.

use abi_stable::std_types::{ROption, RString, RVec, Tuple2};
use abi_stable::StableAbi;
use lrpo_core as core;
use lrpo_core::Lang;

fn ropt(s: &Option<String>) -> ROption<RString> {
    s.as_deref().map(RString::from).into()
}
fn opt(s: &ROption<RString>) -> Option<String> {
    s.as_ref().map(|s| s.to_string()).into_option()
}
fn ropt_lang(l: &Option<Lang>) -> ROption<RString> {
    l.as_ref().map(|l| RString::from(l.as_str())).into()
}
fn opt_lang(l: &ROption<RString>) -> Option<Lang> {
    l.as_ref().map(|s| Lang::new(s.as_str())).into_option()
}
fn lang(s: &RString) -> Lang {
    Lang::new(s.as_str())
}

#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiRouteContext {
    pub group_id: u64,
    pub topic: RString,
    pub region: ROption<RString>,
    pub orig_lang: RString,
    pub fixed_lang: ROption<RString>,
}

#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiRouteRequest {
    pub step: u64,
    pub n: u64,
    pub groups: RVec<FfiRouteContext>,
    pub training: bool,
}

impl From<&core::RouteRequest> for FfiRouteRequest {
    fn from(r: &core::RouteRequest) -> Self {
        FfiRouteRequest {
            step: r.step,
            n: r.n as u64,
            training: r.training,
            groups: r
                .groups
                .iter()
                .map(|g| FfiRouteContext {
                    group_id: g.group_id,
                    topic: g.topic.as_str().into(),
                    region: ropt(&g.region),
                    orig_lang: g.orig_lang.as_str().into(),
                    fixed_lang: ropt_lang(&g.fixed_lang),
                })
                .collect(),
        }
    }
}

impl From<&FfiRouteRequest> for core::RouteRequest {
    fn from(r: &FfiRouteRequest) -> Self {
        core::RouteRequest {
            step: r.step,
            n: r.n as usize,
            training: r.training,
            groups: r
                .groups
                .iter()
                .map(|g| core::RouteContext {
                    group_id: g.group_id,
                    topic: g.topic.to_string(),
                    region: opt(&g.region),
                    orig_lang: lang(&g.orig_lang),
                    fixed_lang: opt_lang(&g.fixed_lang),
                })
                .collect(),
        }
    }
}

pub(crate) fn langs_to_ffi(groups: Vec<Vec<Lang>>) -> RVec<RVec<RString>> {
    groups.into_iter().map(|g| g.iter().map(|l| RString::from(l.as_str())).collect()).collect()
}
pub(crate) fn langs_from_ffi(groups: RVec<RVec<RString>>) -> Vec<Vec<Lang>> {
    groups.iter().map(|g| g.iter().map(lang).collect()).collect()
}

#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiRouteFeedback {
    pub topic: RString,
    pub region: ROption<RString>,
    pub lang: RString,
    pub reward: f64,
}

impl From<&core::RouteFeedback> for FfiRouteFeedback {
    fn from(f: &core::RouteFeedback) -> Self {
        FfiRouteFeedback {
            topic: f.topic.as_str().into(),
            region: ropt(&f.region),
            lang: f.lang.as_str().into(),
            reward: f.reward,
        }
    }
}
impl From<&FfiRouteFeedback> for core::RouteFeedback {
    fn from(f: &FfiRouteFeedback) -> Self {
        core::RouteFeedback {
            topic: f.topic.to_string(),
            region: opt(&f.region),
            lang: lang(&f.lang),
            reward: f.reward,
        }
    }
}

#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiRouterUpdate {
    pub flushed: bool,
    pub report: ROption<FfiRouterReport>,
}

#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiRouterReport {
    pub languages: RVec<RString>,
    pub contexts: RVec<FfiContextReport>,
    pub extras: RVec<Tuple2<RString, f64>>,
}

#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiContextReport {
    pub key: RString,
    pub probs: RVec<f64>,
    pub extras: RVec<Tuple2<RString, RVec<f64>>>,
}

impl From<core::RouterUpdate> for FfiRouterUpdate {
    fn from(u: core::RouterUpdate) -> Self {
        FfiRouterUpdate { flushed: u.flushed, report: u.report.map(Into::into).into() }
    }
}
impl From<FfiRouterUpdate> for core::RouterUpdate {
    fn from(u: FfiRouterUpdate) -> Self {
        core::RouterUpdate { flushed: u.flushed, report: u.report.into_option().map(Into::into) }
    }
}

impl From<core::RouterReport> for FfiRouterReport {
    fn from(r: core::RouterReport) -> Self {
        FfiRouterReport {
            languages: r.languages.iter().map(|l| RString::from(l.as_str())).collect(),
            contexts: r
                .contexts
                .into_iter()
                .map(|c| FfiContextReport {
                    key: c.key.into(),
                    probs: c.probs.into(),
                    extras: c.extras.into_iter().map(|(name, v)| Tuple2(name.into(), v.into())).collect(),
                })
                .collect(),
            extras: r.extras.into_iter().map(|(name, v)| Tuple2(name.into(), v)).collect(),
        }
    }
}
impl From<FfiRouterReport> for core::RouterReport {
    fn from(r: FfiRouterReport) -> Self {
        core::RouterReport {
            languages: r.languages.iter().map(lang).collect(),
            contexts: r
                .contexts
                .into_iter()
                .map(|c| core::ContextReport {
                    key: c.key.into(),
                    probs: c.probs.into(),
                    extras: c.extras.into_iter().map(|Tuple2(name, v)| (name.into(), v.into())).collect(),
                })
                .collect(),
            extras: r.extras.into_iter().map(|Tuple2(name, v)| (name.into(), v)).collect(),
        }
    }
}

#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiLangPrediction {
    pub lang: ROption<RString>,
    pub prob: f32,
}
impl From<&core::LangPrediction> for FfiLangPrediction {
    fn from(p: &core::LangPrediction) -> Self {
        FfiLangPrediction { lang: ropt_lang(&p.lang), prob: p.prob }
    }
}
impl From<&FfiLangPrediction> for core::LangPrediction {
    fn from(p: &FfiLangPrediction) -> Self {
        core::LangPrediction { lang: opt_lang(&p.lang), prob: p.prob }
    }
}

#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiRewardInput {
    pub response: RString,
    pub reference: RString,
    pub question: RString,
    pub prompt: RString,
    pub extra: RString,
    pub target_lang: RString,
    pub reference_lang: RString,
    pub detected: FfiLangPrediction,
}
impl From<&core::RewardInput> for FfiRewardInput {
    fn from(r: &core::RewardInput) -> Self {
        FfiRewardInput {
            response: r.response.as_str().into(),
            reference: r.reference.as_str().into(),
            question: r.question.as_str().into(),
            prompt: r.prompt.as_str().into(),
            extra: r.extra.as_str().into(),
            target_lang: r.target_lang.as_str().into(),
            reference_lang: r.reference_lang.as_str().into(),
            detected: (&r.detected).into(),
        }
    }
}
impl From<&FfiRewardInput> for core::RewardInput {
    fn from(r: &FfiRewardInput) -> Self {
        core::RewardInput {
            response: r.response.to_string(),
            reference: r.reference.to_string(),
            question: r.question.to_string(),
            prompt: r.prompt.to_string(),
            extra: r.extra.to_string(),
            target_lang: lang(&r.target_lang),
            reference_lang: lang(&r.reference_lang),
            detected: (&r.detected).into(),
        }
    }
}

#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiReward {
    pub value: f64,
    pub raw_cosine: f64,
    pub calibrated_cosine: f64,
    pub r_emb: f64,
    pub gate: f64,
    pub detected: FfiLangPrediction,
}
impl From<&core::Reward> for FfiReward {
    fn from(r: &core::Reward) -> Self {
        FfiReward {
            value: r.value,
            raw_cosine: r.raw_cosine,
            calibrated_cosine: r.calibrated_cosine,
            r_emb: r.r_emb,
            gate: r.gate,
            detected: (&r.detected).into(),
        }
    }
}
impl From<&FfiReward> for core::Reward {
    fn from(r: &FfiReward) -> Self {
        core::Reward {
            value: r.value,
            raw_cosine: r.raw_cosine,
            calibrated_cosine: r.calibrated_cosine,
            r_emb: r.r_emb,
            gate: r.gate,
            detected: (&r.detected).into(),
        }
    }
}

#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiGenerationRequest {
    pub prompt: RString,
    pub max_new_tokens: u32,
    pub temperature: f32,
    pub top_p: f32,
    pub top_k: u32,
    pub min_p: f32,
    pub seed: u64,
    pub stop_strings: RVec<RString>,
    pub stop_token_ids: RVec<u32>,
}
impl From<&core::GenerationRequest> for FfiGenerationRequest {
    fn from(r: &core::GenerationRequest) -> Self {
        FfiGenerationRequest {
            prompt: r.prompt.as_str().into(),
            max_new_tokens: r.max_new_tokens,
            temperature: r.sampling.temperature,
            top_p: r.sampling.top_p,
            top_k: r.sampling.top_k,
            min_p: r.sampling.min_p,
            seed: r.seed,
            stop_strings: r.stop_strings.iter().map(|s| RString::from(s.as_str())).collect(),
            stop_token_ids: r.stop_token_ids.as_slice().into(),
        }
    }
}
impl From<&FfiGenerationRequest> for core::GenerationRequest {
    fn from(r: &FfiGenerationRequest) -> Self {
        core::GenerationRequest {
            prompt: r.prompt.to_string(),
            max_new_tokens: r.max_new_tokens,
            sampling: core::SamplingParams {
                temperature: r.temperature,
                top_p: r.top_p,
                top_k: r.top_k,
                min_p: r.min_p,
            },
            seed: r.seed,
            stop_strings: r.stop_strings.iter().map(|s| s.to_string()).collect(),
            stop_token_ids: r.stop_token_ids.to_vec(),
        }
    }
}

#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiGenerationResult {
    pub prompt_tokens: RVec<u32>,
    pub response_tokens: RVec<u32>,
    pub logprobs: RVec<f32>,
    pub text: RString,
    /// 0 = stop, 1 = length.
    pub finish: u8,
}
impl From<core::GenerationResult> for FfiGenerationResult {
    fn from(r: core::GenerationResult) -> Self {
        FfiGenerationResult {
            prompt_tokens: r.prompt_tokens.into(),
            response_tokens: r.response_tokens.into(),
            logprobs: r.logprobs.into(),
            text: r.text.into(),
            finish: match r.finish {
                core::FinishReason::Stop => 0,
                core::FinishReason::Length => 1,
            },
        }
    }
}
impl From<FfiGenerationResult> for core::GenerationResult {
    fn from(r: FfiGenerationResult) -> Self {
        core::GenerationResult {
            prompt_tokens: r.prompt_tokens.into(),
            response_tokens: r.response_tokens.into(),
            logprobs: r.logprobs.into(),
            text: r.text.into(),
            finish: if r.finish == 1 { core::FinishReason::Length } else { core::FinishReason::Stop },
        }
    }
}

#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiTrainSample {
    pub group_id: u64,
    pub prompt_tokens: RVec<u32>,
    pub response_tokens: RVec<u32>,
    pub sampler_logprobs: RVec<f32>,
    pub reward: f64,
}

#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiTrainBatch {
    pub step: u64,
    pub samples: RVec<FfiTrainSample>,
}
impl From<&core::TrainBatch> for FfiTrainBatch {
    fn from(b: &core::TrainBatch) -> Self {
        FfiTrainBatch {
            step: b.step,
            samples: b
                .samples
                .iter()
                .map(|s| FfiTrainSample {
                    group_id: s.group_id,
                    prompt_tokens: s.prompt_tokens.as_slice().into(),
                    response_tokens: s.response_tokens.as_slice().into(),
                    sampler_logprobs: s.sampler_logprobs.as_slice().into(),
                    reward: s.reward,
                })
                .collect(),
        }
    }
}
impl From<&FfiTrainBatch> for core::TrainBatch {
    fn from(b: &FfiTrainBatch) -> Self {
        core::TrainBatch {
            step: b.step,
            samples: b
                .samples
                .iter()
                .map(|s| core::TrainSample {
                    group_id: s.group_id,
                    prompt_tokens: s.prompt_tokens.to_vec(),
                    response_tokens: s.response_tokens.to_vec(),
                    sampler_logprobs: s.sampler_logprobs.to_vec(),
                    reward: s.reward,
                })
                .collect(),
        }
    }
}

#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiStepStats {
    pub values: RVec<Tuple2<RString, f64>>,
}
impl From<core::StepStats> for FfiStepStats {
    fn from(s: core::StepStats) -> Self {
        FfiStepStats { values: s.values.into_iter().map(|(k, v)| Tuple2(k.into(), v)).collect() }
    }
}
impl From<FfiStepStats> for core::StepStats {
    fn from(s: FfiStepStats) -> Self {
        core::StepStats { values: s.values.into_iter().map(|Tuple2(k, v)| (k.into_string(), v)).collect() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_request_round_trips() {
        let req = core::RouteRequest {
            step: 7,
            n: 8,
            training: true,
            groups: vec![core::RouteContext {
                group_id: 3,
                topic: "Regional Knowledge".into(),
                region: Some("China".into()),
                orig_lang: Lang::new("zh"),
                fixed_lang: None,
            }],
        };
        let back: core::RouteRequest = (&FfiRouteRequest::from(&req)).into();
        assert_eq!(back, req);
    }

    #[test]
    fn router_update_with_a_report_round_trips() {
        let up = core::RouterUpdate {
            flushed: true,
            report: Some(core::RouterReport {
                languages: vec![Lang::new("en"), Lang::new("zh")],
                contexts: vec![core::ContextReport {
                    key: "topic:Math".into(),
                    probs: vec![0.25, 0.75],
                    extras: vec![("softmax".into(), vec![0.2, 0.8])],
                }],
                extras: vec![("temperature".into(), 0.5)],
            }),
        };
        let back: core::RouterUpdate = FfiRouterUpdate::from(up.clone()).into();
        assert_eq!(back, up);
        let none: core::RouterUpdate = FfiRouterUpdate::from(core::RouterUpdate::default()).into();
        assert_eq!(none, core::RouterUpdate::default());
    }

    #[test]
    fn generation_and_train_round_trip() {
        let g = core::GenerationResult {
            prompt_tokens: vec![1, 2],
            response_tokens: vec![3],
            logprobs: vec![-0.5],
            text: "hé".into(),
            finish: core::FinishReason::Length,
        };
        let back: core::GenerationResult = FfiGenerationResult::from(g.clone()).into();
        assert_eq!(back, g);
        let b = core::TrainBatch {
            step: 2,
            samples: vec![core::TrainSample {
                group_id: 1,
                prompt_tokens: vec![1],
                response_tokens: vec![2, 3],
                sampler_logprobs: vec![-1.0, -2.0],
                reward: 0.5,
            }],
        };
        let back: core::TrainBatch = (&FfiTrainBatch::from(&b)).into();
        assert_eq!(back, b);
        let mut s = core::StepStats::default();
        s.set("loss", 1.5);
        let back: core::StepStats = FfiStepStats::from(s.clone()).into();
        assert_eq!(back, s);
    }

    #[test]
    fn reward_round_trips() {
        let r = core::Reward {
            value: 0.9,
            raw_cosine: 0.8,
            calibrated_cosine: 0.81,
            r_emb: 0.905,
            gate: 1.0,
            detected: core::LangPrediction { lang: Some(Lang::new("de")), prob: 0.9 },
        };
        let back: core::Reward = (&FfiReward::from(&r)).into();
        assert_eq!(back, r);
        let req = core::GenerationRequest {
            prompt: "p".into(),
            max_new_tokens: 4,
            sampling: core::SamplingParams::greedy(),
            seed: 9,
            stop_strings: vec!["\n\n".into()],
            stop_token_ids: vec![2],
        };
        let back: core::GenerationRequest = (&FfiGenerationRequest::from(&req)).into();
        assert_eq!(back, req);
    }
}
