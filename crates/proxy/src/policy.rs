//! The retry policy: which request is a read or a write for each role, and which failure of an
//! attempt may be retried on the next upstream. Everything the proxy decides about safety is
//! here, as named rules, so it can be read and tested in one place.
//!
//! The principle (proxy-and-gateway.md §2.8, goquorum-client.md §5): a read is retried on any
//! failure; a write only when the replica provably did nothing with it (never sent, or a 503,
//! which `cloister node` answers before committing), or when a repeat is harmless (P2P pushes
//! merge; Q2T sends carry an idempotency key the node deduplicates on).

use cloister_protocol::path as paths;
use http::{Method, StatusCode};

/// Which API a listener fronts; it decides how requests are classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Quorum-to-Tessera: the `tm.ipc` sidecar in front of a party's replicas.
    Q2t,
    /// Peer-to-peer: the party's advertised address for other parties.
    P2p,
    /// The ThirdParty API.
    #[serde(rename = "thirdparty")]
    ThirdParty,
}

impl Role {
    /// The name used on the command line, in the config file, logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Q2t => "q2t",
            Self::P2p => "p2p",
            Self::ThirdParty => "thirdparty",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "q2t" => Ok(Self::Q2t),
            "p2p" => Ok(Self::P2p),
            "thirdparty" => Ok(Self::ThirdParty),
            other => Err(format!(
                "unknown role {other:?}: expected q2t, p2p or thirdparty"
            )),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a request does to the replica's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// No side effects: retried on any failure.
    Read,
    /// Side effects a repeat merges (P2P pushes, resends, party info): retried on any failure
    /// except a complete non-503 answer.
    Idempotent,
    /// A write the node deduplicates by [`cloister_protocol::header::IDEMPOTENCY_KEY`] (`/send`,
    /// `/sendraw`, `/sendsignedtx`): also retried after an ambiguous failure, with the same key.
    KeyedWrite,
    /// Any other write: retried only when the replica provably did nothing with it.
    Write,
}

impl Kind {
    /// Whether the proxy adds an idempotency key: every write, so the node can deduplicate the
    /// ones it supports and log the key on the rest.
    pub fn is_write(self) -> bool {
        matches!(self, Self::KeyedWrite | Self::Write)
    }

    /// The name in logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Idempotent => "idempotent",
            Self::KeyedWrite => "keyed-write",
            Self::Write => "write",
        }
    }
}

/// How a rule matches the request method.
#[derive(Debug, Clone, Copy)]
enum Methods {
    /// `GET` or `HEAD`.
    Get,
    /// `POST`.
    Post,
    /// `DELETE`.
    Delete,
}

impl Methods {
    fn matches(self, method: &Method) -> bool {
        match self {
            Self::Get => method == Method::GET || method == Method::HEAD,
            Self::Post => method == Method::POST,
            Self::Delete => method == Method::DELETE,
        }
    }
}

