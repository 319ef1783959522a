//! Data-parallel runs: several lrpo-host processes (ranks, started by torchrun or srun) train
//! one policy. Each rank rolls out, scores and differentiates its share of a step's question
//! groups; the optimizer sums gradients over the ranks (through [`lrpo_sdk::collective`]), so
//! every rank makes the same update, and the host gathers what the router and the metrics need.
//! Rank 0 alone writes the run directory.
//!
//! The collectives are PyTorch's own (gloo on CPU, NCCL on CUDA), driven through an embedded
//! interpreter ([`python`]); a build without the `distributed` feature runs single processes only.

mod env;
#[cfg(feature = "distributed")]
mod python;

pub use env::{rank_env, RankEnv, VARIABLES};

use crate::config::{ComponentsConfig, DistributedConfig, RawConfig};
use lrpo_core::{ComponentKind, Error, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::ops::Range;

/// This process's place among the run's ranks; a single-process run is rank 0 of 1, whose
/// collectives return their input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ranks {
    rank: usize,
    size: usize,
}

impl Default for Ranks {
    fn default() -> Self {
        Ranks::single()
    }
}

/// The backend `backend = "auto"` means: NCCL when any optimizer computes on CUDA.
fn backend(cfg: &DistributedConfig, components: &ComponentsConfig) -> Result<&'static str> {
    match cfg.backend.as_str() {
        "gloo" => Ok("gloo"),
        "nccl" => Ok("nccl"),
        "auto" => {
            let cuda = components
                .of(ComponentKind::Optimizer)
                .values()
                .any(|inst| inst.config.get("device").and_then(|d| d.as_str()).is_some_and(|d| d.starts_with("cuda")));
            Ok(if cuda { "nccl" } else { "gloo" })
        }
        other => Err(Error::config("distributed.backend", format!("`{other}`: use auto, gloo or nccl"))),
    }
}

impl Ranks {
    pub fn single() -> Ranks {
        Ranks { rank: 0, size: 1 }
    }

    /// Joins the run's process group when the environment names several ranks (torchrun's
    /// variables, [`VARIABLES`]); a single process otherwise. Call before any plugin library
    /// opens: the libraries learn the world when they load.
    pub fn join(raw: &RawConfig) -> Result<Ranks> {
        let Some(env) = rank_env(|k| std::env::var(k).ok())? else {
            return Ok(Ranks::single());
        };
        let cfg = &raw.distributed;
        let backend = backend(cfg, &raw.components)?;
        if cfg.timeout_s == 0 {
            return Err(Error::config("distributed.timeout_s", "0: a collective needs time to finish"));
        }
        // Equal shares of whole groups, or the ranks' gradients would weigh rows unequally
        // (and the run would not be the 1-rank run over the same batch).
        let groups = raw.data.train_batch_size / raw.data.group_size.max(1);
        if !groups.is_multiple_of(env.size) {
            return Err(Error::config(
                "data.train_batch_size",
                format!(
                    "{groups} question groups per step ({} rows of {}) do not split evenly over {} ranks \
                     (WORLD_SIZE); use a multiple of {} groups",
                    raw.data.train_batch_size, raw.data.group_size, env.size, env.size
                ),
            ));
        }
        join_group(&env, backend, cfg.timeout_s)
    }

    pub fn rank(&self) -> usize {
        self.rank
    }
    pub fn size(&self) -> usize {
        self.size
    }
    /// The rank that writes the run directory (metrics, logs, checkpoints, exports).
    pub fn is_writer(&self) -> bool {
        self.rank == 0
    }

    /// This rank's contiguous block of `0..n`; the first `n % size` ranks take one more.
    pub fn share(&self, n: usize) -> Range<usize> {
        let (base, extra) = (n / self.size, n % self.size);
        let start = self.rank * base + self.rank.min(extra);
        start..start + base + usize::from(self.rank < extra)
    }

    /// Every rank's `value`, in rank order.
    pub fn all_gather<T: Serialize + DeserializeOwned>(&self, value: T) -> Result<Vec<T>> {
        if self.size == 1 {
            return Ok(vec![value]);
        }
        let bytes = serde_json::to_vec(&value).map_err(|e| Error::runtime(format!("encoding for the ranks: {e}")))?;
        gather_bytes(&bytes)?
            .iter()
            .map(|b| serde_json::from_slice(b).map_err(|e| Error::runtime(format!("decoding from the ranks: {e}"))))
            .collect()
    }

    /// Fails on every rank unless every rank holds the same `fingerprint` of `what`: state that
    /// must stay identical (the router, the optimizer) is checked, not assumed.
    pub fn agree(&self, what: &str, fingerprint: u64) -> Result<()> {
        let all = self.all_gather(fingerprint)?;
        if all.iter().all(|f| *f == all[0]) {
            return Ok(());
        }
        let list: Vec<String> = all.iter().enumerate().map(|(r, f)| format!("rank {r}: {f:016x}")).collect();
        Err(Error::runtime(format!("the ranks' {what} differ ({}): the ranks have drifted apart", list.join(", "))))
    }

