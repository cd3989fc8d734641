//! The writer's view of the volume's names: a hierarchy built from `/`-separated paths,
//! with every name checked, case-insensitive clashes refused, children sorted by name and
//! unique 8.3 names assigned.
//!
//! Parent directories may be implied by deeper paths or listed explicitly. Short names are
//! assigned in sorted order, names that fit 8.3 first, so the result depends only on the
//! set of paths. This module allocates no clusters and writes nothing.

use std::collections::{HashMap, HashSet};

use super::FatError;
use super::dir_entry::long_slot_count;
use super::short_name::{self, Stored};

/// Index of a node in [`Namespace::nodes`].
pub type NodeId = usize;

/// The root directory's node.
pub const ROOT: NodeId = 0;

/// What a node is.
#[derive(Debug)]
pub enum NodeKind {
    /// A directory and its children, sorted by name.
    Dir(Vec<NodeId>),
    /// A file of `len` bytes whose content comes from entry `source` of the caller's list.
    File {
        /// The declared length.
        len: u64,
        /// Index into the caller's entry list.
        source: usize,
    },
}

/// One file or directory with its stored names.
#[derive(Debug)]
pub struct Node {
    /// The full path, for messages.
    pub path: String,
    /// The name as given.
    pub name: String,
    /// The long name in UTF-16, when the name needs long-name slots.
    pub long: Option<Vec<u16>>,
    /// The 8.3 name.
    pub short: [u8; 11],
    /// NT lowercase flags.
    pub nt_flags: u8,
    /// File or directory.
    pub kind: NodeKind,
}

impl Node {
    /// Directory slots this node's entry takes in its parent.
    pub fn slots(&self) -> usize {
        1 + self.long.as_ref().map_or(0, |u| long_slot_count(u.len()))
    }
}

/// All nodes; index 0 is the root.
#[derive(Debug)]
pub struct Namespace {
    /// The arena of nodes.
    pub nodes: Vec<Node>,
}

/// What the caller says a path is.
#[derive(Debug, Clone, Copy)]
pub enum Declared {
    /// A directory.
    Dir,
    /// A file of this many bytes.
    File(u64),
}

fn bad_path(path: &str, reason: &str) -> FatError {
    FatError::BadPath {
        path: path.to_string(),
        reason: reason.to_string(),
    }
}

impl Namespace {
    /// Builds the hierarchy from `(path, kind)` pairs; the position in `paths` becomes
    /// each file's `source`.
    pub fn build(paths: &[(&str, Declared)]) -> Result<Self, FatError> {
        let mut nodes = vec![Node {
            path: String::new(),
            name: String::new(),
            long: None,
            short: [b' '; 11],
            nt_flags: 0,
            kind: NodeKind::Dir(Vec::new()),
        }];
        let mut by_name: HashMap<(NodeId, String), NodeId> = HashMap::new();
        let mut by_fold: HashMap<(NodeId, String), NodeId> = HashMap::new();
        // Implied directories that a later entry may declare explicitly, once.
        let mut implied: HashSet<NodeId> = HashSet::new();
        let mut order: Vec<usize> = (0..paths.len()).collect();
        order.sort_by(|&a, &b| paths[a].0.cmp(paths[b].0));
        for source in order {
            let (path, declared) = paths[source];
            if path.is_empty() {
                return Err(bad_path(path, "it is empty"));
            }
            if path.starts_with('/') {
                return Err(bad_path(path, "it must be relative (no leading /)"));
            }
            let parts: Vec<&str> = path.split('/').collect();
            let mut parent = ROOT;
            for (i, &part) in parts.iter().enumerate() {
                let here = parts[..=i].join("/");
                if part.is_empty() {
                    return Err(bad_path(
                        path,
                        "it has an empty component (// or a trailing /)",
                    ));
                }
                let last = i + 1 == parts.len();
                if let Some(&id) = by_name.get(&(parent, part.to_string())) {
                    match (&nodes[id].kind, last, declared) {
                        (NodeKind::Dir(_), false, _) => {}
                        (NodeKind::Dir(_), true, Declared::Dir) if implied.remove(&id) => {}
                        (NodeKind::File { .. }, false, _) => {
                            return Err(bad_path(
                                path,
                                &format!("{here} is a file, not a directory"),
                            ));
                        }
                        _ => return Err(FatError::Duplicate { path: here }),
                    }
                    parent = id;
                    continue;
                }
                let units = short_name::check_long(part).map_err(|reason| FatError::BadName {
                    path: here.clone(),
                    reason,
                })?;
                let fold = part.to_uppercase();
                if let Some(&other) = by_fold.get(&(parent, fold.clone())) {
                    return Err(FatError::CaseCollision {
                        first: nodes[other].path.clone(),
                        second: here,
                    });
                }
                let kind = match (last, declared) {
                    (true, Declared::File(len)) => NodeKind::File { len, source },
                    _ => NodeKind::Dir(Vec::new()),
                };
                let id = nodes.len();
                let (long, short, nt_flags) = match short_name::plan(part) {
                    Stored::Short { raw, nt_flags } => (None, raw, nt_flags),
                    // The short name is assigned once the whole directory is known.
                    Stored::Long(_) => (Some(units), [b' '; 11], 0),
                };
                nodes.push(Node {
                    path: here,
                    name: part.to_string(),
                    long,
                    short,
                    nt_flags,
                    kind,
                });
                if !last {
                    implied.insert(id);
                }
                if let NodeKind::Dir(children) = &mut nodes[parent].kind {
                    children.push(id);
                }
                by_name.insert((parent, part.to_string()), id);
                by_fold.insert((parent, fold), id);
                parent = id;
            }
        }
        let mut ns = Self { nodes };
        for id in 0..ns.nodes.len() {
            ns.sort_and_name(id)?;
        }
        Ok(ns)
    }