/// How a rule matches the path.
#[derive(Debug, Clone, Copy)]
enum Path {
    Exact(&'static str),
    Prefix(&'static str),
}

impl Path {
    fn matches(self, path: &str) -> bool {
        match self {
            Self::Exact(exact) => path == exact,
            Self::Prefix(prefix) => path.starts_with(prefix),
        }
    }
}

/// One named rule.
#[derive(Debug, Clone, Copy)]
struct Rule {
    name: &'static str,
    roles: &'static [Role],
    method: Methods,
    path: Path,
    kind: Kind,
    /// A 404 means "recipient unknown to this replica" (its party info lags), which another
    /// replica may know: the reason for the reference recipe's `http_404`.
    retry_not_found: bool,
}

const Q2T: &[Role] = &[Role::Q2t];
const Q2T_THIRDPARTY: &[Role] = &[Role::Q2t, Role::ThirdParty];
const P2P: &[Role] = &[Role::P2p];

const fn rule(
    name: &'static str,
    roles: &'static [Role],
    method: Methods,
    path: Path,
    kind: Kind,
) -> Rule {
    Rule {
        name,
        roles,
        method,
        path,
        kind,
        retry_not_found: false,
    }
}

const fn send_rule(name: &'static str, path: &'static str) -> Rule {
    Rule {
        retry_not_found: true,
        ..rule(
            name,
            Q2T,
            Methods::Post,
            Path::Exact(path),
            Kind::KeyedWrite,
        )
    }
}

/// The rules, first match wins. A request no rule matches is a read if it is a GET or HEAD
/// and a (plain) write otherwise: an unknown POST is assumed to change something.
const RULES: &[Rule] = &[
    send_rule("send", paths::SEND),
    send_rule("sendraw", paths::SEND_RAW),
    send_rule("sendsignedtx", paths::SEND_SIGNED_TX),
    rule(
        "storeraw",
        Q2T_THIRDPARTY,
        Methods::Post,
        Path::Exact(paths::STORE_RAW),
        Kind::Write,
    ),
    rule(
        "encodedpayload-create",
        Q2T,
        Methods::Post,
        Path::Exact(paths::ENCODED_PAYLOAD_CREATE),
        Kind::Write,
    ),
    rule(
        "encodedpayload-decrypt",
        Q2T,
        Methods::Post,
        Path::Exact(paths::ENCODED_PAYLOAD_DECRYPT),
        Kind::Read,
    ),
    rule(
        "find-privacy-group",
        Q2T,
        Methods::Post,
        Path::Exact(paths::FIND_PRIVACY_GROUP),
        Kind::Read,
    ),
    rule(
        "retrieve-privacy-group",
        Q2T,
        Methods::Post,
        Path::Exact(paths::RETRIEVE_PRIVACY_GROUP),
        Kind::Read,
    ),
    rule(
        "delete-transaction",
        Q2T,
        Methods::Delete,
        Path::Prefix(paths::TRANSACTION_PREFIX),
        Kind::Write,
    ),
    rule(
        "delete",
        Q2T,
        Methods::Post,
        Path::Exact(paths::DELETE),
        Kind::Write,
    ),
    rule(
        "transaction",
        Q2T,
        Methods::Get,
        Path::Prefix(paths::TRANSACTION_PREFIX),
        Kind::Read,
    ),
    rule(
        "groups",
        Q2T,
        Methods::Get,
        Path::Prefix(paths::GROUPS_PREFIX),
        Kind::Read,
    ),
    rule(
        "receiveraw",
        Q2T,
        Methods::Get,
        Path::Exact(paths::RECEIVE_RAW),
        Kind::Read,
    ),
    rule(
        "partyinfo-keys",
        Q2T_THIRDPARTY,
        Methods::Get,
        Path::Exact(paths::PARTYINFO_KEYS),
        Kind::Read,
    ),
    rule(
        "keys",
        Q2T_THIRDPARTY,
        Methods::Get,
        Path::Exact(paths::KEYS),
        Kind::Read,
    ),
    rule(
        "push",
        P2P,
        Methods::Post,
        Path::Exact(paths::PUSH),
        Kind::Idempotent,
    ),
    rule(
        "push-batch",
        P2P,
        Methods::Post,
        Path::Exact(paths::PUSH_BATCH),
        Kind::Idempotent,
    ),
    rule(
        "resend",
        P2P,
        Methods::Post,
        Path::Exact(paths::RESEND),
        Kind::Idempotent,
    ),
    rule(
        "resend-batch",
        P2P,
        Methods::Post,
        Path::Exact(paths::RESEND_BATCH),
        Kind::Idempotent,
    ),
    rule(
        "push-privacy-group",
        P2P,
        Methods::Post,
        Path::Exact(paths::PUSH_PRIVACY_GROUP),
        Kind::Idempotent,
    ),
    rule(
        "partyinfo",
        P2P,
        Methods::Post,
        Path::Prefix(paths::PARTYINFO),
        Kind::Idempotent,
    ),
    rule(
        "partyinfo",
        P2P,
        Methods::Get,
        Path::Prefix(paths::PARTYINFO),
        Kind::Read,
    ),
    rule(
        "upcheck",
        &[Role::Q2t, Role::P2p, Role::ThirdParty],
        Methods::Get,
        Path::Exact(paths::UPCHECK),
        Kind::Read,
    ),
    rule(
        "version",
        &[Role::Q2t, Role::P2p, Role::ThirdParty],
        Methods::Get,
        Path::Prefix(paths::VERSION),
        Kind::Read,
    ),
];

/// What the policy knows about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The matched rule's name (`other-read` / `other-write` when none matched); a bounded
    /// label for metrics.
    pub name: &'static str,
    /// What it does to state.
    pub kind: Kind,
    /// Whether a 404 may be retried on another replica.
    pub retry_not_found: bool,
}

/// Classifies a request of `role` by method and path (the path without the query).
pub fn classify(role: Role, method: &Method, path: &str) -> Route {
    RULES
        .iter()
        .find(|r| r.roles.contains(&role) && r.method.matches(method) && r.path.matches(path))
        .map_or_else(
            || {
                if Methods::Get.matches(method) {
                    Route {
                        name: "other-read",
                        kind: Kind::Read,
                        retry_not_found: false,
                    }
                } else {
                    Route {
                        name: "other-write",
                        kind: Kind::Write,
                        retry_not_found: false,
                    }
                }
            },
            |r| Route {
                name: r.name,
                kind: r.kind,
                retry_not_found: r.retry_not_found,
            },
        )
}

/// Every route name [`classify`] can give (a name may repeat), for per-route state made at
/// start.
pub fn route_names() -> impl Iterator<Item = &'static str> {
    RULES
        .iter()
        .map(|r| r.name)
        .chain(["other-read", "other-write"])
}

