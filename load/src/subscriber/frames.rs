//! The few fields a subscriber reads of each event, scanned from the bytes without parsing
//! the JSON: a message's `text` (the poster's clock and sequence number), SSE lines, WebSocket
//! frames and long-poll answers.

/// The `"text":"<nanos>|<seq>|…` of a message's JSON.
pub(super) fn parse_text(data: &[u8]) -> Option<(u64, u64)> {
    const KEY: &[u8] = b"\"text\":\"";
    let start = find(data, KEY, 0)? + KEY.len();
    let mut numbers = data[start..].split(|&b| b == b'|');
    let nanos = parse_u64(numbers.next()?)?;
    let seq = parse_u64(numbers.next()?)?;
    Some((nanos, seq))
}

/// The `"as_of":N` of a member list (its position in the room's sequence).
pub(super) fn as_of(data: &[u8]) -> Option<i64> {
    const KEY: &[u8] = b"\"as_of\":";
    let start = find(data, KEY, 0)? + KEY.len();
    leading_i64(&data[start..])
}

pub(super) fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| d.is_ascii_digit().then(|| n * 10 + (d - b'0') as u64))
}

/// Leading decimal digits of `bytes`.
pub(super) fn leading_i64(bytes: &[u8]) -> Option<i64> {
    let len = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    parse_u64(&bytes[..len]).map(|n| n as i64)
}

pub(super) fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let first = needle[0];
    let mut i = from;
    while i + needle.len() <= hay.len() {
        let offset = hay[i..hay.len() - needle.len() + 1].iter().position(|&b| b == first)?;
        i += offset;
        if &hay[i..i + needle.len()] == needle {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Splits an SSE byte stream into events (`id:`, `event:`, `data:` lines, blank line ends one).
#[derive(Default)]
pub(super) struct SseParser {
    buf: Vec<u8>,
    id: Option<i64>,
    chat: bool,
    data: Vec<u8>,
    has_data: bool,
}

impl SseParser {
    pub(super) fn feed(&mut self, chunk: &[u8], mut on_event: impl FnMut(Option<i64>, bool, &[u8])) {
        let mut buf = std::mem::take(&mut self.buf);
        buf.extend_from_slice(chunk);
        let mut start = 0;
        while let Some(len) = buf[start..].iter().position(|&b| b == b'\n') {
            let mut line = &buf[start..start + len];
            start += len + 1;
            if let [rest @ .., b'\r'] = line {
                line = rest;
            }
            if line.is_empty() {
                if self.has_data {
                    on_event(self.id, self.chat, &self.data);
                }
                self.id = None;
                self.chat = false;
                self.data.clear();
                self.has_data = false;
            } else if let Some(value) = field(line, b"data") {
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            } else if let Some(value) = field(line, b"id") {
                self.id = leading_i64(value);
            } else if let Some(value) = field(line, b"event") {
                self.chat = value == b"chat";
            } // comments (`: keep-alive`), `retry:` and anything else are skipped
        }
        buf.drain(..start);
        self.buf = buf;
    }
}

/// The value of an SSE line `name: value` (one optional space after the colon).
pub(super) fn field<'a>(line: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let rest = line.strip_prefix(name)?.strip_prefix(b":")?;
    Some(rest.strip_prefix(b" ").unwrap_or(rest))
}

/// A WebSocket text frame `{"event":"chat","id":7,"data":{…}}`.
pub(super) fn parse_ws(text: &[u8]) -> Option<(Option<i64>, bool, &[u8])> {
    let rest = text.strip_prefix(b"{\"event\":\"")?;
    let end = rest.iter().position(|&b| b == b'"')?;
    let chat = &rest[..end] == b"chat";
    let rest = &rest[end + 1..];
    let (id, rest) = match rest.strip_prefix(b",\"id\":") {
        Some(after) => {
            let id = leading_i64(after)?;
            (Some(id), after)
        }
        None => (None, rest),
    };
    Some((id, chat, rest))
}

/// Each message of a long-poll answer `{"messages":[{"id":7,…,"kind":"chat",…},…]}`: a message
/// starts at `{"id":` followed by a digit (a user's id is a string).
pub(super) fn each_polled(body: &[u8], mut on_message: impl FnMut(i64, bool, &[u8])) {
    const KEY: &[u8] = b"{\"id\":";
    let is_start = |i: usize| body.get(i + KEY.len()).is_some_and(u8::is_ascii_digit);
    let next = |from: usize| {
        let mut at = from;
        loop {
            let i = find(body, KEY, at)?;
            if is_start(i) {
                return Some(i);
            }
            at = i + 1;
        }
    };
    let mut current = next(0);
    while let Some(start) = current {
        current = next(start + 1);
        let message = &body[start..current.unwrap_or(body.len())];
        let Some(id) = leading_i64(&message[KEY.len()..]) else { continue };
        let chat = find(message, b"\"kind\":\"chat\"", 0).is_some();
        on_message(id, chat, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_list_position() {
        assert_eq!(as_of(br#"{"members":[{"id":"u1"}],"as_of":42}"#), Some(42));
        assert_eq!(as_of(br#"{"members":[],"as_of":0,"more":true}"#), Some(0));
        assert_eq!(as_of(br#"{"id":7,"text":"as_of"}"#), None);
    }

    #[test]
    fn text_fields() {
        let data = br##"{"id":9,"room":"r","kind":"chat","user":{"id":"u","name":"#1","color":"#1"},"text":"123456|42|xxxx","created_at":"x"}"##;
        assert_eq!(parse_text(data), Some((123456, 42)));
        assert_eq!(parse_text(br#"{"text":"hello"}"#), None);
    }

    #[test]
    fn sse_events_across_chunks() {
        let mut parser = SseParser::default();
        let mut got = Vec::new();
        let stream = b"retry: 2000\n\nevent: chat\nid: 7\ndata: {\"text\":\"1|2|x\"}\n\n: keep-alive\n\nevent: members\ndata: {}\n\n";
        for chunk in stream.chunks(5) {
            parser.feed(chunk, |id, chat, data| got.push((id, chat, data.to_vec())));
        }
        assert_eq!(got, vec![(Some(7), true, b"{\"text\":\"1|2|x\"}".to_vec()), (None, false, b"{}".to_vec())]);
    }

    #[test]
    fn ws_frames() {
        let (id, chat, data) = parse_ws(br#"{"event":"chat","id":12,"data":{"text":"5|6|"}}"#).unwrap();
        assert_eq!((id, chat), (Some(12), true));
        assert_eq!(parse_text(data), Some((5, 6)));
        let (id, chat, _) = parse_ws(br#"{"event":"members","data":{"members":[]}}"#).unwrap();
        assert_eq!((id, chat), (None, false));
    }

    #[test]
    fn polled_messages() {
        let body = br##"{"messages":[{"id":3,"room":"r","kind":"system","user":{"id":"u","name":"a","color":"#1"},"text":"a joined"},{"id":4,"room":"r","kind":"chat","user":{"id":"u","name":"a","color":"#1"},"text":"10|0|"}]}"##;
        let mut got = Vec::new();
        each_polled(body, |id, chat, data| got.push((id, chat, parse_text(data))));
        assert_eq!(got, vec![(3, false, None), (4, true, Some((10, 0)))]);
    }
}
