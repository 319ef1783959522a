//! `lrpo-host train`: resolve the config, load the plugins the arms name, build every
//! component. The training loop itself lands with the trainer; until then `train` stops
//! after this check and says so.

use crate::cli::GlobalArgs;
use crate::plugin::Registry;
use lrpo_core::{ComponentKind, Result};
use std::fmt::Write as _;

pub fn train(global: &GlobalArgs) -> Result<String> {
    let cfg = super::resolved_config(global)?;
    let mut registry = Registry::new(cfg.plugin_dirs.clone(), cfg.threads, cfg.raw.plugins.libtorch_version.clone());
    let mut out = String::new();
    let _ = writeln!(out, "batch layout: {}", cfg.batch_layout());
    for arm in &cfg.arms {
        let components = registry.build_arm(arm, &cfg.raw.components)?;
        let _ = writeln!(out, "arm `{}`:", arm.name);
        for (kind, instance) in &arm.instances {
            let inst = &cfg.raw.components.of(*kind)[instance];
            let mut line = format!("  {:<15} {instance} = {}:{}", kind.key(), inst.plugin, inst.kind);
            if *kind == ComponentKind::Router {
                if let Some(r) = &components.router {
                    let langs: Vec<String> = r.languages().iter().map(|l| l.to_string()).collect();
                    let _ = write!(line, " ({} languages: {})", langs.len(), langs.join(" "));
                }
            }
            let _ = writeln!(out, "{line}");
        }
        let missing: Vec<&str> =
            ComponentKind::ALL.iter().filter(|k| !arm.instances.contains_key(k)).map(|k| k.key()).collect();
        if !missing.is_empty() {
            let _ = writeln!(out, "  not configured: {}", missing.join(", "));
        }
    }
    for p in registry.loaded() {
        let _ = writeln!(out, "plugin {}: {} {} (ABI {})", p.path.display(), p.manifest.plugin_name, p.manifest.plugin_version, p.manifest.abi);
    }
    let _ = writeln!(out, "components loaded and checked; this build has no training loop yet, so train stops here");
    Ok(out)
}
