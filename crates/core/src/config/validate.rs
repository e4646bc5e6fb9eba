//! The rules a config must satisfy before a node starts, and the typed server view.
//!
//! Every issue is reported (not just the first), each as `<json path>: <message>`. Messages
//! never quote values from the config: several of them are secrets.

use std::collections::HashMap;
use std::fmt;

use cloister_addr::Endpoint;

use super::keys::KeyDataForm;

use super::server::Server;
use super::ssl::SslEnvironment;
use super::{AppType, Config, EncryptorType};
use crate::keys::{KeyError, PrivateKey, PublicKey};

/// One problem in a config, at a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// Where, like `serverConfigs[1].bindingAddress`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl ConfigIssue {
    /// An issue at `path`.
    pub fn new(path: impl Into<String>, message: impl fmt::Display) -> Self {
        Self {
            path: path.into(),
            message: message.to_string(),
        }
    }

    /// The same issue with its path placed under `prefix` (`serverAddress` under
    /// `serverConfigs[1]` becomes `serverConfigs[1].serverAddress`).
    pub fn within(self, prefix: &str) -> Self {
        let path = if self.path.starts_with('[') {
            format!("{prefix}{}", self.path)
        } else {
            format!("{prefix}.{}", self.path)
        };
        Self { path, ..self }
    }
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl std::error::Error for ConfigIssue {}

