//! The Router across the boundary: `FfiRouter` (the ABI), `GuestRouter` (inside a plugin)
//! and `HostRouter` (inside the host).

use crate::guard::Guard;
use crate::types::{langs_from_ffi, langs_to_ffi, FfiRouteFeedback, FfiRouteRequest, FfiRouterUpdate};
use crate::FfiError;
use abi_stable::sabi_trait;
use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RBox, RResult, RSlice, RString, RVec};
use lrpo_core::{Lang, Result, RouteFeedback, RouteRequest, Router, RouterUpdate};

#[sabi_trait]
pub trait FfiRouter: Send {
    fn languages(&self) -> RResult<RVec<RString>, FfiError>;
    fn route(&mut self, request: &FfiRouteRequest) -> RResult<RVec<RVec<RString>>, FfiError>;
    fn update(&mut self, step: u64, feedback: RSlice<'_, FfiRouteFeedback>) -> RResult<FfiRouterUpdate, FfiError>;
    fn save_state(&self) -> RResult<RVec<u8>, FfiError>;
    #[sabi(last_prefix_field)]
    fn load_state(&mut self, state: RSlice<'_, u8>) -> RResult<(), FfiError>;
}

pub type FfiRouterBox = FfiRouter_TO<'static, RBox<()>>;

pub struct GuestRouter {
    inner: Box<dyn Router>,
    guard: Guard,
}

impl GuestRouter {
    pub fn boxed(inner: Box<dyn Router>, label: &str) -> FfiRouterBox {
        FfiRouter_TO::from_value(GuestRouter { inner, guard: Guard::new(label) }, TD_Opaque)
    }
}

impl FfiRouter for GuestRouter {
    fn languages(&self) -> RResult<RVec<RString>, FfiError> {
        self.guard.call(|| Ok(self.inner.languages().iter().map(|l| RString::from(l.as_str())).collect()))
    }
    fn route(&mut self, request: &FfiRouteRequest) -> RResult<RVec<RVec<RString>>, FfiError> {
        let inner = &mut self.inner;
        self.guard.call(|| inner.route(&request.into()).map(langs_to_ffi))
    }
    fn update(&mut self, step: u64, feedback: RSlice<'_, FfiRouteFeedback>) -> RResult<FfiRouterUpdate, FfiError> {
        let inner = &mut self.inner;
        self.guard.call(|| {
            let fb: Vec<RouteFeedback> = feedback.iter().map(Into::into).collect();
            inner.update(step, &fb).map(Into::into)
        })
    }
    fn save_state(&self) -> RResult<RVec<u8>, FfiError> {
        self.guard.call(|| self.inner.save_state().map(Into::into))
    }
    fn load_state(&mut self, state: RSlice<'_, u8>) -> RResult<(), FfiError> {
        let inner = &mut self.inner;
        self.guard.call(|| inner.load_state(state.as_slice()))
    }
}

/// A router that lives in a plugin, seen through the core trait.
pub struct HostRouter {
    inner: FfiRouterBox,
    languages: Vec<Lang>,
}

impl HostRouter {
    /// Asks the router for its languages once, so `languages()` cannot fail later.
    pub fn new(inner: FfiRouterBox) -> Result<Self> {
        let languages = inner.languages().into_result()?.iter().map(|s| Lang::new(s.as_str())).collect();
        Ok(HostRouter { inner, languages })
    }
}

impl Router for HostRouter {
    fn languages(&self) -> Vec<Lang> {
        self.languages.clone()
    }
    fn route(&mut self, request: &RouteRequest) -> Result<Vec<Vec<Lang>>> {
        Ok(langs_from_ffi(self.inner.route(&request.into()).into_result()?))
    }
    fn update(&mut self, step: u64, feedback: &[RouteFeedback]) -> Result<RouterUpdate> {
        let fb: Vec<FfiRouteFeedback> = feedback.iter().map(Into::into).collect();
        Ok(self.inner.update(step, fb.as_slice().into()).into_result()?.into())
    }
    fn save_state(&self) -> Result<Vec<u8>> {
        Ok(self.inner.save_state().into_result()?.into())
    }
    fn load_state(&mut self, state: &[u8]) -> Result<()> {
        Ok(self.inner.load_state(state.into()).into_result()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lrpo_core::{ContextReport, Error, RouteContext, RouterReport};

    /// Gives every copy the original language and remembers the rewards it was told.
    struct Echo {
        seen: Vec<f64>,
    }
    impl Router for Echo {
        fn languages(&self) -> Vec<Lang> {
            vec![Lang::new("en"), Lang::new("zh")]
        }
        fn route(&mut self, r: &RouteRequest) -> Result<Vec<Vec<Lang>>> {
            if r.n == 0 {
                panic!("n must be positive");
            }
            Ok(r.groups.iter().map(|g| vec![g.orig_lang.clone(); r.n]).collect())
        }
        fn update(&mut self, _: u64, fb: &[RouteFeedback]) -> Result<RouterUpdate> {
            self.seen.extend(fb.iter().map(|f| f.reward));
            let report = RouterReport {
                languages: self.languages(),
                contexts: vec![ContextReport {
                    key: "seen".into(),
                    probs: vec![self.seen.len() as f64, 0.0],
                    extras: vec![],
                }],
                extras: vec![],
            };
            Ok(RouterUpdate { flushed: true, report: Some(report) })
        }
        fn save_state(&self) -> Result<Vec<u8>> {
            Ok(self.seen.iter().map(|&r| r as u8).collect())
        }
        fn load_state(&mut self, s: &[u8]) -> Result<()> {
            if s.is_empty() {
                return Err(Error::State("empty".into()));
            }
            self.seen = s.iter().map(|&b| b as f64).collect();
            Ok(())
        }
    }

    fn request(n: usize) -> RouteRequest {
        RouteRequest {
            step: 1,
            n,
            training: true,
            groups: vec![RouteContext {
                group_id: 0,
                topic: "t".into(),
                region: None,
                orig_lang: Lang::new("zh"),
                fixed_lang: None,
            }],
        }
    }

    #[test]
    fn calls_round_trip_through_the_ffi_object() {
        let mut host = HostRouter::new(GuestRouter::boxed(Box::new(Echo { seen: vec![] }), "echo")).unwrap();
        assert_eq!(host.languages(), vec![Lang::new("en"), Lang::new("zh")]);
        assert_eq!(host.route(&request(2)).unwrap(), vec![vec![Lang::new("zh"); 2]]);
        let fb = RouteFeedback { topic: "t".into(), region: None, lang: Lang::new("zh"), reward: 3.0 };
        let up = host.update(1, &[fb]).unwrap();
        assert_eq!(up.report.unwrap().contexts[0].probs, vec![1.0, 0.0]);
        assert_eq!(host.save_state().unwrap(), vec![3]);
        assert_eq!(host.load_state(&[]).unwrap_err(), Error::State("empty".into()));
    }

    #[test]
    fn a_panic_becomes_an_error_and_poisons() {
        let mut host = HostRouter::new(GuestRouter::boxed(Box::new(Echo { seen: vec![] }), "echo")).unwrap();
        let err = host.route(&request(0)).unwrap_err();
        assert!(matches!(err, Error::Panic { ref message, .. } if message == "n must be positive"), "{err}");
        assert_eq!(host.route(&request(1)).unwrap_err(), Error::Poisoned { component: "echo".into() });
    }
}