    /// Leaves the process group (the end of a run).
    pub fn leave(&self) {
        #[cfg(feature = "distributed")]
        if self.size > 1 {
            python::shutdown();
        }
    }
}

/// A 64-bit fingerprint of bytes for [`Ranks::agree`]: FNV-1a over 8-byte words (a checkpoint's
/// optimizer state runs to gigabytes, so a word at a time), then the tail bytes and the length.
/// Not a security hash.
pub fn fingerprint(bytes: &[u8]) -> u64 {
    const PRIME: u64 = 0x0100_0000_01b3;
    let mut words = bytes.chunks_exact(8);
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for w in &mut words {
        h = (h ^ u64::from_le_bytes(w.try_into().expect("8 bytes"))).wrapping_mul(PRIME);
    }
    for b in words.remainder() {
        h = (h ^ u64::from(*b)).wrapping_mul(PRIME);
    }
    (h ^ bytes.len() as u64).wrapping_mul(PRIME)
}

#[cfg(feature = "distributed")]
fn join_group(env: &RankEnv, backend: &str, timeout_s: u64) -> Result<Ranks> {
    tracing::info!(
        "rank {} of {}: joining the {backend} process group at {} (timeout {timeout_s} s)",
        env.rank,
        env.size,
        env.master
    );
    let (rank, size) = python::init(backend, timeout_s, env.local_rank)?;
    if (rank, size) != (env.rank, env.size) {
        return Err(Error::runtime(format!(
            "torch.distributed placed this process as rank {rank} of {size}, the environment says {} of {}",
            env.rank, env.size
        )));
    }
    lrpo_sdk::host::set_world(lrpo_sdk::host::HostWorld {
        rank,
        size,
        local_rank: env.local_rank,
        all_reduce_sum: python::all_reduce_sum,
    });
    Ok(Ranks { rank, size })
}

#[cfg(not(feature = "distributed"))]
fn join_group(env: &RankEnv, _backend: &str, _timeout_s: u64) -> Result<Ranks> {
    Err(Error::input(
        "environment variable WORLD_SIZE",
        format!("{}: this lrpo-host was built without the `distributed` feature", env.size),
    ))
}

#[cfg(feature = "distributed")]
fn gather_bytes(bytes: &[u8]) -> Result<Vec<Vec<u8>>> {
    python::all_gather_bytes(bytes)
}

#[cfg(not(feature = "distributed"))]
fn gather_bytes(_bytes: &[u8]) -> Result<Vec<Vec<u8>>> {
    Err(Error::runtime("a collective in a build without the `distributed` feature"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_every_item_once_in_order() {
        for (n, size) in [(8, 2), (7, 3), (2, 4), (0, 2), (5, 1)] {
            let mut all = Vec::new();
            for rank in 0..size {
                let share = Ranks { rank, size }.share(n);
                assert!(share.len() == n / size || share.len() == n / size + 1, "{n} over {size}: {share:?}");
                all.extend(share);
            }
            assert_eq!(all, (0..n).collect::<Vec<_>>(), "{n} over {size}");
        }
    }

    #[test]
    fn one_rank_gathers_and_agrees_with_itself() {
        let one = Ranks::single();
        assert_eq!(one.all_gather(vec![1.5f64]).unwrap(), vec![vec![1.5]]);
        one.agree("router state", fingerprint(b"x")).unwrap();
        assert!(one.is_writer());
        assert_ne!(fingerprint(b"a"), fingerprint(b"b"));
        assert_ne!(fingerprint(b"12345678a"), fingerprint(b"12345678b"), "the tail counts");
        assert_ne!(fingerprint(&[0; 8]), fingerprint(&[0; 16]), "so does the length");
    }

    #[test]
    fn auto_picks_nccl_only_for_a_cuda_optimizer() {
        let mut raw = crate::config::RawConfig::default();
        let cfg = DistributedConfig::default();
        assert_eq!(backend(&cfg, &raw.components).unwrap(), "gloo");
        raw.components =
            toml::from_str("[optimizer.grpo]\nplugin = \"p\"\nkind = \"grpo\"\nconfig = { device = \"cuda\" }\n")
                .unwrap();
        assert_eq!(backend(&cfg, &raw.components).unwrap(), "nccl");
        let gloo = DistributedConfig { backend: "gloo".into(), ..cfg.clone() };
        assert_eq!(backend(&gloo, &raw.components).unwrap(), "gloo");
        let bad = DistributedConfig { backend: "mpi".into(), ..cfg };
        assert!(backend(&bad, &raw.components).unwrap_err().to_string().contains("use auto, gloo or nccl"));
    }
}
