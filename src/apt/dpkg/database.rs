//! [`Database`]: the image's `/var/lib/dpkg`, read from the tree, changed the way
//! `dpkg --unpack` changes it, and written back.
//!
//! What is recorded for an unpacked package (checked against dpkg 1.21 with `--root`):
//! - its `status` entry from its `control` file, `Status: install ok unpacked`, with
//!   `Conffiles:` holding `newconffile` for new conffiles, the old digest for conffiles the
//!   previous version already had, and `Config-Version:` the previously configured version;
//! - `info/<pkg>.<file>` for every control file but `control` (modes as in the archive, so
//!   maintainer scripts stay executable), `info/<pkg>.list`, and a generated `.md5sums`
//!   when the package ships none. Multi-Arch: same packages use `<pkg>:<arch>.<file>`.
//! - The previous version's info files are replaced.
//!
//! - Its trigger interests are registered in `triggers/` (see [`super::triggers`]).
//!
//! `status` is written sorted by package name then architecture, as dpkg writes it, with
//! the previous text kept as `status-old`. The `available` file is not written; the maintainer
//! scripts dpkg would run at unpack (`preinst`, the old version's `prerm`/`postrm
//! upgrade`) are not run: the preinst steps are remembered as [`PreinstStep`]s for the
//! first-boot unit.

use std::collections::{BTreeMap, BTreeSet};

use super::admin_dir::{
    MAX_INFO_BYTES, admin_path, entry_info_name, info_name, info_path, list_of, read_file,
    remove_info_files, write_file,
};
use super::error::DpkgError;
use super::triggers::{check_interests, update_interests};
use crate::apt::deb::DebPackage;
use crate::apt::deb822::{self, Options, OwnedParagraph};
use crate::apt::diversion::Diversions;
use crate::apt::package::MultiArch;
use crate::apt::status::{Conffile, State, Status, StatusEntry, StatusFile};
use crate::apt::unpack::{InstalledFiles, UnpackedFiles};
use crate::tree::{Timestamp, Tree, TreePath};

/// The largest `status` file read (a full desktop system's is a few MiB).
const MAX_STATUS_BYTES: u64 = 256 << 20;

/// A maintainer's `preinst` step dpkg would have run at unpack, deferred to first boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreinstStep {
    /// The package's info name: `name` or `name:arch` for Multi-Arch: same.
    pub info_name: String,
    /// The package name.
    pub package: String,
    /// Its architecture.
    pub architecture: String,
    /// The arguments dpkg passes: `install`, `install <old> <new>` (config files left by
    /// an earlier removal) or `upgrade <old> <new>`.
    pub args: Vec<String>,
}

/// The dpkg database of an image.
#[derive(Debug, Clone)]
pub struct Database {
    status: StatusFile,
    status_text: String,
    changed: bool,
    diversions: Diversions,
    arch: String,
    mtime: Timestamp,
    /// Path to the info names of the packages listing it; loaded on first need.
    owners: Option<BTreeMap<TreePath, BTreeSet<String>>>,
    preinst: Vec<PreinstStep>,
}

impl Database {
    /// Reads the database of the image in `tree`: `status`, `diversions` and the native
    /// architecture (the `dpkg` package's, else the first line of `arch`).
    pub fn read(tree: &Tree) -> Result<Database, DpkgError> {
        let status_path = admin_path("status");
        let bytes = read_file(tree, &status_path, MAX_STATUS_BYTES)?.ok_or_else(|| {
            DpkgError::NoStatus {
                path: status_path.to_string(),
            }
        })?;
        let status_text = String::from_utf8(bytes).map_err(|_| DpkgError::Read {
            path: status_path.to_string(),
            reason: "it is not UTF-8 text".to_owned(),
        })?;
        let status = StatusFile::parse(&status_text, "/var/lib/dpkg/status")?;
        let diversions = match read_file(tree, &admin_path("diversions"), MAX_INFO_BYTES)? {
            Some(bytes) => Diversions::parse(&bytes)?,
            None => Diversions::default(),
        };
        let from_dpkg = status
            .entries
            .iter()
            .find(|e| e.name() == "dpkg" && e.status().state > State::ConfigFiles)
            .and_then(|e| e.architecture())
            .map(str::to_owned);
        let arch = match from_dpkg {
            Some(arch) => arch,
            None => read_file(tree, &admin_path("arch"), MAX_INFO_BYTES)?
                .and_then(|bytes| {
                    String::from_utf8_lossy(&bytes)
                        .lines()
                        .map(str::trim)
                        .find(|l| !l.is_empty())
                        .map(str::to_owned)
                })
                .ok_or(DpkgError::NoArchitecture)?,
        };
        let mtime = tree
            .lookup(&status_path)
            .map(|i| i.mtime)
            .unwrap_or_default();
        Ok(Database {
            status,
            status_text,
            changed: false,
            diversions,
            arch,
            mtime,
            owners: None,
            preinst: Vec::new(),
        })
    }

