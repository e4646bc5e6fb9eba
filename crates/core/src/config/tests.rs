//! Whole-config tests: a realistic Tessera config, warnings, error hygiene, every validation
//! rule and the typed server view.

use std::time::Duration;

use cloister_addr::Endpoint;
use serde_json::{json, Value};

use super::*;

fn endpoint(text: &str) -> Endpoint {
    text.parse().unwrap()
}

const PRIVATE: &str = "yAWAJjwPqUtNVlqGjSrBmr1/iIkghuOh1803Yzx9jLM=";
const PUBLIC: &str = "/+UuD63zItL1EbjxkKUljMgG8Z1w0AJ8pNOR4iq2yQc=";
const PUBLIC_2: &str = "BULeR8JyUWhiuuCMU/HLA0Q5pzkYT+cHII3ZKBey3Bo=";

/// Modelled on the sample in Tessera's configuration docs.
const TESSERA_SAMPLE: &str = r#"{
    "version": "21.7.0",
    "useWhiteList": false,
    "jdbc": {
        "username": "sa",
        "password": "db-secret",
        "url": "jdbc:sqlite:/data/tm/tessera.db",
        "autoCreateTables": true
    },
    "serverConfigs": [
        {
            "app": "ThirdParty",
            "enabled": true,
            "serverAddress": "http://tm1.example.com:9081",
            "bindingAddress": "http://0.0.0.0:9081",
            "communicationType": "REST",
            "cors": { "allowedMethods": ["GET", "OPTIONS"], "allowedOrigins": ["*"] }
        },
        {
            "app": "Q2T",
            "enabled": true,
            "serverAddress": "unix:/data/tm/tm.ipc",
            "communicationType": "REST"
        },
        {
            "app": "P2P",
            "enabled": true,
            "serverAddress": "http://tm1.example.com:9001",
            "bindingAddress": "http://0.0.0.0:9001",
            "sslConfig": { "tls": "OFF", "serverTrustMode": "TOFU", "knownClientsFile": "knownClients" },
            "communicationType": "REST",
            "properties": { "partyInfoInterval": "10000", "syncInterval": 30000 }
        }
    ],
    "peer": [
        { "url": "http://tm2.example.com:9001" },
        { "url": "https://tm3.example.com:9001/" }
    ],
    "keys": {
        "passwordFile": "/data/tm/passwords.txt",
        "keyData": [
            { "privateKeyPath": "/data/tm/tm.key", "publicKeyPath": "/data/tm/tm.pub" }
        ]
    },
    "alwaysSendTo": ["BULeR8JyUWhiuuCMU/HLA0Q5pzkYT+cHII3ZKBey3Bo="],
    "disablePeerDiscovery": false,
    "features": { "enableRemoteKeyValidation": true, "enablePrivacyEnhancements": true },
    "encryptor": { "type": "NACL" },
    "mode": "tessera"
}"#;

/// A minimal valid config to break one rule at a time.
fn minimal() -> Value {
    json!({
        "jdbc": { "url": "jdbc:sqlite:tm.db" },
        "serverConfigs": [
            { "app": "Q2T", "serverAddress": "unix:tm.ipc" },
            { "app": "P2P", "serverAddress": "http://localhost:9001" }
        ],
        "peer": [],
        "keys": { "keyData": [{ "privateKey": PRIVATE, "publicKey": PUBLIC }] }
    })
}

fn load(json: &Value) -> Loaded {
    Config::parse(json.to_string().as_bytes()).unwrap()
}

fn issues(json: &Value) -> Vec<String> {
    match load(json).config.validate() {
        Ok(()) => Vec::new(),
        Err(issues) => issues.iter().map(ToString::to_string).collect(),
    }
}

/// Applies `edit` to the minimal config and returns the validation issues.
fn issues_after(edit: impl FnOnce(&mut Value)) -> Vec<String> {
    let mut json = minimal();
    edit(&mut json);
    issues(&json)
}

fn parse_error(text: &str) -> String {
    Config::parse(text.as_bytes()).unwrap_err().to_string()
}

