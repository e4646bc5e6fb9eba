//! Not a target itself: the property `payload_legacy` and `payload_cbor` both check, each with
//! its own codec, kept in one place so that the two cannot drift apart.

use cloister_core::payload::PayloadCodec;

/// Feeds arbitrary bytes to `codec`'s payload decoder: it must never panic, whatever it accepts
/// must survive an encode/decode round trip unchanged, and the copy made for each recipient
/// (what `/resend` sends) must decode to that recipient's owned copy, holding one box.
pub fn check(codec: PayloadCodec, data: &[u8]) {
    let Ok(payload) = codec.decode(data) else {
        return;
    };
    assert_eq!(codec.decode(&codec.encode(&payload)).as_ref(), Ok(&payload));
    for key in &payload.recipient_keys {
        if let Ok(copy) = payload.copy_for(key) {
            let decoded = codec.decode(&codec.encode_copy(&copy)).unwrap();
            assert_eq!(decoded.recipient_boxes.len(), 1);
            assert_eq!(Ok(decoded), payload.for_recipient(key));
        }
    }
}
