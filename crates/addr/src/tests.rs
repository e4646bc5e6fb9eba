use super::*;

fn parse(text: &str) -> Result<Endpoint, EndpointError> {
    text.parse()
}

/// How `text` is written back once parsed.
fn written(text: &str) -> String {
    parse(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .to_string()
}

#[test]
fn every_unix_spelling_means_one_socket_or_one_error() {
    let absolute = Ok(Endpoint::unix("/a/tm.ipc"));
    for same in ["unix:/a/tm.ipc", "unix:///a/tm.ipc", "UNIX:/a/tm.ipc"] {
        assert_eq!(parse(same), absolute, "{same}");
    }
    assert_eq!(parse("unix:sock/tm.ipc"), Ok(Endpoint::unix("sock/tm.ipc")));
    assert_eq!(parse("unix:////"), Ok(Endpoint::unix("/")));
    for refused in ["unix://sock/tm.ipc", "unix:", "unix://"] {
        assert_eq!(
            parse(refused),
            Err(EndpointError::InvalidUnixPath),
            "{refused}"
        );
    }
}

#[test]
fn every_tcp_spelling_parses_and_writes_back() {
    let tcp = TcpEndpoint {
        scheme: Scheme::Https,
        host: "Node-1.example".into(),
        port: 443,
        path: "/tessera/".into(),
    };
    assert_eq!(
        parse("HTTPS://Node-1.example:443/tessera/?x=1#f"),
        Ok(Endpoint::Tcp(tcp))
    );
    for (text, expected) in [
        ("http://127.0.0.1:9101", "http://127.0.0.1:9101"),
        ("http://127.0.0.1:9101/", "http://127.0.0.1:9101"),
        (
            "HTTPS://Node-1.example:443/tessera/?x=1#f",
            "https://Node-1.example:443/tessera/",
        ),
        ("127.0.0.1:9000", "http://127.0.0.1:9000"),
        ("127.0.0.1:0", "http://127.0.0.1:0"),
        ("[::1]:80", "http://[::1]:80"),
        ("https://[::1]:9001/p2p", "https://[::1]:9001/p2p"),
    ] {
        assert_eq!(written(text), expected, "{text}");
        assert_eq!(
            written(expected),
            expected,
            "{expected} parses back to itself"
        );
    }
}

#[test]
fn each_mistake_has_its_own_error() {
    for (text, error) in [
        ("http://localhost", EndpointError::MissingPort),
        ("http://[::1]", EndpointError::MissingPort),
        ("http://h:65536", EndpointError::InvalidPort),
        ("http://h:+1", EndpointError::InvalidPort),
        ("a:b", EndpointError::InvalidPort),
        ("http://bad host:1", EndpointError::InvalidHost),
        ("http://[nope]:1", EndpointError::InvalidHost),
        ("http://:1", EndpointError::InvalidHost),
        ("http://user@h:1", EndpointError::UserInfo),
        ("ws://h:1", EndpointError::NotAnAddress),
        ("ftp://h:1", EndpointError::NotAnAddress),
        ("localhost", EndpointError::NotAnAddress),
        ("unx:/a/tm.ipc", EndpointError::NotAnAddress),
        ("", EndpointError::NotAnAddress),
    ] {
        assert_eq!(parse(text), Err(error), "{text}");
    }
}

#[test]
fn where_a_url_is_expected_a_bare_host_port_or_port_0_is_refused() {
    let url = Endpoint::parse_url;
    assert_eq!(url("localhost:9001"), Err(EndpointError::NotAnAddress));
    assert_eq!(url("http://localhost:9001"), parse("localhost:9001"));
    assert_eq!(url("unix:tm.ipc"), Ok(Endpoint::unix("tm.ipc")));
    assert_eq!(url("http://h:0"), Err(EndpointError::AnyPort));
    assert!(parse("h:0").unwrap().reachable().is_err());
}

#[test]
fn use_site_rules_are_methods_with_one_text_each() {
    let with_path = parse("http://h:1/x").unwrap();
    assert_eq!(
        with_path.clone().whole_server(),
        Err(EndpointError::UnexpectedPath)
    );
    assert_eq!(with_path.without_path(), parse("http://h:1").unwrap());
    let tls = parse("https://h:1").unwrap();
    assert_eq!(tls.plain(), Err(EndpointError::TlsUnsupported));
    let unix = parse("unix:/s").unwrap();
    assert_eq!(
        unix.tcp().map(TcpEndpoint::authority),
        Err(EndpointError::NotTcp)
    );
}

#[test]
fn tessera_normalisation_and_host_headers() {
    let normalized = |text| parse(text).unwrap().normalized();
    assert_eq!(normalized("http://h:1"), "http://h:1/");
    assert_eq!(normalized("http://h:1/p2p/"), "http://h:1/p2p/");
    assert_eq!(normalized("unix:data/tm.ipc"), "unix:data/tm.ipc");
    let host = |text| parse(text).unwrap().host_header();
    assert_eq!(host("[::1]:80"), "[::1]:80");
    assert_eq!(host("unix:/tm.ipc"), "c");
    let from_socket = Endpoint::from(SocketAddr::from(([127, 0, 0, 1], 8545)));
    assert_eq!(from_socket.to_string(), "http://127.0.0.1:8545");
}

#[test]
fn a_tcp_endpoint_over_tls_is_https_and_a_socket_stays_a_socket() {
    let bound = Endpoint::from(SocketAddr::from(([127, 0, 0, 1], 9000)));
    assert_eq!(
        bound.clone().over_tls(false).to_string(),
        "http://127.0.0.1:9000"
    );
    assert_eq!(bound.over_tls(true).to_string(), "https://127.0.0.1:9000");
    let socket = Endpoint::unix("/a/tm.ipc");
    assert_eq!(socket.clone().over_tls(true), socket);
}
