//! Cloister's metrics as operators consume them: Debian's real `prometheus` scrapes a real
//! `cloister node` (on a PostgreSQL primary with a synchronous standby, its P2P server
//! presenting a certificate that expires in ten days, its one peer unreachable), a real
//! `cloister proxy` (in front of the node, a replica that answers 503 as during a store
//! failover, and a socket nobody listens on) and a real `cloister gateway` (in front of two
//! ganache nodes, one killed once scraped), with `ops/prometheus/alerts.yml` loaded. After
//! some Q2T and JSON-RPC traffic, Prometheus's HTTP API must show the targets up, the series
//! the traffic and the faults produce with their values, the alerts those faults raise (and
//! not the others), and every series `ops/grafana/cloister.json` queries. `promtool check
//! metrics` must accept every `/metrics`, and `promtool check rules` / `promtool test rules`
//! the alert rules.
//!
//! `scripts/test.sh` installs Debian's `prometheus` package (which brings `promtool`); the
//! test runs its own Prometheus with its own config, storage and port, never a system one.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cloister_addr::Endpoint;
use cloister_core::b64;
use cloister_harness::ganache::{self, Ganache};
use cloister_harness::http::{eventually, path_escape, Request};
use cloister_harness::nodes::{free_port, NodeDir};
use cloister_harness::party::DATABASE;
use cloister_harness::postgres::PgCluster;
use cloister_harness::proxy::RunningProxy;
use cloister_harness::tls::{self, Signer, TestCa};
use serde_json::{json, Value};

/// Q2T sends (each read back) and JSON-RPC calls the test makes.
const SENDS: usize = 4;
const CALLS: usize = 5;
/// How long Prometheus has to scrape and evaluate everything the test expects.
const SETTLE: Duration = Duration::from_secs(25);
/// Days the node's P2P certificate is valid for: inside the 14-day alert.
const CERTIFICATE_DAYS: u32 = 10;

/// The repository's root (the alert rules and the dashboard live under `ops/`).
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A Prometheus tool: on `PATH`, else where Debian's package puts it.
fn tool(name: &str) -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|path| path.is_file());
    let path = on_path.unwrap_or_else(|| Path::new("/usr/bin").join(name));
    assert!(
        path.is_file(),
        "{name} is missing: install Debian's prometheus package (scripts/test.sh does) and rerun"
    );
    path
}

