//! [`AnyComponent`]: one built component of any kind, as the five boxed core traits. Both
//! halves of the boundary speak it: a plugin's factories return it and the host's
//! `instantiate` hands it back, so code that handles "a component" matches on one enum and the
//! compiler points at every place a new kind must be handled.

use lrpo_core::{ComponentKind, Error};

/// Declares the enum, its kind and one `TryFrom` per kind from a single list (the variant
/// names are the core traits' names and the `ComponentKind` variants).
macro_rules! any_component {
    ($($kind:ident),* $(,)?) => {
        /// A component of one of the five kinds.
        pub enum AnyComponent {
            $($kind(Box<dyn lrpo_core::$kind>),)*
        }

        impl AnyComponent {
            pub fn kind(&self) -> ComponentKind {
                match self {
                    $(AnyComponent::$kind(_) => ComponentKind::$kind,)*
                }
            }
        }

        $(
            impl From<Box<dyn lrpo_core::$kind>> for AnyComponent {
                fn from(c: Box<dyn lrpo_core::$kind>) -> Self {
                    AnyComponent::$kind(c)
                }
            }

            impl TryFrom<AnyComponent> for Box<dyn lrpo_core::$kind> {
                type Error = Error;
                fn try_from(c: AnyComponent) -> Result<Self, Error> {
                    match c {
                        AnyComponent::$kind(inner) => Ok(inner),
                        #[allow(unreachable_patterns)]
                        other => Err(Error::runtime(format!(
                            "expected a {} component, got a {} component",
                            ComponentKind::$kind,
                            other.kind()
                        ))),
                    }
                }
            }
        )*
    };
}

any_component!(Router, LanguageId, RewardModel, RolloutEngine, Optimizer);

impl std::fmt::Debug for AnyComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AnyComponent({})", self.kind())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lrpo_core::{LangPrediction, LanguageId, Result, Router};

    struct Silent;
    impl LanguageId for Silent {
        fn detect(&mut self, texts: &[String]) -> Result<Vec<LangPrediction>> {
            Ok(texts.iter().map(|_| LangPrediction::none()).collect())
        }
    }

    #[test]
    fn a_component_converts_back_only_to_its_own_kind() {
        let any = AnyComponent::from(Box::new(Silent) as Box<dyn LanguageId>);
        assert_eq!(any.kind(), ComponentKind::LanguageId);
        let err = <Box<dyn Router>>::try_from(any).err().expect("a language_id is not a router");
        assert_eq!(
            err.to_string(),
            Error::runtime("expected a router component, got a language_id component").to_string()
        );
        let any = AnyComponent::from(Box::new(Silent) as Box<dyn LanguageId>);
        let mut back = <Box<dyn LanguageId>>::try_from(any).unwrap();
        assert_eq!(back.detect(&["x".into()]).unwrap().len(), 1);
    }
}
