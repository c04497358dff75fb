//! The server as these tests run it (a child process: `common::process`), and the shared
//! browser-like client.

pub use crate::common::{browser::Browser, stream::Socket, WAIT};

/// Shared by every run of a server, so sessions survive its restart.
const COOKIE_SECRET: &str = "fault-tests-cookie-secret-0123456789abcdef";

/// Several server processes at once would only slow each other on a small machine.
pub static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub use crate::common::database::Backend;
use crate::common::{database::TestDatabase, process::ServerProcess};

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
        Browser::new(&self.url()).metric(sample).await
    }
}
