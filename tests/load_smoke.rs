//! The load generator against the real server binary, once per transport: a small run must
//! connect everyone and deliver every message exactly once, in order; a short soak (everyone
//! posting at random intervals) must lose and repeat nothing; and against a server whose
//! write limits bite, it must wait out the 429s and still post everything. No timing
//! assertions.

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

const ROOMS: u64 = 2;
const SUBSCRIBERS: u64 = 3;
const MESSAGES: u64 = 20;

/// The server process and its files; killed and removed even when the test panics.
struct Server {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// `GET /healthz` answered 200.
fn healthy(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}

/// Starts the server with `env` on top of the basics.
fn start_server(env: &[(&str, &str)]) -> Server {
    let unique = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_nanos();
    let dir = std::env::temp_dir().join(format!("gif-chat-load-smoke-{}-{unique}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let port = free_port();
    let static_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("static");
    let log = std::fs::File::create(dir.join("server.log")).expect("server log");
    let child = Command::new(env!("CARGO_BIN_EXE_gif-chat"))
        .current_dir(&dir)
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("DATABASE_URL", format!("sqlite://{}", dir.join("load.db").display()))
        .env("STATIC_DIR", &static_dir)
        .env("RUST_LOG", "warn")
        // The generator makes every user from one address, as no real crowd would.
        .env("NEW_SESSION_BURST", "0")
        .env("MAX_STREAMS_PER_ADDRESS", "0")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start the gif-chat server");
    let mut server = Server { child, port, dir };
    let started = Instant::now();
    for _ in 0..300 {
        if let Ok(Some(status)) = server.child.try_wait() {
            let log = std::fs::read_to_string(server.dir.join("server.log")).unwrap_or_default();
            panic!("the server exited early ({status}):\n{log}");
        }
        if healthy(port) {
            return server;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the server did not become healthy on port {port} within {:?}", started.elapsed());
}

/// Runs the generator with ROOMS × SUBSCRIBERS and `messages`, asserts a clean report, and
/// returns it.
fn run_load(server: &Server, transport: &str, messages: u64) -> serde_json::Value {
    let json = server.dir.join(format!("report-{transport}-{messages}.json"));
    let output = Command::new(env!("CARGO_BIN_EXE_gif-chat-load"))
        .args(["--url", &format!("http://127.0.0.1:{}", server.port)])
        .args(["--transport", transport])
        .args(["--rooms", &ROOMS.to_string()])
        .args(["--subscribers", &SUBSCRIBERS.to_string()])
        .args(["--messages", &messages.to_string()])
        .args(["--posters", "2"])
        .args(["--settle", "1"]) // as the big-room benchmark runs it
        .args(["--timeout", "60"])
        .args(["--server-pid", &server.child.id().to_string()])
        .arg("--json")
        .arg(&json)
        .output()
        .expect("run gif-chat-load");
    let shown = format!(
        "{transport}: {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{shown}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("the JSON report")).expect("the report is JSON");
    let deliveries = &report["deliveries"];
    assert_eq!(report["ok"], true, "{shown}");
    assert_eq!(report["subscribers"]["connected"], ROOMS * SUBSCRIBERS, "{shown}");
    assert_eq!(report["posts"]["ok"], messages, "{shown}");
    assert_eq!(report["posts"]["failed"], 0, "{shown}");
    assert_eq!(deliveries["expected"], messages * SUBSCRIBERS, "{shown}");
    assert_eq!(deliveries["delivered"], deliveries["expected"], "{shown}");
    assert_eq!(deliveries["lost"], 0, "{shown}");
    assert_eq!(deliveries["duplicated"], 0, "{shown}");
    assert_eq!(deliveries["out_of_order"], 0, "{shown}");
    report
}

#[test]
fn every_transport_delivers_everything_once_in_order() {
    // Without write limits: this is about delivery.
    let server = start_server(&[("RATE_LIMIT_BURST", "0")]);
    for transport in ["sse", "ws", "poll"] {
        run_load(&server, transport, MESSAGES);
    }
}

#[test]
fn a_short_soak_on_every_transport_loses_and_repeats_nothing() {
    let server = start_server(&[("RATE_LIMIT_BURST", "0")]);
    for transport in ["sse", "ws", "poll"] {
        let json = server.dir.join(format!("soak-{transport}.json"));
        let output = Command::new(env!("CARGO_BIN_EXE_gif-chat-load"))
            .args(["--url", &format!("http://127.0.0.1:{}", server.port)])
            .args(["--transport", transport])
            .args(["--rooms", &ROOMS.to_string()])
            .args(["--subscribers", &SUBSCRIBERS.to_string()])
            .args(["--soak-secs", "2", "--soak-interval-ms", "100"])
            .args(["--timeout", "60"])
            .args(["--server-pid", &server.child.id().to_string()])
            .arg("--json")
            .arg(&json)
            .output()
            .expect("run gif-chat-load");
        let shown = format!(
            "{transport}: {}\nstdout:\n{}\nstderr:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "{shown}");
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&json).expect("the JSON report")).expect("the report is JSON");
        let soak = &report["soak"];
        assert_eq!(report["ok"], true, "{shown}");
        assert_eq!(soak["clients"], ROOMS * SUBSCRIBERS, "{shown}");
        assert!(soak["sent"].as_u64().unwrap() > 0, "{shown}");
        assert_eq!(report["posts"]["failed"], 0, "{shown}");
        // Every client posts to its own room, whose SUBSCRIBERS streams (its own included) each get it.
        assert_eq!(soak["delivered"], soak["sent"].as_u64().unwrap() * SUBSCRIBERS, "{shown}");
        assert_eq!(soak["lost"], 0, "{shown}");
        assert_eq!(soak["duplicated"], 0, "{shown}");
        assert_eq!(soak["out_of_order"], 0, "{shown}");
        assert!(soak["rss_kib_start"].as_u64().is_some() && soak["rss_kib_end"].as_u64().is_some(), "{shown}");
    }
}

#[test]
fn waits_out_the_write_limits() {
    // Each owner has 3 writes at once (one spent creating the room) and one more every 2 s, so
    // posting 5 messages per room quickly must meet 429s whatever the machine's speed.
    let server = start_server(&[("RATE_LIMIT_BURST", "3"), ("RATE_LIMIT_PER_SECOND", "0.5")]);
    let report = run_load(&server, "sse", 5 * ROOMS);
    assert!(report["posts"]["throttled_429"].as_u64().unwrap_or(0) > 0, "{report:#}");
}

#[test]
fn refuses_a_non_loopback_target() {
    let output = Command::new(env!("CARGO_BIN_EXE_gif-chat-load"))
        .args(["--url", "http://192.0.2.1:8005", "--timeout", "5"])
        .output()
        .expect("run gif-chat-load");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("refusing"));
}
