//! Command-line interface.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// lrpo-host: online multilingual preference optimisation (LRPO) of language models.
///
/// Loads its components (router, language ID, reward model, rollout engine, optimizer) from
/// plugin libraries named in the configuration, and trains a policy with GRPO on rollouts
/// whose answer language a contextual bandit picks per topic and region.
///
/// Configuration layers, later ones winning: built-in defaults (the default run), the
/// `--config` TOML file, `LRPO_<SECTION>__<KEY>` environment variables, `--set KEY=VALUE`.
#[derive(Debug, Parser)]
#[command(name = "lrpo-host", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct GlobalArgs {
    /// Directory holding plugin libraries (`lib<name>.so`); may be repeated, searched in order.
    #[arg(long = "plugins", value_name = "DIR", global = true)]
    pub plugins: Vec<PathBuf>,
    /// TOML configuration file. Without it, the built-in default run is used.
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Override one config key, e.g. `--set data.group_size=4`; may be repeated.
    #[arg(long = "set", value_name = "KEY=VALUE", global = true)]
    pub set: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train (the default command): load the configured components and run the LRPO loop.
    Train {
        /// `auto`: continue from the newest complete checkpoint in the run directory, if any.
        #[arg(long, value_name = "auto")]
        resume: Option<ResumeMode>,
    },
    /// Inspect plugin libraries.
    #[command(subcommand)]
    Plugins(PluginsCommand),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Plot a run: reward overall and per language, router probabilities per topic, time per
    /// phase, as SVG files and one HTML page in RUN_DIR/report/.
    Report {
        /// A run (or arm) directory holding metrics.jsonl and router_log.jsonl.
        run_dir: PathBuf,
    },
    /// Compute per-language-pair cosine statistics for the reward's encoder from a parallel
    /// corpus (runs `lrpo-calibrate`, built with the reward plugin; `--help` lists its options),
    /// e.g. `lrpo-host calibrate --parallel examples/data/parallel.jsonl --parallel
    /// examples/data/paraphrases.jsonl --out pair_stats.csv` (the second file's other phrasings
    /// give the same-language rows).
    #[command(disable_help_flag = true)]
    Calibrate {
        /// Arguments for lrpo-calibrate.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Write a run's trained policy as a Hugging Face model directory that transformers and
    /// vLLM load: config.json, model.safetensors (or shards and an index), tokenizer.json,
    /// tokenizer_config.json with the chat template, generation_config.json.
    ///
    /// The weights come from the run's optimizer, rebuilt from RUN_DIR/config.toml and given
    /// the checkpoint's state: pass the same --plugins as for training. `--set` changes that
    /// optimizer's settings for the export only, e.g. a GPU run exported on a CPU machine
    /// (`--set components.optimizer.grpo.config.device=cpu`), or the fp32 master weights of a
    /// mixed-precision run (`--set components.optimizer.grpo.config.dtype=f32`; a bf16/f16 run
    /// otherwise hands over its 16-bit compute copy).
    Export {
        /// A run directory (its newest complete checkpoint is exported) or one checkpoint
        /// directory (`RUN_DIR/checkpoints/step_000010`).
        path: PathBuf,
        /// The model directory to write (created; built beside it and renamed into place).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Weight dtype of the export.
        #[arg(long, value_name = "f32|bf16|f16", default_value = "f32", value_parser = parse_dtype)]
        dtype: lrpo_core::DType,
        /// Replace DIR when it exists and is not empty.
        #[arg(long)]
        force: bool,
    },
    /// Compare the arms of an A/B run.
    #[command(subcommand)]
    Ab(AbCommand),
    /// Prepare and check training data in the verl/LRPO parquet layout.
    #[command(subcommand)]
    Data(DataCommand),
    /// Evaluate a model or a trained run with an LLM judge: accuracy per language.
    ///
    /// Every question of --data is answered with the run's rollout engine (greedy unless
    /// --temperature says otherwise), in the question's own language unless --answer-lang names
    /// one, and each answer is graded by a judge model behind an OpenAI-compatible
    /// `/v1/chat/completions` endpoint with one of four labels: CORRECT,
    /// CORRECT_BUT_WRONG_LANGUAGE, INCORRECT, NOT_ATTEMPTED. Accuracy is CORRECT over the judged
    /// answers; a reply that is not exactly one label is retried, then counted as a judge
    /// failure (never as INCORRECT).
    ///
    /// OUT/eval.jsonl keeps every answer and judgement, so a rerun only generates and judges
    /// what is missing (an answer judged with the same judge prompt and judge model is kept).
    /// OUT/results.md and OUT/results.json hold the table per language with 95% Wilson
    /// intervals, the language-gate rate of the run's language ID, and with --baseline the
    /// paired difference (bootstrap interval, exact McNemar test). An OUT under a run
    /// directory's `eval/` is charted by `lrpo-host report`.
    ///
    /// Example: `lrpo-host --plugins plugins/ eval --model runs/default --baseline
    /// ~/.cache/lrpo/models/smollm2-135m-instruct --data care_pro.jsonl --judge-url
    /// http://127.0.0.1:8000 --judge-model judge --out runs/default/eval/care`
    Eval(Box<EvalArgs>),
}

