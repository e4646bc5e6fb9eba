//! `cloister migrate` (issue 16): Tessera's default H2 store, made by H2's own jar with
//! Tessera's H2 DDL and holding the §7.2 vector rows (LEGACY, CBOR, and a row from before the
//! codec column was filled), copied into SQLite and into PostgreSQL and served by `cloister
//! node`; SQLite → PostgreSQL → SQLite with equal digests; a run stopped part-way resumed; a
//! second run that changes nothing; sources that are not Tessera's refused.

#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use cloister_core::b64;
use cloister_core::keys::{KeyPair, PrivateKey};
use cloister_harness::http::{path_escape, Request};
use cloister_harness::nodes::{cloister, NodeDir};
use cloister_harness::postgres::PgCluster;
use cloister_harness::tessera::vectors::{
    B_PRIVATE, CBOR_FOR_B, HASH_SHA3, LEGACY_FOR_B, PLAINTEXT,
};
use cloister_harness::tessera::{h2_run_script, H2_DDL};
use serde_json::{json, Value};

/// Generated rows next to the vectors, so that copies take several pages.
const GENERATED: u32 = 2500;

/// The vector rows' hashes (base64), and an H2 database holding them and the generated rows.
fn tessera_h2(dir: &Path) -> (std::path::PathBuf, [String; 3]) {
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let vector = hex(&b64::decode(HASH_SHA3).unwrap());
    let (cbor, old) = ("11".repeat(64), "22".repeat(64));
    let base = dir.join("tessera");
    h2_run_script(
        &base,
        &format!(
            "{H2_DDL}
INSERT INTO ENCRYPTED_TRANSACTION (HASH, ENCODED_PAYLOAD, PAYLOAD_CODEC, TIMESTAMP) VALUES
 (X'{vector}', X'{LEGACY_FOR_B}', 'LEGACY', 1700000000000),
 (X'{cbor}', X'{CBOR_FOR_B}', 'CBOR', 1700000000001),
 (X'{old}', X'{LEGACY_FOR_B}', NULL, NULL);
INSERT INTO ENCRYPTED_TRANSACTION (HASH, ENCODED_PAYLOAD, PAYLOAD_CODEC, TIMESTAMP)
 SELECT HASH('SHA-512', CAST(X AS VARCHAR)), HASH('SHA-512', CAST(-X AS VARCHAR)) || HASH('SHA-256', CAST(X AS VARCHAR)), 'CBOR', X
 FROM SYSTEM_RANGE(1, {GENERATED});
INSERT INTO ENCRYPTED_RAW_TRANSACTION VALUES (X'01', X'02', X'03', X'{}', 1700000000002, X'{}');
INSERT INTO PRIVACY_GROUP VALUES (X'0a0b', X'0c', X'0d0e', 1700000000003);
INSERT INTO ST_TRANSACTION VALUES (1, NULL, 'c3RhZ2Vk', X'{LEGACY_FOR_B}', 0, 1700000000004, NULL);
INSERT INTO ST_AFFECTED_TRANSACTION VALUES (1, 'YWZmZWN0ZWQ=', 1);
",
            "ff".repeat(32),
            "33".repeat(64)
        ),
    );
    let b64 = |hex_text: &str| {
        let bytes: Vec<u8> = (0..hex_text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex_text[i..i + 2], 16).unwrap())
            .collect();
        b64::encode(&bytes)
    };
    (base, [HASH_SHA3.to_owned(), b64(&cbor), b64(&old)])
}

