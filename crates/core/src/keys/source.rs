//! How a config's `keys` section becomes key pairs.
//!
//! Each `keyData[i]` is inline (`privateKey` + `publicKey`), an inline key-file object
//! (`config` + `publicKey`) or a pair of files (`privateKeyPath` + `publicKeyPath`). A locked
//! key's password is, in order of preference: the `password` stored inline in its
//! `config.data` (a legacy form that names this very key), line *i* of `keys.passwordFile`, or
//! `keys.passwords[i]`. An empty line or entry counts as no password, since Tessera writes an
//! empty password as an unlocked key (so unlocked keys can have any placeholder line).
//!
//! This module does no I/O: the caller passes a file reader. Paths are handed to it as written
//! in the config; relative ones are the caller's to resolve (Tessera: the working directory).
//! Errors say which entry or file failed and why, never key bytes or passwords.

use std::io;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::file::{parse_public_key_file, KeyFile, KeyFileError};
use super::{KeyPair, KeyPairMismatch, Password, PrivateKey, PublicKey};
use crate::config::keys::{KeyConfiguration, KeyDataForm, KeyDataFormError};

/// Why the key pairs could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeySourceError {
    /// A file could not be read.
    #[error("{location}: cannot read {}: {reason}", path.display())]
    Unreadable {
        /// The config member that names the file, e.g. `keys.keyData[0].privateKeyPath`.
        location: String,
        /// The file as written in the config.
        path: PathBuf,
        /// The I/O error.
        reason: String,
    },
    /// A text file (password or `.pub` file) is not UTF-8.
    #[error("{location}: {} is not UTF-8 text", path.display())]
    NotUtf8 {
        /// The config member that names the file.
        location: String,
        /// The file as written in the config.
        path: PathBuf,
    },
    /// Both `keys.passwords` and `keys.passwordFile` are given.
    #[error("keys.passwords must not be given together with keys.passwordFile")]
    BothPasswordSources,
    /// The entry is not one usable form (or is a vault reference).
    #[error("keys.keyData[{index}]: {error}")]
    Form {
        /// The entry.
        index: usize,
        /// Why.
        error: KeyDataFormError,
    },
    /// A key (file or inline) is malformed, or a locked key cannot be opened.
    #[error("{location}: {error}")]
    Key {
        /// The config member, with the file when there is one, e.g.
        /// `keys.keyData[0].privateKeyPath (tm.key)`.
        location: String,
        /// What is wrong.
        error: KeyFileError,
    },
    /// The private key does not belong to the configured public key.
    #[error("keys.keyData[{index}]: {error}")]
    Mismatch {
        /// The entry.
        index: usize,
        /// The public key it was configured with.
        error: KeyPairMismatch,
    },
}

/// Reads the key pairs of `keys`, calling `read_file` for every file it names. The pairs are in
/// `keyData` order.
pub fn resolve(
    keys: &KeyConfiguration,
    read_file: &mut dyn FnMut(&Path) -> io::Result<Vec<u8>>,
) -> Result<Vec<KeyPair>, KeySourceError> {
    let passwords = passwords(keys, read_file)?;
    keys.key_data
        .iter()
        .enumerate()
        .map(|(index, data)| {
            let form = data
                .form()
                .map_err(|error| KeySourceError::Form { index, error })?;
            let listed = passwords.get(index).filter(|p| !p.is_empty());
            let at = format!("keys.keyData[{index}]");
            let (public, private) = match form {
                KeyDataForm::Inline {
                    private_key,
                    public_key,
                } => {
                    let private = PrivateKey::from_base64(private_key, "the private key")
                        .map_err(|e| key_error(format!("{at}.privateKey"), e.into()))?;
                    (inline_public(&at, public_key)?, private)
                }
                KeyDataForm::InlineConfig { config, public_key } => {
                    let inline = config.inline_password();
                    let password = inline.as_ref().filter(|p| !p.is_empty()).or(listed);
                    let private = config
                        .unlock(password)
                        .map_err(|e| key_error(format!("{at}.config"), e))?;
                    (inline_public(&at, public_key)?, private)
                }
                KeyDataForm::Files {
                    private_key_path,
                    public_key_path,
                } => {
                    let public_at = format!("{at}.publicKeyPath");
                    let text = read_text(read_file, public_key_path, &public_at)?;
                    let public = parse_public_key_file(&text).map_err(|e| {
                        key_error(format!("{public_at} ({})", public_key_path.display()), e)
                    })?;
                    let private_at =
                        format!("{at}.privateKeyPath ({})", private_key_path.display());
                    let bytes = Zeroizing::new(read(
                        read_file,
                        private_key_path,
                        &format!("{at}.privateKeyPath"),
                    )?);
                    let file =
                        KeyFile::parse(&bytes).map_err(|e| key_error(private_at.clone(), e))?;
                    let inline = file.inline_password();
                    let password = inline.as_ref().filter(|p| !p.is_empty()).or(listed);
                    let private = file
                        .unlock(password)
                        .map_err(|e| key_error(private_at, e))?;
                    (public, private)
                }
            };
            KeyPair::new(public, private).map_err(|error| KeySourceError::Mismatch { index, error })
        })
        .collect()
}

