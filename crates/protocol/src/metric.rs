//! Series every part exports with one meaning. The node, the proxy and the gateway each
//! register them under [`PREFIX`] (the proxy's and the gateway's own series live under
//! `cloister_proxy_` and `cloister_gateway_`), so one alert on one name covers every part, and
//! labels tell the parts apart.

use std::time::SystemTime;

/// The prefix of the series every part shares (`cloister_`).
pub const PREFIX: &str = "cloister";

/// A shared series: its name under [`PREFIX`] and its help text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Series {
    /// The name, without [`PREFIX`].
    pub name: &'static str,
    /// The help text.
    pub help: &'static str,
}

/// `cloister_tls_certificate_expiry_timestamp_seconds`, a gauge: the notAfter of the chain a
/// part presents, set at start and again at every certificate reload. Labels: `app` (the
/// node's app, or [`app::PROXY`] / [`app::GATEWAY`]), `side` ([`side::SERVER`] or
/// [`side::CLIENT`]), and on a front `listener` (the address it listens on).
pub const TLS_CERTIFICATE_EXPIRY: Series = Series {
    name: "tls_certificate_expiry_timestamp_seconds",
    help: "When the certificate chain a node app, a proxy listener or the gateway presents expires, as a Unix time",
};

/// The `app` label of a front's shared series (a node's apps are named as in its config).
pub mod app {
    /// `cloister proxy`.
    pub const PROXY: &str = "proxy";
    /// `cloister gateway`.
    pub const GATEWAY: &str = "gateway";
}

/// The `side` label of [`super::TLS_CERTIFICATE_EXPIRY`]: which end of a connection presents
/// the certificate.
pub mod side {
    /// A listener's certificate.
    pub const SERVER: &str = "server";
    /// The certificate a client presents (the node's P2P client).
    pub const CLIENT: &str = "client";
}

/// `time` as the value of a `_timestamp_seconds` gauge: whole seconds since the Unix epoch, 0
/// for a time before it (a certificate that expired before 1970 has expired).
pub fn timestamp_seconds(time: SystemTime) -> i64 {
    match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::timestamp_seconds;

    #[test]
    fn timestamps_are_whole_seconds_and_never_negative() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_900);
        assert_eq!(timestamp_seconds(at), 1_700_000_000);
        let before = SystemTime::UNIX_EPOCH - Duration::from_secs(5);
        assert_eq!(timestamp_seconds(before), 0);
    }
}
