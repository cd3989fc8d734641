//! dpkg's database of installed packages, `/var/lib/dpkg/status`: read into typed
//! [`StatusEntry`] records and written back exactly as dpkg writes it.
//!
//! Each entry keeps its full paragraph in order, so a file read and written unchanged comes
//! back byte for byte, unknown fields included. New entries made from a package's control
//! fields ([`StatusEntry::from_control`]) get dpkg's field order. This module does not write
//! the rest of the database (`info/*.list`, maintainer scripts) and does not lock anything.

use std::fmt;

use super::deb822::{self, Options, OwnedParagraph};
use super::package::{
    Fields, Key, MultiArch, Origin, PackageError, Relations, architecture_of, essential_of,
    multi_arch_of, name_of,
};
use super::relation::format_relations;
use super::version::Version;

/// The order in which dpkg writes the fields it knows; other fields follow in their own
/// order. Index-only fields (`Filename`, `Size`, `MD5sum`, …) are never written to status.
const DPKG_ORDER: [&str; 28] = [
    "Package",
    "Essential",
    "Protected",
    "Status",
    "Priority",
    "Section",
    "Installed-Size",
    "Origin",
    "Maintainer",
    "Bugs",
    "Architecture",
    "Multi-Arch",
    "Source",
    "Version",
    "Config-Version",
    "Replaces",
    "Provides",
    "Depends",
    "Pre-Depends",
    "Recommends",
    "Suggests",
    "Breaks",
    "Conflicts",
    "Enhances",
    "Conffiles",
    "Description",
    "Triggers-Pending",
    "Triggers-Awaited",
];

/// Fields of an index entry that dpkg keeps out of `status`.
const INDEX_ONLY: [&str; 9] = [
    "Filename",
    "Size",
    "MD5sum",
    "SHA1",
    "SHA256",
    "SHA512",
    "MSDOS-Filename",
    "Description-md5",
    "Status",
];

/// What the administrator wants done with a package (first word of `Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Want {
    /// `unknown`.
    Unknown,
    /// `install`.
    Install,
    /// `hold`.
    Hold,
    /// `deinstall`.
    Deinstall,
    /// `purge`.
    Purge,
}

/// Whether the package needs reinstalling (second word of `Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flag {
    /// `ok`.
    Ok,
    /// `reinstreq`: a failed operation left it broken.
    Reinstreq,
}

/// How far installation got (third word of `Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    /// `not-installed`.
    NotInstalled,
    /// `config-files`: only conffiles remain.
    ConfigFiles,
    /// `half-installed`.
    HalfInstalled,
    /// `unpacked`: files in place, not configured.
    Unpacked,
    /// `half-configured`.
    HalfConfigured,
    /// `triggers-awaited`.
    TriggersAwaited,
    /// `triggers-pending`.
    TriggersPending,
    /// `installed`.
    Installed,
}

const WANTS: [(Want, &str); 5] = [
    (Want::Unknown, "unknown"),
    (Want::Install, "install"),
    (Want::Hold, "hold"),
    (Want::Deinstall, "deinstall"),
    (Want::Purge, "purge"),
];
const FLAGS: [(Flag, &str); 2] = [(Flag::Ok, "ok"), (Flag::Reinstreq, "reinstreq")];
const STATES: [(State, &str); 8] = [
    (State::NotInstalled, "not-installed"),
    (State::ConfigFiles, "config-files"),
    (State::HalfInstalled, "half-installed"),
    (State::Unpacked, "unpacked"),
    (State::HalfConfigured, "half-configured"),
    (State::TriggersAwaited, "triggers-awaited"),
    (State::TriggersPending, "triggers-pending"),
    (State::Installed, "installed"),
];