/// `lrpo-host eval`'s options.
#[derive(Debug, Args, Clone)]
pub struct EvalArgs {
    /// What to evaluate: a Hugging Face model directory (answered with the rollout engine of
    /// --config, or of the built-in default run), a run directory (its config.toml and newest
    /// checkpoint) or one checkpoint directory (`RUN_DIR/checkpoints/step_000010`).
    #[arg(long, value_name = "DIR|RUN_DIR[/checkpoint]")]
    pub model: PathBuf,
    /// A second model or run answered on the same items, for a paired comparison. A model
    /// directory here, beside a run as --model and without --config, is answered with that
    /// run's config.
    #[arg(long, value_name = "MODEL_OR_RUN")]
    pub baseline: Option<PathBuf>,
    /// The questions: LRPO parquet, or JSON lines / a JSON array of
    /// {question, answer, language, topic?, region?}; other column names map with --*-col.
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
    /// Output directory (created): eval.jsonl, results.md, results.json.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The judge's OpenAI-compatible endpoint, e.g. `http://127.0.0.1:8000` or
    /// `https://api.openai.com/v1`.
    #[arg(long, value_name = "URL")]
    pub judge_url: String,
    /// The judge model's name at that endpoint.
    #[arg(long, value_name = "NAME")]
    pub judge_model: String,
    /// Name of the environment variable holding the judge's API key (sent as a bearer token,
    /// never printed or stored).
    #[arg(long, value_name = "VAR")]
    pub judge_api_key_env: Option<String>,
    /// A judge prompt of your own: a text file with the placeholders {question},
    /// {gold_answer}, {expected_language} and {response}. Changing it re-judges every item.
    #[arg(long, value_name = "FILE")]
    pub judge_prompt: Option<PathBuf>,
    /// Judge requests in flight at once.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub judge_concurrency: usize,
    /// Longest one judge request may take, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
    pub judge_timeout_s: f64,
    /// Further attempts after a failed judge request (connection, timeout, 429, 5xx) or a reply
    /// that is not one label; backoff 0.5 s doubling to 8 s.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub judge_retries: u32,
    /// `max_tokens` of each judge request.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub judge_max_tokens: u32,
    /// Answer every question in this language (a code such as `en`, or an English name)
    /// instead of the question's own; the judge is told to expect it.
    #[arg(long, value_name = "LANG")]
    pub answer_lang: Option<String>,
    /// Column (JSON field) holding the question.
    #[arg(long, value_name = "NAME")]
    pub question_col: Option<String>,
    /// Column holding the gold answer.
    #[arg(long, value_name = "NAME")]
    pub answer_col: Option<String>,
    /// Column holding the question's language (a code or an English name).
    #[arg(long, value_name = "NAME")]
    pub language_col: Option<String>,
    /// Column holding the topic (default `ability`, else `topic`).
    #[arg(long, value_name = "NAME")]
    pub topic_col: Option<String>,
    /// Column holding the region (default `extra_info.region`, else `region`).
    #[arg(long, value_name = "NAME")]
    pub region_col: Option<String>,
    /// Tokens per answer (default: trainer.max_new_tokens of the run's config).
    #[arg(long, value_name = "N")]
    pub max_new_tokens: Option<u32>,
    /// Sampling temperature of the answers; 0 (the default) is greedy.
    #[arg(long, value_name = "T", default_value_t = 0.0)]
    pub temperature: f32,
    /// Questions per rollout-engine call.
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub batch_size: usize,
    /// Evaluate only the first N questions.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
}

#[derive(Debug, Subcommand)]
pub enum AbCommand {
    /// Per arm: how training reward and gate rate moved (last fifth of the steps against the
    /// first, 95% moving-block bootstrap, which respects that neighbouring steps are alike),
    /// reward per language, the held-out validation before and after (paired by question), and
    /// each router's final probabilities against the reward per language (Spearman's rank
    /// correlation); then the arms against each other on the held-out questions and on the
    /// training reward. Plots go to RUN_DIR/report/ab_*.svg.
    Report {
        /// The run directory (`<run.out_dir>/<run.name>`), holding one directory per arm.
        run_dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Turn JSON / JSONL records {query, chosen, topic, language, region} into
    /// `train.parquet` and `test.parquet` (stratified 90/10 split by language).
    Prepare {
        /// Input file: a JSON array or JSON lines.
        input: PathBuf,
        /// Output directory (created if needed).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Seed of the split.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Summarise a data file (parquet, JSON lines or a JSON array) as `train` reads it: which
    /// column feeds which field, rows, languages, topics, regions, lengths, problems found.
    /// Exits 2 when it finds a problem. `--config`/`--set` supply data.default_language and
    /// data.default_topic for files without those columns.
    Check { file: PathBuf },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ResumeMode {
    Auto,
}

#[derive(Debug, Subcommand)]
pub enum PluginsCommand {
    /// List every plugin library in the plugin directories with its manifest and components.
    ///
    /// Each `lib*.so` is checked, then loaded and initialised to read its manifest, which runs
    /// that library's code: list only directories whose libraries you trust.
    List {
        /// Print JSON (one array of manifests, with config schemas) instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the resolved configuration as TOML (all layers applied, paths absolute).
    Show,
}

fn parse_dtype(text: &str) -> Result<lrpo_core::DType, String> {
    lrpo_sdk::hf::parse_float_dtype(text).ok_or_else(|| format!("`{text}` is not a weight dtype: use f32, bf16 or f16"))
}
