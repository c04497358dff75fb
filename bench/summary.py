#!/usr/bin/env python3
"""Prints the generator's reports (bench/results/*.json by default) as Markdown rows for
BENCHMARKS.md: one row per report, or with --median one row per configuration
(scenario, database, transport) holding the median of its runs and the runs' spread."""
import json
import pathlib
import statistics
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


def figures(path):
    r = json.loads(path.read_text())
    d, p, s, sub = r["deliveries"], r["posts"], r["server"] or {}, r["subscribers"]
    return {
        "connected": sub["connected"],
        "setup": sub["setup_seconds"],
        "joins": sub.get("joins_seen_by_all_seconds"),
        "faults": d["lost"] + d["duplicated"] + d["out_of_order"],
        "p99": d["latency_ms"]["p99"],
        "rate": p["rate_per_s"],
        "cpu": s.get("cpu_us_per_delivery"),
        "rss": s.get("rss_kib_per_connection"),
        "gen": r.get("generator_cpu_seconds"),
    }


def median(runs, key, fmt):
    values = [run[key] for run in runs if run.get(key) is not None]
    if not values:
        return "—"
    spread = f" ({fmt(min(values))}–{fmt(max(values))})" if len(values) > 1 else ""
    return f"{fmt(statistics.median(values))}{spread}"


def median_rows(paths):
    groups = {}
    for path in paths:
        scenario, db, transport = path.stem.split("-")[:3]
        groups.setdefault((scenario, db, transport), []).append(figures(path))
    print("| scenario | transport | db | runs | connected, setup s | every join seen s | lost+dup+disorder "
          "| delivery p99 ms | posts/s | CPU µs per delivery | RSS KiB per connection |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for (scenario, db, transport), runs in sorted(groups.items()):
        print(
            f"| {scenario} | {TRANSPORT[transport]} | {DB[db]} | {len(runs)} "
            f"| {min(r['connected'] for r in runs):,}, {median(runs, 'setup', lambda v: f'{v:.1f}')} "
            f"| {median(runs, 'joins', lambda v: f'{v:.1f}')} | {sum(r['faults'] for r in runs)} "
            f"| {median(runs, 'p99', lambda v: f'{v:.1f}')} | {median(runs, 'rate', lambda v: f'{v:,.0f}')} "
            f"| {median(runs, 'cpu', lambda v: f'{v:.1f}')} | {median(runs, 'rss', lambda v: f'{v:.2f}')} |"
        )


args = [a for a in sys.argv[1:] if a != "--median"]
paths = sorted(pathlib.Path(args[0] if args else "bench/results").glob("*.json"))
if "--median" in sys.argv:
    median_rows(paths)
else:
    for path in paths:
        print(row(path))
