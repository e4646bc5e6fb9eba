//! `cloister node` refuses a config it cannot use with one clear message naming the problem,
//! and exits non-zero, before listening on anything.

#![allow(clippy::unwrap_used)]

use std::process::Command;

fn node(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cloister"))
        .arg("node")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn unusable_configs_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, stderr) = node(&["--configfile", "/no/such/tessera.json"]);
    assert!(!ok);
    assert!(
        stderr.contains("cannot read config file /no/such/tessera.json"),
        "{stderr}"
    );

    let invalid = dir.path().join("invalid.json");
    std::fs::write(
        &invalid,
        r#"{"jdbc": {"url": "jdbc:h2:./db"}, "serverConfigs": [], "peer": []}"#,
    )
    .unwrap();
    let (ok, stderr) = node(&["-configfile", invalid.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        stderr.contains("jdbc.url: Cloister supports jdbc:sqlite"),
        "{stderr}"
    );
    assert!(stderr.contains("serverConfigs"), "{stderr}");

    let not_json = dir.path().join("garbage.json");
    std::fs::write(&not_json, "{ this is not json").unwrap();
    let (ok, stderr) = node(&["--configfile", not_json.to_str().unwrap()]);
    assert!(!ok);
    assert!(stderr.contains("garbage.json"), "{stderr}");
}
