//! A binary package's control data: the fields an archive index entry, a dpkg `status`
//! entry and a `.deb`'s `control` file share (name, version, architecture, Multi-Arch,
//! Essential, relationships, …), parsed into [`Control`].
//!
//! The fields a record's readers need are found in one pass over the paragraph (borrowed
//! or owned), which keeps reading a full archive index fast. This module does not know
//! where a record came from: index-only fields (`Filename`, `SHA256`) are `packages`'
//! business, `Status` and `Conffiles` are `status`'s.

use super::deb822::{Deb822Error, Paragraph, excerpt};
use super::relation::{self, Relation, RelationError, RelationList};
use super::version::{Version, VersionError};

/// Why a package record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackageError {
    /// The text is not valid deb822.
    #[error(transparent)]
    Syntax(#[from] Deb822Error),
    /// A required field is absent.
    #[error("{file}, line {line}: package `{package}` has no {field} field")]
    Missing {
        /// The file, as the caller named it.
        file: String,
        /// The 1-based line of the record.
        line: usize,
        /// The package name (empty when the name itself is missing).
        package: String,
        /// The missing field.
        field: &'static str,
    },
    /// A version field is invalid.
    #[error("{file}, line {line}: package `{package}`, field {field}: {source}")]
    BadVersion {
        /// The file, as the caller named it.
        file: String,
        /// The 1-based line of the field.
        line: usize,
        /// The package name.
        package: String,
        /// The field.
        field: &'static str,
        /// Why the version is invalid.
        source: Box<VersionError>,
    },
    /// A relationship field is invalid.
    #[error("{file}, line {line}: package `{package}`, field {field}: {source}")]
    BadRelation {
        /// The file, as the caller named it.
        file: String,
        /// The 1-based line of the field.
        line: usize,
        /// The package name.
        package: String,
        /// The field.
        field: &'static str,
        /// Why the relation is invalid.
        source: Box<RelationError>,
    },
    /// A field's value is not one the format allows.
    #[error(
        "{file}, line {line}: package `{package}`, field {field} is `{value}`; expected {expected}"
    )]
    BadValue {
        /// The file, as the caller named it.
        file: String,
        /// The 1-based line of the field.
        line: usize,
        /// The package name.
        package: String,
        /// The field.
        field: &'static str,
        /// The value as written.
        value: String,
        /// What the field may hold.
        expected: &'static str,
    },
}

/// `Multi-Arch`: how a package may be co-installed or satisfy other architectures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MultiArch {
    /// `no` (or absent).
    #[default]
    No,
    /// `same`: co-installable with itself of other architectures.
    Same,
    /// `foreign`: satisfies dependencies of packages of any architecture.
    Foreign,
    /// `allowed`: satisfies `name:any` dependencies.
    Allowed,
}

impl MultiArch {
    /// The value as dpkg writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            MultiArch::No => "no",
            MultiArch::Same => "same",
            MultiArch::Foreign => "foreign",
            MultiArch::Allowed => "allowed",
        }
    }
}

/// The relationship fields of a binary package.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Relations {
    /// `Depends`.
    pub depends: RelationList,
    /// `Pre-Depends`.
    pub pre_depends: RelationList,
    /// `Recommends`.
    pub recommends: RelationList,
    /// `Suggests`.
    pub suggests: RelationList,
    /// `Enhances`.
    pub enhances: RelationList,
    /// `Conflicts`.
    pub conflicts: RelationList,
    /// `Breaks`.
    pub breaks: RelationList,
    /// `Replaces`.
    pub replaces: RelationList,
    /// `Provides` (each with an optional `= version`).
    pub provides: Vec<Relation>,
}

/// `Source: name (version)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRef {
    /// The source package name.
    pub name: String,
    /// The source version when it differs from the binary's.
    pub version: Option<Version>,
}

