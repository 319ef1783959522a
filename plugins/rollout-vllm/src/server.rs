//! A vLLM server the engine starts and owns (`launch` mode).
//!
//! The server must never outlive the process that started it, however that process ends:
//!
//! - it runs in a process group of its own, so stopping it reaches the engine-core processes
//!   vLLM forks as well as the API server;
//! - its API server gets `PR_SET_PDEATHSIG` (SIGKILL), set between fork and exec. The signal is
//!   tied to the *thread* that forked, so the fork happens on a supervisor thread that lives
//!   exactly as long as the child (it waits for it);
//! - a watchdog (`/bin/sh`, signals ignored) holds the read end of a pipe whose only write end
//!   is ours: when our process dies, even by SIGKILL, the kernel closes it, the watchdog reads
//!   EOF and stops the whole group (SIGTERM, then SIGKILL);
//! - dropping the [`ManagedServer`] (normal exit, an error, a failed start) stops the group
//!   directly and waits for it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lrpo_core::{Error, Result};

use crate::config::LaunchConfig;

/// How long a stopping server may take after SIGTERM before its group is killed.
const GRACE: Duration = Duration::from_secs(5);

/// Whether the managed server has exited, and how. Shared with the HTTP client so that a call
/// to a dead server fails at once instead of retrying until its deadline.
#[derive(Debug, Clone, Default)]
pub struct Liveness(Arc<Mutex<Option<String>>>);

impl Liveness {
    /// `Some(how it ended)` once the server process has exited.
    pub fn exited(&self) -> Option<String> {
        self.0.lock().map(|s| s.clone()).unwrap_or_else(|p| p.into_inner().clone())
    }
    fn set(&self, how: String) {
        match self.0.lock() {
            Ok(mut s) => *s = Some(how),
            Err(p) => *p.into_inner() = Some(how),
        }
    }
}

/// A running server child and its watchdog.
#[derive(Debug)]
pub struct ManagedServer {
    pub url: String,
    pub port: u16,
    pub log_file: PathBuf,
    pub pid: u32,
    liveness: Liveness,
    watchdog: Option<Child>,
    supervisor: Option<JoinHandle<()>>,
}

/// A port on 127.0.0.1 that nothing listens on right now.
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| Error::io("127.0.0.1:0", e))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| Error::io("127.0.0.1:0", e))
}

fn fill(arg: &str, model_dir: &Path, model: &str, port: u16) -> String {
    arg.replace("{model_dir}", &model_dir.display().to_string())
        .replace("{model}", model)
        .replace("{port}", &port.to_string())
}

/// What the kernel says about how `status` ended.
fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(sig)) => format!("was killed by signal {sig}"),
        _ => status.to_string(),
    }
}

