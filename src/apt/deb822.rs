//! Debian's RFC 822-style control paragraphs (deb822): the syntax shared by `Packages`,
//! `Release`, dpkg's `status`, a package's `control` file and apt's `.sources` files.
//!
//! A [`Paragraph`] borrows the text it was parsed from: each field is a pair of byte ranges
//! (name, value), so parsing a full archive index allocates one small vector per paragraph
//! and no strings. Field names compare case-insensitively; field order is kept, because
//! dpkg's status writer and a round trip of the image's own files need it. An
//! [`OwnedParagraph`] is the editable form, and [`write_field`] / [`OwnedParagraph::write`]
//! produce dpkg-style text.
//!
//! This module knows only the syntax. It does not strip OpenPGP clear-signing (the signature
//! check does that before text reaches here), does not know which fields a file must have,
//! and treats `\r` as an ordinary character.

use std::ops::Range;

/// A paragraph with more fields than this is refused: real ones have a few dozen.
const MAX_FIELDS: usize = 1024;

/// How much of an offending line an error message quotes.
const EXCERPT_CHARS: usize = 80;

/// Why deb822 text could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Deb822Error {
    /// A line inside a paragraph is neither a field nor a continuation line.
    #[error(
        "{file}, line {line}: `{text}` is neither a `Name: value` field nor a continuation line (which starts with a space); the file is not in Debian control format or is damaged"
    )]
    NotAField {
        /// The file, as the caller named it.
        file: String,
        /// The 1-based line number.
        line: usize,
        /// The start of the line.
        text: String,
    },
    /// A field name is empty, starts with `-` or `#`, or holds a space or control character.
    #[error(
        "{file}, line {line}: `{name}` is not a valid field name (it must be printable ASCII without spaces, not starting with `-` or `#`)"
    )]
    BadFieldName {
        /// The file, as the caller named it.
        file: String,
        /// The 1-based line number.
        line: usize,
        /// The name as written.
        name: String,
    },
    /// A continuation line (starting with a space or tab) opens a paragraph.
    #[error(
        "{file}, line {line}: a continuation line (starting with a space or tab) comes before any field of its paragraph"
    )]
    OrphanContinuation {
        /// The file, as the caller named it.
        file: String,
        /// The 1-based line number.
        line: usize,
    },
    /// One paragraph holds the same field twice.
    #[error("{file}, line {line}: field `{name}` appears twice in one paragraph")]
    DuplicateField {
        /// The file, as the caller named it.
        file: String,
        /// The 1-based line number of the second occurrence.
        line: usize,
        /// The field name.
        name: String,
    },
    /// One paragraph holds an absurd number of fields.
    #[error("{file}, line {line}: a paragraph has more than {max} fields; the file is damaged")]
    TooManyFields {
        /// The file, as the caller named it.
        file: String,
        /// The 1-based line number where the limit was passed.
        line: usize,
        /// The limit.
        max: usize,
    },
}

/// What the format of the file being parsed allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Options {
    /// Lines starting with `#` are comments (apt's `.sources` files); otherwise such a line is
    /// an error, as in `Packages` and dpkg's `status`.
    pub comments: bool,
}

impl Options {
    /// Archive indexes, `Release`, dpkg's `status` and `control`: no comments.
    pub const STRICT: Options = Options { comments: false };
    /// apt's deb822 `.sources` files: `#` comment lines allowed anywhere.
    pub const WITH_COMMENTS: Options = Options { comments: true };
}

/// One field: byte ranges into the paragraph's text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Span {
    name: Range<usize>,
    value: Range<usize>,
    line: usize,
}

/// One field of a borrowed paragraph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    /// The name as written (compare with `eq_ignore_ascii_case`).
    pub name: &'a str,
    /// The value: the first line without its leading blanks, then each continuation line
    /// (with its leading space) after a `\n`; no final newline.
    pub value: &'a str,
    /// The 1-based line number of the field's first line.
    pub line: usize,
}

impl<'a> Field<'a> {
    /// The value's first line, trimmed: the whole value of a simple field, the synopsis of
    /// a `Description`.
    pub fn first_line(&self) -> &'a str {
        self.value.split('\n').next().unwrap_or("").trim()
    }

    /// The continuation lines with their one leading blank removed and ` .` turned back into
    /// an empty line (comment lines skipped when `comments` is set).
    pub fn continuation_lines(&self, comments: bool) -> impl Iterator<Item = &'a str> {
        self.value
            .split('\n')
            .skip(1)
            .filter(move |line| !(comments && line.starts_with('#')))
            .map(|line| {
                let line = line.strip_prefix([' ', '\t']).unwrap_or(line);
                if line == "." { "" } else { line }
            })
    }
}

