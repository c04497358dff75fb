//! `spawn_app` and a small client with one method per endpoint.

use std::{pin::Pin, time::Duration};

use eventsource_stream::{Event, Eventsource};
use futures_util::{Stream, StreamExt};
use gif_chat::{state::AppState, Application, Config};
use reqwest::{header, StatusCode};
use serde_json::{json, Value};
use tokio::sync::oneshot;

/// Longest any single wait in a test may take; a stuck stream fails instead of hanging.
pub const WAIT: Duration = Duration::from_secs(10);

pub use crate::common::database::Backend;
use crate::common::database::TestDatabase;

/// Declares each listed `async fn name(backend: Backend)` as a test on both backends.
///
/// `one_thread: name, …` runs them on a single-threaded runtime (in a module `one_thread`),
/// for tests that need the server's tasks to stand still while the test does something
/// synchronous, such as publishing a burst that a subscriber must fall behind.
#[macro_export]
macro_rules! on_both_backends {
    (one_thread: $($name:ident),* $(,)?) => {
        mod one_thread {
            mod sqlite {
                $( #[tokio::test(flavor = "current_thread")]
                   async fn $name() { super::super::$name($crate::helpers::Backend::Sqlite).await } )*
            }
            mod postgres {
                $( #[tokio::test(flavor = "current_thread")]
                   async fn $name() { super::super::$name($crate::helpers::Backend::Postgres).await } )*
            }
        }
    };
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::$name($crate::helpers::Backend::Sqlite).await } )*
        }
        mod postgres {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::$name($crate::helpers::Backend::Postgres).await } )*
        }
    };
}

pub struct TestApp {
    pub address: String,
    /// Where `/metrics` is served when it has a listener of its own.
    pub metrics_address: Option<std::net::SocketAddr>,
    pub database_url: String,
    pub state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    sqlite_file: Option<std::path::PathBuf>,
    /// The PostgreSQL database made for this test, dropped with it.
    _database: Option<TestDatabase>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(file) = &self.sqlite_file {
            for suffix in ["", "-wal", "-shm", ".lock"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
            }
        }
    }
}

fn init_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        gif_chat::telemetry::init();
    }
}

/// Another instance on the same PostgreSQL database as `first`, as behind a load balancer.
pub async fn spawn_second_instance(first: &TestApp) -> TestApp {
    let url = first.database_url.clone();
    let mut app = spawn_app_with(Backend::Postgres, move |c| c.database_url = url).await;
    app.sqlite_file = None;
    app
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

pub async fn spawn_app_with(backend: Backend, configure: impl FnOnce(&mut Config)) -> TestApp {
    init_logs();
    // reqwest is built with rustls (for the HTTPS test) and needs a process-wide provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut config = Config::defaults();
    let mut sqlite_file = None;
    let mut database = None;
    config.database_url = match backend {
        Backend::Postgres => database.insert(TestDatabase::postgres().await).url.clone(),
        Backend::Sqlite => {
            let file = std::env::temp_dir().join(format!("gifchat-test-{}.db", uuid::Uuid::new_v4().simple()));
            let url = format!("sqlite://{}", file.display());
            sqlite_file = Some(file);
            url
        }
    };
    config.static_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/static").into();
    config.reap_interval = Duration::from_millis(100);
    // Instances behind one proxy must share the secret, or each rejects the others' cookies.
    config.cookie_secret = Some("integration-tests-cookie-secret-0123456789".into());
    // Most tests write faster than a person, and make more users from one address than a
    // class behind a NAT; the limits have their own tests (tests/api/abuse.rs).
    config.rate_limit_burst = 0;
    config.new_session_burst = 0;
    configure(&mut config);
    let mut app = serve(config).await;
    app.sqlite_file = sqlite_file;
    app._database = database;
    app
}

/// Builds and serves the app on a random port.
async fn serve(config: Config) -> TestApp {
    let database_url = config.database_url.clone();
    let app = Application::build(config).await.expect("app builds");
    let state = app.state().clone();
    let metrics_address = app.metrics_address();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let scheme = if app.state().config.is_tls() { "https" } else { "http" };
    let address = format!("{scheme}://{}", listener.local_addr().unwrap());
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.serve(listener, async move {
        let _ = rx.await;
    }));
    TestApp {
        address,
        metrics_address,
        database_url,
        state,
        shutdown: Some(tx),
        server: Some(server),
        sqlite_file: None,
        _database: None,
    }
}

