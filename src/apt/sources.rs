//! apt's source lists: the one-line `sources.list` format (`deb [options] URI suite
//! components…`) and the deb822 `.sources` format, read into one [`SourceEntry`] per
//! (URI, suite), and written back in either format for new lists. Rewriting the URIs of an
//! existing list is `rewrite`'s work.
//!
//! `deb-src` lines and disabled entries are skipped; `cdrom:` sources are refused because a
//! build cannot read a disc. This module does not read keys (`Signed-By` is kept as a path or
//! as the inline key text) and does not fetch anything.

use std::ops::Range;

use super::deb822::{self, Deb822Error, Options, excerpt};

/// Why a source list could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourcesError {
    /// The deb822 text is malformed.
    #[error(transparent)]
    Syntax(#[from] Deb822Error),
    /// A line or `Types` value names a type other than `deb` or `deb-src`.
    #[error("{file}, line {line}: `{word}` is not a source type; expected `deb` or `deb-src`")]
    UnknownType {
        /// The file, as the caller named it.
        file: String,
        /// The 1-based line.
        line: usize,
        /// The type as written.
        word: String,
    },
    /// A `cdrom:` source.
    #[error(
        "{file}, line {line}: cdrom: sources cannot be read during a build; comment the line out or use a network mirror"
    )]
    Cdrom {
        /// The file, as the caller named it.
        file: String,
        /// The 1-based line.
        line: usize,
    },
    /// A required part is missing.
    #[error("{file}, line {line}: the entry has no {what}")]
    Missing {
        /// The file, as the caller named it.
        file: String,
        /// The 1-based line.
        line: usize,
        /// What is missing: "URI", "suite", "components", a field name.
        what: &'static str,
    },
    /// An `[option]` is malformed or `[` is not closed.
    #[error(
        "{file}, line {line}: option `{option}` is not `name=value` (or `[` is not closed by `]`)"
    )]
    BadOption {
        /// The file, as the caller named it.
        file: String,
        /// The 1-based line.
        line: usize,
        /// The option as written.
        option: String,
    },
    /// The URI has no scheme.
    #[error("{file}, line {line}: `{uri}` is not a URI such as `http://example.org/debian`")]
    BadUri {
        /// The file, as the caller named it.
        file: String,
        /// The 1-based line.
        line: usize,
        /// The URI as written.
        uri: String,
    },
    /// A flat suite (ending in `/`) is given components.
    #[error(
        "{file}, line {line}: suite `{suite}` ends with `/` (a flat repository), so it takes no components"
    )]
    FlatWithComponents {
        /// The file, as the caller named it.
        file: String,
        /// The 1-based line.
        line: usize,
        /// The suite.
        suite: String,
    },
    /// A yes/no value holds something else.
    #[error("{file}, line {line}: {field} is `{value}`, expected `yes` or `no`")]
    BadBool {
        /// The file, as the caller named it.
        file: String,
        /// The 1-based line.
        line: usize,
        /// The field or option.
        field: &'static str,
        /// The value as written.
        value: String,
    },
    /// An inline key cannot be written in the one-line format.
    #[error(
        "the source for {uri} carries its key inline, which only the deb822 .sources format can hold"
    )]
    InlineKeyInOneLine {
        /// The entry's URI.
        uri: String,
    },
}

/// Which syntax a list file uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourcesFormat {
    /// `sources.list` and `*.list`.
    OneLine,
    /// `*.sources`.
    Deb822,
}

impl SourcesFormat {
    /// The format apt assumes from a file name, or `None` for a name apt ignores.
    pub fn from_file_name(name: &str) -> Option<SourcesFormat> {
        if name.ends_with(".list") {
            Some(SourcesFormat::OneLine)
        } else if name.ends_with(".sources") {
            Some(SourcesFormat::Deb822)
        } else {
            None
        }
    }
}

/// `Signed-By`: which key verifies the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedBy {
    /// Key file paths or fingerprints, as written.
    Path(String),
    /// An ASCII-armored key block written in the `.sources` file itself.
    Inline(String),
}

