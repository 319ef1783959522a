//! Which copies of a question keep their own language and which are routed (spec §3.7).

use lrpo_core::{Lang, RouteContext, RouteRequest};
use std::collections::HashMap;

/// The group rules every router of this crate shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupRules {
    /// Copies per question kept in the original language while training.
    pub orig_lang_min: usize,
    /// False: nothing is ever drawn, every copy keeps its original language.
    pub routing: bool,
}

/// Languages for every copy of every group. `draw` is called once per routed copy, in batch
/// order, so a seeded router yields the same batch for the same request.
pub fn assign_languages(
    request: &RouteRequest,
    rules: GroupRules,
    mut draw: impl FnMut(&RouteContext) -> Lang,
) -> Vec<Vec<Lang>> {
    // Counted per group id, not per group: the reference counts per uid over the whole batch.
    let mut kept: HashMap<u64, usize> = HashMap::new();
    request
        .groups
        .iter()
        .map(|ctx| {
            (0..request.n)
                .map(|_| {
                    if let Some(fixed) = &ctx.fixed_lang {
                        return fixed.clone();
                    }
                    if !request.training {
                        return ctx.orig_lang.clone();
                    }
                    if rules.orig_lang_min > 0 {
                        let count = kept.entry(ctx.group_id).or_insert(0);
                        if *count < rules.orig_lang_min {
                            *count += 1;
                            return ctx.orig_lang.clone();
                        }
                    }
                    // A disabled router falls back to the original language (the reference
                    // crashed here when orig_lang_min > 0).
                    if rules.routing {
                        draw(ctx)
                    } else {
                        ctx.orig_lang.clone()
                    }
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(fixed: Option<&str>, training: bool) -> RouteRequest {
        RouteRequest {
            step: 1,
            n: 8,
            groups: vec![RouteContext {
                group_id: 7,
                topic: "General Knowledge".into(),
                region: None,
                orig_lang: Lang::new("ja"),
                fixed_lang: fixed.map(Lang::new),
            }],
            training,
        }
    }

    fn codes(v: &[Lang]) -> Vec<&str> {
        v.iter().map(Lang::as_str).collect()
    }

    #[test]
    fn tv11_two_original_copies_then_draws() {
        let rules = GroupRules { orig_lang_min: 2, routing: true };
        let out = assign_languages(&request(None, true), rules, |_| Lang::new("zh"));
        assert_eq!(codes(&out[0]), ["ja", "ja", "zh", "zh", "zh", "zh", "zh", "zh"]);
    }

    #[test]
    fn tv11_translation_keeps_the_fixed_language() {
        let rules = GroupRules { orig_lang_min: 2, routing: true };
        let out = assign_languages(&request(Some("ja"), true), rules, |_| Lang::new("zh"));
        assert_eq!(codes(&out[0]), ["ja"; 8]);
    }

    #[test]
    fn validation_and_disabled_router_keep_the_original() {
        let on = GroupRules { orig_lang_min: 2, routing: true };
        let out = assign_languages(&request(None, false), on, |_| panic!("no draw in validation"));
        assert_eq!(codes(&out[0]), ["ja"; 8]);
        let off = GroupRules { orig_lang_min: 2, routing: false };
        let out = assign_languages(&request(None, true), off, |_| panic!("disabled router drew"));
        assert_eq!(codes(&out[0]), ["ja"; 8]);
    }

    #[test]
    fn without_minimum_every_copy_is_drawn() {
        let rules = GroupRules { orig_lang_min: 0, routing: true };
        let mut calls = 0;
        let out = assign_languages(&request(None, true), rules, |_| {
            calls += 1;
            Lang::new("de")
        });
        assert_eq!((calls, codes(&out[0])), (8, vec!["de"; 8]));
    }
}