    /// The image's native architecture.
    pub fn arch(&self) -> &str {
        &self.arch
    }

    /// The status entries as they stand.
    pub fn status(&self) -> &StatusFile {
        &self.status
    }

    /// The diversions in force.
    pub fn diversions(&self) -> &Diversions {
        &self.diversions
    }

    /// The time given to every file this database writes (by default the `status`
    /// file's own, so the output does not depend on the clock).
    pub fn set_mtime(&mut self, mtime: Timestamp) {
        self.mtime = mtime;
    }

    /// The `preinst` steps deferred to first boot, in unpack order.
    pub fn pending_preinst(&self) -> &[PreinstStep] {
        &self.preinst
    }

    /// Loads every `info/*.list` of a package that has files (not `config-files` or
    /// `not-installed` only), once.
    fn owners_index(
        &mut self,
        tree: &Tree,
    ) -> Result<&mut BTreeMap<TreePath, BTreeSet<String>>, DpkgError> {
        if self.owners.is_none() {
            let mut owners: BTreeMap<TreePath, BTreeSet<String>> = BTreeMap::new();
            for entry in &self.status.entries {
                let name = entry_info_name(entry);
                for path in list_of(tree, &name)? {
                    owners.entry(path).or_default().insert(name.clone());
                }
            }
            self.owners = Some(owners);
        }
        Ok(self.owners.get_or_insert_default())
    }

    /// Loads the `.list` files (on first call) so [`Database::owned_by_other`] answers.
    pub fn load_lists(&mut self, tree: &Tree) -> Result<(), DpkgError> {
        self.owners_index(tree).map(|_| ())
    }

