//! A repository's `Release` file (or the body of its `InRelease` once the signature check
//! has removed the OpenPGP wrapping): what the suite is, when it was made, until when it is
//! valid, and the size and SHA-256 digest of every index file below it.
//!
//! Only SHA-256 is used: apt no longer trusts MD5 or SHA-1, so their lists are ignored and a
//! Release without a `SHA256` list is refused. This module does not check signatures or
//! decide whether a `Valid-Until` in the past is acceptable; it gives the times as Unix
//! seconds for the caller to judge.

use std::collections::BTreeMap;

use super::deb822::{self, Deb822Error, Options, excerpt};

/// Why a Release file could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReleaseError {
    /// The text is not valid deb822.
    #[error(transparent)]
    Syntax(#[from] Deb822Error),
    /// The text is not exactly one paragraph.
    #[error("{file}: a Release file holds one paragraph, this one holds {count}")]
    Paragraphs {
        /// The file, as the caller named it.
        file: String,
        /// How many paragraphs it holds.
        count: usize,
    },
    /// `Date` or `Valid-Until` is not an RFC 2822 date in UTC.
    #[error(
        "{file}, line {line}: {field} `{value}` is not a date like `Sat, 15 Jun 2019 09:40:16 UTC`: {reason}"
    )]
    BadDate {
        /// The file, as the caller named it.
        file: String,
        /// The 1-based line.
        line: usize,
        /// `Date` or `Valid-Until`.
        field: &'static str,
        /// The value as written.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A yes/no field holds something else.
    #[error("{file}, line {line}: {field} is `{value}`, expected `yes` or `no`")]
    BadBool {
        /// The file, as the caller named it.
        file: String,
        /// The 1-based line.
        line: usize,
        /// The field.
        field: &'static str,
        /// The value as written.
        value: String,
    },
    /// There is no `SHA256` list, so no index could be verified.
    #[error(
        "{file}: the Release file has no SHA256 list of index files, so its indexes cannot be verified (apt refuses MD5 and SHA-1 too); use a repository that publishes SHA256 sums"
    )]
    NoSha256 {
        /// The file, as the caller named it.
        file: String,
    },
    /// A line of the SHA256 list is not `digest size path`.
    #[error("{file}, line {line}: `{text}` is not a `sha256 size path` entry: {reason}")]
    BadEntry {
        /// The file, as the caller named it.
        file: String,
        /// The 1-based line.
        line: usize,
        /// The line.
        text: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The SHA256 list gives one path two different sums or sizes.
    #[error("{file}, line {line}: `{path}` is listed twice with different sizes or digests")]
    Conflict {
        /// The file, as the caller named it.
        file: String,
        /// The 1-based line of the second entry.
        line: usize,
        /// The path.
        path: String,
    },
}

/// The size and digest a Release promises for one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexFile {
    /// The size in bytes.
    pub size: u64,
    /// The SHA-256 digest.
    pub sha256: [u8; 32],
}

/// The parsed Release.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Release {
    /// `Origin`.
    pub origin: Option<String>,
    /// `Label`.
    pub label: Option<String>,
    /// `Suite` (`oldstable`, `stretch`, …).
    pub suite: Option<String>,
    /// `Codename` (`jessie`, …).
    pub codename: Option<String>,
    /// `Version`.
    pub version: Option<String>,
    /// `Date`, in Unix seconds.
    pub date: Option<i64>,
    /// `Valid-Until`, in Unix seconds.
    pub valid_until: Option<i64>,
    /// `Architectures`.
    pub architectures: Vec<String>,
    /// `Components`.
    pub components: Vec<String>,
    /// `Acquire-By-Hash: yes`.
    pub acquire_by_hash: bool,
    /// `No-Support-for-Architecture-all: Packages`: `all` packages are listed in each
    /// architecture's index rather than only in `binary-all`.
    pub no_support_for_architecture_all: bool,
    /// The `SHA256` list, by path relative to the Release.
    pub files: BTreeMap<String, IndexFile>,
}

