//! TLS through the host walker against real PostgreSQL servers with `ssl = on` and a
//! certificate made by the test, and one with `ssl = off`. Connections are made from URLs,
//! as an operator writes them, and the server itself says whether a session is encrypted
//! (`pg_stat_ssl`).

use std::path::Path;
use std::sync::OnceLock;

use cloister_core::config::StoreTarget;
use cloister_harness::postgres::{HbaKind, PgCluster, PASSWORD, SUPERUSER};
use cloister_harness::tls::TestCa;

use super::*;
use crate::{PostgresStore, StoreError};

/// What the server records about this session's encryption.
const SESSION_SSL: &str =
    "SELECT ssl, coalesce(client_dn, '') FROM pg_stat_ssl WHERE pid = pg_backend_pid()";

/// The CA that signs the TLS server's certificate.
fn ca() -> &'static TestCa {
    static CA: OnceLock<TestCa> = OnceLock::new();
    CA.get_or_init(|| TestCa::new("cloister test CA"))
}

/// A server with `ssl = on`, its certificate for 127.0.0.1 (an IP subjectAltName) only.
fn tls_server() -> &'static PgCluster {
    static SERVER: OnceLock<PgCluster> = OnceLock::new();
    SERVER.get_or_init(|| PgCluster::single_with_tls(&ca().server(&["127.0.0.1"])))
}

/// A server with `ssl = off`, as the harness starts one by default.
fn plain_server() -> &'static PgCluster {
    static SERVER: OnceLock<PgCluster> = OnceLock::new();
    SERVER.get_or_init(PgCluster::single)
}

