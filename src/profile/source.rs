//! Where an input comes from (a URL or a file beside the profile) and how it is pinned
//! (sha256 digests, OpenPGP fingerprints).
//!
//! Nothing is fetched here: this module only checks that a location is well-formed and
//! that a local file exists, so `check` can say so before any download.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// A remote or local input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An `http`, `https` or `file` URL.
    Url(url::Url),
    /// A local file or directory, already resolved against the profile's folder.
    Path(PathBuf),
}

/// What a source may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowed {
    /// `http`, `https`, `file` URLs.
    AnyUrl,
    /// Only `https` and `file` URLs: for inputs without a signature, where `http` would let
    /// anyone on the path swap the bytes (a digest is still required for https).
    SecureUrl,
}

/// What kind of local entry a path must name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// A regular file (or a link to one).
    File,
    /// A directory.
    Directory,
}

impl Source {
    /// Parses a URL (`scheme://…`) or a path relative to `base_dir`, and checks that a local
    /// path exists and is of the expected kind.
    pub fn parse(
        text: &str,
        base_dir: &Path,
        allowed: Allowed,
        expect: Expect,
    ) -> Result<Self, String> {
        if text.is_empty() {
            return Err("is empty; give a URL or a path relative to the profile".to_string());
        }
        if let Some((scheme, _)) = text.split_once("://") {
            let parsed =
                url::Url::parse(text).map_err(|e| format!("`{text}` is not a valid URL: {e}"))?;
            let scheme = scheme.to_ascii_lowercase();
            match (scheme.as_str(), allowed) {
                ("https" | "file", _) | ("http", Allowed::AnyUrl) => {}
                ("http", Allowed::SecureUrl) => {
                    return Err(format!(
                        "`{text}` is plain http; use an https URL or a local path"
                    ));
                }
                _ => {
                    return Err(format!(
                        "`{scheme}` URLs are not supported; use http, https or file"
                    ));
                }
            }
            if scheme != "file" && parsed.host_str().is_none_or(str::is_empty) {
                return Err(format!("`{text}` has no host name"));
            }
            if scheme == "file" {
                let path = parsed
                    .to_file_path()
                    .map_err(|()| format!("`{text}` is not a local file URL"))?;
                check_exists(&path, text, expect)?;
            }
            return Ok(Self::Url(parsed));
        }
        let path = base_dir.join(text);
        check_exists(&path, text, expect)?;
        Ok(Self::Path(path))
    }
}

fn check_exists(path: &Path, as_written: &str, expect: Expect) -> Result<(), String> {
    match (std::fs::metadata(path), expect) {
        (Ok(meta), Expect::File) if meta.is_file() => Ok(()),
        (Ok(meta), Expect::Directory) if meta.is_dir() => Ok(()),
        (Ok(_), Expect::File) => Err(format!("`{as_written}` is not a file")),
        (Ok(_), Expect::Directory) => Err(format!("`{as_written}` is not a directory")),
        (Err(_), _) => Err(format!(
            "`{as_written}` does not exist (paths are relative to the profile's folder)"
        )),
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Url(url) => f.write_str(url.as_str()),
            Self::Path(path) => write!(f, "{}", path.display()),
        }
    }
}

/// A sha256 digest, stored as 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Sha256Hex(String);

impl Sha256Hex {
    /// Parses 64 hex digits (either case).
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(text.to_ascii_lowercase()))
        } else {
            Err(format!(
                "`{text}` is not a sha256 digest: expected 64 hex digits, as `sha256sum` prints"
            ))
        }
    }

    /// The digest as lowercase hex.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An OpenPGP v4 fingerprint (40 hex digits) or v6 fingerprint (64), stored uppercase
/// without spaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// Parses a fingerprint, allowing the spaces `gpg` prints between groups.
    pub fn parse(text: &str) -> Result<Self, String> {
        let compact: String = text.chars().filter(|c| *c != ' ').collect();
        if (compact.len() == 40 || compact.len() == 64)
            && compact.bytes().all(|b| b.is_ascii_hexdigit())
        {
            Ok(Self(compact.to_ascii_uppercase()))
        } else if compact.len() == 16 || compact.len() == 8 {
            Err(format!(
                "`{text}` is a short key id, which anyone can forge; give the full 40-digit fingerprint (`gpg --show-keys --with-fingerprint KEYFILE`)"
            ))
        } else {
            Err(format!(
                "`{text}` is not an OpenPGP fingerprint: expected 40 hex digits (64 for a v6 key)"
            ))
        }
    }

    /// The fingerprint as uppercase hex.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_paths() {
        let dir = std::env::temp_dir();
        let ok = Source::parse(
            "https://downloads.example.org/a.zip",
            &dir,
            Allowed::AnyUrl,
            Expect::File,
        );
        assert!(matches!(ok, Ok(Source::Url(_))));
        assert!(
            Source::parse(
                "http://example.org/x",
                &dir,
                Allowed::SecureUrl,
                Expect::File
            )
            .unwrap_err()
            .contains("plain http")
        );
        assert!(
            Source::parse("ftp://example.org/x", &dir, Allowed::AnyUrl, Expect::File)
                .unwrap_err()
                .contains("not supported")
        );
        assert!(
            Source::parse("no-such-file-here.img", &dir, Allowed::AnyUrl, Expect::File)
                .unwrap_err()
                .contains("does not exist")
        );
        assert!(
            Source::parse(".", &dir, Allowed::AnyUrl, Expect::File)
                .unwrap_err()
                .contains("not a file")
        );
        assert!(matches!(
            Source::parse(".", &dir, Allowed::AnyUrl, Expect::Directory),
            Ok(Source::Path(_))
        ));
    }

    #[test]
    fn digests_and_fingerprints() {
        assert!(Sha256Hex::parse(&"A".repeat(64)).is_ok_and(|d| d.as_str() == "a".repeat(64)));
        assert!(Sha256Hex::parse("abc").is_err());
        let fpr = Fingerprint::parse("A0DA 38D0 D76E 8B5D 6388  7281 9165 938D 90FD DD2E").unwrap();
        assert_eq!(fpr.as_str(), "A0DA38D0D76E8B5D638872819165938D90FDDD2E");
        assert!(
            Fingerprint::parse("9165938D90FDDD2E")
                .unwrap_err()
                .contains("short key id")
        );
    }
}
