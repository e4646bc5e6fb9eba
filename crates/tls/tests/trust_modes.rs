//! Each trust mode in real TLS handshakes over loopback, on both sides: a server judging
//! client certificates and a client judging server certificates.
#![allow(clippy::unwrap_used)]

mod support;

use cloister_tls::config::{cipher_suites, client_config_from, server_config_from};
use cloister_tls::material::Identity;
use cloister_tls::trust::{CaRoots, ChainError, PeerTrust, TrustError};
use cloister_tls::{Fingerprint, KnownHosts};
use rustls::{ClientConfig, ServerConfig};
use support::{handshake, Ca, Leaf};

fn server(identity: &Identity, trust: PeerTrust) -> ServerConfig {
    server_config_from(identity, trust, true, cipher_suites(&[]).unwrap()).unwrap()
}

fn client(identity: &Identity, trust: PeerTrust) -> ClientConfig {
    client_config_from(Some(identity), trust, true).unwrap()
}

/// A server that accepts any client, to test the client's judgement alone.
fn open_server(identity: &Identity) -> ServerConfig {
    server(identity, PeerTrust::none())
}

#[test]
fn none_accepts_any_certificate_even_expired_both_ways() {
    let server_cert = Leaf::new("server").expired().self_signed();
    let client_cert = Leaf::new("client").expired().self_signed();
    let outcome = handshake(
        server(&server_cert.identity(), PeerTrust::none()),
        client(&client_cert.identity(), PeerTrust::none()),
        "localhost",
    );
    assert!(outcome.both_ok(), "{outcome:?}");
    assert_eq!(
        outcome.server.peer().unwrap().common_name.as_deref(),
        Some("client"),
        "the server reads the client's CN from the connection"
    );
    assert_eq!(
        outcome.client.peer().unwrap().fingerprint,
        Fingerprint::of(&server_cert.cert)
    );
}

#[test]
fn mtls_is_required_unless_client_auth_is_false() {
    let server_cert = Leaf::new("server").self_signed();
    let no_cert_client = client_config_from(None, PeerTrust::none(), true).unwrap();
    let outcome = handshake(
        server(&server_cert.identity(), PeerTrust::none()),
        no_cert_client.clone(),
        "localhost",
    );
    assert!(!outcome.server.ok() && !outcome.client.ok(), "{outcome:?}");

    let lenient = server_config_from(
        &server_cert.identity(),
        PeerTrust::none(),
        false,
        cipher_suites(&[]).unwrap(),
    )
    .unwrap();
    let outcome = handshake(lenient, no_cert_client, "localhost");
    assert!(outcome.both_ok(), "{outcome:?}");
    assert!(outcome.server.peer().is_none());
}

#[test]
fn tofu_server_records_unknown_clients_in_tesseras_format_and_refuses_a_changed_one() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ssl").join("knownClients");
    let server_cert = Leaf::new("server").self_signed();
    let first = Leaf::new("client-a:9001").self_signed();
    let trust = PeerTrust::tofu(KnownHosts::load(&file).unwrap());

    // An unknown client is accepted and recorded; its second visit matches.
    for _ in 0..2 {
        let outcome = handshake(
            server(&server_cert.identity(), trust.clone()),
            client(&first.identity(), PeerTrust::none()),
            "localhost",
        );
        assert!(outcome.both_ok(), "{outcome:?}");
    }
    let expected = format!("client-a:9001 {}\n", Fingerprint::of(&first.cert));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), expected);

    // Same CN, another certificate: refused by the server, with Tessera's message.
    let impostor = Leaf::new("client-a:9001").self_signed();
    let outcome = handshake(
        server(&server_cert.identity(), trust.clone()),
        client(&impostor.identity(), PeerTrust::none()),
        "localhost",
    );
    assert!(!outcome.server.ok() && !outcome.client.ok(), "{outcome:?}");
    let refusal = outcome.server.trust_error().expect("a trust refusal");
    assert!(
        matches!(refusal, TrustError::ChangedCertificate { .. }),
        "{refusal}"
    );
    assert!(refusal
        .to_string()
        .starts_with("This address has been associated with a different certificate"));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        expected,
        "nothing written"
    );

    // A fresh config (a restart) reads the file back and still knows the first client.
    let reread = PeerTrust::tofu(KnownHosts::load(&file).unwrap());
    let outcome = handshake(
        server(&server_cert.identity(), reread.clone()),
        client(&first.identity(), PeerTrust::none()),
        "localhost",
    );
    assert!(outcome.both_ok(), "{outcome:?}");
    let outcome = handshake(
        server(&server_cert.identity(), reread),
        client(&impostor.identity(), PeerTrust::none()),
        "localhost",
    );
    assert!(!outcome.server.ok());
}

