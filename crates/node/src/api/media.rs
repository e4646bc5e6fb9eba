//! Media types: how a client picks the API version of a Q2T call (tessera-api §2).

use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::HeaderMap;
use cloister_protocol::media;

use super::error::ApiError;

/// A JSON media type Tessera's Q2T app serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MediaType {
    /// `application/json`: the legacy shapes.
    Json,
    /// `application/vnd.tessera-2.1+json`: adds `managedParties` and `senderKey`.
    V2_1,
    /// `application/vnd.tessera-3.0+json`: as 2.1.
    V3_0,
    /// `application/vnd.tessera-4.0+json`: as 2.1, plus `mandatoryRecipients` on sends.
    V4_0,
}

impl MediaType {
    /// The media type string.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Json => media::JSON,
            Self::V2_1 => media::TESSERA_2_1,
            Self::V3_0 => media::TESSERA_3_0,
            Self::V4_0 => media::TESSERA_4_0,
        }
    }

    /// Recognises a media type, ignoring parameters (`; charset=utf-8`) and case.
    pub fn parse(value: &str) -> Option<Self> {
        [Self::Json, Self::V2_1, Self::V3_0, Self::V4_0]
            .into_iter()
            .find(|m| media::is(value, m.as_str()))
    }

    /// Whether responses carry `managedParties` and `senderKey` (multi-tenancy, 2.1+).
    pub fn is_multi_tenant(self) -> bool {
        self != Self::Json
    }

    /// The type of a JSON request body: `Content-Type`, `application/json` when absent.
    pub fn of_request(headers: &HeaderMap) -> Result<Self, ApiError> {
        match header_text(headers, CONTENT_TYPE.as_str()) {
            None => Ok(Self::Json),
            Some(value) => {
                Self::parse(value).ok_or_else(|| ApiError::UnsupportedMediaType(value.to_owned()))
            }
        }
    }

    /// The type to answer in: a recognised `Accept`, else the request's own type. `*/*` and
    /// absent mean "whatever the request used".
    pub fn of_response(headers: &HeaderMap, request: Self) -> Self {
        header_text(headers, ACCEPT.as_str())
            .and_then(|accept| accept.split(',').find_map(Self::parse))
            .unwrap_or(request)
    }

    /// The type of a GET (no body): `Accept` if recognised, else `Content-Type` (GoQuorum sends
    /// both), else legacy JSON.
    pub fn of_read(headers: &HeaderMap) -> Self {
        let request = header_text(headers, CONTENT_TYPE.as_str())
            .and_then(Self::parse)
            .unwrap_or(Self::Json);
        Self::of_response(headers, request)
    }
}

/// Whether the request's `Content-Type` is `application/octet-stream`.
pub fn is_octet_stream(headers: &HeaderMap) -> bool {
    header_text(headers, CONTENT_TYPE.as_str()).is_some_and(|v| media::is(v, media::OCTET_STREAM))
}

/// A header's value as text, if present and valid.
pub fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_are_recognised_with_parameters() {
        assert_eq!(
            MediaType::parse("application/json; charset=utf-8"),
            Some(MediaType::Json)
        );
        assert_eq!(
            MediaType::parse("application/vnd.tessera-4.0+json"),
            Some(MediaType::V4_0)
        );
        assert_eq!(MediaType::parse("text/plain"), None);
    }

    #[test]
    fn reads_follow_accept_then_content_type() {
        let mut headers = HeaderMap::new();
        assert_eq!(MediaType::of_read(&headers), MediaType::Json);
        headers.insert(CONTENT_TYPE, MediaType::V2_1.as_str().parse().unwrap());
        assert_eq!(MediaType::of_read(&headers), MediaType::V2_1);
        headers.insert(ACCEPT, "*/*".parse().unwrap());
        assert_eq!(MediaType::of_read(&headers), MediaType::V2_1);
        headers.insert(ACCEPT, MediaType::V3_0.as_str().parse().unwrap());
        assert_eq!(MediaType::of_read(&headers), MediaType::V3_0);
    }
}