/// One paragraph, borrowing the text it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paragraph<'a> {
    text: &'a str,
    span: Range<usize>,
    line: usize,
    fields: Vec<Span>,
}

impl<'a> Paragraph<'a> {
    /// The 1-based line number of the paragraph's first field.
    pub fn line(&self) -> usize {
        self.line
    }

    /// The paragraph's text from its first field to the newline ending its last line
    /// (comment lines inside it included).
    pub fn raw(&self) -> &'a str {
        self.text.get(self.span.clone()).unwrap_or("")
    }

    /// The byte range of [`Paragraph::raw`] within the parsed text.
    pub fn span(&self) -> Range<usize> {
        self.span.clone()
    }

    /// How many fields the paragraph has.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether the paragraph has no fields (never true for a parsed paragraph).
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The fields in file order.
    pub fn fields(&self) -> impl Iterator<Item = Field<'a>> + '_ {
        self.fields.iter().map(|span| self.resolve(span))
    }

    /// The field with this name (case-insensitive).
    pub fn field(&self, name: &str) -> Option<Field<'a>> {
        self.fields()
            .find(|field| field.name.eq_ignore_ascii_case(name))
    }

    /// The byte range, within the parsed text, of the value of the field with this name
    /// (the range of [`Field::value`]): what an in-place edit of the file replaces.
    pub fn value_span(&self, name: &str) -> Option<Range<usize>> {
        self.fields
            .iter()
            .find(|span| {
                self.text
                    .get(span.name.clone())
                    .is_some_and(|field| field.eq_ignore_ascii_case(name))
            })
            .map(|span| span.value.clone())
    }

    /// The value of the field with this name, trailing blanks removed.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.field(name).map(|field| field.value.trim_end())
    }

    /// An editable copy.
    pub fn to_owned_paragraph(&self) -> OwnedParagraph {
        OwnedParagraph {
            fields: self
                .fields()
                .map(|field| (field.name.to_owned(), field.value.to_owned()))
                .collect(),
        }
    }

    fn resolve(&self, span: &Span) -> Field<'a> {
        Field {
            name: self.text.get(span.name.clone()).unwrap_or(""),
            value: self.text.get(span.value.clone()).unwrap_or(""),
            line: span.line,
        }
    }
}

/// The paragraphs of a text, parsed one at a time; stops after the first error.
#[derive(Debug, Clone)]
pub struct Paragraphs<'a> {
    text: &'a str,
    file: String,
    options: Options,
    pos: usize,
    line: usize,
    failed: bool,
}

/// Parses `text` paragraph by paragraph; `file` names it in error messages.
pub fn paragraphs<'a>(text: &'a str, file: &str, options: Options) -> Paragraphs<'a> {
    Paragraphs {
        text,
        file: file.to_owned(),
        options,
        pos: 0,
        line: 0,
        failed: false,
    }
}

/// Parses every paragraph of `text`, failing on the first error.
pub fn parse_all<'a>(
    text: &'a str,
    file: &str,
    options: Options,
) -> Result<Vec<Paragraph<'a>>, Deb822Error> {
    paragraphs(text, file, options).collect()
}

fn is_blank(line: &str) -> bool {
    line.bytes().all(|b| b == b' ' || b == b'\t')
}

/// A field name is printable ASCII without a colon or space and starts with neither `-`
/// nor `#` (Debian Policy 5.1).
fn valid_field_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(['-', '#'])
        && name
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b':')
}

/// The start of `text`, cut on a character boundary, for error messages.
pub(crate) fn excerpt(text: &str) -> String {
    match text.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", text.get(..cut).unwrap_or("")),
        None => text.to_owned(),
    }
}

impl<'a> Paragraphs<'a> {
    fn fail(&mut self, error: Deb822Error) -> Option<Result<Paragraph<'a>, Deb822Error>> {
        self.failed = true;
        Some(Err(error))
    }
}