    /// The packages (info names) whose `.list` holds `path`; empty before
    /// [`Database::load_lists`].
    pub fn owners(&self, path: &TreePath) -> Vec<&str> {
        self.owners
            .as_ref()
            .and_then(|o| o.get(path))
            .map(|set| set.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// Whether a package other than `info_name` lists `path` (for `unpack`'s
    /// `owned_by_other`); needs [`Database::load_lists`] first.
    pub fn owned_by_other(&self, info_name: &str, path: &TreePath) -> bool {
        self.owners
            .as_ref()
            .and_then(|o| o.get(path))
            .is_some_and(|set| set.iter().any(|o| o != info_name))
    }

    /// The `info/` name the package in `deb` is recorded under (`name` or `name:arch`),
    /// to pass to [`Database::owned_by_other`] while unpacking it.
    pub fn info_name(&self, deb: &DebPackage) -> Result<String, DpkgError> {
        let (name, arch, multi_arch) = identity(&parse_control(deb)?, deb)?;
        Ok(info_name(&name, &arch, multi_arch))
    }

    /// The installed entry a new package of this name and architecture replaces.
    fn installed_index(&self, name: &str, arch: &str, multi_arch: MultiArch) -> Option<usize> {
        self.status.entries.iter().position(|e| {
            e.name() == name
                && (e.architecture() == Some(arch)
                    || (multi_arch != MultiArch::Same && e.multi_arch() != MultiArch::Same))
        })
    }

    /// What the installed version of the package in `deb` owns (for `unpack`'s `old`),
    /// `None` on a first install. Loads the `.list` files.
    pub fn installed_files(
        &mut self,
        tree: &Tree,
        deb: &DebPackage,
    ) -> Result<Option<InstalledFiles>, DpkgError> {
        self.load_lists(tree)?;
        let control = parse_control(deb)?;
        let (name, arch, multi_arch) = identity(&control, deb)?;
        let Some(index) = self.installed_index(&name, &arch, multi_arch) else {
            return Ok(None);
        };
        let Some(entry) = self.status.entries.get(index) else {
            return Ok(None);
        };
        let info = entry_info_name(entry);
        let files = list_of(tree, &info)?;
        let conffiles = entry
            .conffiles()
            .iter()
            .filter_map(|c| TreePath::parse(&c.path).ok())
            .collect();
        Ok(Some(InstalledFiles { files, conffiles }))
    }

    /// Records `deb`, already unpacked into `tree` as `unpacked`, exactly as
    /// `dpkg --unpack` records it.
    pub fn record_unpacked(
        &mut self,
        tree: &mut Tree,
        deb: &DebPackage,
        unpacked: &UnpackedFiles,
    ) -> Result<(), DpkgError> {
        self.load_lists(tree)?;
        let deb_name = deb.file.display().to_string();
        let mut control = parse_control(deb)?;
        let (name, arch, multi_arch) = identity(&control, deb)?;
        if name != unpacked.package {
            return Err(DpkgError::WrongPackage {
                deb: deb_name,
                expected: name,
                found: unpacked.package.clone(),
            });
        }
        let new_info = info_name(&name, &arch, multi_arch);
        let old_index = self.installed_index(&name, &arch, multi_arch);
        let old = old_index.and_then(|i| self.status.entries.get(i)).cloned();

        let declared = deb.control.conffiles().map_err(|e| DpkgError::BadControl {
            deb: deb_name.clone(),
            reason: format!("conffiles: {e}"),
        })?;
        let old_conffiles = old.as_ref().map_or(&[][..], |o| o.conffiles());
        let mut conffiles: Vec<Conffile> = declared
            .iter()
            .map(|c| {
                let path = c.path.to_string();
                let md5 = old_conffiles
                    .iter()
                    .find(|o| o.path == path)
                    .map_or_else(|| "newconffile".to_owned(), |o| o.md5.clone());
                Conffile {
                    path,
                    md5,
                    obsolete: false,
                    remove_on_upgrade: c.remove_on_upgrade,
                }
            })
            .collect();
        for o in old_conffiles {
            if !conffiles.iter().any(|c| c.path == o.path) {
                conffiles.push(Conffile {
                    obsolete: true,
                    ..o.clone()
                });
            }
        }

        let new_version = control.get("Version").unwrap_or("").to_owned();
        let mut args = vec!["install".to_owned()];
        if let Some(old) = &old {
            let old_version = old.version().map(|v| v.as_str().to_owned());
            let configured = old.status().state >= State::TriggersAwaited;
            let config_version = if configured {
                old_version.clone()
            } else {
                old.fields().get("Config-Version").map(str::to_owned)
            };
            if let Some(v) = config_version {
                control.set("Config-Version", &v);
            }
            match (old.status().state, old_version) {
                (State::NotInstalled, _) | (_, None) => {}
                (State::ConfigFiles, Some(v)) => args = vec!["install".into(), v, new_version],
                (_, Some(v)) => args = vec!["upgrade".into(), v, new_version],
            }
        }
        let entry = StatusEntry::from_control(&control, Status::UNPACKED, &conffiles, &deb_name)?;

        // Info files: every name is checked before anything changes; then the old
        // version's go and the new version's come.
        let mut info: Vec<(TreePath, Vec<u8>, u32)> = Vec::new();
        for file in deb.control.info_files() {
            let path = info_path(&format!("{new_info}.{}", file.name))?;
            info.push((path, file.bytes.clone(), file.mode & 0o7777));
        }
        if deb.control.get("md5sums").is_none() {
            let path = info_path(&format!("{new_info}.md5sums"))?;
            info.push((path, unpacked.md5sums_text(), 0o644));
        }
        info.push((
            info_path(&format!("{new_info}.list"))?,
            unpacked.list_text(),
            0o644,
        ));
        let triggers = deb.control.get("triggers").map(|f| f.bytes.as_slice());
        check_interests(&new_info, triggers.unwrap_or_default())?;
        if let Some(old) = &old {
            remove_info_files(tree, &entry_info_name(old))?;
        }
        remove_info_files(tree, &new_info)?;
        for (path, bytes, mode) in info {
            write_file(tree, &path, bytes, mode, self.mtime)?;
        }
        if let Some(old) = &old {
            update_interests(tree, &entry_info_name(old), None, self.mtime)?;
        }
        update_interests(tree, &new_info, triggers, self.mtime)?;

        let owners = self.owners_index(tree)?;
        if let Some(old) = &old {
            let old_info = entry_info_name(old);
            for set in owners.values_mut() {
                set.remove(&old_info);
            }
        }
        for path in &unpacked.files {
            owners
                .entry(path.clone())
                .or_default()
                .insert(new_info.clone());
        }
        match old_index {
            Some(i) => {
                if let Some(slot) = self.status.entries.get_mut(i) {
                    *slot = entry;
                }
            }
            None => self.status.entries.push(entry),
        }
        self.preinst.retain(|s| s.info_name != new_info);
        self.preinst.push(PreinstStep {
            info_name: new_info,
            package: name,
            architecture: arch,
            args,
        });
        self.changed = true;
        Ok(())
    }

    /// Writes `status` (sorted as dpkg sorts it, the previous text as `status-old`) and
    /// `info/format`, when anything changed.
    pub fn write(&mut self, tree: &mut Tree) -> Result<(), DpkgError> {
        let format = admin_path("info/format");
        if tree.get(&format).is_none() {
            write_file(tree, &format, b"1\n".to_vec(), 0o644, self.mtime)?;
        }
        if !self.changed {
            return Ok(());
        }
        self.status.entries.sort_by(|a, b| {
            (a.name(), a.architecture().unwrap_or(""))
                .cmp(&(b.name(), b.architecture().unwrap_or("")))
        });
        let text = self.status.write();
        let old = std::mem::replace(&mut self.status_text, text.clone());
        write_file(
            tree,
            &admin_path("status-old"),
            old.into_bytes(),
            0o644,
            self.mtime,
        )?;
        write_file(
            tree,
            &admin_path("status"),
            text.into_bytes(),
            0o644,
            self.mtime,
        )?;
        self.changed = false;
        Ok(())
    }

    /// Marks the status as changed (for the purge in the sibling module).
    pub(crate) fn status_mut(&mut self) -> &mut StatusFile {
        self.changed = true;
        &mut self.status
    }

    /// The owner index, loaded (for the purge in the sibling module).
    pub(crate) fn owners_mut(
        &mut self,
        tree: &Tree,
    ) -> Result<&mut BTreeMap<TreePath, BTreeSet<String>>, DpkgError> {
        self.owners_index(tree)
    }

    /// The time given to written files.
    pub(crate) fn mtime(&self) -> Timestamp {
        self.mtime
    }

    /// Forgets a purged package's deferred step.
    pub(crate) fn forget_preinst(&mut self, info_name: &str) {
        self.preinst.retain(|s| s.info_name != info_name);
    }
}

/// The `control` file as a paragraph.
fn parse_control(deb: &DebPackage) -> Result<OwnedParagraph, DpkgError> {
    let bad = |reason: String| DpkgError::BadControl {
        deb: deb.file.display().to_string(),
        reason,
    };
    let text = std::str::from_utf8(deb.control.control())
        .map_err(|_| bad("the control file is not UTF-8".to_owned()))?;
    let paragraphs =
        deb822::parse_all(text, "control", Options::STRICT).map_err(|e| bad(e.to_string()))?;
    paragraphs
        .first()
        .map(|p| p.to_owned_paragraph())
        .ok_or_else(|| bad("the control file is empty".to_owned()))
}

/// Name, architecture and Multi-Arch of a control paragraph.
fn identity(
    control: &OwnedParagraph,
    deb: &DebPackage,
) -> Result<(String, String, MultiArch), DpkgError> {
    let bad = |reason: &str| DpkgError::BadControl {
        deb: deb.file.display().to_string(),
        reason: reason.to_owned(),
    };
    let name = control
        .get("Package")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| bad("no Package field"))?;
    let arch = control
        .get("Architecture")
        .filter(|a| !a.is_empty())
        .ok_or_else(|| bad("no Architecture field"))?;
    let multi_arch = match control.get("Multi-Arch").unwrap_or("no") {
        "same" => MultiArch::Same,
        "foreign" => MultiArch::Foreign,
        "allowed" => MultiArch::Allowed,
        _ => MultiArch::No,
    };
    // dpkg's rules (Policy 5.6.1 and dpkg-architecture): these become file names.
    let name_ok = name.len() >= 2
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c));
    if !name_ok {
        return Err(bad("the Package field is not a valid package name"));
    }
    if !arch
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(bad("the Architecture field is not a valid architecture"));
    }
    Ok((name.to_owned(), arch.to_owned(), multi_arch))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apt::compression::Compression;
    use crate::apt::control_files::{ControlFile, ControlFiles};
    use crate::tree::Inode;

    fn deb(control: &str) -> DebPackage {
        DebPackage {
            file: "x.deb".into(),
            control: ControlFiles {
                files: vec![
                    ControlFile {
                        name: "control".into(),
                        mode: 0o644,
                        bytes: control.as_bytes().to_vec(),
                    },
                    ControlFile {
                        name: "postinst".into(),
                        mode: 0o755,
                        bytes: b"#!/bin/sh\n".to_vec(),
                    },
                ],
            },
            entries: Vec::new(),
            control_compression: Compression::Xz,
            data_compression: Compression::Xz,
        }
    }

    fn tree() -> Tree {
        let t = Timestamp::from_secs(7);
        let mut tree = Tree::new(Inode::dir(0o755, t));
        let status = admin_path("status");
        tree.create_dir_all(&status.parent().unwrap(), &Inode::dir(0o755, t))
            .unwrap();
        let text =
            "Package: dpkg\nStatus: install ok installed\nArchitecture: armhf\nVersion: 1.17\n\n";
        tree.insert(status, Inode::file(text, 0o644, t)).unwrap();
        tree
    }

    fn unpacked(name: &str) -> UnpackedFiles {
        UnpackedFiles {
            package: name.into(),
            files: vec![TreePath::root()],
            md5sums: Vec::new(),
            conffiles: Vec::new(),
            removed: Vec::new(),
        }
    }

    #[test]
    fn hostile_names_are_refused_before_anything_is_written() {
        let mut tree = tree();
        let mut db = Database::read(&tree).unwrap();
        assert_eq!(db.arch(), "armhf");
        let before = tree.len();
        for control in [
            "Package: a/b\nVersion: 1\nArchitecture: armhf\n",
            "Package: ab\nVersion: 1\nArchitecture: ../x\n",
            "Package: ab\nVersion: 1\n",
        ] {
            let name = control
                .lines()
                .next()
                .unwrap()
                .trim_start_matches("Package: ");
            let err = db
                .record_unpacked(&mut tree, &deb(control), &unpacked(name))
                .unwrap_err();
            assert!(matches!(err, DpkgError::BadControl { .. }), "{err}");
        }
        assert_eq!(tree.len(), before);
    }

    #[test]
    fn records_scripts_executable_and_status_unpacked() {
        let mut tree = tree();
        let mut db = Database::read(&tree).unwrap();
        let control = "Package: ab\nVersion: 1.0\nArchitecture: armhf\nMulti-Arch: same\nDescription: x\n y\n";
        db.record_unpacked(&mut tree, &deb(control), &unpacked("ab"))
            .unwrap();
        db.write(&mut tree).unwrap();
        let script = tree.get(&admin_path("info/ab:armhf.postinst")).unwrap();
        assert_eq!((script.mode, script.uid, script.gid), (0o755, 0, 0));
        assert_eq!(script.mtime, Timestamp::from_secs(7));
        assert!(tree.get(&admin_path("info/ab:armhf.list")).is_some());
        assert!(tree.get(&admin_path("info/ab:armhf.md5sums")).is_some());
        let status = read_file(&tree, &admin_path("status"), 1 << 20)
            .unwrap()
            .unwrap();
        let status = String::from_utf8(status).unwrap();
        assert!(
            status.starts_with("Package: ab\nStatus: install ok unpacked\n"),
            "{status}"
        );
        let old = read_file(&tree, &admin_path("status-old"), 1 << 20)
            .unwrap()
            .unwrap();
        assert!(old.starts_with(b"Package: dpkg\n"));
        assert_eq!(db.pending_preinst()[0].args, ["install"]);
    }
}
