//! Creating key files: never over an existing file, and with their final permissions from the
//! first byte, so a private key is never readable by others, not even between creation and a
//! later chmod.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Owner read/write only: private keys.
pub const PRIVATE: u32 = 0o600;
/// Readable by all: public keys.
pub const PUBLIC: u32 = 0o644;

/// Creates `path` (failing if it exists) with `mode`, writes `contents` and syncs it to disk.
pub fn create_new(path: &Path, mode: u32, contents: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn files_are_created_with_their_mode_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.key");
        create_new(&path, PRIVATE, b"secret").unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(create_new(&path, PRIVATE, b"other").is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"secret");
    }
}
