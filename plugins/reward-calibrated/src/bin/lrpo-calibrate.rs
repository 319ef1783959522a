//! Computes per-language-pair similarity statistics for an encoder from a parallel corpus and
//! writes them in the reference CSV format, for `calibrated-embedding`'s `pair_stats`.
//!
//!   lrpo-calibrate --parallel examples/data/parallel.jsonl --parallel examples/data/paraphrases.jsonl \
//!       --out pair_stats.csv [--model DIR]
//!
//! Same-language rows need a second phrasing of the items (`paraphrases.jsonl`); without one
//! the table has cross-language rows only, and the binary says so.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use lrpo_core::Result;
use lrpo_reward_calibrated::{compute_pair_stats, Embedder, EncoderConfig, ParallelCorpus};

#[derive(Debug, Parser)]
#[command(
    name = "lrpo-calibrate",
    about = "Pair statistics (lang_a,lang_b,count,mean,std) for the reward's calibration"
)]
struct Args {
    /// Parallel corpus: a JSONL file (id, language, text field, optional phrasing), a
    /// SQuAD/XQuAD `*.<lang>.json` file, or a directory of them. Repeatable; give a second
    /// phrasing of the items (such as examples/data/paraphrases.jsonl) for same-language rows.
    #[arg(long, required = true)]
    parallel: Vec<PathBuf>,
    /// Where to write the CSV.
    #[arg(long)]
    out: PathBuf,
    /// Encoder directory (Hugging Face layout); default: multilingual-e5-small from the model cache.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Text field: any string field of a JSONL corpus (default `chosen`); `question` (default)
    /// or `context` for SQuAD files.
    #[arg(long)]
    field: Option<String>,
    /// Use only the first N ids of the corpus.
    #[arg(long)]
    max_items: Option<usize>,
    /// Prefix of the response side (must match the reward's `encoder.response_prefix`).
    #[arg(long, default_value = "query: ")]
    response_prefix: String,
    /// Prefix of the reference side (must match the reward's `encoder.reference_prefix`).
    #[arg(long, default_value = "query: ")]
    reference_prefix: String,
    #[arg(long, default_value_t = 128)]
    batch_size: usize,
    #[arg(long, default_value_t = 512)]
    max_length: usize,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// libtorch threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

fn run(args: Args) -> Result<()> {
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    lrpo_torch::configure_cpu_runtime(threads);
    let mut corpus = ParallelCorpus::load(&args.parallel, args.field.as_deref())?;
    if let Some(n) = args.max_items {
        corpus.limit_ids(n);
    }
    let config = EncoderConfig {
        model_dir: args.model,
        device: args.device,
        batch_size: args.batch_size,
        max_length: args.max_length,
        response_prefix: args.response_prefix,
        reference_prefix: args.reference_prefix,
        ..EncoderConfig::default()
    };
    eprintln!(
        "lrpo-calibrate: {} texts in {:?}, encoder {}",
        corpus.texts.len(),
        corpus.languages(),
        config.resolved_dir().display()
    );
    let embedder = Embedder::load(config, "--model")?;
    let stats = compute_pair_stats(&embedder, &corpus)?;
    stats.write_csv_path(&args.out)?;
    let same = stats.rows().filter(|((a, b), _)| a == b).count();
    eprintln!(
        "lrpo-calibrate: {} pairs ({same} same-language), mu_ref {:.6}, written to {}",
        stats.len(),
        stats.mu_ref(),
        args.out.display()
    );
    let missing: Vec<String> =
        corpus.languages().iter().filter(|l| stats.get(l, l).is_none()).map(|l| l.to_string()).collect();
    if !missing.is_empty() {
        eprintln!(
            "lrpo-calibrate: no second phrasing for {}: answers in the reference's own language stay uncalibrated \
             there (add a corpus with `phrasing` 2, e.g. examples/data/paraphrases.jsonl)",
            missing.join(", ")
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lrpo-calibrate: {e}");
            ExitCode::from(if e.is_usage() { 2 } else { 1 })
        }
    }
}