/// How one attempt on one upstream failed to produce an answer the client should get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The request provably never reached the replica: the connection was refused or could
    /// not be made in time, or the connection closed before the request was written.
    NotSent,
    /// The request was (or may have been) sent and no complete answer came: the connection
    /// was reset or closed mid-exchange, or the per-try timeout ran out.
    Ambiguous,
    /// A complete answer with this status.
    Status(StatusCode),
}

/// Why an attempt is retried on the next upstream (a label in logs and metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// The request never reached the replica.
    NotSent,
    /// A read (or a repeat-safe write) failed after it was sent.
    AfterSend,
    /// A keyed write failed after it was sent: repeated with the same idempotency key, so the
    /// node returns the first outcome if the first replica committed.
    SameKey,
    /// The replica answered 503: its store is unavailable and it committed nothing.
    Unavailable,
    /// A read got a 5xx other than 503.
    ServerError,
    /// A send got 404: the recipient may be unknown to this replica only.
    NotFound,
}

impl Retry {
    /// Every reason, for metrics that start at 0.
    pub const ALL: [Self; 6] = [
        Self::NotSent,
        Self::AfterSend,
        Self::SameKey,
        Self::Unavailable,
        Self::ServerError,
        Self::NotFound,
    ];

    /// The name in logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotSent => "not-sent",
            Self::AfterSend => "after-send",
            Self::SameKey => "same-key",
            Self::Unavailable => "unavailable",
            Self::ServerError => "server-error",
            Self::NotFound => "not-found",
        }
    }
}

/// Whether `failure` of `route` may be retried on the next upstream, and why.
/// `confirm_not_found` makes a 404 on a read a reason to ask the next replica too (only
/// useful when replicas may read from stores that lag each other).
pub fn retry(route: &Route, failure: Failure, confirm_not_found: bool) -> Option<Retry> {
    match (failure, route.kind) {
        (Failure::NotSent, _) => Some(Retry::NotSent),
        (Failure::Ambiguous, Kind::Read | Kind::Idempotent) => Some(Retry::AfterSend),
        (Failure::Ambiguous, Kind::KeyedWrite) => Some(Retry::SameKey),
        (Failure::Ambiguous, Kind::Write) => None,
        (Failure::Status(StatusCode::SERVICE_UNAVAILABLE), _) => Some(Retry::Unavailable),
        (Failure::Status(status), Kind::Read | Kind::Idempotent) if status.is_server_error() => {
            Some(Retry::ServerError)
        }
        (Failure::Status(StatusCode::NOT_FOUND), Kind::Read) if confirm_not_found => {
            Some(Retry::NotFound)
        }
        (Failure::Status(StatusCode::NOT_FOUND), _) if route.retry_not_found => {
            Some(Retry::NotFound)
        }
        (Failure::Status(_), _) => None,
    }
}