/// One repository suite to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceEntry {
    /// The repository URI, as written (after any rewrite).
    pub uri: String,
    /// The suite (`jessie`), or for a flat repository the path ending in `/` (`./`).
    pub suite: String,
    /// The components (`main contrib`); empty for a flat repository.
    pub components: Vec<String>,
    /// `signed-by=` / `Signed-By:`.
    pub signed_by: Option<SignedBy>,
    /// `arch=` / `Architectures:`; empty means the native architectures.
    pub architectures: Vec<String>,
    /// `trusted=yes` / `Trusted: yes`: no signature required.
    pub trusted: bool,
    /// The suite ends with `/`: indexes lie directly under `URI/suite`.
    pub flat: bool,
    /// The list file, as the caller named it.
    pub origin_file: String,
    /// The 1-based line of the entry (the paragraph's first line for deb822).
    pub line: usize,
}

/// Parses a list in either format.
pub fn parse(
    text: &str,
    file: &str,
    format: SourcesFormat,
) -> Result<Vec<SourceEntry>, SourcesError> {
    match format {
        SourcesFormat::OneLine => parse_one_line(text, file),
        SourcesFormat::Deb822 => parse_deb822(text, file),
    }
}

/// The byte ranges of the whitespace-separated words of `text`.
pub(super) fn words(text: &str) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        let rest = text.get(at..)?;
        let start = at.saturating_add(rest.len() - rest.trim_start().len());
        let word_len = text
            .get(start..)?
            .find(char::is_whitespace)
            .unwrap_or(text.len().saturating_sub(start));
        if word_len == 0 {
            return None;
        }
        at = start.saturating_add(word_len);
        Some(start..at)
    })
}

/// The parts of one `deb`/`deb-src` line, as ranges into the line.
pub(super) struct OneLine {
    source: bool,
    options: Vec<Range<usize>>,
    pub(super) uri: Range<usize>,
    suite: Range<usize>,
    components: Vec<Range<usize>>,
}

fn yes_no(value: &str, field: &'static str, file: &str, line: usize) -> Result<bool, SourcesError> {
    match value.trim() {
        "yes" => Ok(true),
        "no" => Ok(false),
        other => Err(SourcesError::BadBool {
            file: file.to_owned(),
            line,
            field,
            value: excerpt(other),
        }),
    }
}

fn check_uri(uri: &str, file: &str, line: usize) -> Result<(), SourcesError> {
    if uri.starts_with("cdrom:") {
        return Err(SourcesError::Cdrom {
            file: file.to_owned(),
            line,
        });
    }
    let scheme_ok = uri.split_once(':').is_some_and(|(scheme, rest)| {
        !rest.is_empty()
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+.-".contains(&b))
    });
    if scheme_ok {
        Ok(())
    } else {
        Err(SourcesError::BadUri {
            file: file.to_owned(),
            line,
            uri: excerpt(uri),
        })
    }
}

/// The word ranges of `text`, shifted by `base` (where `text` starts within its line).
fn words_at(text: &str, base: usize) -> impl Iterator<Item = Range<usize>> + '_ {
    words(text).map(move |r| r.start.saturating_add(base)..r.end.saturating_add(base))
}