    /// Sorts a directory's children by name bytes and gives each long name a short name.
    fn sort_and_name(&mut self, dir: NodeId) -> Result<(), FatError> {
        let NodeKind::Dir(children) = &self.nodes[dir].kind else {
            return Ok(());
        };
        let mut children = children.clone();
        children.sort_by(|&a, &b| self.nodes[a].name.cmp(&self.nodes[b].name));
        let mut taken = HashSet::new();
        let mut pending = Vec::new();
        // Names that are their own short name (up to case) are reserved first so a
        // generated `~N` name can never take one of them.
        for &id in &children {
            let node = &mut self.nodes[id];
            if node.long.is_none() {
                taken.insert(node.short);
                continue;
            }
            match short_name::plan(&node.name) {
                Stored::Long(basis) => match basis.exact() {
                    Some(raw) if !taken.contains(&raw) => {
                        node.short = raw;
                        taken.insert(raw);
                    }
                    _ => pending.push((id, basis)),
                },
                Stored::Short { raw, .. } => {
                    node.short = raw;
                    taken.insert(raw);
                }
            }
        }
        for (id, basis) in pending {
            let node = &mut self.nodes[id];
            let raw = short_name::generate(&basis, &node.name, &taken).ok_or_else(|| {
                FatError::ShortNamesExhausted {
                    path: node.path.clone(),
                }
            })?;
            node.short = raw;
            taken.insert(raw);
        }
        self.nodes[dir].kind = NodeKind::Dir(children);
        Ok(())
    }

    /// The children of a directory node (empty for a file).
    pub fn children(&self, id: NodeId) -> &[NodeId] {
        match &self.nodes[id].kind {
            NodeKind::Dir(children) => children,
            NodeKind::File { .. } => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(ns: &Namespace, dir: NodeId) -> Vec<(String, String)> {
        ns.children(dir)
            .iter()
            .map(|&id| {
                let n = &ns.nodes[id];
                (n.name.clone(), short_name::display(&n.short, 0))
            })
            .collect()
    }

    #[test]
    fn parents_are_implied_and_children_sorted() {
        let ns = Namespace::build(&[
            ("b/z.txt", Declared::File(1)),
            ("a", Declared::File(0)),
            ("b", Declared::Dir),
            ("b/Makefile", Declared::File(3)),
        ])
        .unwrap();
        assert_eq!(
            names(&ns, ROOT),
            [("a".into(), "A".into()), ("b".into(), "B".into())]
        );
        let b = ns.children(ROOT)[1];
        assert_eq!(
            names(&ns, b),
            [
                ("Makefile".into(), "MAKEFILE".into()),
                ("z.txt".into(), "Z.TXT".into())
            ]
        );
    }

    #[test]
    fn case_clashes_and_duplicates_are_refused() {
        let err = Namespace::build(&[
            ("Makefile.am", Declared::File(0)),
            ("makefile.AM", Declared::File(0)),
        ])
        .unwrap_err();
        assert!(matches!(err, FatError::CaseCollision { .. }), "{err}");
        let err = Namespace::build(&[("x", Declared::File(0)), ("x", Declared::Dir)]).unwrap_err();
        assert!(matches!(err, FatError::Duplicate { .. }), "{err}");
        let err =
            Namespace::build(&[("x", Declared::File(0)), ("x/y", Declared::Dir)]).unwrap_err();
        assert!(matches!(err, FatError::BadPath { .. }), "{err}");
        for bad in ["/abs", "a//b", "a/", "", "a/../b"] {
            assert!(Namespace::build(&[(bad, Declared::Dir)]).is_err(), "{bad}");
        }
        assert!(matches!(
            Namespace::build(&[("a?b", Declared::Dir)]),
            Err(FatError::BadName { .. })
        ));
    }

    #[test]
    fn generated_short_names_avoid_literal_ones() {
        let ns = Namespace::build(&[
            ("longfilename1.txt", Declared::File(0)),
            ("LONGFI~1.TXT", Declared::File(0)),
        ])
        .unwrap();
        assert_eq!(
            names(&ns, ROOT),
            [
                ("LONGFI~1.TXT".into(), "LONGFI~1.TXT".into()),
                ("longfilename1.txt".into(), "LONGFI~2.TXT".into())
            ]
        );
    }
}
