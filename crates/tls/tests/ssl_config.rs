//! From a Tessera `sslConfig` (parsed by cloister-core) to rustls configs that handshake:
//! PEM paths, keystore generation for a missing path, passwords from the environment,
//! known-hosts files, `excludeCipherSuites`, and errors that name the member at fault.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

use cloister_core::config::{SslConfig, SslEnvironment};
use cloister_tls::config::{client_config, server_config, TlsConfigError};
use cloister_tls::{Fingerprint, MaterialError, ProcessEnvironment};
use serde_json::json;
use support::{handshake, Leaf};
use zeroize::Zeroizing;

/// Real files, fake variables.
struct Env(BTreeMap<&'static str, &'static str>);

impl SslEnvironment for Env {
    fn var(&self, name: &str) -> Option<Zeroizing<String>> {
        self.0.get(name).map(|v| Zeroizing::new((*v).to_owned()))
    }
    fn exists(&self, path: &Path) -> bool {
        ProcessEnvironment.exists(path)
    }
}

fn no_vars() -> Env {
    Env(BTreeMap::new())
}

fn ssl(value: serde_json::Value) -> SslConfig {
    serde_json::from_value(value).unwrap()
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

#[test]
fn pem_and_tofu_configs_handshake_and_write_known_hosts_files_tessera_reads() {
    let dir = tempfile::tempdir().unwrap();
    let server_cert = Leaf::new("node-a:9001").self_signed();
    let client_cert = Leaf::new("node-b:9001").self_signed();
    let (server_crt, server_key) = server_cert.write_pem(dir.path(), "a");
    let (client_crt, client_key) = client_cert.write_pem(dir.path(), "b");
    let config = ssl(json!({
        "tls": "STRICT",
        "generateKeyStoreIfNotExisted": "false",
        "serverTlsKeyPath": server_key,
        "serverTlsCertificatePath": server_crt,
        "clientTlsKeyPath": client_key,
        "clientTlsCertificatePath": client_crt,
        "serverTrustMode": "TOFU",
        "clientTrustMode": "TOFU",
        "knownClientsFile": path(dir.path(), "knownClients"),
        "knownServersFile": path(dir.path(), "knownServers"),
    }));
    assert_eq!(config.check(&no_vars()), Ok(()));
    let outcome = handshake(
        server_config(&config, "http://0.0.0.0:9001", &no_vars())
            .unwrap()
            .config,
        client_config(&config, "https://node-b:9001", &no_vars())
            .unwrap()
            .config,
        "localhost",
    );
    assert!(outcome.both_ok(), "{outcome:?}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("knownClients")).unwrap(),
        format!("node-b:9001 {}\n", Fingerprint::of(&client_cert.cert))
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("knownServers")).unwrap(),
        format!("node-a:9001 {}\n", Fingerprint::of(&server_cert.cert))
    );
}

#[test]
fn a_missing_keystore_is_generated_with_the_password_from_the_environment_and_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let keystore = path(dir.path(), "server-keystore");
    let config = ssl(json!({
        "tls": "STRICT",
        "generateKeyStoreIfNotExisted": true,
        "environmentVariablePrefix": "NODE1",
        "serverKeyStore": keystore,
        "serverKeyStorePassword": "from-config",
        "serverTrustMode": "NONE",
        "clientTrustMode": "NONE",
    }));
    // The prefixed variable wins over the config value.
    let env = Env(BTreeMap::from([(
        "NODE1_TESSERA_SERVER_KEYSTORE_PWD",
        "from-env",
    )]));
    let client = Leaf::new("client").self_signed();
    let client_config = cloister_tls::config::client_config_from(
        Some(&client.identity()),
        cloister_tls::PeerTrust::none(),
        false,
    )
    .unwrap();
    let first = handshake(
        server_config(&config, "https://localhost:9001", &env)
            .unwrap()
            .config,
        client_config.clone(),
        "localhost",
    );
    assert!(first.both_ok(), "{first:?}");
    let served = first.client.peer().unwrap().clone();
    assert_eq!(served.common_name.as_deref(), Some("localhost:9001"));
    // A generated certificate is valid for one calendar year, and the config says so.
    let expires = server_config(&config, "https://localhost:9001", &env)
        .unwrap()
        .not_after
        .unwrap();
    let days_left = expires.duration_since(SystemTime::now()).unwrap().as_secs() / 86_400;
    assert!((364..=366).contains(&days_left), "{days_left} days");
    // Building again (as a reload would) reads the same keystore, with the same password.
    let second = handshake(
        server_config(&config, "https://localhost:9001", &env)
            .unwrap()
            .config,
        client_config,
        "localhost",
    );
    assert_eq!(second.client.peer(), Some(&served));
    // With the config's password instead, the generated store refuses, naming the member.
    let error = server_config(&config, "https://localhost:9001", &no_vars()).unwrap_err();
    assert!(
        matches!(
            error,
            TlsConfigError::Material(MaterialError::WrongPassword { .. })
        ),
        "{error}"
    );
    assert!(error.to_string().starts_with("serverKeyStore ("), "{error}");
}

