//! The spec's router test vectors (LRPO-SPEC §11), checked through the `Router` trait only.

use super::{build, close, context, feedback, merge, request, MakeRouter};

/// The bandit reports the composed regional distribution under this key prefix (part of the
/// contract the suite checks, so a renamed key fails here).
const COMPOSED_PREFIX: &str = "topic+region:";
use lrpo_core::{Lang, RouteFeedback, Router, RouterReport};
use serde_json::{json, Value};

const Q_TOL: f64 = 1e-5;
const P_TOL: f64 = 1e-6;
const LN_FLOOR: f64 = -13.815510557964274;

fn err(e: lrpo_core::Error) -> String {
    e.to_string()
}

fn state(router: &dyn Router) -> Result<Value, String> {
    serde_json::from_slice(&router.save_state().map_err(err)?).map_err(|e| format!("state is not JSON: {e}"))
}

/// Overwrites value vectors (`table` is `q_topic` or `q_region`) through `load_state`.
fn preset(router: &mut dyn Router, table: &str, values: &[(&str, &[f64])]) -> Result<(), String> {
    let mut s = state(router)?;
    for (key, v) in values {
        s[table][*key] = json!(v);
    }
    router.load_state(s.to_string().as_bytes()).map_err(|e| format!("load_state: {e}"))
}

fn vector(state: &Value, table: &str, key: &str) -> Result<Vec<f64>, String> {
    state[table][key]
        .as_array()
        .and_then(|a| a.iter().map(Value::as_f64).collect())
        .ok_or_else(|| format!("state has no {table}[`{key}`]"))
}

fn scalar(state: &Value, key: &str) -> Result<f64, String> {
    state[key].as_f64().ok_or_else(|| format!("state has no number `{key}`"))
}

/// One router step with no rollouts (`route` sets the schedules, `update` counts the step)
/// and the report it returns.
fn logged_step(router: &mut dyn Router, fb: &[RouteFeedback]) -> Result<RouterReport, String> {
    router.route(&request(vec![], 8, true)).map_err(err)?;
    let update = router.update(0, fb).map_err(err)?;
    update.report.ok_or_else(|| "no report although log_every = 1".to_string())
}

/// (softmax, effective) of one reported key, in the order of `langs`.
fn logged(report: &RouterReport, key: &str, langs: &[Lang]) -> Result<(Vec<f64>, Vec<f64>), String> {
    let entry = report.contexts.iter().find(|c| c.key == key).ok_or_else(|| format!("report has no key {key}"))?;
    let in_order = |kind: &str, v: &[f64]| -> Result<Vec<f64>, String> {
        langs
            .iter()
            .map(|l| {
                let i = report.languages.iter().position(|r| r == l);
                i.and_then(|i| v.get(i).copied()).ok_or_else(|| format!("report has no {key}.{kind}.{l}"))
            })
            .collect()
    };
    let softmax = entry
        .extras
        .iter()
        .find(|(name, _)| name == "softmax")
        .map(|(_, v)| v.as_slice())
        .ok_or_else(|| format!("report has no {key}.softmax"))?;
    Ok((in_order("softmax", softmax)?, in_order("effective", &entry.probs)?))
}

fn codes(langs: &[Lang]) -> Vec<&str> {
    langs.iter().map(Lang::as_str).collect()
}

/// Share of each language among the routed copies of groups of one context.
fn frequencies(router: &mut dyn Router, topic: &str, region: Option<&str>, rows: usize) -> Result<Vec<f64>, String> {
    let langs = router.languages();
    let picks = router.route(&request(vec![context(1, topic, region, "en")], rows, true)).map_err(err)?;
    Ok(langs.iter().map(|l| picks[0].iter().filter(|p| *p == l).count() as f64 / rows as f64).collect())
}

fn three_langs(extra: Value) -> Value {
    merge(json!({ "region_mixes": {}, "extra_languages": [], "log_every": 1, "seed": 7 }), extra)
}