/// Whether `failure` counts towards ejecting the upstream (passive health): the replica itself
/// is unreachable, hung or without its store. Other statuses are answers about the request.
pub fn counts_against_upstream(failure: Failure) -> bool {
    matches!(
        failure,
        Failure::NotSent | Failure::Ambiguous | Failure::Status(StatusCode::SERVICE_UNAVAILABLE)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q2t(method: Method, path: &str) -> Route {
        classify(Role::Q2t, &method, path)
    }

    #[test]
    fn goquorum_reads_are_reads() {
        for path in [
            "/upcheck",
            "/version",
            "/version/api",
            "/groups/resident",
            "/transaction/abc%2Fdef",
            "/transaction/abc/isSender",
            "/transaction/abc/participants",
            "/partyinfo/keys",
        ] {
            assert_eq!(q2t(Method::GET, path).kind, Kind::Read, "{path}");
        }
        assert_eq!(
            q2t(Method::POST, "/encodedpayload/decrypt").kind,
            Kind::Read
        );
    }

    #[test]
    fn goquorum_writes_are_writes_and_sends_are_keyed() {
        for path in ["/send", "/sendraw", "/sendsignedtx"] {
            let route = q2t(Method::POST, path);
            assert_eq!(route.kind, Kind::KeyedWrite, "{path}");
            assert!(route.retry_not_found, "{path}");
        }
        for (method, path) in [
            (Method::POST, "/storeraw"),
            (Method::POST, "/encodedpayload/create"),
            (Method::DELETE, "/transaction/abc"),
            (Method::POST, "/delete"),
            (Method::POST, "/createPrivacyGroup"),
            (Method::PUT, "/send"),
        ] {
            let route = q2t(method.clone(), path);
            assert_eq!(route.kind, Kind::Write, "{method} {path}");
            assert!(route.kind.is_write() && !route.retry_not_found);
        }
    }

    #[test]
    fn prefixes_do_not_swallow_neighbours() {
        // `/send` must not match `/sendraw` by prefix, nor `/version` match `/versions` wrongly
        // as a write.
        assert_eq!(q2t(Method::POST, "/sendraw").name, "sendraw");
        assert_eq!(q2t(Method::POST, "/sendx").kind, Kind::Write);
    }

    #[test]
    fn p2p_pushes_are_idempotent_and_carry_no_key() {
        for path in [
            "/push",
            "/pushBatch",
            "/resend",
            "/resendBatch",
            "/pushPrivacyGroup",
            "/partyinfo",
            "/partyinfo/validate",
        ] {
            let route = classify(Role::P2p, &Method::POST, path);
            assert_eq!(route.kind, Kind::Idempotent, "{path}");
            assert!(!route.kind.is_write());
        }
        assert_eq!(
            classify(Role::P2p, &Method::GET, "/partyinfo").kind,
            Kind::Read
        );
        // A Q2T write path means nothing special on the P2P port.
        assert_eq!(
            classify(Role::P2p, &Method::POST, "/send").kind,
            Kind::Write
        );
    }

    #[test]
    fn thirdparty_storeraw_is_a_write() {
        assert_eq!(
            classify(Role::ThirdParty, &Method::POST, "/storeraw").kind,
            Kind::Write
        );
        assert_eq!(
            classify(Role::ThirdParty, &Method::GET, "/partyinfo/keys").kind,
            Kind::Read
        );
    }

    #[test]
    fn reads_retry_on_every_failure() {
        let read = q2t(Method::GET, "/transaction/x");
        for failure in [
            Failure::NotSent,
            Failure::Ambiguous,
            Failure::Status(StatusCode::INTERNAL_SERVER_ERROR),
            Failure::Status(StatusCode::SERVICE_UNAVAILABLE),
        ] {
            assert!(retry(&read, failure, false).is_some(), "{failure:?}");
        }
        assert_eq!(retry(&read, Failure::Status(StatusCode::OK), false), None);
    }

    #[test]
    fn a_read_404_is_the_answer_unless_confirmation_is_asked_for() {
        let read = q2t(Method::GET, "/transaction/x");
        let not_found = Failure::Status(StatusCode::NOT_FOUND);
        assert_eq!(retry(&read, not_found, false), None);
        assert_eq!(retry(&read, not_found, true), Some(Retry::NotFound));
    }

    #[test]
    fn a_send_is_retried_with_the_same_key_after_an_ambiguous_failure() {
        let send = q2t(Method::POST, "/send");
        assert_eq!(retry(&send, Failure::NotSent, false), Some(Retry::NotSent));
        assert_eq!(
            retry(&send, Failure::Ambiguous, false),
            Some(Retry::SameKey)
        );
        assert_eq!(
            retry(
                &send,
                Failure::Status(StatusCode::SERVICE_UNAVAILABLE),
                false
            ),
            Some(Retry::Unavailable)
        );
        assert_eq!(
            retry(&send, Failure::Status(StatusCode::NOT_FOUND), false),
            Some(Retry::NotFound)
        );
        // A 500 after the node ran the send is its answer: repeating could double it.
        assert_eq!(
            retry(
                &send,
                Failure::Status(StatusCode::INTERNAL_SERVER_ERROR),
                false
            ),
            None
        );
        assert_eq!(
            retry(&send, Failure::Status(StatusCode::BAD_REQUEST), false),
            None
        );
    }

    #[test]
    fn a_plain_write_is_retried_only_when_nothing_happened() {
        let store = q2t(Method::POST, "/storeraw");
        assert_eq!(retry(&store, Failure::NotSent, false), Some(Retry::NotSent));
        assert_eq!(
            retry(
                &store,
                Failure::Status(StatusCode::SERVICE_UNAVAILABLE),
                false
            ),
            Some(Retry::Unavailable)
        );
        assert_eq!(retry(&store, Failure::Ambiguous, false), None);
        assert_eq!(
            retry(&store, Failure::Status(StatusCode::NOT_FOUND), false),
            None
        );
        assert_eq!(
            retry(
                &store,
                Failure::Status(StatusCode::INTERNAL_SERVER_ERROR),
                false
            ),
            None
        );
    }

    #[test]
    fn a_push_is_retried_after_send_because_the_node_merges_it() {
        let push = classify(Role::P2p, &Method::POST, "/push");
        assert_eq!(
            retry(&push, Failure::Ambiguous, false),
            Some(Retry::AfterSend)
        );
        assert_eq!(
            retry(&push, Failure::Status(StatusCode::BAD_REQUEST), false),
            None
        );
    }

    #[test]
    fn only_unreachable_hung_or_storeless_replicas_count_against_them() {
        assert!(counts_against_upstream(Failure::NotSent));
        assert!(counts_against_upstream(Failure::Ambiguous));
        assert!(counts_against_upstream(Failure::Status(
            StatusCode::SERVICE_UNAVAILABLE
        )));
        assert!(!counts_against_upstream(Failure::Status(
            StatusCode::NOT_FOUND
        )));
        assert!(!counts_against_upstream(Failure::Status(
            StatusCode::INTERNAL_SERVER_ERROR
        )));
    }

    #[test]
    fn roles_parse_as_on_the_command_line() {
        assert_eq!("q2t".parse::<Role>(), Ok(Role::Q2t));
        assert_eq!("thirdparty".parse::<Role>(), Ok(Role::ThirdParty));
        assert!("Q2T".parse::<Role>().is_err());
    }
}
