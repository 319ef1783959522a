//! The LanguageId across the boundary.

use crate::guard::Guard;
use crate::types::FfiLangPrediction;
use crate::FfiError;
use abi_stable::sabi_trait;
use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RBox, RResult, RSlice, RString, RVec};
use lrpo_core::{LangPrediction, LanguageId, Result};

#[sabi_trait]
pub trait FfiLanguageId: Send {
    #[sabi(last_prefix_field)]
    fn detect(&mut self, texts: RSlice<'_, RString>) -> RResult<RVec<FfiLangPrediction>, FfiError>;
}

pub type FfiLanguageIdBox = FfiLanguageId_TO<'static, RBox<()>>;

pub struct GuestLanguageId {
    inner: Box<dyn LanguageId>,
    guard: Guard,
}

impl GuestLanguageId {
    pub fn boxed(inner: Box<dyn LanguageId>, label: &str) -> FfiLanguageIdBox {
        FfiLanguageId_TO::from_value(GuestLanguageId { inner, guard: Guard::new(label) }, TD_Opaque)
    }
}

impl FfiLanguageId for GuestLanguageId {
    fn detect(&mut self, texts: RSlice<'_, RString>) -> RResult<RVec<FfiLangPrediction>, FfiError> {
        let inner = &mut self.inner;
        self.guard.call(|| {
            let texts: Vec<String> = texts.iter().map(|t| t.to_string()).collect();
            Ok(inner.detect(&texts)?.iter().map(Into::into).collect())
        })
    }
}

pub struct HostLanguageId(pub FfiLanguageIdBox);

impl LanguageId for HostLanguageId {
    fn detect(&mut self, texts: &[String]) -> Result<Vec<LangPrediction>> {
        let texts: Vec<RString> = texts.iter().map(|t| RString::from(t.as_str())).collect();
        Ok(self.0.detect(texts.as_slice().into()).into_result()?.iter().map(Into::into).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lrpo_core::Lang;

    struct FirstLetter;
    impl LanguageId for FirstLetter {
        fn detect(&mut self, texts: &[String]) -> Result<Vec<LangPrediction>> {
            Ok(texts
                .iter()
                .map(|t| match t.chars().next() {
                    Some('Z') => LangPrediction { lang: Some(Lang::new("zh")), prob: 0.5 },
                    _ => LangPrediction::none(),
                })
                .collect())
        }
    }

    #[test]
    fn detect_round_trips() {
        let mut host = HostLanguageId(GuestLanguageId::boxed(Box::new(FirstLetter), "fl"));
        let out = host.detect(&["Zhong".into(), "x".into()]).unwrap();
        assert_eq!(out, vec![LangPrediction { lang: Some(Lang::new("zh")), prob: 0.5 }, LangPrediction::none()]);
    }
}