pub(super) fn tv1_priors(make: MakeRouter) -> Result<(), String> {
    let mut shipped = build(make, json!({ "log_every": 1, "log_max_keys": 100 }))?;
    let langs = shipped.languages();
    let want = "ar de en es fr id it ja ko nl pl pt ru vi zh";
    if codes(&langs).join(" ") != want {
        return Err(format!("shipped language order {:?}, want {want}", codes(&langs)));
    }
    let line = logged_step(shipped.as_mut(), &[])?;
    let keys: Vec<&String> = line.contexts.iter().map(|c| &c.key).collect();
    if line.contexts.is_empty() {
        return Err("report has no keys".into());
    }
    let plain = keys.iter().filter(|k| k.starts_with("topic:") || k.starts_with("region:")).count();
    if plain != 29 {
        return Err(format!("shipped log must show 5 topics + 24 regions, shows {plain}"));
    }
    for key in keys {
        close(key, &logged(&line, key, &langs)?.0, &[1.0 / 15.0; 15], P_TOL)?;
    }

    let mixed = build(make, three_langs(json!({ "topic_mixes": { "T": "en:4,zh:2" } })))?;
    if codes(&mixed.languages()) != ["en", "zh"] {
        return Err(format!("mix en:4,zh:2 gives languages {:?}, want [en, zh]", codes(&mixed.languages())));
    }
    let s = state(mixed.as_ref())?;
    close("Q_T", &vector(&s, "q_topic", "T")?, &[4f64.ln(), 2f64.ln()], Q_TOL)?;
    let mut mixed = mixed;
    let line = logged_step(mixed.as_mut(), &[])?;
    close("softmax T", &logged(&line, "topic:T", &mixed.languages())?.0, &[2.0 / 3.0, 1.0 / 3.0], P_TOL)?;

    let with_region =
        build(make, three_langs(json!({ "topic_mixes": { "T": "en:4,zh:2" }, "region_mixes": { "R": "ar:1" } })))?;
    if codes(&with_region.languages()) != ["en", "zh", "ar"] {
        return Err(format!("with region mix: languages {:?}, want [en, zh, ar]", codes(&with_region.languages())));
    }
    let s = state(with_region.as_ref())?;
    close("Q_T", &vector(&s, "q_topic", "T")?, &[4f64.ln(), 2f64.ln(), LN_FLOOR], Q_TOL)?;
    close("Q_R", &vector(&s, "q_region", "R")?, &[LN_FLOOR, LN_FLOOR, 0.0], Q_TOL)
}

pub(super) fn tv2_sampling(make: MakeRouter) -> Result<(), String> {
    let gk = "General Knowledge";
    let config = three_langs(json!({ "topic_mixes": { gk: "en:1,zh:1,ar:1" }, "temperature": 0.5, "epsilon": 0.2 }));
    let mut router = build(make, config)?;
    preset(router.as_mut(), "q_topic", &[(gk, &[0.5, 0.0, -0.5])])?;
    let langs = router.languages();
    let line = logged_step(router.as_mut(), &[])?;
    let (p, e) = logged(&line, &format!("topic:{gk}"), &langs)?;
    close("softmax", &p, &[0.6652409, 0.2447285, 0.0900306], P_TOL)?;
    let want_effective = [0.5988594, 0.2624494, 0.1386911];
    close("effective", &e, &want_effective, P_TOL)?;
    // 40 000 seeded draws: 0.015 is more than 5 standard errors for every probability here.
    close("sampled frequencies", &frequencies(router.as_mut(), gk, None, 40_000)?, &want_effective, 0.015)
}

