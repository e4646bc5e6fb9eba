//! Tessera's `--pidfile FILE`: the process id written at start, so a service manager or a
//! script can find and signal the process, and removed again on a clean exit.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// A written pid file; removed when dropped (the end of a command's `run`, on every clean
/// exit: SIGTERM, Ctrl-C, or an error after start).
#[derive(Debug)]
pub(crate) struct PidFile {
    path: PathBuf,
    pid: u32,
}

impl PidFile {
    /// Writes this process's id to `path`. A file naming another live process is refused (two
    /// servers on one pid file means one of them cannot be signalled); a stale file, whose
    /// process is gone, is replaced.
    pub(crate) fn create(path: &Path) -> Result<Self> {
        let pid = std::process::id();
        match std::fs::read_to_string(path) {
            Ok(text) => {
                if let Ok(other) = text.trim().parse::<u32>() {
                    if other != pid && is_running(other) {
                        bail!(
                            "pid file {} names process {other}, which is running; stop it or choose another --pidfile",
                            path.display()
                        );
                    }
                }
                tracing::info!(path = %path.display(), "replacing a stale pid file");
                std::fs::remove_file(path)
                    .with_context(|| format!("removing stale pid file {}", path.display()))?;
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                return Err(error).with_context(|| format!("reading pid file {}", path.display()))
            }
        }
        // create_new: if another process raced us to the file, fail rather than overwrite it.
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("creating pid file {}", path.display()))?;
        file.write_all(format!("{pid}\n").as_bytes())
            .and_then(|()| file.sync_all())
            .with_context(|| format!("writing pid file {}", path.display()))?;
        Ok(Self {
            path: path.to_owned(),
            pid,
        })
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        // Only our own file: if someone replaced it meanwhile, it is theirs.
        let ours = std::fs::read_to_string(&self.path)
            .is_ok_and(|text| text.trim() == self.pid.to_string());
        if ours {
            if let Err(error) = std::fs::remove_file(&self.path) {
                tracing::warn!(path = %self.path.display(), %error, "could not remove the pid file");
            }
        }
    }
}

/// Whether a process with this id exists (Linux: it has a `/proc` entry).
fn is_running(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

/// Creates the pid file when one is asked for.
pub(crate) fn create_if(path: Option<&Path>) -> Result<Option<PidFile>> {
    path.map(PidFile::create).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_refused_for_a_live_process_replaced_when_stale_removed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.pid");
        // PID 1 always runs.
        std::fs::write(&path, "1\n").unwrap();
        let error = PidFile::create(&path).unwrap_err().to_string();
        assert!(error.contains("process 1"), "{error}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "1\n");
        // Beyond Linux's pid_max (2^22): never a live process.
        std::fs::write(&path, "99999999\n").unwrap();
        let file = PidFile::create(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{}\n", std::process::id())
        );
        drop(file);
        assert!(!path.exists());
    }
}