/// The control data of one binary package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Control {
    /// `Package`.
    pub name: String,
    /// `Version`.
    pub version: Version,
    /// `Architecture` (`armhf`, `all`, …).
    pub architecture: String,
    /// `Multi-Arch`.
    pub multi_arch: MultiArch,
    /// `Essential: yes`.
    pub essential: bool,
    /// `Priority`.
    pub priority: Option<String>,
    /// `Section`.
    pub section: Option<String>,
    /// `Installed-Size`, in KiB.
    pub installed_size: Option<u64>,
    /// `Source`, when given.
    pub source: Option<SourceRef>,
    /// The relationship fields.
    pub relations: Relations,
    /// The first line of `Description` (the synopsis).
    pub description: Option<String>,
}

/// Where a record came from, for error messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Origin<'a> {
    /// The file, as the caller named it.
    pub file: &'a str,
    /// The record's first line.
    pub line: usize,
    /// The package name, once known.
    pub package: &'a str,
}

impl Origin<'_> {
    pub(crate) fn missing(&self, field: &'static str) -> PackageError {
        PackageError::Missing {
            file: self.file.to_owned(),
            line: self.line,
            package: self.package.to_owned(),
            field,
        }
    }

    pub(crate) fn bad_value(
        &self,
        line: usize,
        field: &'static str,
        value: &str,
        expected: &'static str,
    ) -> PackageError {
        PackageError::BadValue {
            file: self.file.to_owned(),
            line,
            package: self.package.to_owned(),
            field,
            value: excerpt(value.trim()),
            expected,
        }
    }

    pub(crate) fn version(
        &self,
        line: usize,
        field: &'static str,
        value: &str,
    ) -> Result<Version, PackageError> {
        Version::parse(value).map_err(|source| PackageError::BadVersion {
            file: self.file.to_owned(),
            line,
            package: self.package.to_owned(),
            field,
            source: Box::new(source),
        })
    }
}

/// The fields this crate reads from package records, looked up once per record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key {
    Package,
    Version,
    Architecture,
    MultiArch,
    Essential,
    Priority,
    Section,
    InstalledSize,
    Source,
    Depends,
    PreDepends,
    Recommends,
    Suggests,
    Enhances,
    Conflicts,
    Breaks,
    Replaces,
    Provides,
    Description,
    Filename,
    Size,
    Sha256,
    Status,
    Conffiles,
}

const KEYS: [Key; 24] = [
    Key::Package,
    Key::Version,
    Key::Architecture,
    Key::MultiArch,
    Key::Essential,
    Key::Priority,
    Key::Section,
    Key::InstalledSize,
    Key::Source,
    Key::Depends,
    Key::PreDepends,
    Key::Recommends,
    Key::Suggests,
    Key::Enhances,
    Key::Conflicts,
    Key::Breaks,
    Key::Replaces,
    Key::Provides,
    Key::Description,
    Key::Filename,
    Key::Size,
    Key::Sha256,
    Key::Status,
    Key::Conffiles,
];

impl Key {
    /// The field name as Debian spells it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Key::Package => "Package",
            Key::Version => "Version",
            Key::Architecture => "Architecture",
            Key::MultiArch => "Multi-Arch",
            Key::Essential => "Essential",
            Key::Priority => "Priority",
            Key::Section => "Section",
            Key::InstalledSize => "Installed-Size",
            Key::Source => "Source",
            Key::Depends => "Depends",
            Key::PreDepends => "Pre-Depends",
            Key::Recommends => "Recommends",
            Key::Suggests => "Suggests",
            Key::Enhances => "Enhances",
            Key::Conflicts => "Conflicts",
            Key::Breaks => "Breaks",
            Key::Replaces => "Replaces",
            Key::Provides => "Provides",
            Key::Description => "Description",
            Key::Filename => "Filename",
            Key::Size => "Size",
            Key::Sha256 => "SHA256",
            Key::Status => "Status",
            Key::Conffiles => "Conffiles",
        }
    }
}

