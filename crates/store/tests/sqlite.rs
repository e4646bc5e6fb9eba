//! SQLite-specific behaviour: durability across reopen and abort, adopting databases created by
//! Tessera's own DDL (the whole conformance suite runs on one), old rows with NULL columns,
//! schema checks, file permissions, and two stores (replicas) sharing one file.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cloister_core::digest::TxHash;
use cloister_core::payload::PayloadCodec;
use cloister_store::conformance::{hash, tx};
use cloister_store::{InsertOutcome, SqliteOptions, SqliteStore, Store, StoreError};
use rusqlite::{params, Connection};

use cloister_harness::tessera::{
    SQLITE_DDL as TESSERA_DDL, SQLITE_DDL_NULLABLE_CODEC as TESSERA_DDL_NULLABLE_CODEC,
};

fn auto_create() -> SqliteOptions {
    SqliteOptions {
        auto_create_tables: true,
        ..SqliteOptions::default()
    }
}

fn adopt() -> SqliteOptions {
    SqliteOptions::default()
}

/// A database laid out by Tessera's DDL, the way Tessera would leave it.
fn tessera_db(dir: &Path, ddl: &str) -> PathBuf {
    let path = dir.join("tessera.db");
    Connection::open(&path).unwrap().execute_batch(ddl).unwrap();
    path
}

/// The schema without Cloister's own tables (which are added to any database opened).
fn tessera_schema(path: &Path) -> Vec<String> {
    let mut schema = schema_sql(path);
    schema.retain(|s| !s.contains("CLOISTER_"));
    schema
}

fn schema_sql(path: &Path) -> Vec<String> {
    let conn = Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare("SELECT type || ' ' || name || ': ' || COALESCE(sql, '') FROM sqlite_master ORDER BY type, name")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

async fn fresh_tessera() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = tessera_db(dir.path(), TESSERA_DDL);
    (Arc::new(SqliteStore::open(&path, &adopt()).unwrap()), dir)
}