/// The passwords by `keyData` index, from `passwordFile` or `passwords`.
fn passwords(
    keys: &KeyConfiguration,
    read_file: &mut dyn FnMut(&Path) -> io::Result<Vec<u8>>,
) -> Result<Vec<Password>, KeySourceError> {
    match (&keys.password_file, keys.passwords.is_empty()) {
        (Some(_), false) => Err(KeySourceError::BothPasswordSources),
        (Some(path), true) => {
            let text = read_text(read_file, path, "keys.passwordFile")?;
            Ok(text.lines().map(Password::new).collect())
        }
        (None, _) => Ok(keys
            .passwords
            .iter()
            .map(|p| Password::new(p.as_str()))
            .collect()),
    }
}

fn inline_public(at: &str, text: &str) -> Result<PublicKey, KeySourceError> {
    PublicKey::from_base64(text, "the public key")
        .map_err(|e| key_error(format!("{at}.publicKey"), e.into()))
}

fn key_error(location: String, error: KeyFileError) -> KeySourceError {
    KeySourceError::Key { location, error }
}

fn read(
    read_file: &mut dyn FnMut(&Path) -> io::Result<Vec<u8>>,
    path: &Path,
    location: &str,
) -> Result<Vec<u8>, KeySourceError> {
    read_file(path).map_err(|e| KeySourceError::Unreadable {
        location: location.to_owned(),
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// Reads a UTF-8 file, wiped on drop (password files and `.pub` files alike).
fn read_text(
    read_file: &mut dyn FnMut(&Path) -> io::Result<Vec<u8>>,
    path: &Path,
    location: &str,
) -> Result<Zeroizing<String>, KeySourceError> {
    let bytes = read(read_file, path, location)?;
    String::from_utf8(bytes).map(Zeroizing::new).map_err(|e| {
        // Wipe the rejected bytes too: they may be a password.
        drop(Zeroizing::new(e.into_bytes()));
        KeySourceError::NotUtf8 {
            location: location.to_owned(),
            path: path.to_owned(),
        }
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::config::keys::KeyData;
    use crate::keys::argon::ArgonOptions;

    const PRIVATE: &str = "yAWAJjwPqUtNVlqGjSrBmr1/iIkghuOh1803Yzx9jLM=";
    const PUBLIC: &str = "/+UuD63zItL1EbjxkKUljMgG8Z1w0AJ8pNOR4iq2yQc=";
    const PRIVATE_2: &str = "Wl+xSyXVuuqzpvznOS7dOobhcn4C5auxkFRi7yLtgtA=";
    const PUBLIC_2: &str = "BULeR8JyUWhiuuCMU/HLA0Q5pzkYT+cHII3ZKBey3Bo=";

    fn private(text: &str) -> PrivateKey {
        PrivateKey::from_base64(text, "k").unwrap()
    }

    fn locked(text: &str, password: &str) -> KeyFile {
        KeyFile::lock(
            &private(text),
            &Password::new(password),
            ArgonOptions::CHEAP,
            &mut rand_core::OsRng,
        )
        .unwrap()
    }

    fn file_pair(private: &str, public: &str) -> KeyData {
        KeyData {
            private_key_path: Some(private.into()),
            public_key_path: Some(public.into()),
            ..KeyData::default()
        }
    }

    struct Files(HashMap<PathBuf, Vec<u8>>);

    impl Files {
        fn new(entries: &[(&str, &[u8])]) -> Self {
            Self(
                entries
                    .iter()
                    .map(|(p, b)| (PathBuf::from(p), b.to_vec()))
                    .collect(),
            )
        }

        fn resolve(&self, keys: &KeyConfiguration) -> Result<Vec<KeyPair>, KeySourceError> {
            resolve(keys, &mut |path: &Path| {
                self.0
                    .get(path)
                    .cloned()
                    .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
            })
        }
    }

    fn publics(pairs: &[KeyPair]) -> Vec<String> {
        pairs.iter().map(|p| p.public().to_base64()).collect()
    }

    #[test]
    fn file_keys_unlocked_and_locked_with_password_file() {
        let unlocked = KeyFile::unlocked(&private(PRIVATE)).to_json();
        let locked = locked(PRIVATE_2, "s3cret").to_json();
        let files = Files::new(&[
            ("tm1.key", unlocked.as_bytes()),
            ("tm1.pub", format!("{PUBLIC}\n").as_bytes()),
            ("keys/tm2.key", locked.as_bytes()),
            ("keys/tm2.pub", PUBLIC_2.as_bytes()),
            ("passwords.txt", b"placeholder\r\ns3cret\n"),
        ]);
        let keys = KeyConfiguration {
            password_file: Some("passwords.txt".into()),
            key_data: vec![
                file_pair("tm1.key", "tm1.pub"),
                file_pair("keys/tm2.key", "keys/tm2.pub"),
            ],
            ..KeyConfiguration::default()
        };
        let pairs = files.resolve(&keys).unwrap();
        assert_eq!(publics(&pairs), [PUBLIC, PUBLIC_2]);
        assert_eq!(pairs[1].private().as_bytes(), private(PRIVATE_2).as_bytes());
    }

    #[test]
    fn inline_keys_and_inline_config() {
        let keys = KeyConfiguration {
            key_data: vec![
                KeyData {
                    private_key: Some(Zeroizing::new(PRIVATE.into())),
                    public_key: Some(PUBLIC.into()),
                    ..KeyData::default()
                },
                KeyData {
                    config: Some(KeyFile::unlocked(&private(PRIVATE_2))),
                    public_key: Some(PUBLIC_2.into()),
                    ..KeyData::default()
                },
            ],
            ..KeyConfiguration::default()
        };
        assert_eq!(
            publics(&Files::new(&[]).resolve(&keys).unwrap()),
            [PUBLIC, PUBLIC_2]
        );
    }

    #[test]
    fn locked_inline_config_with_inline_password_or_passwords_list() {
        let KeyFile::Locked(mut data) = locked(PRIVATE, "inline pw") else {
            panic!()
        };
        data.password = Some(Zeroizing::new("inline pw".into()));
        let entry = KeyData {
            config: Some(KeyFile::Locked(data)),
            public_key: Some(PUBLIC.into()),
            ..KeyData::default()
        };
        let keys = KeyConfiguration {
            key_data: vec![entry],
            ..KeyConfiguration::default()
        };
        assert_eq!(publics(&Files::new(&[]).resolve(&keys).unwrap()), [PUBLIC]);

        let keys = KeyConfiguration {
            passwords: vec![Zeroizing::new("listed".into())],
            key_data: vec![KeyData {
                config: Some(locked(PRIVATE, "listed")),
                public_key: Some(PUBLIC.into()),
                ..KeyData::default()
            }],
            ..KeyConfiguration::default()
        };
        assert_eq!(publics(&Files::new(&[]).resolve(&keys).unwrap()), [PUBLIC]);
    }

    #[test]
    fn wrong_and_missing_passwords_name_the_key_file() {
        let locked = locked(PRIVATE, "right").to_json();
        let files = Files::new(&[
            ("tm.key", locked.as_bytes()),
            ("tm.pub", PUBLIC.as_bytes()),
            ("pw", b"wrong-password-text\n"),
            ("empty", b"\n"),
        ]);
        let mut keys = KeyConfiguration {
            password_file: Some("pw".into()),
            key_data: vec![file_pair("tm.key", "tm.pub")],
            ..KeyConfiguration::default()
        };
        let err = files.resolve(&keys).unwrap_err().to_string();
        assert_eq!(
            err,
            "keys.keyData[0].privateKeyPath (tm.key): wrong password: the locked key could not be opened"
        );
        assert!(!err.contains("wrong-password-text"));
        keys.password_file = Some("empty".into());
        assert_eq!(
            files.resolve(&keys).unwrap_err().to_string(),
            "keys.keyData[0].privateKeyPath (tm.key): the key is locked (argon2sbox) and no password was given for it"
        );
    }

    #[test]
    fn missing_truncated_and_wrong_length_files() {
        let keys = KeyConfiguration {
            key_data: vec![file_pair("tm.key", "tm.pub")],
            ..KeyConfiguration::default()
        };
        let err = Files::new(&[("tm.pub", PUBLIC.as_bytes())])
            .resolve(&keys)
            .unwrap_err();
        assert!(
            matches!(&err, KeySourceError::Unreadable { path, .. } if path == Path::new("tm.key"))
        );
        assert!(err
            .to_string()
            .starts_with("keys.keyData[0].privateKeyPath: cannot read tm.key: "));

        let full = KeyFile::unlocked(&private(PRIVATE)).to_json();
        let truncated = &full.as_bytes()[..full.len() / 2];
        let err = Files::new(&[("tm.key", truncated), ("tm.pub", PUBLIC.as_bytes())])
            .resolve(&keys)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("keys.keyData[0].privateKeyPath (tm.key): not a Tessera key file"),
            "{err}"
        );
        assert!(err.contains("unexpected end of input"), "{err}");
        assert!(!err.contains(&PRIVATE[..10]), "{err}");

        let short = br#"{"type":"unlocked","data":{"bytes":"AAAA"}}"#;
        let err = Files::new(&[("tm.key", short), ("tm.pub", PUBLIC.as_bytes())])
            .resolve(&keys)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "keys.keyData[0].privateKeyPath (tm.key): data.bytes must be 32 bytes, found 3"
        );

        let unlocked = KeyFile::unlocked(&private(PRIVATE)).to_json();
        let err = Files::new(&[("tm.key", unlocked.as_bytes()), ("tm.pub", b"AAAA")])
            .resolve(&keys)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "keys.keyData[0].publicKeyPath (tm.pub): the public key must be 32 bytes, found 3"
        );

        let no_password_file = KeyConfiguration {
            password_file: Some("missing.txt".into()),
            ..keys.clone()
        };
        let err = Files::new(&[])
            .resolve(&no_password_file)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("keys.passwordFile: cannot read missing.txt: "),
            "{err}"
        );
    }

    #[test]
    fn mismatched_public_and_private_keys() {
        let keys = KeyConfiguration {
            key_data: vec![KeyData {
                private_key: Some(Zeroizing::new(PRIVATE.into())),
                public_key: Some(PUBLIC_2.into()),
                ..KeyData::default()
            }],
            ..KeyConfiguration::default()
        };
        let err = Files::new(&[]).resolve(&keys).unwrap_err().to_string();
        assert_eq!(
            err,
            format!("keys.keyData[0]: the private key does not belong to public key {PUBLIC_2}")
        );
        assert!(!err.contains(PRIVATE));
    }

    #[test]
    fn vault_entries_and_both_password_sources_are_refused() {
        let keys = KeyConfiguration {
            key_data: vec![KeyData {
                hashicorp_vault_private_key_id: Some("tm".into()),
                ..KeyData::default()
            }],
            ..KeyConfiguration::default()
        };
        assert_eq!(
            Files::new(&[]).resolve(&keys).unwrap_err().to_string(),
            "keys.keyData[0]: key vaults are not supported by Cloister (found hashicorpVaultPrivateKeyId)"
        );
        let keys = KeyConfiguration {
            password_file: Some("pw".into()),
            passwords: vec![Zeroizing::new("x".into())],
            ..KeyConfiguration::default()
        };
        assert_eq!(
            Files::new(&[]).resolve(&keys).unwrap_err(),
            KeySourceError::BothPasswordSources
        );
    }
}
