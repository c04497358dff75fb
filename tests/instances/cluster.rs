//! The cluster: a fresh PostgreSQL database, three `gif-chat` instances on it, and Debian's
//! nginx round-robin over the first two, configured as `docs/deploy.md` shows. It owns every
//! process it started and kills them all when dropped.

use std::{
    fs::File,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use tokio::time::timeout;

use crate::{
    common::{
        database::TestDatabase,
        process::{die_with_parent, free_port, print_tail, repository, server_binary, wait_until_up},
        WAIT,
    },
    user, COOKIE_SECRET,
};

const NGINX: &str = "/usr/sbin/nginx";
/// Set-up or tear-down slower than this is reported (stderr), to explain a slow run.
const SLOW: Duration = Duration::from_secs(2);

/// The proxy configuration (the `http {}` part) that `docs/deploy.md` shows: the test fills in
/// its own ports for `listen 80` and the two upstream addresses, nothing else.
pub const PROXY_CONF: &str = r#"map $http_upgrade $connection_upgrade {
    default upgrade;
    ''      '';
}

upstream gif_chat {
    server 127.0.0.1:8001;
    server 127.0.0.1:8002;
    keepalive 32;
    keepalive_timeout 5s;
}

server {
    listen 80;
    client_max_body_size 6m;

    location = /metrics {
        deny all;
    }

    location / {
        proxy_pass http://gif_chat;
        proxy_http_version 1.1;
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
        proxy_buffering off;
        proxy_read_timeout 1h;
        proxy_send_timeout 1h;
    }
}
"#;

struct Instance {
    url: String,
    port: u16,
    child: Child,
    log: PathBuf,
}

/// Owns every process it started and kills them all when dropped, panic or not. They are also
/// asked to die with the test process (PR_SET_PDEATHSIG) should it be killed outright.
pub struct Cluster {
    dir: PathBuf,
    instances: Vec<Instance>,
    nginx: Option<Child>,
    nginx_port: u16,
    pub database: TestDatabase,
}

