//! `cloister-addr`: one address type, [`Endpoint`], for every socket Cloister listens on or
//! connects to, whoever configures it: a Tessera config's `serverAddress`, `bindingAddress` and
//! peer URLs, `cloister proxy --listen/--upstream`, `cloister gateway --listen` and its
//! `privacy=` paths, and the harness and benchmark that drive them. One parser means one rule
//! per spelling and one error text for each mistake, wherever it is written.
//!
//! | Spelling | Meaning |
//! |---|---|
//! | `http://host:port[/path]` | TCP, plain HTTP |
//! | `https://host:port[/path]` | TCP, HTTP over TLS |
//! | `host:port`, `[v6]:port` | TCP, plain HTTP (not where Tessera expects a URL: see [`Endpoint::parse_url`]) |
//! | `unix:/absolute/path`, `unix:relative/path` | a unix socket (relative to the working directory) |
//! | `unix:///absolute/path` | the same socket as `unix:/absolute/path` (the URL form, empty authority) |
//! | `unix://name/…` | refused: a unix socket has no host, and guessing whether `name` is a directory is how two parsers came to disagree |
//!
//! The port is always required, as Tessera requires it (port 0 asks the system for a free one,
//! which only makes sense to listen on); the scheme is case-insensitive; a query or fragment is
//! dropped; a lone `/` path is no path. This crate does no I/O
//! (`cloister-core` and the synchronous test harness use it): `cloister-net` binds and connects
//! endpoints.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use cloister_protocol::GOQUORUM_HOST;

/// Where a server listens or a client connects.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// A TCP socket.
    Tcp(TcpEndpoint),
    /// A unix domain socket at this path (relative paths are relative to the working
    /// directory).
    Unix(PathBuf),
}

/// A TCP endpoint: scheme, host, port and an optional path prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TcpEndpoint {
    /// Plain HTTP or HTTP over TLS.
    pub scheme: Scheme,
    /// A host name or an IP address, without brackets for IPv6.
    pub host: String,
    /// The port; 0 only to listen on a port the system picks.
    pub port: u16,
    /// The path after the authority: empty, or starting with `/` (never a lone `/`).
    pub path: String,
}

/// How HTTP is carried over a TCP endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `http://`.
    Http,
    /// `https://`.
    Https,
}

impl Scheme {
    /// `http` or `https`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }
}

/// Why a text is not an endpoint, or not one usable where it was given. Never contains the text
/// itself: the caller names the setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// Neither `http(s)://`, `unix:` nor `host:port`.
    #[error("not a valid http(s) or unix: address")]
    NotAnAddress,
    /// `host` or `http(s)://host` without `:port`.
    #[error("an http(s) address needs a port (http://host:port)")]
    MissingPort,
    /// The port is not 0–65535.
    #[error("the port must be a number from 0 to 65535")]
    InvalidPort,
    /// The host is empty or has characters a host name cannot have.
    #[error("not a valid host name or IP address")]
    InvalidHost,
    /// `user@host`: credentials do not belong in an address.
    #[error("user information (user@) is not allowed in an address")]
    UserInfo,
    /// `unix://host/…` or an empty socket path.
    #[error("a unix socket address must be unix:/absolute/path or unix:relative/path")]
    InvalidUnixPath,
    /// A unix socket where only TCP makes sense.
    #[error("must be an http(s)://host:port address, not a unix socket")]
    NotTcp,
    /// A path where the endpoint is a whole server (a proxy's upstream, a listen address).
    #[error("must not have a path: give http://host:port")]
    UnexpectedPath,
    /// Port 0 where the address is advertised or connected to.
    #[error("port 0 (any free port) can only be listened on; give the port to reach")]
    AnyPort,
    /// `https://` where this version cannot speak TLS yet.
    #[error("https:// (TLS) is not supported here yet; use http:// and terminate TLS in front")]
    TlsUnsupported,
}

/// The URL prefix of a unix socket.
const UNIX: &str = "unix:";

