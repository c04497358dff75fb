//! The server as a child process (started, signalled, measured, restarted on the same
//! database and port) and a browser-like client with its own cookie jar.

use std::{
    fs::File,
    os::unix::process::CommandExt,
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    sync::Arc,
    time::Duration,
};

use reqwest::{cookie::CookieStore, StatusCode};
use serde_json::{json, Value};
use tokio::time::{timeout, Instant};

use crate::sse::SseStream;

/// Longest any single wait may take (a response, an event, a start-up).
pub const WAIT: Duration = Duration::from_secs(15);
/// Shared by every run of a server, so sessions survive its restart.
const COOKIE_SECRET: &str = "fault-tests-cookie-secret-0123456789abcdef";

/// Several server processes at once would only slow each other on a small machine.
pub static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A `gif-chat` process on its own database, killed (and its files and database removed)
/// when dropped; its logs are printed if the test failed.
pub struct Server {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
    database_url: String,
    /// (admin URL, database name) of a PostgreSQL database to drop at the end.
    postgres: Option<(String, String)>,
    env: Vec<(String, String)>,
    runs: usize,
}

impl Server {
    /// A fresh database and a server on it, with `env` on top of the test settings.
    pub async fn start(backend: Backend, env: &[(&str, &str)]) -> Self {
        let dir = std::env::temp_dir().join(format!("gifchat-faults-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let (database_url, postgres) = match backend {
            Backend::Sqlite => (format!("sqlite://{}", dir.join("chat.db").display()), None),
            Backend::Postgres => {
                let (admin, name, url) = fresh_postgres_database().await;
                (url, Some((admin, name)))
            }
        };
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut server = Self { child: None, port: 0, dir, database_url, postgres, env, runs: 0 };
        for attempt in 1..=3 {
            server.port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
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
        let mut command = Command::new(env!("CARGO_BIN_EXE_gif-chat"));
        command
            .env_clear()
            // Not the repository: a developer's .env there must not leak into the test.
            .current_dir(&self.dir)
            .env("HOST", "127.0.0.1")
            .env("PORT", self.port.to_string())
            .env("DATABASE_URL", &self.database_url)
            .env("COOKIE_SECRET", COOKIE_SECRET)
            .env("STATIC_DIR", concat!(env!("CARGO_MANIFEST_DIR"), "/static"))
            .env("RATE_LIMIT_BURST", "0")
            .env("NEW_SESSION_BURST", "0")
            .env("RUST_LOG", "warn")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(File::options().create(true).append(true).open(&log).unwrap())
            .stderr(File::options().append(true).open(&log).unwrap());
        // Should the test process be killed outright, its server goes with it.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = command.spawn().expect("the gif-chat binary starts");
        install_crypto();
        let http = reqwest::Client::builder().timeout(Duration::from_secs(1)).build().unwrap();
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return Err(format!("exited ({status}):\n{}", std::fs::read_to_string(&log).unwrap_or_default()));
            }
            if http.get(format!("{}/healthz", self.url())).send().await.is_ok_and(|r| r.status() == StatusCode::OK) {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err(format!("not healthy within {WAIT:?}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
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

    fn pid(&self) -> libc::pid_t {
        libc::pid_t::try_from(self.child.as_ref().expect("the server runs").id()).unwrap()
    }

    pub fn sigterm(&self) {
        assert_eq!(unsafe { libc::kill(self.pid(), libc::SIGTERM) }, 0, "SIGTERM the server");
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

    /// A sample's value from `/metrics`, e.g. `gifchat_lag_catch_ups_total`.
    pub async fn metric(&self, sample: &str) -> f64 {
        let response = timeout(WAIT, Browser::new(&self.url()).http.get(self.url() + "/metrics").send()).await;
        let response = response.expect("/metrics in time").unwrap();
        let text = response.text().await.unwrap();
        let prefix = format!("{sample} ");
        text.lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("/metrics has no {sample}"))
            .parse()
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            for run in 1..=self.runs {
                let log = std::fs::read_to_string(self.log_path(run)).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                eprintln!("--- server run {run} log (last {} lines) ---", tail.len());
                for line in tail.into_iter().rev() {
                    eprintln!("{line}");
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some((admin, name)) = self.postgres.take() {
            drop_postgres_database(admin, name);
        }
    }
}

/// A new database on the test PostgreSQL server; fails loudly (never skips) without one.
async fn fresh_postgres_database() -> (String, String, String) {
    use sqlx::Connection;
    let admin = std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".into());
    let mut connection = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|err| panic!("PostgreSQL must be reachable at {admin} for the postgres tests: {err}"));
    // The `gifchat_test_` prefix lets .ci/run sweep databases a killed run left behind.
    let name = format!("gifchat_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut connection).await.expect("create a test database");
    let (base, _) = admin.rsplit_once('/').expect("the database URL ends with /dbname");
    let url = format!("{base}/{name}");
    (admin, name, url)
}

/// Best effort, from Drop: on its own thread, as Drop may run inside the test's runtime.
fn drop_postgres_database(admin: String, name: String) {
    let _ = std::thread::spawn(move || {
        use sqlx::Connection;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
        runtime.block_on(async {
            let mut connection =
                timeout(Duration::from_secs(5), sqlx::PgConnection::connect(&admin)).await.ok()?.ok()?;
            let statement = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            timeout(Duration::from_secs(10), sqlx::query(&statement).execute(&mut connection)).await.ok()?.ok()
        })
    })
    .join();
}

/// reqwest is built with rustls (for the HTTPS tests) and needs a process-wide provider.
fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// One browser: its own cookie jar, so its own anonymous user, valid across restarts.
#[derive(Clone)]
pub struct Browser {
    pub http: reqwest::Client,
    jar: Arc<reqwest::cookie::Jar>,
    base: String,
}

impl Browser {
    pub fn new(base: &str) -> Self {
        install_crypto();
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let http = reqwest::Client::builder().cookie_provider(jar.clone()).timeout(WAIT).build().unwrap();
        Self { http, jar, base: base.to_owned() }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn expect(response: reqwest::Response, status: StatusCode) -> Value {
        let (got, url) = (response.status(), response.url().clone());
        let text = response.text().await.unwrap();
        assert_eq!(got, status, "{url}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    pub async fn post(&self, path: &str, body: Value) -> reqwest::Result<reqwest::Response> {
        // Like the front-end: a session (GET /api/me) before the first write.
        if self.jar.cookies(&self.base.parse().unwrap()).is_none() {
            self.http.get(self.url("/api/me")).send().await?;
        }
        self.http.post(self.url(path)).json(&body).send().await
    }

    /// The session cookie (`name=value`), after making sure there is one.
    pub async fn cookie(&self) -> String {
        Self::expect(self.http.get(self.url("/api/me")).send().await.unwrap(), StatusCode::OK).await;
        let cookie = self.jar.cookies(&self.base.parse().unwrap()).expect("a session cookie");
        cookie.to_str().unwrap().to_owned()
    }

    pub async fn create_room(&self, body: Value) -> String {
        let room = Self::expect(self.post("/api/rooms", body).await.unwrap(), StatusCode::CREATED).await;
        room["id"].as_str().unwrap().to_owned()
    }

    pub async fn join(&self, room: &str) {
        Self::expect(self.post(&format!("/api/rooms/{room}/join"), json!({})).await.unwrap(), StatusCode::OK).await;
    }

    /// Posts a chat, asserting 201; returns the stored message.
    pub async fn say(&self, room: &str, text: &str) -> Value {
        let response = self.post(&format!("/api/rooms/{room}/messages"), json!({ "text": text })).await.unwrap();
        Self::expect(response, StatusCode::CREATED).await
    }

    /// Opens the room's SSE stream, resuming after `last_event_id` when given.
    pub async fn sse(&self, room: &str, last_event_id: Option<i64>) -> SseStream {
        // No overall timeout on a stream that lasts; each read is bounded by the caller.
        let http = reqwest::Client::builder().cookie_provider(self.jar.clone()).build().unwrap();
        let mut request =
            http.get(self.url(&format!("/api/rooms/{room}/events"))).header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        let response = timeout(WAIT, request.send()).await.expect("a stream in time").unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{}", response.text().await.unwrap_or_default());
        SseStream::new(response)
    }

    /// Opens the room's WebSocket, resuming after `after` when given.
    pub async fn ws(&self, room: &str, after: Option<i64>) -> Socket {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let cookie = self.cookie().await;
        let query = after.map(|id| format!("?after={id}")).unwrap_or_default();
        let url = self.url(&format!("/api/rooms/{room}/ws{query}")).replacen("http://", "ws://", 1);
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert("cookie", cookie.parse().unwrap());
        let connected = timeout(WAIT, tokio_tungstenite::connect_async(request)).await.expect("a handshake in time");
        connected.expect("the WebSocket opens").0
    }

    /// Every stored message of the room, oldest first.
    pub async fn history(&self, room: &str) -> Vec<Value> {
        let mut all: Vec<Value> = Vec::new();
        loop {
            let after = all.last().map_or(0, |m| m["id"].as_i64().unwrap());
            let path = format!("/api/rooms/{room}/messages?after={after}&limit=200");
            let page = Self::expect(self.http.get(self.url(&path)).send().await.unwrap(), StatusCode::OK).await;
            let messages = page["messages"].as_array().unwrap();
            if messages.is_empty() {
                return all;
            }
            all.extend(messages.iter().cloned());
        }
    }
}

pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;