/// Runs `promtool` with `args` in the repository, giving (exit success, stdout + stderr).
fn promtool(args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut child = Command::new(tool("promtool"))
        .args(args)
        .current_dir(repo())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = stdin.unwrap_or_default().to_owned();
    let mut pipe = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || pipe.write_all(input.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_alert_rules_pass_promtool_check_and_their_unit_tests() {
    let (ok, out) = promtool(&["check", "rules", "ops/prometheus/alerts.yml"], None);
    assert!(ok, "promtool check rules: {out}");
    assert!(out.contains("SUCCESS"), "{out}");
    let (ok, out) = promtool(&["test", "rules", "ops/prometheus/alerts.test.yml"], None);
    assert!(ok, "promtool test rules: {out}");
    // Every alert has a unit test, firing and silent.
    let rules = std::fs::read_to_string(repo().join("ops/prometheus/alerts.yml")).unwrap();
    let tests = std::fs::read_to_string(repo().join("ops/prometheus/alerts.test.yml")).unwrap();
    let names: Vec<&str> = rules
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- alert: "))
        .collect();
    assert!(names.len() >= 10, "{names:?}");
    for name in names {
        let tested = |firing: bool| {
            tests.split("- eval_time:").any(|case| {
                case.contains(&format!("alertname: {name}\n"))
                    && case.contains("exp_alerts: []") != firing
            })
        };
        assert!(tested(true), "no test shows {name} firing");
        assert!(tested(false), "no test shows {name} silent");
    }
}

/// The metric names a PromQL expression reads: identifiers that are not functions (followed by
/// `(`), keywords, label names (inside `{…}` or after `by`/`without`/`on`/`ignoring`/`group_*`),
/// strings, durations or numbers.
fn metric_names(expr: &str) -> BTreeSet<String> {
    const KEYWORDS: [&str; 7] = ["and", "or", "unless", "bool", "offset", "inf", "nan"];
    // Aggregations may put their grouping before the parenthesis: `sum by (le) (…)`.
    const AGGREGATIONS: [&str; 12] = [
        "sum",
        "avg",
        "min",
        "max",
        "count",
        "group",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
    ];
    const GROUPING: [&str; 6] = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    // Skips from an opening delimiter to its closing one, strings included.
    let skip = |mut i: usize, open: char, close: char| {
        let mut depth = 0;
        while i < chars.len() {
            match chars[i] {
                '"' | '\'' => {
                    let quote = chars[i];
                    i += 1;
                    while i < chars.len() && chars[i] != quote {
                        i += if chars[i] == '\\' { 2 } else { 1 };
                    }
                }
                c if c == open => depth += 1,
                c if c == close => {
                    depth -= 1;
                    if depth == 0 {
                        return i + 1;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        i
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '{' {
            i = skip(i, '{', '}');
        } else if c == '[' {
            i = skip(i, '[', ']');
        } else if c == '"' || c == '\'' {
            i = skip(i, c, '\u{0}');
        } else if c.is_ascii_digit() || c == '.' {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "_:".contains(chars[i])) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut next = i;
            while next < chars.len() && chars[next].is_whitespace() {
                next += 1;
            }
            let call = chars.get(next) == Some(&'(');
            if GROUPING.contains(&word.as_str()) {
                if call {
                    i = skip(next, '(', ')');
                }
            } else if !call
                && !KEYWORDS.contains(&word.to_ascii_lowercase().as_str())
                && !AGGREGATIONS.contains(&word.as_str())
            {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

#[test]
fn the_dashboard_tokenizer_finds_metric_names_and_nothing_else() {
    let expr = r#"histogram_quantile(0.99, sum by (app, le) (rate(a_seconds_bucket{job=~"$j", x="y}"}[$__rate_interval]))) / on (app) group_left b_total offset 5m - time() > bool 1e3 or c"#;
    let names: Vec<String> = metric_names(expr).into_iter().collect();
    assert_eq!(names, ["a_seconds_bucket", "b_total", "c"]);
}

/// Every `expr` of every panel of the dashboard (rows' nested panels included).
fn dashboard_exprs(dashboard: &Value) -> Vec<String> {
    let mut exprs = Vec::new();
    let mut stack = vec![dashboard];
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(expr)) = map.get("expr") {
                    exprs.push(expr.clone());
                }
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    exprs
}

/// A condition the test polls until it holds.
type Check<'a> = Box<dyn Fn() -> bool + 'a>;

/// A Prometheus of the test's own, killed when dropped.
struct Prometheus {
    child: Child,
    address: Endpoint,
    log: PathBuf,
}

impl Prometheus {
    /// Starts Debian's `prometheus` on `config`, storing under `dir`, on a free loopback port,
    /// and waits until it is ready.
    fn start(dir: &Path, config: &str) -> Self {
        let file = dir.join("prometheus.yml");
        std::fs::write(&file, config).unwrap();
        let port = free_port();
        let log = dir.join("prometheus.log");
        let child = Command::new(tool("prometheus"))
            .arg(format!("--config.file={}", file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let prometheus = Self {
            child,
            address: Endpoint::from(SocketAddr::from(([127, 0, 0, 1], port))),
            log,
        };
        let ready = eventually(Duration::from_secs(15), || {
            Request::new("GET", "/-/ready")
                .try_send(&prometheus.address, None)
                .is_ok_and(|r| r.status == 200)
        });
        assert!(ready, "prometheus did not start: {}", prometheus.log_text());
        prometheus
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET path` on the HTTP API: its `data`.
    fn api(&self, path: &str) -> Value {
        let response = Request::new("GET", path).send(&self.address);
        let body = response.json();
        assert_eq!(body["status"], "success", "{path}: {body}");
        body["data"].clone()
    }

    /// An instant query: each series' labels and value.
    fn query(&self, promql: &str) -> Vec<(Value, f64)> {
        let data = self.api(&format!("/api/v1/query?query={}", percent(promql)));
        data["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|series| {
                let value = series["value"][1].as_str().unwrap().parse().unwrap();
                (series["metric"].clone(), value)
            })
            .collect()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Percent-encodes a query parameter.
fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A replica as a store failover makes it look: its health checks pass, and every other
/// request is answered 503 (what a node answers while its store is unavailable), so the proxy
/// retries it on the next upstream with reason `unavailable`.
fn unavailable_replica() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            let length = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            let mut body = vec![0u8; length];
            let _ = stream.read_exact(&mut body);
            let (status, body) = if head.starts_with("GET /upcheck ") {
                ("200 OK", "I'm up!")
            } else if head.starts_with("GET /health ") {
                ("200 OK", r#"{"status":"UP"}"#)
            } else {
                ("503 Service Unavailable", "store unavailable")
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    address
}

/// A running `cloister gateway`, killed when dropped.
struct Gateway(Child);

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `/metrics` of `target`, as Prometheus's text format, checked by `promtool check metrics`.
fn assert_promtool_accepts(what: &str, target: &Endpoint) {
    let response = Request::new("GET", "/metrics")
        .header("Accept", "text/plain;version=0.0.4")
        .send(target);
    assert_eq!(response.status, 200, "{what}");
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8"),
        "{what}"
    );
    let text = response.text();
    let (ok, out) = promtool(&["check", "metrics"], Some(&text));
    assert!(
        ok && out.trim().is_empty(),
        "promtool check metrics on the {what}'s /metrics: {out}\n{text}"
    );
    // Without asking, a client still gets OpenMetrics, which Prometheus asks for first.
    let default = Request::new("GET", "/metrics").send(target);
    assert_eq!(
        default.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        "{what}"
    );
    assert!(default.text().ends_with("# EOF\n"), "{what}");
}

#[test]
fn a_real_prometheus_scrapes_every_part_raises_the_right_alerts_and_knows_the_dashboard() {
    let started = Instant::now();
    // Fail early, with the sentence, before starting anything.
    tool("prometheus");
    tool("promtool");
    let root = tempfile::tempdir().unwrap();

    // The node: PostgreSQL with a synchronous standby, P2P over TLS, one unreachable peer.
    let pg = PgCluster::pair();
    pg.create_database(DATABASE);
    let ca = TestCa::new("metrics");
    let mut node = NodeDir::new(root.path(), "node");
    let pem = ca.leaf("node", "node", Signer::CaExpiringIn(CERTIFICATE_DAYS));
    node.p2p_tls = Some(pem.client());
    let ssl = tls::ssl_config(&node.dir, &pem, &ca.file, "CA", "CA");
    let unreachable_peer = format!("https://127.0.0.1:{}", free_port());
    let config = tls::with_p2p_ssl(
        node.config(
            &[],
            json!({
                "jdbc": pg.jdbc(DATABASE, "", true),
                "peer": [{ "url": unreachable_peer }],
            }),
        ),
        ssl,
        json!({}),
    );
    let _node = node.start(&config, &[]);

    // The proxy: the 503 replica first, so the first requests are retried on the node.
    let socket = root.path().join("proxy.ipc");
    let nobody = root.path().join("nobody.ipc");
    let args: Vec<String> = [
        "--listen".to_owned(),
        format!("unix:{}", socket.display()),
        "--upstream".to_owned(),
        format!("http://{}", unavailable_replica()),
        "--upstream".to_owned(),
        node.q2t_url(),
        "--upstream".to_owned(),
        format!("unix:{}", nobody.display()),
    ]
    .into();
    let proxy = RunningProxy::start(root.path(), &args, &json!({}));
    let q2t = Endpoint::Unix(socket);

    // The gateway: two ganache nodes, the second killed once Prometheus has seen it healthy.
    let mut chain = Ganache::start_many(2);
    let gateway_address = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let dead_rpc = chain[1].address.to_string();
    let _gateway = Gateway(
        Command::new(env!("CARGO_BIN_EXE_cloister"))
            .args(["gateway", "--listen", &gateway_address.to_string()])
            .args(["--upstream", &chain[0].url()])
            .args(["--upstream", &chain[1].url()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let gateway = Endpoint::from(gateway_address);
    assert!(
        eventually(Duration::from_secs(15), || Request::new("GET", "/status")
            .try_send(&gateway, None)
            .is_ok()),
        "the gateway did not start"
    );

    // Prometheus scraping the node's ThirdParty app, the proxy's admin listener and the
    // gateway, evaluating the repository's alert rules every second.
    let prometheus_dir = root.path().join("prometheus");
    std::fs::create_dir_all(&prometheus_dir).unwrap();
    let rules = repo()
        .join("ops/prometheus/alerts.yml")
        .canonicalize()
        .unwrap();
    let config = format!(
        r#"global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  evaluation_interval: 1s
rule_files:
  - {rules}
scrape_configs:
  - job_name: cloister-node
    static_configs: [{{ targets: ["{node}"] }}]
  - job_name: cloister-proxy
    static_configs: [{{ targets: ["{proxy}"] }}]
  - job_name: cloister-gateway
    static_configs: [{{ targets: ["{gateway}"] }}]
"#,
        rules = rules.display(),
        node = node.third_party,
        proxy = proxy.admin.to_string().trim_start_matches("http://"),
        gateway = gateway_address,
    );
    let prometheus = Prometheus::start(&prometheus_dir, &config);

    // Faults and load only once Prometheus has scraped every part: a counter's first sample
    // is its baseline, and the ejection and retry alerts fire on an increase over it.
    let scraped_once = eventually(SETTLE, || {
        prometheus
            .query(r#"cloister_proxy_retries_total{reason="unavailable"} == 0"#)
            .len()
            == 1
            && prometheus
                .query("cloister_gateway_upstream_ejections_total == 0")
                .len()
                == 2
            && prometheus.query("up == 1").len() == 3
    });
    assert!(
        scraped_once,
        "prometheus did not scrape every part: {}",
        prometheus.log_text()
    );
    chain[1].kill();

    // Load.
    for i in 0..SENDS {
        let payload = format!("metrics {i}");
        let sent = Request::new("POST", "/send")
            .json(&json!({ "payload": b64::encode(payload.as_bytes()), "to": [] }))
            .send(&q2t);
        assert!(
            matches!(sent.status, 200 | 201),
            "/send: {} {}",
            sent.status,
            sent.text()
        );
        let key = sent.json()["key"].as_str().unwrap().to_owned();
        let read = Request::new(
            "GET",
            &format!("/transaction/{}?isRaw=false", path_escape(&key)),
        )
        .send(&q2t);
        assert_eq!(read.status, 200, "{}", read.text());
    }
    for _ in 0..CALLS {
        let answer = ganache::call(gateway_address, "eth_blockNumber", json!([]));
        assert!(answer.get("result").is_some(), "{answer}");
    }

    let day = 86_400.0;
    let one = |promql: &str| -> Option<f64> {
        let result = prometheus.query(promql);
        (result.len() == 1).then(|| result[0].1)
    };
    let alert_states = || -> Vec<(String, String)> {
        prometheus.api("/api/v1/alerts")["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["labels"]["alertname"].as_str().unwrap().to_owned(),
                    a["state"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    // (what, holds): each must hold at once before the deadline.
    let raised = [
        "CloisterTlsCertificateExpiringSoon",
        "CloisterProxyUpstreamDown",
        "CloisterProxyEjections",
        "CloisterGatewayUpstreamDown",
        "CloisterGatewayEjections",
        "CloisterFailoverInProgress",
        "CloisterP2pPartiesUnreachable",
    ];
    let quiet = [
        "CloisterReplicaDown",
        "CloisterNoSynchronousStandby",
        "CloisterStoreUnreachable",
        "CloisterStoreReadOnly",
        "CloisterServerErrors",
        "CloisterTlsCertificateExpired",
    ];
    let checks: Vec<(&str, Check<'_>)> = vec![
        (
            "every target is up",
            Box::new(|| {
                let targets = prometheus.api("/api/v1/targets")["activeTargets"].clone();
                let targets = targets.as_array().unwrap().clone();
                targets.len() == 3 && targets.iter().all(|t| t["health"] == "up")
            }),
        ),
        (
            "the node counted the sends",
            Box::new(|| {
                one(r#"sum(cloister_http_requests_total{job="cloister-node",app="Q2T",route="/send",method="POST",status=~"2.."})"#)
                .is_some_and(|n| n >= SENDS as f64)
            }),
        ),
        (
            "the node counted the reads",
            Box::new(|| {
                one(r#"sum(cloister_http_requests_total{job="cloister-node",app="Q2T",route=~"/transaction/.+",method="GET",status="200"})"#)
                .is_some_and(|n| n >= SENDS as f64)
            }),
        ),
        (
            "the node timed the sends",
            Box::new(|| {
                one(r#"sum(cloister_http_request_duration_seconds_count{job="cloister-node",app="Q2T",route="/send"})"#)
                .is_some_and(|n| n >= SENDS as f64)
            }),
        ),
        (
            "the store is a reachable primary with one synchronous standby",
            Box::new(|| {
                one("cloister_store_reachable") == Some(1.0)
                    && one(r#"cloister_store_role{role="postgresql-primary"}"#) == Some(1.0)
                    && one("cloister_store_synchronous_standbys") == Some(1.0)
            }),
        ),
        (
            "the P2P certificates expire in ten days",
            Box::new(|| {
                let left = prometheus.query(
                    r#"cloister_tls_certificate_expiry_timestamp_seconds{app="P2P"} - time()"#,
                );
                left.len() == 2
                    && left.iter().all(|(_, s)| {
                        (f64::from(CERTIFICATE_DAYS) - 1.0) * day < *s
                            && *s <= f64::from(CERTIFICATE_DAYS) * day
                    })
            }),
        ),
        (
            "the unreachable peer is counted",
            Box::new(|| {
                one("cloister_p2p_parties") == Some(1.0)
                    && one("cloister_p2p_parties_failing") == Some(1.0)
            }),
        ),
        (
            "the proxy answered every request",
            Box::new(|| {
                one(r#"sum(cloister_proxy_requests_total{outcome="answered"})"#)
                    .is_some_and(|n| n >= 2.0 * SENDS as f64)
            }),
        ),
        (
            "the proxy retried the 503s",
            Box::new(|| {
                one(r#"sum(cloister_proxy_retries_total{reason="unavailable"})"#)
                    .is_some_and(|n| n >= 1.0)
            }),
        ),
        (
            "the proxy ejected the dead socket, not the node",
            Box::new(|| {
                one(r#"cloister_proxy_upstream_healthy{upstream=~".*nobody.ipc"}"#) == Some(0.0)
                    && one(r#"cloister_proxy_upstream_ejections_total{upstream=~".*nobody.ipc"}"#)
                        .is_some_and(|n| n >= 1.0)
                    && one(r#"cloister_proxy_upstream_healthy{upstream=~".*node/tm.ipc"}"#)
                        == Some(1.0)
            }),
        ),
        (
            "the gateway's calls reached ganache",
            Box::new(|| {
                one(r#"sum(cloister_gateway_upstream_calls_total{outcome="ok"})"#)
                    .is_some_and(|n| n >= CALLS as f64)
            }),
        ),
        (
            "the gateway took the dead node out",
            Box::new(|| {
                let dead = format!(r#"{{upstream="{dead_rpc}"}}"#);
                one(&format!("cloister_gateway_upstream_healthy{dead}")) == Some(0.0)
                    && one(&format!("cloister_gateway_upstream_ejections_total{dead}"))
                        .is_some_and(|n| n >= 1.0)
            }),
        ),
        (
            "every rule evaluates",
            Box::new(|| {
                let groups = prometheus.api("/api/v1/rules")["groups"].clone();
                let rules: Vec<Value> = groups
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|g| g["rules"].as_array().unwrap().clone())
                    .collect();
                rules.len() == raised.len() + quiet.len()
                    && rules.iter().all(|r| r["health"] == "ok")
            }),
        ),
        (
            "the faults raise their alerts and only those",
            Box::new(|| {
                let states = alert_states();
                raised
                    .iter()
                    .all(|name| states.iter().any(|(n, _)| n == name))
                    && states.iter().all(|(n, _)| !quiet.contains(&n.as_str()))
                    && states.iter().all(|(n, _)| raised.contains(&n.as_str()))
            }),
        ),
    ];
    let deadline = Instant::now() + SETTLE;
    let failing = loop {
        let failing: Vec<&str> = checks
            .iter()
            .filter(|(_, holds)| !holds())
            .map(|(what, _)| *what)
            .collect();
        if failing.is_empty() || Instant::now() > deadline {
            break failing;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    assert!(
        failing.is_empty(),
        "not true within {SETTLE:?}: {failing:?}\nalerts: {:?}\nprometheus: {}\nproxy: {}",
        alert_states(),
        prometheus.log_text(),
        proxy.log_text()
    );

    // Every series the dashboard queries is one Prometheus scraped from these processes.
    let scraped: BTreeSet<String> = prometheus
        .api("/api/v1/label/__name__/values")
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_owned())
        .collect();
    let dashboard: Value =
        serde_json::from_slice(&std::fs::read(repo().join("ops/grafana/cloister.json")).unwrap())
            .unwrap();
    let exprs = dashboard_exprs(&dashboard);
    assert!(exprs.len() >= 15, "{exprs:?}");
    let mut queried = BTreeSet::new();
    for expr in &exprs {
        let names = metric_names(expr);
        assert!(
            !names.is_empty(),
            "a dashboard query naming no series: {expr}"
        );
        queried.extend(names);
    }
    let unknown: Vec<&String> = queried.difference(&scraped).collect();
    assert!(
        unknown.is_empty(),
        "the dashboard queries series no process exports: {unknown:?}\nscraped: {scraped:?}"
    );

    // promtool lints every /metrics, after the traffic made their series.
    assert_promtool_accepts("node", &node.third_party_target());
    assert_promtool_accepts("proxy", &proxy.admin);
    assert_promtool_accepts("gateway", &gateway);
    eprintln!("prometheus test took {:?}", started.elapsed());
}