/// The whole suite again, on a file created by Tessera's DDL and opened without
/// `autoCreateTables`: our statements fit Tessera's tables as they are.
mod on_tessera_ddl {
    cloister_store::conformance_tests!(super::fresh_tessera);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn adopting_a_tessera_database_changes_no_schema() {
    let dir = tempfile::tempdir().unwrap();
    for ddl in [TESSERA_DDL, TESSERA_DDL_NULLABLE_CODEC] {
        let path = tessera_db(dir.path(), ddl);
        let before = tessera_schema(&path);
        let store = SqliteStore::open(&path, &adopt()).unwrap();
        let row = tx(b"adopted", b"payload", 3);
        assert_eq!(
            store.insert_transaction(&row).await.unwrap(),
            InsertOutcome::Inserted
        );
        assert_eq!(store.get_transaction(&row.hash).await.unwrap(), Some(row));
        drop(store);
        assert_eq!(tessera_schema(&path), before);
        assert!(
            schema_sql(&path)
                .iter()
                .any(|s| s.starts_with("table CLOISTER_PEER:")),
            "Cloister's discovery tables are added beside Tessera's"
        );
        std::fs::remove_file(&path).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn auto_create_on_a_tessera_database_only_adds_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let path = tessera_db(dir.path(), TESSERA_DDL);
    let before = schema_sql(&path);
    drop(SqliteStore::open(&path, &auto_create()).unwrap());
    let after = schema_sql(&path);
    let added: Vec<_> = after.iter().filter(|s| !before.contains(s)).collect();
    assert!(
        before.iter().all(|s| after.contains(s)),
        "nothing changed or removed"
    );
    assert!(
        added
            .iter()
            .all(|s| s.starts_with("index ") || s.contains("CLOISTER_")),
        "only indexes and Cloister's own tables added: {added:?}"
    );
    assert!(added.iter().any(|s| s.contains("PRIVACY_GROUP_LOOKUPID")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn null_columns_from_old_tessera_rows_read_as_legacy_and_zero() {
    let dir = tempfile::tempdir().unwrap();
    let path = tessera_db(dir.path(), TESSERA_DDL_NULLABLE_CODEC);
    let old_hash = hash(b"old");
    {
        // As an old Tessera wrote it: no codec, no timestamp.
        let conn = Connection::open(&path).unwrap();
        conn.execute(
            "INSERT INTO ENCRYPTED_TRANSACTION (HASH, ENCODED_PAYLOAD) VALUES (?1, ?2)",
            params![old_hash.as_bytes(), b"legacy bytes".to_vec()],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO ST_TRANSACTION (ID, HASH, PAYLOAD) VALUES (1, ?1, ?2)",
            params![old_hash.to_base64(), b"legacy bytes".to_vec()],
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path, &adopt()).unwrap();
    let row = store.get_transaction(&old_hash).await.unwrap().unwrap();
    assert_eq!(row.codec, PayloadCodec::Legacy);
    assert_eq!(row.timestamp, 0);
    assert_eq!(row.encoded_payload, b"legacy bytes");

    // The scan reads the old row the same way.
    assert_eq!(store.scan_transactions(None, 10).await.unwrap(), [row]);

    // Never staged: the unstaged rows, with the same defaults.
    assert_eq!(store.staged_stages().await.unwrap(), [None]);
    let staged = store.scan_staged(None, i64::MIN, 10).await.unwrap();
    assert_eq!(staged.len(), 1);
    assert_eq!(staged[0].codec, PayloadCodec::Legacy);
    assert_eq!(staged[0].timestamp, 0);
    assert_eq!(staged[0].hash, old_hash);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pre_codec_database_is_migrated_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let pre_codec = TESSERA_DDL_NULLABLE_CODEC.replace("PAYLOAD_CODEC VARCHAR(50), ", "");
    let path = tessera_db(dir.path(), &pre_codec);

    let refused = SqliteStore::open(&path, &adopt()).unwrap_err();
    assert!(
        matches!(refused, StoreError::Schema(ref m) if m.contains("PAYLOAD_CODEC")),
        "{refused}"
    );

    let store = SqliteStore::open(&path, &auto_create()).unwrap();
    let row = tx(b"migrated", b"m", 1);
    store.insert_transaction(&row).await.unwrap();
    assert_eq!(store.get_transaction(&row.hash).await.unwrap(), Some(row));
}

#[test]
fn missing_tables_without_auto_create_fail_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let error = SqliteStore::open(&dir.path().join("empty.db"), &adopt()).unwrap_err();
    assert!(
        matches!(error, StoreError::Schema(ref m) if m.contains("autoCreateTables")),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reopening_sees_every_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reopen.db");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path, &auto_create()).unwrap());
    let tasks: Vec<_> = (0..100u8)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let row = tx(&[b'r', i], &[i; 700], i64::from(i));
                store.insert_transaction(&row).await.unwrap();
                row
            })
        })
        .collect();
    let mut acknowledged = Vec::new();
    for task in tasks {
        acknowledged.push(task.await.unwrap());
    }
    store
        .upsert_privacy_group(&cloister_store::PrivacyGroupRow {
            id: b"g".to_vec(),
            lookup_id: b"l".to_vec(),
            data: b"d".to_vec(),
            timestamp: 1,
        })
        .await
        .unwrap();
    drop(store);

    let reopened = SqliteStore::open(&path, &adopt()).unwrap();
    assert_eq!(reopened.count_transactions().await.unwrap(), 100);
    for row in acknowledged {
        assert_eq!(
            reopened.get_transaction(&row.hash).await.unwrap(),
            Some(row)
        );
    }
    assert!(reopened.get_privacy_group(b"g").await.unwrap().is_some());
}

const CHILD_DB: &str = "CLOISTER_STORE_TEST_CHILD_DB";

/// Child half of `acknowledged_writes_survive_an_abort`: writes concurrently, prints each
/// acknowledged hash, and aborts the process while writes are still in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "run by acknowledged_writes_survive_an_abort in a child process"]
async fn child_writes_then_aborts() {
    use std::io::Write as _;
    let Ok(path) = std::env::var(CHILD_DB) else {
        return;
    };
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(Path::new(&path), &auto_create()).unwrap());
    let (acks, mut acked) = tokio::sync::mpsc::unbounded_channel();
    for i in 0..10_000u32 {
        let (store, acks) = (Arc::clone(&store), acks.clone());
        tokio::spawn(async move {
            let row = tx(&i.to_be_bytes(), &[7; 1024], i64::from(i));
            if store.insert_transaction(&row).await.is_ok() {
                let _ = acks.send(row.hash);
            }
        });
    }
    let mut out = std::io::stdout().lock();
    for _ in 0..300 {
        let hash: TxHash = acked.recv().await.unwrap();
        writeln!(out, "ACK {hash}").unwrap();
    }
    out.flush().unwrap();
    std::process::abort();
}

#[test]
fn acknowledged_writes_survive_an_abort() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("abort.db");
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_writes_then_aborts",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_DB, &path)
        .output()
        .unwrap();
    assert!(!output.status.success(), "the child must have aborted");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let acked: Vec<TxHash> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("ACK "))
        .map(|b64| TxHash::new(cloister_core::b64::decode(b64).unwrap()))
        .collect();
    assert_eq!(acked.len(), 300, "child output: {stdout}");

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = SqliteStore::open(&path, &adopt()).unwrap();
        for hash in &acked {
            assert!(
                store.get_transaction(hash).await.unwrap().is_some(),
                "lost {hash}"
            );
        }
        let count = store.count_transactions().await.unwrap();
        assert!((300..=10_000).contains(&count), "{count}");
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_file_race_like_replicas() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let replicas: Vec<Arc<dyn Store>> = vec![
        Arc::new(SqliteStore::open(&path, &auto_create()).unwrap()),
        Arc::new(SqliteStore::open(&path, &auto_create()).unwrap()),
    ];
    let tasks: Vec<_> = (0..20u8)
        .map(|i| {
            let store = Arc::clone(&replicas[usize::from(i % 2)]);
            tokio::spawn(async move {
                let row = tx(b"shared", &[i; 64], i64::from(i));
                store.insert_transaction(&row).await.unwrap()
            })
        })
        .collect();
    let mut inserted = 0;
    for task in tasks {
        if task.await.unwrap().is_inserted() {
            inserted += 1;
        }
    }
    assert_eq!(inserted, 1);
    let a = replicas[0].get_transaction(&hash(b"shared")).await.unwrap();
    let b = replicas[1].get_transaction(&hash(b"shared")).await.unwrap();
    assert!(a.is_some());
    assert_eq!(a, b);
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn files_and_directory_are_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nested").join("cloister-data");
    let path = data.join("cloister.db");
    let store = SqliteStore::open(&path, &auto_create()).unwrap();
    store.insert_transaction(&tx(b"p", b"p", 1)).await.unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(data.parent().unwrap()), 0o700);
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&data.join("cloister.db-wal")), 0o600);
    assert_eq!(mode(&data.join("cloister.db-shm")), 0o600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unreadable_rows_are_errors_not_absent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corrupt.db");
    let store = SqliteStore::open(&path, &auto_create()).unwrap();
    Connection::open(&path)
        .unwrap()
        .execute(
            "INSERT INTO ENCRYPTED_TRANSACTION (HASH, ENCODED_PAYLOAD, PAYLOAD_CODEC, TIMESTAMP) VALUES (?1, ?2, 'ZSTD', 1)",
            params![hash(b"odd").as_bytes(), b"x".to_vec()],
        )
        .unwrap();
    let error = store.get_transaction(&hash(b"odd")).await.unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::Corrupt {
                table: "ENCRYPTED_TRANSACTION",
                ..
            }
        ),
        "{error}"
    );
    assert!(!error.is_transient());

    // A table dropped behind the store's back: an error, never "not found".
    Connection::open(&path)
        .unwrap()
        .execute_batch("DROP TABLE ENCRYPTED_RAW_TRANSACTION")
        .unwrap();
    let error = store.get_raw_transaction(&hash(b"any")).await.unwrap_err();
    assert!(matches!(error, StoreError::Schema(_)), "{error}");
}

#[test]
fn an_unusable_path_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    // The "directory" is a regular file.
    let error = SqliteStore::open(&file.join("db.sqlite"), &auto_create()).unwrap_err();
    assert!(matches!(error, StoreError::Unavailable(_)), "{error}");
    assert!(error.is_transient());
}
