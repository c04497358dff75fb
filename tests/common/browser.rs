//! A browser-like client for suites that drive a server process: its own cookie jar (so its
//! own anonymous user), the REST calls a front-end makes, and its room streams over SSE or
//! WebSocket. `at` points the same browser (cookies and all) at another server, as a user
//! behind a load balancer meets several instances. Every request is bounded by [`WAIT`].

use std::{sync::Arc, time::Duration};

use reqwest::{
    cookie::{CookieStore, Jar},
    StatusCode,
};
use serde_json::{json, Value};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

use super::{
    process::install_crypto,
    sse::SseStream,
    stream::{RoomStream, Socket},
    WAIT,
};

#[derive(Clone)]
pub struct Browser {
    pub http: reqwest::Client,
    jar: Arc<Jar>,
    base: String,
}

impl Browser {
    /// A new user at `base` (`http://127.0.0.1:PORT`), without a session until it needs one.
    pub fn new(base: &str) -> Self {
        install_crypto();
        let jar = Arc::new(Jar::default());
        // No overall timeout: streams last. Each request is bounded by `send` instead.
        let http = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .connect_timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        Self { http, jar, base: base.to_owned() }
    }

    /// A user who already holds `cookie` (a `name=value` the test sealed itself), for every
    /// server on 127.0.0.1.
    pub fn with_cookie(base: &str, cookie: &str) -> Self {
        let browser = Self::new(base);
        let site: reqwest::Url = "http://127.0.0.1".parse().unwrap();
        browser.jar.add_cookie_str(&format!("{cookie}; Path=/"), &site);
        browser
    }

    /// The same browser, cookies and all, talking to the server at `base`.
    pub fn at(&self, base: &str) -> Self {
        Self { base: base.to_owned(), ..self.clone() }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn site(&self) -> reqwest::Url {
        self.base.parse().unwrap()
    }

    /// Sends `request`, panicking if there is no answer within [`WAIT`] or it fails.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> reqwest::Response {
        timeout(WAIT, request.send()).await.expect("a response in time").expect("the request went through")
    }

