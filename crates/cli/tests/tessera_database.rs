//! Adopting an existing Tessera database: PostgreSQL laid out by Tessera's own DDL, holding
//! rows as Tessera writes them (LEGACY and CBOR payloads, and a row from before Tessera's
//! codec and timestamp columns were filled), and Tessera's key file for the party. `cloister
//! node` starts on it without `autoCreateTables`, reads every row back, leaves Tessera's tables
//! as they were, and writes new rows Tessera can read.
//!
//! The payload bytes are the §7.2 vectors of tessera-internals (the copies for recipient B),
//! which `crates/core/tests/tessera_vectors.rs` shows are byte for byte what Tessera writes.

#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;

use cloister_core::b64;
use cloister_core::keys::{KeyPair, PrivateKey};
use cloister_harness::http::{path_escape, Request};
use cloister_harness::nodes::NodeDir;
use cloister_harness::postgres::PgCluster;
use cloister_harness::tessera::vectors::{
    B_PRIVATE, CBOR_FOR_B, HASH_SHA3, LEGACY_FOR_B, PLAINTEXT,
};
use cloister_harness::tessera::POSTGRES_DDL;
use serde_json::json;

const DATABASE: &str = "tessera";

/// The columns of Tessera's tables, as the catalog lists them.
fn tessera_columns(pg: &PgCluster) -> String {
    pg.sql(
        0,
        DATABASE,
        "SELECT table_name || '.' || column_name || ':' || data_type || ':' || is_nullable \
         FROM information_schema.columns WHERE table_schema = 'public' \
         AND table_name NOT LIKE 'cloister_%' ORDER BY 1",
    )
}

/// Writes vector key B as Tessera's unlocked key file pair in the node's directory.
fn install_tessera_key(node: &NodeDir) -> String {
    let pair = KeyPair::from_private(PrivateKey::from_base64(B_PRIVATE, "key B").unwrap());
    let key_file = json!({ "type": "unlocked", "data": { "bytes": B_PRIVATE } });
    let path = node.dir.join("tm.key");
    std::fs::write(&path, serde_json::to_vec(&key_file).unwrap()).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let public = pair.public().to_base64();
    std::fs::write(node.dir.join("tm.pub"), &public).unwrap();
    public
}

#[test]
fn a_tessera_database_is_adopted_unchanged() {
    cloister_harness::nodes::use_binary(env!("CARGO_BIN_EXE_cloister"));
    let root = tempfile::tempdir().unwrap();
    let pg = PgCluster::single();
    pg.create_database(DATABASE);
    pg.sql(0, DATABASE, POSTGRES_DDL);
    pg.sql(
        0,
        DATABASE,
        &format!(
            "INSERT INTO ENCRYPTED_TRANSACTION (HASH, ENCODED_PAYLOAD, PAYLOAD_CODEC, TIMESTAMP) VALUES \
             (decode('{HASH_SHA3}', 'base64'), decode('{LEGACY_FOR_B}', 'hex'), 'LEGACY', 1700000000000), \
             (sha512('cbor row'), decode('{CBOR_FOR_B}', 'hex'), 'CBOR', 1700000000001); \
             INSERT INTO ENCRYPTED_TRANSACTION (HASH, ENCODED_PAYLOAD) VALUES \
             (sha512('pre-migration row'), decode('{LEGACY_FOR_B}', 'hex'));"
        ),
    );
    let before = tessera_columns(&pg);
    let hash_of = |text: &str| {
        pg.sql(
            0,
            DATABASE,
            &format!("SELECT encode(sha512('{text}'), 'base64')"),
        )
        .split_whitespace()
        .collect::<String>()
    };
    let hashes = [
        HASH_SHA3.to_owned(),
        hash_of("cbor row"),
        hash_of("pre-migration row"),
    ];

    let node = NodeDir::new(root.path(), "adopter");
    let public = install_tessera_key(&node);
    let jdbc = pg.jdbc(DATABASE, "", false);
    let _running = node.start(&node.config(&[], json!({ "jdbc": jdbc })), &[]);

    for hash in &hashes {
        let read = Request::new("GET", &format!("/transaction/{}", path_escape(hash)))
            .header("Accept", "application/json")
            .send(&node.q2t());
        assert_eq!(read.status, 200, "{hash}: {}", read.text());
        assert_eq!(
            b64::decode(read.json()["payload"].as_str().unwrap()).unwrap(),
            PLAINTEXT,
            "{hash}"
        );
    }

    // A new transaction lands in Tessera's table in Tessera's form, ready to hand back.
    let sent = Request::new("POST", "/send")
        .json(&json!({ "payload": b64::encode(b"written by cloister"), "to": [public] }))
        .send(&node.q2t());
    assert_eq!(sent.status, 201, "{}", sent.text());
    let key = sent.json()["key"].as_str().unwrap().to_owned();
    let row = pg.sql(
        0,
        DATABASE,
        &format!(
            "SELECT PAYLOAD_CODEC, TIMESTAMP > 1700000000001 FROM ENCRYPTED_TRANSACTION \
             WHERE HASH = decode('{key}', 'base64')"
        ),
    );
    assert_eq!(row.trim(), "CBOR|t");
    assert_eq!(
        tessera_columns(&pg),
        before,
        "Tessera's tables are untouched"
    );
}
