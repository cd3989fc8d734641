//! Paths inside the tree: lists of checked names, never host paths.
//!
//! A [`TreePath`] cannot name anything outside the tree: its components are never empty,
//! `.` or `..`, and never contain `/` or NUL. Parsing collapses `//` and `.`, and refuses
//! `..` outright, because a `..` in an archive or overlay is an escape attempt, not a
//! convenience. Ordering is component by component, which is depth-first with each
//! directory's entries sorted by name: parents always come before their children.

use std::fmt;

use super::error::TreeError;

/// A path inside the tree, relative to its root. The root itself has no components.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TreePath(Vec<Vec<u8>>);

/// Checks one file name.
pub fn check_name(name: &[u8]) -> Result<(), TreeError> {
    if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') || name.contains(&0)
    {
        return Err(TreeError::BadName {
            name: String::from_utf8_lossy(name).into_owned(),
        });
    }
    if name.len() > 255 {
        return Err(TreeError::NameTooLong {
            name: String::from_utf8_lossy(name).into_owned(),
        });
    }
    Ok(())
}

impl TreePath {
    /// The root directory.
    pub fn root() -> Self {
        Self(Vec::new())
    }

    /// Parses `/a/b`, `a/b` or `./a//b` (all the same path); refuses `..` and NUL.
    pub fn parse(text: impl AsRef<[u8]>) -> Result<Self, TreeError> {
        let text = text.as_ref();
        let mut components = Vec::new();
        for part in text.split(|b| *b == b'/') {
            match part {
                b"" | b"." => {}
                b".." => {
                    return Err(TreeError::Escape {
                        path: String::from_utf8_lossy(text).into_owned(),
                    });
                }
                name => {
                    check_name(name)?;
                    components.push(name.to_vec());
                }
            }
        }
        Ok(Self(components))
    }

    /// This path with `name` appended.
    pub fn join(&self, name: &[u8]) -> Result<Self, TreeError> {
        check_name(name)?;
        let mut components = self.0.clone();
        components.push(name.to_vec());
        Ok(Self(components))
    }

    /// The containing directory; `None` for the root.
    pub fn parent(&self) -> Option<Self> {
        let (_, rest) = self.0.split_last()?;
        Some(Self(rest.to_vec()))
    }

    /// The last component; `None` for the root.
    pub fn file_name(&self) -> Option<&[u8]> {
        self.0.last().map(Vec::as_slice)
    }

    /// True for the root directory.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The components, outermost first.
    pub fn components(&self) -> impl DoubleEndedIterator<Item = &[u8]> {
        self.0.iter().map(Vec::as_slice)
    }

    /// The number of components.
    pub fn depth(&self) -> usize {
        self.0.len()
    }

    /// True when `self` is `other` or lies below it.
    pub fn starts_with(&self, other: &TreePath) -> bool {
        self.0.starts_with(&other.0)
    }

    /// The path as bytes, `/a/b`, or `/` for the root.
    pub fn to_bytes(&self) -> Vec<u8> {
        if self.0.is_empty() {
            return b"/".to_vec();
        }
        let mut out = Vec::new();
        for c in &self.0 {
            out.push(b'/');
            out.extend_from_slice(c);
        }
        out
    }

    /// The path relative to the root, `a/b`, or `.` for the root (as tar archives name it).
    pub fn to_relative_bytes(&self) -> Vec<u8> {
        if self.0.is_empty() {
            return b".".to_vec();
        }
        self.0.join(&b'/')
    }

    pub(super) fn push(&mut self, name: Vec<u8>) {
        self.0.push(name);
    }

    pub(super) fn pop(&mut self) {
        self.0.pop();
    }
}

impl fmt::Display for TreePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.to_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_normalises_and_refuses_escapes() {
        assert_eq!(
            TreePath::parse("/a//b/./c").unwrap(),
            TreePath::parse("a/b/c").unwrap()
        );
        assert!(TreePath::parse("/").unwrap().is_root());
        assert!(matches!(
            TreePath::parse("a/../b"),
            Err(TreeError::Escape { .. })
        ));
        assert!(TreePath::parse(b"a\0b").is_err());
        assert!(TreePath::parse([b'x'; 256]).is_err());
        assert_eq!(TreePath::parse("a/b").unwrap().to_bytes(), b"/a/b");
        assert_eq!(TreePath::root().to_relative_bytes(), b".");
    }

    #[test]
    fn order_is_depth_first_by_name() {
        let mut paths: Vec<TreePath> = ["a-b", "a/b", "a", "b", "a/b/c"]
            .iter()
            .map(|p| TreePath::parse(p).unwrap())
            .collect();
        paths.sort();
        let shown: Vec<String> = paths.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["/a", "/a/b", "/a/b/c", "/a-b", "/b"]);
    }
}