/// The known fields of one record, found in a single pass so that reading a record costs
/// one scan of its fields rather than one per lookup.
#[derive(Debug, Clone, Default)]
pub(crate) struct Fields<'a> {
    slots: [Option<(&'a str, usize)>; KEYS.len()],
}

impl<'a> Fields<'a> {
    /// Collects `(name, value, line)` triples; values get their trailing blanks removed.
    pub(crate) fn collect(fields: impl Iterator<Item = (&'a str, &'a str, usize)>) -> Fields<'a> {
        let mut table = Fields::default();
        for (name, value, line) in fields {
            let found = KEYS
                .iter()
                .position(|key| key.name().eq_ignore_ascii_case(name));
            if let Some(slot) = found.and_then(|at| table.slots.get_mut(at)) {
                *slot = Some((value.trim_end(), line));
            }
        }
        table
    }

    /// The fields of a borrowed paragraph.
    pub(crate) fn of(paragraph: &Paragraph<'a>) -> Fields<'a> {
        Fields::collect(paragraph.fields().map(|f| (f.name, f.value, f.line)))
    }

    /// A field's value and line.
    pub(crate) fn get(&self, key: Key) -> Option<(&'a str, usize)> {
        KEYS.iter()
            .position(|k| *k == key)
            .and_then(|at| self.slots.get(at).copied().flatten())
    }
}

/// A single-word value such as an architecture: non-empty, printable, no blanks.
fn word(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(|b| b.is_ascii_graphic())
}

/// Reads the package name, checking it as dpkg does.
pub(crate) fn name_of<'a>(get: &Fields<'a>, origin: Origin<'_>) -> Result<&'a str, PackageError> {
    let (name, line) = get
        .get(Key::Package)
        .ok_or_else(|| origin.missing("Package"))?;
    let name = name.trim();
    let valid = name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    if !valid {
        return Err(origin.bad_value(
            line,
            "Package",
            name,
            "a name of letters, digits and + - . starting with a letter or digit",
        ));
    }
    Ok(name)
}

pub(crate) fn multi_arch_of<'a>(
    get: &Fields<'a>,
    origin: Origin<'_>,
) -> Result<MultiArch, PackageError> {
    let Some((value, line)) = get.get(Key::MultiArch) else {
        return Ok(MultiArch::No);
    };
    let value = value.trim();
    [
        MultiArch::No,
        MultiArch::Same,
        MultiArch::Foreign,
        MultiArch::Allowed,
    ]
    .into_iter()
    .find(|candidate| candidate.as_str().eq_ignore_ascii_case(value))
    .ok_or_else(|| origin.bad_value(line, "Multi-Arch", value, "no, same, foreign or allowed"))
}

pub(crate) fn essential_of<'a>(get: &Fields<'a>, origin: Origin<'_>) -> Result<bool, PackageError> {
    match get.get(Key::Essential) {
        None => Ok(false),
        Some((value, _)) if value.trim().eq_ignore_ascii_case("yes") => Ok(true),
        Some((value, _)) if value.trim().eq_ignore_ascii_case("no") => Ok(false),
        Some((value, line)) => Err(origin.bad_value(line, "Essential", value, "yes or no")),
    }
}

pub(crate) fn architecture_of<'a>(
    get: &Fields<'a>,
    origin: Origin<'_>,
) -> Result<Option<&'a str>, PackageError> {
    match get.get(Key::Architecture) {
        None => Ok(None),
        Some((value, line)) => {
            let value = value.trim();
            if word(value) {
                Ok(Some(value))
            } else {
                Err(origin.bad_value(line, "Architecture", value, "one architecture name"))
            }
        }
    }
}

pub(crate) fn number_of<'a>(
    get: &Fields<'a>,
    origin: Origin<'_>,
    key: Key,
) -> Result<Option<u64>, PackageError> {
    match get.get(key) {
        None => Ok(None),
        Some((value, line)) => value
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| origin.bad_value(line, key.name(), value, "a whole number")),
    }
}

