//! Debian package versions, `[epoch:]upstream_version[-debian_revision]`, validated as
//! Debian Policy 5.6.12 and dpkg require and ordered exactly as dpkg orders them.
//!
//! The ordering is dpkg's `verrevcmp`: within each part, runs of non-digits compare
//! character by character with `~` before everything (even the end of the string) and
//! letters before other characters, and runs of digits compare as numbers. A version
//! without a revision equals the same version with revision `0`, as in dpkg. This module
//! does not know about relations between packages (see `relation`).

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// Versions longer than this are refused: real ones are a few dozen characters.
const MAX_VERSION_LEN: usize = 256;
const _: () = assert!(MAX_VERSION_LEN < u16::MAX as usize);

/// Why a version string is not a Debian version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// The string is empty or blank.
    #[error("the version is empty")]
    Empty,
    /// The string is absurdly long.
    #[error("version `{version}…` is longer than {max} characters")]
    TooLong {
        /// The start of the version.
        version: String,
        /// The limit.
        max: usize,
    },
    /// The string holds a space inside it.
    #[error("version `{0}` contains a space")]
    Space(String),
    /// The epoch before `:` is not a number that fits.
    #[error("version `{0}` has an epoch that is not a non-negative number below 2^31")]
    BadEpoch(String),
    /// Nothing between the epoch and the revision.
    #[error("version `{0}` has an empty upstream part")]
    EmptyUpstream(String),
    /// The upstream part does not start with a digit (Policy 5.6.12).
    #[error("version `{0}` does not start with a digit (after any epoch)")]
    NoLeadingDigit(String),
    /// The version ends with `-`.
    #[error("version `{0}` ends with `-`: its Debian revision is empty")]
    EmptyRevision(String),
    /// A character outside what Policy allows in that part.
    #[error("version `{version}` contains `{character}`, which is not allowed in its {part}")]
    BadCharacter {
        /// The whole version.
        version: String,
        /// The offending character.
        character: char,
        /// Which part: "upstream version" or "Debian revision".
        part: &'static str,
    },
}

/// A validated Debian version. Equality and order are dpkg's (so `1.0` equals `1.0-0`
/// and `0:1.0`); [`Version::as_str`] keeps the text as written.
#[derive(Clone)]
pub struct Version {
    text: Box<str>,
    epoch: u32,
    /// Byte range of the upstream part within `text`.
    upstream: (u16, u16),
    /// Start of the revision within `text` (after the `-`), or `text.len()` when absent.
    revision: u16,
}