impl<'a> Iterator for Paragraphs<'a> {
    type Item = Result<Paragraph<'a>, Deb822Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let text = self.text;
        let mut fields: Vec<Span> = Vec::new();
        let mut start = None;
        let mut first_line = 0;
        // End of the last field or continuation line, newline included.
        let mut end = self.pos;
        while self.pos < text.len() {
            let line_start = self.pos;
            let line_end = text
                .get(line_start..)
                .and_then(|rest| rest.find('\n'))
                .map_or(text.len(), |at| line_start.saturating_add(at));
            let next = line_end.saturating_add(1).min(text.len());
            let line = text.get(line_start..line_end).unwrap_or("");
            self.line = self.line.saturating_add(1);
            if is_blank(line) {
                if start.is_some() {
                    self.pos = next;
                    break;
                }
            } else if self.options.comments && line.starts_with('#') {
                // A comment neither opens nor closes a paragraph.
            } else if line.starts_with([' ', '\t']) {
                let Some(field) = fields.last_mut() else {
                    let error = Deb822Error::OrphanContinuation {
                        file: self.file.clone(),
                        line: self.line,
                    };
                    return self.fail(error);
                };
                field.value.end = line_end;
                end = next;
            } else {
                let Some(colon) = line.find(':') else {
                    let error = Deb822Error::NotAField {
                        file: self.file.clone(),
                        line: self.line,
                        text: excerpt(line),
                    };
                    return self.fail(error);
                };
                let name = line.get(..colon).unwrap_or("");
                if !valid_field_name(name) {
                    let error = Deb822Error::BadFieldName {
                        file: self.file.clone(),
                        line: self.line,
                        name: excerpt(name),
                    };
                    return self.fail(error);
                }
                let duplicate = fields.iter().any(|span| {
                    text.get(span.name.clone())
                        .is_some_and(|other| other.eq_ignore_ascii_case(name))
                });
                if duplicate {
                    let error = Deb822Error::DuplicateField {
                        file: self.file.clone(),
                        line: self.line,
                        name: name.to_owned(),
                    };
                    return self.fail(error);
                }
                if fields.len() >= MAX_FIELDS {
                    let error = Deb822Error::TooManyFields {
                        file: self.file.clone(),
                        line: self.line,
                        max: MAX_FIELDS,
                    };
                    return self.fail(error);
                }
                let after_colon = line.get(colon.saturating_add(1)..).unwrap_or("");
                let blanks = after_colon.len() - after_colon.trim_start_matches([' ', '\t']).len();
                let value_start = line_start
                    .saturating_add(colon)
                    .saturating_add(1)
                    .saturating_add(blanks);
                fields.push(Span {
                    name: line_start..line_start.saturating_add(colon),
                    value: value_start..line_end,
                    line: self.line,
                });
                if start.is_none() {
                    start = Some(line_start);
                    first_line = self.line;
                }
                end = next;
            }
            self.pos = next;
        }
        let start = start?;
        Some(Ok(Paragraph {
            text,
            span: start..end,
            line: first_line,
            fields,
        }))
    }
}

/// An editable paragraph: `(name, value)` pairs in order, values in the form
/// [`Field::value`] gives.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OwnedParagraph {
    /// The fields in order.
    pub fields: Vec<(String, String)>,
}

impl OwnedParagraph {
    /// An empty paragraph.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of the field with this name (case-insensitive), trailing blanks removed.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.trim_end())
    }

    /// Sets a field: replaces its value in place if present, appends it otherwise.
    pub fn set(&mut self, name: &str, value: &str) {
        match self
            .fields
            .iter_mut()
            .find(|(field, _)| field.eq_ignore_ascii_case(name))
        {
            Some((_, old)) => value.clone_into(old),
            None => self.fields.push((name.to_owned(), value.to_owned())),
        }
    }

    /// Removes a field, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        let at = self
            .fields
            .iter()
            .position(|(field, _)| field.eq_ignore_ascii_case(name))?;
        Some(self.fields.remove(at).1)
    }

    /// Appends the paragraph in dpkg's style (no blank line after it).
    pub fn write(&self, out: &mut String) {
        for (name, value) in &self.fields {
            write_field(out, name, value);
        }
    }
}