/// Splits one line into its parts; `None` for a blank or comment-only line.
pub(super) fn split_line(
    line: &str,
    file: &str,
    line_no: usize,
) -> Result<Option<OneLine>, SourcesError> {
    // apt treats `#` as the start of a comment anywhere on a line.
    let content = line.split('#').next().unwrap_or("");
    let Some(kind) = words(content).next() else {
        return Ok(None);
    };
    let source = match content.get(kind.clone()) {
        Some("deb") => false,
        Some("deb-src") => true,
        other => {
            return Err(SourcesError::UnknownType {
                file: file.to_owned(),
                line: line_no,
                word: excerpt(other.unwrap_or("")),
            });
        }
    };
    let mut after = kind.end;
    let mut options = Vec::new();
    let rest = content.get(after..).unwrap_or("");
    if rest.trim_start().starts_with('[') {
        let open = after.saturating_add(rest.len() - rest.trim_start().len());
        let close = content
            .get(open..)
            .and_then(|text| text.find(']'))
            .map(|at| open.saturating_add(at))
            .ok_or_else(|| SourcesError::BadOption {
                file: file.to_owned(),
                line: line_no,
                option: excerpt(content.get(open..).unwrap_or("").trim()),
            })?;
        let inside_start = open.saturating_add(1);
        let inside = content.get(inside_start..close).unwrap_or("");
        options = words_at(inside, inside_start).collect();
        after = close.saturating_add(1);
    }
    let mut parts = words_at(content.get(after..).unwrap_or(""), after);
    let missing = |what| SourcesError::Missing {
        file: file.to_owned(),
        line: line_no,
        what,
    };
    let uri = parts.next().ok_or_else(|| missing("URI"))?;
    check_uri(content.get(uri.clone()).unwrap_or(""), file, line_no)?;
    let suite = parts.next().ok_or_else(|| missing("suite"))?;
    Ok(Some(OneLine {
        source,
        options,
        uri,
        suite,
        components: parts.collect(),
    }))
}

/// Builds an entry, checking the flat-repository rules.
#[allow(clippy::too_many_arguments)]
fn make_entry(
    uri: &str,
    suite: &str,
    components: Vec<String>,
    signed_by: Option<SignedBy>,
    architectures: Vec<String>,
    trusted: bool,
    file: &str,
    line: usize,
) -> Result<SourceEntry, SourcesError> {
    let flat = suite.ends_with('/');
    if flat && !components.is_empty() {
        return Err(SourcesError::FlatWithComponents {
            file: file.to_owned(),
            line,
            suite: excerpt(suite),
        });
    }
    if !flat && components.is_empty() {
        return Err(SourcesError::Missing {
            file: file.to_owned(),
            line,
            what: "components (a suite not ending in `/` needs at least one)",
        });
    }
    Ok(SourceEntry {
        uri: uri.to_owned(),
        suite: suite.to_owned(),
        components,
        signed_by,
        architectures,
        trusted,
        flat,
        origin_file: file.to_owned(),
        line,
    })
}

/// Parses the one-line format; `deb-src` lines are skipped.
pub fn parse_one_line(text: &str, file: &str) -> Result<Vec<SourceEntry>, SourcesError> {
    let mut entries = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_no = index.saturating_add(1);
        let Some(parts) = split_line(line, file, line_no)? else {
            continue;
        };
        if parts.source {
            continue;
        }
        let content = line.split('#').next().unwrap_or("");
        let piece = |range: &Range<usize>| content.get(range.clone()).unwrap_or("");
        let mut signed_by = None;
        let mut architectures = Vec::new();
        let mut trusted = false;
        for option in &parts.options {
            let option = piece(option);
            let Some((name, value)) = option.split_once('=') else {
                return Err(SourcesError::BadOption {
                    file: file.to_owned(),
                    line: line_no,
                    option: excerpt(option),
                });
            };
            match name {
                "arch" => {
                    architectures = value
                        .split(',')
                        .filter(|a| !a.is_empty())
                        .map(str::to_owned)
                        .collect()
                }
                "signed-by" => signed_by = Some(SignedBy::Path(value.to_owned())),
                "trusted" => trusted = yes_no(value, "trusted", file, line_no)?,
                // Languages, targets, by-hash and the like change how apt fetches, not what.
                _ => {}
            }
        }
        let components = parts
            .components
            .iter()
            .map(|r| piece(r).to_owned())
            .collect();
        entries.push(make_entry(
            piece(&parts.uri),
            piece(&parts.suite),
            components,
            signed_by,
            architectures,
            trusted,
            file,
            line_no,
        )?);
    }
    Ok(entries)
}

