//! `lrpo-host eval`: resolve what is evaluated, read the items, check the judge, answer what
//! `eval.jsonl` does not hold yet with each model's rollout engine, judge what is not judged
//! yet, and write the results.
//!
//! Everything the user can get wrong (flags, data file, judge URL or model, model directory,
//! run directory) is checked before any component is built, and a rerun that finds every
//! answer stored builds no component at all.

use super::items::{language_label, parse_language, read_items, Columns, Item};
use super::judge::{normalise_url, Judge, JudgeSettings, Verdict};
use super::prompt::{hash, JudgePrompt, PromptFields};
use super::results::{self, ModelResults};
use super::stats::{compare, summarise, Outcome};
use super::store::{AnswerRecord, JudgementRecord, Record, Stored, Writer};
use crate::cli::{EvalArgs, GlobalArgs};
use crate::config::{self, Arm, ResolvedConfig, Sources};
use crate::plugin::Registry;
use crate::prompt::{Message, PromptBuilder, PromptStyle};
use crate::train::checkpoint;
use indicatif::{ProgressBar, ProgressStyle};
use lrpo_core::{
    ComponentKind, Error, FinishReason, GenerationRequest, Lang, LanguageId, Optimizer, Result, RolloutEngine,
    SamplingParams,
};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// One model to evaluate and where its answers come from.
pub struct ModelSpec {
    /// `model` or `baseline`.
    pub role: &'static str,
    /// What eval.jsonl records: the canonical model or checkpoint directory.
    pub id: String,
    pub cfg: ResolvedConfig,
    pub arm: Arm,
    /// Weights to load into the engine (through the run's optimizer), for a run or checkpoint.
    pub checkpoint: Option<PathBuf>,
    /// [`generation_key`], set once the flags are known.
    pub generation: String,
}

fn canonical(path: &Path) -> String {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf()).display().to_string()
}

/// `--model` / `--baseline`: a checkpoint (host.json), a run directory (config.toml; its newest
/// checkpoint), or a Hugging Face model directory (config.json or tokenizer.json), answered with
/// the rollout engine of `--config` (or the default run).
///
/// `like` is a run whose config answers a model directory when `--config` is not given: a base
/// model against its trained run is then answered by the same engine, prompt style and length.
pub fn resolve_model(global: &GlobalArgs, path: &Path, role: &'static str, like: Option<&Path>) -> Result<ModelSpec> {
    let flag = format!("--{role}");
    let show = path.display().to_string();
    if !path.is_dir() {
        return Err(Error::input(
            show,
            format!("no such directory ({flag}): give a model directory, a run directory or a checkpoint"),
        ));
    }
    let run = if path.join("host.json").is_file() {
        let run =
            path.parent().and_then(Path::parent).ok_or_else(|| Error::input(&show, "a checkpoint outside a run"))?;
        Some((run.to_path_buf(), path.to_path_buf()))
    } else if path.join("config.toml").is_file() {
        let ckpt = checkpoint::latest(path).ok_or_else(|| {
            Error::input(
                &show,
                format!("holds no complete checkpoint yet ({flag}): trainer.save_freq decides when they are written"),
            )
        })?;
        Some((path.to_path_buf(), ckpt))
    } else {
        None
    };
    if let Some((run_dir, ckpt)) = run {
        let sources = Sources { file: Some(run_dir.join("config.toml")), overrides: global.set.clone(), env: true };
        let cfg = config::resolve(config::load(&sources)?, &global.plugins, &run_dir)?;
        let arm = match cfg.arms.as_slice() {
            [one] => one.clone(),
            many => {
                let name = run_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                many.iter().find(|a| a.name == name).cloned().ok_or_else(|| {
                    Error::input(
                        run_dir.display().to_string(),
                        format!("is not the directory of one arm of {}", run_dir.join("config.toml").display()),
                    )
                })?
            }
        };
        return Ok(ModelSpec {
            role,
            id: canonical(&ckpt),
            cfg,
            arm,
            checkpoint: Some(ckpt),
            generation: String::new(),
        });
    }
    if !path.join("config.json").is_file() && !path.join("tokenizer.json").is_file() {
        let arms = checkpoint::arm_names(path)?;
        let why = if arms.is_empty() {
            "is not a model directory (no config.json or tokenizer.json), a run directory (no config.toml) nor a checkpoint (no host.json)".to_string()
        } else {
            format!("holds the arms {}: evaluate one of them", arms.join(", "))
        };
        return Err(Error::input(show, format!("{why} ({flag})")));
    }
    let mut cfg = match like.filter(|_| global.config.is_none()) {
        Some(run_dir) => {
            let sources = Sources { file: Some(run_dir.join("config.toml")), overrides: global.set.clone(), env: true };
            config::resolve(config::load(&sources)?, &global.plugins, run_dir)?
        }
        None => crate::commands::resolved_config(global)?,
    };
    let dir = path.canonicalize().map_err(|e| Error::io(&show, e))?;
    cfg.raw.model.path = Some(dir.clone());
    let arm = cfg.arms.first().cloned().ok_or_else(|| Error::config("experiment.arms", "no arm to evaluate"))?;
    if cfg.arms.len() > 1 {
        tracing::warn!(
            "the config has {} arms; {flag} is answered with arm `{}`'s rollout engine",
            cfg.arms.len(),
            arm.name
        );
    }
    // An engine that names its own model would quietly answer with that model instead.
    if let Some(instance) = arm.instances.get(&ComponentKind::RolloutEngine) {
        let inst = &cfg.raw.components.of(ComponentKind::RolloutEngine)[instance];
        if let Some(own) = inst.config.get("model_dir").and_then(|v| v.as_str()) {
            if Path::new(own).canonicalize().ok().as_deref() != Some(dir.as_path()) {
                return Err(Error::config(
                    format!("components.rollout_engine.{instance}.config.model_dir"),
                    format!("is {own}, but {flag} names {}; drop the key so the engine loads {flag}", dir.display()),
                ));
            }
        }
    }
    Ok(ModelSpec { role, id: dir.display().to_string(), cfg, arm, checkpoint: None, generation: String::new() })
}