impl Version {
    /// Parses and validates a version; surrounding blanks are ignored, as dpkg does.
    pub fn parse(text: &str) -> Result<Version, VersionError> {
        let text = text.trim_matches([' ', '\t', '\n']);
        if text.is_empty() {
            return Err(VersionError::Empty);
        }
        if text.len() > MAX_VERSION_LEN {
            let cut = text.char_indices().nth(32).map_or(text.len(), |(at, _)| at);
            return Err(VersionError::TooLong {
                version: text.get(..cut).unwrap_or("").to_owned(),
                max: MAX_VERSION_LEN,
            });
        }
        if text.contains([' ', '\t', '\n']) {
            return Err(VersionError::Space(text.to_owned()));
        }
        let (epoch, upstream_start) = match text.find(':') {
            Some(colon) => {
                let digits = text.get(..colon).unwrap_or("");
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(VersionError::BadEpoch(text.to_owned()));
                }
                let epoch = digits
                    .parse::<u32>()
                    .ok()
                    .filter(|&epoch| epoch <= i32::MAX as u32)
                    .ok_or_else(|| VersionError::BadEpoch(text.to_owned()))?;
                (epoch, colon.saturating_add(1))
            }
            None => (0, 0),
        };
        let rest = text.get(upstream_start..).unwrap_or("");
        let (upstream_end, revision) = match rest.rfind('-') {
            Some(dash) => {
                let revision = dash.saturating_add(1);
                if revision >= rest.len() {
                    return Err(VersionError::EmptyRevision(text.to_owned()));
                }
                (
                    upstream_start.saturating_add(dash),
                    upstream_start.saturating_add(revision),
                )
            }
            None => (text.len(), text.len()),
        };
        let upstream = text.get(upstream_start..upstream_end).unwrap_or("");
        if upstream.is_empty() {
            return Err(VersionError::EmptyUpstream(text.to_owned()));
        }
        if !upstream.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(VersionError::NoLeadingDigit(text.to_owned()));
        }
        let bad = |part: &'static str, allowed: &str, value: &str| {
            value
                .chars()
                .find(|&c| !c.is_ascii_alphanumeric() && !allowed.contains(c))
                .map(|character| VersionError::BadCharacter {
                    version: text.to_owned(),
                    character,
                    part,
                })
        };
        // dpkg lets `-` and `:` into the upstream part: the split above already made sure
        // a `-` there means a revision follows and a `:` means an epoch precedes.
        if let Some(error) = bad("upstream version", ".+~-:", upstream) {
            return Err(error);
        }
        let revision_text = text.get(revision..).unwrap_or("");
        if let Some(error) = bad("Debian revision", ".+~", revision_text) {
            return Err(error);
        }
        Ok(Version {
            text: text.into(),
            epoch,
            upstream: (offset(upstream_start), offset(upstream_end)),
            revision: offset(revision),
        })
    }

    /// The version as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The version as dpkg writes it into its database: the epoch only when it is not 0 or
    /// the upstream part holds a `:`, leading zeros of the epoch dropped.
    pub fn to_dpkg_string(&self) -> String {
        let mut out = String::with_capacity(self.text.len());
        if self.epoch != 0 || self.upstream().contains(':') {
            out.push_str(&self.epoch.to_string());
            out.push(':');
        }
        out.push_str(self.upstream());
        if !self.revision().is_empty() {
            out.push('-');
            out.push_str(self.revision());
        }
        out
    }

    /// The epoch (0 when absent).
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The upstream part.
    pub fn upstream(&self) -> &str {
        self.text
            .get(usize::from(self.upstream.0)..usize::from(self.upstream.1))
            .unwrap_or("")
    }

    /// The Debian revision, empty when absent.
    pub fn revision(&self) -> &str {
        self.text.get(usize::from(self.revision)..).unwrap_or("")
    }
}

/// An offset into a version, which [`MAX_VERSION_LEN`] keeps within `u16` (offsets are
/// kept small because an archive index holds hundreds of thousands of versions).
fn offset(at: usize) -> u16 {
    u16::try_from(at).unwrap_or(u16::MAX)
}

