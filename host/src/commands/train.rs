//! `lrpo-host train`: resolve the config, check every arm, then build and run each arm's
//! training loop with a progress bar. Arms run one after the other with the same seeds and data
//! order, each in its own run directory.

use crate::cli::GlobalArgs;
use crate::dist::Ranks;
use crate::plugin::{AnyComponent, Registry};
use crate::train::{ArmComponents, RunData, Trainer};
use indicatif::{ProgressBar, ProgressStyle};
use lrpo_core::{Error, Result};
use std::fmt::Write as _;

pub fn train(global: &GlobalArgs, resume: bool) -> Result<String> {
    let cfg = super::resolved_config(global)?;
    let mut registry = Registry::new(cfg.plugin_dirs.clone(), cfg.threads, cfg.raw.plugins.libtorch_version.clone())
        .with_policy(cfg.policy_defaults());
    let mut out = String::new();
    eprintln!("batch layout: {}", cfg.batch_layout());
    let base_dir = cfg.raw.run.out_dir.join(&cfg.raw.run.name);
    // The inputs first: a bad model path or data file is reported before any model loads.
    cfg.check_model_path()?;
    let data = RunData::read(&cfg)?;
    // Under torchrun: join the other ranks before any plugin library opens (each library
    // learns the world as it loads). Every rank reads the same inputs, so a bad one fails on
    // every rank alike, above, before anyone waits for anyone.
    let ranks = Ranks::join(&cfg.raw)?;
    if ranks.size() > 1 {
        let role = if ranks.is_writer() { "writes the run directory" } else { "trains its share" };
        eprintln!("rank {} of {}: {role}", ranks.rank(), ranks.size());
    }
    let arm_dir = |name: &str| if cfg.arms.len() > 1 { base_dir.join(name) } else { base_dir.clone() };
    // Where the components keep their own files (a vLLM server's log, weight syncs). Rank 0's
    // is the arm's run directory; another rank gets its own below it, so two ranks never write
    // the same file.
    let component_dir = |dir: std::path::PathBuf| {
        if ranks.is_writer() {
            dir
        } else {
            dir.join(format!("rank{}", ranks.rank()))
        }
    };
    // Every arm is checked before any model loads (its config, the files it reads, one
    // tokenizer, no old run in its directory), so a mistake in the last arm is reported at once,
    // not after the first arm's run. Each arm is then built just before it trains and dropped
    // after: arms run one at a time, so holding every arm's models at once would only multiply
    // the memory a run needs by the number of arms.
    for arm in &cfg.arms {
        let run_dir = arm_dir(&arm.name);
        registry.set_run_dir(&component_dir(run_dir.clone()));
        registry.check_arm(arm, &cfg.raw.components)?;
        if let (false, records @ 1..) = (resume, crate::train::existing_records(&run_dir)) {
            // Appending a new run's steps to an old run's records would mix two runs.
            return Err(Error::config(
                "run.name",
                format!(
                    "{} already holds a run ({records} records); pass --resume auto to continue it, or set another run.name",
                    run_dir.display()
                ),
            ));
        }
    }
    for arm in &cfg.arms {
        let run_dir = arm_dir(&arm.name);
        registry.set_run_dir(&component_dir(run_dir.clone()));
        let parts = registry.build_arm(arm, &cfg.raw.components)?;
        eprintln!("arm `{}`:", arm.name);
        for ((kind, instance), part) in arm.instances.iter().zip(&parts) {
            let inst = &cfg.raw.components.of(*kind)[instance];
            let mut line = format!("  {:<15} {instance} = {}:{}", kind.key(), inst.plugin, inst.kind);
            if let AnyComponent::Router(r) = part {
                let langs: Vec<String> = r.languages().iter().map(|l| l.to_string()).collect();
                let _ = write!(line, " ({} languages: {})", langs.len(), langs.join(" "));
            }
            eprintln!("{line}");
        }
        for (part, built) in arm.rewards.iter().zip(&parts[arm.instances.len()..]) {
            let inst = &cfg.raw.components.of(built.kind())[&part.instance];
            let gate = part.gated_by.map(|g| format!(", gated by {}", arm.rewards[g].instance)).unwrap_or_default();
            eprintln!(
                "  {:<15} {} = {}:{} (weight {}{gate})",
                "reward part", part.instance, inst.plugin, inst.kind, part.weight
            );
        }
        let components = ArmComponents::assemble(&arm.name, parts, &arm.rewards)?;
        let mut trainer =
            Trainer::with_data(cfg.clone(), components, &run_dir, data.clone())?.with_ranks(ranks.clone());
        if resume {
            if let Some(step) = trainer.resume()? {
                eprintln!("resuming arm `{}` after step {step}", arm.name);
            }
        }
        run_arm(&arm.name, trainer, ranks.is_writer(), &mut out)?;
    }
    ranks.leave();
    Ok(out)
}

/// Trains one arm to its last step, with a progress bar and one line per step.
fn run_arm(name: &str, mut trainer: Trainer, shows: bool, out: &mut String) -> Result<()> {
    // Under torchrun every rank shares the terminal: rank 0 alone shows the run.
    let bar = if shows { ProgressBar::new(trainer.total_steps()) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] step {pos}/{len} {msg} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(name.to_string());
    let total = trainer.total_steps();
    let summary = trainer.run(|record, router| {
        // One line per step, so reward and the router's language choice can be followed
        // (and stay in the log when stderr is not a terminal and the bar is hidden).
        let mut line = if record.phase == "val" {
            format!(
                "{name} validation after step {}: reward {:.3}, gate {:.2}",
                record.step, record.reward.mean, record.gate_rate
            )
        } else {
            bar.set_position(record.step);
            bar.set_message(format!("reward {:.3} gate {:.2}", record.reward.mean, record.gate_rate));
            format!(
                "{name} step {}/{total}: reward {:.3}, gate {:.2}",
                record.step, record.reward.mean, record.gate_rate
            )
        };
        if let Some(&loss) = record.optimizer.get("loss") {
            // GRPO losses are often 1e-5-sized; keep their digits.
            let _ = if loss == 0.0 || loss.abs() >= 0.01 {
                write!(line, ", loss {loss:.4}")
            } else {
                write!(line, ", loss {loss:.2e}")
            };
        }
        if let Some(router) = router {
            let _ = write!(line, "; router p(lang): {router}");
        }
        if !shows {
            return;
        }
        if bar.is_hidden() {
            eprintln!("{line}");
        } else {
            bar.println(line);
        }
    })?;
    bar.finish();
    let last = summary.last.as_ref().map(|r| format!("final reward {:.4}", r.reward.mean)).unwrap_or_default();
    let _ = writeln!(out, "arm `{name}`: {} steps, {last}; run directory {}", summary.steps, summary.run_dir.display());
    Ok(())
}
