//! `cloister keygen`: writes `NAME.pub` (bare base64) and `NAME.key` (Tessera key JSON, locked
//! with Argon2 when a password is given) for each comma-separated name.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use cloister_core::keys::argon::ArgonOptions;
use cloister_core::keys::file::{public_key_file_text, KeyFile};
use cloister_core::keys::{KeyPair, Password};
use cloister_node::secure_file;
use zeroize::Zeroizing;

/// Arguments of `cloister keygen`.
#[derive(Debug, Args)]
pub(crate) struct KeygenArgs {
    /// Path prefix of the files to write; a comma-separated list makes several key pairs.
    #[arg(long, alias = "keyout", value_delimiter = ',', required = true)]
    filename: Vec<PathBuf>,
    /// File whose first line is the password; without it (or with an empty password) the
    /// private key is written unlocked.
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// JSON file with Argon2 options {"variant","memory","iterations","parallelism"}
    /// (default: argon2id, 1 GiB, 10 iterations, 4 lanes, as in Tessera's samples).
    #[arg(long, alias = "argonconfig")]
    argon_config: Option<PathBuf>,
}

pub(crate) fn run(args: &KeygenArgs) -> Result<()> {
    let password = args
        .password_file
        .as_deref()
        .map(read_password)
        .transpose()?;
    let aopts = args
        .argon_config
        .as_deref()
        .map(read_argon_options)
        .transpose()?;
    for name in &args.filename {
        write_key_pair(name, password.as_ref(), aopts.unwrap_or_default())?;
    }
    Ok(())
}

fn write_key_pair(name: &Path, password: Option<&Password>, aopts: ArgonOptions) -> Result<()> {
    let (public_path, private_path) = (with_suffix(name, "pub"), with_suffix(name, "key"));
    for path in [&public_path, &private_path] {
        if path.exists() {
            bail!(
                "{} already exists; refusing to overwrite a key file",
                path.display()
            );
        }
    }
    if let Some(parent) = name.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let pair = KeyPair::generate(&mut rand_core::OsRng);
    let key_file = match password.filter(|p| !p.is_empty()) {
        Some(password) => KeyFile::lock(pair.private(), password, aopts, &mut rand_core::OsRng)?,
        None => KeyFile::unlocked(pair.private()),
    };
    create_new(
        &private_path,
        secure_file::PRIVATE,
        key_file.to_json().as_bytes(),
    )?;
    create_new(
        &public_path,
        0o644,
        public_key_file_text(pair.public()).as_bytes(),
    )?;
    tracing::info!(public_key = %pair.public(), path = %public_path.display(), locked = key_file.is_locked(), "generated key pair");
    Ok(())
}

fn create_new(path: &Path, mode: u32, contents: &[u8]) -> Result<()> {
    secure_file::create_new(path, mode, contents)
        .with_context(|| format!("creating {}", path.display()))
}

fn with_suffix(name: &Path, suffix: &str) -> PathBuf {
    let mut path = name.as_os_str().to_owned();
    path.push(".");
    path.push(suffix);
    PathBuf::from(path)
}

fn read_password(path: &Path) -> Result<Password> {
    let text = Zeroizing::new(
        fs::read_to_string(path)
            .with_context(|| format!("reading password file {}", path.display()))?,
    );
    Ok(Password::new(text.lines().next().unwrap_or_default()))
}

fn read_argon_options(path: &Path) -> Result<ArgonOptions> {
    let text =
        fs::read(path).with_context(|| format!("reading argon options {}", path.display()))?;
    serde_json::from_slice(&text)
        .with_context(|| format!("{}: not an Argon2 options object", path.display()))
}
