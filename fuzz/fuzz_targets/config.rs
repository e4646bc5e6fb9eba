//! Arbitrary bytes into the Tessera config parser and validator: no panic anywhere on the path
//! from JSON to the typed views the node starts from.
#![no_main]

use cloister_core::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(loaded) = Config::parse(data) {
        let config = loaded.config;
        let _ = config.validate();
        let _ = config.servers();
        let _ = config.client_mode();
        if let Some(jdbc) = &config.jdbc {
            let _ = jdbc.store_target();
        }
    }
});