pub(super) fn tv3_regional(make: MakeRouter) -> Result<(), String> {
    let (rk, gk) = ("Regional Knowledge", "General Knowledge");
    let uniform = "en:1,zh:1,ar:1";
    let config = three_langs(json!({
        "topic_mixes": { rk: uniform, gk: uniform },
        "region_mixes": { "China": uniform },
    }));
    let mut router = build(make, config)?;
    preset(router.as_mut(), "q_topic", &[(rk, &[0.2, 0.0, 0.0]), (gk, &[0.2, 0.0, 0.0])])?;
    preset(router.as_mut(), "q_region", &[("China", &[0.0, 0.4, 0.0])])?;
    let langs = router.languages();
    let line = logged_step(router.as_mut(), &[])?;
    let regional = [0.3289329, 0.4017596, 0.2693075];
    let plain = [0.3791525, 0.3104238, 0.3104238];
    close("composed", &logged(&line, &format!("{COMPOSED_PREFIX}{rk}|China"), &langs)?.0, &regional, P_TOL)?;
    close("general topic", &logged(&line, &format!("topic:{gk}"), &langs)?.0, &plain, P_TOL)?;
    close("sampled regional", &frequencies(router.as_mut(), rk, Some("China"), 40_000)?, &regional, 0.015)?;
    close("sampled general + China", &frequencies(router.as_mut(), gk, Some("China"), 40_000)?, &plain, 0.015)
}

pub(super) fn tv4_update(make: MakeRouter) -> Result<(), String> {
    let gk = "General Knowledge";
    let buffer: Vec<RouteFeedback> = [("en", 0.8), ("en", 0.6), ("zh", 0.4), ("ar", 0.0), ("ar", 0.2)]
        .iter()
        .map(|(l, r)| feedback(gk, None, l, *r))
        .collect();
    let cases: [(&str, [f64; 3]); 3] =
        [("none", [0.07, 0.04, 0.01]), ("center", [0.03, 0.0, -0.03]), ("zscore", [0.1224740, 0.0, -0.1224740])];
    for (norm, want) in cases {
        let config = three_langs(json!({ "topic_mixes": { gk: "en:1,zh:1,ar:1" }, "group_norm": norm, "alpha": 0.1 }));
        let mut router = build(make, config)?;
        let update = router.update(1, &buffer).map_err(err)?;
        if !update.flushed {
            return Err(format!("{norm}: update_every = 1 must flush at step 1"));
        }
        let s = state(router.as_ref())?;
        close(&format!("{norm}: Q_topic"), &vector(&s, "q_topic", gk)?, &want, Q_TOL)?;
        if s["q_region"].get("None").is_some() {
            return Err(format!("{norm}: a non-regional topic must not create Q_region[\"None\"]"));
        }
    }
    Ok(())
}