impl Release {
    /// Parses an unsigned Release body; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Release, ReleaseError> {
        let paragraphs = deb822::parse_all(text, file, Options::STRICT)?;
        let [paragraph] = paragraphs.as_slice() else {
            return Err(ReleaseError::Paragraphs {
                file: file.to_owned(),
                count: paragraphs.len(),
            });
        };
        let text_of = |name: &str| paragraph.get(name).map(str::to_owned);
        let words = |name: &str| {
            paragraph
                .get(name)
                .map(|value| value.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default()
        };
        let date_of = |field: &'static str| -> Result<Option<i64>, ReleaseError> {
            let Some(found) = paragraph.field(field) else {
                return Ok(None);
            };
            let value = found.value.trim();
            parse_date(value)
                .map(Some)
                .map_err(|reason| ReleaseError::BadDate {
                    file: file.to_owned(),
                    line: found.line,
                    field,
                    value: excerpt(value),
                    reason,
                })
        };
        let acquire_by_hash = match paragraph.field("Acquire-By-Hash") {
            None => false,
            Some(found) => match found.value.trim() {
                "yes" => true,
                "no" => false,
                other => {
                    return Err(ReleaseError::BadBool {
                        file: file.to_owned(),
                        line: found.line,
                        field: "Acquire-By-Hash",
                        value: excerpt(other),
                    });
                }
            },
        };
        let sha256 = paragraph
            .field("SHA256")
            .ok_or_else(|| ReleaseError::NoSha256 {
                file: file.to_owned(),
            })?;
        let mut files = BTreeMap::new();
        for (index, line) in sha256.value.split('\n').enumerate().skip(1) {
            let line_no = sha256.line.saturating_add(index);
            let bad = |reason| ReleaseError::BadEntry {
                file: file.to_owned(),
                line: line_no,
                text: excerpt(line.trim()),
                reason,
            };
            let mut parts = line.split_whitespace();
            let (Some(digest), Some(size), Some(path), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(bad("it needs exactly three words"));
            };
            let sha256 =
                parse_sha256(digest).ok_or_else(|| bad("the digest is not 64 hex digits"))?;
            let size = size
                .parse::<u64>()
                .map_err(|_| bad("the size is not a number"))?;
            let entry = IndexFile { size, sha256 };
            match files.get(path) {
                Some(existing) if *existing != entry => {
                    return Err(ReleaseError::Conflict {
                        file: file.to_owned(),
                        line: line_no,
                        path: excerpt(path),
                    });
                }
                Some(_) => {}
                None => {
                    files.insert(path.to_owned(), entry);
                }
            }
        }
        if files.is_empty() {
            return Err(ReleaseError::NoSha256 {
                file: file.to_owned(),
            });
        }
        Ok(Release {
            origin: text_of("Origin"),
            label: text_of("Label"),
            suite: text_of("Suite"),
            codename: text_of("Codename"),
            version: text_of("Version"),
            date: date_of("Date")?,
            valid_until: date_of("Valid-Until")?,
            architectures: words("Architectures"),
            components: words("Components"),
            acquire_by_hash,
            no_support_for_architecture_all: paragraph
                .get("No-Support-for-Architecture-all")
                .is_some_and(|value| value.trim() == "Packages"),
            files,
        })
    }

    /// The size and digest of an index path such as `main/binary-armhf/Packages.xz`.
    pub fn file(&self, path: &str) -> Option<&IndexFile> {
        self.files.get(path)
    }
}

/// Decodes 64 hex digits (either case) into a SHA-256 digest.
pub fn parse_sha256(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let nibble = |b: u8| -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    };
    let mut digest = [0u8; 32];
    for (out, pair) in digest.iter_mut().zip(bytes.chunks_exact(2)) {
        let &[high, low] = pair else {
            return None;
        };
        *out = (nibble(high)? << 4) | nibble(low)?;
    }
    Some(digest)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

