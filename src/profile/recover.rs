//! Turns profile text into [`RawProfile`], reporting every structural error at once.
//!
//! serde stops at the first unknown key or wrong type. To report them all, the document is
//! parsed once into a spanned table; after each serde error the offending key is located by
//! its span, reported, removed from the table, and deserialization runs again. Spans stay
//! those of the original text, so every report points at the right line. This module does
//! not check values: that is validation's job.

use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue, Deserializer};

use super::diagnostic::Diagnostics;
use super::raw::{NODE_KEYS, RawProfile};
use super::suggest::{closest, one_of};

/// Enough rounds for any realistic file; each round removes one key, so it always ends.
const MAX_ROUNDS: usize = 200;

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

/// Parses `source`; structural problems are added to `diags`. Returns `None` when the text
/// is not TOML at all, or could not be repaired enough to read.
pub fn deserialize(source: &str, diags: &mut Diagnostics<'_>) -> Option<RawProfile> {
    let (mut root, syntax_errors) = DeTable::parse_recoverable(source);
    if !syntax_errors.is_empty() {
        for error in syntax_errors {
            let span = error.span().unwrap_or(0..0);
            diags.error(span, "", format!("invalid TOML: {}", error.message()));
        }
        return None;
    }
    root.get_mut().make_owned();
    for _ in 0..MAX_ROUNDS {
        let error = match RawProfile::deserialize(Deserializer::from(root.clone())) {
            Ok(raw) => return Some(raw),
            Err(error) => error,
        };
        let span = error.span().unwrap_or(0..0);
        let path = locate(root.get_ref(), &span);
        let key = render_path(&path);
        let (message, suggestion) = humanize(error.message(), &path);
        diags.error(span, key.clone(), message);
        if let Some(suggestion) = suggestion {
            // The key the author meant is present, only misspelt: "missing" would be noise.
            let mut meant = path.clone();
            meant.pop();
            meant.push(Segment::Key(suggestion.to_string()));
            diags.suppress(render_path(&meant));
        }
        diags.suppress(key);
        if !matches!(path.last(), Some(Segment::Key(_))) || !remove(root.get_mut(), &path) {
            return None;
        }
    }
    None
}

/// The path of the innermost key whose name or value contains `span`.
fn locate(table: &DeTable<'_>, span: &Range<usize>) -> Vec<Segment> {
    let mut path = Vec::new();
    locate_in_table(table, span, &mut path);
    path
}

fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end
}

fn locate_in_table(table: &DeTable<'_>, span: &Range<usize>, path: &mut Vec<Segment>) -> bool {
    for (key, value) in table {
        if contains(&key.span(), span) {
            path.push(Segment::Key(key.get_ref().to_string()));
            return true;
        }
        path.push(Segment::Key(key.get_ref().to_string()));
        if locate_in_value(value.get_ref(), span, path) || contains(&value.span(), span) {
            return true;
        }
        path.pop();
    }
    false
}

fn locate_in_value(value: &DeValue<'_>, span: &Range<usize>, path: &mut Vec<Segment>) -> bool {
    match value {
        DeValue::Table(table) => locate_in_table(table, span, path),
        DeValue::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                path.push(Segment::Index(index));
                if locate_in_value(item.get_ref(), span, path) || contains(&item.span(), span) {
                    return true;
                }
                path.pop();
            }
            false
        }
        _ => false,
    }
}

/// Removes the key at `path`; false when the path no longer leads anywhere.
fn remove(table: &mut DeTable<'_>, path: &[Segment]) -> bool {
    let Some((Segment::Key(name), rest)) = path.split_first() else {
        return false;
    };
    let Some(found) = table.keys().find(|k| k.get_ref() == name).cloned() else {
        return false;
    };
    if rest.is_empty() {
        return table.remove(&found).is_some();
    }
    match table.get_mut(&found) {
        Some(value) => remove_in_value(value, rest),
        None => false,
    }
}