#[test]
fn tofu_client_records_servers_and_refuses_a_changed_one() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("knownServers");
    let client_cert = Leaf::new("client").self_signed();
    let server_cert = Leaf::new("node-b:9001").self_signed();
    let trust = PeerTrust::tofu(KnownHosts::load(&file).unwrap());
    let outcome = handshake(
        open_server(&server_cert.identity()),
        client(&client_cert.identity(), trust.clone()),
        "localhost",
    );
    assert!(outcome.both_ok(), "{outcome:?}");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        format!("node-b:9001 {}\n", Fingerprint::of(&server_cert.cert))
    );
    let changed = Leaf::new("node-b:9001").self_signed();
    let outcome = handshake(
        open_server(&changed.identity()),
        client(&client_cert.identity(), trust),
        "localhost",
    );
    let refusal = outcome.client.trust_error().expect("the client refuses");
    assert!(
        matches!(refusal, TrustError::ChangedCertificate { .. }),
        "{refusal}"
    );
    assert!(!outcome.server.ok());
}

#[test]
fn expired_certificate_is_accepted_by_tofu_but_refused_by_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("Test CA");
    let expired = ca.issue(&Leaf::new("old-client").expired());
    let server_cert = Leaf::new("server").self_signed();

    let tofu = PeerTrust::tofu(KnownHosts::load(dir.path().join("known")).unwrap());
    let outcome = handshake(
        server(&server_cert.identity(), tofu),
        client(&expired.identity(), PeerTrust::none()),
        "localhost",
    );
    assert!(outcome.both_ok(), "{outcome:?}");

    let ca_trust = PeerTrust::ca(CaRoots::new(vec![ca.der()]).unwrap());
    let outcome = handshake(
        server(&server_cert.identity(), ca_trust),
        client(&expired.identity(), PeerTrust::none()),
        "localhost",
    );
    let refusal = outcome.server.trust_error().expect("CA refuses");
    assert!(refusal.is_expiry(), "{refusal}");
    assert!(!outcome.client.ok());
}

#[test]
fn ca_accepts_its_certificates_and_refuses_others_both_ways() {
    let ca = Ca::new("Consortium CA");
    let other_ca = Ca::new("Other CA");
    let roots = || PeerTrust::ca(CaRoots::new(vec![ca.der()]).unwrap());
    let good_server = ca.issue(&Leaf::new("node-a"));
    let good_client = ca.issue(&Leaf::new("node-b"));
    let outcome = handshake(
        server(&good_server.identity(), roots()),
        client(&good_client.identity(), roots()),
        "localhost",
    );
    assert!(outcome.both_ok(), "{outcome:?}");

    // A client certificate from another CA: the server refuses.
    let stranger = other_ca.issue(&Leaf::new("node-x"));
    let outcome = handshake(
        server(&good_server.identity(), roots()),
        client(&stranger.identity(), roots()),
        "localhost",
    );
    assert!(
        matches!(
            outcome.server.trust_error(),
            Some(TrustError::Chain(ChainError::UnknownIssuer))
        ),
        "{outcome:?}"
    );

    // A server certificate from another CA: the client refuses.
    let bad_server = other_ca.issue(&Leaf::new("node-y"));
    let outcome = handshake(
        open_server(&bad_server.identity()),
        client(&good_client.identity(), roots()),
        "localhost",
    );
    assert!(
        matches!(
            outcome.client.trust_error(),
            Some(TrustError::Chain(ChainError::UnknownIssuer))
        ),
        "{outcome:?}"
    );

    // A self-signed certificate refused, unless it is itself in the trust material (the
    // JDK's shortcut), where even an expired one passes.
    let self_signed = Leaf::new("pinned").expired().self_signed();
    let outcome = handshake(
        server(&good_server.identity(), roots()),
        client(&self_signed.identity(), roots()),
        "localhost",
    );
    assert!(!outcome.server.ok());
    let pinned = PeerTrust::ca(CaRoots::new(vec![ca.der(), self_signed.cert.clone()]).unwrap());
    let outcome = handshake(
        server(&good_server.identity(), pinned),
        client(&self_signed.identity(), roots()),
        "localhost",
    );
    assert!(outcome.both_ok(), "{outcome:?}");
}