async fn started(server: fn() -> &'static PgCluster) -> &'static PgCluster {
    tokio::task::spawn_blocking(server).await.unwrap()
}

/// Store options from a URL to `host` on `cluster`'s only node, with the harness's
/// credentials and `query` (the TLS parameters) appended.
fn options(cluster: &PgCluster, host: &str, query: &str) -> PostgresOptions {
    let url = format!(
        "postgresql://{SUPERUSER}:{PASSWORD}@{host}:{}/postgres?connect_timeout=5&{query}",
        cluster.port(0)
    );
    let target = StoreTarget::parse(&url, None, None).unwrap();
    PostgresOptions::from_target(&target, false).unwrap()
}

/// A walker that knows no default files (the test machine's `~/.postgresql` stays out).
fn walker(options: &PostgresOptions) -> Result<HostWalker, TlsSetupError> {
    let tls = ClientTls::load_from(&options.tls, None)?;
    Ok(HostWalker::with_tls(options, tls, LastFailure::default()))
}

/// Why the TLS files of `options` cannot be used.
fn setup_error(options: &PostgresOptions) -> String {
    match walker(options) {
        Ok(_) => panic!("the files were accepted"),
        Err(error) => error.to_string(),
    }
}

/// Connects and returns what the server says of the session: (ssl, client certificate DN).
async fn session_ssl(options: &PostgresOptions) -> (bool, String) {
    let (client, _connection) = walker(options).unwrap().walk().await.unwrap();
    let row = client.query_one(SESSION_SSL, &[]).await.unwrap();
    (row.get(0), row.get(1))
}

/// Connects through the whole store and returns the error an operator reads.
async fn store_refusal(options: &PostgresOptions) -> String {
    match PostgresStore::connect(options).await {
        Ok(_) => panic!("connected, but the connection should have been refused"),
        Err(StoreError::Unavailable(message)) => message,
        Err(other) => panic!("not an availability error: {other}"),
    }
}

fn root(ca: &TestCa) -> String {
    path_param(&ca.file.clone())
}

fn path_param(path: &Path) -> String {
    path.display().to_string()
}

#[tokio::test]
async fn require_connects_over_tls() {
    let server = started(tls_server).await;
    let (ssl, _) = session_ssl(&options(server, "127.0.0.1", "sslmode=require")).await;
    assert!(ssl, "the server reports the session as SSL");
}

#[tokio::test]
async fn verify_full_connects_over_tls_from_a_jdbc_url() {
    let server = started(tls_server).await;
    let url = format!(
        "jdbc:postgresql://127.0.0.1:{}/postgres?user={SUPERUSER}&password={PASSWORD}&sslmode=verify-full&sslrootcert={}",
        server.port(0),
        root(ca())
    );
    let options =
        PostgresOptions::from_target(&StoreTarget::parse(&url, None, None).unwrap(), false)
            .unwrap();
    let (ssl, client_dn) = session_ssl(&options).await;
    assert!(ssl, "the server reports the session as SSL");
    assert_eq!(client_dn, "", "no client certificate was asked for");
}

#[tokio::test]
async fn verify_ca_connects_whatever_the_host_name() {
    let server = started(tls_server).await;
    // The certificate names 127.0.0.1 only; verify-ca does not look at names.
    let query = format!("sslmode=verify-ca&sslrootcert={}", root(ca()));
    let (ssl, _) = session_ssl(&options(server, "localhost", &query)).await;
    assert!(ssl);
}

#[tokio::test]
async fn verify_full_with_a_wrong_host_name_fails_naming_the_host() {
    let server = started(tls_server).await;
    let query = format!("sslmode=verify-full&sslrootcert={}", root(ca()));
    let message = store_refusal(&options(server, "localhost", &query)).await;
    assert!(
        message.contains(&format!(
            "localhost:{}: the server's certificate does not name localhost",
            server.port(0)
        )) && message.contains("sslmode=verify-full checks the host name"),
        "{message}"
    );
}

#[tokio::test]
async fn a_certificate_from_another_ca_fails_under_verify_ca_and_verify_full() {
    let server = started(tls_server).await;
    let stranger = TestCa::new("another CA");
    for mode in ["verify-ca", "verify-full"] {
        let query = format!("sslmode={mode}&sslrootcert={}", root(&stranger));
        let message = store_refusal(&options(server, "127.0.0.1", &query)).await;
        assert!(
            message.contains(&format!(
                "127.0.0.1:{}: the server's certificate is not signed by a CA in sslrootcert",
                server.port(0)
            )),
            "{mode}: {message}"
        );
    }
}

#[tokio::test]
async fn require_against_a_server_without_tls_fails_in_one_sentence() {
    let server = started(plain_server).await;
    let message = store_refusal(&options(server, "127.0.0.1", "sslmode=require")).await;
    assert_eq!(
        message,
        format!(
            "no usable PostgreSQL host: 127.0.0.1:{}: the server does not accept TLS (ssl = off), and sslmode=require never continues in plain text",
            server.port(0)
        )
    );
}

#[tokio::test]
async fn prefer_uses_tls_when_offered_and_plain_text_when_not() {
    let tls = started(tls_server).await;
    let (ssl, _) = session_ssl(&options(tls, "127.0.0.1", "sslmode=prefer")).await;
    assert!(ssl, "prefer encrypts when the server can");
    let plain = started(plain_server).await;
    let (ssl, _) = session_ssl(&options(plain, "127.0.0.1", "sslmode=prefer")).await;
    assert!(!ssl, "prefer falls back to plain text, as libpq does");
    let (ssl, _) = session_ssl(&options(tls, "127.0.0.1", "sslmode=disable")).await;
    assert!(!ssl, "disable never encrypts");
}

#[tokio::test]
async fn sslcert_and_sslkey_are_presented_to_the_server() {
    let server = started(tls_server).await;
    let (cert, key) = ca().client(SUPERUSER);
    let query = format!(
        "sslmode=verify-full&sslrootcert={}&sslcert={}&sslkey={}",
        root(ca()),
        path_param(&cert),
        path_param(&key)
    );
    let (ssl, client_dn) = session_ssl(&options(server, "127.0.0.1", &query)).await;
    assert!(ssl);
    assert_eq!(client_dn, format!("/CN={SUPERUSER}"));
}

#[test]
fn an_unusable_client_key_stops_the_start_naming_sslkey() {
    let (cert, key) = ca().client("open-key");
    // libpq refuses a key that others can read; so does the store, before connecting.
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let query = format!(
        "sslmode=require&sslcert={}&sslkey={}",
        path_param(&cert),
        path_param(&key)
    );
    let error = setup_error(&options_for_port(1, &query));
    assert!(
        error.starts_with("sslkey (") && error.contains("chmod 0600"),
        "{error}"
    );
    let missing = format!(
        "sslmode=verify-full&sslrootcert={}/nope.crt",
        ca().dir().display()
    );
    let error = setup_error(&options_for_port(1, &missing));
    assert!(
        error.starts_with("sslrootcert (") && error.contains("does not exist"),
        "{error}"
    );
}

#[tokio::test]
async fn an_only_tls_server_refuses_disable_and_allow_retries_in_tls() {
    let ca = TestCa::new("hostssl CA");
    let server = tokio::task::spawn_blocking(move || {
        let server = PgCluster::single_with_tls(&ca.server(&["127.0.0.1"]));
        server.only_hba(HbaKind::Tls);
        server
    })
    .await
    .unwrap();
    let message = store_refusal(&options(&server, "127.0.0.1", "sslmode=disable")).await;
    assert!(message.contains("SQLSTATE 28000"), "{message}");
    let (ssl, _) = session_ssl(&options(&server, "127.0.0.1", "sslmode=allow")).await;
    assert!(ssl, "allow retries in TLS after a plain-text refusal");
    drop(server);
}

/// Options for `port` without starting anything: files are read before any connection.
fn options_for_port(port: u16, query: &str) -> PostgresOptions {
    let url = format!("postgresql://{SUPERUSER}@127.0.0.1:{port}/postgres?{query}");
    PostgresOptions::from_target(&StoreTarget::parse(&url, None, None).unwrap(), false).unwrap()
}

#[tokio::test]
async fn a_host_that_accepts_tls_and_then_stalls_costs_one_per_host_timeout() {
    use std::io::{Read as _, Write as _};
    use std::time::Instant;

    let server = started(tls_server).await;
    // Answers the TLS request with 'S' (go ahead), then never says a word of the handshake:
    // the stall sits inside TLS, past anything tokio-postgres' own connect timeout covers.
    let stalling = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let stalling_port = stalling.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for mut stream in stalling.incoming().flatten() {
            let mut request = [0u8; 8];
            if stream.read_exact(&mut request).is_ok() && stream.write_all(b"S").is_ok() {
                held.push(stream);
            }
        }
    });
    let query = format!("sslmode=verify-full&sslrootcert={}", root(ca()));
    let mut options = options(server, "127.0.0.1", &query);
    options.hosts = vec![
        ("127.0.0.1".into(), stalling_port),
        ("127.0.0.1".into(), server.port(0)),
    ];
    options.connect_timeout = Duration::from_millis(500);
    let begun = Instant::now();
    let (ssl, _) = session_ssl(&options).await;
    let waited = begun.elapsed();
    assert!(ssl);
    assert!(
        waited >= Duration::from_millis(500) && waited < Duration::from_secs(3),
        "one per-host timeout, then the next host: {waited:?}"
    );
}
