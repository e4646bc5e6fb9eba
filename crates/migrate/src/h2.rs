//! Reading Tessera's default store, an H2 file database, with H2's own tooling: the machine's
//! Java runs H2's `RunScript` on the database opened read-only (`ACCESS_MODE_DATA=r`, and
//! `IFEXISTS=TRUE` so a wrong path is refused rather than created), and `CSVWRITE` writes each
//! table, sorted by key, binary columns as hex, into a private temporary directory. The files
//! are then read a page at a time, so memory does not grow with the table.
//!
//! H2 orders binary keys as unsigned bytes, as SQLite, PostgreSQL and Rust do; every page is
//! still checked to be in strictly increasing key order, so resuming after a key can never
//! skip a row silently.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Command;

use async_trait::async_trait;
use cloister_store::bulk::{BulkRead, Kind, Row, Table, Value, TABLES};
use cloister_store::StoreError;
use tokio::sync::Mutex;

/// Where Debian's `libh2-java` puts H2's jar.
const DEBIAN_H2_JAR: &str = "/usr/share/java/h2.jar";

/// How a NULL is written: unquoted (every value is quoted).
const NULL: &str = "NULL";

/// Why an H2 database could not be read.
#[derive(Debug, thiserror::Error)]
pub enum H2Error {
    /// Java or H2's jar is not on this machine.
    #[error("reading an H2 database needs Java and H2's jar ({0}): install them (e.g. 'apt-get install default-jre-headless libh2-java'), or set CLOISTER_H2_JAR to the jar")]
    Missing(String),
    /// H2 refused the database or the export.
    #[error("H2 could not read {url}: {reason}")]
    Refused {
        /// The URL, without credentials.
        url: String,
        /// H2's words.
        reason: String,
    },
    /// The temporary directory or an exported file.
    #[error("H2 export: {0}")]
    Io(#[from] std::io::Error),
}

/// An H2 database, exported table by table.
#[derive(Debug)]
pub struct H2Source {
    columns: HashMap<String, Vec<String>>,
    counts: HashMap<String, u64>,
    dir: tempfile::TempDir,
    cursors: Mutex<HashMap<&'static str, Cursor>>,
}

/// `jdbc:h2:` URL parts: the database and its settings, and the user (`sa` unless the URL
/// says `USER=`).
struct Url {
    url: String,
    user: String,
    password: String,
}

impl Url {
    /// The database opened read-only, never created; `USER`/`PASSWORD` settings become
    /// RunScript's arguments.
    fn parse(url: &str) -> Self {
        let mut parts = url.split(';');
        let mut opened = parts.next().unwrap_or_default().to_owned();
        let (mut user, mut password) = ("sa".to_owned(), String::new());
        for setting in parts.filter(|s| !s.is_empty()) {
            let (name, value) = setting.split_once('=').unwrap_or((setting, ""));
            match name.to_ascii_uppercase().as_str() {
                "USER" => user = value.to_owned(),
                "PASSWORD" => password = value.to_owned(),
                "ACCESS_MODE_DATA" | "IFEXISTS" => {}
                _ => {
                    opened.push(';');
                    opened.push_str(setting);
                }
            }
        }
        opened.push_str(";ACCESS_MODE_DATA=r;IFEXISTS=TRUE");
        Self {
            url: opened,
            user,
            password,
        }
    }
}

/// `url` with the value of any `PASSWORD` setting hidden, for messages and checkpoints.
pub fn redacted(url: &str) -> String {
    url.split(';')
        .map(|setting| match setting.split_once('=') {
            Some((name, _)) if name.eq_ignore_ascii_case("PASSWORD") => {
                format!("{name}=<redacted>")
            }
            _ => setting.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(";")
}

impl H2Source {
    /// Exports every table of `url` (`jdbc:h2:…`) that Cloister copies.
    pub fn export(url: &str) -> Result<Self, H2Error> {
        let url = Url::parse(url);
        let (java, jar) = tools()?;
        let dir = tempfile::Builder::new().prefix("cloister-h2-").tempdir()?;
        let columns_file = dir.path().join("columns.csv");
        run(
            &java,
            &jar,
            &url,
            dir.path(),
            &[csv_write(
                &columns_file,
                "SELECT TABLE_NAME, COLUMN_NAME FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA = 'PUBLIC'",
            )],
        )?;
        let mut columns: HashMap<String, Vec<String>> = HashMap::new();
        for record in Records::open(&columns_file)? {
            if let [Some(table), Some(column)] = record?.as_slice() {
                columns
                    .entry(table.to_uppercase())
                    .or_default()
                    .push(column.to_uppercase());
            }
        }
        let mut script = Vec::new();
        for table in TABLES.iter().filter(|t| columns.contains_key(t.name)) {
            let present = &columns[table.name];
            let select = table
                .columns
                .iter()
                .map(|c| match (present.iter().any(|p| p == c.name), c.kind) {
                    (false, _) => "NULL".to_owned(),
                    (true, Kind::Bytes) => format!("RAWTOHEX({})", c.name),
                    (true, _) => c.name.to_owned(),
                })
                .collect::<Vec<_>>()
                .join(", ");
            let key = table.key().name;
            script.push(csv_write(
                &dir.path().join(format!("{}.csv", table.name)),
                &format!("SELECT {select} FROM {} ORDER BY {key}", table.name),
            ));
            script.push(csv_write(
                &dir.path().join(format!("{}.count", table.name)),
                &format!("SELECT COUNT(*) FROM {}", table.name),
            ));
        }
        run(&java, &jar, &url, dir.path(), &script)?;
        let mut counts = HashMap::new();
        for table in TABLES.iter().filter(|t| columns.contains_key(t.name)) {
            let path = dir.path().join(format!("{}.count", table.name));
            let count = Records::open(&path)?
                .next()
                .and_then(Result::ok)
                .and_then(|r| r.into_iter().next().flatten())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            counts.insert(table.name.to_owned(), count);
        }
        Ok(Self {
            columns,
            counts,
            dir,
            cursors: Mutex::default(),
        })
    }

    fn file(&self, table: &Table) -> PathBuf {
        self.dir.path().join(format!("{}.csv", table.name))
    }
}

/// Java and H2's jar: `CLOISTER_H2_JAR`, else Debian's; `java` from `JAVA_HOME`, else `PATH`.
fn tools() -> Result<(PathBuf, PathBuf), H2Error> {
    let jar = std::env::var_os("CLOISTER_H2_JAR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEBIAN_H2_JAR));
    if !jar.is_file() {
        return Err(H2Error::Missing(format!("no jar at {}", jar.display())));
    }
    let java = std::env::var_os("JAVA_HOME")
        .map(|home| PathBuf::from(home).join("bin/java"))
        .filter(|java| java.is_file())
        .unwrap_or_else(|| PathBuf::from("java"));
    match Command::new(&java).arg("-version").output() {
        Ok(out) if out.status.success() => Ok((java, jar)),
        _ => Err(H2Error::Missing(format!("no Java at {}", java.display()))),
    }
}

/// `CALL CSVWRITE(file, query)`: every value quoted, NULL unquoted, no header.
fn csv_write(file: &Path, query: &str) -> String {
    format!(
        "CALL CSVWRITE('{}', '{}', 'charset=UTF-8 null={NULL} writeColumnHeader=false');",
        file.display().to_string().replace('\'', "''"),
        query.replace('\'', "''")
    )
}

/// Runs `statements` with H2's `RunScript` on `url`.
fn run(
    java: &Path,
    jar: &Path,
    url: &Url,
    dir: &Path,
    statements: &[String],
) -> Result<(), H2Error> {
    let script = dir.join("export.sql");
    std::fs::write(&script, statements.join("\n"))?;
    let out = Command::new(java)
        .arg("-cp")
        .arg(jar)
        .arg("org.h2.tools.RunScript")
        .args([
            "-url",
            &url.url,
            "-user",
            &url.user,
            "-password",
            &url.password,
            "-script",
        ])
        .arg(&script)
        .output()?;
    if out.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&out.stderr);
    let reason = said
        .lines()
        .find(|l| l.contains("Exception") || l.contains("Error"))
        .unwrap_or("it failed without saying why")
        .trim()
        .to_owned();
    Err(H2Error::Refused {
        url: url.url.clone(),
        reason,
    })
}

/// A table's export being read: where it stands.
#[derive(Debug)]
struct Cursor {
    records: Records,
    last: Option<Value>,
}

#[async_trait]
impl BulkRead for H2Source {
    async fn columns(&self, table: &str) -> Result<Option<Vec<String>>, StoreError> {
        Ok(self.columns.get(table).cloned())
    }

    async fn count(&self, table: &Table) -> Result<u64, StoreError> {
        Ok(self.counts.get(table.name).copied().unwrap_or(0))
    }

    async fn page(
        &self,
        table: &Table,
        _present: &[bool],
        after: Option<&Value>,
        limit: usize,
    ) -> Result<Vec<Row>, StoreError> {
        let corrupt = |reason: String| StoreError::Corrupt {
            table: table.name,
            reason,
        };
        let mut cursors = self.cursors.lock().await;
        let cursor = cursors.entry(table.name);
        let fresh = || -> Result<Cursor, StoreError> {
            Ok(Cursor {
                records: Records::open(&self.file(table)).map_err(|e| corrupt(e.to_string()))?,
                last: None,
            })
        };
        let cursor = match cursor {
            std::collections::hash_map::Entry::Occupied(entry) => {
                let cursor = entry.into_mut();
                if cursor.last.as_ref() != after {
                    *cursor = fresh()?;
                }
                cursor
            }
            std::collections::hash_map::Entry::Vacant(entry) => entry.insert(fresh()?),
        };
        let mut page = Vec::with_capacity(limit);
        while page.len() < limit {
            let Some(record) = cursor.records.next() else {
                break;
            };
            let row = row(table, record.map_err(|e| corrupt(e.to_string()))?).map_err(corrupt)?;
            let key = &row[0];
            if cursor.last.as_ref().is_some_and(|last| key <= last) {
                return Err(corrupt("H2 exported keys out of order".into()));
            }
            cursor.last = Some(key.clone());
            if after.is_some_and(|after| key <= after) {
                continue;
            }
            page.push(row);
        }
        Ok(page)
    }
}

/// A record as `table`'s row.
fn row(table: &Table, record: Vec<Option<String>>) -> Result<Row, String> {
    if record.len() != table.columns.len() {
        return Err(format!(
            "a record has {} fields, not {}",
            record.len(),
            table.columns.len()
        ));
    }
    table
        .columns
        .iter()
        .zip(record)
        .map(|(column, field)| {
            let value = match (field, column.kind) {
                (None, _) => Value::Null,
                (Some(text), Kind::Text) => Value::Text(text),
                (Some(text), Kind::Int) => Value::Int(
                    text.parse()
                        .map_err(|_| format!("{}: {text:?} is not an integer", column.name))?,
                ),
                (Some(hex), Kind::Bytes) => Value::Bytes(
                    hex::decode(&hex).map_err(|_| format!("{}: not hex", column.name))?,
                ),
            };
            Ok(cloister_store::bulk::with_meaning(column, value))
        })
        .collect()
}

/// The records of one of H2's CSV files: quoted fields (`""` inside is a quote, newlines may
/// appear), an unquoted field is NULL.
#[derive(Debug)]
struct Records {
    input: BufReader<File>,
}

impl Records {
    fn open(path: &Path) -> std::io::Result<Self> {
        Ok(Self {
            input: BufReader::with_capacity(1 << 16, File::open(path)?),
        })
    }

    fn read_record(&mut self) -> std::io::Result<Option<Vec<Option<String>>>> {
        let mut line = Vec::new();
        if self.input.read_until(b'\n', &mut line)? == 0 {
            return Ok(None);
        }
        let mut fields = Vec::new();
        let mut at = 0;
        loop {
            if line.get(at) == Some(&b'"') {
                let mut field = Vec::new();
                at += 1;
                loop {
                    match line.get(at) {
                        Some(b'"') if line.get(at + 1) == Some(&b'"') => {
                            field.push(b'"');
                            at += 2;
                        }
                        Some(b'"') => {
                            at += 1;
                            break;
                        }
                        Some(&b) => {
                            field.push(b);
                            at += 1;
                        }
                        // A newline inside a quoted field: the record goes on.
                        None => {
                            if self.input.read_until(b'\n', &mut line)? == 0 {
                                return Err(invalid("a quoted field never ends"));
                            }
                        }
                    }
                }
                fields.push(Some(
                    String::from_utf8(field).map_err(|_| invalid("not UTF-8"))?,
                ));
            } else {
                let end = line[at..]
                    .iter()
                    .position(|&b| b == b',' || b == b'\n' || b == b'\r')
                    .map_or(line.len(), |n| at + n);
                fields.push(None);
                at = end;
            }
            match line.get(at) {
                Some(b',') => at += 1,
                Some(b'\r' | b'\n') | None => return Ok(Some(fields)),
                Some(_) => return Err(invalid("text after a quoted field")),
            }
        }
    }
}

fn invalid(why: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, format!("H2 CSV: {why}"))
}

impl Iterator for Records {
    type Item = std::io::Result<Vec<Option<String>>>;

    fn next(&mut self) -> Option<Self::Item> {
        self.read_record().transpose()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn csv_records_read_quotes_nulls_and_newlines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, "\"0100\",\"\",\"a\"\"b,c\",NULL\n\"x\ny\",NULL\n").unwrap();
        let records: Vec<_> = Records::open(&path).unwrap().map(Result::unwrap).collect();
        assert_eq!(
            records,
            vec![
                vec![
                    Some("0100".into()),
                    Some(String::new()),
                    Some("a\"b,c".into()),
                    None
                ],
                vec![Some("x\ny".into()), None],
            ]
        );
        std::fs::write(&path, "\"never ends\n").unwrap();
        assert!(Records::open(&path).unwrap().next().unwrap().is_err());
    }

    #[test]
    fn urls_open_read_only_and_never_create() {
        let url = Url::parse("jdbc:h2:/data/tm/db;MODE=Oracle;USER=tm;PASSWORD=pw;IFEXISTS=FALSE");
        assert_eq!(
            url.url,
            "jdbc:h2:/data/tm/db;MODE=Oracle;ACCESS_MODE_DATA=r;IFEXISTS=TRUE"
        );
        assert_eq!((url.user.as_str(), url.password.as_str()), ("tm", "pw"));
        assert_eq!(
            redacted("jdbc:h2:/d/db;password=pw;MODE=Oracle"),
            "jdbc:h2:/d/db;password=<redacted>;MODE=Oracle"
        );
    }

    #[test]
    fn binary_fields_decode_from_hex_of_either_case_and_odd_or_bad_hex_is_refused() {
        let table = &TABLES[0];
        let field = |text: &str| Some(text.to_owned());
        let decoded = row(table, vec![field("00fFa1"), field(""), None, field("5")]).unwrap();
        assert_eq!(
            decoded,
            vec![
                Value::Bytes(vec![0, 255, 161]),
                Value::Bytes(Vec::new()),
                Value::Text("LEGACY".into()),
                Value::Int(5)
            ]
        );
        assert!(row(table, vec![field("abc"), field(""), None, None]).is_err());
        assert!(row(table, vec![field("zz"), field(""), None, None]).is_err());
    }
}