#[test]
fn tessera_sample_parses_validates_and_has_typed_views() {
    let Loaded { config, warnings } = Config::parse(TESSERA_SAMPLE.as_bytes()).unwrap();
    assert_eq!(
        warnings,
        [
            "serverConfigs[0].enabled: unknown key, ignored",
            "serverConfigs[1].enabled: unknown key, ignored",
            "serverConfigs[2].enabled: unknown key, ignored",
        ]
    );
    config.validate().unwrap();

    let jdbc = config.jdbc.as_ref().unwrap();
    assert!(jdbc.auto_create_tables);
    assert_eq!(jdbc.fetch_size, 0);
    assert_eq!(
        jdbc.store_target().unwrap(),
        StoreTarget::Sqlite {
            path: SqlitePath::File("/data/tm/tessera.db".into()),
            params: Default::default()
        }
    );
    assert!(config.features.enable_privacy_enhancements);
    assert!(!config.features.enable_multiple_private_states);
    assert_eq!(config.encryptor_type(), EncryptorType::Nacl);
    assert_eq!(config.client_mode().unwrap(), ClientMode::Tessera);
    assert_eq!(config.peer.len(), 2);
    let keys = config.keys.as_ref().unwrap();
    assert_eq!(
        keys.password_file.as_deref(),
        Some(std::path::Path::new("/data/tm/passwords.txt"))
    );
    assert!(matches!(
        keys.key_data[0].form().unwrap(),
        KeyDataForm::Files { .. }
    ));

    let (_, p2p) = config.server_config(AppType::P2P).unwrap();
    assert_eq!(
        p2p.party_info_interval().unwrap(),
        Duration::from_millis(10000)
    );
    assert_eq!(p2p.sync_interval().unwrap(), Duration::from_millis(30000));
    assert_eq!(
        p2p.enclave_key_sync_interval().unwrap(),
        Duration::from_millis(2000)
    );
    let ssl = p2p.ssl_config.as_ref().unwrap();
    assert_eq!(ssl.tls, server::TlsMode::Off);
    assert_eq!(ssl.server_trust_mode, Some(server::TrustMode::Tofu));
    assert!(ssl.client_auth);
    let cors = config.server_configs[0].cors.as_ref().unwrap();
    assert_eq!(cors.allowed_methods, ["GET", "OPTIONS"]);
    assert!(cors.allow_credentials);

    let servers = config.servers().unwrap();
    let views: Vec<_> = servers
        .iter()
        .map(|s| {
            (
                s.app,
                s.listen.clone(),
                s.advertised_url.as_str(),
                s.json_path.as_str(),
            )
        })
        .collect();
    assert_eq!(
        views,
        [
            (
                AppType::ThirdParty,
                endpoint("http://0.0.0.0:9081"),
                "http://tm1.example.com:9081/",
                "serverConfigs[0]"
            ),
            (
                AppType::Q2T,
                Endpoint::unix("/data/tm/tm.ipc"),
                "unix:/data/tm/tm.ipc",
                "serverConfigs[1]"
            ),
            (
                AppType::P2P,
                endpoint("http://0.0.0.0:9001"),
                "http://tm1.example.com:9001/",
                "serverConfigs[2]"
            ),
        ]
    );
}

#[test]
fn secrets_never_appear_in_debug_output() {
    let mut json = minimal();
    json["jdbc"]["password"] = json!("db-secret");
    json["keys"]["passwords"] = json!(["pw-secret"]);
    json["serverConfigs"][1]["sslConfig"] = json!({ "serverKeyStorePassword": "ks-secret" });
    let debug = format!("{:?}", load(&json).config);
    for secret in ["db-secret", "pw-secret", "ks-secret", PRIVATE] {
        assert!(!debug.contains(secret), "{secret} in {debug}");
    }
}

