//! Enclave micro-benchmarks: encrypting and decrypting payloads for 1, 5 and 20 recipients at
//! 1 KiB and 100 KiB, with warm shared-key caches (as on a node that keeps talking to the same
//! parties). Run: `cargo bench -p cloister-core --bench enclave`.

#![allow(clippy::unwrap_used, missing_docs)]

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};

use cloister_core::enclave::{Enclave, PrivacyMetadata};
use cloister_core::keys::{KeyPair, PrivateKey, PublicKey};
use cloister_core::payload::EncodedPayload;

const SIZES: [usize; 2] = [1024, 100 * 1024];
const RECIPIENTS: [usize; 3] = [1, 5, 20];

fn pair(seed: u8) -> KeyPair {
    KeyPair::from_private(PrivateKey::from_bytes([seed; 32]))
}

/// The public keys of `count` recipients, the first being `pair(10)`.
fn recipient_keys(count: usize) -> Vec<PublicKey> {
    (0..count).map(|i| *pair(10 + i as u8).public()).collect()
}

/// Runs `bench` in the group `name` once per payload size and recipient count, handing it the
/// case's name, message and recipients; throughput is counted in message bytes.
fn each_case(
    c: &mut Criterion,
    name: &str,
    mut bench: impl FnMut(&mut BenchmarkGroup<'_, WallTime>, BenchmarkId, &[u8], &[PublicKey]),
) {
    let mut group = c.benchmark_group(name);
    for size in SIZES {
        let message = vec![7u8; size];
        group.throughput(Throughput::Bytes(size as u64));
        for count in RECIPIENTS {
            let case = BenchmarkId::new(format!("{}KiB", size / 1024), count);
            bench(&mut group, case, &message, &recipient_keys(count));
        }
    }
    group.finish();
}

/// A payload from `sender` to `recipients`, as `enclave` encrypts it.
fn encrypt_payload(
    enclave: &Enclave,
    sender: &KeyPair,
    message: &[u8],
    recipients: &[PublicKey],
) -> EncodedPayload {
    enclave
        .encrypt_payload(
            message,
            sender.public(),
            recipients,
            PrivacyMetadata::default(),
        )
        .unwrap()
}

fn encrypt(c: &mut Criterion) {
    let sender = pair(1);
    let enclave = Enclave::new(vec![sender.clone()]).unwrap();
    each_case(c, "encrypt", |group, case, message, recipients| {
        // Warm the shared-key cache.
        encrypt_payload(&enclave, &sender, message, recipients);
        group.bench_function(case, |b| {
            b.iter(|| encrypt_payload(&enclave, &sender, message, recipients));
        });
    });
}

fn decrypt(c: &mut Criterion) {
    let sender = pair(1);
    let sender_enclave = Enclave::new(vec![sender.clone()]).unwrap();
    let reader = pair(10);
    let reader_enclave = Enclave::new(vec![reader.clone()]).unwrap();
    each_case(c, "decrypt", |group, case, message, recipients| {
        let payload = encrypt_payload(&sender_enclave, &sender, message, recipients);
        // Warm the shared-key cache.
        reader_enclave
            .unencrypt_transaction(&payload, reader.public())
            .unwrap();
        group.bench_function(case, |b| {
            b.iter(|| {
                reader_enclave
                    .unencrypt_transaction(&payload, reader.public())
                    .unwrap()
            });
        });
    });
}

criterion_group!(benches, encrypt, decrypt);
criterion_main!(benches);
