//! Arbitrary bytes into the privacy-group record decoder: no panic, and accepted input
//! round-trips.
#![no_main]

use cloister_core::privacy_group::PrivacyGroup;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(group) = PrivacyGroup::decode(data) {
        assert_eq!(PrivacyGroup::decode(&group.encode()).as_ref(), Ok(&group));
    }
});
