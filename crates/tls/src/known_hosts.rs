//! Tessera's known-hosts file (`knownClientsFile`, `knownServersFile`), read and written byte
//! for byte as Tessera does, so that one file moves between Tessera and Cloister unchanged.
//!
//! Format: one `<key> <fingerprint>` per line, the key being a certificate's first subject CN
//! (or `null`) and the fingerprint 40 lowercase hex digits.
//!
//! - Reading follows Tessera's `AbstractTrustManager`: UTF-8, lines ended by LF, CR or CRLF,
//!   each line cut with Java's `split(" ")` (single spaces; trailing empty fields dropped), the
//!   first field the key, the second the fingerprint, further fields ignored; for a key that
//!   appears twice the last line wins. Matching is exact: an upper-case fingerprint never
//!   matches.
//! - A line Tessera cannot read (blank, no space, only a key followed by spaces) makes Tessera
//!   crash with `ArrayIndexOutOfBoundsException`; Cloister refuses the file with the file and
//!   line number instead. A line Tessera reads oddly (a leading space gives the key `""`, a
//!   double space an empty fingerprint) is read the same odd way.
//! - Writing appends `<key> <fingerprint>\n`, first creating the file and at most one missing
//!   parent directory (Tessera's `Files.createDirectory`, not `createDirectories`). One
//!   deliberate difference: when the file's last line has no line ending, Cloister ends it
//!   before appending, where Tessera glues the new entry onto it and loses it.

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::fingerprint::Fingerprint;

/// The entries of one known-hosts file and where it lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownHosts {
    path: PathBuf,
    entries: HashMap<String, String>,
}

/// Why a known-hosts file could not be read or added to. Every variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KnownHostsError {
    /// The file exists but cannot be read.
    #[error("cannot read the known-hosts file {}: {source}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The file is not UTF-8.
    #[error("the known-hosts file {} is not UTF-8 text", path.display())]
    NotUtf8 {
        /// The file.
        path: PathBuf,
    },
    /// A line is not `<key> <fingerprint>` (Tessera would crash on it).
    #[error("the known-hosts file {} line {line}: {problem}; each line must be \"<CN> <fingerprint>\"", path.display())]
    MalformedLine {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong, without the line's text.
        problem: &'static str,
    },
    /// A new entry could not be written (Tessera: `Failed to save address and certificate
    /// fingerprint to whitelist`).
    #[error("cannot add to the known-hosts file {}: {source}", path.display())]
    Unwritable {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The key cannot be written on one line of the file and read back as itself.
    #[error("cannot add to the known-hosts file {}: the certificate's CN contains a space or a line break", path.display())]
    UnwritableKey {
        /// The file.
        path: PathBuf,
    },
}

impl KnownHosts {
    /// An empty list that will be written to `path`.
    pub fn empty(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            entries: HashMap::new(),
        }
    }

    /// Reads `path`. A file that does not exist is an empty list, as in Tessera (TOFU creates
    /// it on first use; WHITELIST requires it, which the config check enforces).
    pub fn load(path: impl Into<PathBuf>) -> Result<Self, KnownHostsError> {
        let path = path.into();
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Self::empty(path)),
            Err(source) => return Err(KnownHostsError::Unreadable { path, source }),
        };
        let text = String::from_utf8(bytes)
            .map_err(|_| KnownHostsError::NotUtf8 { path: path.clone() })?;
        let entries = parse(&text).map_err(|(line, problem)| KnownHostsError::MalformedLine {
            path: path.clone(),
            line,
            problem,
        })?;
        for (key, fingerprint) in &entries {
            if !is_lowercase_fingerprint(fingerprint) {
                // Kept, as Tessera keeps it, but it can never match a certificate.
                tracing::warn!(
                    file = %path.display(),
                    key = %key,
                    "known-hosts entry's fingerprint is not 40 lowercase hex digits; it will never match"
                );
            }
        }
        Ok(Self { path, entries })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The fingerprint recorded for `key`, as written in the file.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(String::as_str)
    }

    /// Whether `key` is recorded with exactly this fingerprint.
    pub fn matches(&self, key: &str, fingerprint: &Fingerprint) -> bool {
        self.get(key) == Some(fingerprint.to_hex().as_str())
    }

    /// How many keys are recorded.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no key is recorded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Appends `<key> <fingerprint>\n` to the file (creating it and at most one missing parent
    /// directory) and records it. The entry is recorded only once it is on disk, so a failed
    /// write does not leave a peer trusted in memory (Tessera records first).
    pub fn append(&mut self, key: &str, fingerprint: &Fingerprint) -> Result<(), KnownHostsError> {
        // A space or line break would make the line read back as another key, or break the
        // file for Tessera; such a CN cannot be recorded faithfully.
        if key.contains([' ', '\n', '\r']) {
            return Err(KnownHostsError::UnwritableKey {
                path: self.path.clone(),
            });
        }
        let hex = fingerprint.to_hex();
        let unwritable = |source| KnownHostsError::Unwritable {
            path: self.path.clone(),
            source,
        };
        if let Some(parent) = self.path.parent() {
            if !parent.as_os_str().is_empty() && !parent.exists() {
                // One level only, as Tessera: a deeper missing path is an error.
                match fs::create_dir(parent) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(unwritable(e)),
                }
            }
        }
        // One write of the whole line on an O_APPEND file: concurrent appenders (another
        // connection, another replica on a shared file) never interleave within a line.
        let append = |line: &str| -> io::Result<()> {
            let mut file = OpenOptions::new()
                .create(true)
                .read(true)
                .append(true)
                .open(&self.path)?;
            // Tessera appends straight after a last line that has no line ending, gluing the
            // new entry onto it (and losing it on the next read). Cloister ends that line
            // first: the one deliberate difference from Tessera's bytes.
            let mut text = String::new();
            if ends_without_line_break(&mut file)? {
                text.push('\n');
            }
            text.push_str(line);
            file.write_all(text.as_bytes())
        };
        append(&format!("{key} {hex}\n")).map_err(unwritable)?;
        self.entries.insert(key.to_owned(), hex);
        Ok(())
    }
}

