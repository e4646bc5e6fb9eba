//! Tessera's privacy-group id, bit-exact including its bugs.
//!
//! `generateId(members, seed)`: the distinct member keys, stably sorted by Java's
//! `Arrays.hashCode(byte[])`, then the seed if any, RLP-encoded as a list of byte strings and
//! hashed with Keccak-256 (the original Keccak, not SHA3).
//!
//! Tessera's RLP writes long-form lengths (> 55 bytes) wrongly: the length bytes are the
//! *little-endian* bytes of the 32-bit length, cut at the first zero byte. Lists of 2–7 keys are
//! unaffected; 8 or more keys (or a long seed) are not, and ids must match Tessera's anyway.

use sha3::{Digest, Keccak256};

use super::PrivacyGroupId;
use crate::keys::PublicKey;

/// The seed whose id is the lookup id of a member set (`PRIVACY_GROUP.LOOKUP_ID`).
pub const LOOKUP_SEED: [u8; 20] = [
    0x53, 0x75, 0xba, 0x87, 0x1e, 0x5c, 0x3d, 0x0f, 0x1d, 0x05, 0x5b, 0x5d, 0xa0, 0xac, 0x02, 0xea,
    0x03, 0x5b, 0xed, 0x38,
];

const SHORT_STRING: u8 = 0x80;
const LONG_STRING: u8 = 0xb7;
const SHORT_LIST: u8 = 0xc0;
const LONG_LIST: u8 = 0xf7;
const SHORT_LIMIT: usize = 55;

/// The id of a group with these members (and seed, for PANTHEON groups).
pub fn generate_id(members: &[PublicKey], seed: Option<&[u8]>) -> PrivacyGroupId {
    let mut distinct: Vec<&PublicKey> = Vec::with_capacity(members.len());
    for member in members {
        if !distinct.contains(&member) {
            distinct.push(member);
        }
    }
    distinct.sort_by_key(|key| java_hash_code(key.as_bytes()));
    let mut items: Vec<&[u8]> = distinct
        .iter()
        .map(|key| key.as_bytes().as_slice())
        .collect();
    items.extend(seed);
    PrivacyGroupId::new(Keccak256::digest(rlp_list(&items)).to_vec())
}

/// The lookup id of a member set: [`generate_id`] with [`LOOKUP_SEED`].
pub fn lookup_id(members: &[PublicKey]) -> PrivacyGroupId {
    generate_id(members, Some(&LOOKUP_SEED))
}

/// Java's `Arrays.hashCode(byte[])`: signed bytes, `h = 31*h + b` from 1, wrapping.
pub fn java_hash_code(bytes: &[u8]) -> i32 {
    bytes.iter().fold(1i32, |h, &b| {
        h.wrapping_mul(31).wrapping_add(i32::from(b as i8))
    })
}

fn rlp_list(items: &[&[u8]]) -> Vec<u8> {
    let payload: Vec<u8> = items.iter().flat_map(|item| rlp_string(item)).collect();
    let mut out = header(payload.len(), SHORT_LIST, LONG_LIST);
    out.extend(payload);
    out
}

fn rlp_string(bytes: &[u8]) -> Vec<u8> {
    if let [single] = bytes {
        if *single < SHORT_STRING {
            return vec![*single];
        }
    }
    let mut out = header(bytes.len(), SHORT_STRING, LONG_STRING);
    out.extend_from_slice(bytes);
    out
}

fn header(len: usize, short_base: u8, long_base: u8) -> Vec<u8> {
    if len <= SHORT_LIMIT {
        return vec![short_base + len as u8];
    }
    let length_bytes: Vec<u8> = (len as u32)
        .to_le_bytes()
        .into_iter()
        .take_while(|&byte| byte != 0)
        .collect();
    let mut out = vec![long_base + length_bytes.len() as u8];
    out.extend(length_bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lengths_reproduce_tesseras_little_endian_bug() {
        assert_eq!(header(99, SHORT_LIST, LONG_LIST), [0xf8, 0x63]);
        assert_eq!(header(264, SHORT_LIST, LONG_LIST), [0xf9, 0x08, 0x01]);
        assert_eq!(header(300, SHORT_LIST, LONG_LIST), [0xf9, 0x2c, 0x01]);
        assert_eq!(header(256, SHORT_LIST, LONG_LIST), [0xf7]);
    }

    #[test]
    fn short_strings_follow_standard_rlp() {
        assert_eq!(rlp_string(&[]), [0x80]);
        assert_eq!(rlp_string(&[0x7f]), [0x7f]);
        assert_eq!(rlp_string(&[0x80]), [0x81, 0x80]);
    }

    #[test]
    fn java_hash_code_matches_the_jvm() {
        assert_eq!(java_hash_code(&[]), 1);
        assert_eq!(java_hash_code(&[0xff]), 31 - 1);
    }
}