/// The words of a deb822 value, leaving out comment lines inside it.
fn value_words<'a>(field: &deb822::Field<'a>) -> Vec<&'a str> {
    let first = field.first_line();
    std::iter::once(first)
        .chain(field.continuation_lines(true))
        .flat_map(str::split_whitespace)
        .collect()
}

/// `Signed-By:` is either paths/fingerprints on one line or an armored key block.
fn signed_by(field: deb822::Field<'_>) -> SignedBy {
    if field.value.contains("-----BEGIN PGP PUBLIC KEY BLOCK-----") {
        let mut key = String::new();
        let first = field.first_line();
        if !first.is_empty() {
            key.push_str(first);
            key.push('\n');
        }
        for line in field.continuation_lines(true) {
            key.push_str(line);
            key.push('\n');
        }
        SignedBy::Inline(key)
    } else {
        SignedBy::Path(value_words(&field).join(" "))
    }
}

/// Parses the deb822 `.sources` format; entries with `Enabled: no` and `deb-src`-only
/// entries are skipped.
pub fn parse_deb822(text: &str, file: &str) -> Result<Vec<SourceEntry>, SourcesError> {
    let mut entries = Vec::new();
    for paragraph in deb822::paragraphs(text, file, Options::WITH_COMMENTS) {
        let paragraph = paragraph?;
        let line = paragraph.line();
        let required = |name: &'static str| {
            paragraph.field(name).ok_or(SourcesError::Missing {
                file: file.to_owned(),
                line,
                what: name,
            })
        };
        let list = |name: &str| -> Vec<String> {
            paragraph
                .field(name)
                .map(|f| value_words(&f).into_iter().map(str::to_owned).collect())
                .unwrap_or_default()
        };
        if let Some(enabled) = paragraph.field("Enabled")
            && !yes_no(enabled.value, "Enabled", file, enabled.line)?
        {
            continue;
        }
        let types = required("Types")?;
        let mut binary = false;
        for word in value_words(&types) {
            match word {
                "deb" => binary = true,
                "deb-src" => {}
                other => {
                    return Err(SourcesError::UnknownType {
                        file: file.to_owned(),
                        line: types.line,
                        word: excerpt(other),
                    });
                }
            }
        }
        let uris = required("URIs")?;
        let suites = required("Suites")?;
        if !binary {
            continue;
        }
        let trusted = match paragraph.field("Trusted") {
            Some(field) => yes_no(field.value, "Trusted", file, field.line)?,
            None => false,
        };
        let signed = paragraph.field("Signed-By").map(signed_by);
        let components = list("Components");
        let architectures = list("Architectures");
        let suites = value_words(&suites);
        for uri in value_words(&uris) {
            check_uri(uri, file, uris.line)?;
            for suite in &suites {
                entries.push(make_entry(
                    uri,
                    suite,
                    components.clone(),
                    signed.clone(),
                    architectures.clone(),
                    trusted,
                    file,
                    line,
                )?);
            }
        }
    }
    Ok(entries)
}

impl SourceEntry {
    /// The entry as a `sources.list` line (with its newline).
    pub fn to_one_line(&self) -> Result<String, SourcesError> {
        let mut options = Vec::new();
        if !self.architectures.is_empty() {
            options.push(format!("arch={}", self.architectures.join(",")));
        }
        match &self.signed_by {
            Some(SignedBy::Path(path)) => options.push(format!("signed-by={path}")),
            Some(SignedBy::Inline(_)) => {
                return Err(SourcesError::InlineKeyInOneLine {
                    uri: self.uri.clone(),
                });
            }
            None => {}
        }
        if self.trusted {
            options.push("trusted=yes".to_owned());
        }
        let mut line = String::from("deb ");
        if !options.is_empty() {
            line.push_str(&format!("[{}] ", options.join(" ")));
        }
        line.push_str(&self.uri);
        line.push(' ');
        line.push_str(&self.suite);
        for component in &self.components {
            line.push(' ');
            line.push_str(component);
        }
        line.push('\n');
        Ok(line)
    }

