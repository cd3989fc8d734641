//! [`Database::purge`]: what `dpkg --purge` does to the files of an installed package,
//! plus what its `postrm purge` would do through `deb-systemd-helper` and `update-rc.d`
//! to the enablement of its services.
//!
//! Checked against dpkg 1.21: the files of its `.list` that no other package lists are
//! removed, deepest first; directories only when empty; its conffiles together with the
//! copies dpkg and editors leave beside them (`.dpkg-old`, `.dpkg-new`, `.dpkg-dist`,
//! `.dpkg-tmp`, `~`, `.bak`, `%`, `#name#`); every `info/<pkg>.*`; its trigger interests;
//! and its `status` entry,
//! which disappears (dpkg does not keep `purge ok not-installed` entries). The
//! maintainer scripts are not run, so what a `postrm purge` does beyond enablement
//! (removing users, logs, caches) is not done.

use std::collections::BTreeSet;

use super::admin_dir::{entry_info_name, list_of, remove_info_files};
use super::database::Database;
use super::error::DpkgError;
use super::triggers::update_interests;
use crate::tree::{Inode, Kind, Tree, TreePath};

/// The suffixes of conffile copies dpkg removes with a purged conffile.
const CONFFILE_COPIES: [&str; 7] = [
    ".dpkg-old",
    ".dpkg-new",
    ".dpkg-dist",
    ".dpkg-tmp",
    "~",
    ".bak",
    "%",
];

/// Where systemd unit files of packages live.
const UNIT_DIRS: [&str; 3] = [
    "lib/systemd/system",
    "usr/lib/systemd/system",
    "etc/systemd/system",
];

/// What a purge removed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PurgeReport {
    /// The package (info name).
    pub package: String,
    /// Its version.
    pub version: String,
    /// Files and directories removed, as tree paths.
    pub removed: Vec<TreePath>,
    /// Paths of its `.list` kept because another package lists them or a directory is
    /// not empty.
    pub kept: Vec<TreePath>,
    /// Enablement links removed (`.wants/`, `.requires/`, aliases, `rc?.d`).
    pub links: Vec<TreePath>,
    /// Its `info/` files removed, by name.
    pub info_files: Vec<String>,
}

impl Database {
    /// Purges `package` (`name` or `name:arch`) from `tree` as `dpkg --purge` would, and
    /// removes its services' enablement links. Essential packages are refused.
    pub fn purge(&mut self, tree: &mut Tree, package: &str) -> Result<PurgeReport, DpkgError> {
        let (name, arch) = match package.split_once(':') {
            Some((n, a)) => (n, Some(a)),
            None => (package, None),
        };
        let matches: Vec<usize> = self
            .status()
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.name() == name && arch.is_none_or(|a| e.architecture() == Some(a)))
            .map(|(i, _)| i)
            .collect();
        let index = match matches.as_slice() {
            [] => {
                return Err(DpkgError::NotInstalled {
                    package: package.to_owned(),
                });
            }
            [one] => *one,
            many => {
                let architectures = many
                    .iter()
                    .filter_map(|i| self.status().entries.get(*i)?.architecture())
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(DpkgError::Ambiguous {
                    package: package.to_owned(),
                    architectures,
                });
            }
        };
        let Some(entry) = self.status().entries.get(index).cloned() else {
            return Err(DpkgError::NotInstalled {
                package: package.to_owned(),
            });
        };
        if entry.essential() {
            return Err(DpkgError::Essential {
                package: package.to_owned(),
            });
        }
        let info = entry_info_name(&entry);
        let files = list_of(tree, &info)?;
        let mut report = PurgeReport {
            package: info.clone(),
            version: entry
                .version()
                .map(|v| v.as_str().to_owned())
                .unwrap_or_default(),
            ..PurgeReport::default()
        };

        // Enablement first: it is found through the unit files, which go next.
        report.links = remove_enablement(tree, &files);