fn number(text: &str, digits: std::ops::RangeInclusive<usize>) -> Option<i64> {
    if !digits.contains(&text.len()) || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Parses an RFC 2822 date as apt writes them (`Sat, 15 Jun 2019 09:40:16 UTC`) into Unix
/// seconds. The zone must be UTC (`UTC`, `GMT`, `Z`, `+0000` or `-0000`): apt itself
/// refuses other offsets in Release files.
pub fn parse_date(text: &str) -> Result<i64, &'static str> {
    let mut words = text.split_whitespace().peekable();
    if let Some(first) = words.peek()
        && let Some(day) = first.strip_suffix(',')
    {
        if !WEEKDAYS.contains(&day) {
            return Err("the weekday is not an English abbreviation such as `Sat`");
        }
        words.next();
    }
    let (Some(day), Some(month), Some(year), Some(time), Some(zone), None) = (
        words.next(),
        words.next(),
        words.next(),
        words.next(),
        words.next(),
        words.next(),
    ) else {
        return Err("it needs a day, month, year, time and zone");
    };
    let day = number(day, 1..=2).ok_or("the day is not a number")?;
    let month = MONTHS
        .iter()
        .position(|&name| name == month)
        .ok_or("the month is not an English abbreviation such as `Jun`")?;
    let month = i64::try_from(month).map_err(|_| "the month is out of range")? + 1;
    let year = number(year, 4..=4).ok_or("the year is not four digits")?;
    let mut clock = time.split(':');
    let (Some(hour), Some(minute), Some(second), None) =
        (clock.next(), clock.next(), clock.next(), clock.next())
    else {
        return Err("the time is not HH:MM:SS");
    };
    let hour = number(hour, 2..=2)
        .filter(|h| *h < 24)
        .ok_or("the hour is invalid")?;
    let minute = number(minute, 2..=2)
        .filter(|m| *m < 60)
        .ok_or("the minute is invalid")?;
    // 60 allows a leap second, which RFC 2822 permits.
    let second = number(second, 2..=2)
        .filter(|s| *s <= 60)
        .ok_or("the second is invalid")?;
    if !matches!(zone, "UTC" | "GMT" | "Z" | "+0000" | "-0000") {
        return Err("the zone is not UTC");
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if day < 1 || day > month_days {
        return Err("the day does not exist in that month");
    }
    // Days since 1970-01-01 by the civil-calendar formula (era of 400 years); the year has
    // four digits, so nothing here can overflow.
    let shifted = if month <= 2 { year - 1 } else { year };
    let era = shifted.div_euclid(400);
    let year_of_era = shifted - era * 400;
    let month_index = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    Ok(days * 86_400 + hour * 3600 + minute * 60 + second)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Modelled on a Raspbian jessie Release (digests shortened lists, real layout).
    const JESSIE: &str = "\
Origin: Raspbian
Label: Raspbian
Suite: oldoldstable
Codename: jessie
Date: Sat, 15 Jun 2019 09:40:16 UTC
Architectures: armhf
Components: main contrib non-free rpi firmware
Description: Raspbian jessie
MD5Sum:
 0d7e3e7d0f1a1d7e4c6f0e2ab5b1e5d4 10431530 main/binary-armhf/Packages
SHA1:
 7c2e3f1a9b0d4e5f6a7b8c9d0e1f2a3b4c5d6e7f 10431530 main/binary-armhf/Packages
SHA256:
 3a5b5d4b0f5b7d8d8e5e2f1c4a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b 10431530 main/binary-armhf/Packages
 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08  2929356 main/binary-armhf/Packages.xz
 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855        0 contrib/binary-armhf/Packages
";

    #[test]
    fn parses_a_raspbian_release() {
        let release = Release::parse(JESSIE, "jessie/Release").unwrap();
        assert_eq!(release.origin.as_deref(), Some("Raspbian"));
        assert_eq!(release.codename.as_deref(), Some("jessie"));
        assert_eq!(release.suite.as_deref(), Some("oldoldstable"));
        assert_eq!(release.date, Some(1_560_591_616));
        assert_eq!(release.valid_until, None);
        assert_eq!(release.architectures, ["armhf"]);
        assert_eq!(release.components.len(), 5);
        assert!(!release.acquire_by_hash);
        assert_eq!(release.files.len(), 3);
        let xz = release.file("main/binary-armhf/Packages.xz").unwrap();
        assert_eq!(xz.size, 2_929_356);
        assert_eq!(xz.sha256[..4], [0x9f, 0x86, 0xd0, 0x81]);
        assert!(release.file("main/binary-arm64/Packages").is_none());
    }

    #[test]
    fn parses_a_modern_release_with_valid_until() {
        let text = "Origin: Debian\nSuite: bookworm-updates\nDate: Thu, 26 Nov 2026 08:14:11 +0000\nValid-Until: Thu, 3 Dec 2026 08:14:11 GMT\nAcquire-By-Hash: yes\nNo-Support-for-Architecture-all: Packages\nSHA256:\n e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0 main/binary-all/Packages\n";
        let release = Release::parse(text, "Release").unwrap();
        assert!(release.acquire_by_hash);
        assert!(release.no_support_for_architecture_all);
        assert_eq!(
            release.valid_until.unwrap() - release.date.unwrap(),
            7 * 86_400
        );
    }

    #[test]
    fn refuses_release_without_sha256() {
        let text = JESSIE.split("SHA256:").next().unwrap();
        let err = Release::parse(text, "old/Release").unwrap_err();
        assert_eq!(
            err,
            ReleaseError::NoSha256 {
                file: "old/Release".into()
            }
        );
        assert!(err.to_string().contains("no SHA256 list"));
    }

    #[test]
    fn refuses_bad_entries_with_line_numbers() {
        let text = JESSIE.replace(" 2929356 main", " 29x9356 main");
        let err = Release::parse(&text, "R").unwrap_err();
        assert!(
            matches!(err, ReleaseError::BadEntry { line: 15, .. }),
            "{err}"
        );
        let text = JESSIE.replace(
            "0 contrib/binary-armhf/Packages",
            "1 main/binary-armhf/Packages.xz",
        );
        assert!(matches!(
            Release::parse(&text, "R"),
            Err(ReleaseError::Conflict { .. })
        ));
        let text = JESSIE.replace(
            "Sat, 15 Jun 2019 09:40:16 UTC",
            "Sat, 15 Jun 2019 09:40:16 +0200",
        );
        let err = Release::parse(&text, "R").unwrap_err();
        assert!(
            matches!(
                err,
                ReleaseError::BadDate {
                    line: 5,
                    field: "Date",
                    ..
                }
            ),
            "{err}"
        );
        assert!(matches!(
            Release::parse(&format!("{JESSIE}\nOrigin: x\n"), "R"),
            Err(ReleaseError::Paragraphs { count: 2, .. })
        ));
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("Thu, 01 Jan 1970 00:00:00 UTC"), Ok(0));
        assert_eq!(parse_date("29 Feb 2000 23:59:59 Z"), Ok(951_868_799));
        assert_eq!(
            parse_date("Tue, 1 Mar 2022 12:00:00 GMT"),
            Ok(1_646_136_000)
        );
        assert!(parse_date("Sat, 29 Feb 2019 00:00:00 UTC").is_err());
        assert!(parse_date("Sat, 15 June 2019 09:40:16 UTC").is_err());
        assert!(parse_date("Sat, 15 Jun 2019 9:40:16 UTC").is_err());
        assert!(parse_date("Xyz, 15 Jun 2019 09:40:16 UTC").is_err());
        assert!(parse_date("").is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn random_text_never_panics(text in "[ -~\\n]{0,300}") {
            let _ = Release::parse(&text, "random");
            let _ = parse_date(&text);
        }

        #[test]
        fn mutated_release_never_panics(at in 0usize..1200, byte in 0u8..128) {
            let mut bytes = JESSIE.as_bytes().to_vec();
            if let Some(slot) = bytes.get_mut(at % JESSIE.len()) {
                *slot = byte;
            }
            let text = String::from_utf8_lossy(&bytes);
            let _ = Release::parse(&text, "mutated");
        }
    }
}
