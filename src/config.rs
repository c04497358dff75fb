//! Typed configuration: command-line flags, each with an environment variable, each with a
//! default that makes `cargo run` work on a fresh machine (SQLite under `./data`, port 8005).
//! A `.env` file is read first, like the original's `dotenv`.

use std::{
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    time::Duration,
};

use clap::Parser;

/// gif-chat: rooms, chats and GIFs, pushed live over Server-Sent Events.
#[derive(Clone, Parser)]
#[command(version, about)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "HOST", default_value = "0.0.0.0")]
    pub host: IpAddr,

    /// Port to listen on.
    #[arg(long, env = "PORT", default_value_t = 8005)]
    pub port: u16,

    /// `postgres://…` for PostgreSQL, `sqlite://…` (the default) for an embedded file.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://data/gif-chat.db")]
    pub database_url: String,

    /// Secret that signs session cookies (at least 32 bytes). When unset, a random one is
    /// made once and kept in the database, so sessions survive restarts.
    #[arg(long, env = "COOKIE_SECRET", hide_env_values = true)]
    pub cookie_secret: Option<String>,

    /// PEM certificate chain: with `--tls-key`, serve HTTPS with HTTP/2, so a browser
    /// multiplexes all its event streams over one connection instead of hitting HTTP/1.1's
    /// six connections per origin.
    #[arg(long, env = "TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for `--tls-cert`.
    #[arg(long, env = "TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Mark the session cookie `Secure` even though this process serves plain HTTP: set it
    /// behind a proxy that terminates TLS. (With `--tls-cert` cookies are always `Secure`.)
    #[arg(long, env = "SECURE_COOKIES", default_value_t = false)]
    pub secure_cookies: bool,

    /// Folder served at `/` (the front-end).
    #[arg(long, env = "STATIC_DIR", default_value = "static")]
    pub static_dir: PathBuf,

    /// Longest chat message, in characters after trimming.
    #[arg(long, env = "MAX_MESSAGE_CHARS", default_value_t = 1000)]
    pub max_message_chars: usize,

    /// Largest GIF upload, in bytes.
    #[arg(long, env = "MAX_UPLOAD_BYTES", default_value_t = 5 * 1024 * 1024)]
    pub max_upload_bytes: usize,

    /// Largest width or height a GIF may declare, in pixels.
    #[arg(long, env = "MAX_GIF_DIMENSION", default_value_t = 4096)]
    pub max_gif_dimension: u16,

    /// Most frames a GIF may have.
    #[arg(long, env = "MAX_GIF_FRAMES", default_value_t = 2000)]
    pub max_gif_frames: usize,

    /// Highest `max` (capacity) a room may ask for.
    #[arg(long, env = "MAX_ROOM_CAPACITY", default_value_t = 100)]
    pub max_room_capacity: u32,

    /// How long a seat outlives its user's last open stream (or last join or post), so that a
    /// page reload neither announces a leave nor deletes the room.
    #[arg(long, env = "PRESENCE_GRACE", default_value = "10s", value_parser = humantime::parse_duration)]
    pub presence_grace: Duration,

    /// How long a seat held by an open stream stays valid without being renewed. Streams renew
    /// theirs every third of this, so a process that dies without saying goodbye loses its
    /// seats within this time.
    #[arg(long, env = "PRESENCE_LEASE", default_value = "30s", value_parser = humantime::parse_duration)]
    pub presence_lease: Duration,

    /// How often expired seats are looked for (leave messages, empty-room deletion).
    #[arg(long, env = "REAP_INTERVAL", default_value = "1s", value_parser = humantime::parse_duration)]
    pub reap_interval: Duration,

    /// How long a client may take to send a request's headers before its connection is
    /// closed: bounds what a flood of half-open connections can hold.
    #[arg(long, env = "HEADER_READ_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub header_read_timeout: Duration,

    /// How long a connection may refuse our bytes (its client reads nothing) before it is
    /// closed; the client then resumes from its last event id. `0` turns it off.
    #[arg(long, env = "WRITE_STALL_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    pub write_stall_timeout: Duration,

    /// Interval of the `: keep-alive` comments on event streams.
    #[arg(long, env = "KEEP_ALIVE", default_value = "15s", value_parser = humantime::parse_duration)]
    pub keep_alive: Duration,

    /// Take the client address from `X-Forwarded-For` (set by a reverse proxy you run);
    /// without a proxy this would let clients choose the address we log.
    #[arg(long, env = "TRUST_PROXY", default_value_t = false)]
    pub trust_proxy: bool,

    /// How often the `/demo/ws` page gets a message.
    #[arg(long, env = "DEMO_WS_INTERVAL", default_value = "3s", value_parser = humantime::parse_duration)]
    pub demo_ws_interval: Duration,

    /// Writes (posts, joins, uploads, room creation) one session may make in a burst; 0 turns
    /// rate limiting off (benchmarks).
    #[arg(long, env = "RATE_LIMIT_BURST", default_value_t = 30)]
    pub rate_limit_burst: u32,

    /// Writes per second a session earns back after its burst.
    #[arg(long, env = "RATE_LIMIT_PER_SECOND", default_value_t = 5.0)]
    pub rate_limit_per_second: f64,

    /// Burst and per-second rate for one client address (all its sessions together) are
    /// these multiples of the per-session ones.
    #[arg(long, env = "RATE_LIMIT_ADDRESS_FACTOR", default_value_t = 10.0)]
    pub rate_limit_address_factor: f64,

    /// Event streams (any transport, any room) one session may hold open in this process;
    /// 0 for no limit. A browser with many tabs holds one per room tab.
    #[arg(long, env = "MAX_STREAMS_PER_SESSION", default_value_t = 32)]
    pub max_streams_per_session: usize,

    /// New sessions (anonymous identities) one client address may be given in a burst; 0
    /// turns the limit off (benchmarks). Large enough for a class behind one NAT.
    #[arg(long, env = "NEW_SESSION_BURST", default_value_t = 40)]
    pub new_session_burst: u32,

    /// New sessions per second one address earns back after its burst.
    #[arg(long, env = "NEW_SESSIONS_PER_SECOND", default_value_t = 1.0)]
    pub new_sessions_per_second: f64,

    /// Event streams (SSE, WebSocket, waiting long-polls, demos) one client address may hold
    /// open at once in this process; 0 for no limit.
    #[arg(long, env = "MAX_STREAMS_PER_ADDRESS", default_value_t = 500)]
    pub max_streams_per_address: usize,

    /// Wrong room passwords one client address may try per room and minute (a burst of as
    /// many, refilled over the minute); 0 for no limit.
    #[arg(long, env = "PASSWORD_FAILURES_PER_MINUTE", default_value_t = 10)]
    pub password_failures_per_minute: u32,

    /// GIF bytes one client address may upload per hour; 0 for no limit.
    #[arg(long, env = "UPLOAD_QUOTA_PER_HOUR", default_value_t = 100 * 1024 * 1024)]
    pub upload_quota_per_hour: u64,

    /// Decoded pixels a GIF may have over all its frames together: what bounds the CPU one
    /// upload costs (LZW packs a flat frame ~1000:1, so the file size does not).
    #[arg(long, env = "MAX_GIF_PIXELS", default_value_t = 1 << 26)]
    pub max_gif_pixels: u64,

    /// How long a request body may stall (no bytes arriving) before the request is refused
    /// with 408 and its connection closed; `0` turns it off.
    #[arg(long, env = "BODY_READ_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub body_read_timeout: Duration,

    /// How often GIFs that no message refers to any more (their room was deleted) are deleted;
    /// `0` never deletes them.
    #[arg(long, env = "GIF_SWEEP_INTERVAL", default_value = "30s", value_parser = humantime::parse_duration)]
    pub gif_sweep_interval: Duration,

    /// Serve `/metrics` on this address only (say `127.0.0.1:9005`), not on the public port.
    #[arg(long, env = "METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    /// Events a room's broadcast channel buffers before a slow subscriber lags and has to
    /// catch up: from the room's recent messages in memory (the last 4,096, up to 1 MiB),
    /// or from storage beyond those.
    #[arg(long, env = "ROOM_CHANNEL_CAPACITY", default_value_t = 256)]
    pub room_channel_capacity: usize,
}

