//! One writer per run directory: an advisory lock (`flock` through std's `File::try_lock`) on
//! `<run dir>/.lock`, holding the writer's pid so a refused second writer can say who has it.
//! Taken before anything in the directory is changed (a resume truncates the JSONL files) and
//! released when the run ends or the process dies, so a killed run never leaves it stale.

use lrpo_core::{Error, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

pub struct RunLock {
    _file: File,
}

impl RunLock {
    /// Locks `run_dir` (created if missing), or explains who holds it. A second writer is a
    /// usage error (exit 2): the user picked a run directory that is in use.
    pub fn acquire(run_dir: &Path) -> Result<RunLock> {
        std::fs::create_dir_all(run_dir).map_err(|e| Error::io(run_dir.display(), e))?;
        let path = run_dir.join(".lock");
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(path.display(), e))?;
        match file.try_lock() {
            Ok(()) => {
                let pid = std::process::id();
                let written = file.set_len(0).and_then(|_| file.write_all(format!("{pid}\n").as_bytes()));
                written.map_err(|e| Error::io(path.display(), e))?;
                Ok(RunLock { _file: file })
            }
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.seek(SeekFrom::Start(0)).and_then(|_| file.read_to_string(&mut holder));
                let holder = match holder.trim() {
                    "" => "another lrpo-host process".to_string(),
                    pid => format!("lrpo-host (pid {pid})"),
                };
                Err(Error::input(
                    run_dir.display().to_string(),
                    format!("{holder} is writing to this run directory; wait for it to finish or set another run.name"),
                ))
            }
            Err(TryLockError::Error(e)) => Err(Error::io(path.display(), format!("cannot lock: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = RunLock::acquire(dir.path()).unwrap();
        let err = RunLock::acquire(dir.path()).err().expect("the directory is locked");
        let text = err.to_string();
        assert!(text.contains(&format!("lrpo-host (pid {}) is writing", std::process::id())), "{text}");
        assert!(err.is_usage());
        drop(first);
        RunLock::acquire(dir.path()).expect("released with its owner");
    }
}
