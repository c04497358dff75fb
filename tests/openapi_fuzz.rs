//! An OpenAPI-driven fuzz run: schemathesis generates requests for every documented
//! operation from openapi.yaml and checks the real server's answers — no 5xx, and every
//! status, content type, header and body as documented. Needs schemathesis, which `.ci/run`
//! installs into /var/tmp/gif-chat-venv (or set SCHEMATHESIS to its path).
//!
//! The streaming operations are left out (they never finish by design); they have their own
//! tests. Long-poll waits are cut to a second by a hook.

mod common;

use std::{
    io::Read,
    path::PathBuf,
    process::{Command, Stdio},
};

use common::{
    database::TestDatabase,
    process::{install_crypto, ServerProcess},
};

fn schemathesis() -> PathBuf {
    let path = std::env::var_os("SCHEMATHESIS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/gif-chat-venv/bin/schemathesis"));
    assert!(path.exists(), "schemathesis not found at {} (.ci/run installs it; or set SCHEMATHESIS)", path.display());
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_answers_as_documented_under_fuzzing() {
    install_crypto();
    let tool = schemathesis();
    let dir = ServerProcess::directory("fuzz");
    let database = TestDatabase::sqlite_in(&dir);
    let settings = [
        ("COOKIE_SECRET", "openapi-fuzz-cookie-secret-0123456789abcdef"),
        ("RATE_LIMIT_BURST", "0"),
        ("PRESENCE_GRACE", "10m"),
    ];
    let server = ServerProcess::start(dir, database, &settings).await;
    let base = server.url();
    let plain = reqwest::Client::new();

    // The fuzzer acts as a seated member who does not own the room, so it can exercise every
    // room operation without deleting the room out from under itself.
    let owner = reqwest::Client::builder().cookie_store(true).build().unwrap();
    owner.get(format!("{base}/api/me")).send().await.unwrap();
    let room: serde_json::Value = owner
        .post(format!("{base}/api/rooms"))
        .json(&serde_json::json!({ "title": "fuzzing", "max": 100 }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let room = room["id"].as_str().unwrap().to_owned();
    let me = plain.get(format!("{base}/api/me")).send().await.unwrap();
    let cookie = me.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let session = cookie.trim_start_matches("gif_chat_session=").to_owned();
    let joined = plain
        .post(format!("{base}/api/rooms/{room}/join"))
        .header("cookie", &cookie)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert!(joined.status().is_success());

    std::fs::write(
        server.dir.join("schemathesis.toml"),
        format!("[auth.openapi.session]\napi_key = \"{session}\"\n\n[parameters]\n\"path.id\" = \"{room}\"\n"),
    )
    .unwrap();
    std::fs::write(
        server.dir.join("hooks.py"),
        "import schemathesis\n\n@schemathesis.hook\ndef before_call(ctx, case, **kwargs):\n    \
         q = case.query\n    if not isinstance(q, dict) or 'wait' not in q:\n        return\n    \
         try:\n        wait = int(q['wait'])\n    except (TypeError, ValueError):\n        return\n    \
         if 1 < wait <= 60:\n        q['wait'] = 1\n",
    )
    .unwrap();

    let spec = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml");
    let mut run = Command::new(tool)
        .current_dir(&server.dir)
        .env("SCHEMATHESIS_HOOKS", "hooks")
        .env("PYTHONPATH", &server.dir)
        .args(["run", spec, "--url", &base])
        .args(["--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance"])
        .args(["--phases", "examples,coverage,fuzzing", "--max-examples", "20", "--max-time", "100", "--workers", "1"])
        .args(["--request-timeout", "10", "--seed", "20261126", "--no-color"])
        .args(["--exclude-operation-id", "stream_lobby", "--exclude-operation-id", "stream_room"])
        .args(["--exclude-operation-id", "stream_lobby_ws", "--exclude-operation-id", "stream_room_ws"])
        .args(["--exclude-operation-id", "stream_demo_ws", "--exclude-operation-id", "stream_demo_clock"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("schemathesis runs");
    let mut report = String::new();
    run.stdout.take().unwrap().read_to_string(&mut report).unwrap();
    let status = run.wait().unwrap();
    let summary: Vec<&str> = report.lines().rev().take(25).collect::<Vec<_>>().into_iter().rev().collect();
    println!("{}", summary.join("\n"));
    assert!(status.success(), "schemathesis found problems:\n{report}");
    drop(server);
}
