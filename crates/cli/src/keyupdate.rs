//! `cloister keyupdate` (Tessera: `keyupdate`, `-updatepassword`): changes the password of a
//! private key file, and optionally its Argon2 options, in place and atomically, so a crash
//! leaves either the old file or the new one, never half of either.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use cloister_core::keys::argon::{ArgonOptions, ArgonVariant};
use cloister_core::keys::file::KeyFile;
use cloister_core::keys::Password;
use cloister_node::secure_file;
use zeroize::Zeroizing;

/// Arguments of `cloister keyupdate`.
#[derive(Debug, Args)]
pub(crate) struct KeyupdateArgs {
    /// The private key file (`.key`) to update.
    #[arg(
        long,
        value_name = "FILE",
        alias = "keys.keyData.privateKeyPath",
        alias = "keys.keyData[0].privateKeyPath"
    )]
    keyfile: PathBuf,
    /// The current password: each line of the file is tried in turn, as Tessera does with
    /// `--keys.passwordFile`. Not needed for an unlocked key.
    #[arg(long, value_name = "FILE", alias = "keys.passwordFile")]
    password_file: Option<PathBuf>,
    /// The new password: the file's first line. An empty line writes the key unlocked, as
    /// Tessera does for an empty new password.
    #[arg(long, value_name = "FILE")]
    new_password_file: PathBuf,
    /// JSON file with the new Argon2 options {"variant","memory","iterations","parallelism"}.
    /// Without it (and without the `--keys.keyData.config.data.aopts.*` options) a locked key
    /// keeps the options it has; an unlocked one gets keygen's defaults.
    #[arg(long, value_name = "FILE", alias = "argonconfig")]
    argon_config: Option<PathBuf>,
    /// Tessera's spelling of the Argon2 variant (i, d or id).
    #[arg(
        long = "keys.keyData.config.data.aopts.algorithm",
        value_name = "VARIANT"
    )]
    algorithm: Option<String>,
    /// Tessera's spelling of the Argon2 passes.
    #[arg(long = "keys.keyData.config.data.aopts.iterations", value_name = "N")]
    iterations: Option<u32>,
    /// Tessera's spelling of the Argon2 memory in KiB.
    #[arg(long = "keys.keyData.config.data.aopts.memory", value_name = "KIB")]
    memory: Option<u32>,
    /// Tessera's spelling of the Argon2 lanes.
    #[arg(long = "keys.keyData.config.data.aopts.parallelism", value_name = "N")]
    parallelism: Option<u32>,
}

pub(crate) fn run(args: &KeyupdateArgs) -> Result<()> {
    let path = &args.keyfile;
    let text = Zeroizing::new(
        fs::read(path).with_context(|| format!("reading key file {}", path.display()))?,
    );
    let file = KeyFile::parse(&text).with_context(|| format!("{}", path.display()))?;
    let private = match &file {
        KeyFile::Locked(_) => {
            let passwords = match &args.password_file {
                Some(p) => read_lines(p)?,
                None => bail!(
                    "{} is locked: give its current password with --password-file",
                    path.display()
                ),
            };
            passwords
                .iter()
                .find_map(|password| file.unlock(Some(password)).ok())
                .with_context(|| {
                    format!(
                        "{}: no line of the password file opens the key",
                        path.display()
                    )
                })?
        }
        KeyFile::Unlocked(_) => file
            .unlock(None)
            .with_context(|| format!("{}", path.display()))?,
    };
    let new_password = read_lines(&args.new_password_file)?
        .into_iter()
        .next()
        .unwrap_or_else(|| Password::new(""));
    let aopts = argon_options(args, &file)?;
    let updated = if new_password.is_empty() {
        tracing::warn!(path = %path.display(), "the new password is empty: the key is written unlocked");
        KeyFile::unlocked(&private)
    } else {
        KeyFile::lock(&private, &new_password, aopts, &mut rand_core::OsRng)?
    };
    replace_atomically(path, updated.to_json().as_bytes())?;
    println!("Private key at {} updated.", path.display());
    Ok(())
}

/// The options to lock with: a file, Tessera's per-member options over a base, or the key's own.
fn argon_options(args: &KeyupdateArgs, file: &KeyFile) -> Result<ArgonOptions> {
    let mut aopts = match (&args.argon_config, file) {
        (Some(p), _) => {
            let text =
                fs::read(p).with_context(|| format!("reading argon options {}", p.display()))?;
            serde_json::from_slice(&text)
                .with_context(|| format!("{}: not an Argon2 options object", p.display()))?
        }
        (None, KeyFile::Locked(data)) => data.aopts,
        (None, KeyFile::Unlocked(_)) => ArgonOptions::default(),
    };
    if let Some(variant) = &args.algorithm {
        aopts.variant = match variant.as_str() {
            "i" => ArgonVariant::I,
            "d" => ArgonVariant::D,
            "id" => ArgonVariant::Id,
            _ => bail!("--keys.keyData.config.data.aopts.algorithm must be i, d or id"),
        };
    }
    aopts.iterations = args.iterations.unwrap_or(aopts.iterations);
    aopts.memory = args.memory.unwrap_or(aopts.memory);
    aopts.parallelism = args.parallelism.unwrap_or(aopts.parallelism);
    Ok(aopts)
}

fn read_lines(path: &Path) -> Result<Vec<Password>> {
    let text = Zeroizing::new(
        fs::read_to_string(path)
            .with_context(|| format!("reading password file {}", path.display()))?,
    );
    Ok(text.lines().map(Password::new).collect())
}

/// Writes `contents` to a new owner-only file beside `path`, syncs it, renames it over `path`
/// and syncs the directory, so the rename itself survives a crash.
fn replace_atomically(path: &Path, contents: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .context("the key file path has no file name")?;
    let temp = dir.join(format!(
        ".{}.keyupdate-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = (|| -> std::io::Result<()> {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(secure_file::PRIVATE)
            .open(&temp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&temp, path)?;
        fs::File::open(dir)?.sync_all()
    })();
    if let Err(error) = written {
        let _ = fs::remove_file(&temp);
        return Err(error).with_context(|| format!("replacing {}", path.display()));
    }
    Ok(())
}