    /// The entry as a deb822 `.sources` paragraph.
    pub fn to_deb822(&self) -> String {
        let mut out = String::new();
        deb822::write_field(&mut out, "Types", "deb");
        deb822::write_field(&mut out, "URIs", &self.uri);
        deb822::write_field(&mut out, "Suites", &self.suite);
        if !self.components.is_empty() {
            deb822::write_field(&mut out, "Components", &self.components.join(" "));
        }
        if !self.architectures.is_empty() {
            deb822::write_field(&mut out, "Architectures", &self.architectures.join(" "));
        }
        match &self.signed_by {
            Some(SignedBy::Path(path)) => deb822::write_field(&mut out, "Signed-By", path),
            Some(SignedBy::Inline(key)) => {
                deb822::write_field(&mut out, "Signed-By", &format!("\n{}", key.trim_end()));
            }
            None => {}
        }
        if self.trusted {
            deb822::write_field(&mut out, "Trusted", "yes");
        }
        out
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) const JESSIE_LIST: &str = "\
deb http://mirrordirector.example.org/raspbian/ jessie main contrib non-free rpi
# Uncomment line below then 'apt-get update' to enable 'apt-get source'
#deb-src http://archive.example.org/raspbian/ jessie main contrib non-free rpi
deb-src http://archive.example.org/raspbian/ jessie main
deb  [arch=armhf,arm64 signed-by=/usr/share/keyrings/x.gpg trusted=no]   http://mirrordirector.example.org/raspbian  stretch  main   # PHP 7
deb [trusted=yes] file:/srv/repo ./
";

    pub(crate) const SOURCES: &str = "\
# The image's own repositories
Types: deb deb-src
URIs: http://deb.example.org/debian http://mirror.example.org/debian/
Suites: bookworm bookworm-updates
Components: main non-free-firmware
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://archive.example.org/raspbian
# http://mirror.example.org/debian old mirror, kept as a note
 http://second.example.org/raspbian
Suites: bookworm
Components: main
Architectures: armhf
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mQINBFxAbCdEFgH=
 =abcd
 -----END PGP PUBLIC KEY BLOCK-----

Types: deb
URIs: http://disabled.example.org/debian
Suites: sid
Components: main
Enabled: no

Types: deb-src
URIs: http://src.example.org/debian
Suites: sid
Components: main
";

    #[test]
    fn reads_the_one_line_format() {
        let entries = parse_one_line(JESSIE_LIST, "sources.list").unwrap();
        assert_eq!(entries.len(), 3);
        let jessie = &entries[0];
        assert_eq!(jessie.uri, "http://mirrordirector.example.org/raspbian/");
        assert_eq!(jessie.suite, "jessie");
        assert_eq!(jessie.components, ["main", "contrib", "non-free", "rpi"]);
        assert_eq!(jessie.line, 1);
        assert!(!jessie.flat && !jessie.trusted && jessie.signed_by.is_none());
        let stretch = &entries[1];
        assert_eq!(stretch.architectures, ["armhf", "arm64"]);
        assert_eq!(
            stretch.signed_by,
            Some(SignedBy::Path("/usr/share/keyrings/x.gpg".into()))
        );
        assert_eq!(stretch.components, ["main"]);
        assert_eq!(stretch.line, 5);
        let flat = &entries[2];
        assert!(flat.flat && flat.trusted);
        assert_eq!(flat.suite, "./");
        assert!(flat.components.is_empty());
    }

