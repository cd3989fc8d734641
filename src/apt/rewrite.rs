//! The profile's `rewrite_sources`: URI prefix rewrites, applied to parsed source entries
//! and, in place, to the text of the image's own list files, so an archived mirror's new
//! address reaches both the build and the image without disturbing comments or layout.
//!
//! Only URIs change; this module does not add or remove entries and does not fetch.

use std::ops::Range;

use super::deb822::{self, Options};
use super::sources::{
    SourceEntry, SourcesError, SourcesFormat, parse_deb822, parse_one_line, split_line, words,
};

/// The profile's `rewrite_sources`: URI prefixes and their replacements.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rewrites {
    /// (prefix, replacement), longest prefix first, trailing `/` removed.
    rules: Vec<(String, String)>,
}

impl Rewrites {
    /// Collects rules; the longest prefix wins when several match.
    pub fn new<'r>(rules: impl IntoIterator<Item = (&'r str, &'r str)>) -> Rewrites {
        let mut rules: Vec<(String, String)> = rules
            .into_iter()
            .map(|(from, to)| {
                (
                    from.trim_end_matches('/').to_owned(),
                    to.trim_end_matches('/').to_owned(),
                )
            })
            .collect();
        rules.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        Rewrites { rules }
    }

    /// The rewritten URI, or `None` when no prefix matches. A prefix matches whole path
    /// segments only: `http://a/raspbian` rewrites `http://a/raspbian/` but not
    /// `http://a/raspbian2`.
    pub fn apply(&self, uri: &str) -> Option<String> {
        self.rules.iter().find_map(|(from, to)| {
            let rest = uri.strip_prefix(from.as_str())?;
            (rest.is_empty() || rest.starts_with('/')).then(|| format!("{to}{rest}"))
        })
    }

    /// Rewrites the URIs of parsed entries.
    pub fn apply_to(&self, entries: &mut [SourceEntry]) {
        for entry in entries {
            if let Some(uri) = self.apply(&entry.uri) {
                entry.uri = uri;
            }
        }
    }

    /// Rewrites the URIs of a list file in place: only the URI words change; comments,
    /// options, spacing and commented-out lines stay as they are.
    pub fn apply_to_text(
        &self,
        text: &str,
        file: &str,
        format: SourcesFormat,
    ) -> Result<String, SourcesError> {
        let mut edits: Vec<(Range<usize>, String)> = Vec::new();
        match format {
            SourcesFormat::OneLine => {
                // Validate the whole file first so a broken one is not half-rewritten.
                parse_one_line(text, file)?;
                let mut start = 0usize;
                for (index, line) in text.split_inclusive('\n').enumerate() {
                    if let Some(parts) = split_line(line, file, index.saturating_add(1))? {
                        let uri = line.get(parts.uri.clone()).unwrap_or("");
                        if let Some(new) = self.apply(uri) {
                            edits.push((
                                parts.uri.start.saturating_add(start)
                                    ..parts.uri.end.saturating_add(start),
                                new,
                            ));
                        }
                    }
                    start = start.saturating_add(line.len());
                }
            }
            SourcesFormat::Deb822 => {
                // Validate the whole file first so a broken one is not half-rewritten.
                parse_deb822(text, file)?;
                for paragraph in deb822::paragraphs(text, file, Options::WITH_COMMENTS) {
                    let Some(span) = paragraph?.value_span("URIs") else {
                        continue;
                    };
                    let value = text.get(span.clone()).unwrap_or("");
                    let mut line_start = span.start;
                    for line in value.split_inclusive('\n') {
                        // Comment lines inside the value are kept as written.
                        if !line.starts_with('#') {
                            for word in words(line) {
                                let uri = line.get(word.clone()).unwrap_or("");
                                if let Some(new) = self.apply(uri) {
                                    edits.push((
                                        word.start.saturating_add(line_start)
                                            ..word.end.saturating_add(line_start),
                                        new,
                                    ));
                                }
                            }
                        }
                        line_start = line_start.saturating_add(line.len());
                    }
                }
            }
        }
        let mut out = String::with_capacity(text.len());
        let mut copied = 0usize;
        for (range, new) in edits {
            out.push_str(text.get(copied..range.start).unwrap_or(""));
            out.push_str(&new);
            copied = range.end;
        }
        out.push_str(text.get(copied..).unwrap_or(""));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apt::sources::tests::{JESSIE_LIST, SOURCES};
    use proptest::prelude::*;

    #[test]
    fn rewrites_longest_prefix_on_segment_boundaries() {
        let rewrites = Rewrites::new([
            (
                "http://mirrordirector.example.org/raspbian",
                "http://legacy.example.org/raspbian",
            ),
            (
                "http://mirrordirector.example.org/",
                "http://other.example.org/",
            ),
        ]);
        assert_eq!(
            rewrites
                .apply("http://mirrordirector.example.org/raspbian/")
                .as_deref(),
            Some("http://legacy.example.org/raspbian/")
        );
        assert_eq!(
            rewrites
                .apply("http://mirrordirector.example.org/raspbian2")
                .as_deref(),
            Some("http://other.example.org/raspbian2")
        );
        assert_eq!(rewrites.apply("http://mirrordirector.example.orgx/"), None);
        let mut entries = parse_one_line(JESSIE_LIST, "sources.list").unwrap();
        rewrites.apply_to(&mut entries);
        assert_eq!(entries[1].uri, "http://legacy.example.org/raspbian");
    }

    #[test]
    fn rewrites_files_in_place() {
        let rewrites = Rewrites::new([(
            "http://mirrordirector.example.org/raspbian",
            "http://legacy.example.org/raspbian",
        )]);
        let out = rewrites
            .apply_to_text(JESSIE_LIST, "sources.list", SourcesFormat::OneLine)
            .unwrap();
        assert_eq!(
            out,
            JESSIE_LIST.replace(
                "mirrordirector.example.org/raspbian",
                "legacy.example.org/raspbian"
            )
        );
        let rewrites = Rewrites::new([(
            "http://mirror.example.org/debian",
            "http://m2.example.org/deb",
        )]);
        let out = rewrites
            .apply_to_text(SOURCES, "debian.sources", SourcesFormat::Deb822)
            .unwrap();
        assert_eq!(
            out,
            SOURCES.replace(
                "http://mirror.example.org/debian/",
                "http://m2.example.org/deb/"
            )
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn random_text_never_panics(text in "[ -~\\n\\t]{0,300}") {
            let rewrites = Rewrites::new([("http://a", "http://b")]);
            for format in [SourcesFormat::OneLine, SourcesFormat::Deb822] {
                let _ = rewrites.apply_to_text(&text, "random", format);
            }
        }

        #[test]
        fn rewritten_lists_still_parse(at in 0usize..2000, bytes in prop::collection::vec(0u8..128, 1..4)) {
            let rewrites = Rewrites::new([("http://mirror.example.org", "http://b")]);
            for (base, format) in [(JESSIE_LIST, SourcesFormat::OneLine), (SOURCES, SourcesFormat::Deb822)] {
                let mut text = base.as_bytes().to_vec();
                let at = at % text.len();
                text.splice(at..at, bytes.clone());
                let text = String::from_utf8_lossy(&text);
                if let Ok(out) = rewrites.apply_to_text(&text, "mutated", format) {
                    prop_assert!(crate::apt::sources::parse(&out, "rewritten", format).is_ok());
                }
            }
        }
    }
}
