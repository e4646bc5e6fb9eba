//! Enclave micro-benchmarks: encrypting and decrypting payloads for 1, 5 and 20 recipients at
//! 1 KiB and 100 KiB, with warm shared-key caches (as on a node that keeps talking to the same
//! parties). Run: `cargo bench -p cloister-core --bench enclave`.

#![allow(clippy::unwrap_used, missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

use cloister_core::enclave::{Enclave, PrivacyMetadata};
use cloister_core::keys::{KeyPair, PrivateKey, PublicKey};

const SIZES: [usize; 2] = [1024, 100 * 1024];
const RECIPIENTS: [usize; 3] = [1, 5, 20];

fn pair(seed: u8) -> KeyPair {
    KeyPair::from_private(PrivateKey::from_bytes([seed; 32]))
}

fn encrypt(c: &mut Criterion) {
    let sender = pair(1);
    let enclave = Enclave::new(vec![sender.clone()]).unwrap();
    let mut group = c.benchmark_group("encrypt");
    for size in SIZES {
        let message = vec![7u8; size];
        group.throughput(Throughput::Bytes(size as u64));
        for count in RECIPIENTS {
            let recipients: Vec<PublicKey> =
                (0..count).map(|i| *pair(10 + i as u8).public()).collect();
            // Warm the shared-key cache.
            enclave
                .encrypt_payload(
                    &message,
                    sender.public(),
                    &recipients,
                    PrivacyMetadata::default(),
                )
                .unwrap();
            group.bench_with_input(
                BenchmarkId::new(format!("{}KiB", size / 1024), count),
                &recipients,
                |b, recipients| {
                    b.iter(|| {
                        enclave
                            .encrypt_payload(
                                &message,
                                sender.public(),
                                recipients,
                                PrivacyMetadata::default(),
                            )
                            .unwrap()
                    });
                },
            );
        }
    }
    group.finish();
}

fn decrypt(c: &mut Criterion) {
    let sender = pair(1);
    let sender_enclave = Enclave::new(vec![sender.clone()]).unwrap();
    let reader = pair(10);
    let reader_enclave = Enclave::new(vec![reader.clone()]).unwrap();
    let mut group = c.benchmark_group("decrypt");
    for size in SIZES {
        let message = vec![7u8; size];
        group.throughput(Throughput::Bytes(size as u64));
        for count in RECIPIENTS {
            let recipients: Vec<PublicKey> =
                (0..count).map(|i| *pair(10 + i as u8).public()).collect();
            let payload = sender_enclave
                .encrypt_payload(
                    &message,
                    sender.public(),
                    &recipients,
                    PrivacyMetadata::default(),
                )
                .unwrap();
            reader_enclave
                .unencrypt_transaction(&payload, reader.public())
                .unwrap();
            group.bench_with_input(
                BenchmarkId::new(format!("{}KiB", size / 1024), count),
                &payload,
                |b, payload| {
                    b.iter(|| {
                        reader_enclave
                            .unencrypt_transaction(payload, reader.public())
                            .unwrap()
                    });
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, encrypt, decrypt);
criterion_main!(benches);
