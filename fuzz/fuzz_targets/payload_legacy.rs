//! Arbitrary bytes into the Legacy payload decoder: it must never panic, whatever it accepts must
//! survive an encode/decode round trip unchanged, and the copy made for each recipient (what
//! `/resend` sends) must decode to that recipient's owned copy, holding one box.
#![no_main]

use cloister_core::payload::PayloadCodec;
use libfuzzer_sys::fuzz_target;

const CODEC: PayloadCodec = PayloadCodec::Legacy;

fuzz_target!(|data: &[u8]| {
    let Ok(payload) = CODEC.decode(data) else {
        return;
    };
    assert_eq!(CODEC.decode(&CODEC.encode(&payload)).as_ref(), Ok(&payload));
    for key in &payload.recipient_keys {
        if let Ok(copy) = payload.copy_for(key) {
            let decoded = CODEC.decode(&CODEC.encode_copy(&copy)).unwrap();
            assert_eq!(decoded.recipient_boxes.len(), 1);
            assert_eq!(Ok(decoded), payload.for_recipient(key));
        }
    }
});
