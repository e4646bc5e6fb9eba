//! Transaction and security hashes.