#[test]
fn excluded_cipher_suites_are_not_offered() {
    let dir = tempfile::tempdir().unwrap();
    let server_cert = Leaf::new("server").self_signed();
    let (crt, key) = server_cert.write_pem(dir.path(), "s");
    let config = ssl(json!({
        "tls": "STRICT",
        "serverTlsKeyPath": key,
        "serverTlsCertificatePath": crt,
        "serverTrustMode": "NONE",
        "clientAuth": "false",
        "excludeCipherSuites": ["^TLS_AES_256_GCM_SHA384$"],
    }));
    // A client that offers only the excluded suite finds nothing in common.
    let only_excluded = rustls::crypto::CryptoProvider {
        cipher_suites: vec![rustls::crypto::ring::cipher_suite::TLS13_AES_256_GCM_SHA384],
        ..(*cloister_tls::crypto_provider()).clone()
    };
    let client = rustls::ClientConfig::builder_with_provider(only_excluded.into())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(std::sync::Arc::new(
            cloister_tls::trust::ServerCertificateVerifier::new(
                cloister_tls::PeerTrust::none(),
                false,
            ),
        ))
        .with_no_client_auth();
    let outcome = handshake(
        server_config(&config, "http://localhost:9001", &no_vars())
            .unwrap()
            .config,
        client.clone(),
        "localhost",
    );
    assert!(!outcome.both_ok(), "{outcome:?}");
    // Without the exclusion the same client connects (clientAuth "false": no certificate).
    let open = SslConfig {
        exclude_cipher_suites: Vec::new(),
        ..config
    };
    let outcome = handshake(
        server_config(&open, "http://localhost:9001", &no_vars())
            .unwrap()
            .config,
        client,
        "localhost",
    );
    assert!(outcome.both_ok(), "{outcome:?}");
}

#[test]
fn misconfigured_members_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = ssl(json!({
        "tls": "STRICT",
        "serverTlsKeyPath": path(dir.path(), "nope.key"),
        "serverTlsCertificatePath": path(dir.path(), "nope.crt"),
        "serverTrustMode": "NONE",
    }));
    let error = server_config(&missing, "http://h:1", &no_vars()).unwrap_err();
    assert!(
        error.to_string().starts_with("serverTlsKeyPath ("),
        "{error}"
    );
    assert!(error.to_string().contains("does not exist"), "{error}");

    let no_material = ssl(json!({ "tls": "STRICT", "serverTrustMode": "NONE" }));
    let error = server_config(&no_material, "http://h:1", &no_vars()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "no key material: set serverKeyStore, or both serverTlsKeyPath and serverTlsCertificatePath"
    );

    let cert = Leaf::new("c").self_signed();
    let (crt, key) = cert.write_pem(dir.path(), "c");
    let ca_without_roots = ssl(json!({
        "tls": "STRICT",
        "clientTlsKeyPath": key,
        "clientTlsCertificatePath": crt,
        "clientTrustMode": "CA",
        "clientTrustCertificates": [],
    }));
    let error = client_config(&ca_without_roots, "http://h:1", &no_vars()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "CA needs trust material: set clientTrustStore, or clientTrustCertificates with at least one file"
    );

    std::fs::write(dir.path().join("knownServers"), "only-a-fingerprint\n").unwrap();
    let bad_known_hosts = ssl(json!({
        "tls": "STRICT",
        "clientTrustMode": "WHITELIST",
        "knownServersFile": path(dir.path(), "knownServers"),
    }));
    let error = client_config(&bad_known_hosts, "http://h:1", &no_vars()).unwrap_err();
    assert!(
        error.to_string().starts_with("knownServersFile: "),
        "{error}"
    );
    assert!(error.to_string().contains("line 1"), "{error}");
}