#[test]
fn unknown_keys_are_warned_with_their_path_and_ignored() {
    let mut json = minimal();
    json["server"] = json!({ "port": 9001 });
    json["jdbc"]["fetchsize"] = json!(10);
    json["serverConfigs"][1]["enabled"] = json!(true);
    json["serverConfigs"][1]["sslConfig"] = json!({ "tls": "strict", "tlsVersion": "1.3" });
    json["keys"]["keyData"][0]["name"] = json!("main");
    json["keys"]["keyData"].as_array_mut().unwrap().push(json!({
        "config": { "type": "unlocked", "data": { "bytes": PRIVATE, "note": 1 } },
        "publicKey": PUBLIC
    }));
    json["features"] = json!({ "enableMandatoryRecipients": true });
    json["residentGroups"] = json!([{ "name": "g", "members": [PUBLIC], "owner": "x" }]);
    let Loaded { config, warnings } = load(&json);
    assert_eq!(
        warnings,
        [
            "features.enableMandatoryRecipients: unknown key, ignored",
            "jdbc.fetchsize: unknown key, ignored",
            "keys.keyData[0].name: unknown key, ignored",
            "keys.keyData[1].config.data.note: unknown key, ignored",
            "residentGroups[0].owner: unknown key, ignored",
            "server: unknown key, ignored",
            "serverConfigs[1].enabled: unknown key, ignored",
            "serverConfigs[1].sslConfig.tlsVersion: unknown key, ignored",
        ]
    );
    assert_eq!(
        config.server_configs[1].ssl_config.as_ref().unwrap().tls,
        server::TlsMode::Strict
    );
    assert_eq!(config.jdbc.as_ref().unwrap().fetch_size, 0);
    config.validate().unwrap();
}

#[test]
fn ignored_sections_are_warned() {
    let mut json = minimal();
    json["serverConfigs"][1]["influxConfig"] = json!({ "serverAddress": "http://influx:8086" });
    json["keys"]["keyVaultConfigs"] = json!([{ "keyVaultType": "AZURE", "properties": {} }]);
    json["keys"]["hashicorpKeyVaultConfig"] = json!({ "url": "https://vault:8200" });
    assert_eq!(
        load(&json).warnings,
        [
            "serverConfigs[1].influxConfig: InfluxDB metrics are not supported by Cloister, ignored",
            "keys.keyVaultConfigs: key vaults are not supported by Cloister, ignored",
            "keys.hashicorpKeyVaultConfig: key vaults are not supported by Cloister, ignored",
        ]
    );
}