impl Relations {
    /// Parses every relationship field found through `get`.
    pub(crate) fn parse<'a>(
        get: &Fields<'a>,
        origin: Origin<'_>,
    ) -> Result<Relations, PackageError> {
        let groups = |key: Key| -> Result<RelationList, PackageError> {
            let Some((value, line)) = get.get(key) else {
                return Ok(RelationList::default());
            };
            relation::parse_relations(value).map_err(|source| PackageError::BadRelation {
                file: origin.file.to_owned(),
                line,
                package: origin.package.to_owned(),
                field: key.name(),
                source: Box::new(source),
            })
        };
        let provides = match get.get(Key::Provides) {
            None => Vec::new(),
            Some((value, line)) => {
                relation::parse_provides(value).map_err(|source| PackageError::BadRelation {
                    file: origin.file.to_owned(),
                    line,
                    package: origin.package.to_owned(),
                    field: "Provides",
                    source: Box::new(source),
                })?
            }
        };
        Ok(Relations {
            depends: groups(Key::Depends)?,
            pre_depends: groups(Key::PreDepends)?,
            recommends: groups(Key::Recommends)?,
            suggests: groups(Key::Suggests)?,
            enhances: groups(Key::Enhances)?,
            conflicts: groups(Key::Conflicts)?,
            breaks: groups(Key::Breaks)?,
            replaces: groups(Key::Replaces)?,
            provides,
        })
    }
}

impl Control {
    /// Reads the control fields of one record. `get` looks a field up case-insensitively;
    /// `file` and `line` place the record in error messages.
    pub(crate) fn parse<'a>(
        get: &Fields<'a>,
        file: &str,
        line: usize,
    ) -> Result<Control, PackageError> {
        let origin = Origin {
            file,
            line,
            package: "",
        };
        let name = name_of(get, origin)?;
        let origin = Origin {
            package: name,
            ..origin
        };
        let (version, version_line) = get
            .get(Key::Version)
            .ok_or_else(|| origin.missing("Version"))?;
        let version = origin.version(version_line, "Version", version)?;
        let architecture =
            architecture_of(get, origin)?.ok_or_else(|| origin.missing("Architecture"))?;
        let source = match get.get(Key::Source) {
            None => None,
            Some((value, line)) => Some(parse_source(value, line, origin)?),
        };
        Ok(Control {
            name: name.to_owned(),
            version,
            architecture: architecture.to_owned(),
            multi_arch: multi_arch_of(get, origin)?,
            essential: essential_of(get, origin)?,
            priority: get
                .get(Key::Priority)
                .map(|(value, _)| value.trim().to_owned()),
            section: get
                .get(Key::Section)
                .map(|(value, _)| value.trim().to_owned()),
            installed_size: number_of(get, origin, Key::InstalledSize)?,
            source,
            relations: Relations::parse(get, origin)?,
            description: get
                .get(Key::Description)
                .map(|(value, _)| value.split('\n').next().unwrap_or("").trim().to_owned()),
        })
    }

    /// Reads a package's `control` file (from a `.deb`), `file` naming it in errors.
    pub fn from_control_file(text: &str, file: &str) -> Result<Control, PackageError> {
        let paragraphs = super::deb822::parse_all(text, file, super::deb822::Options::STRICT)?;
        let origin = Origin {
            file,
            line: 1,
            package: "",
        };
        let [paragraph] = paragraphs.as_slice() else {
            return Err(origin.bad_value(
                1,
                "Package",
                "",
                "exactly one paragraph in a control file",
            ));
        };
        Control::parse(&Fields::of(paragraph), file, paragraph.line())
    }
}

