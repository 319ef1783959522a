//! The LRPO training loop (ARCHITECTURE §3): route, prompt, generate, detect, score, update
//! the router, optimise, hand the weights to the engine; metrics, router log, checkpoints and
//! validation around it. Components arrive as core trait objects, so the loop runs the same
//! over dlopened plugins and over in-process test doubles.

pub mod checkpoint;
mod components;
pub mod metrics;
pub mod reward_stack;
pub mod router_log;
mod run_lock;
pub mod samples;

use crate::config::ResolvedConfig;
use crate::data::{read_questions_with, GroupedSampler, Question};
use crate::dist::{fingerprint, Ranks};
use crate::prompt::PromptBuilder;
use checkpoint::HostState;
pub use components::ArmComponents;
use lrpo_core::*;
use metrics::{JsonlWriter, StepRecord};
use run_lock::RunLock;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A stable mix of (seed, step, row) into a rollout seed; a pure function, so a resumed run
/// gives every rollout the seed the uninterrupted run gave it.
pub fn rollout_seed(seed: u64, step: u64, row: u64) -> u64 {
    let mut z = seed ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ row.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `epochs` x `per_epoch` training steps; an overflow (a typo such as 2^62 epochs) is an error,
/// not a run of zero steps.
fn epoch_steps(epochs: u64, per_epoch: usize) -> Result<u64> {
    epochs.checked_mul(per_epoch as u64).ok_or_else(|| {
        Error::config(
            "trainer.total_epochs",
            format!("{epochs} epochs of {per_epoch} steps is more steps than can be counted"),
        )
    })
}

/// Gives rows whose file has no language (and no `data.default_language`) the language the
/// run's LanguageId finds in the question; rows it cannot place stay English, with a warning.
fn detect_languages(lid: &mut dyn LanguageId, questions: &mut [Question]) -> Result<()> {
    let rows: Vec<usize> = (0..questions.len()).filter(|&i| questions[i].needs_language).collect();
    if rows.is_empty() {
        return Ok(());
    }
    let texts: Vec<String> = rows.iter().map(|&i| questions[i].question.clone()).collect();
    let found = lid.detect(&texts)?;
    let mut unplaced = 0usize;
    for (&i, prediction) in rows.iter().zip(found) {
        let q = &mut questions[i];
        match prediction.lang {
            Some(lang) => q.orig_lang = lang,
            None => unplaced += 1,
        }
        q.language_name = q.orig_lang.to_string();
        q.fixed_lang = crate::data::fixed_language(&q.topic, &q.orig_lang);
        q.needs_language = false;
    }
    tracing::info!("{} question language(s) detected by the language ID", rows.len());
    if unplaced > 0 {
        tracing::warn!("{unplaced} question(s) in no language the language ID knows: read as English (en)");
    }
    Ok(())
}

pub struct Trainer {
    cfg: ResolvedConfig,
    c: ArmComponents,
    run_dir: PathBuf,
    questions: Vec<Question>,
    val_questions: Vec<Question>,
    sampler: GroupedSampler,
    prompts: PromptBuilder,
    step: u64,
    total_steps: u64,
    config_hash: String,
    /// The router's most likely languages after its last logged update, for the console.
    router_probs: Option<String>,
    /// Held from the first change to the run directory (resume or run) to the end of the run.
    lock: Option<RunLock>,
    /// Each reward part's values for the last scored rows (empty with one reward model).
    reward_parts: Vec<(String, Vec<f64>)>,
    /// This process's place in a data-parallel run (rank 0 of 1 otherwise).
    ranks: Ranks,
}

/// What one rank reports of each row it rolled out, for the router and the step's record.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RowOutcome {
    reward: f64,
    gate: f64,
    length: usize,
    /// The row's value under each reward part, in the parts' order.
    parts: Vec<f64>,
}

/// The rows of every rank, in global row order: `rewards`, gates, lengths and reward parts.
#[derive(Debug, Default)]
struct Outcomes {
    values: Vec<f64>,
    gates: Vec<f64>,
    lengths: Vec<usize>,
    parts: Vec<(String, Vec<f64>)>,
}