/// dpkg's weight of one character in a non-digit run; `None` is the end of the string.
fn weight(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp` on one part (upstream or revision).
pub fn compare_part(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0usize, 0usize);
    let digit = |s: &[u8], at: usize| s.get(at).is_some_and(u8::is_ascii_digit);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !digit(a, i)) || (j < b.len() && !digit(b, j)) {
            let (wa, wb) = (weight(a.get(i).copied()), weight(b.get(j).copied()));
            if wa != wb {
                return wa.cmp(&wb);
            }
            i = i.saturating_add(1);
            j = j.saturating_add(1);
        }
        while a.get(i) == Some(&b'0') {
            i = i.saturating_add(1);
        }
        while b.get(j) == Some(&b'0') {
            j = j.saturating_add(1);
        }
        let mut first_difference = Ordering::Equal;
        while digit(a, i) && digit(b, j) {
            if first_difference == Ordering::Equal {
                first_difference = a.get(i).cmp(&b.get(j));
            }
            i = i.saturating_add(1);
            j = j.saturating_add(1);
        }
        if digit(a, i) {
            return Ordering::Greater;
        }
        if digit(b, j) {
            return Ordering::Less;
        }
        if first_difference != Ordering::Equal {
            return first_difference;
        }
    }
    Ordering::Equal
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| compare_part(self.upstream(), other.upstream()))
            .then_with(|| compare_part(self.revision(), other.revision()))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Version({:?})", &*self.text)
    }
}

impl FromStr for Version {
    type Err = VersionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Version::parse(text)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    #[test]
    fn splits_parts() {
        let version = v("1:7.0.33-0+deb9u1");
        assert_eq!(version.epoch(), 1);
        assert_eq!(version.upstream(), "7.0.33");
        assert_eq!(version.revision(), "0+deb9u1");
        let version = v("2.0.1-2-3");
        assert_eq!(version.upstream(), "2.0.1-2");
        assert_eq!(version.revision(), "3");
        let version = v("1:2:3");
        assert_eq!(version.upstream(), "2:3");
        assert_eq!(v(" 1.0 ").as_str(), "1.0");
        assert_eq!(v("0:1.0-1").to_dpkg_string(), "1.0-1");
        assert_eq!(v("01:1.0").to_dpkg_string(), "1:1.0");
        assert_eq!(v("0:1:2").to_dpkg_string(), "0:1:2");
    }

    #[test]
    fn hand_cases_match_dpkg() {
        let less = [
            ("1.0~rc1", "1.0"),
            ("2.0", "1:0.1"),
            ("1.0-1", "1.0-1+b1"),
            ("7.0.33-0+deb9u1", "7.0.33-0+deb9u2"),
            ("7.0.33-0+deb9u1", "7.0.33-1"),
            ("1.0~~", "1.0~"),
            ("1.0~", "1.0"),
            ("1.0", "1.0a"),
            ("1.0a", "1.0+"),
            ("1.0", "1.0.1"),
            ("1.9", "1.10"),
            ("1.0-1~bpo1", "1.0-1"),
            ("2.19-18+deb8u10", "2.24-11+deb9u4"),
            ("1.6.2-1+deb8u1", "1.10.3-1+deb9u1"),
        ];
        for (a, b) in less {
            assert!(v(a) < v(b), "{a} < {b}");
            assert!(v(b) > v(a), "{b} > {a}");
        }
        for (a, b) in [
            ("1.0", "1.0-0"),
            ("0:1.0", "1.0"),
            ("1.01", "1.1"),
            ("01:1", "1:1"),
        ] {
            assert_eq!(v(a), v(b), "{a} = {b}");
        }
    }

    #[test]
    fn refuses_invalid_versions() {
        for (text, expected) in [
            ("", VersionError::Empty),
            ("a1.0", VersionError::NoLeadingDigit("a1.0".into())),
            ("1.0-", VersionError::EmptyRevision("1.0-".into())),
            (":1.0", VersionError::BadEpoch(":1.0".into())),
            ("x:1.0", VersionError::BadEpoch("x:1.0".into())),
            (
                "99999999999:1",
                VersionError::BadEpoch("99999999999:1".into()),
            ),
            ("1:-1", VersionError::EmptyUpstream("1:-1".into())),
            ("1 0", VersionError::Space("1 0".into())),
        ] {
            assert_eq!(Version::parse(text).unwrap_err(), expected, "{text}");
        }
        assert!(matches!(
            Version::parse("1.0_1"),
            Err(VersionError::BadCharacter { character: '_', .. })
        ));
        assert!(matches!(
            Version::parse("1.0-1_2"),
            Err(VersionError::BadCharacter {
                character: '_',
                part: "Debian revision",
                ..
            })
        ));
        assert!(matches!(
            Version::parse(&"1".repeat(300)),
            Err(VersionError::TooLong { .. })
        ));
    }

    /// Versions built from the pieces that make dpkg's ordering subtle.
    pub(crate) fn version_strategy() -> impl Strategy<Value = String> {
        let piece = prop::sample::select(vec![
            "0", "1", "2", "9", "10", "01", "001", "a", "b", "z", "A", ".", "+", "~", "~~", "rc",
            "deb9u1", "+b1",
        ]);
        (
            prop::option::of(0u32..3),
            prop::sample::select(vec!["0", "1", "2", "10"]),
            prop::collection::vec(piece.clone(), 0..4),
            prop::option::of(prop::collection::vec(piece, 1..3)),
        )
            .prop_map(|(epoch, lead, rest, revision)| {
                let mut text = String::new();
                if let Some(epoch) = epoch {
                    text.push_str(&format!("{epoch}:"));
                }
                text.push_str(lead);
                text.extend(rest);
                if let Some(revision) = revision {
                    text.push('-');
                    text.extend(revision);
                }
                text
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn random_text_never_panics(text in "[ -~]{0,40}") {
            if let Ok(version) = Version::parse(&text) {
                prop_assert_eq!(version.cmp(&version), Ordering::Equal);
                let _ = (version.upstream(), version.revision(), version.epoch());
            }
        }

        #[test]
        fn order_is_total(a in version_strategy(), b in version_strategy(), c in version_strategy()) {
            let (a, b, c) = (v(&a), v(&b), v(&c));
            prop_assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
            if a <= b && b <= c {
                prop_assert!(a <= c, "{a} <= {b} <= {c}");
            }
            if a == b {
                prop_assert_eq!(a.cmp(&c), b.cmp(&c));
            }
        }
    }
}