impl Cluster {
    /// A fresh database, instances 1–3 with the test settings (`overrides` replace or add
    /// variables), and nginx round-robin over instances 1 and 2.
    pub async fn start(overrides: &[(&str, &str)]) -> Self {
        assert!(Path::new(NGINX).exists(), "install nginx (.ci/run does)");
        let began = Instant::now();
        let database = TestDatabase::postgres().await;
        let created = began.elapsed();
        let dir = std::env::temp_dir().join(format!("gifchat-instances-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut cluster = Cluster { dir, instances: Vec::new(), nginx: None, nginx_port: 0, database };
        for n in 1..=3 {
            cluster.start_instance(n, overrides).await;
        }
        cluster.start_nginx().await;
        if began.elapsed() > SLOW {
            eprintln!("note: the cluster took {:?} to start ({created:?} to create its database)", began.elapsed());
        }
        cluster
    }

    /// Instance `n` (1-based), e.g. `http://127.0.0.1:40123`.
    pub fn url(&self, n: usize) -> String {
        self.instances[n - 1].url.clone()
    }

    pub fn proxy(&self) -> String {
        format!("http://127.0.0.1:{}", self.nginx_port)
    }

    async fn start_instance(&mut self, n: usize, overrides: &[(&str, &str)]) {
        let log = self.dir.join(format!("instance-{n}.log"));
        for attempt in 1..=3 {
            let port = free_port();
            let out = File::create(&log).unwrap();
            let mut command = Command::new(server_binary());
            command
                .env_clear()
                // Not the repository: a developer's .env there must not leak into the test.
                .current_dir(&self.dir)
                .env("HOST", "127.0.0.1")
                .env("PORT", port.to_string())
                .env("DATABASE_URL", &self.database.url)
                .env("COOKIE_SECRET", COOKIE_SECRET)
                .env("STATIC_DIR", repository().join("static"))
                .env("PRESENCE_LEASE", "3s")
                .env("PRESENCE_GRACE", "1s")
                .env("REAP_INTERVAL", "200ms")
                .env("TRUST_PROXY", "true")
                .env("RUST_LOG", "warn")
                // Every simulated user comes from the same loopback address.
                .env("NEW_SESSION_BURST", "0")
                .env("MAX_STREAMS_PER_ADDRESS", "0")
                .envs(overrides.iter().copied())
                .stdin(Stdio::null())
                .stdout(out.try_clone().unwrap())
                .stderr(out);
            die_with_parent(&mut command, libc::SIGKILL);
            let child = command.spawn().expect("the gif-chat binary starts");
            let url = format!("http://127.0.0.1:{port}");
            self.instances.push(Instance { url: url.clone(), port, child, log: log.clone() });
            let child = &mut self.instances.last_mut().unwrap().child;
            match wait_until_up(&format!("{url}/healthz"), child).await {
                Ok(()) => return,
                Err(exit) => {
                    self.instances.pop();
                    let output = std::fs::read_to_string(&log).unwrap_or_default();
                    // Someone took the port between our probe and the server's bind: retry.
                    if attempt < 3 && output.contains("in use") {
                        continue;
                    }
                    panic!("instance {n} {exit}:\n{output}");
                }
            }
        }
    }

    async fn start_nginx(&mut self) {
        let (error_log, output) = (self.dir.join("error.log"), self.dir.join("nginx.out"));
        let conf = self.dir.join("nginx.conf");
        for attempt in 1..=3 {
            let port = free_port();
            std::fs::write(&conf, nginx_conf(&self.dir, port, self.instances[0].port, self.instances[1].port)).unwrap();
            let out = File::create(&output).unwrap();
            let mut command = Command::new(NGINX);
            command
                .arg("-p")
                .arg(&self.dir)
                .arg("-c")
                .arg(&conf)
                .arg("-e")
                .arg(&error_log)
                .args(["-g", "daemon off;"])
                .stdin(Stdio::null())
                .stdout(out.try_clone().unwrap())
                .stderr(out)
                // Its own process group, so its workers can be killed with the master.
                .process_group(0);
            // SIGTERM: the master then stops its workers too.
            die_with_parent(&mut command, libc::SIGTERM);
            self.nginx = Some(command.spawn().expect("nginx starts"));
            self.nginx_port = port;
            match wait_until_up(&format!("{}/healthz", self.proxy()), self.nginx.as_mut().unwrap()).await {
                Ok(()) => return,
                Err(exit) => {
                    self.nginx = None;
                    let log = std::fs::read_to_string(&error_log).unwrap_or_default()
                        + &std::fs::read_to_string(&output).unwrap_or_default();
                    if attempt < 3 && log.contains("in use") {
                        continue;
                    }
                    panic!("nginx {exit}:\n{log}");
                }
            }
        }
    }

    /// `kill -9` instance `n`: no goodbye, no seat released, its streams cut.
    pub fn kill9(&mut self, n: usize) {
        let child = &mut self.instances[n - 1].child;
        let pid = libc::pid_t::try_from(child.id()).unwrap();
        assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0, "SIGKILL instance {n}");
        child.wait().unwrap();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(mut nginx) = self.nginx.take() {
            if let Ok(group) = libc::pid_t::try_from(nginx.id()) {
                unsafe { libc::kill(-group, libc::SIGKILL) };
            }
            let _ = nginx.wait();
        }
        for instance in &mut self.instances {
            let _ = instance.child.kill(); // SIGKILL
            let _ = instance.child.wait();
        }
        if std::thread::panicking() {
            for instance in &self.instances {
                print_tail(&format!("instance {} log", instance.url), &instance.log);
            }
            print_tail("nginx error log", &self.dir.join("error.log"));
            eprintln!("logs kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The whole nginx.conf: the test's own paths around [`PROXY_CONF`] with our ports.
fn nginx_conf(dir: &Path, listen: u16, first: u16, second: u16) -> String {
    let http = PROXY_CONF
        .replace("listen 80;", &format!("listen 127.0.0.1:{listen};"))
        .replace("server 127.0.0.1:8001;", &format!("server 127.0.0.1:{first};"))
        .replace("server 127.0.0.1:8002;", &format!("server 127.0.0.1:{second};"));
    let dir = dir.display();
    let indented: String = http.lines().map(|line| format!("    {line}\n")).collect();
    format!(
        "# Generated by tests/instances/cluster.rs.\n\
         worker_processes 1;\n\
         pid {dir}/nginx.pid;\n\
         error_log {dir}/error.log warn;\n\
         events {{\n    worker_connections 1024;\n}}\n\
         http {{\n\
         \x20   access_log {dir}/access.log;\n\
         \x20   client_body_temp_path {dir}/client_body;\n\
         \x20   proxy_temp_path {dir}/proxy;\n\
         \x20   fastcgi_temp_path {dir}/fastcgi;\n\
         \x20   uwsgi_temp_path {dir}/uwsgi;\n\
         \x20   scgi_temp_path {dir}/scgi;\n\
         \n{indented}}}\n"
    )
}

/// Open streams of each transport on an instance, from its /metrics.
pub async fn open_streams(base: &str) -> (u64, u64) {
    let metrics = user().at(base);
    let gauge = |transport: &str| format!("gifchat_open_streams{{transport=\"{transport}\"}}");
    (metrics.metric(&gauge("sse")).await as u64, metrics.metric(&gauge("ws")).await as u64)
}

/// Each instance's (SSE, WebSocket) open streams, once the totals reach the ones expected.
pub async fn wait_for_open_streams(bases: &[&String], sse: u64, ws: u64) -> Vec<(u64, u64)> {
    timeout(WAIT, async {
        loop {
            let mut counts = Vec::new();
            for base in bases {
                counts.push(open_streams(base).await);
            }
            if counts.iter().map(|c| c.0).sum::<u64>() == sse && counts.iter().map(|c| c.1).sum::<u64>() == ws {
                return counts;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("every stream counted by the instances' /metrics")
}

/// The proxy configuration the tests run is the one the deployment guide shows.
#[test]
fn the_deploy_guide_shows_the_tested_nginx_configuration() {
    let guide = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/deploy.md")).unwrap();
    assert!(guide.contains(PROXY_CONF), "docs/deploy.md must contain PROXY_CONF (tests/instances/cluster.rs) verbatim");
}
