//! Runs the browser suite (`tests/browser/*.test.mjs`: Debian's Chromium driven by
//! playwright-core) against the real server binary, so `cargo test` covers the front-end too.
//! Prerequisites, which `.ci/run` installs: `apt-get install chromium` and
//! `npm ci --prefix tests/browser`.

use std::{path::Path, process::Command};

#[test]
fn the_front_end_works_in_a_real_browser() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "the browser suite needs `npm ci --prefix tests/browser` and Debian's chromium (see .ci/run)"
    );
    assert!(Path::new("/usr/bin/chromium").exists(), "the browser suite needs Debian's chromium at /usr/bin/chromium");
    let mut suites: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".test.mjs"))
        .collect();
    suites.sort();
    assert!(!suites.is_empty(), "no browser tests found");
    let status = Command::new("node")
        .args(["--test", "--test-concurrency=1", "--test-reporter=spec"])
        .args(&suites)
        .current_dir(&dir)
        .env("GIF_CHAT_BIN", env!("CARGO_BIN_EXE_gif-chat"))
        .status()
        .expect("node runs");
    assert!(status.success(), "the browser suite failed (its report is above)");
}
