//! `cloister-tls`: Tessera's TLS, as rustls configs.
//!
//! Cloister reads Tessera's `sslConfig` (modelled in `cloister_core::config::ssl`) and must
//! interoperate with Tessera peers: the same key and trust files, the same known-hosts format,
//! the same trust modes. This crate turns that config into a `rustls::ServerConfig` for a
//! node's HTTP servers and a `rustls::ClientConfig` for its outgoing P2P client (not wired into
//! the node yet). The store uses [`material`] and [`trust`] for TLS to PostgreSQL; the gateway
//! reaches `https://` and `wss://` nodes through [`upstream`].
//!
//! - [`material`]: identities (chain + key) from PEM, PKCS#12 and JKS; trust roots from trust
//!   stores or PEM files.
//! - [`fingerprint`]: a certificate's identity as Tessera keys it (first subject CN, SHA-1
//!   fingerprint), and [`fingerprint::peer_identity`] for an established connection.
//! - [`known_hosts`]: the known-hosts file, byte for byte.
//! - [`trust`]: the trust modes (NONE, WHITELIST, TOFU, CA, CA_OR_TOFU) as rustls verifiers
//!   for both directions.
//! - [`generate`]: the self-signed JKS keystore Tessera generates for a missing keystore path.
//! - [`upstream`]: plain HTTPS to a server a Cloister front relays to (CA file or the
//!   platform's roots, and a client certificate), not Tessera's trust modes.
//! - [`listener`]: a Cloister front's own certificate on its TLS listener.
//! - [`config`]: `sslConfig` → rustls server and client configs. Building is a plain function
//!   of the config and the files, so it can be called again to pick up new certificates.
//!
//! The crypto provider is rustls's ring provider ([`crypto_provider`]).

use std::sync::{Arc, OnceLock};

mod client_identity;
pub mod config;
pub mod fingerprint;
pub mod generate;
pub mod known_hosts;
pub mod listener;
pub mod material;
pub mod trust;
pub mod upstream;

pub use config::{client_config, server_config, Presenting, ProcessEnvironment, TlsConfigError};
pub use fingerprint::{peer_identity, CertificateIdentity, Fingerprint};
pub use known_hosts::KnownHosts;
pub use material::{Identity, MaterialError};
pub use trust::{PeerTrust, TrustError};

/// The one crypto provider every config and verifier here uses: rustls's ring provider.
pub fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    static PROVIDER: OnceLock<Arc<rustls::crypto::CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            // rustls 0.23.48 deprecates the ring provider because it has no post-quantum key
            // exchange. Tessera's JDK peers offer none either, and ring builds without the C
            // toolchain aws-lc needs; the provider is otherwise fully supported.
            #[allow(deprecated)]
            let provider = rustls::crypto::ring::default_provider();
            Arc::new(provider)
        })
        .clone()
}