impl ManagedServer {
    /// Starts `launch` with its output appended to `log_file`. Returns once the process runs;
    /// [`wait_ready`](Self::wait_ready) waits for it to serve.
    pub fn start(launch: &LaunchConfig, model: &str, model_dir: &Path, log_file: &Path) -> Result<ManagedServer> {
        let port = if launch.port == 0 { free_port()? } else { launch.port };
        let args: Vec<String> =
            launch.args.iter().chain(&launch.extra_args).map(|a| fill(a, model_dir, model, port)).collect();
        if let Some(dir) = log_file.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir.display(), e))?;
        }
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_file)
            .map_err(|e| Error::config("launch.log_file", format!("{}: {e}", log_file.display())))?;
        // Values of `launch.env` may be secrets; their names say enough.
        let env_names: Vec<&str> = launch.env.keys().map(String::as_str).collect();
        writeln!(log, "== lrpo: starting `{} {}` (extra env: {env_names:?})", launch.program, args.join(" "))
            .map_err(|e| Error::io(log_file.display(), e))?;
        let err_log = log.try_clone().map_err(|e| Error::io(log_file.display(), e))?;

        let mut command = Command::new(&launch.program);
        command
            .args(&args)
            .envs(&launch.env)
            .env("VLLM_SERVER_DEV_MODE", "1")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err_log);
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: only async-signal-safe calls (setpgid, prctl, getppid, _exit) run between
        // fork and exec.
        unsafe {
            command.pre_exec(move || {
                if libc::setpgid(0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent may have died before the death signal was armed.
                if libc::getppid() != parent {
                    libc::_exit(1);
                }
                Ok(())
            });
        }

        let liveness = Liveness::default();
        let (tx, rx) = mpsc::channel();
        let seen = liveness.clone();
        let program = launch.program.clone();
        let supervisor = std::thread::Builder::new()
            .name("vllm-server".into())
            .spawn(move || match command.spawn() {
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
                Ok(mut child) => {
                    let _ = tx.send(Ok(child.id()));
                    let how = match child.wait() {
                        Ok(status) => describe(status),
                        Err(e) => format!("could not be waited for: {e}"),
                    };
                    tracing::debug!("vllm server `{program}` {how}");
                    seen.set(how);
                }
            })
            .map_err(|e| Error::runtime(format!("vllm: starting the supervisor thread: {e}")))?;
        let pid = match rx.recv() {
            Ok(Ok(pid)) => pid,
            Ok(Err(e)) => {
                let _ = supervisor.join();
                return Err(Error::config("launch.program", format!("`{}` could not be started: {e}", launch.program)));
            }
            Err(_) => return Err(Error::runtime("vllm: the supervisor thread ended before the server started")),
        };
        let mut server = ManagedServer {
            url: format!("http://127.0.0.1:{port}"),
            port,
            log_file: log_file.to_path_buf(),
            pid,
            liveness,
            watchdog: None,
            supervisor: Some(supervisor),
        };
        server.watchdog = Some(watchdog(pid)?);
        tracing::info!("vllm: started server pid {pid} on {} (log {})", server.url, log_file.display());
        Ok(server)
    }

    pub fn liveness(&self) -> Liveness {
        self.liveness.clone()
    }

    /// Polls `GET /health` until it answers 200; fails when the process exits first or
    /// `timeout` passes, with the end of the server's log.
    pub fn wait_ready(&self, timeout: Duration) -> Result<()> {
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(5)))
                .proxy(None)
                .build(),
        );
        let url = format!("{}/health", self.url);
        let started = Instant::now();
        loop {
            if let Some(how) = self.liveness.exited() {
                return Err(Error::config(
                    "launch",
                    format!("the vLLM server {how} before it served {url}; {}", self.log_tail()),
                ));
            }
            if let Ok(r) = agent.get(&url).call() {
                if r.status() == 200 {
                    tracing::info!("vllm: server ready after {:.0} s", started.elapsed().as_secs_f64());
                    return Ok(());
                }
            }
            if started.elapsed() > timeout {
                return Err(Error::config(
                    "launch.start_timeout_s",
                    format!(
                        "{url} did not answer within {:.0} s (a cold start can take minutes; raise \
                         launch.start_timeout_s); {}",
                        timeout.as_secs_f64(),
                        self.log_tail()
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// The last lines of the server's log, for errors.
    pub fn log_tail(&self) -> String {
        format!("last lines of {}:\n{}", self.log_file.display(), tail(&self.log_file, 20))
    }

    fn stop(&mut self) {
        // The watchdog goes first: once the group is gone its id may be reused.
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
        let group = -(self.pid as libc::pid_t);
        // SAFETY: plain syscalls on the group this engine created.
        unsafe { libc::kill(group, libc::SIGTERM) };
        let deadline = Instant::now() + GRACE;
        while self.liveness.exited().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        // vLLM's engine processes may outlive the API server; they share its group.
        unsafe { libc::kill(group, libc::SIGKILL) };
        if let Some(s) = self.supervisor.take() {
            let _ = s.join();
        }
        tracing::info!("vllm: stopped server pid {}", self.pid);
    }
}

impl Drop for ManagedServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The watchdog: stops the server's group once our end of its stdin closes.
fn watchdog(pid: u32) -> Result<Child> {
    // dash's kill takes `-PGID` but refuses `--`.
    let script = format!(
        "trap '' INT TERM HUP QUIT; read _; kill -TERM -{pid} 2>/dev/null; sleep {}; kill -KILL -{pid} 2>/dev/null",
        GRACE.as_secs()
    );
    Command::new("/bin/sh")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Error::runtime(format!("vllm: starting the server's watchdog (/bin/sh): {e}")))
}

/// The last `lines` lines of a file (at most its last 64 KiB).
pub fn tail(path: &Path, lines: usize) -> String {
    let Ok(mut f) = File::open(path) else { return String::from("(no log)") };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alive(pid: u32) -> bool {
        // A zombie still answers kill(0); /proc says whether it is running.
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'))
            .unwrap_or(false)
    }

    fn sleeper(dir: &Path, script: &str) -> (LaunchConfig, PathBuf) {
        let launch = LaunchConfig {
            program: "/bin/sh".into(),
            args: vec!["-c".into(), script.into()],
            ..LaunchConfig::default()
        };
        (launch, dir.join("vllm.log"))
    }

    #[test]
    fn a_dropped_server_takes_its_whole_group_with_it() {
        let dir = tempfile::tempdir().unwrap();
        // A child of the server stands in for vLLM's engine-core process.
        let (launch, log) = sleeper(dir.path(), "sleep 300 & echo child $!; echo port {port}; wait");
        let server = ManagedServer::start(&launch, "m", dir.path(), &log).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let grandchild = loop {
            let text = std::fs::read_to_string(&log).unwrap();
            if let Some(pid) = text.lines().find_map(|l| l.strip_prefix("child ")) {
                break pid.trim().parse::<u32>().unwrap();
            }
            assert!(Instant::now() < deadline, "no child line in {text}");
            std::thread::sleep(Duration::from_millis(20));
        };
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.contains(&format!("port {}", server.port)), "{{port}} is filled in: {text}");
        assert!(text.contains("== lrpo: starting `/bin/sh -c"), "{text}");
        let pid = server.pid;
        assert!(alive(pid) && alive(grandchild));
        drop(server);
        assert!(!alive(pid), "the server survived its drop");
        let deadline = Instant::now() + Duration::from_secs(2);
        while alive(grandchild) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!alive(grandchild), "the server's own child survived");
    }

    /// Reads `child PID` and `server PID` lines the owner process writes.
    fn pids_in(log: &Path) -> (u32, u32) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let find = |tag: &str| text.lines().find_map(|l| l.strip_prefix(tag)?.trim().parse::<u32>().ok());
            if let (Some(s), Some(c)) = (find("server "), find("child ")) {
                return (s, c);
            }
            assert!(Instant::now() < deadline, "no pids in {text}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Not a test on its own: the owner process of the test below, started as this test binary.
    #[test]
    #[ignore]
    fn owner_process() {
        let Some(log) = std::env::var_os("LRPO_VLLM_TEST_OWNER_LOG") else { return };
        let log = PathBuf::from(log);
        let (launch, _) = sleeper(log.parent().unwrap(), "sleep 300 & echo child $!; wait");
        let server = ManagedServer::start(&launch, "m", log.parent().unwrap(), &log).unwrap();
        let mut f = OpenOptions::new().append(true).open(&log).unwrap();
        writeln!(f, "server {}", server.pid).unwrap();
        std::thread::sleep(Duration::from_secs(300));
    }

    #[test]
    fn the_group_dies_with_its_owner_even_by_sigkill() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("vllm.log");
        let mut owner = Command::new(std::env::current_exe().unwrap())
            .args(["server::tests::owner_process", "--exact", "--ignored", "--test-threads=1"])
            .env("LRPO_VLLM_TEST_OWNER_LOG", &log)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let (server, child) = pids_in(&log);
        assert!(alive(server) && alive(child));
        owner.kill().unwrap();
        owner.wait().unwrap();
        // The death signal takes the server at once; the watchdog takes the rest of its group.
        let deadline = Instant::now() + GRACE + Duration::from_secs(3);
        while (alive(server) || alive(child)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(!alive(server), "the server outlived its owner");
        assert!(!alive(child), "the server's child outlived the owner");
    }

    #[test]
    fn a_server_that_exits_early_fails_the_start_with_its_log() {
        let dir = tempfile::tempdir().unwrap();
        let (launch, log) = sleeper(dir.path(), "echo cannot bind the port >&2; exit 3");
        let server = ManagedServer::start(&launch, "m", dir.path(), &log).unwrap();
        let e = server.wait_ready(Duration::from_secs(20)).unwrap_err().to_string();
        assert!(e.contains("exited with status 3 before it served http://127.0.0.1:"), "{e}");
        assert!(e.contains("cannot bind the port"), "{e}");
    }

    #[test]
    fn a_server_that_never_answers_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let (launch, log) = sleeper(dir.path(), "sleep 30");
        let server = ManagedServer::start(&launch, "m", dir.path(), &log).unwrap();
        let started = Instant::now();
        let e = server.wait_ready(Duration::from_millis(800)).unwrap_err().to_string();
        assert!(e.contains("config `launch.start_timeout_s`") && e.contains("did not answer within"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_missing_program_is_a_config_error() {
        let dir = tempfile::tempdir().unwrap();
        let launch = LaunchConfig { program: "/nonexistent/python".into(), ..LaunchConfig::default() };
        let e = ManagedServer::start(&launch, "m", dir.path(), &dir.path().join("l")).unwrap_err().to_string();
        assert!(e.contains("config `launch.program`: `/nonexistent/python` could not be started"), "{e}");
    }
}