#[test]
fn ca_checks_the_extended_key_usage_like_the_jdk() {
    let ca = Ca::new("CA");
    let roots = || PeerTrust::ca(CaRoots::new(vec![ca.der()]).unwrap());
    let server_cert =
        ca.issue(&Leaf::new("server").eku(rcgen::ExtendedKeyUsagePurpose::ServerAuth));
    let server_only_client =
        ca.issue(&Leaf::new("client").eku(rcgen::ExtendedKeyUsagePurpose::ServerAuth));
    let outcome = handshake(
        server(&server_cert.identity(), roots()),
        client(&server_only_client.identity(), roots()),
        "localhost",
    );
    assert!(
        matches!(
            outcome.server.trust_error(),
            Some(TrustError::Chain(ChainError::WrongUsage(_)))
        ),
        "{outcome:?}"
    );
    let proper_client =
        ca.issue(&Leaf::new("client").eku(rcgen::ExtendedKeyUsagePurpose::ClientAuth));
    let outcome = handshake(
        server(&server_cert.identity(), roots()),
        client(&proper_client.identity(), roots()),
        "localhost",
    );
    assert!(outcome.both_ok(), "{outcome:?}");
}

#[test]
fn ca_or_tofu_records_only_what_ca_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("knownClients");
    let ca = Ca::new("CA");
    let trust = PeerTrust::ca_or_tofu(
        CaRoots::new(vec![ca.der()]).unwrap(),
        KnownHosts::load(&file).unwrap(),
    );
    let server_cert = Leaf::new("server").self_signed();
    let signed = ca.issue(&Leaf::new("signed"));
    let outcome = handshake(
        server(&server_cert.identity(), trust.clone()),
        client(&signed.identity(), PeerTrust::none()),
        "localhost",
    );
    assert!(outcome.both_ok(), "{outcome:?}");
    assert!(!file.exists(), "a CA-trusted certificate is never recorded");
    let unsigned = Leaf::new("unsigned").self_signed();
    let outcome = handshake(
        server(&server_cert.identity(), trust.clone()),
        client(&unsigned.identity(), PeerTrust::none()),
        "localhost",
    );
    assert!(outcome.both_ok(), "{outcome:?}");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        format!("unsigned {}\n", Fingerprint::of(&unsigned.cert))
    );
    let changed = Leaf::new("unsigned").self_signed();
    let outcome = handshake(
        server(&server_cert.identity(), trust),
        client(&changed.identity(), PeerTrust::none()),
        "localhost",
    );
    let refusal = outcome.server.trust_error().expect("refused");
    assert!(
        refusal
            .to_string()
            .starts_with("Certificate is not trusted by any of the trust managers"),
        "{refusal}"
    );
}

#[test]
fn whitelist_admits_listed_peers_only_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let listed_client = Leaf::new("client-a").self_signed();
    let listed_server = Leaf::new("server-a").self_signed();
    let clients = dir.path().join("knownClients");
    let servers = dir.path().join("knownServers");
    std::fs::write(
        &clients,
        format!("client-a {}\n", Fingerprint::of(&listed_client.cert)),
    )
    .unwrap();
    std::fs::write(
        &servers,
        format!("server-a {}\n", Fingerprint::of(&listed_server.cert)),
    )
    .unwrap();
    let server_trust = || PeerTrust::whitelist(KnownHosts::load(&clients).unwrap());
    let client_trust = || PeerTrust::whitelist(KnownHosts::load(&servers).unwrap());

    let outcome = handshake(
        server(&listed_server.identity(), server_trust()),
        client(&listed_client.identity(), client_trust()),
        "localhost",
    );
    assert!(outcome.both_ok(), "{outcome:?}");

    let unknown_client = Leaf::new("client-z").self_signed();
    let outcome = handshake(
        server(&listed_server.identity(), server_trust()),
        client(&unknown_client.identity(), client_trust()),
        "localhost",
    );
    assert!(
        matches!(
            outcome.server.trust_error(),
            Some(TrustError::UnknownPeer { .. })
        ),
        "{outcome:?}"
    );

    let same_cn_other_key = Leaf::new("server-a").self_signed();
    let outcome = handshake(
        open_server(&same_cn_other_key.identity()),
        client(&listed_client.identity(), client_trust()),
        "localhost",
    );
    let refusal = outcome.client.trust_error().expect("refused");
    assert!(
        refusal.to_string().starts_with("Connections not allowed"),
        "{refusal}"
    );
    assert_eq!(
        std::fs::read_to_string(&clients).unwrap().lines().count(),
        1,
        "never written"
    );
}

#[test]
fn client_checks_the_host_name_in_every_mode_unless_told_not_to() {
    let server_cert = Leaf::new("server").sans(&["node-a.example"]).self_signed();
    let client_cert = Leaf::new("client").self_signed();
    let outcome = handshake(
        open_server(&server_cert.identity()),
        client(&client_cert.identity(), PeerTrust::none()),
        "localhost",
    );
    assert!(
        matches!(outcome.client.trust_error(), Some(TrustError::Hostname(_))),
        "{outcome:?}"
    );
    let outcome = handshake(
        open_server(&server_cert.identity()),
        client(&client_cert.identity(), PeerTrust::none()),
        "node-a.example",
    );
    assert!(outcome.both_ok(), "{outcome:?}");
    let unchecked =
        client_config_from(Some(&client_cert.identity()), PeerTrust::none(), false).unwrap();
    let outcome = handshake(open_server(&server_cert.identity()), unchecked, "localhost");
    assert!(outcome.both_ok(), "{outcome:?}");
}