/// Parses the text of a known-hosts file. Errors are `(line number, problem)`.
pub(crate) fn parse(text: &str) -> Result<HashMap<String, String>, (usize, &'static str)> {
    let mut entries = HashMap::new();
    for (index, line) in java_lines(text).enumerate() {
        let fields = java_split_space(line);
        match fields.as_slice() {
            [key, fingerprint, ..] => {
                entries.insert((*key).to_owned(), (*fingerprint).to_owned());
            }
            [] => return Err((index + 1, "the line is blank")),
            [_] => return Err((index + 1, "the line has no fingerprint after a space")),
        }
    }
    Ok(entries)
}

/// Lines as Java's `BufferedReader.readLine` returns them: ended by LF, CR or CRLF; a final
/// line without an ending still counts; no empty line after a final line ending.
fn java_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        match rest.find(['\n', '\r']) {
            None => {
                let line = rest;
                rest = "";
                Some(line)
            }
            Some(end) => {
                let line = &rest[..end];
                let skip = if rest[end..].starts_with("\r\n") {
                    2
                } else {
                    1
                };
                rest = &rest[end + skip..];
                Some(line)
            }
        }
    })
}

/// Java's `line.split(" ")`: split on every single space, then drop trailing empty fields
/// (so `""` and `"   "` have no fields at all, and `"a "` has one).
fn java_split_space(line: &str) -> Vec<&str> {
    let mut fields: Vec<&str> = line.split(' ').collect();
    while fields.last() == Some(&"") {
        fields.pop();
    }
    fields
}

/// Whether the file is non-empty and its last byte is not a line ending.
fn ends_without_line_break(file: &mut fs::File) -> io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    if file.metadata()?.len() == 0 {
        return Ok(false);
    }
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(!matches!(last[0], b'\n' | b'\r'))
}