/// What a finished run reports.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub run_dir: PathBuf,
    pub steps: u64,
    pub resumed_from: Option<u64>,
    pub last: Option<StepRecord>,
}

fn hash_text(text: &str) -> String {
    // FNV-1a: a config fingerprint for "same config?" checks, not a security hash.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// A run's questions, read before any component is built, so a bad data file is reported in
/// seconds rather than after every model has loaded.
#[derive(Debug, Clone)]
pub struct RunData {
    pub train: Vec<Question>,
    pub val: Vec<Question>,
}

impl RunData {
    pub fn read(cfg: &ResolvedConfig) -> Result<RunData> {
        let d = &cfg.raw.data;
        if d.train_files.is_empty() {
            return Err(Error::config("data.train_files", "no training data: list one or more data files"));
        }
        let options = cfg.read_options();
        let read = |files: &[PathBuf]| -> Result<Vec<Question>> {
            let mut out = Vec::new();
            for f in files {
                out.extend(read_questions_with(f, &options)?.questions);
            }
            Ok(out)
        };
        Ok(RunData { train: read(&d.train_files)?, val: read(&d.val_files)? })
    }
}

/// Records already in `run_dir`'s metrics.jsonl (a fresh run must not append to them).
pub fn existing_records(run_dir: &Path) -> usize {
    std::fs::read_to_string(run_dir.join("metrics.jsonl")).map_or(0, |t| t.lines().count())
}

impl Trainer {
    pub fn new(cfg: ResolvedConfig, c: ArmComponents, run_dir: &Path) -> Result<Trainer> {
        let data = RunData::read(&cfg)?;
        Trainer::with_data(cfg, c, run_dir, data)
    }

    /// A trainer on questions already read ([`RunData::read`]).
    pub fn with_data(cfg: ResolvedConfig, c: ArmComponents, run_dir: &Path, data: RunData) -> Result<Trainer> {
        let d = &cfg.raw.data;
        let RunData { train: mut questions, val: mut val_questions } = data;
        let mut c = c;
        detect_languages(c.language_id.as_mut(), &mut questions)?;
        detect_languages(c.language_id.as_mut(), &mut val_questions)?;
        let style = d.prompt_style;
        let prompts = PromptBuilder::for_model(style, cfg.raw.model.path.as_deref())?;
        let langs = match &c.router {
            Some(r) => r.languages(),
            None => default_languages(),
        };
        if !d.filter_overlong_prompts {
            prompts.check_lengths(&questions, &langs, d.max_prompt_length)?;
        } else {
            let outcome = prompts.filter_overlong(questions, &langs, d.max_prompt_length)?;
            if !outcome.dropped.is_empty() {
                tracing::warn!("{outcome}");
            }
            questions = outcome.kept;
        }
        let sampler = GroupedSampler::new(questions.len(), d.group_size, d.train_batch_size, d.seed)?;
        let t = &cfg.raw.trainer;
        let total_steps =
            if t.total_steps > 0 { t.total_steps } else { epoch_steps(t.total_epochs, sampler.steps_per_epoch())? };
        let config_hash = hash_text(&cfg.to_toml());
        std::fs::create_dir_all(run_dir).map_err(|e| Error::io(run_dir.display(), e))?;
        Ok(Trainer {
            cfg,
            c,
            run_dir: run_dir.to_path_buf(),
            questions,
            val_questions,
            sampler,
            prompts,
            step: 0,
            total_steps,
            config_hash,
            router_probs: None,
            lock: None,
            reward_parts: Vec::new(),
            ranks: Ranks::single(),
        })
    }

    /// Makes this trainer one rank of a data-parallel run: it trains its share of each step,
    /// and only rank 0 writes the run directory.
    pub fn with_ranks(mut self, ranks: Ranks) -> Trainer {
        self.ranks = ranks;
        self
    }

    pub fn total_steps(&self) -> u64 {
        self.total_steps
    }

    /// Continues from the newest complete checkpoint, if there is one. Returns its step.
    fn lock_run_dir(&mut self) -> Result<()> {
        if self.lock.is_none() && self.ranks.is_writer() {
            self.lock = Some(RunLock::acquire(&self.run_dir)?);
        }
        Ok(())
    }

    /// Continues from the newest complete checkpoint that loads. One that does not (a
    /// truncated state file, say) is reported by path and the one before it is used; when none
    /// loads, the error names each.
    pub fn resume(&mut self) -> Result<Option<u64>> {
        self.lock_run_dir()?;
        let resumed = self.resume_newest();
        // Every rank reads the same run directory; a rank that found another checkpoint (or
        // none) would train a different policy, so they must agree before the first step.
        // (A Result, not an Option of an Option: JSON would read `Some(None)` back as `None`.)
        let found: std::result::Result<Option<u64>, String> = resumed.as_ref().copied().map_err(|e| e.to_string());
        let steps = self.ranks.all_gather(found)?;
        let resumed = resumed?;
        if steps.iter().any(|s| *s != Ok(resumed)) {
            let show = |s: &std::result::Result<Option<u64>, String>| match s {
                Ok(Some(step)) => format!("step {step}"),
                Ok(None) => "no checkpoint".to_string(),
                Err(e) => e.clone(),
            };
            let list: Vec<String> = steps.iter().enumerate().map(|(r, s)| format!("rank {r}: {}", show(s))).collect();
            return Err(Error::runtime(format!(
                "the ranks resume from different checkpoints ({}); every rank must see the same run directory",
                list.join(", ")
            )));
        }
        Ok(resumed)
    }

    fn resume_newest(&mut self) -> Result<Option<u64>> {
        let mut failures = Vec::new();
        for (_, dir) in checkpoint::complete(&self.run_dir).into_iter().rev() {
            match self.resume_from(&dir) {
                Ok(step) => {
                    if !failures.is_empty() {
                        tracing::warn!("resuming from {}, the newest checkpoint that loads", dir.display());
                    }
                    return Ok(Some(step));
                }
                // A checkpoint of another config is not a damaged one: say so and stop.
                Err(e @ Error::Config { .. }) => return Err(e),
                Err(e) => {
                    tracing::warn!("checkpoint {} does not load: {e}", dir.display());
                    failures.push(format!("{}: {e}", dir.display()));
                }
            }
        }
        if failures.is_empty() {
            Ok(None)
        } else {
            Err(Error::State(format!("no checkpoint loads: {}", failures.join("; "))))
        }
    }

    fn resume_from(&mut self, dir: &Path) -> Result<u64> {
        let host = checkpoint::load_host(dir)?;
        if host.config_hash != self.config_hash {
            return Err(Error::config(
                "--resume",
                format!(
                    "{} was written under a different configuration; use a new run.name or the same config",
                    dir.display()
                ),
            ));
        }
        let named =
            |name: &str, e: Error| Error::State(format!("{}: {e}", dir.join(format!("{name}.state")).display()));
        if let Some(b) = checkpoint::load_component(dir, "optimizer")? {
            self.c.optimizer.load_state(&b).map_err(|e| named("optimizer", e))?;
        }
        if let (Some(r), Some(b)) = (self.c.router.as_mut(), checkpoint::load_component(dir, "router")?) {
            r.load_state(&b).map_err(|e| named("router", e))?;
        }
        // Everything loaded: only now move the run's own state.
        self.sampler.restore(&host.sampler)?;
        let weights = self.c.optimizer.export_weights()?;
        self.c.rollout_engine.load_weights(&weights)?;
        drop(weights);
        self.step = host.step;
        if self.ranks.is_writer() {
            metrics::truncate_after(&self.run_dir.join("metrics.jsonl"), host.step)?;
            metrics::truncate_after(&self.run_dir.join("router_log.jsonl"), host.step)?;
            metrics::truncate_after(&self.run_dir.join(samples::FILE), host.step)?;
        }
        Ok(host.step)
    }

    fn save_checkpoint(&self) -> Result<PathBuf> {
        let host =
            HostState { step: self.step, sampler: self.sampler.state().clone(), config_hash: self.config_hash.clone() };
        let mut parts = vec![("optimizer", self.c.optimizer.save_state()?)];
        if let Some(r) = &self.c.router {
            parts.push(("router", r.save_state()?));
        }
        // One checkpoint stands for every rank: it is only true if their states are one.
        for (name, state) in &parts {
            self.ranks.agree(&format!("{name} states"), fingerprint(state))?;
        }
        if !self.ranks.is_writer() {
            return Ok(checkpoint::checkpoint_dir(&self.run_dir, self.step));
        }
        let dir = checkpoint::save(&self.run_dir, &host, &parts)?;
        // Only now, with a newer checkpoint complete, may older ones go.
        let removed = checkpoint::prune(&self.run_dir, self.cfg.raw.trainer.max_checkpoints_to_keep)?;
        tracing::info!(
            "checkpoint {} ({}){}; run directory {} in all",
            dir.display(),
            checkpoint::human_bytes(checkpoint::disk_usage(&dir)),
            if removed.is_empty() { String::new() } else { format!(", {} older removed", removed.len()) },
            checkpoint::human_bytes(checkpoint::disk_usage(&self.run_dir)),
        );
        Ok(dir)
    }

    /// Runs to `total_steps`, calling `on_step` after each training step (progress display) with
    /// the step's record and the router's most likely languages after its latest logged update,
    /// and after each validation with its record (phase "val").
    pub fn run(&mut self, mut on_step: impl FnMut(&StepRecord, Option<&str>)) -> Result<RunSummary> {
        self.lock_run_dir()?;
        let resumed_from = if self.step > 0 { Some(self.step) } else { None };
        let writes = self.ranks.is_writer();
        if writes {
            checkpoint::write_atomic(&self.run_dir.join("config.toml"), self.cfg.to_toml().as_bytes())?;
        }
        let mut metrics = JsonlWriter::append_if(writes, &self.run_dir.join("metrics.jsonl"))?;
        let mut router_log = JsonlWriter::append_if(writes, &self.run_dir.join("router_log.jsonl"))?;
        let mut samples = JsonlWriter::append_if(writes, &self.run_dir.join(samples::FILE))?;
        let t = self.cfg.raw.trainer.clone();
        let mut last = None;
        if t.val_before_train && self.step == 0 && !self.val_questions.is_empty() {
            let val = self.validate()?;
            metrics.write(&val)?;
            on_step(&val, None);
        }
        while self.step < self.total_steps {
            let record = self.train_step(&mut router_log, &mut samples)?;
            metrics.write(&record)?;
            on_step(&record, self.router_probs.as_deref());
            // Validation before the checkpoint: a complete checkpoint then implies that every
            // record up to its step is on disk, so a run killed right after saving resumes
            // without losing the step's validation.
            if t.test_freq > 0 && self.step.is_multiple_of(t.test_freq) && !self.val_questions.is_empty() {
                let val = self.validate()?;
                metrics.write(&val)?;
                on_step(&val, None);
            }
            if t.save_freq > 0 && (self.step.is_multiple_of(t.save_freq) || self.step == self.total_steps) {
                if let Err(e) = self.save_checkpoint() {
                    // The trained state is still in memory: a save that fails (a full disk, a
                    // file system gone for a moment) costs nothing until the run ends, so the
                    // run goes on and the next save tries again; only the last save must land.
                    let newest =
                        checkpoint::latest(&self.run_dir).map_or("none".to_string(), |d| d.display().to_string());
                    if self.step == self.total_steps {
                        return Err(Error::runtime(format!(
                            "the last checkpoint (step {}) could not be written: {e}; the newest complete \
                             checkpoint is {newest}, and `--resume auto` continues from it",
                            self.step
                        )));
                    }
                    tracing::warn!(
                        "checkpoint of step {} not written: {e}; training goes on and the next save tries \
                         again (newest complete checkpoint: {newest})",
                        self.step
                    );
                }
            }
            last = Some(record);
        }
        if t.export_final && writes {
            let dtype = lrpo_sdk::hf::parse_float_dtype(&t.export_dtype)
                .ok_or_else(|| Error::config("trainer.export_dtype", "use f32, bf16 or f16"))?;
            let out = self.run_dir.join("final");
            let written =
                crate::export::write_model(self.c.optimizer.as_mut(), self.cfg.raw.model.path.as_deref(), &out, dtype)?;
            tracing::info!("{written}");
        }
        // No rank reports success before rank 0 has written everything: a last checkpoint or
        // export that failed there ends the run with exit 1 on every rank.
        self.ranks.all_gather(true)?;
        self.lock = None;
        Ok(RunSummary { run_dir: self.run_dir.clone(), steps: self.step, resumed_from, last })
    }

    /// Requests for `rows`, the first of which is row `first_row` of the whole step: a row's
    /// seed depends on its place in the step, not on which rank rolls it out.
    fn requests(&self, rows: &[(usize, Lang)], first_row: usize, greedy: bool) -> Result<Vec<GenerationRequest>> {
        let t = &self.cfg.raw.trainer;
        let sampling = if greedy {
            SamplingParams::greedy()
        } else {
            SamplingParams { temperature: t.temperature, top_p: t.top_p, top_k: t.top_k, min_p: t.min_p }
        };
        rows.iter()
            .enumerate()
            .map(|(i, (q, lang))| {
                Ok(GenerationRequest {
                    prompt: self.prompts.render(&self.questions_for(greedy)[*q].question, lang)?,
                    max_new_tokens: t.max_new_tokens,
                    sampling: sampling.clone(),
                    seed: rollout_seed(self.cfg.raw.run.seed, self.step, (first_row + i) as u64),
                    stop_strings: t.stop_strings.clone(),
                    stop_token_ids: vec![],
                })
            })
            .collect()
    }

    fn questions_for(&self, validation: bool) -> &[Question] {
        if validation {
            &self.val_questions
        } else {
            &self.questions
        }
    }

    /// Generate, detect and score `rows` (question index, language); returns rewards and results.
    fn rollout_and_score(
        &mut self,
        rows: &[(usize, Lang)],
        first_row: usize,
        validation: bool,
        time: &mut BTreeMap<String, f64>,
    ) -> Result<(Vec<GenerationResult>, Vec<LangPrediction>, Vec<Reward>)> {
        if rows.is_empty() {
            // A rank with no share (fewer validation questions than ranks) still reports the
            // reward parts by name, for the gathered record.
            self.reward_parts.iter_mut().for_each(|(_, values)| values.clear());
            return Ok((vec![], vec![], vec![]));
        }
        let clock = Instant::now();
        let requests = self.requests(rows, first_row, validation)?;
        time.insert("prompt".into(), clock.elapsed().as_secs_f64());
        let clock = Instant::now();
        let results = self.c.rollout_engine.generate(&requests)?;
        if results.len() != requests.len() {
            return Err(Error::runtime(format!(
                "rollout engine returned {} results for {} requests",
                results.len(),
                requests.len()
            )));
        }
        time.insert("generate".into(), clock.elapsed().as_secs_f64());
        let clock = Instant::now();
        let texts: Vec<String> = results.iter().map(|r| r.text.clone()).collect();
        let detected = self.c.language_id.detect(&texts)?;
        time.insert("detect".into(), clock.elapsed().as_secs_f64());
        let clock = Instant::now();
        let qs = self.questions_for(validation);
        let inputs: Vec<RewardInput> = rows
            .iter()
            .zip(results.iter().zip(&detected).zip(&requests))
            .map(|((q, lang), ((r, d), req))| RewardInput {
                response: r.text.clone(),
                reference: qs[*q].answer.clone(),
                question: qs[*q].question.clone(),
                prompt: req.prompt.clone(),
                extra: qs[*q].extra.clone(),
                target_lang: lang.clone(),
                reference_lang: qs[*q].orig_lang.clone(),
                detected: d.clone(),
            })
            .collect();
        let scored = self.c.reward_model.score(&inputs)?;
        let rewards = scored.rewards;
        self.reward_parts = scored.parts;
        time.insert("reward".into(), clock.elapsed().as_secs_f64());
        Ok((results, detected, rewards))
    }

    /// This rank's outcomes of its rows, gathered from every rank in global row order.
    fn gather_outcomes(&self, results: &[GenerationResult], rewards: &[Reward]) -> Result<Outcomes> {
        let mine: Vec<RowOutcome> = rewards
            .iter()
            .zip(results)
            .enumerate()
            .map(|(i, (r, res))| RowOutcome {
                reward: r.value,
                gate: r.gate,
                length: res.response_tokens.len(),
                parts: self.reward_parts.iter().map(|(_, values)| values[i]).collect(),
            })
            .collect();
        let all: Vec<RowOutcome> = self.ranks.all_gather(mine)?.into_iter().flatten().collect();
        let mut parts: Vec<(String, Vec<f64>)> =
            self.reward_parts.iter().map(|(name, _)| (name.clone(), Vec::with_capacity(all.len()))).collect();
        for row in &all {
            for ((_, values), v) in parts.iter_mut().zip(&row.parts) {
                values.push(*v);
            }
        }
        Ok(Outcomes {
            values: all.iter().map(|r| r.reward).collect(),
            gates: all.iter().map(|r| r.gate).collect(),
            lengths: all.iter().map(|r| r.length).collect(),
            parts,
        })
    }

    fn train_step(&mut self, router_log: &mut JsonlWriter, samples: &mut JsonlWriter) -> Result<StepRecord> {
        let started = Instant::now();
        self.step += 1;
        let step = self.step;
        let batch = self.sampler.next_batch();
        let n = self.cfg.raw.data.group_size;
        let groups: Vec<(usize, u64)> = batch.questions().collect();
        let mut time = BTreeMap::new();

        // Every rank routes the whole step with the same router state, so they all pick the
        // same languages; each then rolls out its own block of whole groups (group-normalised
        // advantages need a group on one rank).
        let clock = Instant::now();
        let contexts: Vec<RouteContext> = groups.iter().map(|(q, g)| self.questions[*q].route_context(*g)).collect();
        let langs: Vec<Vec<Lang>> = match self.c.router.as_mut() {
            Some(r) => r.route(&RouteRequest { step, n, groups: contexts, training: true })?,
            None => {
                contexts.iter().map(|c| vec![c.fixed_lang.clone().unwrap_or_else(|| c.orig_lang.clone()); n]).collect()
            }
        };
        if langs.len() != groups.len() || langs.iter().any(|l| l.len() != n) {
            return Err(Error::runtime(format!(
                "router returned a wrong shape: expected {} groups of {n} languages",
                groups.len()
            )));
        }
        time.insert("route".into(), clock.elapsed().as_secs_f64());

        let rows: Vec<(usize, Lang)> =
            groups.iter().zip(&langs).flat_map(|((q, _), ls)| ls.iter().map(move |l| (*q, l.clone()))).collect();
        let my_groups = self.ranks.share(groups.len());
        let my_rows = my_groups.start * n..my_groups.end * n;
        let (results, detected, rewards) =
            self.rollout_and_score(&rows[my_rows.clone()], my_rows.start, false, &mut time)?;
        for i in samples::pick(results.len(), self.cfg.raw.trainer.samples_per_step) {
            let (q, lang) = &rows[my_rows.start + i];
            samples.write(&samples::Sample {
                step,
                question: &self.questions[*q].question,
                reference: &self.questions[*q].answer,
                question_lang: &self.questions[*q].orig_lang,
                target_lang: lang,
                detected_lang: detected[i].lang.as_ref(),
                detected_prob: detected[i].prob,
                reward: rewards[i].value,
                gate: rewards[i].gate,
                response: &results[i].text,
            })?;
        }

        let clock = Instant::now();
        let outcomes = self.gather_outcomes(&results, &rewards)?;
        time.insert("gather".into(), clock.elapsed().as_secs_f64());
        let clock = Instant::now();
        let feedback: Vec<RouteFeedback> = rows
            .iter()
            .zip(&outcomes.values)
            .map(|((q, lang), reward)| RouteFeedback {
                topic: self.questions[*q].topic.clone(),
                region: self.questions[*q].region.clone(),
                lang: lang.clone(),
                reward: *reward,
            })
            .collect();
        if let Some(r) = self.c.router.as_mut() {
            let update = r.update(step, &feedback)?;
            if let Some(report) = update.report {
                router_log.write_line(&router_log::log_line(step, &report))?;
                self.router_probs = router_log::console_line(&report).or(self.router_probs.take());
            }
            if self.ranks.size() > 1 {
                self.ranks.agree("router states", fingerprint(&r.save_state()?))?;
            }
        }
        time.insert("router_update".into(), clock.elapsed().as_secs_f64());

        let clock = Instant::now();
        let group_of_row: Vec<u64> = groups[my_groups].iter().flat_map(|(_, g)| std::iter::repeat_n(*g, n)).collect();
        let train = TrainBatch {
            step,
            samples: results
                .iter()
                .zip(&rewards)
                .zip(&group_of_row)
                .map(|((res, rew), g)| TrainSample {
                    group_id: *g,
                    prompt_tokens: res.prompt_tokens.clone(),
                    response_tokens: res.response_tokens.clone(),
                    sampler_logprobs: res.logprobs.clone(),
                    reward: rew.value,
                })
                .collect(),
        };
        let stats = self.c.optimizer.step(&train)?;
        time.insert("optimize".into(), clock.elapsed().as_secs_f64());
        let clock = Instant::now();
        let weights = self.c.optimizer.export_weights()?;
        self.c.rollout_engine.load_weights(&weights)?;
        drop(weights);
        time.insert("weight_sync".into(), clock.elapsed().as_secs_f64());
        // The ranks' statistics are means over equal shares of the step: their mean is the
        // step's (sums and maxima such as the gradient norm are the same on every rank).
        let optimizer = mean_over_ranks(self.ranks.all_gather(stats.values)?);

        let elapsed = started.elapsed().as_secs_f64();
        time.insert("step".into(), elapsed);
        let row_langs: Vec<Lang> = rows.iter().map(|(_, l)| l.clone()).collect();
        let mut record =
            StepRecord { step, epoch: batch.epoch, phase: "train".into(), optimizer, ..Default::default() };
        record.summarise(&row_langs, &outcomes.values, &outcomes.gates, &outcomes.lengths);
        record.summarise_parts(&row_langs, &outcomes.parts);
        // Per device, as verl's perf/throughput: every rank is a device.
        let devices = (self.cfg.raw.trainer.devices.max(1) * self.ranks.size()) as f64;
        record.tokens_per_second = outcomes.lengths.iter().sum::<usize>() as f64 / (elapsed * devices).max(1e-9);
        record.time = time;
        Ok(record)
    }

    /// Greedy generation in each validation question's own (or fixed) language, each rank
    /// taking a block of the questions.
    fn validate(&mut self) -> Result<StepRecord> {
        let limit = match self.cfg.raw.trainer.val_max_questions {
            0 => self.val_questions.len(),
            k => k.min(self.val_questions.len()),
        };
        let rows: Vec<(usize, Lang)> = (0..limit).map(|i| (i, self.val_questions[i].lang().clone())).collect();
        let mine = self.ranks.share(rows.len());
        let mut time = BTreeMap::new();
        let started = Instant::now();
        let (results, _, rewards) = self.rollout_and_score(&rows[mine.clone()], mine.start, true, &mut time)?;
        let outcomes = self.gather_outcomes(&results, &rewards)?;
        time.insert("step".into(), started.elapsed().as_secs_f64());
        let langs: Vec<Lang> = rows.iter().map(|(_, l)| l.clone()).collect();
        let mut record = StepRecord { step: self.step, phase: "val".into(), time, ..Default::default() };
        record.summarise(&langs, &outcomes.values, &outcomes.gates, &outcomes.lengths);
        record.summarise_parts(&langs, &outcomes.parts);
        record.question_rewards = outcomes.values;
        record.question_gates = outcomes.gates;
        Ok(record)
    }
}

/// Each key's mean over the ranks' values (a single rank's values unchanged).
fn mean_over_ranks(all: Vec<BTreeMap<String, f64>>) -> BTreeMap<String, f64> {
    let ranks = all.len().max(1) as f64;
    let mut sum: BTreeMap<String, f64> = BTreeMap::new();
    for values in &all {
        for (k, v) in values {
            *sum.entry(k.clone()).or_default() += v;
        }
    }
    if all.len() == 1 {
        return all.into_iter().next().unwrap_or_default();
    }
    sum.into_iter().map(|(k, v)| (k, v / ranks)).collect()
}
