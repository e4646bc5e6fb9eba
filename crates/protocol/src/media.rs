//! Media types (`Content-Type` and `Accept` values).

/// JSON, and the legacy (pre-2.1) shapes of Tessera's Q2T bodies.
pub const JSON: &str = "application/json";
/// Tessera's Q2T JSON with `managedParties` and `senderKey` (multi-tenancy).
pub const TESSERA_2_1: &str = "application/vnd.tessera-2.1+json";
/// Tessera's Q2T JSON with privacy groups; the shapes of 2.1.
pub const TESSERA_3_0: &str = "application/vnd.tessera-3.0+json";
/// Tessera's Q2T JSON with `mandatoryRecipients` on sends.
pub const TESSERA_4_0: &str = "application/vnd.tessera-4.0+json";
/// Every JSON media type a Q2T call with a JSON body accepts, oldest first.
pub const TESSERA_JSON: [&str; 4] = [JSON, TESSERA_2_1, TESSERA_3_0, TESSERA_4_0];
/// Binary bodies: encoded payloads on P2P, raw payloads on `/sendraw` and `/receiveraw`.
pub const OCTET_STREAM: &str = "application/octet-stream";
/// Plain text: hashes, `I'm up!`, versions, and every error body (Tessera's exception mappers
/// write text).
pub const TEXT_PLAIN: &str = "text/plain";
/// What `/metrics` serves everywhere: the text prometheus-client renders is OpenMetrics 1.0.0,
/// which Prometheus parses only when labelled so.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// What `/metrics` serves a client that asks for `text/plain` and not for OpenMetrics
/// (`promtool check metrics` reads it): Prometheus's text format 0.0.4
/// ([`crate::exposition`]).
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The type and subtype of a `Content-Type` value, without parameters (`; charset=utf-8`) and
/// surrounding spaces.
pub fn essence(value: &str) -> &str {
    value.split(';').next().unwrap_or_default().trim()
}

/// Whether a `Content-Type` value names `media` (ignoring parameters and case).
pub fn is(value: &str, media: &str) -> bool {
    essence(value).eq_ignore_ascii_case(essence(media))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_content_type_matches_whatever_its_parameters_and_case() {
        assert!(is("Application/Octet-Stream; x=1", OCTET_STREAM));
        assert!(is(" application/json ", JSON));
        assert!(!is("application/jsonx", JSON));
        assert_eq!(essence(OPENMETRICS), "application/openmetrics-text");
    }
}