fn remove_in_value(value: &mut Spanned<DeValue<'_>>, path: &[Segment]) -> bool {
    match (value.get_mut(), path.split_first()) {
        (DeValue::Table(table), Some((Segment::Key(_), _))) => remove(table, path),
        (DeValue::Array(items), Some((Segment::Index(i), rest))) => match items.get_mut(*i) {
            Some(item) if !rest.is_empty() => remove_in_value(item, rest),
            _ => false,
        },
        _ => false,
    }
}

/// `node[1].headers.X-Served-By`
fn render_path(path: &[Segment]) -> String {
    let mut out = String::new();
    for segment in path {
        match segment {
            Segment::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Rewrites serde's wording into the profile's own; also returns the key suggested for a
/// misspelt one.
fn humanize<'m>(message: &'m str, path: &[Segment]) -> (String, Option<&'m str>) {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (unknown, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let candidates = backticked(expected);
        let in_node = matches!(path.first(), Some(Segment::Key(k)) if k == "node");
        let suggestion = closest(unknown, candidates.iter().copied());
        let text = match suggestion {
            Some(s) => format!("unknown key `{unknown}`; did you mean `{s}`?"),
            None if in_node && path.len() == 3 => format!(
                "`{unknown}` cannot be set per node; a node may override only {}",
                one_of(NODE_KEYS)
            ),
            None => format!("unknown key `{unknown}`; expected {}", one_of(&candidates)),
        };
        return (text, suggestion);
    }
    if let Some(rest) = message.strip_prefix("invalid type: ")
        && let Some((found, expected)) = rest.split_once(", expected ")
    {
        return (
            format!("expected {}, found {found}", plain_type(expected)),
            None,
        );
    }
    (message.to_string(), None)
}

fn plain_type(serde_name: &str) -> &str {
    match serde_name {
        "i64" | "u64" | "i32" => "an integer",
        "a sequence" => "an array",
        "a boolean" | "a string" => serde_name,
        s if s.starts_with("struct ") || s == "a map" => "a table",
        s => s,
    }
}

/// The names in backticks in serde's "expected `a`, `b`" list.
fn backticked(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        let mut diags = Diagnostics::new(text);
        deserialize(text, &mut diags);
        diags
            .into_sorted()
            .iter()
            .map(|d| format!("{}:{}: {}: {}", d.line, d.column, d.key, d.message))
            .collect()
    }

    #[test]
    fn reports_every_unknown_key_at_once() {
        let found = errors("[image]\nnmae = \"x\"\nbaord = \"pi3\"\n[netwrok]\nipv6 = \"auto\"\n");
        assert_eq!(
            found,
            [
                "2:1: image.nmae: unknown key `nmae`; did you mean `name`?",
                "3:1: image.baord: unknown key `baord`; did you mean `board`?",
                "4:2: netwrok: unknown key `netwrok`; did you mean `network`?",
            ]
        );
    }

    #[test]
    fn node_keys_outside_the_override_list_are_explained() {
        let found = errors("[[node]]\nname = \"a\"\n[[node]]\nname = \"b\"\ndns = []\n");
        assert_eq!(
            found,
            [
                "5:1: node[1].dns: `dns` cannot be set per node; a node may override only `name`, `board`, `hostname`, `ipv4`, `ipv6`, `gateway6`, `headers` or `card_size`"
            ]
        );
    }

    #[test]
    fn wrong_types_name_the_expected_type() {
        let found = errors("[ssh]\nenabled = \"yes\"\n[packages]\ninstall = \"nginx\"\n");
        assert_eq!(
            found,
            [
                "2:11: ssh.enabled: expected a boolean, found string \"yes\"",
                "4:11: packages.install: expected an array, found string \"nginx\"",
            ]
        );
    }

    #[test]
    fn syntax_errors_stop_before_deserializing() {
        let found = errors("[image\nname = 1\n");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("1:"), "{found:?}");
        assert!(found[0].contains("invalid TOML"), "{found:?}");
    }
}