#[test]
fn tofu_does_not_record_a_server_presented_for_the_wrong_host() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("knownServers");
    let wrong_host = Leaf::new("node-b:9001")
        .sans(&["elsewhere.example"])
        .self_signed();
    let trust = PeerTrust::tofu(KnownHosts::load(&file).unwrap());
    let outcome = handshake(
        open_server(&wrong_host.identity()),
        client(&Leaf::new("c").self_signed().identity(), trust),
        "localhost",
    );
    assert!(!outcome.client.ok());
    assert!(!file.exists());
}

#[test]
fn the_server_hints_no_cas_except_in_ca_mode() {
    use std::sync::{Arc, Mutex};

    /// A client certificate resolver that records the CA hints it is given.
    #[derive(Debug)]
    struct RecordHints(Mutex<Vec<usize>>, Arc<rustls::sign::CertifiedKey>);
    impl rustls::client::ResolvesClientCert for RecordHints {
        fn resolve(
            &self,
            hints: &[&[u8]],
            _: &[rustls::SignatureScheme],
        ) -> Option<Arc<rustls::sign::CertifiedKey>> {
            self.0.lock().unwrap().push(hints.len());
            Some(self.1.clone())
        }
        fn has_certs(&self) -> bool {
            true
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("CA");
    let server_cert = ca.issue(&Leaf::new("server"));
    let client_cert = ca.issue(&Leaf::new("client"));
    let modes = [
        ("NONE", PeerTrust::none(), 0),
        (
            "TOFU",
            PeerTrust::tofu(KnownHosts::load(dir.path().join("k1")).unwrap()),
            0,
        ),
        (
            "CA_OR_TOFU",
            PeerTrust::ca_or_tofu(
                CaRoots::new(vec![ca.der()]).unwrap(),
                KnownHosts::load(dir.path().join("k2")).unwrap(),
            ),
            0,
        ),
        (
            "CA",
            PeerTrust::ca(CaRoots::new(vec![ca.der()]).unwrap()),
            1,
        ),
    ];
    for (mode, trust, hints) in modes {
        let recorder = Arc::new(RecordHints(
            Mutex::new(Vec::new()),
            client_cert.identity().certified_key(),
        ));
        let client = ClientConfig::builder_with_provider(cloister_tls::crypto_provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(
                cloister_tls::trust::ServerCertificateVerifier::new(PeerTrust::none(), false),
            ))
            .with_client_cert_resolver(recorder.clone());
        let outcome = handshake(server(&server_cert.identity(), trust), client, "localhost");
        assert!(outcome.both_ok(), "{mode}: {outcome:?}");
        assert_eq!(*recorder.0.lock().unwrap(), [hints], "{mode}");
    }
}

#[test]
fn tls12_handshakes_verify_signatures_too() {
    let tls12_only = cipher_suites(&["TLS_AES_.*|TLS_CHACHA20_.*".into()]).unwrap();
    let server_cert = Leaf::new("server").self_signed();
    let client_cert = Leaf::new("client").self_signed();
    let config =
        server_config_from(&server_cert.identity(), PeerTrust::none(), true, tls12_only).unwrap();
    let outcome = handshake(
        config,
        client(&client_cert.identity(), PeerTrust::none()),
        "localhost",
    );
    assert!(outcome.both_ok(), "{outcome:?}");
}

#[test]
fn a_certificate_without_its_key_is_refused_in_none_mode() {
    // A client presenting another's certificate with its own key: the certificate is
    // "trusted" by NONE, but the handshake signature does not verify.
    let genuine = Leaf::new("victim").self_signed();
    let thief = Leaf::new("thief").self_signed();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(thief.key_der.clone().into());
    let signing_key = cloister_tls::crypto_provider()
        .key_provider
        .load_private_key(key)
        .unwrap();
    let forged = Arc::new(rustls::sign::CertifiedKey::new(
        vec![genuine.cert.clone()],
        signing_key,
    ));
    use std::sync::Arc;
    let client = ClientConfig::builder_with_provider(cloister_tls::crypto_provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(
            cloister_tls::trust::ServerCertificateVerifier::new(PeerTrust::none(), false),
        ))
        .with_client_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(forged)));
    let outcome = handshake(
        server(
            &Leaf::new("server").self_signed().identity(),
            PeerTrust::none(),
        ),
        client,
        "localhost",
    );
    assert!(!outcome.server.ok(), "{outcome:?}");
}