pub(super) fn tv5_regional_update(make: MakeRouter) -> Result<(), String> {
    let rk = "Regional Knowledge";
    let config = three_langs(json!({
        "topic_mixes": { rk: "en:1,zh:1,ar:1,ja:1" }, "group_norm": "zscore", "alpha": 0.1, "temperature": 0.5,
    }));
    let mut router = build(make, config)?;
    let first = [("China", "zh", 1.0), ("China", "en", 0.0), ("Japan", "ja", 0.5), ("Japan", "en", 0.5)];
    let first: Vec<RouteFeedback> = first.iter().map(|(r, l, x)| feedback(rk, Some(r), l, *x)).collect();
    logged_step(router.as_mut(), &first)?;
    let s = state(router.as_ref())?;
    close("first flush Q_topic[RK]", &vector(&s, "q_topic", rk)?, &[-0.0899998, 0.0999998, 0.0, 0.0], Q_TOL)?;
    close("first flush Q_region[China]", &vector(&s, "q_region", "China")?, &[-0.0999998, 0.0999998, 0.0, 0.0], Q_TOL)?;
    close("first flush Q_region[Japan]", &vector(&s, "q_region", "Japan")?, &[0.0; 4], Q_TOL)?;

    let second = [("zh", 0.9), ("ar", 0.3), ("en", 0.6)];
    let second: Vec<RouteFeedback> = second.iter().map(|(l, x)| feedback(rk, Some("China"), l, *x)).collect();
    logged_step(router.as_mut(), &second)?;
    let s = state(router.as_ref())?;
    close("second flush Q_topic[RK]", &vector(&s, "q_topic", rk)?, &[-0.0809998, 0.2124738, -0.1224740, 0.0], Q_TOL)?;
    let want_china = [-0.0899998, 0.2124738, -0.1224740, 0.0];
    close("second flush Q_region[China]", &vector(&s, "q_region", "China")?, &want_china, Q_TOL)?;
    let line = logged_step(router.as_mut(), &[])?;
    let p = logged(&line, &format!("{COMPOSED_PREFIX}{rk}|China"), &router.languages())?.0;
    close("composed p at T=0.5", &p, &[0.1523555, 0.5017548, 0.1314097, 0.2144799], Q_TOL)?;

    // Order dependence of the reference, and its removal by the opt-in pooling.
    let gk = "General Knowledge";
    let rows = [("China", "en", 1.0), ("China", "zh", 0.0), ("Japan", "en", 0.0), ("Japan", "zh", 1.0)];
    let rows: Vec<RouteFeedback> = rows.iter().map(|(r, l, x)| feedback(gk, Some(r), l, *x)).collect();
    let reversed: Vec<RouteFeedback> = rows.iter().rev().cloned().collect();
    let topic_after = |pool: bool, fb: &[RouteFeedback]| -> Result<(Vec<f64>, Value), String> {
        let config = three_langs(json!({
            "topic_mixes": { gk: "en:1,zh:1" }, "group_norm": "zscore", "aggregate_non_regional": pool,
        }));
        let mut router = build(make, config)?;
        router.update(1, fb).map_err(err)?;
        let s = state(router.as_ref())?;
        Ok((vector(&s, "q_topic", gk)?, s["q_region"].clone()))
    };
    let (q, regions) = topic_after(false, &rows)?;
    close("order dependence Q_topic", &q, &[-0.0099998, 0.0099998], Q_TOL)?;
    if regions.as_object().is_some_and(|m| !m.is_empty()) {
        return Err(format!("non-regional update touched Q_region: {regions}"));
    }
    close("reversed order", &topic_after(false, &reversed)?.0, &[0.0099998, -0.0099998], Q_TOL)?;
    close("pooled", &topic_after(true, &rows)?.0, &[0.0, 0.0], Q_TOL)?;
    close("pooled, reversed", &topic_after(true, &reversed)?.0, &[0.0, 0.0], Q_TOL)
}

pub(super) fn tv6_schedules(make: MakeRouter) -> Result<(), String> {
    let config = three_langs(json!({
        "topic_mixes": { "T": "en:1,zh:1" },
        "temperature_init": 1.0, "temperature_min": 0.3, "temperature_decay": 0.999,
        "epsilon_init": 0.2, "epsilon_min": 0.0, "epsilon_decay": 0.995,
    }));
    let mut router = build(make, config)?;
    let s = state(router.as_ref())?;
    if scalar(&s, "epsilon")? != 0.0 {
        return Err("before the first route epsilon must be the constructor's `epsilon` (0)".into());
    }
    preset(router.as_mut(), "q_topic", &[("T", &[1.0, 0.0])])?;
    let table: [(u64, f64, f64); 8] = [
        (0, 1.0, 0.2),
        (1, 0.999, 0.199),
        (5, 0.995009990005, 0.195049750624),
        (64, 0.937974963826, 0.145113281604),
        (500, 0.606378944861, 0.016314372288),
        (1000, 0.367695424771, 0.001330793716),
        (1203, 0.300111291545, 0.000481056551),
        (1204, 0.3, 0.000478651268),
    ];
    let langs = router.languages();
    let mut next = table.iter().peekable();
    for k in 0..=1204u64 {
        let line = logged_step(router.as_mut(), &[])?;
        let Some(&(_, t, e)) = next.next_if(|(at, _, _)| *at == k) else {
            continue;
        };
        let s = state(router.as_ref())?;
        close(
            &format!("k={k} (T, eps) in state"),
            &[scalar(&s, "temperature")?, scalar(&s, "epsilon")?],
            &[t, e],
            P_TOL,
        )?;
        // The log of step k+1 shows Q = [1, 0] at T_k and eps_k.
        let p0 = 1.0 / (1.0 + (-1.0 / t).exp());
        let want = [p0, 1.0 - p0];
        let (p, eff) = logged(&line, "topic:T", &langs)?;
        close(&format!("k={k} logged softmax"), &p, &want, P_TOL)?;
        let want_eff: Vec<f64> = want.iter().map(|x| (1.0 - e) * x + e / 2.0).collect();
        close(&format!("k={k} logged effective"), &eff, &want_eff, P_TOL)?;
    }
    // Recommended fix: epsilon anneals even when the temperature schedule is flat.
    let mut flat =
        build(make, three_langs(json!({ "epsilon_init": 0.2, "epsilon_min": 0.0, "epsilon_decay": 0.995 })))?;
    logged_step(flat.as_mut(), &[])?;
    flat.route(&request(vec![], 8, true)).map_err(err)?;
    close("eps with flat T at k=1", &[scalar(&state(flat.as_ref())?, "epsilon")?], &[0.199], P_TOL)
}