impl Config {
    /// Defaults as if no flag or variable were given; tests start from this.
    pub fn defaults() -> Self {
        Self::parse_from(["gif-chat"])
    }

    /// Whether the server speaks HTTPS (and so marks cookies `Secure`).
    pub fn is_tls(&self) -> bool {
        self.tls_cert.is_some() && self.tls_key.is_some()
    }

    /// Whether the database URL names PostgreSQL (otherwise SQLite).
    pub fn is_postgres(&self) -> bool {
        self.database_url.starts_with("postgres://") || self.database_url.starts_with("postgresql://")
    }
}

impl std::fmt::Debug for Config {
    // Hand-written so the cookie secret and database password never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database_url", &redact_url(&self.database_url))
            .field("cookie_secret", &self.cookie_secret.as_ref().map(|_| "[redacted]"))
            .field("tls_cert", &self.tls_cert)
            .field("static_dir", &self.static_dir)
            .field("max_message_chars", &self.max_message_chars)
            .field("max_upload_bytes", &self.max_upload_bytes)
            .field("max_room_capacity", &self.max_room_capacity)
            .field("presence_grace", &self.presence_grace)
            .field("presence_lease", &self.presence_lease)
            .finish_non_exhaustive()
    }
}

/// A database URL fit to print: `postgres://user:secret@host/db?password=x&sslmode=require`
/// → `postgres://user:***@host/db?password=***&sslmode=require`. libpq takes a password in
/// the user info or as a query parameter; both are hidden.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    // The user info ends at the last `@` (a password may hold a raw `?` or `/`); should that
    // `@` belong to the query instead, more is hidden than needed, never less.
    let (userinfo, after) = match rest.rsplit_once('@') {
        Some((userinfo, after)) => (Some(userinfo), after),
        None => (None, rest),
    };
    let (host, query) = match after.split_once('?') {
        Some((host, query)) => (host, Some(query)),
        None => (after, None),
    };
    let mut redacted = format!("{scheme}://");
    if let Some(userinfo) = userinfo {
        match userinfo.split_once(':') {
            Some((user, _)) => redacted.push_str(&format!("{user}:***@")),
            None => redacted.push_str(&format!("{userinfo}@")),
        }
    }
    redacted.push_str(host);
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) if is_secret_parameter(name) => format!("{name}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        redacted.push('?');
        redacted.push_str(&pairs.join("&"));
    }
    redacted
}

fn is_secret_parameter(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["password", "pass", "secret", "token"].iter().any(|secret| name.contains(secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_url_hides_only_the_password() {
        assert_eq!(redact_url("postgres://u:pw@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite://data/x.db"), "sqlite://data/x.db");
        assert_eq!(
            redact_url("postgres://app@h/db?sslmode=require&password=hunter2&sslpassword=x"),
            "postgres://app@h/db?sslmode=require&password=***&sslpassword=***"
        );
        assert_eq!(redact_url("postgres://u:pw@h/db?password=pw2"), "postgres://u:***@h/db?password=***");
        assert_eq!(redact_url("postgres://u:p?w/d@h/db"), "postgres://u:***@h/db", "a raw ? in the password");
    }
}
