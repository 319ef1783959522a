//! Behavioural checks that run against any `Box<dyn Router>` built from a JSON config, so the
//! same suite covers the rlib and the dlopened `.so`; and the benchmark workload ([`workload`]).
//! A dev-only crate: test code stays out of the shipped router library. It sees the routers
//! through the `Router` trait alone, as the host does.
//!
//! - [`check_all`]: the spec's test vectors TV-1..TV-6 and TV-11 for `lrpo-bandit` (the factory
//!   must build `lrpo-bandit` instances). Preset values are injected through `load_state`;
//!   values the trait does not expose are read from the update's report or the state JSON.
//! - [`check_router_contract`]: group rules, exact resume and input errors, for any of the
//!   three routers of this crate (pass that router's config).

mod vectors;
pub mod workload;

use lrpo_core::{Lang, RouteContext, RouteFeedback, RouteRequest, Router};
use serde_json::Value;

/// Builds a router from its JSON config (what the host passes to a plugin factory).
pub type MakeRouter<'a> = &'a dyn Fn(Value) -> lrpo_core::Result<Box<dyn Router>>;

/// One named check of the test vectors.
type VectorCheck = (&'static str, fn(MakeRouter) -> Result<(), String>);
/// One named check of the router contract, given the router's config.
type ContractCheck = (&'static str, fn(MakeRouter, Value) -> Result<(), String>);

/// Runs every test vector; the error lists each failed vector with what differed.
pub fn check_all(make: MakeRouter) -> Result<(), String> {
    let checks: [VectorCheck; 7] = [
        ("TV-1 priors and language index", vectors::tv1_priors),
        ("TV-2 sampling distribution", vectors::tv2_sampling),
        ("TV-3 regional composition", vectors::tv3_regional),
        ("TV-4 one-group update", vectors::tv4_update),
        ("TV-5 sequential regional update", vectors::tv5_regional_update),
        ("TV-6 schedules", vectors::tv6_schedules),
        ("TV-11 group assignment", vectors::tv11_groups),
    ];
    report(checks.iter().map(|(name, check)| (*name, check(make))))
}

/// Group rules, resume and error checks for any router of this crate. `config` is that router's
/// config; `orig_lang_min` is overridden to 2.
pub fn check_router_contract(make: MakeRouter, config: Value) -> Result<(), String> {
    let config = merge(config, serde_json::json!({ "orig_lang_min": 2 }));
    let checks: [ContractCheck; 3] =
        [("group rules", contract_group_rules), ("exact resume", contract_resume), ("input errors", contract_errors)];
    report(checks.iter().map(|(name, check)| (*name, check(make, config.clone()))))
}

fn report<'a>(results: impl Iterator<Item = (&'a str, Result<(), String>)>) -> Result<(), String> {
    let failures: Vec<String> = results.filter_map(|(name, r)| r.err().map(|e| format!("{name}: {e}"))).collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}

fn contract_group_rules(make: MakeRouter, config: Value) -> Result<(), String> {
    let mut router = build(make, config)?;
    let langs = router.languages();
    let ja = Lang::new("ja");
    let mut request = request(vec![context(1, "General Knowledge", None, "ja"); 50], 8, true);
    request.groups.iter_mut().enumerate().for_each(|(i, g)| g.group_id = i as u64);
    request.groups.push(RouteContext {
        fixed_lang: Some(ja.clone()),
        group_id: 99,
        ..context(99, "Translation", None, "ja")
    });
    let picks = router.route(&request).map_err(|e| e.to_string())?;
    if picks.len() != request.groups.len() || picks.iter().any(|g| g.len() != 8) {
        return Err(format!("expected {} groups of 8 languages", request.groups.len()));
    }
    for (g, group) in picks.iter().enumerate() {
        if group[..2] != [ja.clone(), ja.clone()] {
            return Err(format!("group {g}: copies 0 and 1 must keep `ja`, got {group:?}"));
        }
        if let Some(bad) = group.iter().find(|l| !langs.contains(l) && **l != ja) {
            return Err(format!("group {g}: `{bad}` is not one of the router's languages"));
        }
    }
    if picks.last().is_some_and(|g| g.iter().any(|l| *l != ja)) {
        return Err(format!("fixed-language group must stay `ja`, got {:?}", picks.last()));
    }
    let routed_away = picks[..50].iter().flat_map(|g| &g[2..]).filter(|l| **l != ja).count();
    if routed_away == 0 {
        return Err("copies 2..7 never left the original language in 300 draws".into());
    }
    request.training = false;
    let picks = router.route(&request).map_err(|e| e.to_string())?;
    if picks.iter().flatten().any(|l| *l != ja) {
        return Err("validation requests must keep the original language".into());
    }
    Ok(())
}

