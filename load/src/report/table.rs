//! The report as a table on stdout: one row per figure, read from the same JSON the report writes.

use serde_json::Value;

use super::Report;

/// `1.23` for a number, `-` for null.
fn show(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("-".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
}

impl Report {
    pub fn print(&self) {
        let j = self.to_json();
        let c = &j["config"];
        let (s, p, d) = (&j["subscribers"], &j["posts"], &j["deliveries"]);
        let run = match self.soak_secs {
            Some(secs) => format!(
                "{} · soak {secs} s · {} rooms × {} subscribers, each posting every ~{} ms · {} B padding",
                c["transport"].as_str().unwrap_or(""),
                c["rooms"],
                c["subscribers_per_room"],
                c["soak_interval_ms"],
                c["message_bytes"],
            ),
            None => format!(
                "{} · {} rooms × {} subscribers · {} messages @ {} · {} posters · {} B padding",
                c["transport"].as_str().unwrap_or(""),
                c["rooms"],
                c["subscribers_per_room"],
                self.messages,
                if c["rate"].as_f64() == Some(0.0) { "max rate".into() } else { format!("{}/s", c["rate"]) },
                c["posters"],
                c["message_bytes"],
            ),
        };
        let mut rows: Vec<(&str, String)> = vec![
            ("run", run),
            ("subscribers", format!("{}/{} connected in {} s", s["connected"], s["target"], s["setup_seconds"])),
            ("joins", format!("every join seen by every subscriber after {} s", show(&s["joins_seen_by_all_seconds"]))),
            (
                "connect time",
                format!(
                    "p50 {} ms · p99 {} ms · max {} ms",
                    show(&s["connect_ms"]["p50"]),
                    show(&s["connect_ms"]["p99"]),
                    show(&s["connect_ms"]["max"])
                ),
            ),
            (
                "posts",
                format!(
                    "{} ok · {} failed · {} s · {} /s achieved",
                    p["ok"], p["failed"], p["seconds"], p["rate_per_s"]
                ),
            ),
            (
                "post latency",
                format!(
                    "p50 {} ms · p99 {} ms · max {} ms",
                    show(&p["latency_ms"]["p50"]),
                    show(&p["latency_ms"]["p99"]),
                    show(&p["latency_ms"]["max"])
                ),
            ),
            ("expected", d["expected"].to_string()),
            ("delivered", d["delivered"].to_string()),
            ("lost", d["lost"].to_string()),
            ("duplicated", d["duplicated"].to_string()),
            ("out of order", d["out_of_order"].to_string()),
            (
                "delivery latency",
                format!(
                    "p50 {} ms · p90 {} ms · p99 {} ms · max {} ms",
                    show(&d["latency_ms"]["p50"]),
                    show(&d["latency_ms"]["p90"]),
                    show(&d["latency_ms"]["p99"]),
                    show(&d["latency_ms"]["max"])
                ),
            ),
        ];
        if d["misrouted"] != 0 || d["foreign"] != 0 || d["unexpected"] != 0 {
            rows.push((
                "other",
                format!("misrouted {} · foreign {} · unexpected {}", d["misrouted"], d["foreign"], d["unexpected"]),
            ));
        }
        if p["throttled_429"] != 0 {
            rows.push((
                "throttled",
                format!(
                    "{} × 429 waited out (RATE_LIMIT_BURST=0 on the server turns its limits off)",
                    p["throttled_429"]
                ),
            ));
        }
        if self.soak_secs.is_some() {
            let soak = &j["soak"];
            rows.push((
                "soak",
                format!(
                    "sent {} · delivered {} · lost {} · duplicated {} · server RSS {} start → {} end ({} peak)",
                    soak["sent"],
                    soak["delivered"],
                    soak["lost"],
                    soak["duplicated"],
                    mib(soak["rss_kib_start"].as_u64()),
                    mib(soak["rss_kib_end"].as_u64()),
                    mib(soak["rss_kib_peak"].as_u64()),
                ),
            ));
        }
        if let Some(server) = &self.server {
            let sj = &j["server"];
            rows.push((
                "server RSS",
                format!(
                    "{} before · {} subscribed ({} KiB/connection) · {} after",
                    mib(server.rss_before_kib),
                    mib(server.rss_subscribed_kib),
                    show(&sj["rss_kib_per_connection"]),
                    mib(server.rss_after_kib)
                ),
            ));
            rows.push((
                "server CPU",
                format!(
                    "{} s posting+delivering · {} µs per delivery",
                    show(&sj["cpu_seconds"]),
                    show(&sj["cpu_us_per_delivery"])
                ),
            ));
        }
        rows.push(("generator CPU", format!("{} s", show(&j["generator_cpu_seconds"]))));
        for (what, map) in [
            ("connect failures", &self.connect_failures),
            ("post failures", &self.posts.failures),
            ("streams ended", &self.deliveries.ended_early),
        ] {
            for (why, n) in map.iter().take(5) {
                rows.push((what, format!("{n} × {why}")));
            }
        }
        if self.timed_out {
            rows.push(("timed out", "the run hit --timeout".into()));
        }
        rows.push(("result", if self.ok() { "OK".into() } else { "FAILED".into() }));
        let width = rows.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
        for (k, v) in rows {
            println!("{k:<width$}  {v}");
        }
    }
}