/// Appends one field in dpkg's style: `Name: first line`, then each further line of `value`
/// as a continuation line. A line that is empty or blank becomes ` .`; a line not starting
/// with a space or tab gets one; so the output always parses back. Leading blanks of the
/// first line are not kept (the parser strips them).
pub fn write_field(out: &mut String, name: &str, value: &str) {
    let mut lines = value.split('\n');
    let first = lines.next().unwrap_or("").trim_start_matches([' ', '\t']);
    out.push_str(name);
    out.push(':');
    if !first.is_empty() {
        out.push(' ');
        out.push_str(first);
    }
    out.push('\n');
    for line in lines {
        if is_blank(line) {
            out.push_str(" .\n");
            continue;
        }
        if !line.starts_with([' ', '\t']) {
            out.push(' ');
        }
        out.push_str(line);
        out.push('\n');
    }
}

/// Writes paragraphs separated by blank lines, as dpkg writes its `status` file.
pub fn write_paragraphs<'p>(
    out: &mut String,
    paragraphs: impl IntoIterator<Item = &'p OwnedParagraph>,
) {
    for (index, paragraph) in paragraphs.into_iter().enumerate() {
        if index > 0 {
            out.push('\n');
        }
        paragraph.write(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const STATUS: &str = "\
Package: adduser
Status: install ok installed
Priority: important
Architecture: all
Version: 3.134
Conffiles:
 /etc/adduser.conf cc3493ecd2d09837ffdcc3e25fdfff18
Description: add and remove users and groups
 This package includes the 'adduser' and 'deluser' commands.
 .
 Second paragraph.

Package: base-files
Essential: yes
Version: 12.4+deb12u5
";

    #[test]
    fn parses_fields_continuations_and_paragraphs() {
        let paragraphs = parse_all(STATUS, "status", Options::STRICT).unwrap();
        assert_eq!(paragraphs.len(), 2);
        let first = &paragraphs[0];
        assert_eq!(first.line(), 1);
        assert_eq!(first.get("package"), Some("adduser"));
        assert_eq!(first.get("STATUS"), Some("install ok installed"));
        let conffiles = first.field("Conffiles").unwrap();
        assert_eq!(conffiles.first_line(), "");
        assert_eq!(
            conffiles.value,
            "\n /etc/adduser.conf cc3493ecd2d09837ffdcc3e25fdfff18"
        );
        let description = first.field("Description").unwrap();
        assert_eq!(description.first_line(), "add and remove users and groups");
        let long: Vec<_> = description.continuation_lines(false).collect();
        assert_eq!(
            long,
            [
                "This package includes the 'adduser' and 'deluser' commands.",
                "",
                "Second paragraph."
            ]
        );
        let names: Vec<_> = first.fields().map(|f| f.name).collect();
        assert_eq!(
            names,
            [
                "Package",
                "Status",
                "Priority",
                "Architecture",
                "Version",
                "Conffiles",
                "Description"
            ]
        );
        assert!(first.raw().starts_with("Package: adduser\n"));
        assert!(first.raw().ends_with("Second paragraph.\n"));
        assert_eq!(paragraphs[1].line(), 13);
        assert_eq!(paragraphs[1].get("Essential"), Some("yes"));
    }

    #[test]
    fn comments_only_where_allowed() {
        let text = "# a comment\nTypes: deb\n# inside\nURIs: http://example.org/debian\n";
        let with = parse_all(text, "x.sources", Options::WITH_COMMENTS).unwrap();
        assert_eq!(with.len(), 1);
        assert_eq!(with[0].line(), 2);
        assert_eq!(with[0].get("URIs"), Some("http://example.org/debian"));
        let err = parse_all(text, "Packages", Options::STRICT).unwrap_err();
        assert!(
            matches!(err, Deb822Error::NotAField { line: 1, .. }),
            "{err}"
        );
    }

    #[test]
    fn errors_name_file_and_line() {
        let err = parse_all("Package: a\nnot a field\n", "Packages", Options::STRICT).unwrap_err();
        assert_eq!(
            err,
            Deb822Error::NotAField {
                file: "Packages".into(),
                line: 2,
                text: "not a field".into()
            }
        );
        assert!(err.to_string().starts_with("Packages, line 2:"));
        let err = parse_all(" orphan\n", "f", Options::STRICT).unwrap_err();
        assert!(matches!(
            err,
            Deb822Error::OrphanContinuation { line: 1, .. }
        ));
        let err = parse_all("A: 1\na: 2\n", "f", Options::STRICT).unwrap_err();
        assert!(matches!(err, Deb822Error::DuplicateField { line: 2, .. }));
        let err = parse_all("-A: 1\n", "f", Options::STRICT).unwrap_err();
        assert!(matches!(err, Deb822Error::BadFieldName { .. }));
    }

    #[test]
    fn refuses_absurd_paragraphs() {
        let text: String = (0..=MAX_FIELDS).map(|i| format!("F{i}: x\n")).collect();
        let err = parse_all(&text, "huge", Options::STRICT).unwrap_err();
        assert!(
            matches!(err, Deb822Error::TooManyFields { line, .. } if line == MAX_FIELDS + 1),
            "{err}"
        );
        let long = format!("Package: {}\n", "a".repeat(500));
        let err =
            parse_all(&format!("{long}{}", "b".repeat(500)), "f", Options::STRICT).unwrap_err();
        assert!(
            err.to_string().len() < 400,
            "messages quote only the start of a line"
        );
    }

    #[test]
    fn blank_lines_with_spaces_separate_and_no_final_newline_is_fine() {
        let text = "\n\nA: 1\n  \t\nB: 2";
        let all = parse_all(text, "f", Options::STRICT).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].get("B"), Some("2"));
        assert_eq!(all[1].raw(), "B: 2");
        assert!(parse_all("", "f", Options::STRICT).unwrap().is_empty());
    }

    #[test]
    fn writer_round_trips_dpkg_text_byte_for_byte() {
        let paragraphs: Vec<_> = parse_all(STATUS, "status", Options::STRICT)
            .unwrap()
            .iter()
            .map(Paragraph::to_owned_paragraph)
            .collect();
        let mut out = String::new();
        write_paragraphs(&mut out, &paragraphs);
        assert_eq!(out, STATUS);
    }

    #[test]
    fn writer_formats_multiline_values() {
        let mut out = String::new();
        write_field(&mut out, "Description", "short\nlong line\n\n  indented");
        assert_eq!(out, "Description: short\n long line\n .\n  indented\n");
        let mut owned = OwnedParagraph::new();
        owned.set("Package", "a");
        owned.set("Version", "1");
        owned.set("package", "b");
        assert_eq!(owned.remove("VERSION").as_deref(), Some("1"));
        assert_eq!(owned.get("Package"), Some("b"));
        assert_eq!(owned.fields.len(), 1);
    }

    fn field_name() -> impl Strategy<Value = String> {
        "[A-Za-z][A-Za-z0-9-]{0,12}"
    }

    fn field_value() -> impl Strategy<Value = String> {
        // A first line without leading blanks, then continuation lines that may be empty.
        (
            "[!-~][ -~]{0,20}",
            prop::collection::vec("([!-~][ -~]{0,20})?", 0..4),
        )
            .prop_map(|(first, more)| {
                let mut value = first.trim_end().to_owned();
                for line in more {
                    value.push('\n');
                    if !line.is_empty() {
                        value.push(' ');
                        value.push_str(&line);
                    } else {
                        value.push_str(" .");
                    }
                }
                value
            })
    }

    fn paragraph() -> impl Strategy<Value = OwnedParagraph> {
        prop::collection::vec((field_name(), field_value()), 1..8).prop_map(|fields| {
            let mut paragraph = OwnedParagraph::new();
            for (name, value) in fields {
                if paragraph.get(&name).is_none() {
                    paragraph.fields.push((name, value));
                }
            }
            paragraph
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn random_text_never_panics(text in "[ -~\\n\\t#:é]{0,400}", comments: bool) {
            let options = Options { comments };
            for paragraph in paragraphs(&text, "random", options) {
                let Ok(paragraph) = paragraph else { break };
                for field in paragraph.fields() {
                    let _ = field.first_line();
                    let _ = field.continuation_lines(comments).count();
                }
                let _ = paragraph.raw();
            }
        }

        #[test]
        fn write_then_parse_is_identity(input in prop::collection::vec(paragraph(), 0..5)) {
            let mut out = String::new();
            write_paragraphs(&mut out, &input);
            let parsed: Vec<_> = parse_all(&out, "written", Options::STRICT)
                .unwrap()
                .iter()
                .map(Paragraph::to_owned_paragraph)
                .collect();
            prop_assert_eq!(parsed, input);
        }
    }
}
