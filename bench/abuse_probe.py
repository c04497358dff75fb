#!/usr/bin/env python3
"""Tries issue 13's attacks against a running gif-chat, as a script would, and prints what
the server let through: the figures behind the closing note. Loopback only, bounded in count
and time; standard library only. The GIF-bomb figures come from the faults suite instead
(`cargo test --test faults abuse -- --nocapture`), which measures the server process itself.

    bench/abuse_probe.sh            # starts a release server (plain and TLS) and runs this

or by hand against a server you started: bench/abuse_probe.py --url http://127.0.0.1:8401
[--tls-url https://127.0.0.1:8402]
"""

import argparse
import http.client
import json
import socket
import ssl
import time
import urllib.parse


def request(base, method, path, body=None, cookie=None, headers=None, source="127.0.0.1"):
    """One HTTP/1.1 request on its own connection from `source`: (status, headers, body)."""
    url = urllib.parse.urlparse(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30, source_address=(source, 0))
    all_headers = dict(headers or {})
    if cookie:
        all_headers["Cookie"] = cookie
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        all_headers["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=all_headers)
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    return response.status, response.headers, payload


def session(base, source="127.0.0.1"):
    status, headers, _ = request(base, "GET", "/api/me", source=source)
    assert status == 200, status
    return headers["Set-Cookie"].split(";")[0]


def open_stream(base, path, source, cookie=None):
    """Opens an event stream and keeps its socket; returns (status, socket)."""
    url = urllib.parse.urlparse(base)
    sock = socket.create_connection((url.hostname, url.port), timeout=10, source_address=(source, 0))
    extra = f"Cookie: {cookie}\r\n" if cookie else ""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {url.netloc}\r\nAccept: text/event-stream\r\n{extra}\r\n".encode())
    head = sock.recv(4096).decode(errors="replace")
    return int(head.split(" ", 2)[1]), sock


def probe_sessions(base):
    minted = refused = 0
    for _ in range(120):
        status, headers, _ = request(base, "GET", "/api/me", source="127.0.0.2")
        if status == 200 and headers.get("Set-Cookie"):
            minted += 1
        elif status == 429:
            refused += 1
    other, _, _ = request(base, "GET", "/api/me", source="127.0.0.3")
    print(f"2. 120 cookie-less GET /api/me from one address: {minted} sessions issued, {refused} × 429 "
          f"too_many_sessions; another address: {other}")


def probe_seats(base):
    owner = session(base)
    _, _, body = request(base, "POST", "/api/rooms", {"title": "open door", "max": 5}, cookie=owner)
    room = json.loads(body)["id"]
    streams = []
    for _ in range(20):
        request(base, "GET", f"/api/rooms/{room}/messages?after=0&wait=0", source="127.0.0.4")
        streams.append(open_stream(base, f"/api/rooms/{room}/events", "127.0.0.4")[1])
    _, _, body = request(base, "GET", f"/api/rooms/{room}", cookie=owner)
    members = json.loads(body)["members"]
    user = session(base, source="127.0.0.5")
    status, _, _ = request(base, "POST", f"/api/rooms/{room}/join", {}, cookie=user, source="127.0.0.5")
    stored = json.loads(request(base, "GET", f"/api/rooms/{room}/messages?limit=200", cookie=owner)[2])["messages"]
    for sock in streams:
        sock.close()
    print(f"1. 40 cookie-less GETs (20 long-polls, 20 SSE) on an open max-5 room: members {members}, "
          f"a real user's join {status}, messages stored {len(stored)} (the owner's join and the user's)")


def probe_streams(base):
    accepted = []
    refused = 0
    for _ in range(600):
        status, sock = open_stream(base, "/api/lobby/events", "127.0.0.6")
        if status == 200:
            accepted.append(sock)
        else:
            refused += 1
            sock.close()
    other, sock = open_stream(base, "/api/lobby/events", "127.0.0.7")
    sock.close()
    status, _, body = request(base, "GET", "/metrics")
    counted = [line for line in body.decode().splitlines() if 'reason="too_many_connections"' in line]
    for sock in accepted:
        sock.close()
    print(f"3. 600 cookie-less lobby streams from one address: {len(accepted)} accepted, {refused} × 429 "
          f"too_many_connections; another address: {other}; /metrics: {counted}")


def probe_passwords(base):
    owner = session(base)
    _, _, body = request(base, "POST", "/api/rooms", {"title": "vault", "password": "right one"}, cookie=owner)
    room = json.loads(body)["id"]
    guesser = session(base, source="127.0.0.8")
    outcomes = {}
    started = time.monotonic()
    for n in range(20):
        status, headers, _ = request(base, "POST", f"/api/rooms/{room}/join", {"password": f"guess {n}"},
                                     cookie=guesser, source="127.0.0.8")
        outcomes[status] = outcomes.get(status, 0) + 1
        retry_after = headers.get("Retry-After")
    elapsed = time.monotonic() - started
    friend = session(base, source="127.0.0.9")
    status, _, _ = request(base, "POST", f"/api/rooms/{room}/join", {"password": "right one"}, cookie=friend,
                           source="127.0.0.9")
    print(f"7. 20 wrong passwords from one address: {outcomes} (403 wrong_password, 429 too_many_attempts, "
          f"last Retry-After {retry_after} s) in {elapsed:.2f} s; the right one from another address: {status}")


def probe_body_stall(base):
    url = urllib.parse.urlparse(base)
    cookie = session(base)
    sock = socket.create_connection((url.hostname, url.port), timeout=120)
    sock.sendall(f"POST /api/rooms HTTP/1.1\r\nHost: {url.netloc}\r\nCookie: {cookie}\r\n"
                 "Content-Type: application/json\r\nContent-Length: 60000\r\n\r\n{\"title\":".encode())
    started = time.monotonic()
    answer = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            break
        answer += chunk
    status = answer.split(b" ", 2)[1].decode() if answer else "none"
    print(f"9. a POST announcing 60,000 bytes that sends 10: answered {status} and closed after "
          f"{time.monotonic() - started:.1f} s")


def probe_tls_silence(tls_base):
    url = urllib.parse.urlparse(tls_base)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    for alpn in ["h2", "http/1.1"]:
        context.set_alpn_protocols([alpn])
        raw = socket.create_connection((url.hostname, url.port), timeout=60)
        tls = context.wrap_socket(raw, server_hostname="localhost")
        started = time.monotonic()
        try:
            while tls.recv(4096):
                pass  # h2's SETTINGS frame, say
        except (ConnectionError, ssl.SSLError, socket.timeout):
            pass
        print(f"8. a TLS connection ({alpn}) that sends nothing after its handshake: closed after "
              f"{time.monotonic() - started:.1f} s")
        tls.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--tls-url")
    args = parser.parse_args()
    for target in [args.url, args.tls_url]:
        if target and urllib.parse.urlparse(target).hostname not in ("127.0.0.1", "localhost"):
            raise SystemExit("loopback targets only")
    probe_seats(args.url)
    probe_sessions(args.url)
    probe_streams(args.url)
    probe_passwords(args.url)
    if args.tls_url:
        probe_tls_silence(args.tls_url)
    probe_body_stall(args.url)


if __name__ == "__main__":
    main()
