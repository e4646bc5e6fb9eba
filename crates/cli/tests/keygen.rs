//! `cloister keygen` as a user runs it: a real process writing real files.

#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use cloister_core::keys::file::{parse_public_key_file, KeyFile};
use cloister_core::keys::Password;

const SMALL_ARGON: &str = r#"{"variant":"id","memory":256,"iterations":1,"parallelism":1}"#;

fn cloister(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cloister"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("the cloister binary runs")
}

/// Fails the test, showing what the command wrote to stderr, unless it succeeded.
fn assert_succeeded(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `cloister keygen` for a key `filename` in `dir` locked with the password `s3cret`,
/// from the file `pw`, with cheap Argon2 options given by `argon_flag` (which has two
/// spellings).
fn keygen_locked(dir: &Path, filename: &str, argon_flag: &str) {
    std::fs::write(dir.join("pw"), "s3cret\n").unwrap();
    std::fs::write(dir.join("argon.json"), SMALL_ARGON).unwrap();
    let out = cloister(
        dir,
        &[
            "keygen",
            "--filename",
            filename,
            "--password-file",
            "pw",
            argon_flag,
            "argon.json",
        ],
    );
    assert_succeeded(&out);
}

#[test]
fn locked_key_round_trip_through_keygen_and_unlock() {
    let dir = tempfile::tempdir().unwrap();
    keygen_locked(dir.path(), "keys/node", "--argon-config");

    let public_text = std::fs::read_to_string(dir.path().join("keys/node.pub")).unwrap();
    assert!(!public_text.ends_with('\n'), "Tessera writes the bare key");
    let public = parse_public_key_file(&public_text).unwrap();
    let key_path = dir.path().join("keys/node.key");
    assert_eq!(
        std::fs::metadata(&key_path).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let key_file = KeyFile::parse(&std::fs::read(&key_path).unwrap()).unwrap();
    assert!(key_file.is_locked());
    let private = key_file.unlock(Some(&Password::new("s3cret"))).unwrap();
    assert_eq!(private.public_key(), public);
    assert!(key_file.unlock(Some(&Password::new("wrong"))).is_err());
}

#[test]
fn tessera_spelling_makes_unlocked_keys_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    assert_succeeded(&cloister(dir.path(), &["-keygen", "-filename", "a,b"]));
    for name in ["a", "b"] {
        let key = KeyFile::parse(&std::fs::read(dir.path().join(format!("{name}.key"))).unwrap())
            .unwrap();
        let public = parse_public_key_file(
            &std::fs::read_to_string(dir.path().join(format!("{name}.pub"))).unwrap(),
        )
        .unwrap();
        assert_eq!(key.unlock(None).unwrap().public_key(), public);
    }
    let before = std::fs::read(dir.path().join("a.key")).unwrap();
    let again = cloister(dir.path(), &["keygen", "--filename", "a"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("a.pub already exists"));
    assert_eq!(std::fs::read(dir.path().join("a.key")).unwrap(), before);
}

#[test]
fn private_keys_never_reach_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = cloister(dir.path(), &["keygen", "--filename", "k"]);
    assert!(out.status.success());
    let key = KeyFile::parse(&std::fs::read(dir.path().join("k.key")).unwrap()).unwrap();
    let private = key.unlock(None).unwrap().to_base64();
    let printed = [out.stdout, out.stderr].concat();
    assert!(!String::from_utf8_lossy(&printed).contains(private.as_str()));
}

#[test]
fn keygen_output_loads_through_a_tessera_config() {
    use cloister_core::config::Config;
    use cloister_core::keys::source;

    let dir = tempfile::tempdir().unwrap();
    keygen_locked(dir.path(), "tm", "--argonconfig");
    let at = |name: &str| dir.path().join(name).display().to_string();
    let config = format!(
        r#"{{"jdbc":{{"url":"jdbc:sqlite:tm.db"}},
            "serverConfigs":[{{"app":"P2P","serverAddress":"http://localhost:9001"}}],
            "peer":[],
            "keys":{{"passwordFile":"{}","keyData":[{{"privateKeyPath":"{}","publicKeyPath":"{}"}}]}}}}"#,
        at("pw"),
        at("tm.key"),
        at("tm.pub")
    );
    let loaded = Config::parse(config.as_bytes()).unwrap();
    loaded.config.validate().unwrap();
    let keys = loaded.config.keys.as_ref().unwrap();
    let pairs = source::resolve(keys, &mut |path| std::fs::read(path)).unwrap();
    let public = std::fs::read_to_string(dir.path().join("tm.pub")).unwrap();
    assert_eq!(pairs[0].public().to_base64(), public);

    std::fs::write(dir.path().join("pw"), "wrong\n").unwrap();
    let error = source::resolve(keys, &mut |path| std::fs::read(path))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("tm.key") && error.contains("wrong password"),
        "{error}"
    );
}