fn word_of<T: Copy + PartialEq>(table: &[(T, &'static str)], value: T) -> &'static str {
    table
        .iter()
        .find(|(candidate, _)| *candidate == value)
        .map_or("", |(_, word)| word)
}

fn value_of<T: Copy>(table: &[(T, &'static str)], word: &str) -> Option<T> {
    table
        .iter()
        .find(|(_, candidate)| *candidate == word)
        .map(|(value, _)| *value)
}

/// The `Status: want flag state` triple.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Status {
    /// The selection.
    pub want: Want,
    /// The error flag.
    pub flag: Flag,
    /// The installation state.
    pub state: State,
}

impl Status {
    /// `install ok unpacked`: how this tool leaves packages for first boot to configure.
    pub const UNPACKED: Status = Status {
        want: Want::Install,
        flag: Flag::Ok,
        state: State::Unpacked,
    };

    /// Parses `want flag state`.
    pub fn parse(text: &str) -> Option<Status> {
        let mut words = text.split_whitespace();
        let (Some(want), Some(flag), Some(state), None) =
            (words.next(), words.next(), words.next(), words.next())
        else {
            return None;
        };
        Some(Status {
            want: value_of(&WANTS, want)?,
            flag: value_of(&FLAGS, flag)?,
            state: value_of(&STATES, state)?,
        })
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}",
            word_of(&WANTS, self.want),
            word_of(&FLAGS, self.flag),
            word_of(&STATES, self.state)
        )
    }
}

/// One line of `Conffiles`: a configuration file dpkg tracks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conffile {
    /// The absolute path.
    pub path: String,
    /// The MD5 of the file as shipped (`newconffile` before first configuration).
    pub md5: String,
    /// The package no longer ships it.
    pub obsolete: bool,
    /// It is to be removed on the next upgrade.
    pub remove_on_upgrade: bool,
}

impl fmt::Display for Conffile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.path, self.md5)?;
        if self.obsolete {
            f.write_str(" obsolete")?;
        }
        if self.remove_on_upgrade {
            f.write_str(" remove-on-upgrade")?;
        }
        Ok(())
    }
}

/// One package of the status database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusEntry {
    fields: OwnedParagraph,
    name: String,
    status: Status,
    version: Option<Version>,
    architecture: Option<String>,
    multi_arch: MultiArch,
    essential: bool,
    relations: Relations,
    conffiles: Vec<Conffile>,
    line: usize,
}

fn parse_conffiles(
    value: &str,
    line: usize,
    origin: Origin<'_>,
) -> Result<Vec<Conffile>, PackageError> {
    let mut conffiles = Vec::new();
    for (index, text) in value.split('\n').enumerate() {
        let mut words = text.split_whitespace();
        let Some(path) = words.next() else {
            continue;
        };
        let line = line.saturating_add(index);
        let expected = "`/path md5 [obsolete] [remove-on-upgrade]` on each line";
        let md5 = words
            .next()
            .ok_or_else(|| origin.bad_value(line, "Conffiles", text, expected))?;
        if !path.starts_with('/') {
            return Err(origin.bad_value(line, "Conffiles", text, expected));
        }
        let mut conffile = Conffile {
            path: path.to_owned(),
            md5: md5.to_owned(),
            obsolete: false,
            remove_on_upgrade: false,
        };
        for flag in words {
            match flag {
                "obsolete" => conffile.obsolete = true,
                "remove-on-upgrade" => conffile.remove_on_upgrade = true,
                _ => return Err(origin.bad_value(line, "Conffiles", text, expected)),
            }
        }
        conffiles.push(conffile);
    }
    Ok(conffiles)
}