    #[test]
    fn reads_the_deb822_format() {
        let entries = parse_deb822(SOURCES, "debian.sources").unwrap();
        assert_eq!(entries.len(), 6);
        assert_eq!(
            entries
                .iter()
                .take(4)
                .map(|e| format!("{} {}", e.uri, e.suite))
                .collect::<Vec<_>>(),
            [
                "http://deb.example.org/debian bookworm",
                "http://deb.example.org/debian bookworm-updates",
                "http://mirror.example.org/debian/ bookworm",
                "http://mirror.example.org/debian/ bookworm-updates",
            ]
        );
        assert_eq!(entries[0].line, 2);
        assert_eq!(entries[5].uri, "http://second.example.org/raspbian");
        let raspbian = &entries[4];
        assert_eq!(raspbian.architectures, ["armhf"]);
        assert_eq!(
            raspbian.signed_by,
            Some(SignedBy::Inline(
                "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQINBFxAbCdEFgH=\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n".into()
            ))
        );
    }

    #[test]
    fn refuses_what_cannot_be_used() {
        let cdrom = "deb cdrom:[Raspbian GNU/Linux 8 _Jessie_]/ jessie main\n";
        assert!(matches!(
            parse_one_line(cdrom, "sources.list"),
            Err(SourcesError::Cdrom { line: 1, .. })
        ));
        let cases = [
            ("deb http://example.org/debian\n", "no suite"),
            ("deb http://example.org/debian jessie\n", "components"),
            ("deb http://example.org/debian ./ main\n", "flat"),
            ("rpm http://example.org/debian jessie main\n", "rpm"),
            (
                "deb [arch=armhf http://example.org/debian jessie main\n",
                "closed",
            ),
            (
                "deb [arch] http://example.org/debian jessie main\n",
                "option",
            ),
            ("deb example.org/debian jessie main\n", "URI"),
            (
                "deb [trusted=maybe] http://example.org/debian jessie main\n",
                "yes",
            ),
        ];
        for (text, needle) in cases {
            let err = parse_one_line(text, "l").unwrap_err();
            assert!(err.to_string().contains(needle), "{text}: {err}");
            assert!(err.to_string().starts_with("l, line 1:"), "{err}");
        }
        let err =
            parse_deb822("Types: deb\nSuites: a\nComponents: main\n", "x.sources").unwrap_err();
        assert!(
            matches!(err, SourcesError::Missing { what: "URIs", .. }),
            "{err}"
        );
        let err = parse_deb822(
            "Types: deb\nURIs: http://example.org\nSuites: a\nEnabled: perhaps\n",
            "x",
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                SourcesError::BadBool {
                    field: "Enabled",
                    line: 4,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn writers_parse_back() {
        let mut entries = parse_one_line(JESSIE_LIST, "sources.list").unwrap();
        entries.extend(parse_deb822(SOURCES, "debian.sources").unwrap());
        for entry in &entries {
            let text = entry.to_deb822();
            let back = parse_deb822(&text, "written.sources").unwrap();
            assert_eq!(back.len(), 1, "{text}");
            assert_eq!(
                SourceEntry {
                    origin_file: entry.origin_file.clone(),
                    line: entry.line,
                    ..back[0].clone()
                },
                *entry,
                "{text}"
            );
            match entry.to_one_line() {
                Ok(line) => {
                    let back = parse_one_line(&line, "written.list").unwrap();
                    assert_eq!(back[0].uri, entry.uri);
                    assert_eq!(back[0].architectures, entry.architectures);
                    assert_eq!(back[0].signed_by, entry.signed_by);
                }
                Err(err) => assert!(matches!(err, SourcesError::InlineKeyInOneLine { .. })),
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn random_text_never_panics(text in "[ -~\\n\\t]{0,300}") {
            for format in [SourcesFormat::OneLine, SourcesFormat::Deb822] {
                let _ = parse(&text, "random", format);
            }
        }

        #[test]
        fn mutated_lists_never_panic(at in 0usize..2000, bytes in prop::collection::vec(0u8..128, 1..4)) {
            for (base, format) in [(JESSIE_LIST, SourcesFormat::OneLine), (SOURCES, SourcesFormat::Deb822)] {
                let mut text = base.as_bytes().to_vec();
                let at = at % text.len();
                text.splice(at..at, bytes.clone());
                let _ = parse(&String::from_utf8_lossy(&text), "mutated", format);
            }
        }
    }
}