#[test]
fn type_errors_name_the_path_and_never_the_value() {
    let cases = [
        (
            json!({ "jdbc": { "autoCreateTables": PRIVATE } }),
            "jdbc.autoCreateTables: expected a boolean, found a string",
        ),
        (
            json!({ "keys": { "keyData": [{ "privateKey": 12345 }] } }),
            "keys.keyData[0].privateKey: expected a string, found a number",
        ),
        (
            json!({ "serverConfigs": [{}, { "app": PRIVATE }] }),
            "serverConfigs[1].app: unknown value, expected one of `P2P`, `Q2T`, `ThirdParty`, `ENCLAVE`, `ADMIN`",
        ),
        (
            json!({ "serverConfigs": [{ "app": format!("{PRIVATE}`, expected x") }] }),
            "serverConfigs[0].app: unknown value, expected one of `P2P`, `Q2T`, `ThirdParty`, `ENCLAVE`, `ADMIN`",
        ),
        (
            json!({ "jdbc": { "fetchSize": -1 } }),
            "jdbc.fetchSize: invalid value, expected a non-negative whole number",
        ),
        (
            json!({ "peer": { "url": PRIVATE } }),
            "peer: expected an array, found an object",
        ),
        (
            json!({ "alwaysSendTo": [PRIVATE, null] }),
            "alwaysSendTo[1]: expected a string, found null",
        ),
        (
            json!({ "features": { "enablePrivacyEnhancements": format!("{PRIVATE}, expected a boolean") } }),
            "features.enablePrivacyEnhancements: expected a boolean, found a string",
        ),
        (
            json!({ "keys": { "keyData": [{ "config": { "type": "unlocked", "data": {} }, "publicKey": PUBLIC }] } }),
            "keys.keyData[0].config.data.bytes: required",
        ),
        (
            json!({ "keys": { "keyData": [{ "config": { "type": PRIVATE, "data": {} } }] } }),
            "keys.keyData[0].config.type: unknown value, expected `unlocked` or `argon2sbox`",
        ),
        (
            json!({ "keys": { "keyData": [{ "config": { "type": "unlocked", "data": { "bytes": [PRIVATE] } } }] } }),
            "keys.keyData[0].config.data.bytes: expected a string, found an array",
        ),
        (json!({ "encryptor": { "type": "RSA" } }), "encryptor.type: unknown value, expected one of `NACL`, `EC`, `CUSTOM`"),
        (json!(PRIVATE), "(top level): expected an object, found a string"),
    ];
    let mut wrong = Vec::new();
    for (json, expected) in cases {
        let message = parse_error(&json.to_string());
        assert!(!message.contains(&PRIVATE[..12]), "{message}");
        if message != expected {
            wrong.push(format!("{message}\n   expected {expected}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn syntax_errors_give_a_position_and_no_text() {
    let message = parse_error(&format!("{{\"jdbc\": {{\"password\": \"{PRIVATE}"));
    assert!(
        message.starts_with("the config is not valid JSON: EOF while parsing"),
        "{message}"
    );
    assert!(!message.contains(&PRIVATE[..12]));
    let message = parse_error("{\"jdbc\": {},}");
    assert_eq!(
        message,
        "the config is not valid JSON: trailing comma at line 1, column 13"
    );
    let message = parse_error(&format!("{{}} \"{PRIVATE}\""));
    assert!(message.contains("trailing characters"), "{message}");
    assert!(!message.contains(&PRIVATE[..12]));
}

#[test]
fn minimal_config_is_valid() {
    assert_eq!(issues(&minimal()), Vec::<String>::new());
}

#[test]
fn jdbc_rules() {
    assert_eq!(
        issues_after(|j| drop(j.as_object_mut().unwrap().remove("jdbc"))),
        ["jdbc: required"]
    );
    assert_eq!(
        issues_after(|j| j["jdbc"] = json!({ "username": "sa" })),
        ["jdbc.url: required"]
    );
    assert_eq!(
        issues_after(|j| j["jdbc"]["url"] = json!("jdbc:h2:./target/h2/tessera")),
        ["jdbc.url: Cloister supports jdbc:sqlite:<file> and jdbc:postgresql://host[:port][,host[:port]…]/database URLs (and postgresql://…); H2, HSQL, Oracle and MySQL are not supported"]
    );
    assert_eq!(
        issues_after(|j| j["jdbc"]["password"] = json!("ENC(ujMeokIQ9UFHSuBYetfRjQTpZASgaua3)")),
        ["jdbc.password: encrypted ENC(…) passwords are not supported by Cloister; give the password in clear or in the URL"]
    );
}

#[test]
fn server_presence_and_address_rules() {
    assert_eq!(
        issues_after(|j| j["serverConfigs"] = json!([])),
        ["serverConfigs: at least one server is required"]
    );
    assert_eq!(
        issues_after(|j| j["serverConfigs"][1] = json!({ "app": "P2P" })),
        ["serverConfigs[1].serverAddress: required"]
    );
    assert_eq!(
        issues_after(|j| j["serverConfigs"][1]["serverAddress"] = json!("localhost:9001")),
        ["serverConfigs[1].serverAddress: not a valid http(s) or unix: address"]
    );
    assert_eq!(
        issues_after(|j| j["serverConfigs"][1]["serverAddress"] = json!("http://localhost")),
        ["serverConfigs[1].serverAddress: an http(s) address needs a port (http://host:port)"]
    );
    assert_eq!(
        issues_after(|j| j["serverConfigs"][1]["bindingAddress"] = json!("0.0.0.0:9001")),
        ["serverConfigs[1].bindingAddress: not a valid http(s) or unix: address"]
    );
    assert_eq!(
        issues_after(|j| j["serverConfigs"][1]["bindingAddress"] = json!("unix:/tmp/p2p.ipc")),
        ["serverConfigs[1].bindingAddress: must be an http(s)://host:port address, not a unix socket"]
    );
    assert_eq!(
        issues_after(|j| j["serverConfigs"][0]["bindingAddress"] = json!("http://0.0.0.0:9000")),
        ["serverConfigs[0].bindingAddress: must not be given when serverAddress is a unix socket"]
    );
    assert_eq!(
        issues_after(|j| j["serverConfigs"][1]["serverAddress"] = json!("unix:/tmp/p2p.ipc")),
        ["serverConfigs[1].serverAddress: the P2P server needs an http(s) address: peers cannot reach a unix socket"]
    );
    assert_eq!(
        issues_after(|j| j["serverConfigs"][0]["communicationType"] = json!("WEB_SOCKET")),
        ["serverConfigs[0].communicationType: only REST is supported"]
    );
    assert_eq!(
        issues_after(|j| j["serverConfigs"][1]["properties"] = json!({ "partyInfoInterval": "5s" })),
        ["serverConfigs[1].properties.partyInfoInterval: expected a whole number of milliseconds"]
    );
}

#[test]
fn app_rules() {
    assert_eq!(
        issues_after(|j| drop(j["serverConfigs"][0].as_object_mut().unwrap().remove("app"))),
        ["serverConfigs[0].app: required"]
    );
    assert_eq!(
        issues_after(|j| j["serverConfigs"][1]["app"] = json!("ThirdParty")),
        ["serverConfigs: a P2P server is required"]
    );
    for (app, address) in [
        ("P2P", "http://localhost:9002"),
        ("Q2T", "unix:/tmp/q2.ipc"),
    ] {
        let found = issues_after(|j| {
            j["serverConfigs"]
                .as_array_mut()
                .unwrap()
                .push(json!({ "app": app, "serverAddress": address }));
        });
        let earlier = if app == "P2P" { 1 } else { 0 };
        assert_eq!(
            found,
            [format!("serverConfigs[2].app: only one {app} server is allowed (serverConfigs[{earlier}] is one)")]
        );
    }
    let found = issues_after(|j| {
        let servers = j["serverConfigs"].as_array_mut().unwrap();
        servers.push(json!({ "app": "ThirdParty", "serverAddress": "http://localhost:9080" }));
        servers.push(json!({ "app": "thirdparty", "serverAddress": "http://localhost:9081" }));
    });
    assert_eq!(
        found,
        ["serverConfigs[3].app: only one ThirdParty server is allowed (serverConfigs[2] is one)"]
    );
    assert_eq!(
        issues_after(|j| j["unixSocketFile"] = json!("/tmp/legacy.ipc")),
        ["unixSocketFile: a Q2T server is also configured in serverConfigs[0]; keep only one"]
    );
}

#[test]
fn peer_and_always_send_to_rules() {
    assert_eq!(
        issues_after(|j| j["peer"] = json!([{ "url": "tm2:9001" }, { "url": "unix:/tmp/x" }, {}])),
        [
            "peer[0].url: not a valid http(s) or unix: address",
            "peer[1].url: must be an http(s)://host:port address, not a unix socket",
            "peer[2].url: required",
        ]
    );
    assert_eq!(
        issues_after(|j| j["alwaysSendTo"] = json!([PUBLIC_2, "not base64!", "AAAA"])),
        [
            "alwaysSendTo[1]: not a base64 public key",
            "alwaysSendTo[2]: a public key must be 32 bytes, found 3",
        ]
    );
}

#[test]
fn key_rules() {
    assert_eq!(
        issues_after(|j| drop(j.as_object_mut().unwrap().remove("keys"))),
        ["keys: required"]
    );
    assert_eq!(
        issues_after(|j| j["keys"]["keyData"] = json!([])),
        ["keys.keyData: at least one key pair is required"]
    );
    assert_eq!(
        issues_after(|j| {
            j["keys"]["passwordFile"] = json!("pw.txt");
            j["keys"]["passwords"] = json!(["x"]);
        }),
        ["keys.passwords: must not be given together with keys.passwordFile"]
    );
    let not_one_form = "expected exactly one of {privateKey, publicKey}, {config, publicKey} or {privateKeyPath, publicKeyPath}";
    assert_eq!(
        issues_after(|j| j["keys"]["keyData"][0]["privateKeyPath"] = json!("tm.key")),
        [format!("keys.keyData[0]: {not_one_form}")]
    );
    assert_eq!(
        issues_after(|j| j["keys"]["keyData"] = json!([{ "publicKeyPath": "tm.pub" }])),
        [format!("keys.keyData[0]: {not_one_form}")]
    );
    assert_eq!(
        issues_after(|j| j["keys"]["keyData"] = json!([{ "azureVaultPublicKeyId": "pub", "azureVaultPrivateKeyId": "priv" }])),
        ["keys.keyData[0]: key vaults are not supported by Cloister (found azureVaultPublicKeyId)"]
    );
    assert_eq!(
        issues_after(|j| j["keys"]["keyData"][0]["publicKey"] = json!("AAAA")),
        ["keys.keyData[0].publicKey: a public key must be 32 bytes, found 3"]
    );
    let found =
        issues_after(|j| j["keys"]["keyData"][0]["privateKey"] = json!(format!("{PRIVATE}!")));
    assert_eq!(found, ["keys.keyData[0].privateKey: not valid base64"]);
}

#[test]
fn encryptor_and_mode_rules() {
    for kind in ["EC", "custom"] {
        assert_eq!(
            issues_after(|j| j["encryptor"] =
                json!({ "type": kind, "properties": { "ellipticCurve": "secp256r1" } })),
            ["encryptor.type: only NACL is supported"]
        );
    }
    assert_eq!(
        issues_after(|j| j["mode"] = json!("orion")),
        Vec::<String>::new()
    );
    assert_eq!(
        issues_after(|j| j["mode"] = json!("besu")),
        ["mode: must be \"tessera\" or \"orion\""]
    );
}

#[test]
fn resident_group_rules() {
    let found = issues_after(|j| {
        j["residentGroups"] = json!([
            { "name": "a", "members": [PUBLIC] },
            { "description": "no name", "members": [] },
            { "name": "a", "members": [PUBLIC_2] },
            { "name": "b", "members": [PUBLIC_2, "AAAA"] },
        ]);
    });
    assert_eq!(
        found,
        [
            "residentGroups[1].name: required",
            "residentGroups[2].name: the same name as residentGroups[0]; names must be unique",
            "residentGroups[3].members[0]: the key is already a member of residentGroups[2]; a key may be in only one group",
            "residentGroups[3].members[1]: a public key must be 32 bytes, found 3",
        ]
    );
}

#[test]
fn issues_are_all_reported_together() {
    let found = issues(&json!({
        "serverConfigs": [{ "app": "P2P", "serverAddress": "http://h:1", "bindingAddress": "nope" }],
        "mode": "x",
        "encryptor": { "type": "EC" }
    }));
    assert_eq!(
        found,
        [
            "jdbc: required",
            "serverConfigs[0].bindingAddress: not a valid http(s) or unix: address",
            "keys: required",
            "encryptor.type: only NACL is supported",
            "mode: must be \"tessera\" or \"orion\"",
        ]
    );
}

#[test]
fn legacy_unix_socket_file_is_a_q2t_server() {
    let mut json = minimal();
    json["serverConfigs"].as_array_mut().unwrap().remove(0);
    json["unixSocketFile"] = json!("data/tm.ipc");
    let config = load(&json).config;
    config.validate().unwrap();
    let servers = config.servers().unwrap();
    let q2t = servers.iter().find(|s| s.app == AppType::Q2T).unwrap();
    assert_eq!(q2t.listen, Endpoint::unix("data/tm.ipc"));
    assert_eq!(q2t.advertised_url, "unix:data/tm.ipc");
    assert!(q2t.config.is_none());
    assert_eq!(q2t.json_path, "unixSocketFile");
}

#[test]
fn unix_server_addresses_absolute_and_relative() {
    let mut json = minimal();
    json["serverConfigs"][0]["serverAddress"] = json!("unix:relative/tm.ipc");
    json["serverConfigs"][1]["serverAddress"] = json!("https://[::1]:9001/p2p");
    let config = load(&json).config;
    let servers = config.servers().unwrap();
    assert_eq!(servers[0].listen, Endpoint::unix("relative/tm.ipc"));
    assert_eq!(servers[1].listen, endpoint("https://[::1]:9001"));
    assert_eq!(servers[1].listen.to_string(), "https://[::1]:9001");
    assert_eq!(servers[1].advertised_url, "https://[::1]:9001/p2p");

    json["serverConfigs"][1]["serverAddress"] = json!("http://h");
    let config = load(&json).config;
    assert_eq!(
        config
            .servers()
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["serverConfigs[1].serverAddress: an http(s) address needs a port (http://host:port)"]
    );
}

/// The `sslConfig` of Tessera's sample configs, booleans written as strings. With `tls: OFF`
/// it must load and validate (it used to be refused for the string `"false"`).
const TESSERA_SAMPLE_SSL: &str = r#"{
    "tls": "OFF",
    "generateKeyStoreIfNotExisted": "false",
    "serverKeyStore": "./ssl/server1-keystore",
    "serverKeyStorePassword": "quorum",
    "serverTrustStore": "./ssl/server-truststore",
    "serverTrustStorePassword": "quorum",
    "serverTrustMode": "CA",
    "clientKeyStore": "./ssl/client1-keystore",
    "clientKeyStorePassword": "quorum",
    "clientTrustStore": "./ssl/client-truststore",
    "clientTrustStorePassword": "quorum",
    "clientTrustMode": "CA",
    "knownClientsFile": "./ssl/knownClients1",
    "knownServersFile": "./ssl/knownServers1",
    "clientAuth": "false"
}"#;

/// An environment with no variables and no files.
struct Nothing;

impl ssl::SslEnvironment for Nothing {
    fn var(&self, _: &str) -> Option<zeroize::Zeroizing<String>> {
        None
    }
    fn exists(&self, _: &std::path::Path) -> bool {
        false
    }
}

#[test]
fn tessera_sample_ssl_config_with_string_booleans_loads_when_off() {
    let mut json = minimal();
    json["serverConfigs"][1]["sslConfig"] = serde_json::from_str(TESSERA_SAMPLE_SSL).unwrap();
    let Loaded { config, warnings } = load(&json);
    assert_eq!(warnings, Vec::<String>::new());
    config.validate().unwrap();
    config.validate_tls(&Nothing).unwrap();
    let ssl = config.server_configs[1].ssl_config.as_ref().unwrap();
    assert_eq!(ssl.tls, server::TlsMode::Off);
    assert!(!ssl.generate_key_store_if_not_existed);
    assert!(!ssl.client_auth);
    assert_eq!(ssl.client_trust_mode, Some(TrustMode::Ca));
    assert_eq!(
        ssl.side(SslSide::Client).known_hosts_file(),
        std::path::Path::new("./ssl/knownServers1")
    );
}

#[test]
fn strict_ssl_config_is_checked_with_tesseras_message_at_its_path() {
    let mut json = minimal();
    let mut ssl: Value = serde_json::from_str(TESSERA_SAMPLE_SSL).unwrap();
    ssl["tls"] = json!("STRICT");
    json["serverConfigs"][1]["sslConfig"] = ssl;
    let config = load(&json).config;
    // Validate() itself reads nothing from outside; the TLS rules do.
    config.validate().unwrap();
    let issues: Vec<String> = config
        .validate_tls(&Nothing)
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        issues,
        ["serverConfigs[1].sslConfig: Server keystore configuration not valid. Please ensure keystore file exists or keystore password not null, otherwise please set keystore generation flag to true to have keystore created"]
    );
}

#[test]
fn a_boolean_that_is_no_boolean_is_refused_without_quoting_it() {
    let mut json = minimal();
    json["serverConfigs"][1]["sslConfig"] = json!({ "tls": "OFF", "clientAuth": "s3cret" });
    let error = Config::parse(json.to_string().as_bytes())
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "serverConfigs[1].sslConfig.clientAuth: invalid value, expected a boolean (true or false, or the string \"true\" or \"false\")"
    );
}
