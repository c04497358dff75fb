//! The shape of the code, checked like behaviour: dependencies between the server's source
//! files point one way (domain → storage → realtime → features → routers → lib.rs), so no
//! file is part of an import cycle. `tools/import_cycles.py` finds them.

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
