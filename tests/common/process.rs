//! The server as a child process: started on a free port with the test settings, waited for
//! until healthy, restarted on the same port and database, signalled and measured; killed when
//! dropped (and should the test process die outright), its logs printed if the test failed.

use std::{
    fs::File,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::Duration,
};

use tokio::time::Instant;

use super::database::TestDatabase;

/// The server binary Cargo built for this test run. The server's own suites get its path from
/// Cargo; another workspace package's suite (the load generator's smoke test) finds it in the
/// same target directory, where `cargo test --workspace` builds it.
pub fn server_binary() -> PathBuf {
    if let Some(own) = option_env!("CARGO_BIN_EXE_gif-chat") {
        return own.into();
    }
    let test = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/<test> → target/<profile>/gif-chat
    let server = test.parent().and_then(Path::parent).expect("a target directory").join("gif-chat");
    assert!(server.exists(), "{} is missing: build the server too (`cargo test --workspace` does)", server.display());
    server
}

/// The server package's directory (static files, specs), whichever package's suite asks.
pub fn repository() -> &'static Path {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors().find(|dir| dir.join("static/index.html").is_file()).expect("the repository holds static/")
}
/// Longest a start-up may take.
pub const START_WAIT: Duration = Duration::from_secs(15);

/// A `gif-chat` process in a directory of its own, on its own database.
pub struct ServerProcess {
    child: Option<Child>,
    pub port: u16,
    /// Its working directory (not the repository, whose `.env` must not leak in) and logs.
    pub dir: PathBuf,
    pub database: TestDatabase,
    env: Vec<(String, String)>,
    runs: usize,
}

impl ServerProcess {
    /// A fresh temporary directory for a server (its logs, a SQLite file).
    pub fn directory(label: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("gifchat-{label}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Starts the server on `database` with `env` on top of the test settings (every simulated
    /// user may come from one address: no limit on new sessions). Retries on another port
    /// should someone take the one it picked.
    pub async fn start(dir: PathBuf, database: TestDatabase, env: &[(&str, &str)]) -> Self {
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut server = Self { child: None, port: 0, dir, database, env, runs: 0 };
        for attempt in 1..=3 {
            server.port = free_port();
            match server.spawn().await {
                Ok(()) => return server,
                Err(log) if attempt < 3 && log.contains("in use") => continue,
                Err(log) => panic!("the server did not start:\n{log}"),
            }
        }
        unreachable!()
    }

    /// Starts the server again on the same database and port (after it exited).
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "restart after the previous run exited");
        if let Err(log) = self.spawn().await {
            panic!("the server did not start again:\n{log}");
        }
    }

    async fn spawn(&mut self) -> Result<(), String> {
        self.runs += 1;
        let log = self.log_path(self.runs);
        let out = File::create(&log).unwrap();
        let mut command = Command::new(server_binary());
        command
            .env_clear()
            .current_dir(&self.dir)
            .env("HOST", "127.0.0.1")
            .env("PORT", self.port.to_string())
            .env("DATABASE_URL", &self.database.url)
            .env("STATIC_DIR", repository().join("static"))
            .env("NEW_SESSION_BURST", "0")
            .env("RUST_LOG", "warn")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        die_with_parent(&mut command, libc::SIGKILL);
        let mut child = command.spawn().expect("the gif-chat binary starts");
        match wait_until_up(&format!("{}/healthz", self.url()), &mut child).await {
            Ok(()) => {
                self.child = Some(child);
                Ok(())
            }
            Err(exit) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(format!("{exit}:\n{}", self.log(self.runs)))
            }
        }
    }

    fn log_path(&self, run: usize) -> PathBuf {
        self.dir.join(format!("server-{run}.log"))
    }

    /// The server's log of run `run` (1 for the first start).
    pub fn log(&self, run: usize) -> String {
        std::fs::read_to_string(self.log_path(run)).unwrap_or_default()
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> libc::pid_t {
        libc::pid_t::try_from(self.child.as_ref().expect("the server runs").id()).unwrap()
    }

    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        assert_eq!(unsafe { libc::kill(self.pid(), signal) }, 0, "signal {signal} to the server");
    }

    /// `kill -9`: no goodbye, no seat released, its streams cut.
    pub fn kill9(&mut self) {
        self.signal(libc::SIGKILL);
        self.child.take().unwrap().wait().unwrap();
    }

    /// Waits up to `bound` for the process to exit; panics if it does not.
    pub async fn wait_exit(&mut self, bound: Duration) -> ExitStatus {
        let child = self.child.as_mut().expect("the server runs");
        let deadline = Instant::now() + bound;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status;
            }
            assert!(Instant::now() < deadline, "the server did not exit within {bound:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// CPU time the server has used so far (user + system).
    pub fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap();
        // Fields after the command name (which is in parentheses): utime and stime are 12 and 13.
        let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        // SAFETY: sysconf has no preconditions.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
        Duration::from_millis(ticks * 1000 / per_second)
    }

    /// The server's resident memory (VmRSS), in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("a VmRSS line");
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            for run in 1..=self.runs {
                print_tail(&format!("server on port {} (run {run})", self.port), &self.log_path(run));
            }
            eprintln!("logs kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A port free on 127.0.0.1 a moment ago (the caller retries should someone take it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The child gets `signal` when the test process (strictly: the thread that spawned it, the
/// test's own, which outlives the child) dies, so a killed test run leaves nothing behind.
pub fn die_with_parent(command: &mut Command, signal: libc::c_int) {
    // SAFETY: prctl in the forked child before exec touches no memory of the parent's.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Polls `url` until it answers 200 (within [`START_WAIT`]); `Err` if the process exited
/// first or never answered.
pub async fn wait_until_up(url: &str, child: &mut Child) -> Result<(), String> {
    install_crypto();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(1)).build().unwrap();
    let deadline = Instant::now() + START_WAIT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Err(format!("exited ({status}) before answering {url}"));
        }
        if client.get(url).send().await.is_ok_and(|r| r.status() == reqwest::StatusCode::OK) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{url} did not answer within {START_WAIT:?}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// reqwest is built with rustls (for the HTTPS tests) and needs a process-wide provider.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The last 40 lines of a log, on stderr.
pub fn print_tail(label: &str, file: &Path) {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    eprintln!("--- {label} (last {} lines) ---", lines.len().min(40));
    for line in &lines[lines.len().saturating_sub(40)..] {
        eprintln!("{line}");
    }
}
