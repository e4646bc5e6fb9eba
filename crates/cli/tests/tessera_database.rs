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
use cloister_harness::tessera::POSTGRES_DDL;
use serde_json::json;

const DATABASE: &str = "tessera";
const B_PRIVATE: &str = "Wl+xSyXVuuqzpvznOS7dOobhcn4C5auxkFRi7yLtgtA=";
const PLAINTEXT: &[u8] = b"hello tessera";
const HASH_SHA3: &str =
    "9TR5PEAK+g4PBCnxTqoaSWCqs301PctR7XVBocQw0feJ+zSTiuvUKL8P2/BAKxDPejTP7QOoE7/D3YUppPPqqQ==";
const LEGACY_FOR_B: &str = "0000000000000020ffe52e0fadf322d2f511b8f190a5258cc806f19d70d0027ca4d391e22ab6c907000000000000001dbb85d2d57442db4766870c5d942186acc47e65966b0cca00f02a1ef3d50000000000000018000102030405060708090a0b0c0d0e0f101112131415161700000000000000010000000000000030d6153034893a86c30540293b7783ec7f2198fbca448e1b4e793541e7f4c953976a257a567499cc999f6d9ba095fd1b7900000000000000186465666768696a6b6c6d6e6f707172737475767778797a7b000000000000000100000000000000200542de47c272516862bae08c53f1cb034439a739184fe707208dd92817b2dc1a0000000000000001000000000000000000";
const CBOR_FOR_B: &str = "ab6673656e6465725820ffe52e0fadf322d2f511b8f190a5258cc806f19d70d0027ca4d391e22ab6c9076a63697068657254657874581dbb85d2d57442db4766870c5d942186acc47e65966b0cca00f02a1ef3d5656e6f6e63655818000102030405060708090a0b0c0d0e0f10111213141516176e726563697069656e744e6f6e636558186465666768696a6b6c6d6e6f707172737475767778797a7b6e726563697069656e74426f786573815830d6153034893a86c30540293b7783ec7f2198fbca448e1b4e793541e7f4c953976a257a567499cc999f6d9ba095fd1b796a726563697069656e74738158200542de47c272516862bae08c53f1cb034439a739184fe707208dd92817b2dc1a6b70726976616379466c616700686166666563746564a0686578656348617368406c6d616e6461746f7279466f72806e7072697661637947726f7570496440";

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