pub(super) fn tv11_groups(make: MakeRouter) -> Result<(), String> {
    let gk = "General Knowledge";
    let mut router = build(make, json!({ "orig_lang_min": 2, "update_every": 1 }))?;
    let langs = router.languages();
    let ja = Lang::new("ja");
    let groups: Vec<_> = (0..100).map(|i| context(i, gk, None, "ja")).collect();
    let picks = router.route(&request(groups, 8, true)).map_err(err)?;
    for (g, group) in picks.iter().enumerate() {
        if group.len() != 8 || group[0] != ja || group[1] != ja {
            return Err(format!("group {g}: copies 0 and 1 must be ja, got {group:?}"));
        }
        if let Some(l) = group[2..].iter().find(|l| !langs.contains(l)) {
            return Err(format!("group {g}: draw `{l}` is not a router language"));
        }
    }
    // Copies 2..7 are uniform draws over 15 languages here: about 14/15 of 600 leave ja.
    let away = picks.iter().flat_map(|g| &g[2..]).filter(|l| **l != ja).count();
    if away < 450 {
        return Err(format!("only {away} of 600 routed copies left ja; they must be router draws"));
    }
    let mut translation = context(500, "Translation", None, "ja");
    translation.fixed_lang = Some(ja.clone());
    let picks = router.route(&request(vec![translation], 8, true)).map_err(err)?;
    if picks[0] != vec![ja.clone(); 8] {
        return Err(format!("Translation group must be all ja, got {:?}", picks[0]));
    }
    let rewards = [0.9, 0.1, 0.5, 0.5, 0.4, 0.6, 0.7, 0.3];
    let fb: Vec<RouteFeedback> = rewards.iter().map(|r| feedback("Translation", None, "ja", *r)).collect();
    router.update(1, &fb).map_err(err)?;
    let q = vector(&state(router.as_ref())?, "q_topic", "Translation")?;
    let ja_idx = langs.iter().position(|l| *l == ja).ok_or("ja is not a router language")?;
    // group_norm none, one language: u = mean 0.5, EMA from 0 with alpha 0.1.
    close("Q_topic[Translation][ja]", &[q[ja_idx]], &[0.05], Q_TOL)?;

    let mut off = build(make, json!({ "enabled": false, "orig_lang_min": 2, "log_every": 1 }))?;
    let picks = off.route(&request(vec![context(1, gk, None, "ja")], 8, true)).map_err(err)?;
    if picks[0] != vec![ja; 8] {
        return Err(format!("disabled router must fall back to the original language, got {:?}", picks[0]));
    }
    let update = off.update(1, &fb).map_err(err)?;
    if update.flushed || update.report.is_some() {
        return Err(format!("disabled router must not learn or log, got {update:?}"));
    }
    Ok(())
}