impl Endpoint {
    /// A unix-socket endpoint.
    pub fn unix(path: impl Into<PathBuf>) -> Self {
        Self::Unix(path.into())
    }

    /// Parses an endpoint that must be written as a URL (`http(s)://…` or `unix:…`) and name a
    /// real port, as Tessera's config members are: a bare `host:port` is
    /// [`EndpointError::NotAnAddress`].
    pub fn parse_url(text: &str) -> Result<Self, EndpointError> {
        if scheme_of(text).is_none() && strip_prefix_ignore_case(text, UNIX).is_none() {
            return Err(EndpointError::NotAnAddress);
        }
        text.parse().and_then(Self::reachable)
    }

    /// Itself, if a client can reach it: not TCP port 0.
    pub fn reachable(self) -> Result<Self, EndpointError> {
        match &self {
            Self::Tcp(tcp) if tcp.port == 0 => Err(EndpointError::AnyPort),
            _ => Ok(self),
        }
    }

    /// The TCP endpoint, or [`EndpointError::NotTcp`].
    pub fn tcp(&self) -> Result<&TcpEndpoint, EndpointError> {
        match self {
            Self::Tcp(tcp) => Ok(tcp),
            Self::Unix(_) => Err(EndpointError::NotTcp),
        }
    }

    /// The unix socket's path, if it is one.
    pub fn unix_path(&self) -> Option<&Path> {
        match self {
            Self::Unix(path) => Some(path),
            Self::Tcp(_) => None,
        }
    }

    /// Whether HTTP goes over TLS (`https://`).
    pub fn is_tls(&self) -> bool {
        matches!(self, Self::Tcp(tcp) if tcp.scheme == Scheme::Https)
    }

    /// The same endpoint spoken over TLS when `tls` (a TCP endpoint becomes `https://`): what
    /// a listener that was bound from an address and then given a certificate really serves.
    pub fn over_tls(self, tls: bool) -> Self {
        match self {
            Self::Tcp(tcp) if tls => Self::Tcp(TcpEndpoint {
                scheme: Scheme::Https,
                ..tcp
            }),
            other => other,
        }
    }

    /// The path prefix (empty for a unix socket or a URL without one).
    pub fn path(&self) -> &str {
        match self {
            Self::Tcp(tcp) => &tcp.path,
            Self::Unix(_) => "",
        }
    }

    /// The same endpoint without its path: where a server for it listens.
    pub fn without_path(&self) -> Self {
        match self {
            Self::Tcp(tcp) => Self::Tcp(TcpEndpoint {
                path: String::new(),
                ..tcp.clone()
            }),
            unix => unix.clone(),
        }
    }

    /// Itself, if it names a whole server (no path).
    pub fn whole_server(self) -> Result<Self, EndpointError> {
        if self.path().is_empty() {
            Ok(self)
        } else {
            Err(EndpointError::UnexpectedPath)
        }
    }

    /// Itself, if it is not `https://` (for the parts that cannot speak TLS yet).
    pub fn plain(self) -> Result<Self, EndpointError> {
        if self.is_tls() {
            Err(EndpointError::TlsUnsupported)
        } else {
            Ok(self)
        }
    }

    /// The `Host` an HTTP request to it carries: `host:port` over TCP, GoQuorum's `c` over a
    /// unix socket (which has no host).
    pub fn host_header(&self) -> String {
        match self {
            Self::Tcp(tcp) => tcp.authority(),
            Self::Unix(_) => GOQUORUM_HOST.to_owned(),
        }
    }

    /// The URL as Tessera's `URLNormalizer` writes it: the path, or `/` when there is none.
    /// Unix endpoints are written `unix:<path>`.
    pub fn normalized(&self) -> String {
        match self {
            Self::Tcp(tcp) if tcp.path.is_empty() => format!("{self}/"),
            _ => self.to_string(),
        }
    }
}

impl TcpEndpoint {
    /// `host:port`, with brackets around an IPv6 host: what a socket connects to and what an
    /// HTTP `Host` header says.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl FromStr for Endpoint {
    type Err = EndpointError;

