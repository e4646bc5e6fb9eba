//! Key material from the files Java and OpenSSL make: JKS and PKCS#12 keystores from
//! `keytool`, PKCS#12 from `openssl pkcs12`, trust stores from `keytool -importcert`, and the
//! keystore Cloister generates, which `keytool -list` must accept.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;

use cloister_tls::config::{cipher_suites, client_config_from, server_config_from};
use cloister_tls::generate::generate_keystore;
use cloister_tls::material::{load_keystore_identity, load_trust_store, MaterialError, Origin};
use cloister_tls::trust::PeerTrust;
use cloister_tls::{CertificateIdentity, Fingerprint};
use support::{handshake, keytool, openssl, run, Ca, Leaf};

fn keystore(path: &Path) -> Origin {
    Origin::new("serverKeyStore", path)
}

fn load(path: &Path, password: &str) -> Result<cloister_tls::Identity, MaterialError> {
    load_keystore_identity(&keystore(path), Some(password), "serverKeyStorePassword")
}

/// `keytool -genkeypair` into a keystore of `store_type`.
fn keytool_keypair(path: &Path, store_type: &str, cn: &str, store_pass: &str, key_pass: &str) {
    let path = path.display().to_string();
    let dname = format!("CN={cn}");
    run(
        &keytool(),
        &[
            "-genkeypair",
            "-alias",
            "node",
            "-keyalg",
            "RSA",
            "-keysize",
            "2048",
            "-dname",
            &dname,
            "-validity",
            "30",
            "-storetype",
            store_type,
            "-keystore",
            &path,
            "-storepass",
            store_pass,
            "-keypass",
            key_pass,
        ],
    );
}

/// The identity serves a real handshake, so its key is the certificate's and usable.
fn assert_serves(identity: &cloister_tls::Identity) {
    let client = Leaf::new("client").self_signed();
    let outcome = handshake(
        server_config_from(
            identity,
            PeerTrust::none(),
            true,
            cipher_suites(&[]).unwrap(),
        )
        .unwrap(),
        client_config_from(Some(&client.identity()), PeerTrust::none(), false).unwrap(),
        "localhost",
    );
    assert!(outcome.both_ok(), "{outcome:?}");
}

#[test]
fn keytool_jks_and_pkcs12_keystores_load() {
    let dir = tempfile::tempdir().unwrap();
    for store_type in ["JKS", "PKCS12"] {
        let path = dir.path().join(format!("node.{store_type}"));
        keytool_keypair(&path, store_type, "node-a:9001", "changeit", "changeit");
        let identity = load(&path, "changeit").unwrap();
        let leaf = CertificateIdentity::of(identity.leaf()).unwrap();
        assert_eq!(
            leaf.common_name.as_deref(),
            Some("node-a:9001"),
            "{store_type}"
        );
        assert_serves(&identity);

        let error = load(&path, "wrong-password").unwrap_err();
        assert!(
            matches!(error, MaterialError::WrongPassword { .. }),
            "{store_type}: {error}"
        );
        let message = error.to_string();
        assert!(message.starts_with("serverKeyStore ("), "{message}");
        assert!(message.contains("serverKeyStorePassword"), "{message}");
        assert!(
            !message.contains("wrong-password") && !message.contains("changeit"),
            "{message}"
        );
    }
}

#[test]
fn a_jks_key_with_its_own_password_is_refused_as_tessera_cannot_use_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("two-passwords.jks");
    keytool_keypair(&path, "JKS", "node", "storepass", "keypass1");
    let error = load(&path, "storepass").unwrap_err();
    assert!(
        matches!(error, MaterialError::KeyPasswordDiffers { .. }),
        "{error}"
    );
}

