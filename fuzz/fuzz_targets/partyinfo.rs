//! Arbitrary bytes into the PartyInfo decoder: no panic, and accepted input round-trips.
#![no_main]

use cloister_core::partyinfo::PartyInfo;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(info) = PartyInfo::decode(data) {
        assert_eq!(PartyInfo::decode(&info.encode()).as_ref(), Ok(&info));
    }
});
