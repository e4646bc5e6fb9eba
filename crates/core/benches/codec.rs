//! Payload codec micro-benchmarks: LEGACY and CBOR encode/decode of a 5-recipient payload at
//! 1 KiB and 100 KiB. Run: `cargo bench -p cloister-core --bench codec`.

#![allow(clippy::unwrap_used, missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

use cloister_core::enclave::{Enclave, PrivacyMetadata};
use cloister_core::keys::{KeyPair, PrivateKey, PublicKey};
use cloister_core::payload::{EncodedPayload, PayloadCodec};

fn payload(size: usize) -> EncodedPayload {
    let sender = KeyPair::from_private(PrivateKey::from_bytes([1; 32]));
    let recipients: Vec<PublicKey> = (0..5)
        .map(|i| PrivateKey::from_bytes([10 + i; 32]).public_key())
        .collect();
    Enclave::new(vec![sender.clone()])
        .unwrap()
        .encrypt_payload(
            &vec![7u8; size],
            sender.public(),
            &recipients,
            PrivacyMetadata::default(),
        )
        .unwrap()
}

fn codecs(c: &mut Criterion) {
    for size in [1024, 100 * 1024] {
        let payload = payload(size);
        let mut group = c.benchmark_group(format!("codec/{}KiB", size / 1024));
        group.throughput(Throughput::Bytes(size as u64));
        for codec in [PayloadCodec::Legacy, PayloadCodec::Cbor] {
            let encoded = codec.encode(&payload);
            group.bench_with_input(
                BenchmarkId::new("encode", codec.name()),
                &payload,
                |b, p| {
                    b.iter(|| codec.encode(p));
                },
            );
            group.bench_with_input(
                BenchmarkId::new("decode", codec.name()),
                &encoded,
                |b, e| {
                    b.iter(|| codec.decode(e).unwrap());
                },
            );
        }
        group.finish();
    }
}

criterion_group!(benches, codecs);
criterion_main!(benches);
