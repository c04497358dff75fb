//! A bare HTTP/1.1 client on hyper's connection API: the caller owns each TCP connection
//! (and may bind it to a chosen loopback source address), sends requests on it in turn, and
//! can upgrade it to a WebSocket. Only loopback targets are accepted.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    os::fd::AsRawFd,
    sync::atomic::{AtomicU64, Ordering::Relaxed},
    time::Duration,
};

use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{body::Incoming, client::conn::http1, header, HeaderMap, Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpSocket, TcpStream};

pub const COOKIE_NAME: &str = "gif_chat_session";

/// 429 answers seen (the server's write limits), by every connection of this run.
pub static THROTTLED: AtomicU64 = AtomicU64::new(0);
/// How often one request is retried after a 429 before it counts as failed.
pub const MAX_THROTTLED_RETRIES: u32 = 30;

/// How long a 429 asks to wait (`Retry-After` seconds, 1 s without one), at most 10 s.
pub fn retry_after(reply: &Reply) -> Duration {
    let seconds = reply.headers.get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()?.trim().parse::<f64>().ok());
    Duration::from_secs_f64(seconds.unwrap_or(1.0).clamp(0.05, 10.0))
}

/// Where the server listens: a loopback socket address and the `Host` header to send.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub authority: String,
}

/// Parses `http://HOST[:PORT][/]`, refusing any host that is not 127.0.0.0/8, `localhost`
/// or `::1`: this tool must never load anything but the local machine.
pub fn parse_loopback_url(url: &str) -> anyhow::Result<Target> {
    let rest = match url.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
        Some((scheme, _)) => bail!("only http:// URLs are supported, not {scheme}://"),
        None => bail!("--url must look like http://127.0.0.1:8005"),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if !matches!(path, "" | "/") {
        bail!("--url must not have a path (got {path:?}); the API paths are fixed");
    }
    if authority.contains('@') {
        bail!("--url must not contain user info");
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(|| anyhow!("unclosed [ in --url"))?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port: u16 = match port {
        None => 80,
        Some(p) => p.parse().with_context(|| format!("bad port {p:?} in --url"))?,
    };
    let ip = if host.eq_ignore_ascii_case("localhost") {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        host.parse::<IpAddr>().map_err(|_| anyhow!("refusing host {host:?}: only 127.0.0.0/8, localhost or ::1"))?
    };
    let loopback = match ip {
        IpAddr::V4(v4) => v4.octets()[0] == 127,
        IpAddr::V6(v6) => v6 == Ipv6Addr::LOCALHOST,
    };
    if !loopback {
        bail!("refusing host {host:?}: only 127.0.0.0/8, localhost or ::1");
    }
    Ok(Target { addr: SocketAddr::new(ip, port), authority: authority.to_string() })
}

/// Opens a TCP connection, from `source` (port chosen by the kernel at connect time) if given.
pub async fn tcp_connect(addr: SocketAddr, source: Option<IpAddr>) -> std::io::Result<TcpStream> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    if let Some(ip) = source {
        // Defer the port choice to connect(), which can then reuse a port towards another
        // destination: binding port 0 otherwise reserves a port per socket.
        let on: libc::c_int = 1;
        // SAFETY: a plain setsockopt on a socket we own; failure only loses the optimisation.
        unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_BIND_ADDRESS_NO_PORT,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// One HTTP/1.1 connection; requests go one after another.
pub struct Conn {
    sender: http1::SendRequest<Full<Bytes>>,
    authority: String,
}

/// A whole response: status, headers and body.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// `STATUS body` (shortened), for error messages.
    pub fn describe(&self) -> String {
        let body = String::from_utf8_lossy(&self.body[..self.body.len().min(200)]).into_owned();
        format!("{} {}", self.status.as_u16(), body)
    }

    /// The `gif_chat_session` value the server set, if it set one.
    pub fn session_cookie(&self) -> Option<String> {
        self.headers.get_all(header::SET_COOKIE).iter().find_map(|value| {
            let value = value.to_str().ok()?;
            let pair = value.split(';').next()?.trim();
            let (name, v) = pair.split_once('=')?;
            (name == COOKIE_NAME).then(|| v.to_string())
        })
    }

    pub fn json(&self) -> anyhow::Result<serde_json::Value> {
        serde_json::from_slice(&self.body).with_context(|| format!("not JSON: {}", self.describe()))
    }
}

impl Conn {
    pub async fn open(target: &Target, source: Option<IpAddr>) -> anyhow::Result<Self> {
        let stream = tcp_connect(target.addr, source)
            .await
            .with_context(|| format!("connecting to {} from {source:?}", target.addr))?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await.context("HTTP handshake")?;
        tokio::spawn(async move {
            let _ = connection.with_upgrades().await;
        });
        Ok(Self { sender, authority: target.authority.clone() })
    }

    /// A request with `Host` and, when given, the session cookie.
    pub fn request(&self, method: Method, path: &str, cookie: Option<&str>) -> hyper::http::request::Builder {
        let mut builder = Request::builder().method(method).uri(path).header(header::HOST, &self.authority);
        if let Some(cookie) = cookie {
            builder = builder.header(header::COOKIE, format!("{COOKIE_NAME}={cookie}"));
        }
        builder
    }

    /// Sends a request and returns the response head; the body streams.
    pub async fn send(&mut self, request: Request<Full<Bytes>>) -> anyhow::Result<Response<Incoming>> {
        self.sender.ready().await.context("connection closed")?;
        Ok(self.sender.send_request(request).await?)
    }

    /// Sends a request (a JSON body when `json` is given) and reads the whole response.
    pub async fn call(
        &mut self,
        method: Method,
        path: &str,
        cookie: Option<&str>,
        json: Option<Bytes>,
    ) -> anyhow::Result<Reply> {
        let builder = self.request(method, path, cookie);
        let request = match json {
            Some(body) => builder.header(header::CONTENT_TYPE, "application/json").body(Full::new(body))?,
            None => builder.body(Full::new(Bytes::new()))?,
        };
        let response = self.send(request).await?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(Reply { status: parts.status, headers: parts.headers, body })
    }

    /// Like `call`, but waits out 429s (`Retry-After`) and tries again, a bounded number of times.
    pub async fn call_patiently(
        &mut self,
        method: Method,
        path: &str,
        cookie: Option<&str>,
        json: Option<Bytes>,
    ) -> anyhow::Result<Reply> {
        let mut attempts = 0;
        loop {
            let reply = self.call(method.clone(), path, cookie, json.clone()).await?;
            if reply.status != StatusCode::TOO_MANY_REQUESTS || attempts >= MAX_THROTTLED_RETRIES {
                return Ok(reply);
            }
            attempts += 1;
            THROTTLED.fetch_add(1, Relaxed);
            tokio::time::sleep(retry_after(&reply)).await;
        }
    }

    /// `GET /api/me` without a cookie: a fresh anonymous session.
    pub async fn new_session(&mut self) -> anyhow::Result<String> {
        let reply = self.call(Method::GET, "/api/me", None, None).await?;
        if reply.status != StatusCode::OK {
            bail!("GET /api/me: {}", reply.describe());
        }
        reply.session_cookie().ok_or_else(|| anyhow!("GET /api/me set no {COOKIE_NAME} cookie"))
    }

    /// `POST /api/rooms/{id}/join {}`.
    pub async fn join(&mut self, room: &str, cookie: &str) -> anyhow::Result<()> {
        let path = format!("/api/rooms/{room}/join");
        let reply = self.call_patiently(Method::POST, &path, Some(cookie), Some(Bytes::from_static(b"{}"))).await?;
        if reply.status != StatusCode::OK {
            bail!("join: {}", reply.describe());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_urls() {
        for ok in [
            "http://127.0.0.1:8005",
            "http://127.1.2.3:1/",
            "http://localhost:8005",
            "http://[::1]:8005",
            "HTTP://LOCALHOST",
        ] {
            assert!(parse_loopback_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.1:8005",
            "http://example.com",
            "https://127.0.0.1:8005",
            "http://0.0.0.0:8005",
            "http://[::2]:80",
            "http://127.0.0.1.example.com",
            "http://user@127.0.0.1",
            "127.0.0.1:8005",
            "http://127.0.0.1:8005/api",
        ] {
            assert!(parse_loopback_url(bad).is_err(), "{bad}");
        }
        let t = parse_loopback_url("http://localhost:8400").unwrap();
        assert_eq!(t.addr, "127.0.0.1:8400".parse().unwrap());
        assert_eq!(t.authority, "localhost:8400");
    }
}
