#!/usr/bin/env python3
"""Prints one Markdown row per bench/results/*.json (the generator's reports), for BENCHMARKS.md."""
import json
import pathlib
import sys

DB = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
TRANSPORT = {"sse": "SSE", "ws": "WebSocket", "poll": "polling"}

def row(path):
    scenario, db, transport = path.stem.split("-")[:3]
    r = json.loads(path.read_text())
    d, p, s, sub = r["deliveries"], r["posts"], r["server"], r["subscribers"]
    per = s.get("cpu_us_per_delivery")
    cpu = f"{per:.1f} µs" if per is not None else "—"
    return (
        f"| {scenario} | {TRANSPORT[transport]} | {DB[db]} | {sub['connected']:,} in {sub['setup_seconds']:.1f} s "
        f"| {d['delivered']:,} / {d['lost']} / {d['duplicated']} / {d['out_of_order']} "
        f"| {d['latency_ms']['p50']} / {d['latency_ms']['p99']} ms | {p['rate_per_s']:,.0f} "
        f"| {p['latency_ms']['p50']} / {p['latency_ms']['p99']} ms | {cpu} "
        f"| {s['rss_kib_per_connection']:.2f} KiB |"
    )

paths = sorted(pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "bench/results").glob("*.json"))
for path in paths:
    print(row(path))