impl TestApp {
    /// A sample's value from the public `/metrics` (0 when it is not there yet), e.g.
    /// `gifchat_lag_catch_ups_total`.
    pub async fn metric(&self, sample: &str) -> f64 {
        let text = reqwest::get(format!("{}/metrics", self.address)).await.unwrap().text().await.unwrap();
        text.lines().find_map(|line| line.strip_prefix(sample).and_then(|rest| rest.trim().parse().ok())).unwrap_or(0.0)
    }

    /// Stops the server, waits `down` (an outage), and starts it again on the same database
    /// (on another port), with the same configuration as `configure` gives.
    pub async fn restart_after(&mut self, down: Duration, configure: impl FnOnce(&mut Config)) {
        self.stop().await;
        let mut config = (*self.state.config).clone();
        // Nothing of the old process may stay connected: the new one must find itself alone.
        let placeholder = Application::build(Config { database_url: "sqlite::memory:".into(), ..config.clone() });
        self.state = placeholder.await.expect("a placeholder app").state().clone();
        tokio::time::sleep(down).await;
        configure(&mut config);
        let restarted = serve(config).await;
        self.address = restarted.address.clone();
        self.state = restarted.state.clone();
        let mut restarted = restarted;
        self.shutdown = restarted.shutdown.take();
        self.server = restarted.server.take();
    }

    /// Asks the server to shut down (as SIGTERM would) and waits until it has.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            tokio::time::timeout(WAIT, server).await.expect("the server stops in time").unwrap().unwrap();
        }
    }

    /// A new browser: its own cookie jar, so its own identity. Like the front-end, it gets its
    /// session (`GET /api/me`) before its first other request.
    pub fn client(&self) -> Client {
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        let http = reqwest::Client::builder().cookie_provider(jar.clone()).build().unwrap();
        Client::with(http, self.address.clone(), jar)
    }

    /// A browser whose connections come from `source` (a loopback address such as 127.0.0.2),
    /// so per-address limits see another client address without trusting any header.
    pub fn client_from(&self, source: &str) -> Client {
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        let http = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .local_address(source.parse::<std::net::IpAddr>().unwrap())
            .build()
            .unwrap();
        Client::with(http, self.address.clone(), jar)
    }

    /// Creates a room as a new user and returns (owner, room JSON).
    pub async fn room_with_owner(&self, body: Value) -> (Client, Value) {
        let owner = self.client();
        let response = owner.create_room(body).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let room = response.json().await.unwrap();
        (owner, room)
    }
}

#[derive(Clone)]
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub jar: std::sync::Arc<reqwest::cookie::Jar>,
    /// Set once this browser has its session cookie.
    pub session: std::sync::Arc<tokio::sync::OnceCell<()>>,
}

pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub fn id_of(value: &Value) -> String {
    value["id"].as_str().expect("an id").to_owned()
}

impl Client {
    /// A client around a ready-made reqwest client (TLS settings, say) and its cookie jar.
    pub fn with(http: reqwest::Client, base: String, jar: std::sync::Arc<reqwest::cookie::Jar>) -> Self {
        Self { http, base, jar, session: Default::default() }
    }

    /// The same browser (cookies and all) talking to a server at another address.
    pub fn at(&self, base: &str) -> Self {
        Self { base: base.to_owned(), ..self.clone() }
    }

