//! Durable inserts into the SQLite store from 1, 8 and 64 concurrent tasks, 1 KiB rows each.
//! Every insert is acknowledged only after its group commit is fsynced (`synchronous=FULL`),
//! so this measures what a node can promise, not what the page cache can absorb. Criterion's
//! `thrpt` line is inserts per second.
//!
//! Run: `cargo bench -p cloister-store --bench sqlite`. The database goes to a temp directory
//! under `CLOISTER_BENCH_DIR` (default: the system temp dir); point it at the disk you care
//! about, as a tmpfs makes fsync free.

#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

use cloister_core::digest::TxHash;
use cloister_core::payload::PayloadCodec;
use cloister_store::{SqliteOptions, SqliteStore, Store, TransactionRow};

/// Distinct hashes across every iteration of every benchmark.
static NEXT: AtomicU64 = AtomicU64::new(0);

fn row() -> TransactionRow {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut hash = vec![0u8; 64];
    hash[..8].copy_from_slice(&n.to_be_bytes());
    TransactionRow {
        hash: TxHash::new(hash),
        encoded_payload: vec![0x5A; 1024],
        codec: PayloadCodec::Cbor,
        timestamp: i64::try_from(n).unwrap(),
    }
}

fn durable_inserts(c: &mut Criterion) {
    let base = std::env::var_os("CLOISTER_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    let dir = tempfile::tempdir_in(base).unwrap();
    let options = SqliteOptions {
        auto_create_tables: true,
        ..SqliteOptions::default()
    };
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("bench.db"), &options).unwrap());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    let mut group = c.benchmark_group("sqlite_durable_insert_1KiB");
    group
        .throughput(Throughput::Elements(1))
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    for concurrency in [1u64, 8, 64] {
        group.bench_with_input(
            BenchmarkId::new("concurrent_inserters", concurrency),
            &concurrency,
            |b, &concurrency| {
                b.iter_custom(|iters| {
                    runtime.block_on(async {
                        let start = Instant::now();
                        let tasks: Vec<_> = (0..concurrency)
                            .map(|task| {
                                let store = Arc::clone(&store);
                                // Spread `iters` inserts over the tasks.
                                let share =
                                    iters / concurrency + u64::from(task < iters % concurrency);
                                tokio::spawn(async move {
                                    for _ in 0..share {
                                        assert!(store
                                            .insert_transaction(&row())
                                            .await
                                            .unwrap()
                                            .is_inserted());
                                    }
                                })
                            })
                            .collect();
                        for task in tasks {
                            task.await.unwrap();
                        }
                        start.elapsed()
                    })
                });
            },
        );
    }
    group.finish();
}

criterion_group!(benches, durable_inserts);
criterion_main!(benches);