impl StatusEntry {
    /// Reads an entry from its fields; `file` and `line` place it in error messages.
    pub fn from_fields(
        fields: OwnedParagraph,
        file: &str,
        line: usize,
    ) -> Result<StatusEntry, PackageError> {
        let table = Fields::collect(
            fields
                .fields
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str(), line)),
        );
        let entry = StatusEntry::typed(&table, file, line)?;
        Ok(StatusEntry { fields, ..entry })
    }

    /// The typed fields, with an empty paragraph for the caller to fill.
    fn typed(table: &Fields<'_>, file: &str, line: usize) -> Result<StatusEntry, PackageError> {
        let origin = Origin {
            file,
            line,
            package: "",
        };
        let name = name_of(table, origin)?;
        let origin = Origin {
            package: name,
            ..origin
        };
        let (status_text, status_line) = table
            .get(Key::Status)
            .ok_or_else(|| origin.missing("Status"))?;
        let status = Status::parse(status_text).ok_or_else(|| {
            origin.bad_value(
                status_line,
                "Status",
                status_text,
                "`want flag state`, e.g. `install ok installed`",
            )
        })?;
        let version = match table.get(Key::Version) {
            None => None,
            Some((text, line)) => Some(origin.version(line, "Version", text)?),
        };
        let conffiles = match table.get(Key::Conffiles) {
            None => Vec::new(),
            Some((text, line)) => parse_conffiles(text, line, origin)?,
        };
        Ok(StatusEntry {
            name: name.to_owned(),
            status,
            version,
            architecture: architecture_of(table, origin)?.map(str::to_owned),
            multi_arch: multi_arch_of(table, origin)?,
            essential: essential_of(table, origin)?,
            relations: Relations::parse(table, origin)?,
            conffiles,
            line,
            fields: OwnedParagraph::default(),
        })
    }

    /// Makes the entry for a package from its control fields (a `.deb`'s `control` file or
    /// an index paragraph), with dpkg's field order and without index-only fields.
    pub fn from_control(
        control: &OwnedParagraph,
        status: Status,
        conffiles: &[Conffile],
        file: &str,
    ) -> Result<StatusEntry, PackageError> {
        let mut fields = OwnedParagraph::new();
        let conffiles_value: String = conffiles.iter().map(|c| format!("\n {c}")).collect();
        for name in DPKG_ORDER {
            if name == "Status" {
                fields.fields.push((name.to_owned(), status.to_string()));
            } else if name == "Conffiles" {
                if !conffiles.is_empty() {
                    fields
                        .fields
                        .push((name.to_owned(), conffiles_value.clone()));
                }
            } else if let Some(value) = control.get(name) {
                fields.fields.push((name.to_owned(), value.to_owned()));
            }
        }
        for (name, value) in &control.fields {
            let mut known = DPKG_ORDER.iter().chain(INDEX_ONLY.iter());
            if !known.any(|k| k.eq_ignore_ascii_case(name)) {
                fields.fields.push((name.clone(), value.clone()));
            }
        }
        let mut entry = StatusEntry::from_fields(fields, file, 0)?;
        entry.normalize();
        Ok(entry)
    }

    /// Rewrites the fields dpkg normalises when it records a package: relationship fields
    /// in its canonical spelling, the version without a redundant epoch, `Essential: no`
    /// and `Multi-Arch: no` left out.
    fn normalize(&mut self) {
        let relations = &self.relations;
        let groups = [
            ("Replaces", &relations.replaces),
            ("Depends", &relations.depends),
            ("Pre-Depends", &relations.pre_depends),
            ("Recommends", &relations.recommends),
            ("Suggests", &relations.suggests),
            ("Breaks", &relations.breaks),
            ("Conflicts", &relations.conflicts),
            ("Enhances", &relations.enhances),
        ];
        let mut updates: Vec<(&str, Option<String>)> = groups
            .iter()
            .filter(|(name, _)| self.fields.get(name).is_some())
            .map(|(name, groups)| {
                let text = format_relations(groups);
                (*name, (!text.is_empty()).then_some(text))
            })
            .collect();
        if self.fields.get("Provides").is_some() {
            let text = relations
                .provides
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            updates.push(("Provides", (!text.is_empty()).then_some(text)));
        }
        if let Some(version) = &self.version {
            updates.push(("Version", Some(version.to_dpkg_string())));
        }
        if self.fields.get("Essential").is_some() {
            updates.push(("Essential", self.essential.then(|| "yes".to_owned())));
        }
        if self.fields.get("Multi-Arch").is_some() {
            let value =
                (self.multi_arch != MultiArch::No).then(|| self.multi_arch.as_str().to_owned());
            updates.push(("Multi-Arch", value));
        }
        for (name, value) in updates {
            match value {
                Some(value) => self.fields.set(name, &value),
                None => {
                    self.fields.remove(name);
                }
            }
        }
    }

    /// The fields in order, as they will be written.
    pub fn fields(&self) -> &OwnedParagraph {
        &self.fields
    }

    /// `Package`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `Status`.
    pub fn status(&self) -> Status {
        self.status
    }

    /// `Version` (absent for some not-installed entries).
    pub fn version(&self) -> Option<&Version> {
        self.version.as_ref()
    }

    /// `Architecture`.
    pub fn architecture(&self) -> Option<&str> {
        self.architecture.as_deref()
    }

    /// `Multi-Arch`.
    pub fn multi_arch(&self) -> MultiArch {
        self.multi_arch
    }

    /// `Essential: yes`.
    pub fn essential(&self) -> bool {
        self.essential
    }

    /// `Priority`.
    pub fn priority(&self) -> Option<&str> {
        self.fields.get("Priority")
    }

    /// The relationship fields.
    pub fn relations(&self) -> &Relations {
        &self.relations
    }

    /// `Conffiles`.
    pub fn conffiles(&self) -> &[Conffile] {
        &self.conffiles
    }

    /// The 1-based line where the entry was read (0 for a new entry).
    pub fn line(&self) -> usize {
        self.line
    }

    /// Changes `Status` in place.
    pub fn set_status(&mut self, status: Status) {
        self.status = status;
        self.fields.set("Status", &status.to_string());
    }
}