/// Runs steps 1..=12 straight, and again with a save after step 6 loaded into a fresh instance:
/// routes and update results (log lines included) must be identical. Use a config that logs
/// and flushes at steps that do not divide 6, so buffer and log state are covered.
fn contract_resume(make: MakeRouter, config: Value) -> Result<(), String> {
    let base = request(
        (0..24)
            .map(|i| {
                let topic = if i % 3 == 0 { "Regional Knowledge" } else { "General Knowledge" };
                context(
                    i,
                    topic,
                    Some(["China", "Japan", "France"][i as usize % 3]),
                    ["ja", "de", "en"][i as usize % 3],
                )
            })
            .collect(),
        8,
        true,
    );
    let run = |router: &mut Box<dyn Router>, steps: std::ops::RangeInclusive<u64>| -> Result<Vec<String>, String> {
        let mut trace = Vec::new();
        for step in steps {
            let req = RouteRequest { step, ..base.clone() };
            let picks = router.route(&req).map_err(|e| e.to_string())?;
            let feedback = crate::workload::feedback_for(&req, &picks, step);
            let update = router.update(step, &feedback).map_err(|e| e.to_string())?;
            trace.push(format!("{step}: {picks:?} {update:?}"));
        }
        Ok(trace)
    };
    let mut straight = build(make, config.clone())?;
    let expected = run(&mut straight, 1..=12)?;
    let mut first = build(make, config.clone())?;
    run(&mut first, 1..=6)?;
    let saved = first.save_state().map_err(|e| e.to_string())?;
    let mut resumed = build(make, config)?;
    resumed.load_state(&saved).map_err(|e| format!("load_state: {e}"))?;
    let got = run(&mut resumed, 7..=12)?;
    match expected[6..].iter().zip(&got).find(|(a, b)| a != b) {
        None => Ok(()),
        Some((a, b)) => Err(format!("resumed run diverged:\n straight: {a}\n resumed:  {b}")),
    }
}

fn contract_errors(make: MakeRouter, config: Value) -> Result<(), String> {
    let mut router = build(make, config)?;
    let bad = [feedback("General Knowledge", None, "en", 0.5), feedback("General Knowledge", None, "en", f64::NAN)];
    match router.update(1, &bad) {
        Err(e) if e.to_string().contains("row 1") => {}
        other => return Err(format!("NaN reward in row 1 must be an error naming the row, got {other:?}")),
    }
    if router.load_state(b"{not json").is_ok() {
        return Err("load_state accepted bytes that are not JSON".into());
    }
    let mut state: Value = serde_json::from_slice(&router.save_state().map_err(|e| e.to_string())?)
        .map_err(|e| format!("state is not JSON: {e}"))?;
    state["version"] = Value::from(999);
    if router.load_state(state.to_string().as_bytes()).is_ok() {
        return Err("load_state accepted an unknown state version".into());
    }
    Ok(())
}

// ---- helpers shared with the vectors ----

pub(crate) fn build(make: MakeRouter, config: Value) -> Result<Box<dyn Router>, String> {
    make(config.clone()).map_err(|e| format!("cannot build router from {config}: {e}"))
}

/// `base` with the keys of `over` replaced.
pub(crate) fn merge(mut base: Value, over: Value) -> Value {
    if let (Some(b), Value::Object(o)) = (base.as_object_mut(), over) {
        b.extend(o);
    }
    base
}

pub(crate) fn context(id: u64, topic: &str, region: Option<&str>, orig: &str) -> RouteContext {
    RouteContext {
        group_id: id,
        topic: topic.to_string(),
        region: region.map(str::to_string),
        orig_lang: Lang::new(orig),
        fixed_lang: None,
    }
}

pub(crate) fn request(groups: Vec<RouteContext>, n: usize, training: bool) -> RouteRequest {
    RouteRequest { step: 1, n, groups, training }
}

pub(crate) fn feedback(topic: &str, region: Option<&str>, lang: &str, reward: f64) -> RouteFeedback {
    RouteFeedback { topic: topic.to_string(), region: region.map(str::to_string), lang: Lang::new(lang), reward }
}

pub(crate) fn close(what: &str, got: &[f64], want: &[f64], tol: f64) -> Result<(), String> {
    let ok = got.len() == want.len() && got.iter().zip(want).all(|(g, w)| (g - w).abs() <= tol);
    if ok {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}, want {want:?} (tolerance {tol})"))
    }
}
