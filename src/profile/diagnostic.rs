//! Problems found in a profile, each tied to a place in the file and a key path.
//!
//! Validation never stops at the first problem: it collects [`Diagnostic`]s into a
//! [`Diagnostics`] list, and the caller decides whether the file is usable. Rendering follows
//! compiler convention, `PATH:LINE:COL: key.path: message`, so editors can jump to it.

use std::fmt;
use std::ops::Range;
use std::path::Path;

use serde::Serialize;

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The profile cannot be used.
    Error,
    /// The profile can be used, but probably does not do what its author meant.
    Warning,
}

/// One problem, located in the profile file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// 1-based line of the offending key or value.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
    /// The key path, such as `network.ipv6` or `node[1].hostname`.
    pub key: String,
    /// A sentence saying what is wrong and, where possible, what to write instead.
    pub message: String,
}

impl Diagnostic {
    /// Renders the diagnostic as `PATH:LINE:COL: key: message`.
    pub fn render(&self, path: &Path) -> String {
        let severity = match self.severity {
            Severity::Error => "",
            Severity::Warning => "warning: ",
        };
        let key = if self.key.is_empty() {
            String::new()
        } else {
            format!("{}: ", self.key)
        };
        format!(
            "{}:{}:{}: {key}{severity}{}",
            path.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

/// Diagnostics collected while reading one profile.
#[derive(Debug)]
pub struct Diagnostics<'s> {
    source: &'s str,
    items: Vec<Diagnostic>,
    /// Key paths already reported as malformed: further errors about them (such as "missing")
    /// would only repeat the first.
    suppressed: Vec<String>,
}

impl<'s> Diagnostics<'s> {
    /// An empty list for the profile text `source`.
    pub fn new(source: &'s str) -> Self {
        Self {
            source,
            items: Vec::new(),
            suppressed: Vec::new(),
        }
    }

    /// Drops later errors about `key` and the keys below it.
    pub fn suppress(&mut self, key: String) {
        self.suppressed.push(key);
    }

    fn is_suppressed(&self, key: &str) -> bool {
        self.suppressed.iter().any(|s| {
            key.strip_prefix(s.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
        })
    }

    /// Records an error at `span` of the source.
    pub fn error(
        &mut self,
        span: Range<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) {
        let key = key.into();
        if !self.is_suppressed(&key) {
            self.push(Severity::Error, span, key, message.into());
        }
    }

    /// Records a warning at `span` of the source.
    pub fn warning(
        &mut self,
        span: Range<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.push(Severity::Warning, span, key.into(), message.into());
    }

    fn push(&mut self, severity: Severity, span: Range<usize>, key: String, message: String) {
        let (line, column) = line_column(self.source, span.start);
        self.items.push(Diagnostic {
            severity,
            line,
            column,
            key,
            message,
        });
    }

    /// True when at least one error was recorded.
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    /// The diagnostics in file order (then errors before warnings), without duplicates.
    pub fn into_sorted(mut self) -> Vec<Diagnostic> {
        self.items.sort_by(|a, b| {
            (a.line, a.column, a.severity, &a.key, &a.message)
                .cmp(&(b.line, b.column, b.severity, &b.key, &b.message))
        });
        self.items.dedup();
        self.items
    }
}

/// The 1-based line and character column of byte `offset` in `source`.
pub fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_characters() {
        let text = "a = 1\nbé = \"x\"\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        // `=` after the two-byte é is the fourth character of line 2.
        assert_eq!(line_column(text, 10), (2, 4));
        assert_eq!(line_column(text, 9999), (3, 1));
    }
}