fn is_lowercase_fingerprint(text: &str) -> bool {
    text.len() == 40 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP_A: &str = "a9993e364706816aba3e25717850c26c9cd0d89d";
    const FP_B: &str = "f18134d935dba78b3dbab167aed058b85cfa3c3c";

    fn parsed(text: &str) -> HashMap<String, String> {
        parse(text).unwrap()
    }

    #[test]
    fn reads_the_spec_example() {
        let entries = parsed(&format!(
            "localhost:9001 {FP_A}\nnode-b.example.com:9001 {FP_B}\n"
        ));
        assert_eq!(entries.len(), 2);
        assert_eq!(entries["localhost:9001"], FP_A);
        assert_eq!(entries["node-b.example.com:9001"], FP_B);
    }

    #[test]
    fn last_line_wins_and_extra_fields_are_ignored() {
        let entries = parsed(&format!("k {FP_A}\nk {FP_B} trailing words\n"));
        assert_eq!(entries["k"], FP_B);
    }

    #[test]
    fn every_java_line_ending_splits_and_no_final_empty_line() {
        let entries = parsed(&format!("a {FP_A}\r\nb {FP_A}\rc {FP_A}\nd {FP_B}"));
        assert_eq!(entries.len(), 4);
        assert_eq!(entries["d"], FP_B);
    }

    #[test]
    fn odd_lines_read_as_java_reads_them() {
        // Leading space: the key is "", the fingerprint the next field.
        assert_eq!(parsed(&format!(" {FP_A}"))[""], FP_A);
        // Double space: the fingerprint is empty.
        assert_eq!(parsed(&format!("k  {FP_A}"))["k"], "");
        // Tabs are not separators: "k\tfp x" has key "k\tfp".
        assert_eq!(parsed("k\tfp x")["k\tfp"], "x");
        // Trailing spaces after a full entry are fine.
        assert_eq!(parsed(&format!("k {FP_A}   "))["k"], FP_A);
    }

    #[test]
    fn lines_tessera_crashes_on_are_refused_with_their_number() {
        assert_eq!(
            parse(&format!("a {FP_A}\n\nb {FP_B}")),
            Err((2, "the line is blank"))
        );
        assert_eq!(
            parse(&format!("a {FP_A}\n{FP_B}\n")),
            Err((2, "the line has no fingerprint after a space")),
            "a pre-0.6 fingerprint-only line"
        );
        assert_eq!(
            parse("k   "),
            Err((1, "the line has no fingerprint after a space"))
        );
        assert_eq!(parse("   "), Err((1, "the line is blank")));
    }

    #[test]
    fn malformed_file_error_names_file_and_line_but_not_its_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("knownServers");
        fs::write(&path, format!("a {FP_A}\nsecret-looking-line\n")).unwrap();
        let message = KnownHosts::load(&path).unwrap_err().to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("line 2"), "{message}");
        assert!(!message.contains("secret-looking-line"), "{message}");
    }

    #[test]
    fn matching_is_exact_so_upper_case_never_matches() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known");
        fs::write(&path, format!("k {}\n", FP_A.to_uppercase())).unwrap();
        let known = KnownHosts::load(&path).unwrap();
        let fingerprint = Fingerprint::of(b"abc");
        assert_eq!(fingerprint.to_hex(), FP_A);
        assert!(!known.matches("k", &fingerprint));
        assert!(known.get("k").is_some());
    }

    #[test]
    fn a_missing_file_is_empty_and_append_creates_it_and_one_parent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ssl").join("knownClients");
        let mut known = KnownHosts::load(&path).unwrap();
        assert!(known.is_empty());
        let fingerprint = Fingerprint::of(b"abc");
        known.append("localhost:9001", &fingerprint).unwrap();
        known.append("null", &Fingerprint::of(b"other")).unwrap();
        let written = fs::read_to_string(&path).unwrap();
        assert_eq!(
            written,
            format!(
                "localhost:9001 {FP_A}\nnull {}\n",
                Fingerprint::of(b"other").to_hex()
            )
        );
        assert!(known.matches("localhost:9001", &fingerprint));
        // Read back, the file gives the same entries.
        assert_eq!(KnownHosts::load(&path).unwrap(), known);
    }

    #[test]
    fn append_creates_at_most_one_missing_parent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a").join("b").join("known");
        let mut known = KnownHosts::empty(&path);
        let error = known.append("k", &Fingerprint::of(b"abc")).unwrap_err();
        assert!(
            matches!(error, KnownHostsError::Unwritable { .. }),
            "{error}"
        );
        assert!(known.is_empty(), "nothing recorded when the write failed");
        assert!(!dir.path().join("a").exists());
    }

    #[test]
    fn append_keeps_existing_lines_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known");
        let existing = format!("a {FP_A}\r\nb {FP_B} x");
        fs::write(&path, &existing).unwrap();
        let mut known = KnownHosts::load(&path).unwrap();
        known.append("c", &Fingerprint::of(b"abc")).unwrap();
        // A last line without an ending is ended first, so the new entry stays its own line.
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            format!("{existing}\nc {FP_A}\n")
        );
        let reread = KnownHosts::load(&path).unwrap();
        assert_eq!(reread.get("b"), Some(FP_B));
        assert_eq!(reread.get("c"), Some(FP_A));
    }

    #[test]
    fn a_key_with_a_space_is_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut known = KnownHosts::empty(dir.path().join("known"));
        assert!(matches!(
            known.append("two words", &Fingerprint::of(b"abc")),
            Err(KnownHostsError::UnwritableKey { .. })
        ));
        assert!(!dir.path().join("known").exists());
    }
}