/// The whole status file, entries in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatusFile {
    /// The entries.
    pub entries: Vec<StatusEntry>,
}

impl StatusFile {
    /// Parses a status file; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<StatusFile, PackageError> {
        let mut entries = Vec::new();
        for paragraph in deb822::paragraphs(text, file, Options::STRICT) {
            let paragraph = paragraph?;
            // Typed from the borrowed paragraph so errors carry each field's own line.
            let entry = StatusEntry::typed(&Fields::of(&paragraph), file, paragraph.line())?;
            entries.push(StatusEntry {
                fields: paragraph.to_owned_paragraph(),
                ..entry
            });
        }
        Ok(StatusFile { entries })
    }

    /// The entry for a package name (and architecture, when several are installed).
    pub fn find(&self, name: &str, architecture: Option<&str>) -> Option<&StatusEntry> {
        self.entries.iter().find(|entry| {
            entry.name == name && architecture.is_none_or(|arch| entry.architecture() == Some(arch))
        })
    }

    /// The text dpkg would write: each entry followed by a blank line.
    pub fn write(&self) -> String {
        let mut out = String::new();
        for entry in &self.entries {
            entry.fields.write(&mut out);
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) const STATUS: &str = "\
Package: base-files
Essential: yes
Status: install ok installed
Priority: required
Section: admin
Installed-Size: 385
Maintainer: Santiago Vila <sanvila@example.org>
Architecture: armhf
Multi-Arch: foreign
Version: 8+rpi1
Replaces: base, dpkg (<= 1.15.0), miscutils
Provides: base
Pre-Depends: awk
Breaks: initscripts (<< 2.88dsf-13.3), sendfile (<< 2.1b.20080616-5.2~)
Conffiles:
 /etc/debian_version 2b9e0dc4ae2e5e9c5d6e8b2ad1fb1a5c
 /etc/host.conf 4eb63731c9f5e30903ac4fc07a7fe3d6
 /etc/issue.net 0a4c6ad5cf0a6c2e8b4f0c5c7e6e5d4c obsolete
Description: Debian base system miscellaneous files
 This package contains the basic filesystem hierarchy of a Debian system.

Package: libc6
Status: install ok installed
Priority: required
Section: libs
Installed-Size: 9132
Maintainer: GNU Libc Maintainers <debian-glibc@lists.example.org>
Architecture: armhf
Multi-Arch: same
Source: glibc
Version: 2.19-18+deb8u10
Depends: libgcc1
Suggests: glibc-doc, debconf | debconf-2.0, locales (>= 2.19)
Breaks: hurd (<< 1:0.5.git20140203-1), nscd (<< 2.19)
Conffiles:
 /etc/ld.so.conf.d/arm-linux-gnueabihf.conf 36c64d9d6e1ae7b1b0d4b1f1a4b6d1c1
Description: GNU C Library: Shared libraries
 Contains the standard libraries that are used by nearly all programs on
 the system.
Homepage: http://libc.example.org/

Package: oldpkg
Status: deinstall ok config-files
Priority: optional
Section: misc
Architecture: armhf
Version: 1.0-1
Conffiles:
 /etc/oldpkg.conf 5f4dcc3b5aa765d61d8327deb882cf99 remove-on-upgrade

";

    #[test]
    fn reads_entries() {
        let status = StatusFile::parse(STATUS, "status").unwrap();
        assert_eq!(status.entries.len(), 3);
        let base = &status.entries[0];
        assert_eq!(base.name(), "base-files");
        assert!(base.essential());
        assert_eq!(base.status().to_string(), "install ok installed");
        assert_eq!(base.multi_arch(), MultiArch::Foreign);
        assert_eq!(base.conffiles().len(), 3);
        assert!(base.conffiles()[2].obsolete);
        assert_eq!(base.relations().replaces.len(), 3);
        assert_eq!(base.priority(), Some("required"));
        let libc = status.find("libc6", Some("armhf")).unwrap();
        assert_eq!(libc.version().unwrap().as_str(), "2.19-18+deb8u10");
        assert_eq!(libc.line(), 22);
        let old = status.find("oldpkg", None).unwrap();
        assert_eq!(old.status().state, State::ConfigFiles);
        assert_eq!(old.status().want, Want::Deinstall);
        assert!(old.conffiles()[0].remove_on_upgrade);
    }

    #[test]
    fn round_trips_byte_for_byte() {
        let status = StatusFile::parse(STATUS, "status").unwrap();
        assert_eq!(status.write(), STATUS);
    }

    #[test]
    fn set_status_keeps_field_order() {
        let mut status = StatusFile::parse(STATUS, "status").unwrap();
        status.entries[1].set_status(Status::UNPACKED);
        let written = status.write();
        assert!(written.contains("Package: libc6\nStatus: install ok unpacked\n"));
        assert_eq!(written.len(), STATUS.len() - 1);
    }

    #[test]
    fn entries_from_control_follow_dpkg_order() {
        let control = "Package: nginx-light\nVersion: 0:1.6.2-5+deb8u6\nEssential: no\nArchitecture: armhf\nMulti-Arch: no\nMaintainer: M <m@example.org>\nInstalled-Size: 1071\nDepends: libc6 (>=2.15),\n  libpcre3|\n libpcre2 (< 2)\nProvides: httpd\nSection: httpd\nPriority: extra\nHomepage: http://nginx.example.org\nFilename: pool/x.deb\nSize: 1\nSHA256: 00\nDescription: nginx web/proxy server\n more\n";
        let paragraph = deb822::parse_all(control, "control", Options::STRICT).unwrap();
        let conffiles = [Conffile {
            path: "/etc/nginx/nginx.conf".into(),
            md5: "newconffile".into(),
            obsolete: false,
            remove_on_upgrade: false,
        }];
        let entry = StatusEntry::from_control(
            &paragraph[0].to_owned_paragraph(),
            Status::UNPACKED,
            &conffiles,
            "control",
        )
        .unwrap();
        let mut out = String::new();
        entry.fields().write(&mut out);
        assert_eq!(
            out,
            "Package: nginx-light\nStatus: install ok unpacked\nPriority: extra\nSection: httpd\nInstalled-Size: 1071\nMaintainer: M <m@example.org>\nArchitecture: armhf\nVersion: 1.6.2-5+deb8u6\nProvides: httpd\nDepends: libc6 (>= 2.15), libpcre3 | libpcre2 (<= 2)\nConffiles:\n /etc/nginx/nginx.conf newconffile\nDescription: nginx web/proxy server\n more\nHomepage: http://nginx.example.org\n"
        );
    }

    #[test]
    fn refuses_bad_entries() {
        let err = StatusFile::parse(
            &STATUS
                .replace("install ok unpacked", "x")
                .replace("deinstall ok config-files", "deinstall fine"),
            "status",
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                PackageError::BadValue {
                    field: "Status",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("oldpkg"));
        let err = StatusFile::parse(&STATUS.replace(" remove-on-upgrade", " keep"), "status")
            .unwrap_err();
        assert!(
            matches!(
                err,
                PackageError::BadValue {
                    field: "Conffiles",
                    ..
                }
            ),
            "{err}"
        );
        let err = StatusFile::parse("Package: a\nVersion: 1\n", "status").unwrap_err();
        assert!(
            matches!(
                err,
                PackageError::Missing {
                    field: "Status",
                    ..
                }
            ),
            "{err}"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn mutated_status_never_panics(at in 0usize..3000, bytes in prop::collection::vec(0u8..128, 1..4)) {
            let mut text = STATUS.as_bytes().to_vec();
            let at = at % text.len();
            text.splice(at..at, bytes);
            let text = String::from_utf8_lossy(&text);
            if let Ok(status) = StatusFile::parse(&text, "mutated") {
                let written = status.write();
                prop_assert_eq!(StatusFile::parse(&written, "written").unwrap().write(), written);
            }
        }
    }
}