/// What changes a model's answers besides its weights; answers made otherwise are not reused.
fn generation_key(spec: &ModelSpec, args: &EvalArgs, max_new_tokens: u32) -> Result<String> {
    let kind = ComponentKind::RolloutEngine;
    let instance = spec.arm.instances.get(&kind).ok_or_else(|| {
        Error::config(
            "components.rollout_engine",
            format!("arm `{}` has no rollout engine to answer with", spec.arm.name),
        )
    })?;
    let inst = &spec.cfg.raw.components.of(kind)[instance];
    let t = &spec.cfg.raw.trainer;
    let style = match spec.cfg.raw.data.prompt_style {
        PromptStyle::Tag => "tag",
        PromptStyle::Instruction => "instruction",
    };
    Ok(hash(&format!(
        "{}:{}:{}\n{}\n{style}\n{max_new_tokens}\n{}\n{:?}\n{}\n{:?}",
        instance,
        inst.plugin,
        inst.kind,
        toml::to_string(&inst.config).unwrap_or_default(),
        args.temperature,
        t.stop_strings,
        spec.cfg.raw.run.seed,
        args.answer_lang
    )))
}

fn bar(len: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template(&format!("{{prefix}} [{{bar:30}}] {{pos}}/{{len}} {what} eta {{eta}}"))
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

/// The engine and language ID of `spec`'s arm, with the checkpoint's weights in the engine.
fn build(registry: &mut Registry, spec: &ModelSpec) -> Result<(Box<dyn RolloutEngine>, Box<dyn LanguageId>)> {
    let comps = &spec.cfg.raw.components;
    let instance = |kind: ComponentKind| {
        spec.arm.instances.get(&kind).cloned().ok_or_else(|| {
            Error::config(
                format!("components.{}", kind.key()),
                format!("arm `{}` has none; eval needs one", spec.arm.name),
            )
        })
    };
    let lid_name = instance(ComponentKind::LanguageId)?;
    let engine_name = instance(ComponentKind::RolloutEngine)?;
    let lid = Box::<dyn LanguageId>::try_from(registry.instantiate(
        ComponentKind::LanguageId,
        &lid_name,
        &comps.of(ComponentKind::LanguageId)[&lid_name],
    )?)?;
    let mut engine = Box::<dyn RolloutEngine>::try_from(registry.instantiate(
        ComponentKind::RolloutEngine,
        &engine_name,
        &comps.of(ComponentKind::RolloutEngine)[&engine_name],
    )?)?;
    if let Some(ckpt) = &spec.checkpoint {
        // The run's own optimizer turns the checkpoint into weights, as `export` does, so any
        // optimizer plugin works and no plugin's private format is read here.
        let opt_name = instance(ComponentKind::Optimizer)?;
        let state = checkpoint::load_component(ckpt, "optimizer")?
            .ok_or_else(|| Error::input(ckpt.display().to_string(), "holds no optimizer.state"))?;
        eprintln!("{}: loading the weights of {}", spec.role, ckpt.display());
        let mut optimizer = Box::<dyn Optimizer>::try_from(registry.instantiate(
            ComponentKind::Optimizer,
            &opt_name,
            &comps.of(ComponentKind::Optimizer)[&opt_name],
        )?)?;
        optimizer.load_state(&state)?;
        let weights = optimizer.export_weights()?;
        engine.load_weights(&weights)?;
    }
    Ok((engine, lid))
}

/// The prompt for `question` in `lang`. The instruction style knows the 15 LRPO languages only;
/// a question in another language is sent bare (it asks in its own language anyway).
fn render(prompts: &PromptBuilder, question: &str, lang: &Lang) -> Result<String> {
    match prompts.render(question, lang) {
        Err(_) if prompts.style() == PromptStyle::Instruction => {
            prompts.template().render(&[Message::user(question.trim().to_string())], true)
        }
        other => other,
    }
}

/// Answers every item `stored` lacks an answer for, writing each answer as it comes.
fn answer(
    registry: &mut Registry,
    spec: &ModelSpec,
    args: &EvalArgs,
    items: &[Item],
    answer_lang: Option<&Lang>,
    stored: &mut Stored,
    writer: &mut Writer,
) -> Result<()> {
    let t = &spec.cfg.raw.trainer;
    let max_new_tokens = args.max_new_tokens.unwrap_or(t.max_new_tokens);
    let generation = &spec.generation;
    let todo: Vec<usize> =
        (0..items.len()).filter(|&i| stored.answer(&spec.id, &items[i].key, generation).is_none()).collect();
    if todo.is_empty() {
        eprintln!("{}: all {} answers are in eval.jsonl", spec.role, items.len());
        return Ok(());
    }
    eprintln!("{}: answering {} of {} questions with {}", spec.role, todo.len(), items.len(), spec.id);
    // One registry for both models (a library is opened and initialised once per process);
    // the run's policy settings (model path, temperature) go to the components built next.
    let placeholder = Registry::new(Vec::new(), 1, None);
    let taken = std::mem::replace(registry, placeholder);
    *registry = taken.with_policy(spec.cfg.policy_defaults());
    let (mut engine, mut lid) = build(registry, spec)?;
    let prompts = PromptBuilder::for_model(spec.cfg.raw.data.prompt_style, spec.cfg.raw.model.path.as_deref())?;
    // Questions from a file without languages are placed by the run's language ID, as in training.
    let unplaced: Vec<usize> = todo.iter().copied().filter(|&i| items[i].language.is_none()).collect();
    let mut detected_q: std::collections::HashMap<usize, Lang> = Default::default();
    if !unplaced.is_empty() {
        let texts: Vec<String> = unplaced.iter().map(|&i| items[i].question.clone()).collect();
        for (&i, p) in unplaced.iter().zip(lid.detect(&texts)?) {
            let lang = p.lang.ok_or_else(|| {
                Error::input(
                    format!("{}, column `language`", items[i].row),
                    "the file has no language and the language ID cannot place the question: add a language column or set data.default_language",
                )
            })?;
            detected_q.insert(i, lang);
        }
    }
    let sampling = if args.temperature > 0.0 {
        SamplingParams { temperature: args.temperature, top_p: t.top_p, top_k: t.top_k, min_p: t.min_p }
    } else {
        SamplingParams::greedy()
    };
    let progress = bar(todo.len(), "answers");
    progress.set_prefix(spec.role);
    for chunk in todo.chunks(args.batch_size.max(1)) {
        let langs: Vec<(Lang, Lang)> = chunk
            .iter()
            .map(|&i| {
                let own = items[i].language.clone().or_else(|| detected_q.get(&i).cloned()).expect("placed above");
                let target = answer_lang.cloned().unwrap_or_else(|| own.clone());
                (own, target)
            })
            .collect();
        let requests = chunk
            .iter()
            .zip(&langs)
            .map(|(&i, (_, target))| {
                Ok(GenerationRequest {
                    prompt: render(&prompts, &items[i].question, target)?,
                    max_new_tokens,
                    sampling: sampling.clone(),
                    seed: crate::train::rollout_seed(spec.cfg.raw.run.seed, 0, i as u64),
                    stop_strings: t.stop_strings.clone(),
                    stop_token_ids: vec![],
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let results = engine.generate(&requests)?;
        if results.len() != requests.len() {
            return Err(Error::runtime(format!(
                "the rollout engine returned {} results for {} requests",
                results.len(),
                requests.len()
            )));
        }
        let texts: Vec<String> = results.iter().map(|r| r.text.clone()).collect();
        let detected = lid.detect(&texts)?;
        for (((&i, (own, target)), result), found) in chunk.iter().zip(&langs).zip(results).zip(detected) {
            let item = &items[i];
            let record = AnswerRecord {
                model: spec.id.clone(),
                item: item.key.clone(),
                row: item.row.clone(),
                language: own.to_string(),
                answer_lang: target.to_string(),
                question: item.question.clone(),
                gold: item.gold.clone(),
                topic: item.topic.clone(),
                region: item.region.clone(),
                generation: generation.clone(),
                response: result.text,
                finish: match result.finish {
                    FinishReason::Stop => "stop".into(),
                    FinishReason::Length => "length".into(),
                },
                detected: found.lang.map(|l| l.to_string()),
                detected_prob: f64::from(found.prob),
            };
            writer.write(&Record::Answer(record.clone()))?;
            stored.insert_answer(record);
        }
        progress.inc(chunk.len() as u64);
        if progress.is_hidden() {
            eprintln!("{}: {}/{} answers", spec.role, progress.position(), todo.len());
        }
    }
    progress.finish_and_clear();
    Ok(())
}

struct Job {
    spec: usize,
    item: usize,
    prompt: String,
    prompt_hash: String,
}

/// Judges every answer that has no label from this prompt and judge model yet, `concurrency`
/// requests at a time; writes each judgement as it comes.
fn judge_all(
    judge: &Judge,
    prompt: &JudgePrompt,
    specs: &[ModelSpec],
    items: &[Item],
    stored: &mut Stored,
    writer: &mut Writer,
    concurrency: usize,
) -> Result<usize> {
    let judge_model = judge.settings().model.clone();
    let mut jobs = Vec::new();
    for (s, spec) in specs.iter().enumerate() {
        for (i, item) in items.iter().enumerate() {
            let Some(a) = stored.answer(&spec.id, &item.key, &spec.generation) else { continue };
            let expected = label_of(&a.answer_lang);
            let text = prompt.render(&PromptFields {
                question: &item.question,
                gold_answer: &item.gold,
                expected_language: &expected,
                response: &a.response,
            });
            let prompt_hash = hash(&text);
            let done =
                stored.judgement(&spec.id, &item.key, &prompt_hash, &judge_model).is_some_and(|j| j.label.is_some());
            if !done {
                jobs.push(Job { spec: s, item: i, prompt: text, prompt_hash });
            }
        }
    }
    if jobs.is_empty() {
        eprintln!("judge: every answer is judged already");
        return Ok(0);
    }
    eprintln!("judge: {} answers to judge with `{judge_model}` ({} at a time)", jobs.len(), concurrency);
    let progress = bar(jobs.len(), "judged");
    progress.set_prefix("judge");
    let next = AtomicUsize::new(0);
    let (tx, rx) = std::sync::mpsc::channel::<(usize, Verdict)>();
    let mut failures = 0usize;
    let mut first_error: Option<Error> = None;
    std::thread::scope(|scope| {
        for _ in 0..concurrency.max(1).min(jobs.len()) {
            let tx = tx.clone();
            let (jobs, next) = (&jobs, &next);
            scope.spawn(move || loop {
                let j = next.fetch_add(1, Ordering::Relaxed);
                if j >= jobs.len() {
                    break;
                }
                if tx.send((j, judge.judge(&jobs[j].prompt))).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        for (j, verdict) in rx {
            let job = &jobs[j];
            let spec = &specs[job.spec];
            let item = &items[job.item];
            if verdict.label.is_none() {
                failures += 1;
                tracing::warn!(
                    "judge failure on {} ({}): {}",
                    item.row,
                    spec.role,
                    verdict.error.as_deref().unwrap_or("no label")
                );
            }
            let response =
                stored.answer(&spec.id, &item.key, &spec.generation).map(|a| a.response.clone()).unwrap_or_default();
            let record = JudgementRecord {
                model: spec.id.clone(),
                item: item.key.clone(),
                judge_model: judge_model.clone(),
                prompt_hash: job.prompt_hash.clone(),
                label: verdict.label,
                judge_reply: verdict.reply,
                attempts: verdict.attempts,
                error: verdict.error,
                response,
            };
            if let Err(e) = writer.write(&Record::Judgement(record.clone())) {
                // Keep draining so the workers end; the first write error is reported.
                first_error.get_or_insert(e);
            }
            stored.insert_judgement(record);
            progress.inc(1);
            // Without a terminal, a line per tenth keeps a log readable.
            let tenth = (jobs.len() as u64 / 10).max(1);
            if progress.is_hidden()
                && (progress.position().is_multiple_of(tenth) || progress.position() == jobs.len() as u64)
            {
                eprintln!("judge: {}/{} judged", progress.position(), jobs.len());
            }
        }
    });
    progress.finish_and_clear();
    match first_error {
        Some(e) => Err(e),
        None => Ok(failures),
    }
}

fn label_of(code: &str) -> String {
    language_label(&Lang::new(code))
}

/// `lrpo-host eval`.
pub fn eval_command(global: &GlobalArgs, args: &EvalArgs) -> Result<String> {
    if args.judge_concurrency == 0 {
        return Err(Error::config("--judge-concurrency", "must be at least 1"));
    }
    if args.batch_size == 0 {
        return Err(Error::config("--batch-size", "must be at least 1"));
    }
    if !(args.judge_timeout_s.is_finite() && args.judge_timeout_s > 0.0) {
        return Err(Error::config("--judge-timeout-s", "must be a positive number of seconds"));
    }
    if !(args.temperature.is_finite() && args.temperature >= 0.0) {
        return Err(Error::config("--temperature", "must be 0 (greedy) or positive"));
    }
    if args.judge_model.trim().is_empty() {
        return Err(Error::config("--judge-model", "is empty"));
    }
    let base = normalise_url(&args.judge_url)?;
    let api_key = match &args.judge_api_key_env {
        Some(var) => Some(std::env::var(var).ok().filter(|k| !k.trim().is_empty()).ok_or_else(|| {
            Error::config("--judge-api-key-env", format!("the environment variable `{var}` is not set (or empty)"))
        })?),
        None => None,
    };
    let answer_lang = match &args.answer_lang {
        Some(text) => Some(parse_language(text).ok_or_else(|| {
            Error::config("--answer-lang", format!("`{text}` is not a language code or name (e.g. en, zh, Hindi)"))
        })?),
        None => None,
    };
    let prompt = JudgePrompt::load(args.judge_prompt.as_deref())?;

    let mut specs = vec![resolve_model(global, &args.model, "model", None)?];
    if let Some(b) = &args.baseline {
        // A base model directory is answered like the run it is compared with.
        let like = specs[0].checkpoint.as_ref().and_then(|c| c.parent()).and_then(Path::parent).map(Path::to_path_buf);
        specs.push(resolve_model(global, b, "baseline", like.as_deref())?);
        if specs[1].id == specs[0].id {
            return Err(Error::config("--baseline", "names the same model as --model"));
        }
    }
    for spec in &mut specs {
        let max_new_tokens = args.max_new_tokens.unwrap_or(spec.cfg.raw.trainer.max_new_tokens);
        spec.generation = generation_key(spec, args, max_new_tokens)?;
    }
    let columns = Columns {
        question: args.question_col.clone(),
        answer: args.answer_col.clone(),
        language: args.language_col.clone(),
        topic: args.topic_col.clone(),
        region: args.region_col.clone(),
    };
    let mut items = read_items(&args.data, &columns, &specs[0].cfg.read_options())?;
    if let Some(limit) = args.limit {
        items.truncate(limit);
    }
    if items.is_empty() {
        return Err(Error::input(args.data.display().to_string(), "holds no questions"));
    }
    let judge = Judge::new(JudgeSettings {
        base: base.clone(),
        model: args.judge_model.clone(),
        api_key,
        timeout: Duration::from_secs_f64(args.judge_timeout_s),
        retries: args.judge_retries,
        max_tokens: args.judge_max_tokens,
    });
    judge.check()?;

    let mut stored = Stored::read(&args.out)?;
    let mut writer = Writer::open(&args.out)?;
    let mut dirs: Vec<PathBuf> = Vec::new();
    for spec in &specs {
        for d in &spec.cfg.plugin_dirs {
            if !dirs.contains(d) {
                dirs.push(d.clone());
            }
        }
    }
    let first = &specs[0].cfg;
    let mut registry = Registry::new(dirs, first.threads, first.raw.plugins.libtorch_version.clone());
    for spec in &specs {
        answer(&mut registry, spec, args, &items, answer_lang.as_ref(), &mut stored, &mut writer)?;
    }
    drop(registry);
    let failures = judge_all(&judge, &prompt, &specs, &items, &mut stored, &mut writer, args.judge_concurrency)?;

    let judge_model = &args.judge_model;
    let mut models = Vec::new();
    let mut outcomes: Vec<Vec<Outcome>> = Vec::new();
    for spec in &specs {
        let mut these = Vec::with_capacity(items.len());
        for item in &items {
            let a = stored
                .answer(&spec.id, &item.key, &spec.generation)
                .ok_or_else(|| Error::runtime(format!("no answer for {} after answering", item.row)))?;
            let text = prompt.render(&PromptFields {
                question: &item.question,
                gold_answer: &item.gold,
                expected_language: &label_of(&a.answer_lang),
                response: &a.response,
            });
            let label = stored.judgement(&spec.id, &item.key, &hash(&text), judge_model).and_then(|j| j.label);
            these.push(Outcome {
                language: a.language.clone(),
                label,
                gate: a.detected.as_deref() == Some(a.answer_lang.as_str()),
            });
        }
        let (languages, overall) = summarise(&these);
        models.push(ModelResults { role: spec.role.to_string(), id: spec.id.clone(), languages, overall });
        outcomes.push(these);
    }
    let comparison = (outcomes.len() == 2).then(|| compare(&outcomes[0], &outcomes[1]));
    let results = results::Results {
        kind: results::KIND.into(),
        data: canonical(&args.data),
        items: items.len(),
        judge_url: base,
        judge_model: judge_model.clone(),
        judge_template: prompt.template_hash(),
        answer_lang: answer_lang.map(|l| l.to_string()),
        comparison: comparison.map(|(languages, overall)| results::Comparison {
            model: specs[0].id.clone(),
            baseline: specs[1].id.clone(),
            languages,
            overall,
        }),
        models,
    };
    let markdown = results::write(&args.out, &results)?;
    let answers: usize = results.models.iter().map(|m| m.overall.n).sum();
    if results.models.iter().all(|m| m.overall.judged == 0) {
        return Err(Error::runtime(format!(
            "the judge labelled none of the {answers} answers ({failures} judge failures this time; see {}): \
             is `{}` a chat model at {}?",
            args.out.join(super::store::FILE).display(),
            args.judge_model,
            args.judge_url
        )));
    }
    Ok(markdown)
}
