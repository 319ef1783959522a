//! The host's plain view of a plugin manifest.

use crate::FfiManifest;
use lrpo_core::ComponentKind;
use serde::Serialize;
use std::fmt;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ComponentInfo {
    pub kind: ComponentKind,
    pub name: String,
    pub description: String,
    /// JSON schema of the component's config table.
    pub config_schema: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Manifest {
    pub plugin_name: String,
    pub plugin_version: String,
    pub abi: String,
    pub libtorch_version: Option<String>,
    pub components: Vec<ComponentInfo>,
}

impl From<FfiManifest> for Manifest {
    fn from(m: FfiManifest) -> Self {
        Manifest {
            plugin_name: m.plugin_name.into(),
            plugin_version: m.plugin_version.into(),
            abi: format!("{}.{}", m.abi_major, m.abi_minor),
            libtorch_version: m.libtorch_version.into_option().map(Into::into),
            components: m
                .components
                .into_iter()
                .filter_map(|c| {
                    Some(ComponentInfo {
                        // A kind this host does not know (from a newer plugin) is skipped.
                        kind: ComponentKind::from_u8(c.kind)?,
                        name: c.name.into(),
                        description: c.description.into(),
                        config_schema: serde_json::from_str(&c.config_schema).unwrap_or(serde_json::Value::Null),
                    })
                })
                .collect(),
        }
    }
}

impl Manifest {
    pub fn component(&self, kind: ComponentKind, name: &str) -> Option<&ComponentInfo> {
        self.components.iter().find(|c| c.kind == kind && c.name == name)
    }
}

impl fmt::Display for Manifest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} (ABI {}", self.plugin_name, self.plugin_version, self.abi)?;
        if let Some(t) = &self.libtorch_version {
            write!(f, ", libtorch {t}")?;
        }
        writeln!(f, ")")?;
        for c in &self.components {
            writeln!(f, "  {:<15} {:<20} {}", c.kind.key(), c.name, c.description)?;
            let props = c.config_schema.get("properties").and_then(|p| p.as_object());
            if let Some(props) = props.filter(|p| !p.is_empty()) {
                let keys: Vec<&str> = props.keys().map(|k| k.as_str()).collect();
                writeln!(f, "  {:<15} {:<20} config: {}", "", "", keys.join(", "))?;
            }
        }
        Ok(())
    }
}
