//! The load generator against the real server binary, once per transport: a small run must
//! connect everyone and deliver every message exactly once, in order; a short soak (everyone
//! posting at random intervals) must lose and repeat nothing; and against a server whose
//! write limits bite, it must wait out the 429s and still post everything. No timing
//! assertions.

// The server's own harness: its test databases and the server as a child process.
#[allow(dead_code)]
#[path = "../../tests/common/database.rs"]
mod database;
#[allow(dead_code)]
#[path = "../../tests/common/process.rs"]
mod process;

use std::process::Command;

use database::TestDatabase;
use process::ServerProcess;

const ROOMS: u64 = 2;
const SUBSCRIBERS: u64 = 3;
const MESSAGES: u64 = 20;

/// The server on a SQLite file of its own, with `env` on top of the test settings.
async fn start_server(env: &[(&str, &str)]) -> ServerProcess {
    let dir = ServerProcess::directory("load-smoke");
    let database = TestDatabase::sqlite_in(&dir);
    // The generator makes every user from one address, as no real crowd would.
    let mut env = env.to_vec();
    env.push(("MAX_STREAMS_PER_ADDRESS", "0"));
    ServerProcess::start(dir, database, &env).await
}

/// Runs the generator with ROOMS × SUBSCRIBERS and `messages`, asserts a clean report, and
/// returns it.
fn run_load(server: &ServerProcess, transport: &str, messages: u64) -> serde_json::Value {
    let json = server.dir.join(format!("report-{transport}-{messages}.json"));
    let output = Command::new(env!("CARGO_BIN_EXE_gif-chat-load"))
        .args(["--url", &server.url()])
        .args(["--transport", transport])
        .args(["--rooms", &ROOMS.to_string()])
        .args(["--subscribers", &SUBSCRIBERS.to_string()])
        .args(["--messages", &messages.to_string()])
        .args(["--posters", "2"])
        .args(["--settle", "1"]) // as the big-room benchmark runs it
        .args(["--timeout", "60"])
        .args(["--server-pid", &server.pid().to_string()])
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

#[tokio::test]
async fn every_transport_delivers_everything_once_in_order() {
    // Without write limits: this is about delivery.
    let server = start_server(&[("RATE_LIMIT_BURST", "0")]).await;
    for transport in ["sse", "ws", "poll"] {
        run_load(&server, transport, MESSAGES);
    }
}

#[tokio::test]
async fn a_short_soak_on_every_transport_loses_and_repeats_nothing() {
    let server = start_server(&[("RATE_LIMIT_BURST", "0")]).await;
    for transport in ["sse", "ws", "poll"] {
        let json = server.dir.join(format!("soak-{transport}.json"));
        let output = Command::new(env!("CARGO_BIN_EXE_gif-chat-load"))
            .args(["--url", &server.url()])
            .args(["--transport", transport])
            .args(["--rooms", &ROOMS.to_string()])
            .args(["--subscribers", &SUBSCRIBERS.to_string()])
            .args(["--soak-secs", "2", "--soak-interval-ms", "100"])
            .args(["--timeout", "60"])
            .args(["--server-pid", &server.pid().to_string()])
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

/// The join storm of BENCHMARKS.md (scenario 5) on a small scale: everyone opens the room at
/// once, and the generator waits until every join has reached every member already there.
/// A room channel of 8 events makes the members fall behind it and catch up.
#[tokio::test]
async fn a_small_join_storm_connects_everyone_and_every_join_reaches_every_member() {
    let server = start_server(&[
        ("RATE_LIMIT_BURST", "0"),
        ("NEW_SESSION_BURST", "0"),
        ("MAX_ROOM_CAPACITY", "200"),
        ("ROOM_CHANNEL_CAPACITY", "8"),
    ])
    .await;
    let members = 150;
    let json = server.dir.join("storm.json");
    let output = Command::new(env!("CARGO_BIN_EXE_gif-chat-load"))
        .args(["--url", &server.url()])
        .args(["--rooms", "1", "--subscribers", &members.to_string(), "--room-max", "151"])
        .args(["--connect-concurrency", &members.to_string()])
        .args(["--messages", "10", "--posters", "1", "--timeout", "60"])
        .arg("--json")
        .arg(&json)
        .output()
        .expect("run gif-chat-load");
    let shown = format!(
        "{}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{shown}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("the JSON report")).expect("the report is JSON");
    assert_eq!(report["ok"], true, "{shown}");
    assert_eq!(report["subscribers"]["connected"], members, "{shown}");
    assert!(report["subscribers"]["joins_seen_by_all_seconds"].is_number(), "{shown}");
    assert_eq!(report["deliveries"]["delivered"], 10 * members, "{shown}");
}

#[tokio::test]
async fn waits_out_the_write_limits() {
    // Each owner has 3 writes at once (one spent creating the room) and one more every 2 s, so
    // posting 5 messages per room quickly must meet 429s whatever the machine's speed.
    let server = start_server(&[("RATE_LIMIT_BURST", "3"), ("RATE_LIMIT_PER_SECOND", "0.5")]).await;
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