    /// Parses any spelling in the crate's table.
    fn from_str(text: &str) -> Result<Self, EndpointError> {
        if let Some(rest) = strip_prefix_ignore_case(text, UNIX) {
            return unix_socket_path(rest).map(Self::Unix);
        }
        let (scheme, rest) = match scheme_of(text) {
            Some((scheme, rest)) => (scheme, rest),
            None if text.contains("://") => return Err(EndpointError::NotAnAddress),
            // A bare `host:port` has no path; anything else without a scheme is a typo.
            None if text.contains(':') && !text.contains('/') => (Scheme::Http, text),
            None => return Err(EndpointError::NotAnAddress),
        };
        let rest = rest.split(['?', '#']).next().unwrap_or_default();
        let end = rest.find('/').unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        if authority.contains('@') {
            return Err(EndpointError::UserInfo);
        }
        let (host, port) = split_host_port(authority)?;
        Ok(Self::Tcp(TcpEndpoint {
            scheme,
            host,
            port,
            path: if path == "/" {
                String::new()
            } else {
                path.to_owned()
            },
        }))
    }
}

impl fmt::Display for Endpoint {
    /// `http://host:port[/path]`, `https://…` or `unix:<path>`; parses back to the same
    /// endpoint.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp(tcp) => write!(
                f,
                "{}://{}{}",
                tcp.scheme.as_str(),
                tcp.authority(),
                tcp.path
            ),
            Self::Unix(path) => write!(f, "{UNIX}{}", path.display()),
        }
    }
}

impl From<SocketAddr> for Endpoint {
    /// `http://<address>`.
    fn from(address: SocketAddr) -> Self {
        Self::Tcp(TcpEndpoint {
            scheme: Scheme::Http,
            host: address.ip().to_string(),
            port: address.port(),
            path: String::new(),
        })
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Endpoint {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The socket path of a `unix:` address, after the prefix: `/abs`, `rel`, or `///abs` (the URL
/// form with an empty authority). `//name/…` would put a host into a socket path and is
/// refused. Also reads the path of the gateway's `ipc:` upstreams, which follow the same rule.
pub fn unix_socket_path(rest: &str) -> Result<PathBuf, EndpointError> {
    let path = match rest.strip_prefix("//") {
        Some(after) if after.starts_with('/') => after,
        Some(_) => return Err(EndpointError::InvalidUnixPath),
        None => rest,
    };
    if path.is_empty() {
        return Err(EndpointError::InvalidUnixPath);
    }
    Ok(PathBuf::from(path))
}

/// `http://` or `https://` (any case) and what follows it.
fn scheme_of(text: &str) -> Option<(Scheme, &str)> {
    [Scheme::Http, Scheme::Https]
        .into_iter()
        .find_map(|scheme| {
            let rest = strip_prefix_ignore_case(text, scheme.as_str())?;
            Some((scheme, rest.strip_prefix("://")?))
        })
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// Splits `host:port` or `[v6]:port`; the port is mandatory, as in Tessera's validator.
fn split_host_port(authority: &str) -> Result<(String, u16), EndpointError> {
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or(EndpointError::InvalidHost)?;
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(EndpointError::InvalidHost);
        }
        if after.is_empty() {
            return Err(EndpointError::MissingPort);
        }
        (
            host,
            after.strip_prefix(':').ok_or(EndpointError::InvalidHost)?,
        )
    } else {
        let (host, port) = authority
            .rsplit_once(':')
            .ok_or(EndpointError::MissingPort)?;
        if !is_host_name(host) {
            return Err(EndpointError::InvalidHost);
        }
        (host, port)
    };
    Ok((
        host.to_owned(),
        parse_port(port).ok_or(EndpointError::InvalidPort)?,
    ))
}

/// A DNS name or IPv4 address: letters, digits, `-`, `.`, `_` (seen in container names).
pub fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

/// A decimal port 0–65535 (no sign, no spaces).
pub fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests;
