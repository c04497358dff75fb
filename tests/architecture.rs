//! The shape of the code, checked like behaviour: dependencies between the server's source
//! files point one way (domain → storage → realtime → features → routers → lib.rs), so no
//! file is part of an import cycle (`tools/import_cycles.py` finds them); and no file grows
//! past its budget.

use std::process::Command;

#[test]
fn no_source_file_is_part_of_an_import_cycle() {
    let root = env!("CARGO_MANIFEST_DIR");
    let output = Command::new("python3")
        .arg(format!("{root}/tools/import_cycles.py"))
        .arg(format!("{root}/src"))
        .output()
        .expect("python3 runs tools/import_cycles.py");
    assert!(
        output.status.success(),
        "import cycles among src/ files:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Every `.rs` file under `dir` (recursively) with its line count.
fn line_counts(dir: &std::path::Path) -> Vec<(std::path::PathBuf, usize)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if !path.ends_with("node_modules") {
                found.extend(line_counts(&path));
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push((path.clone(), std::fs::read_to_string(&path).unwrap().lines().count()));
        }
    }
    found
}

/// Small modules named for what they do: a source file over 400 lines (a test file over 600)
/// holds more than one thing and is split before it grows further.
#[test]
fn no_file_outgrows_its_budget() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut over = Vec::new();
    for (dir, budget) in [("src", 400), ("load/src", 400), ("tests", 600), ("load/tests", 600)] {
        for (path, lines) in line_counts(&root.join(dir)) {
            if lines > budget {
                over.push(format!("{} has {lines} lines (budget {budget})", path.display()));
            }
        }
    }
    assert!(over.is_empty(), "{}", over.join("\n"));
}
