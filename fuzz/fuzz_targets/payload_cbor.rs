//! Arbitrary bytes into the Cbor payload decoder, held to the property in
//! `payload_round_trip.rs`: no panic, an unchanged round trip, and per-recipient copies that
//! decode to each recipient's own copy.
#![no_main]

mod payload_round_trip;

use cloister_core::payload::PayloadCodec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| payload_round_trip::check(PayloadCodec::Cbor, data));