    /// Gets a session (`GET /api/me`) unless this browser has one: only `/api/me` hands them out.
    pub async fn ensure_session(&self) {
        self.session
            .get_or_init(|| async {
                let response = self.http.get(self.url("/api/me")).send().await.unwrap();
                assert_eq!(response.status(), StatusCode::OK, "GET /api/me");
            })
            .await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Opens a WebSocket with this browser's cookie (making sure it has one first).
    pub async fn socket(&self, path: &str) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
        self.socket_with(path, &[]).await
    }

    /// Like [`Client::socket`], with extra handshake headers (`Origin`, say).
    pub async fn socket_with(
        &self,
        path: &str,
        headers: &[(&'static str, &str)],
    ) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
        use reqwest::cookie::CookieStore;
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        self.ensure_session().await;
        let mut request = self.url(path).replace("http://", "ws://").into_client_request().unwrap();
        if let Some(cookie) = self.jar.cookies(&self.base.parse().unwrap()) {
            request.headers_mut().insert("cookie", cookie);
        }
        for (name, value) in headers {
            request.headers_mut().insert(*name, value.parse().unwrap());
        }
        tokio_tungstenite::connect_async(request).await.map(|(socket, _)| socket)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        if path != "/api/me" {
            self.ensure_session().await;
        }
        self.http.get(self.url(path)).send().await.unwrap()
    }

    pub async fn post_json(&self, path: &str, body: Value) -> reqwest::Response {
        self.ensure_session().await;
        self.http.post(self.url(path)).json(&body).send().await.unwrap()
    }

    pub async fn me(&self) -> Value {
        let me = self.get("/api/me").await.json().await.unwrap();
        let _ = self.session.set(());
        me
    }

    pub async fn create_room(&self, body: Value) -> reqwest::Response {
        self.post_json("/api/rooms", body).await
    }

    pub async fn join(&self, room: &str, body: Value) -> reqwest::Response {
        self.post_json(&format!("/api/rooms/{room}/join"), body).await
    }

    /// Joins an open room, asserting success.
    pub async fn join_ok(&self, room: &str) {
        let response = self.join(room, json!({})).await;
        assert_eq!(response.status(), StatusCode::OK, "{}", response.text().await.unwrap());
    }

    pub async fn say(&self, room: &str, text: &str) -> reqwest::Response {
        self.post_json(&format!("/api/rooms/{room}/messages"), json!({ "text": text })).await
    }

    /// Posts a chat, asserting 201, and returns the stored message.
    pub async fn say_ok(&self, room: &str, text: &str) -> Value {
        let response = self.say(room, text).await;
        assert_eq!(response.status(), StatusCode::CREATED, "{}", response.text().await.unwrap());
        response.json().await.unwrap()
    }

    pub async fn upload(&self, room: &str, field: &str, bytes: Vec<u8>, file_name: &str) -> reqwest::Response {
        let part =
            reqwest::multipart::Part::bytes(bytes).file_name(file_name.to_owned()).mime_str("image/gif").unwrap();
        let form = reqwest::multipart::Form::new().part(field.to_owned(), part);
        self.ensure_session().await;
        self.http.post(self.url(&format!("/api/rooms/{room}/gifs"))).multipart(form).send().await.unwrap()
    }

    pub async fn messages(&self, room: &str, query: &str) -> Vec<Value> {
        let response = self.get(&format!("/api/rooms/{room}/messages{query}")).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        body["messages"].as_array().unwrap().clone()
    }

    pub async fn open_stream(&self, path: &str, last_event_id: Option<i64>) -> Result<EventStream, reqwest::Response> {
        self.ensure_session().await;
        let mut request = self.http.get(self.url(path)).header(header::ACCEPT, "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let response = request.send().await.unwrap();
        if response.status() != StatusCode::OK {
            return Err(response);
        }
        Ok(EventStream { events: Box::pin(response.bytes_stream().eventsource()) })
    }

    /// Opens a room stream, asserting success.
    pub async fn room_events(&self, room: &str, last_event_id: Option<i64>) -> EventStream {
        match self.open_stream(&format!("/api/rooms/{room}/events"), last_event_id).await {
            Ok(stream) => stream,
            Err(response) => panic!("stream refused: {} {}", response.status(), response.text().await.unwrap()),
        }
    }

    pub async fn lobby_events(&self) -> EventStream {
        self.open_stream("/api/lobby/events", None).await.map_err(|r| r.status()).expect("lobby stream opens")
    }
}

type SseItem = Result<Event, eventsource_stream::EventStreamError<reqwest::Error>>;

pub struct EventStream {
    events: Pin<Box<dyn Stream<Item = SseItem> + Send>>,
}

impl EventStream {
    /// The next event, or `None` when the server ended the stream. Panics after [`WAIT`].
    pub async fn next(&mut self) -> Option<Event> {
        match tokio::time::timeout(WAIT, self.events.next()).await {
            Ok(Some(Ok(event))) => Some(event),
            Ok(Some(Err(err))) => panic!("stream error: {err}"),
            Ok(None) => None,
            Err(_) => panic!("no event within {WAIT:?}"),
        }
    }

    /// Reads until the server ends the stream; returns the names of the events passed over.
    pub async fn until_end(&mut self) -> Vec<String> {
        let mut names = Vec::new();
        while let Some(event) = self.next().await {
            names.push(event.event);
        }
        names
    }

    pub async fn next_event(&mut self) -> Event {
        self.next().await.expect("the stream ended early")
    }

    /// The next event with this name, skipping others.
    pub async fn next_named(&mut self, name: &str) -> Event {
        loop {
            let event = self.next_event().await;
            if event.event == name {
                return event;
            }
        }
    }

    /// The next `chat`/`gif`/`system`/`whisper` messages' data, skipping other events.
    pub async fn next_messages(&mut self, count: usize) -> Vec<Value> {
        let mut messages = Vec::with_capacity(count);
        while messages.len() < count {
            let event = self.next_event().await;
            if matches!(event.event.as_str(), "chat" | "gif" | "system" | "whisper") {
                let data: Value = serde_json::from_str(&event.data).unwrap();
                assert_eq!(event.id, data["id"].to_string(), "the SSE id is the message id");
                messages.push(data);
            }
        }
        messages
    }
}

pub use crate::common::gifs::make_gif;

/// Texts of the messages, for compact assertions.
pub fn texts(messages: &[Value]) -> Vec<String> {
    messages.iter().map(|m| m["text"].as_str().unwrap_or("").to_owned()).collect()
}

pub fn ids(messages: &[Value]) -> Vec<i64> {
    messages.iter().map(|m| m["id"].as_i64().unwrap()).collect()
}

/// The next text frame from a socket as JSON, skipping pings. Panics after [`WAIT`].
pub async fn next_frame(socket: &mut Socket) -> Value {
    use tokio_tungstenite::tungstenite::Message;
    loop {
        let message = tokio::time::timeout(WAIT, socket.next()).await.expect("a frame in time");
        match message {
            Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).unwrap(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// The next frame with this event name, skipping others.
pub async fn next_frame_named(socket: &mut Socket, event: &str) -> Value {
    loop {
        let frame = next_frame(socket).await;
        if frame["event"] == event {
            return frame;
        }
    }
}

/// The next `chat`/`gif`/`system`/`whisper` messages from a socket.
pub async fn next_socket_messages(socket: &mut Socket, count: usize) -> Vec<Value> {
    let mut messages = Vec::with_capacity(count);
    while messages.len() < count {
        let frame = next_frame(socket).await;
        if matches!(frame["event"].as_str(), Some("chat" | "gif" | "system" | "whisper")) {
            assert_eq!(frame["id"], frame["data"]["id"], "the frame id is the message id");
            messages.push(frame["data"].clone());
        }
    }
    messages
}

/// The next text frame, as it came.
pub async fn next_raw_text(socket: &mut Socket) -> String {
    use tokio_tungstenite::tungstenite::Message;
    loop {
        match tokio::time::timeout(WAIT, socket.next()).await.expect("a frame in time") {
            Some(Ok(Message::Text(text))) => return text.to_string(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}
