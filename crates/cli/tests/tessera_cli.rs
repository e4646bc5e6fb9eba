//! Tessera's command line on `cloister node` and friends, as a user switching from Tessera runs
//! it: `-o`/`--override` on config members, `--pidfile`, `keyupdate` and `version`, checked by
//! what the real process does.

#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::process::Output;
use std::time::Duration;

use cloister_addr::Endpoint;
use cloister_harness::http::{eventually, Request};
use cloister_harness::nodes::{cloister, free_port, use_binary, NodeDir};
use cloister_harness::proxy::RunningProxy;
use serde_json::json;

const CHEAP_ARGON: &str = r#"{"variant":"id","memory":256,"iterations":1,"parallelism":1}"#;

fn setup() -> tempfile::TempDir {
    use_binary(env!("CARGO_BIN_EXE_cloister"));
    tempfile::tempdir().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn upcheck(target: &Endpoint) -> bool {
    Request::new("GET", "/upcheck")
        .try_send(target, None)
        .is_ok_and(|r| r.status == 200)
}

#[test]
fn overrides_replace_a_nested_member_and_an_array_element() {
    let root = setup();
    let a = NodeDir::new(root.path(), "a");
    let config = a.config(&[], json!({}));
    let moved = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
    let db = a.dir.join("overridden.sqlite");
    let node = a.start(
        &config,
        &[
            // Tessera's short spelling, and the long one.
            "-o",
            &format!("serverConfigs[2].serverAddress=http://{moved}"),
            "--override",
            &format!("jdbc.url=jdbc:sqlite:{}", db.display()),
            // A boolean member takes a boolean.
            "-o",
            "useWhiteList=false",
        ],
    );
    // ThirdParty serves at the overridden address, not at the file's.
    assert!(upcheck(&Endpoint::from(moved)), "{}", node.log_text());
    assert!(!upcheck(&a.third_party_target()));
    // The store is the overridden file.
    assert!(db.exists(), "{}", node.log_text());
    assert!(!a.dir.join("db.sqlite").exists());
    // The config file itself is unchanged.
    let on_disk: serde_json::Value =
        serde_json::from_slice(&std::fs::read(a.dir.join("tessera-config.json")).unwrap()).unwrap();
    assert_eq!(on_disk, config);
}

#[test]
fn an_override_naming_no_member_fails_naming_it() {
    let root = setup();
    let a = NodeDir::new(root.path(), "a");
    let config = a.config(&[], json!({}));
    for (arg, named) in [
        ("jdbc.ulr=jdbc:sqlite:/tmp/x.db", "jdbc.ulr"),
        (
            "serverConfigs[7].serverAddress=http://h:1",
            "serverConfigs[7]",
        ),
        ("useWhiteList=maybe", "useWhiteList"),
    ] {
        let (code, log) = a.run_to_exit(&config, &["-o", arg], Duration::from_secs(20));
        assert_ne!(code, Some(0), "{arg}: {log}");
        assert!(code.is_some(), "{arg}: the node did not exit: {log}");
        assert!(log.contains(named), "{arg}: {log}");
        assert!(!upcheck(&a.third_party_target()));
    }
    assert!(!a.dir.join("db.sqlite").exists());
}

#[test]
fn the_pidfile_is_written_refused_while_held_and_removed_on_exit() {
    let root = setup();
    let a = NodeDir::new(root.path(), "a");
    let config = a.config(&[], json!({}));
    let pidfile = root.path().join("cloister.pid");
    let pidfile_arg = pidfile.to_str().unwrap();
    let mut node = a.start(&config, &["--pidfile", pidfile_arg]);
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap().trim(),
        node.pid().to_string()
    );
    assert_eq!(
        std::fs::metadata(&pidfile).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // A second process on the same file is refused, and the file still names the first.
    // (Tessera's single-dash spelling.)
    let (code, log) = a.run_to_exit(&config, &["-pidfile", pidfile_arg], Duration::from_secs(20));
    assert_eq!(code, Some(1), "{log}");
    assert!(
        log.contains(&format!("names process {}, which is running", node.pid())),
        "{log}"
    );
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap().trim(),
        node.pid().to_string()
    );

    node.terminate();
    let status = node.wait_for_exit(Duration::from_secs(20)).unwrap();
    assert!(status.success(), "{}", node.log_text());
    assert!(!pidfile.exists(), "the pid file outlived a clean exit");

    // A stale file (its process gone) is replaced.
    std::fs::write(&pidfile, "99999999\n").unwrap();
    let node = a.start(&config, &["--pidfile", pidfile_arg]);
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap().trim(),
        node.pid().to_string()
    );
}

