//! Arbitrary bytes into the key-file parser: no panic, accepted input round-trips through its
//! JSON, and an unlocked key either yields a key or a clean error. Locked keys are not unlocked
//! here: Argon2 with fuzzer-chosen costs would only measure Argon2.
#![no_main]

use cloister_core::keys::file::KeyFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = KeyFile::parse(data) {
        assert!(KeyFile::parse(file.to_json().as_bytes()).as_ref() == Ok(&file));
        if !file.is_locked() {
            let _ = file.unlock(None);
        }
    }
});
