//! The command line: which transport, how many rooms, subscribers and messages, and the
//! checks that refuse combinations that cannot run.

use std::path::PathBuf;

use anyhow::bail;
use clap::{Parser, ValueEnum};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Transport {
    Sse,
    Ws,
    Poll,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Self::Sse => "sse",
            Self::Ws => "ws",
            Self::Poll => "poll",
        }
    }
}

#[derive(Parser, Debug, Clone)]
#[command(version, about = "Load generator for gif-chat room streams (loopback targets only)")]
pub struct Args {
    /// The server; its host must be 127.0.0.0/8, localhost or ::1.
    #[arg(long, default_value = "http://127.0.0.1:8005")]
    pub url: String,
    #[arg(long, value_enum, default_value_t = Transport::Sse)]
    pub transport: Transport,
    /// Rooms to create.
    #[arg(long, default_value_t = 10)]
    pub rooms: usize,
    /// Subscribers per room.
    #[arg(long, default_value_t = 10)]
    pub subscribers: usize,
    /// Messages to post in all (round-robin over the rooms).
    #[arg(long, default_value_t = 1000)]
    pub messages: u64,
    /// Posts per second to aim for; 0: as fast as the posters go.
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// Concurrent posters (each one connection; they post as the rooms' owners).
    #[arg(long, default_value_t = 8)]
    pub posters: usize,
    /// Padding added to each message's text.
    #[arg(long, default_value_t = 64)]
    pub message_bytes: usize,
    /// The server's process id: report its RSS and CPU time (from /proc).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Spread subscriber (and poster) connections over source addresses 127.0.0.1..127.0.0.K:
    /// more ephemeral ports, and separate per-address write limits on the server.
    #[arg(long, default_value_t = 1)]
    pub source_addrs: u8,
    /// Bound on the whole run, in seconds.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// The `max` rooms are created with (default: subscribers + 1, at least 2); the server's
    /// MAX_ROOM_CAPACITY must allow it.
    #[arg(long)]
    pub room_max: Option<u32>,
    /// Subscribers connecting at the same time.
    #[arg(long, default_value_t = 64)]
    pub connect_concurrency: usize,
    /// After everyone connected, how long to wait before posting, in seconds: lets the server
    /// finish delivering the join announcements (a 2,000-member room sends millions), so
    /// what is measured is the posting alone.
    #[arg(long, default_value_t = 0)]
    pub settle: u64,
    /// After posting, how long to wait without a new delivery before giving up, in seconds.
    #[arg(long, default_value_t = 10)]
    pub drain_idle: u64,
    /// Long-poll `wait` in seconds.
    #[arg(long, default_value_t = 25)]
    pub poll_wait: u64,
    /// Runtime worker threads (default: the number of CPUs).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Soak for this many seconds: every subscriber also posts to its own room, at random
    /// intervals, each at most twice as often as the interval implies (--messages and
    /// --posters are not used). The report adds the server's RSS at the start and the end.
    #[arg(long)]
    pub soak_secs: Option<u64>,
    /// Soak: the mean pause between one client's posts, in milliseconds (each pause is
    /// uniform between 0 and twice this).
    #[arg(long, default_value_t = 1000)]
    pub soak_interval_ms: u64,
}

impl Args {
    /// The most posts one client makes in a soak: twice what its mean interval implies.
    pub fn soak_posts_per_client(&self) -> u64 {
        let secs = self.soak_secs.unwrap_or(0);
        (2 * secs * 1000).div_ceil(self.soak_interval_ms.max(1)) + 1
    }

    /// The most messages one room gets (the size of each subscriber's record of them).
    pub fn per_room(&self) -> usize {
        match self.soak_secs {
            Some(_) => self.subscribers * self.soak_posts_per_client() as usize,
            None => self.messages.div_ceil(self.rooms as u64) as usize,
        }
    }
}

/// Refuses flag combinations that cannot run (and warns about ones that may not).
pub fn validate(args: &Args) -> anyhow::Result<()> {
    if args.rooms == 0 || args.subscribers == 0 || args.posters == 0 {
        bail!("--rooms, --subscribers and --posters must be at least 1");
    }
    if args.source_addrs == 0 || args.source_addrs == 255 {
        bail!("--source-addrs must be 1 to 254");
    }
    if !(args.rate >= 0.0 && args.rate.is_finite()) {
        bail!("--rate must be 0 or more");
    }
    if args.poll_wait > 60 {
        bail!("--poll-wait must be at most 60");
    }
    if args.soak_secs == Some(0) || args.soak_interval_ms == 0 {
        bail!("--soak-secs and --soak-interval-ms must be at least 1");
    }
    if let Some(max) = args.room_max {
        if (max as usize) < args.subscribers + 1 {
            bail!("--room-max {max} leaves no seat for {} subscribers and the owner", args.subscribers);
        }
    }
    if args.message_bytes + 42 > 1000 {
        eprintln!(
            "warning: --message-bytes {} may exceed the server's MAX_MESSAGE_CHARS (1000 by default)",
            args.message_bytes
        );
    }
    Ok(())
}