#[test]
fn openssl_pkcs12_loads_and_a_key_for_another_certificate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let node = Leaf::new("node-b:9001").self_signed();
    let other = Leaf::new("other").self_signed();
    let (cert, key) = node.write_pem(dir.path(), "node");
    let (_, other_key) = other.write_pem(dir.path(), "other");
    let p12 = dir.path().join("node.p12");
    let export = |key: &Path, out: &Path| {
        run(
            &openssl(),
            &[
                "pkcs12",
                "-export",
                "-in",
                &cert.display().to_string(),
                "-inkey",
                &key.display().to_string(),
                "-out",
                &out.display().to_string(),
                "-passout",
                "pass:secret",
                "-name",
                "node",
            ],
        )
    };
    export(&key, &p12);
    let identity = load(&p12, "secret").unwrap();
    assert_eq!(identity.leaf(), &node.cert);
    assert_serves(&identity);
    assert!(matches!(
        load(&p12, "nope"),
        Err(MaterialError::WrongPassword { .. })
    ));
    // openssl refuses to export a mismatched pair itself, so check the mismatch on PEM
    // (the same check runs for every source).
    let error = cloister_tls::material::load_pem_identity(
        &Origin::new("serverTlsKeyPath", &other_key),
        &Origin::new("serverTlsCertificatePath", &cert),
    )
    .unwrap_err();
    assert!(
        matches!(error, MaterialError::KeyMismatch { .. }),
        "{error}"
    );
}

#[test]
fn keytool_trust_stores_load_their_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("Consortium CA");
    let (ca_file, _) = ca.write_pem(dir.path(), "ca");
    for store_type in ["JKS", "PKCS12"] {
        let path = dir.path().join(format!("trust.{store_type}"));
        run(
            &keytool(),
            &[
                "-importcert",
                "-noprompt",
                "-alias",
                "ca",
                "-file",
                &ca_file.display().to_string(),
                "-storetype",
                store_type,
                "-keystore",
                &path.display().to_string(),
                "-storepass",
                "changeit",
            ],
        );
        let origin = Origin::new("serverTrustStore", &path);
        let certificates =
            load_trust_store(&origin, Some("changeit"), "serverTrustStorePassword").unwrap();
        assert_eq!(certificates, [ca.der()], "{store_type}");
        assert!(matches!(
            load_trust_store(&origin, Some("bad"), "serverTrustStorePassword"),
            Err(MaterialError::WrongPassword { .. })
        ));
        if store_type == "JKS" {
            // Without a password the JDK reads a JKS without its integrity check.
            assert_eq!(
                load_trust_store(&origin, None, "serverTrustStorePassword").unwrap(),
                [ca.der()]
            );
        }
    }
}

#[test]
fn a_generated_keystore_is_a_jks_keytool_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fresh").join("server.jks");
    std::fs::create_dir(dir.path().join("fresh")).unwrap();
    generate_keystore(&path, "changeit", "https://localhost:9001").unwrap();

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "owner-only");
    }

    let listing = run(
        &keytool(),
        &[
            "-list",
            "-v",
            "-keystore",
            &path.display().to_string(),
            "-storepass",
            "changeit",
        ],
    );
    for expected in [
        "Keystore type: JKS",
        "Alias name: tessera",
        "Entry type: PrivateKeyEntry",
        "Owner: CN=localhost:9001",
        "Issuer: CN=localhost:9001",
        "Signature algorithm name: SHA512withRSA",
        "2048-bit RSA key",
        "Version: 3",
        "DNSName: localhost",
        "IPAddress: 127.0.0.1",
        "IPAddress: 0.0.0.0",
    ] {
        assert!(
            listing.contains(expected),
            "keytool -list lacks {expected:?}:\n{listing}"
        );
    }

    let identity = load(&path, "changeit").unwrap();
    let sha1_line = listing
        .lines()
        .find_map(|line| line.trim().strip_prefix("SHA1: "))
        .expect("keytool prints the SHA-1 fingerprint");
    assert_eq!(
        sha1_line.replace(':', "").to_lowercase(),
        Fingerprint::of(identity.leaf()).to_hex(),
        "keytool's SHA-1 is Cloister's fingerprint"
    );
    assert_serves(&identity);
}
