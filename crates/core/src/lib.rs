//! `cloister-core`: everything Cloister knows about Tessera's data, with no I/O.
//!
//! - [`keys`]: X25519 key pairs, Tessera's `.pub`/`.key` file formats (plain and argon2-locked)
//!   and how a config's `keys` section resolves to key pairs.
//! - [`enclave`]: the NaCl operations of Tessera's enclave (payload and raw-payload encryption,
//!   decryption as sender or recipient) with a shared-key cache.
//! - [`digest`]: transaction hashes (SHA3-512, or SHA-512/256 in orion mode) and security hashes.
//! - [`payload`]: the `EncodedPayload` model and its two wire codecs, LEGACY and CBOR.
//! - [`partyinfo`]: the binary PartyInfo exchanged by discovery.
//! - [`privacy_group`]: the privacy-group record and Tessera's bit-exact group ids.
//! - [`resend`]: the JSON bodies of `/resend`, `/resendBatch` and `/pushBatch`.
//! - [`config`]: the Tessera JSON config model and its validation.
//!
//! Nothing here opens a file or a socket: callers hand in bytes (or a file reader, for the
//! config's key paths) and get typed values or precise errors back.

pub mod b64;
pub mod binary;
pub mod config;
pub mod digest;
pub mod enclave;
pub mod keys;
pub mod nacl;
pub mod partyinfo;
pub mod payload;
pub mod privacy_group;
pub mod resend;
