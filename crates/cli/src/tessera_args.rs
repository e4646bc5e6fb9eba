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
    ("-pidfile", "--pidfile"),
    ("-updatepassword", "keyupdate"),
];

/// How Tessera asks for its version alone (`tessera version`, `--version`, `-version`).
const VERSION_FLAGS: &[&str] = &["--version", "-version", "-V"];

/// Rewrites every argument that is exactly a legacy spelling; everything else is untouched.
/// A lone version flag becomes the `version` command, which prints the bare version number as
/// Tessera does (clap's own flag would print `cloister 0.1.0`).
pub(crate) fn normalize(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut args: Vec<OsString> = args
        .into_iter()
        .map(|arg| {
            SPELLINGS
                .iter()
                .find(|(legacy, _)| arg == *legacy)
                .map_or(arg, |(_, modern)| OsString::from(modern))
        })
        .collect();
    if args.len() == 2 && VERSION_FLAGS.iter().any(|flag| args[1] == *flag) {
        args[1] = OsString::from("version");
    }
    args
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

    #[test]
    fn a_lone_version_flag_is_the_version_command() {
        for flag in ["--version", "-version", "-V"] {
            assert_eq!(
                normalize(["cloister", flag].map(OsString::from)),
                ["cloister", "version"]
            );
        }
        let args = ["cloister", "-updatepassword", "-pidfile", "p"].map(OsString::from);
        assert_eq!(normalize(args), ["cloister", "keyupdate", "--pidfile", "p"]);
    }
}