/// `cloister migrate` with `args`; its output.
fn migrate(args: &[&str]) -> Output {
    cloister().arg("migrate").args(args).output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts success and a verification of every table; the output.
fn migrated(args: &[&str]) -> String {
    let out = migrate(args);
    let text = stdout(&out);
    assert!(
        out.status.success() && text.contains("verified: every table holds the same rows"),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// The `verify` line of `table`.
fn verify_line<'a>(output: &'a str, table: &str) -> &'a str {
    output
        .lines()
        .find(|l| l.starts_with("verify") && l.split_whitespace().nth(1) == Some(table))
        .unwrap_or_else(|| panic!("no verify line for {table}: {output}"))
}

/// The number of rows `copied` says were inserted into `table`.
fn inserted(output: &str, table: &str) -> u64 {
    let line = output
        .lines()
        .find(|l| l.starts_with("copied") && l.split_whitespace().nth(1) == Some(table))
        .unwrap_or_else(|| panic!("no copied line for {table}: {output}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words
        .iter()
        .position(|w| w.starts_with("inserted"))
        .unwrap();
    words[at - 1].parse().unwrap()
}

/// A PostgreSQL URL with the harness's credentials, for `--to`/`--from`.
fn postgres_url(pg: &PgCluster, database: &str) -> String {
    pg.create_database(database);
    pg.url(database)
}

/// A node with key B on `jdbc` reads every vector row back as the vector's plaintext.
fn served(root: &Path, name: &str, jdbc: Value, hashes: &[String]) {
    let node = NodeDir::new(root, name);
    let key_file = json!({ "type": "unlocked", "data": { "bytes": B_PRIVATE } });
    let key = node.dir.join("tm.key");
    std::fs::write(&key, serde_json::to_vec(&key_file).unwrap()).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let pair = KeyPair::from_private(PrivateKey::from_base64(B_PRIVATE, "key B").unwrap());
    std::fs::write(node.dir.join("tm.pub"), pair.public().to_base64()).unwrap();
    let _running = node.start(&node.config(&[], json!({ "jdbc": jdbc })), &[]);
    for hash in hashes {
        let read = Request::new("GET", &format!("/transaction/{}", path_escape(hash)))
            .header("Accept", "application/json")
            .send(&node.q2t());
        assert_eq!(read.status, 200, "{name} {hash}: {}", read.text());
        let payload = b64::decode(read.json()["payload"].as_str().unwrap()).unwrap();
        assert_eq!(payload, PLAINTEXT, "{name} {hash}");
    }
}

#[test]
fn tesseras_h2_store_migrates_to_sqlite_and_postgresql_and_is_served_from_both() {
    cloister_harness::nodes::use_binary(env!("CARGO_BIN_EXE_cloister"));
    let root = tempfile::tempdir().unwrap();
    let (h2, hashes) = tessera_h2(root.path());
    let h2_file = h2.with_extension("mv.db");
    let before = std::fs::read(&h2_file).unwrap();
    let from = format!(
        "jdbc:h2:{};MODE=Oracle;TRACE_LEVEL_SYSTEM_OUT=0",
        h2.display()
    );

    let sqlite = root.path().join("migrated.db");
    let to_sqlite = format!("jdbc:sqlite:{}", sqlite.display());
    let output = migrated(&["--from", &from, "--to", &to_sqlite, "--batch-rows", "500"]);
    let rows = GENERATED as u64 + 3;
    assert_eq!(inserted(&output, "ENCRYPTED_TRANSACTION"), rows, "{output}");
    for table in [
        "ENCRYPTED_RAW_TRANSACTION",
        "PRIVACY_GROUP",
        "ST_TRANSACTION",
        "ST_AFFECTED_TRANSACTION",
    ] {
        assert_eq!(inserted(&output, table), 1, "{table}: {output}");
    }
    served(
        root.path(),
        "on-sqlite",
        json!({ "url": to_sqlite }),
        &hashes,
    );

    let pg = PgCluster::single();
    let to_postgres = postgres_url(&pg, "migrated");
    let output = migrated(&["--from", &from, "--to", &to_postgres]);
    assert_eq!(inserted(&output, "ENCRYPTED_TRANSACTION"), rows, "{output}");
    served(
        root.path(),
        "on-postgres",
        pg.jdbc("migrated", "", false),
        &hashes,
    );

    assert!(
        std::fs::read(&h2_file).unwrap() == before,
        "the H2 source was written to"
    );
}

#[test]
fn sqlite_to_postgresql_and_back_resumes_repeats_idempotently_and_keeps_every_digest() {
    cloister_harness::nodes::use_binary(env!("CARGO_BIN_EXE_cloister"));
    let root = tempfile::tempdir().unwrap();
    let (h2, _) = tessera_h2(root.path());
    let first = format!("jdbc:sqlite:{}", root.path().join("first.db").display());
    migrated(&[
        "--from",
        &format!("jdbc:h2:{}", h2.display()),
        "--to",
        &first,
    ]);
    let pg = PgCluster::single();
    let postgres = postgres_url(&pg, "middle");

    // Stopped part-way (as an interruption would leave it), then resumed.
    let stopped = migrate(&[
        "--from",
        &first,
        "--to",
        &postgres,
        "--batch-rows",
        "500",
        "--max-rows",
        "1200",
    ]);
    let text = stdout(&stopped);
    assert!(
        stopped.status.success() && text.contains("stopped after --max-rows 1200"),
        "{text}"
    );
    assert_eq!(inserted(&text, "ENCRYPTED_TRANSACTION"), 1200, "{text}");
    let resumed = migrated(&["--from", &first, "--to", &postgres, "--batch-rows", "500"]);
    assert!(resumed.contains("resumed after 1200"), "{resumed}");
    assert_eq!(
        inserted(&resumed, "ENCRYPTED_TRANSACTION"),
        GENERATED as u64 + 3 - 1200,
        "{resumed}"
    );

    // Run again: everything is read, nothing is inserted.
    let again = migrated(&["--from", &first, "--to", &postgres]);
    for line in again.lines().filter(|l| l.starts_with("copied")) {
        let table = line.split_whitespace().nth(1).unwrap();
        assert_eq!(inserted(&again, table), 0, "{again}");
    }

    // And back into a new SQLite file: the digests are the ones the first copy had.
    let last = format!("jdbc:sqlite:{}", root.path().join("last.db").display());
    let back = migrated(&["--from", &postgres, "--to", &last]);
    for table in [
        "ENCRYPTED_TRANSACTION",
        "ENCRYPTED_RAW_TRANSACTION",
        "PRIVACY_GROUP",
        "ST_TRANSACTION",
    ] {
        let digest = |line: &str| line.split_whitespace().nth(4).unwrap().to_owned();
        assert_eq!(
            digest(verify_line(&back, table)),
            digest(verify_line(&resumed, table)),
            "{table}"
        );
    }
}

#[test]
fn a_source_that_is_not_a_tessera_database_is_refused_and_nothing_is_created() {
    cloister_harness::nodes::use_binary(env!("CARGO_BIN_EXE_cloister"));
    let root = tempfile::tempdir().unwrap();
    let other = root.path().join("other");
    h2_run_script(&other, "CREATE TABLE ACCOUNTS (ID BIGINT PRIMARY KEY);");
    let destination = root.path().join("never.db");
    let to = format!("jdbc:sqlite:{}", destination.display());
    let out = migrate(&[
        "--from",
        &format!("jdbc:h2:{}", other.display()),
        "--to",
        &to,
    ]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("is not a Tessera database: it has no ENCRYPTED_TRANSACTION table"),
        "{said}"
    );
    assert!(!destination.exists());

    // A path with no database is refused, not created (H2 would create one by default).
    let missing = root.path().join("missing");
    let out = migrate(&[
        "--from",
        &format!("jdbc:h2:{}", missing.display()),
        "--to",
        &to,
    ]);
    assert!(!out.status.success());
    assert!(!missing.with_extension("mv.db").exists());

    // Without H2's jar, one sentence says what to install.
    let out = cloister()
        .args([
            "migrate",
            "--from",
            &format!("jdbc:h2:{}", other.display()),
            "--to",
            &to,
        ])
        .env("CLOISTER_H2_JAR", root.path().join("no.jar"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("reading an H2 database needs Java and H2's jar"),
        "{said}"
    );
}
