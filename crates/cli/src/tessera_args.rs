//! Tessera's legacy single-dash spellings (`tessera -keygen -filename key`,
//! `-configfile tessera.json`), rewritten to the double-dash forms clap understands, so scripts
//! written for Tessera keep working.

use std::ffi::OsString;

/// (Tessera spelling, Cloister spelling).
const SPELLINGS: &[(&str, &str)] = &[
    ("-keygen", "keygen"),
    ("-filename", "--filename"),
    ("-keygenconfig", "--argonconfig"),
    ("-configfile", "--configfile"),
];

/// Rewrites every argument that is exactly a legacy spelling; everything else is untouched.
pub(crate) fn normalize(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    args.into_iter()
        .map(|arg| {
            SPELLINGS
                .iter()
                .find(|(legacy, _)| arg == *legacy)
                .map_or(arg, |(_, modern)| OsString::from(modern))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_spellings_become_modern_ones() {
        let args = ["cloister", "-keygen", "-filename", "-x", "--filename"].map(OsString::from);
        assert_eq!(
            normalize(args),
            ["cloister", "keygen", "--filename", "-x", "--filename"]
        );
    }
}
