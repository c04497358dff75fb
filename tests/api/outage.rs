//! The database going away and coming back, on a PostgreSQL server this test owns (so
//! stopping it disturbs no other test): writes answer 503 quickly, streams stay open,
//! readiness says so, and everything works again without a restart.

use std::{path::PathBuf, process::Command, time::Duration};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{id_of, spawn_app_with, texts, Backend, WAIT};

const BIN: &str = "/usr/lib/postgresql/15/bin";

/// A throwaway PostgreSQL cluster in a temporary folder, run as the `postgres` user.
struct Cluster {
    dir: PathBuf,
    port: u16,
}

impl Cluster {
    fn pg(&self, args: &[&str]) -> bool {
        Command::new("runuser")
            .args(["-u", "postgres", "--", &format!("{BIN}/pg_ctl"), "-D"])
            .arg(self.dir.join("data"))
            .args(args)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("pg_ctl runs")
            .success()
    }

    fn create() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("gifchat-outage-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(Command::new("chown").args(["postgres:postgres"]).arg(&dir).status().unwrap().success());
        let initdb = Command::new("runuser")
            .args(["-u", "postgres", "--", &format!("{BIN}/initdb"), "-A", "trust", "-U", "postgres", "-D"])
            .arg(dir.join("data"))
            .stdout(std::process::Stdio::null())
            .status()
            .expect("initdb runs");
        assert!(initdb.success(), "initdb failed");
        let cluster = Self { dir, port };
        assert!(cluster.start(), "the test cluster starts");
        cluster
    }

    fn start(&self) -> bool {
        let options = format!("-p {} -k {} -c listen_addresses=127.0.0.1", self.port, self.dir.display());
        let log = self.dir.join("log");
        self.pg(&["-w", "-l", log.to_str().unwrap(), "-o", &options, "start"])
    }

    fn stop(&self) -> bool {
        self.pg(&["-w", "-m", "fast", "stop"])
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.pg(&["-m", "immediate", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_gives_fast_503s_and_nothing_accepted_is_lost() {
    let cluster = Cluster::create();
    let url = cluster.url();
    let app = spawn_app_with(Backend::Postgres, move |c| c.database_url = url).await;
    let (alice, room) = app.room_with_owner(json!({ "title": "outage" })).await;
    let room = id_of(&room);
    let mut events = alice.room_events(&room, None).await;
    let mut accepted = vec![alice.say_ok(&room, "before the outage").await];
    assert_eq!(events.next_messages(1).await, accepted);

    assert!(cluster.stop(), "the test cluster stops");

    let refused = tokio::time::timeout(WAIT, alice.say(&room, "during the outage")).await.expect("no hang");
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(refused.json::<Value>().await.unwrap()["error"], "unavailable");
    let ready = tokio::time::timeout(WAIT, alice.get("/readyz")).await.expect("no hang");
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(alice.get("/healthz").await.status(), StatusCode::OK, "the process itself is fine");

    assert!(cluster.start(), "the test cluster starts again");
    let deadline = tokio::time::Instant::now() + WAIT;
    while alice.get("/readyz").await.status() != StatusCode::OK {
        assert!(tokio::time::Instant::now() < deadline, "ready again after the database returned");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    accepted.push(alice.say_ok(&room, "after the outage").await);

    assert_eq!(events.next_messages(1).await, accepted[1..], "the stream stayed open through the outage");
    let history = alice.messages(&room, "").await;
    let stored: Vec<_> = history.into_iter().filter(|m| m["kind"] == "chat").collect();
    assert_eq!(texts(&stored), texts(&accepted), "every 201 is stored; nothing else is");
}