#[test]
fn the_proxy_writes_and_removes_its_pidfile() {
    let root = setup();
    let pidfile = root.path().join("proxy.pid");
    let socket = root.path().join("front.ipc");
    let proxy = RunningProxy::start(
        root.path(),
        &[
            "--listen".into(),
            format!("unix:{}", socket.display()),
            "--upstream".into(),
            format!("http://127.0.0.1:{}", free_port()),
            "--pidfile".into(),
            pidfile.display().to_string(),
        ],
        &json!({}),
    );
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap().trim(),
        proxy.pid().to_string()
    );
    assert!(cloister_harness::signal::send("TERM", &[proxy.pid()]));
    assert!(
        eventually(Duration::from_secs(10), || !pidfile.exists()),
        "{}",
        proxy.log_text()
    );
}

#[test]
fn keyupdate_changes_the_password_the_node_starts_with() {
    let root = setup();
    let a = NodeDir::new(root.path(), "a");
    let dir = &a.dir;
    std::fs::write(dir.join("argon.json"), CHEAP_ARGON).unwrap();
    std::fs::write(dir.join("old.pw"), "old-password\n").unwrap();
    std::fs::write(dir.join("new.pw"), "new-password\n").unwrap();
    std::fs::write(dir.join("empty.pw"), "").unwrap();
    let key = dir.join("tm.key");
    let keyupdate = |args: &[&str]| cloister().arg("keyupdate").args(args).output().unwrap();
    let path = |name: &str| dir.join(name).to_str().unwrap().to_owned();

    // The harness's key is unlocked: lock it with the old password (Tessera's spellings).
    let out = keyupdate(&[
        "--keys.keyData.privateKeyPath",
        &path("tm.key"),
        "--new-password-file",
        &path("old.pw"),
        "--argonconfig",
        &path("argon.json"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Then change it, keeping its Argon2 options.
    let out = keyupdate(&[
        "--keyfile",
        &path("tm.key"),
        "--password-file",
        &path("old.pw"),
        "--new-password-file",
        &path("new.pw"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&key).unwrap();
    let output = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    for secret in ["old-password", "new-password"] {
        assert!(!text.contains(secret) && !output.contains(secret));
    }
    let file: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(file["type"], "argon2sbox");
    assert_eq!(file["data"]["aopts"]["memory"], 256);
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // No temporary file is left beside it.
    assert_eq!(
        std::fs::read_dir(dir)
            .unwrap()
            .filter(|e| e
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("keyupdate"))
            .count(),
        0
    );

    // A wrong current password changes nothing.
    let out = keyupdate(&[
        "--keyfile",
        &path("tm.key"),
        "--password-file",
        &path("old.pw"),
        "--new-password-file",
        &path("empty.pw"),
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no line of the password file opens the key"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_to_string(&key).unwrap(), text);

    // The node opens the key with the new password, and not with the old.
    let with_password = |file: &str| {
        let mut config = a.config(&[], json!({}));
        config["keys"]["passwordFile"] = json!(path(file));
        config
    };
    let (code, log) = a.run_to_exit(&with_password("old.pw"), &[], Duration::from_secs(20));
    assert_ne!(code, Some(0), "{log}");
    assert!(log.contains("wrong password"), "{log}");
    let node = a.start(&with_password("new.pw"), &[]);
    assert!(upcheck(&a.third_party_target()), "{}", node.log_text());
}

#[test]
fn version_prints_the_bare_version_as_tessera_does() {
    let _root = setup();
    for args in [&["version"][..], &["--version"], &["-version"]] {
        let out = cloister().args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{}\n", env!("CARGO_PKG_VERSION")),
            "{args:?}"
        );
    }
}