/// `name` or `name (version)`.
fn parse_source(value: &str, line: usize, origin: Origin<'_>) -> Result<SourceRef, PackageError> {
    let value = value.trim();
    let expected = "a source package name, optionally followed by (version)";
    let (name, version) = match value.split_once('(') {
        None => (value, None),
        Some((name, rest)) => {
            let inner = rest
                .strip_suffix(')')
                .ok_or_else(|| origin.bad_value(line, "Source", value, expected))?;
            (
                name.trim_end(),
                Some(origin.version(line, "Source", inner)?),
            )
        }
    };
    if !word(name) {
        return Err(origin.bad_value(line, "Source", value, expected));
    }
    Ok(SourceRef {
        name: name.to_owned(),
        version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CONTROL: &str = "\
Package: nginx-light
Source: nginx (1.6.2-5+deb8u6)
Version: 1.6.2-5+deb8u6+b1
Architecture: armhf
Maintainer: Debian Nginx Maintainers <pkg-nginx-maintainers@lists.example.org>
Installed-Size: 1071
Depends: libc6 (>= 2.15), libexpat1 (>= 2.0.1), libpcre3 (>= 1:8.35), libssl1.0.0 (>= 1.0.1), zlib1g (>= 1:1.1.4), nginx-common (= 1.6.2-5+deb8u6)
Breaks: nginx (<< 1.4.5-1)
Provides: httpd, httpd-cgi, nginx
Conflicts: nginx-extras, nginx-full
Section: httpd
Priority: extra
Homepage: http://nginx.example.org
Description: nginx web/proxy server (basic version)
 Nginx (\"engine X\") is a high-performance web and reverse proxy server.
";

    #[test]
    fn reads_a_control_file() {
        let control = Control::from_control_file(CONTROL, "control").unwrap();
        assert_eq!(control.name, "nginx-light");
        assert_eq!(control.version.as_str(), "1.6.2-5+deb8u6+b1");
        assert_eq!(control.architecture, "armhf");
        assert_eq!(control.multi_arch, MultiArch::No);
        assert!(!control.essential);
        assert_eq!(control.installed_size, Some(1071));
        let source = control.source.unwrap();
        assert_eq!(source.name, "nginx");
        assert_eq!(source.version.unwrap().as_str(), "1.6.2-5+deb8u6");
        assert_eq!(control.relations.depends.len(), 6);
        assert_eq!(control.relations.provides.len(), 3);
        assert_eq!(control.relations.conflicts.len(), 2);
        assert_eq!(control.relations.breaks.group(0).unwrap()[0].name, "nginx");
        assert_eq!(
            control.description.as_deref(),
            Some("nginx web/proxy server (basic version)")
        );
    }

    #[test]
    fn errors_name_package_field_and_line() {
        let text = CONTROL.replace("libpcre3 (>= 1:8.35)", "libpcre3 (>= :8.35)");
        let err = Control::from_control_file(&text, "nginx.control").unwrap_err();
        assert!(
            matches!(
                err,
                PackageError::BadRelation {
                    line: 7,
                    field: "Depends",
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            err.to_string()
                .starts_with("nginx.control, line 7: package `nginx-light`, field Depends:")
        );
        let err = Control::from_control_file(&CONTROL.replace("Version:", "X-Version:"), "c")
            .unwrap_err();
        assert!(
            matches!(
                err,
                PackageError::Missing {
                    field: "Version",
                    ..
                }
            ),
            "{err}"
        );
        let text = format!("{CONTROL}Multi-Arch: sometimes\n");
        let err = Control::from_control_file(&text, "c").unwrap_err();
        assert!(
            matches!(
                err,
                PackageError::BadValue {
                    field: "Multi-Arch",
                    ..
                }
            ),
            "{err}"
        );
        let err = Control::from_control_file(&CONTROL.replace("nginx-light", "Nginx_light"), "c")
            .unwrap_err();
        assert!(
            matches!(
                err,
                PackageError::BadValue {
                    field: "Package",
                    ..
                }
            ),
            "{err}"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn mutated_control_never_panics(at in 0usize..2000, byte in 0u8..128) {
            let mut bytes = CONTROL.as_bytes().to_vec();
            if let Some(slot) = bytes.get_mut(at % CONTROL.len()) {
                *slot = byte;
            }
            let _ = Control::from_control_file(&String::from_utf8_lossy(&bytes), "mutated");
        }
    }
}
