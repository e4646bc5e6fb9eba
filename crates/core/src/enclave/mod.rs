//! The enclave.
