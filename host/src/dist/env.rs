//! A rank's place in the run, read from the environment torchrun (or srun, or a user) sets.

use lrpo_core::{Error, Result};

/// The variables torch.distributed's `env://` rendezvous reads; all are needed once one is set.
pub const VARIABLES: [&str; 5] = ["WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RankEnv {
    pub rank: usize,
    pub size: usize,
    pub local_rank: usize,
    pub master: String,
}

fn missing(name: &str, message: impl Into<String>) -> Error {
    Error::input(format!("environment variable {name}"), message)
}

/// `None` when the process is not one of several ranks: none of the variables set, or
/// `WORLD_SIZE=1` (torchrun with one process). `lookup` is `std::env::var` outside tests.
pub fn rank_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<RankEnv>> {
    let set: Vec<&str> = VARIABLES.iter().copied().filter(|v| lookup(v).is_some()).collect();
    if set.is_empty() {
        return Ok(None);
    }
    let number = |name: &str| -> Result<usize> {
        let text = lookup(name).ok_or_else(|| {
            missing(
                name,
                format!(
                    "not set, but {} is: a data-parallel run needs all of {} (torchrun sets them)",
                    set.join(", "),
                    VARIABLES.join(", ")
                ),
            )
        })?;
        text.trim().parse().map_err(|_| missing(name, format!("`{text}` is not a whole number")))
    };
    let size = number("WORLD_SIZE")?;
    if size == 0 {
        return Err(missing("WORLD_SIZE", "0: a run needs at least one rank"));
    }
    let rank = number("RANK")?;
    if rank >= size {
        return Err(missing("RANK", format!("{rank}, but ranks are 0..{} for WORLD_SIZE={size}", size - 1)));
    }
    let local_rank = number("LOCAL_RANK")?;
    let port = number("MASTER_PORT")?;
    if port == 0 || port > 65535 {
        return Err(missing("MASTER_PORT", format!("{port} is not a TCP port")));
    }
    let addr = lookup("MASTER_ADDR").filter(|a| !a.trim().is_empty()).ok_or_else(|| {
        missing("MASTER_ADDR", "not set: the host name or address of rank 0, which every rank connects to")
    })?;
    if size == 1 {
        return Ok(None);
    }
    Ok(Some(RankEnv { rank, size, local_rank, master: format!("{addr}:{port}") }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Result<Option<RankEnv>> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        rank_env(|k| map.get(k).cloned())
    }

    const FULL: [(&str, &str); 5] = [
        ("WORLD_SIZE", "2"),
        ("RANK", "1"),
        ("LOCAL_RANK", "1"),
        ("MASTER_ADDR", "127.0.0.1"),
        ("MASTER_PORT", "29500"),
    ];

    #[test]
    fn no_variables_or_one_rank_is_a_single_process() {
        assert_eq!(env(&[]).unwrap(), None);
        let one = [("WORLD_SIZE", "1"), ("RANK", "0"), ("LOCAL_RANK", "0"), ("MASTER_ADDR", "h"), ("MASTER_PORT", "1")];
        assert_eq!(env(&one).unwrap(), None);
    }

    #[test]
    fn the_full_environment_gives_the_rank() {
        let got = env(&FULL).unwrap().unwrap();
        assert_eq!(got, RankEnv { rank: 1, size: 2, local_rank: 1, master: "127.0.0.1:29500".into() });
    }

    #[test]
    fn each_missing_or_bad_variable_is_named() {
        for skip in VARIABLES {
            let partial: Vec<(&str, &str)> = FULL.iter().copied().filter(|(k, _)| *k != skip).collect();
            let e = env(&partial).unwrap_err().to_string();
            assert!(e.contains(&format!("environment variable {skip}")), "{skip}: {e}");
        }
        let e = env(&[("RANK", "0")]).unwrap_err().to_string();
        assert!(e.contains("WORLD_SIZE") && e.contains("but RANK is"), "{e}");
        let mut bad = FULL;
        bad[1] = ("RANK", "2");
        assert!(env(&bad).unwrap_err().to_string().contains("ranks are 0..1"));
        bad = FULL;
        bad[0] = ("WORLD_SIZE", "two");
        assert!(env(&bad).unwrap_err().to_string().contains("`two` is not a whole number"));
        bad = FULL;
        bad[4] = ("MASTER_PORT", "70000");
        assert!(env(&bad).unwrap_err().to_string().contains("not a TCP port"));
    }
}