    /// The JSON body of `response`, asserting its status.
    pub async fn expect_json(response: reqwest::Response, status: StatusCode) -> Value {
        let (got, url) = (response.status(), response.url().clone());
        let text = response.text().await.unwrap();
        assert_eq!(got, status, "{url}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.send(self.http.get(self.url(path))).await
    }

    /// Like the front-end: a session (`GET /api/me`) before the first write.
    async fn ensure_session(&self) -> reqwest::Result<()> {
        if self.jar.cookies(&self.site()).is_none() {
            self.http.get(self.url("/api/me")).timeout(WAIT).send().await?;
        }
        Ok(())
    }

    /// A JSON POST; `Err` when the server did not answer (it may be going away on purpose).
    pub async fn post(&self, path: &str, body: Value) -> reqwest::Result<reqwest::Response> {
        self.ensure_session().await?;
        self.http.post(self.url(path)).json(&body).timeout(WAIT).send().await
    }

    /// A JSON POST that must get `status`; returns the answer's body.
    pub async fn post_expecting(&self, path: &str, body: Value, status: StatusCode) -> Value {
        let response = timeout(WAIT, self.post(path, body)).await.expect("an answer in time");
        Self::expect_json(response.expect("the request went through"), status).await
    }

    /// The session cookie (`name=value`), after making sure there is one.
    pub async fn cookie(&self) -> String {
        self.me().await;
        let cookie = self.jar.cookies(&self.site()).expect("a session cookie");
        cookie.to_str().unwrap().to_owned()
    }

    pub async fn me(&self) -> Value {
        Self::expect_json(self.get("/api/me").await, StatusCode::OK).await
    }

    /// Sets the display name; returns the user id.
    pub async fn rename(&self, name: &str) -> String {
        let response = self.send(self.http.patch(self.url("/api/me")).json(&json!({ "name": name }))).await;
        let me = Self::expect_json(response, StatusCode::OK).await;
        assert_eq!(me["name"], name);
        me["id"].as_str().unwrap().to_owned()
    }

    /// Creates a room (asserting 201); returns its id.
    pub async fn create_room(&self, body: Value) -> String {
        let room = self.post_expecting("/api/rooms", body, StatusCode::CREATED).await;
        room["id"].as_str().unwrap().to_owned()
    }

    pub async fn join(&self, room: &str) {
        self.post_expecting(&format!("/api/rooms/{room}/join"), json!({}), StatusCode::OK).await;
    }

    /// Posts a chat (asserting 201); returns the stored message.
    pub async fn say(&self, room: &str, text: &str) -> Value {
        self.post_expecting(&format!("/api/rooms/{room}/messages"), json!({ "text": text }), StatusCode::CREATED).await
    }

    pub async fn room(&self, room: &str) -> Value {
        Self::expect_json(self.get(&format!("/api/rooms/{room}")).await, StatusCode::OK).await
    }

    /// A page of the room's stored messages after `after`, oldest first.
    pub async fn history_after(&self, room: &str, after: i64) -> Vec<Value> {
        let page = self.get(&format!("/api/rooms/{room}/messages?after={after}&limit=200")).await;
        Self::expect_json(page, StatusCode::OK).await["messages"].as_array().unwrap().clone()
    }

    /// Every stored message of the room, oldest first.
    pub async fn history(&self, room: &str) -> Vec<Value> {
        let mut all: Vec<Value> = Vec::new();
        loop {
            let after = all.last().map_or(0, |m| m["id"].as_i64().unwrap());
            let page = self.history_after(room, after).await;
            if page.is_empty() {
                return all;
            }
            all.extend(page);
        }
    }

    /// The room's event stream as raw SSE blocks (retry hints and comments included),
    /// resuming after `last_event_id` when given.
    pub async fn sse_blocks(&self, room: &str, last_event_id: Option<i64>) -> SseStream {
        let mut request =
            self.http.get(self.url(&format!("/api/rooms/{room}/events"))).header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        let response = self.send(request).await;
        if response.status() != StatusCode::OK {
            panic!("SSE refused: {} {}", response.status(), response.text().await.unwrap_or_default());
        }
        SseStream::new(response)
    }

    /// The room's event stream over SSE, as events.
    pub async fn sse(&self, room: &str, last_event_id: Option<i64>) -> RoomStream {
        RoomStream::sse(self.sse_blocks(room, last_event_id).await)
    }

    /// The room's WebSocket with this browser's cookie (keeping the one a handshake sets),
    /// resuming after `after`, with an `Origin` header when given, as a browser sends.
    pub async fn socket(&self, room: &str, after: Option<i64>, origin: Option<&str>) -> Socket {
        self.ensure_session().await.expect("a session");
        let query = after.map(|id| format!("?after={id}")).unwrap_or_default();
        let url = self.url(&format!("/api/rooms/{room}/ws{query}")).replacen("http://", "ws://", 1);
        let mut request = url.as_str().into_client_request().unwrap();
        if let Some(cookie) = self.jar.cookies(&self.site()) {
            request.headers_mut().insert("cookie", cookie);
        }
        if let Some(origin) = origin {
            request.headers_mut().insert("origin", origin.parse().unwrap());
        }
        let (socket, response) = match timeout(WAIT, tokio_tungstenite::connect_async(request)).await {
            Err(_) => panic!("no WebSocket handshake answer from {url} in time"),
            Ok(Err(tungstenite::Error::Http(response))) => panic!(
                "WebSocket refused by {url}: {} {}",
                response.status(),
                String::from_utf8_lossy(response.body().as_deref().unwrap_or_default())
            ),
            Ok(Err(err)) => panic!("WebSocket to {url} failed: {err}"),
            Ok(Ok(connected)) => connected,
        };
        for cookie in response.headers().get_all("set-cookie") {
            if let Ok(cookie) = cookie.to_str() {
                self.jar.add_cookie_str(cookie, &self.site());
            }
        }
        socket
    }

    /// The room's event stream over a WebSocket, as events.
    pub async fn ws(&self, room: &str, origin: Option<&str>) -> RoomStream {
        RoomStream::ws(self.socket(room, None, origin).await)
    }

    /// A sample's value from the server's `/metrics`, e.g. `gifchat_lag_catch_ups_total`.
    pub async fn metric(&self, sample: &str) -> f64 {
        let text = self.get("/metrics").await.text().await.unwrap();
        let prefix = format!("{sample} ");
        text.lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("{}/metrics has no {sample}", self.base))
            .trim()
            .parse()
            .unwrap()
    }
}
