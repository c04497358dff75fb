//! A small Server-Sent Events reader that keeps what `eventsource-stream` drops: blocks
//! without data (a `retry:` hint on its own) and comments. Fed raw bytes, from reqwest or from
//! a bare TCP socket (event streams are close-delimited, so its bytes are the body). The
//! suites that read streams as a browser does use it through `stream::RoomStream`.

use std::{collections::VecDeque, pin::Pin, time::Duration};

use futures_util::{Stream, StreamExt};
use serde_json::Value;

/// One SSE block (the lines up to a blank line).
#[derive(Debug, Default, Clone)]
pub struct Block {
    pub event: String,
    pub id: Option<i64>,
    pub data: String,
    pub retry: Option<u64>,
    pub comments: Vec<String>,
}

impl Block {
    /// Whether this block is a stored message (`chat`, `gif`, `system`, `whisper`).
    pub fn is_message(&self) -> bool {
        matches!(self.event.as_str(), "chat" | "gif" | "system" | "whisper")
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|err| panic!("{}: not JSON ({err}): {}", self.event, self.data))
    }
}

/// Splits bytes into blocks. The server writes `\n` line ends only.
#[derive(Default)]
pub struct Parser {
    buf: Vec<u8>,
    blocks: VecDeque<Block>,
}

impl Parser {
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        while let Some(end) = self.buf.windows(2).position(|w| w == b"\n\n") {
            let raw: Vec<u8> = self.buf.drain(..end + 2).collect();
            let text = String::from_utf8(raw).expect("SSE is UTF-8");
            let mut block = Block::default();
            for line in text.lines().filter(|line| !line.is_empty()) {
                if let Some(comment) = line.strip_prefix(':') {
                    block.comments.push(comment.trim().to_owned());
                    continue;
                }
                let (name, value) = line.split_once(':').unwrap_or((line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value);
                match name {
                    "event" => block.event = value.to_owned(),
                    "id" => block.id = Some(value.parse().expect("numeric ids")),
                    "data" => block.data.push_str(value),
                    "retry" => block.retry = Some(value.parse().expect("retry is a number")),
                    other => panic!("unexpected SSE field {other:?}"),
                }
            }
            self.blocks.push_back(block);
        }
    }

    pub fn next_block(&mut self) -> Option<Block> {
        self.blocks.pop_front()
    }
}

/// How a stream ended.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// The server finished the response.
    Clean,
    /// The connection broke off.
    Broken(String),
}

/// An SSE response body read through reqwest.
pub struct SseStream {
    body: Pin<Box<dyn Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    parser: Parser,
}

impl SseStream {
    pub fn new(response: reqwest::Response) -> Self {
        Self { body: Box::pin(response.bytes_stream()), parser: Parser::default() }
    }

    /// The next block, or how the stream ended. Panics after `wait`.
    pub async fn next(&mut self, wait: Duration) -> Result<Block, End> {
        loop {
            if let Some(block) = self.parser.next_block() {
                return Ok(block);
            }
            match tokio::time::timeout(wait, self.body.next()).await.expect("an SSE block in time") {
                Some(Ok(bytes)) => self.parser.feed(&bytes),
                Some(Err(err)) => return Err(End::Broken(err.to_string())),
                None => return Err(End::Clean),
            }
        }
    }
}
