//! The server as these tests run it (a child process: `common::process`) and a browser-like
//! client with its own cookie jar.

use std::{sync::Arc, time::Duration};

use reqwest::{cookie::CookieStore, StatusCode};
use serde_json::{json, Value};
use tokio::time::timeout;

use crate::sse::SseStream;

/// Longest any single wait may take (a response, an event, a start-up).
pub const WAIT: Duration = Duration::from_secs(15);
/// Shared by every run of a server, so sessions survive its restart.
const COOKIE_SECRET: &str = "fault-tests-cookie-secret-0123456789abcdef";

/// Several server processes at once would only slow each other on a small machine.
pub static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub use crate::common::database::Backend;
use crate::common::{
    database::TestDatabase,
    process::{install_crypto, ServerProcess},
};

/// A `gif-chat` process on its own database (see `common::process`), with the settings these
/// tests share: one cookie secret across restarts, no write limit.
pub struct Server(ServerProcess);

impl std::ops::Deref for Server {
    type Target = ServerProcess;

    fn deref(&self) -> &ServerProcess {
        &self.0
    }
}

impl std::ops::DerefMut for Server {
    fn deref_mut(&mut self) -> &mut ServerProcess {
        &mut self.0
    }
}

impl Server {
    /// A fresh database and a server on it, with `env` on top of the test settings.
    pub async fn start(backend: Backend, env: &[(&str, &str)]) -> Self {
        let dir = ServerProcess::directory("faults");
        let database = TestDatabase::new(backend, &dir).await;
        let mut settings = vec![("COOKIE_SECRET", COOKIE_SECRET), ("RATE_LIMIT_BURST", "0")];
        settings.extend_from_slice(env);
        Self(ServerProcess::start(dir, database, &settings).await)
    }

    pub fn sigterm(&self) {
        self.signal(libc::SIGTERM);
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
