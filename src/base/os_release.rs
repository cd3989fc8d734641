//! `/etc/os-release` (or `/usr/lib/os-release`) read from a tree, as `KEY=value` pairs.
//!
//! Only the values are parsed here; which Raspberry Pi OS generation they mean is the
//! `node` stage's knowledge.

use std::collections::BTreeMap;

use crate::tree::{Kind, Tree, TreePath};

/// os-release files are a few hundred bytes; a larger one is not read.
const MAX_OS_RELEASE: u64 = 64 * 1024;

/// The fields of an os-release file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OsRelease {
    /// Every `KEY=value`, unquoted.
    pub fields: BTreeMap<String, String>,
}

impl OsRelease {
    /// Parses os-release text: `KEY=value`, values optionally in single or double quotes,
    /// `#` comments and blank lines ignored.
    pub fn parse(text: &str) -> Self {
        let mut fields = BTreeMap::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let value = value.trim();
            let unquoted = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(value);
            let unescaped = unquoted
                .replace("\\\"", "\"")
                .replace("\\$", "$")
                .replace("\\`", "`")
                .replace("\\\\", "\\");
            fields.insert(key.trim().to_string(), unescaped);
        }
        Self { fields }
    }

    /// Reads the tree's `/etc/os-release`, falling back to `/usr/lib/os-release`.
    pub fn from_tree(tree: &Tree) -> Option<Self> {
        for candidate in ["etc/os-release", "usr/lib/os-release"] {
            let path = TreePath::parse(candidate).ok()?;
            let Ok(inode) = tree.lookup(&path) else {
                continue;
            };
            if let Kind::File { size, content } = &inode.kind {
                let bytes = content.read_to_vec(*size, MAX_OS_RELEASE).ok()?;
                return Some(Self::parse(&String::from_utf8_lossy(&bytes)));
            }
        }
        None
    }

    /// A field's value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.get(key).map(String::as_str)
    }

    /// `PRETTY_NAME`, or `NAME VERSION`.
    pub fn pretty_name(&self) -> Option<String> {
        self.get("PRETTY_NAME").map(str::to_string).or_else(|| {
            let name = self.get("NAME")?;
            Some(match self.get("VERSION") {
                Some(v) => format!("{name} {v}"),
                None => name.to_string(),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_raspbian_jessie() {
        let text = "PRETTY_NAME=\"Raspbian GNU/Linux 8 (jessie)\"\nNAME=\"Raspbian GNU/Linux\"\nVERSION_ID=\"8\"\nVERSION=\"8 (jessie)\"\nID=raspbian\nID_LIKE=debian\n# comment\n";
        let release = OsRelease::parse(text);
        assert_eq!(release.get("ID"), Some("raspbian"));
        assert_eq!(release.get("VERSION_ID"), Some("8"));
        assert_eq!(
            release.pretty_name().as_deref(),
            Some("Raspbian GNU/Linux 8 (jessie)")
        );
        assert_eq!(release.get("VERSION_CODENAME"), None);
    }
}