        let diversions = self.diversions().clone();
        let owners = self.owners_mut(tree)?;
        let shared = |path: &TreePath| {
            owners
                .get(path)
                .is_some_and(|set| set.iter().any(|o| *o != info))
        };
        let conffiles: Vec<TreePath> = entry
            .conffiles()
            .iter()
            .filter_map(|c| TreePath::parse(&c.path).ok())
            .collect();
        let mut removed = Vec::new();
        let mut kept = Vec::new();
        for conffile in &conffiles {
            if shared(conffile) {
                kept.push(conffile.clone());
                continue;
            }
            let Ok(target) = diversions.destination(conffile, entry.name()) else {
                continue;
            };
            for path in conffile_copies(&target) {
                if let Ok(dest) = tree.resolve(&path, false)
                    && tree.get(&dest).is_some_and(|i| !i.is_dir())
                    && tree.remove(&dest).is_ok()
                {
                    removed.push(dest);
                }
            }
        }
        let mut candidates: Vec<&TreePath> = files
            .iter()
            .filter(|p| !p.is_root() && !conffiles.contains(p))
            .collect();
        candidates.sort_by(|a, b| b.cmp(a));
        candidates.dedup();
        for path in candidates {
            if shared(path) {
                kept.push(path.clone());
                continue;
            }
            let Ok(target) = diversions.destination(path, entry.name()) else {
                continue;
            };
            let Ok(dest) = tree.resolve(&target, false) else {
                continue;
            };
            let Some(inode) = tree.get(&dest) else {
                continue;
            };
            let keep = match &inode.kind {
                Kind::Dir => tree.children(&dest).next().is_some(),
                // A symlink standing for a directory (a merged-/usr alias) stays.
                Kind::Symlink(_) => tree.lookup(&dest).is_ok_and(Inode::is_dir),
                _ => false,
            };
            if keep {
                kept.push(path.clone());
            } else if tree.remove(&dest).is_ok() {
                removed.push(dest);
            }
        }
        for set in owners.values_mut() {
            set.remove(&info);
        }
        owners.retain(|_, set| !set.is_empty());
        report.removed = removed;
        report.kept = kept;
        report.info_files = remove_info_files(tree, &info)?;
        update_interests(tree, &info, None, self.mtime())?;
        self.status_mut().entries.remove(index);
        self.forget_preinst(&info);
        Ok(report)
    }
}

/// A conffile and the copies of it that dpkg removes on purge.
fn conffile_copies(conffile: &TreePath) -> Vec<TreePath> {
    let mut out = vec![conffile.clone()];
    let (Some(parent), Some(name)) = (conffile.parent(), conffile.file_name()) else {
        return out;
    };
    let mut names: Vec<Vec<u8>> = CONFFILE_COPIES
        .iter()
        .map(|ext| [name, ext.as_bytes()].concat())
        .collect();
    names.push([b"#", name, b"#"].concat());
    out.extend(names.iter().filter_map(|n| parent.join(n).ok()));
    out
}

/// Removes the links that enable the package's systemd units and sysv init scripts:
/// `/etc/systemd/system/*.{wants,requires}/<unit>`, aliases in `/etc/systemd/system`
/// pointing at its units, deb-systemd-helper's state for them, and
/// `/etc/rc?.d/[SK]NN<script>` for its `/etc/init.d/<script>`.
fn remove_enablement(tree: &mut Tree, files: &[TreePath]) -> Vec<TreePath> {
    let mut units: BTreeSet<Vec<u8>> = BTreeSet::new();
    let mut scripts: BTreeSet<Vec<u8>> = BTreeSet::new();
    let init_d = path("etc/init.d");
    for file in files {
        let (Some(parent), Some(name)) = (file.parent(), file.file_name()) else {
            continue;
        };
        if parent == init_d {
            scripts.insert(name.to_vec());
        } else if UNIT_DIRS.iter().any(|d| parent == path(d))
            && tree.lookup(file).is_ok_and(|i| !i.is_dir())
        {
            units.insert(name.to_vec());
        }
    }
    let is_unit_link = |tree: &Tree, p: &TreePath| match tree.get(p) {
        Some(Inode {
            kind: Kind::Symlink(target),
            ..
        }) => {
            let base = target.rsplit(|b| *b == b'/').next().unwrap_or_default();
            units.contains(base) || p.file_name().is_some_and(|n| units.contains(n))
        }
        _ => false,
    };
    let mut doomed: Vec<TreePath> = Vec::new();
    if !units.is_empty() {
        let etc_units = path("etc/systemd/system");
        for (child, _) in tree.children(&etc_units) {
            let name = child.file_name().unwrap_or_default();
            if name.ends_with(b".wants") || name.ends_with(b".requires") {
                doomed.extend(
                    tree.children(child)
                        .map(|(p, _)| p)
                        .filter(|p| is_unit_link(tree, p))
                        .cloned(),
                );
            } else if is_unit_link(tree, child) {
                doomed.push(child.clone());
            }
        }
        for state in [
            "var/lib/systemd/deb-systemd-helper-enabled",
            "var/lib/systemd/deb-systemd-helper-masked",
        ] {
            let state = path(state);
            doomed.extend(
                tree.iter()
                    .map(|(p, _, _)| p)
                    .filter(|p| p.starts_with(&state) && **p != state)
                    .filter(|p| {
                        let name = p.file_name().unwrap_or_default();
                        let unit = name.strip_suffix(b".dsh-also").unwrap_or(name);
                        units.contains(unit)
                    })
                    .cloned(),
            );
        }
    }
    for level in ["0", "1", "2", "3", "4", "5", "6", "S"] {
        let dir = path(&format!("etc/rc{level}.d"));
        doomed.extend(
            tree.children(&dir)
                .map(|(p, _)| p)
                .filter(|p| {
                    let name = p.file_name().unwrap_or_default();
                    matches!(name.first(), Some(b'S' | b'K'))
                        && name
                            .get(1..3)
                            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
                        && name.get(3..).is_some_and(|s| scripts.contains(s))
                        && matches!(tree.get(p).map(|i| &i.kind), Some(Kind::Symlink(_)))
                })
                .cloned(),
        );
    }
    doomed.retain(|p| tree.remove(p).is_ok());
    doomed
}

