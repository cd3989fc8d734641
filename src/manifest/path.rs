//! File names in JSON: paths and symlink targets are bytes on disk, JSON strings are
//! UTF-8, so the manifest writes them with one reversible escape.
//!
//! The rule: valid UTF-8 is written as is, except `%`, which becomes `%25`; every byte that
//! is not part of valid UTF-8 becomes `%XX` (uppercase hex). Reading undoes it and refuses
//! any other spelling (`%41` for `A`, lowercase hex, a lone `%`), so each name has exactly
//! one form and manifests compare as text. Paths start with `/`, relative to the root of
//! their filesystem. This module does not decide which files are listed.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer};
use serde::ser::{Serialize, Serializer};

use crate::tree::TreePath;

/// Writes `bytes` in the manifest's escaped form.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '%' {
                out.push_str("%25");
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Reads the escaped form back; `None` unless `text` is exactly what [`escape`] writes.
pub fn unescape(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&first, tail)) = rest.split_first() {
        if first == b'%' {
            let hex = |c: u8| match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'A'..=b'F' => Some(c - b'A' + 10),
                _ => None,
            };
            let hi = tail.first().copied().and_then(hex)?;
            let lo = tail.get(1).copied().and_then(hex)?;
            out.push(hi << 4 | lo);
            rest = tail.get(2..)?;
        } else {
            out.push(first);
            rest = tail;
        }
    }
    (escape(&out) == text).then_some(out)
}

/// A path of a filesystem in the image, written `/etc/hostname`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EncodedPath(pub TreePath);

impl fmt::Display for EncodedPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&escape(&self.0.to_bytes()))
    }
}

impl Serialize for EncodedPath {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EncodedPath {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let bad = |why: &str| {
            de::Error::custom(format!(
                "path {:?} {why}",
                text.chars().take(200).collect::<String>()
            ))
        };
        let bytes = unescape(&text).ok_or_else(|| bad("is not in the manifest's escaped form"))?;
        let path = TreePath::parse(&bytes).map_err(|e| bad(&format!("is refused: {e}")))?;
        // One spelling per path: absolute, no `//`, `.` or trailing `/`.
        if path.is_root() || path.to_bytes() != bytes {
            return Err(bad("is not a plain absolute path to a file (/dir/name)"));
        }
        Ok(Self(path))
    }
}

/// Bytes that are not a path of the image, such as a symlink's target.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EncodedBytes(pub Vec<u8>);

impl Serialize for EncodedBytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&escape(&self.0))
    }
}

impl<'de> Deserialize<'de> for EncodedBytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        unescape(&text).map(Self).ok_or_else(|| {
            de::Error::custom(format!(
                "{:?} is not in the manifest's escaped form (% is written %25, bytes that are not UTF-8 %XX)",
                text.chars().take(200).collect::<String>()
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_is_reversible_and_canonical() {
        let cases: [&[u8]; 5] = [
            b"/etc/hostname",
            b"/a%b",
            b"/\xff\xfe",
            "/ünï".as_bytes(),
            b"/x\ny",
        ];
        for bytes in cases {
            let text = escape(bytes);
            assert_eq!(unescape(&text).as_deref(), Some(bytes), "{text}");
        }
        assert_eq!(escape(b"/a%b\xff"), "/a%25b%FF");
        assert_eq!(unescape("%41"), None);
        assert_eq!(unescape("%ff"), None);
        assert_eq!(unescape("%"), None);
        assert_eq!(unescape("%2"), None);
        assert_eq!(unescape("%C3%BC"), None, "valid UTF-8 is written as itself");
    }

    #[test]
    fn paths_have_one_spelling() {
        let parse = |s: &str| serde_json::from_str::<EncodedPath>(&format!("{s:?}"));
        assert!(parse("/etc/hostname").is_ok());
        for bad in [
            "etc/hostname",
            "/etc//hostname",
            "/etc/./x",
            "/etc/",
            "/",
            "/a/../b",
            "",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
