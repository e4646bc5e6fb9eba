//! API versions: the capability strings Tessera nodes advertise to each other in the
//! [`crate::header::SUPPORTED_API_VERSIONS`] header and to GoQuorum from `/version/api`.

/// The base API every node speaks.
pub const V1: &str = "v1";
/// Enhanced privacy (party protection, private state validation).
pub const V2: &str = "v2";
/// Multi-tenancy.
pub const V2_1: &str = "2.1";
/// Privacy groups.
pub const V3_0: &str = "3.0";
/// Mandatory recipients.
pub const V4_0: &str = "4.0";
/// CBOR payload codec.
pub const V5_0: &str = "5.0";

/// Every version Cloister supports, in the order Tessera lists them for GoQuorum.
pub const SUPPORTED: [&str; 6] = ["1.0", "2.0", V2_1, V3_0, V4_0, V5_0];

/// Every version Cloister advertises to peers, sorted as Tessera sends them.
pub const ADVERTISED_TO_PEERS: [&str; 6] = [V2_1, V3_0, V4_0, V5_0, V1, V2];

/// Splits the values of a `tesseraSupportedApiVersions` header (possibly repeated, possibly
/// comma-separated) into the individual version strings.
pub fn parse_header_values<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    values
        .into_iter()
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|version| !version.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_split_on_commas_and_repeats() {
        assert_eq!(
            parse_header_values(["v1,v2", " 5.0 ", ""]),
            ["v1", "v2", "5.0"]
        );
    }
}