fn path(text: &str) -> TreePath {
    TreePath::parse(text).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Timestamp;
    use proptest::prelude::*;

    const STATUS: &str = "Package: a\nStatus: install ok installed\nArchitecture: armhf\nVersion: 1\nConffiles:\n /etc/a.conf 0123456789abcdef0123456789abcdef\n\nPackage: b\nStatus: install ok installed\nArchitecture: all\nMulti-Arch: same\nVersion: 2\n\nPackage: dpkg\nEssential: yes\nStatus: install ok installed\nArchitecture: armhf\nVersion: 1.18\n\n";
    const LIST: &str = "/.\n/etc\n/etc/a.conf\n/usr\n/usr/bin\n/usr/bin/a\n/etc/init.d/a\n/lib/systemd/system/a.service\n";

    fn tree_with(status: &[u8], list: &[u8]) -> Tree {
        let t = Timestamp::from_secs(1);
        let mut tree = Tree::new(Inode::dir(0o755, t));
        for (p, bytes) in [
            ("var/lib/dpkg/status", status),
            ("var/lib/dpkg/info/a.list", list),
            (
                "var/lib/dpkg/info/b:all.list",
                b"/.\n/usr\n/usr/bin\n/usr/bin/a\n",
            ),
            ("etc/a.conf", b"x"),
            ("etc/a.conf~", b"x"),
            ("usr/bin/a", b"a"),
        ] {
            let path = TreePath::parse(p).unwrap();
            tree.create_dir_all(&path.parent().unwrap(), &Inode::dir(0o755, t))
                .unwrap();
            tree.insert(path, Inode::file(bytes.to_vec(), 0o644, t))
                .unwrap();
        }
        tree
    }

    #[test]
    fn conffile_copies_are_dpkgs() {
        let names: Vec<String> = conffile_copies(&path("etc/x.conf"))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(names.contains(&"/etc/x.conf".to_owned()));
        assert!(names.contains(&"/etc/x.conf.dpkg-old".to_owned()));
        assert!(names.contains(&"/etc/#x.conf#".to_owned()));
        assert_eq!(names.len(), 9);
    }

    #[test]
    fn purge_removes_files_copies_and_records() {
        let mut tree = tree_with(STATUS.as_bytes(), LIST.as_bytes());
        let mut db = Database::read(&tree).unwrap();
        let report = db.purge(&mut tree, "a").unwrap();
        assert!(tree.get(&path("etc/a.conf~")).is_none());
        // `b` lists these too, so they stay.
        assert!(tree.get(&path("usr/bin/a")).is_some(), "{report:?}");
        assert_eq!(report.info_files, ["a.list"]);
        assert!(db.status().find("a", None).is_none());
        let report = db.purge(&mut tree, "b:all").unwrap();
        assert!(tree.get(&path("usr/bin/a")).is_none(), "{report:?}");
        assert!(tree.get(&path("usr")).is_none());
        assert!(matches!(
            db.purge(&mut tree, "dpkg"),
            Err(DpkgError::Essential { .. })
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn hostile_databases_never_panic(
            at in 0usize..400,
            junk in prop::collection::vec(any::<u8>(), 1..8),
            list in prop::collection::vec(any::<u8>(), 0..200),
        ) {
            let mut status = STATUS.as_bytes().to_vec();
            let at = at % status.len();
            status.splice(at..at, junk);
            let mut tree = tree_with(&status, &list);
            if let Ok(mut db) = Database::read(&tree) {
                for name in ["a", "b", "dpkg", "b:all"] {
                    let _ = db.purge(&mut tree, name);
                }
                let _ = db.write(&mut tree);
            }
        }
    }
}
