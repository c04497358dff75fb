//! Health, readiness, and the OpenAPI document against the real router.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{spawn_app, spawn_app_with, Backend};

crate::on_both_backends!(
    health_and_readiness_answer,
    limits_are_the_configured_ones_and_hold,
    every_documented_operation_is_routed,
    metrics_count_streams_deliveries_and_refusals,
);

async fn health_and_readiness_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.client();
    assert_eq!(client.get("/healthz").await.json::<Value>().await.unwrap()["status"], "ok");
    assert_eq!(client.get("/readyz").await.json::<Value>().await.unwrap()["status"], "ready");
    let doc = client.get("/openapi.yaml").await;
    assert_eq!(doc.status(), StatusCode::OK);
    assert_eq!(doc.text().await.unwrap(), gif_chat::OPENAPI_YAML);
}

/// `/api/limits` says what the server enforces: a text of exactly the limit is stored, one
/// character more is refused, and both figures follow the configuration.
async fn limits_are_the_configured_ones_and_hold(backend: Backend) {
    let app = spawn_app_with(backend, |config| {
        config.max_message_chars = 40;
        config.max_upload_bytes = 123_456;
    })
    .await;
    let client = app.client();
    let limits: Value = client.get("/api/limits").await.json().await.unwrap();
    assert_eq!(limits, serde_json::json!({"message_chars": 40, "upload_bytes": 123_456}));
    let (owner, room) = app.room_with_owner(serde_json::json!({"title": "limits"})).await;
    let room = crate::helpers::id_of(&room);
    // Counted in characters, not bytes: 40 two-byte letters fit.
    assert_eq!(owner.say(&room, &"é".repeat(40)).await.status(), StatusCode::CREATED);
    let refused = owner.say(&room, &"é".repeat(41)).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

fn document() -> serde_yaml::Value {
    serde_yaml::from_str(gif_chat::OPENAPI_YAML).expect("openapi.yaml is YAML")
}

/// Every (method, path) the document lists, with `{param}` placeholders.
fn documented_operations() -> BTreeSet<(String, String)> {
    let doc = document();
    let mut operations = BTreeSet::new();
    for (path, item) in doc["paths"].as_mapping().expect("paths") {
        for method in ["get", "post", "patch", "put", "delete"] {
            if item.get(method).is_some() {
                operations.insert((method.to_uppercase(), path.as_str().unwrap().to_owned()));
            }
        }
    }
    operations
}

/// Sends a request to each documented operation and checks the router has a handler for it:
/// never the API's "no such endpoint" 404, never a 405.
async fn every_documented_operation_is_routed(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.client();
    let room = uuid::Uuid::new_v4().to_string();
    for (method, path) in documented_operations() {
        let url = path.replace("{id}", &room).replace("{file}", &format!("{}.gif", "a".repeat(64)));
        let request = client
            .http
            .request(method.parse().unwrap(), client.url(&url))
            .header("content-type", "application/json")
            .body("{}");
        let response =
            tokio::time::timeout(std::time::Duration::from_secs(5), request.send()).await.expect("answers").unwrap();
        assert_ne!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        if response.status() == StatusCode::NOT_FOUND {
            let body: Value = response.json().await.unwrap();
            assert_ne!(body["message"], "there is no such endpoint", "{method} {path} is documented but not routed");
        }
    }
}

/// Every route registered in `src/` appears in the document with the same methods.
#[test]
fn every_route_in_the_source_is_documented() {
    let documented = documented_operations();
    let mut routed = BTreeSet::new();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![src];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        for call in source.split(".route(").skip(1) {
            let Some(route) = call.split('"').nth(1) else {
                continue;
            };
            // Front-end pages and the API's catch-all are not part of the API contract.
            if ["/rooms/{id}", "/favicon.ico", "/api/{*rest}"].contains(&route) {
                continue;
            }
            let call = call.split(".route(").next().unwrap();
            for method in ["get", "post", "patch", "put", "delete"] {
                if call.contains(&format!("{method}(")) {
                    routed.insert((method.to_uppercase(), route.to_owned()));
                }
            }
        }
    }
    assert!(routed.len() >= 10, "found the routes: {routed:?}");
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    assert!(undocumented.is_empty(), "routes missing from openapi.yaml: {undocumented:?}");
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(unrouted.is_empty(), "documented but not in the source: {unrouted:?}");
}

/// The document's examples of rooms, messages and users parse as the server's own types.
#[test]
fn schema_examples_parse_as_the_servers_types() {
    let doc = document();
    let schemas = &doc["components"]["schemas"];
    let example = |name: &str| -> serde_json::Value {
        let yaml = schemas[name].get("example").unwrap_or_else(|| panic!("{name} has an example")).clone();
        serde_json::to_value(yaml).unwrap()
    };
    serde_json::from_value::<gif_chat::domain::User>(example("User")).expect("User example");
    serde_json::from_value::<gif_chat::domain::Room>(example("Room")).expect("Room example");
    serde_json::from_value::<gif_chat::domain::Message>(example("Message")).expect("Message example");
}

async fn metrics_count_streams_deliveries_and_refusals(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, room) = app.room_with_owner(serde_json::json!({ "title": "measured" })).await;
    let room = crate::helpers::id_of(&room);
    let mut events = alice.room_events(&room, None).await;
    let sent = alice.say_ok(&room, "count me").await;
    assert_eq!(events.next_messages(1).await[0], sent);
    assert_eq!(alice.say(&room, "").await.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let response = alice.get("/metrics").await;
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = response.text().await.unwrap();
    let value = |line: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(line))
            .unwrap_or_else(|| panic!("{line} in\n{text}"))
            .trim()
            .parse()
            .unwrap()
    };
    assert_eq!(value("gifchat_open_streams{transport=\"sse\"}"), 1.0);
    assert!(value("gifchat_events_delivered_total{transport=\"sse\"}") >= 2.0, "members + chat");
    assert!(value("gifchat_bytes_delivered_total{transport=\"sse\"}") > 100.0);
    assert_eq!(value("gifchat_rejected_requests_total{reason=\"invalid_text\"}"), 1.0);
    assert_eq!(value("gifchat_write_seconds_count"), 1.0);
}

/// A second process on the same SQLite file would not see the first one's events.
#[tokio::test]
async fn a_second_instance_on_one_sqlite_file_is_refused_clearly() {
    let first = spawn_app(Backend::Sqlite).await;
    let mut config = gif_chat::Config::defaults();
    config.database_url = first.database_url.clone();
    config.cookie_secret = Some("x".repeat(32));
    let error = match gif_chat::Application::build(config).await {
        Ok(_) => panic!("a second instance on the same SQLite file must be refused"),
        Err(error) => format!("{error:#}"),
    };
    assert!(error.contains("single instance") && error.contains("PostgreSQL"), "{error}");
}

/// Issue 13, item 17: with METRICS_ADDR, /metrics is served there only, not to the internet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_have_a_listener_of_their_own() {
    let app = crate::helpers::spawn_app_with(crate::helpers::Backend::Sqlite, |c| {
        c.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let public = reqwest::get(format!("{}/metrics", app.address)).await.unwrap();
    assert_eq!(public.status(), reqwest::StatusCode::NOT_FOUND);
    assert_eq!(public.json::<serde_json::Value>().await.unwrap()["error"], "not_found");
    let private = reqwest::get(format!("http://{}/metrics", app.metrics_address.unwrap())).await.unwrap();
    assert_eq!(private.status(), reqwest::StatusCode::OK);
    assert!(private.text().await.unwrap().contains("gifchat_open_streams"));
}
