//! PartyInfo: what a node tells its peers in discovery (`POST /partyinfo`).
//!
//! Layout: `FIELD(url) count (FIELD(key) FIELD(url))×count ARRAY(partyUrls)`, UTF-8 URLs.
//! Recipients and parties have set semantics; every URL is normalised as Tessera's
//! `URLNormalizer` does (a `/` appended when the path is empty). Bytes after the parties array
//! are ignored, as Tessera's parser ignores them.

use std::collections::BTreeSet;

use crate::binary::{BinaryError, Reader, Writer};
use crate::keys::{KeyError, PublicKey};

/// A key and the URL of the node that holds it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Recipient {
    /// The party's public key.
    pub key: PublicKey,
    /// The normalised URL of the node serving that key.
    pub url: String,
}

/// One node's view of the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartyInfo {
    /// The sending node's own advertised URL (normalised).
    pub url: String,
    /// Keys and where they live (a current node sends only its own).
    pub recipients: BTreeSet<Recipient>,
    /// URLs of every node the sender knows (normalised).
    pub parties: BTreeSet<String>,
}

/// Why PartyInfo bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartyInfoError {
    /// The framing is broken.
    #[error("invalid PartyInfo: {0}")]
    Binary(#[from] BinaryError),
    /// A recipient key is not 32 bytes.
    #[error("invalid PartyInfo: {0}")]
    Key(#[from] KeyError),
    /// A URL is not UTF-8.
    #[error("invalid PartyInfo: {0} is not UTF-8")]
    NotUtf8(&'static str),
}

impl PartyInfo {
    /// Builds a PartyInfo, normalising every URL.
    pub fn new(
        url: &str,
        recipients: impl IntoIterator<Item = (PublicKey, String)>,
        parties: impl IntoIterator<Item = String>,
    ) -> Self {
        Self {
            url: normalize_url(url),
            recipients: recipients
                .into_iter()
                .map(|(key, url)| Recipient {
                    key,
                    url: normalize_url(&url),
                })
                .collect(),
            parties: parties.into_iter().map(|url| normalize_url(&url)).collect(),
        }
    }

    /// The wire encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Writer::new();
        out.field(self.url.as_bytes()).length(self.recipients.len());
        for recipient in &self.recipients {
            out.field(recipient.key.as_bytes())
                .field(recipient.url.as_bytes());
        }
        out.array(self.parties.iter().map(String::as_bytes));
        out.finish()
    }

    /// Decodes PartyInfo bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, PartyInfoError> {
        let mut input = Reader::new(bytes);
        let url = utf8(input.field("url")?, "url")?;
        let count = input.length("recipients")?;
        let mut recipients = Vec::new();
        for _ in 0..count {
            let key = PublicKey::from_slice(input.field("recipient key")?, "recipient key")?;
            recipients.push((key, utf8(input.field("recipient url")?, "recipient url")?));
        }
        let parties = input
            .array("parties")?
            .into_iter()
            .map(|party| utf8(party, "party url"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(&url, recipients, parties))
    }
}

/// Tessera's URL normalisation: append `/` when the URL has no path.
pub fn normalize_url(url: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    if url[after_scheme..].contains('/') {
        url.to_owned()
    } else {
        format!("{url}/")
    }
}

fn utf8(bytes: &[u8], what: &'static str) -> Result<String, PartyInfoError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| PartyInfoError::NotUtf8(what))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_without_a_path_gain_a_slash() {
        assert_eq!(
            normalize_url("http://localhost:8001"),
            "http://localhost:8001/"
        );
        assert_eq!(
            normalize_url("http://localhost:8001/"),
            "http://localhost:8001/"
        );
        assert_eq!(normalize_url("https://h/p"), "https://h/p");
    }

    #[test]
    fn re_encoding_a_short_url_yields_22_bytes() {
        let info = PartyInfo::new("http://localhost:8001", [], []);
        assert_eq!(info.encode()[..8], 22u64.to_be_bytes());
    }

    #[test]
    fn trailing_bytes_after_the_parties_are_ignored() {
        let mut bytes = PartyInfo::new("http://a:1/", [], ["http://b:2/".into()]).encode();
        bytes.extend_from_slice(&[0; 16]);
        assert_eq!(PartyInfo::decode(&bytes).unwrap().parties.len(), 1);
    }
}
