//! Encoded payloads.