impl Config {
    /// Checks every rule Cloister needs; all issues are returned, in document order.
    pub fn validate(&self) -> Result<(), Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        self.check_jdbc(&mut issues);
        self.check_servers(&mut issues);
        self.check_peers(&mut issues);
        self.check_keys(&mut issues);
        for (i, key) in self.always_send_to.iter().enumerate() {
            if let Err(e) = PublicKey::from_base64(key, "alwaysSendTo") {
                issues.push(ConfigIssue::new(
                    format!("alwaysSendTo[{i}]"),
                    public_key_problem(&e),
                ));
            }
        }
        if matches!(
            self.encryptor_type(),
            EncryptorType::Ec | EncryptorType::Custom
        ) {
            issues.push(ConfigIssue::new("encryptor.type", "only NACL is supported"));
        }
        if let Err(issue) = self.client_mode() {
            issues.push(issue);
        }
        self.check_resident_groups(&mut issues);
        if issues.is_empty() {
            Ok(())
        } else {
            Err(issues)
        }
    }

    /// Tessera's `sslConfig` rules for every server with `tls: STRICT`: at most one issue per
    /// server, at `serverConfigs[i].sslConfig`, with Tessera's own sentence. Kept apart from
    /// [`Config::validate`] because it reads the environment (store passwords) and the file
    /// system (do the stores exist?) through `env`.
    pub fn validate_tls(&self, env: &dyn SslEnvironment) -> Result<(), Vec<ConfigIssue>> {
        let issues: Vec<_> = self
            .server_configs
            .iter()
            .enumerate()
            .filter_map(|(i, server)| {
                let ssl = server.ssl_config.as_ref()?;
                ssl.check(env)
                    .err()
                    .map(|e| ConfigIssue::new(format!("serverConfigs[{i}].sslConfig"), e))
            })
            .collect();
        if issues.is_empty() {
            Ok(())
        } else {
            Err(issues)
        }
    }

    /// The servers to run: each `serverConfigs` entry, plus a Q2T unix-socket server for a
    /// legacy top-level `unixSocketFile`.
    pub fn servers(&self) -> Result<Vec<Server<'_>>, Vec<ConfigIssue>> {
        let mut servers = Vec::new();
        let mut issues = Vec::new();
        for (i, config) in self.server_configs.iter().enumerate() {
            let json_path = format!("serverConfigs[{i}]");
            let app = config
                .app
                .ok_or_else(|| ConfigIssue::new("app", "required").within(&json_path));
            let listen = config.listen_address().map_err(|e| e.within(&json_path));
            let advertised_url = config.advertised_url().map_err(|e| e.within(&json_path));
            match (app, listen, advertised_url) {
                (Ok(app), Ok(listen), Ok(advertised_url)) => {
                    servers.push(Server {
                        app,
                        listen,
                        advertised_url,
                        config: Some(config),
                        json_path,
                    });
                }
                (app, listen, url) => {
                    issues.extend(app.err());
                    // The listen address and URL both fail on a bad serverAddress; say it once.
                    let listen = listen.err();
                    let url = url.err().filter(|u| Some(u) != listen.as_ref());
                    issues.extend(listen);
                    issues.extend(url);
                }
            }
        }
        if let Some(file) = &self.unix_socket_file {
            if file.trim().is_empty() {
                issues.push(ConfigIssue::new("unixSocketFile", "must be a socket path"));
            } else {
                servers.push(Server {
                    app: AppType::Q2T,
                    listen: Endpoint::unix(file),
                    advertised_url: format!("unix:{file}"),
                    config: None,
                    json_path: "unixSocketFile".to_owned(),
                });
            }
        }
        if issues.is_empty() {
            Ok(servers)
        } else {
            Err(issues)
        }
    }

    fn check_jdbc(&self, issues: &mut Vec<ConfigIssue>) {
        let Some(jdbc) = &self.jdbc else {
            issues.push(ConfigIssue::new("jdbc", "required"));
            return;
        };
        if let Err(issue) = jdbc.store_target() {
            issues.push(issue);
        }
        if jdbc.password_is_encrypted() {
            issues.push(ConfigIssue::new(
                "jdbc.password",
                "encrypted ENC(…) passwords are not supported by Cloister; give the password in clear or in the URL",
            ));
        }
    }

    fn check_servers(&self, issues: &mut Vec<ConfigIssue>) {
        if self.server_configs.is_empty() {
            issues.push(ConfigIssue::new(
                "serverConfigs",
                "at least one server is required",
            ));
        }
        for (i, server) in self.server_configs.iter().enumerate() {
            let prefix = format!("serverConfigs[{i}]");
            let mut push = |issue: ConfigIssue| issues.push(issue.within(&prefix));
            if server.app.is_none() {
                push(ConfigIssue::new("app", "required"));
            }
            let address = server.server_address().map_err(&mut push).ok();
            let binding = server.binding_address().map_err(&mut push).ok().flatten();
            match (&address, &binding) {
                (Some(Endpoint::Unix(_)), Some(_)) => push(ConfigIssue::new(
                    "bindingAddress",
                    "must not be given when serverAddress is a unix socket",
                )),
                (Some(Endpoint::Unix(_)), None) if server.app == Some(AppType::P2P) => {
                    push(ConfigIssue::new(
                        "serverAddress",
                        "the P2P server needs an http(s) address: peers cannot reach a unix socket",
                    ))
                }
                _ => {}
            }
            if let Some(kind) = &server.communication_type {
                if !kind.eq_ignore_ascii_case("REST") {
                    push(ConfigIssue::new(
                        "communicationType",
                        "only REST is supported",
                    ));
                }
            }
            for interval in [
                server.party_info_interval(),
                server.enclave_key_sync_interval(),
                server.sync_interval(),
            ] {
                if let Err(issue) = interval {
                    push(issue);
                }
            }
        }

        let mut first: HashMap<AppType, usize> = HashMap::new();
        for (i, server) in self.server_configs.iter().enumerate() {
            let Some(app) = server.app else { continue };
            if !matches!(app, AppType::P2P | AppType::Q2T | AppType::ThirdParty) {
                continue;
            }
            match first.get(&app) {
                Some(earlier) => issues.push(ConfigIssue::new(
                    format!("serverConfigs[{i}].app"),
                    format!("only one {app} server is allowed (serverConfigs[{earlier}] is one)"),
                )),
                None => {
                    first.insert(app, i);
                }
            }
        }
        if !self.server_configs.is_empty() && !first.contains_key(&AppType::P2P) {
            issues.push(ConfigIssue::new(
                "serverConfigs",
                "a P2P server is required",
            ));
        }
        if let Some(file) = &self.unix_socket_file {
            if file.trim().is_empty() {
                issues.push(ConfigIssue::new("unixSocketFile", "must be a socket path"));
            } else if let Some(q2t) = first.get(&AppType::Q2T) {
                issues.push(ConfigIssue::new(
                    "unixSocketFile",
                    format!(
                        "a Q2T server is also configured in serverConfigs[{q2t}]; keep only one"
                    ),
                ));
            }
        }
    }

    fn check_peers(&self, issues: &mut Vec<ConfigIssue>) {
        for (i, peer) in self.peer.iter().enumerate() {
            let path = format!("peer[{i}].url");
            let parsed = peer
                .url
                .as_deref()
                .map(|url| Endpoint::parse_url(url).and_then(|e| e.tcp().map(drop)));
            match parsed {
                None => issues.push(ConfigIssue::new(path, "required")),
                Some(Err(e)) => issues.push(ConfigIssue::new(path, e)),
                Some(Ok(_)) => {}
            }
        }
    }

    fn check_keys(&self, issues: &mut Vec<ConfigIssue>) {
        let Some(keys) = &self.keys else {
            issues.push(ConfigIssue::new("keys", "required"));
            return;
        };
        if !keys.passwords.is_empty() && keys.password_file.is_some() {
            issues.push(ConfigIssue::new(
                "keys.passwords",
                "must not be given together with keys.passwordFile",
            ));
        }
        if keys.key_data.is_empty() {
            issues.push(ConfigIssue::new(
                "keys.keyData",
                "at least one key pair is required",
            ));
        }
        for (i, data) in keys.key_data.iter().enumerate() {
            let prefix = format!("keys.keyData[{i}]");
            let public_key = match data.form() {
                Err(e) => {
                    issues.push(ConfigIssue::new(prefix, e));
                    continue;
                }
                Ok(KeyDataForm::Files { .. }) => continue,
                Ok(KeyDataForm::InlineConfig { public_key, .. }) => public_key,
                Ok(KeyDataForm::Inline {
                    private_key,
                    public_key,
                }) => {
                    if let Err(e) = PrivateKey::from_base64(private_key, "privateKey") {
                        let message = match e {
                            KeyError::InvalidBase64 { .. } => "not valid base64".to_owned(),
                            KeyError::WrongLength { actual, .. } => {
                                format!("a private key must be 32 bytes, found {actual}")
                            }
                        };
                        issues.push(ConfigIssue::new(format!("{prefix}.privateKey"), message));
                    }
                    public_key
                }
            };
            if let Err(e) = PublicKey::from_base64(public_key, "publicKey") {
                issues.push(ConfigIssue::new(
                    format!("{prefix}.publicKey"),
                    public_key_problem(&e),
                ));
            }
        }
    }

    fn check_resident_groups(&self, issues: &mut Vec<ConfigIssue>) {
        let mut names: HashMap<&str, usize> = HashMap::new();
        let mut members: HashMap<PublicKey, usize> = HashMap::new();
        for (i, group) in self.resident_groups.iter().enumerate() {
            let prefix = format!("residentGroups[{i}]");
            match group.name.as_deref().map(str::trim) {
                None | Some("") => {
                    issues.push(ConfigIssue::new(format!("{prefix}.name"), "required"))
                }
                Some(name) => {
                    if let Some(earlier) = names.insert(name, i) {
                        issues.push(ConfigIssue::new(
                            format!("{prefix}.name"),
                            format!(
                                "the same name as residentGroups[{earlier}]; names must be unique"
                            ),
                        ));
                    }
                }
            }
            for (k, member) in group.members.iter().enumerate() {
                let path = format!("{prefix}.members[{k}]");
                match PublicKey::from_base64(member, "member") {
                    Err(e) => issues.push(ConfigIssue::new(path, public_key_problem(&e))),
                    Ok(key) => match members.get(&key) {
                        Some(&earlier) if earlier != i => issues.push(ConfigIssue::new(
                            path,
                            format!("the key is already a member of residentGroups[{earlier}]; a key may be in only one group"),
                        )),
                        Some(_) => {}
                        None => {
                            members.insert(key, i);
                        }
                    },
                }
            }
        }
    }
}

fn public_key_problem(error: &KeyError) -> String {
    match error {
        KeyError::InvalidBase64 { .. } => "not a base64 public key".to_owned(),
        KeyError::WrongLength { actual, .. } => {
            format!("a public key must be 32 bytes, found {actual}")
        }
    }
}
