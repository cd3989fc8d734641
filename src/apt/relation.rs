//! Relationship fields between packages (Debian Policy 7.1): `Depends`, `Pre-Depends`,
//! `Recommends`, `Suggests`, `Enhances`, `Conflicts`, `Breaks`, `Replaces` and `Provides`.
//!
//! A field is a comma-separated list of groups; a group is `|`-separated alternatives; each
//! alternative is `name[:archqual] [(op version)] [[arch …]] [<profile …> …]`. Architecture
//! restrictions and build profiles appear in source-package fields only; they are parsed and
//! kept so a caller can evaluate them for an architecture. This module parses and tests
//! single constraints; choosing between packages is the resolver's work.

use std::cmp::Ordering;
use std::fmt;

use super::deb822::excerpt;
use super::version::{Version, VersionError};

/// A relationship field with more groups than this is refused (real ones have tens).
const MAX_GROUPS: usize = 4096;

/// Why a relationship field could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelationError {
    /// A group or alternative is empty (`a, , b` or `a | | b`).
    #[error("`{0}`: a package name is missing between separators")]
    Empty(String),
    /// A package name holds characters Debian does not allow.
    #[error("`{relation}`: `{name}` is not a valid package name")]
    BadName {
        /// The relation as written.
        relation: String,
        /// The name.
        name: String,
    },
    /// The architecture qualifier after `:` is empty or invalid.
    #[error("`{relation}`: `{qualifier}` is not a valid architecture qualifier")]
    BadQualifier {
        /// The relation as written.
        relation: String,
        /// The qualifier.
        qualifier: String,
    },
    /// A `(`, `[` or `<` is not closed.
    #[error("`{relation}`: `{open}` is not closed")]
    Unclosed {
        /// The relation as written.
        relation: String,
        /// The opening character.
        open: char,
    },
    /// The operator inside parentheses is not one of `<<`, `<=`, `=`, `>=`, `>>`, `<`, `>`.
    #[error("`{relation}`: the version constraint does not start with <<, <=, =, >= or >>")]
    BadOperator {
        /// The relation as written.
        relation: String,
    },
    /// The version inside parentheses is invalid.
    #[error("`{relation}`: {source}")]
    BadVersion {
        /// The relation as written.
        relation: String,
        /// Why the version is invalid.
        source: VersionError,
    },
    /// An architecture list mixes `arch` and `!arch`, or is empty.
    #[error(
        "`{relation}`: an architecture restriction must be a non-empty list of all `arch` or all `!arch`"
    )]
    BadArchList {
        /// The relation as written.
        relation: String,
    },
    /// A build-profile formula `<…>` is empty or has an empty term.
    #[error("`{relation}`: a build-profile list `<…>` is empty or has an empty term")]
    BadProfiles {
        /// The relation as written.
        relation: String,
    },
    /// Text follows the relation where none may.
    #[error("`{relation}`: unexpected `{rest}` after the package name and constraint")]
    Trailing {
        /// The relation as written.
        relation: String,
        /// What follows.
        rest: String,
    },
    /// `Provides` uses alternatives or an operator other than `=`.
    #[error("`{0}`: Provides allows neither `|` nor version operators other than `=`")]
    BadProvides(String),
    /// The field has an absurd number of groups.
    #[error("the field has more than {0} entries; it is damaged")]
    TooMany(usize),
}

/// A version comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `<<`: strictly earlier.
    Earlier,
    /// `<=` (and the obsolete `<`): earlier or equal.
    EarlierOrEqual,
    /// `=`: exactly equal.
    Equal,
    /// `>=` (and the obsolete `>`): later or equal.
    LaterOrEqual,
    /// `>>`: strictly later.
    Later,
}

impl Op {
    /// The operator as dpkg writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Earlier => "<<",
            Op::EarlierOrEqual => "<=",
            Op::Equal => "=",
            Op::LaterOrEqual => ">=",
            Op::Later => ">>",
        }
    }

    /// Whether a candidate comparing `ordering` to the constraint's version satisfies it.
    pub fn allows(self, ordering: Ordering) -> bool {
        match self {
            Op::Earlier => ordering == Ordering::Less,
            Op::EarlierOrEqual => ordering != Ordering::Greater,
            Op::Equal => ordering == Ordering::Equal,
            Op::LaterOrEqual => ordering != Ordering::Less,
            Op::Later => ordering == Ordering::Greater,
        }
    }
}

/// `(op version)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    /// The operator.
    pub op: Op,
    /// The version compared against.
    pub version: Version,
}

impl Constraint {
    /// Whether `candidate` satisfies this constraint.
    pub fn matches(&self, candidate: &Version) -> bool {
        self.op.allows(candidate.cmp(&self.version))
    }
}

/// The `:qualifier` after a package name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ArchQualifier {
    /// `:any`: any architecture, for a `Multi-Arch: allowed` target.
    Any,
    /// `:native`: the native architecture (build dependencies only).
    Native,
    /// A named architecture.
    Arch(String),
}

/// One entry of an `[amd64 !i386]` list.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ArchRestriction {
    /// Written with `!`.
    pub negated: bool,
    /// An architecture or wildcard (`linux-any`, `any-arm`).
    pub arch: String,
}

/// One term of a `<!nocheck cross>` build-profile list.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProfileTerm {
    /// Written with `!`.
    pub negated: bool,
    /// The profile name.
    pub name: String,
}

/// One alternative: a package, optionally constrained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    /// The package (or virtual package) name.
    pub name: String,
    /// The `:qualifier`, if any.
    pub arch: Option<ArchQualifier>,
    /// The `(op version)`, if any.
    pub constraint: Option<Constraint>,
    /// The `[…]` list; empty when absent.
    pub arches: Vec<ArchRestriction>,
    /// The `<…>` lists: the relation applies if any one list holds entirely.
    pub profiles: Vec<Vec<ProfileTerm>>,
}

/// A relationship field: comma-separated groups, each a list of `|` alternatives in order
/// of preference. Stored flat (one vector of relations and the end of each group) because
/// a full archive index holds hundreds of thousands of groups.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RelationList {
    relations: Vec<Relation>,
    ends: Vec<usize>,
}

impl RelationList {
    /// Builds a list from groups of alternatives.
    pub fn from_groups(groups: impl IntoIterator<Item = Vec<Relation>>) -> RelationList {
        let mut list = RelationList::default();
        for group in groups {
            list.relations.extend(group);
            list.ends.push(list.relations.len());
        }
        list
    }

    /// The groups, each a slice of alternatives.
    pub fn groups(&self) -> impl ExactSizeIterator<Item = &[Relation]> + '_ {
        self.ends.iter().enumerate().map(|(index, &end)| {
            let start = index
                .checked_sub(1)
                .and_then(|previous| self.ends.get(previous))
                .copied()
                .unwrap_or(0);
            self.relations.get(start..end).unwrap_or(&[])
        })
    }

    /// The group at `index`.
    pub fn group(&self, index: usize) -> Option<&[Relation]> {
        self.groups().nth(index)
    }

    /// Every relation of every group, in order.
    pub fn relations(&self) -> &[Relation] {
        &self.relations
    }

    /// How many groups there are.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are no groups.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
}

impl Relation {
    /// Whether `version` of a package named [`Relation::name`] satisfies the constraint.
    pub fn accepts(&self, version: &Version) -> bool {
        self.constraint
            .as_ref()
            .is_none_or(|constraint| constraint.matches(version))
    }

    /// Whether the relation applies when building for `arch` with `active` build profiles.
    pub fn applies_to(&self, arch: &str, active: &[&str]) -> bool {
        let arch_ok = if self.arches.is_empty() {
            true
        } else if self.arches.iter().all(|r| r.negated) {
            !self.arches.iter().any(|r| arch_matches(&r.arch, arch))
        } else {
            self.arches.iter().any(|r| arch_matches(&r.arch, arch))
        };
        let profiles_ok = self.profiles.is_empty()
            || self.profiles.iter().any(|list| {
                list.iter()
                    .all(|term| active.contains(&term.name.as_str()) != term.negated)
            });
        arch_ok && profiles_ok
    }
}

/// The CPU part of a Debian architecture name, as wildcards such as `any-arm` use it.
fn cpu_of(arch: &str) -> &str {
    match arch {
        "armhf" | "armel" => "arm",
        other => other,
    }
}

/// Whether an architecture `pattern` from a restriction list (`amd64`, `any`, `linux-any`,
/// `any-arm`, `linux-armhf`) matches the Debian (Linux) architecture `arch`.
pub fn arch_matches(pattern: &str, arch: &str) -> bool {
    if pattern == arch || (pattern == "any" && arch != "all") {
        return true;
    }
    if arch == "all" {
        return false;
    }
    match pattern.split_once('-') {
        Some(("linux", "any")) => true,
        Some(("linux", cpu)) => cpu == arch,
        Some(("any", cpu)) => cpu == cpu_of(arch) || cpu == arch,
        _ => false,
    }
}

/// dpkg allows letters, digits and `+-.` in names, starting with a letter or digit.
fn valid_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// Takes the text up to the `close` character, returning the inside and the rest.
fn bracketed<'t>(
    relation: &str,
    rest: &'t str,
    open: char,
    close: char,
) -> Result<(&'t str, &'t str), RelationError> {
    let inner = rest.strip_prefix(open).unwrap_or(rest);
    inner
        .split_once(close)
        .ok_or_else(|| RelationError::Unclosed {
            relation: excerpt(relation),
            open,
        })
}

fn parse_constraint(relation: &str, inside: &str) -> Result<Constraint, RelationError> {
    let inside = inside.trim_matches(is_space);
    let (op, version) = [
        ("<<", Op::Earlier),
        ("<=", Op::EarlierOrEqual),
        (">>", Op::Later),
        (">=", Op::LaterOrEqual),
        ("=", Op::Equal),
        ("<", Op::EarlierOrEqual),
        (">", Op::LaterOrEqual),
    ]
    .into_iter()
    .find_map(|(token, op)| inside.strip_prefix(token).map(|rest| (op, rest)))
    .ok_or_else(|| RelationError::BadOperator {
        relation: excerpt(relation),
    })?;
    let version = Version::parse(version).map_err(|source| RelationError::BadVersion {
        relation: excerpt(relation),
        source,
    })?;
    Ok(Constraint { op, version })
}

/// Parses one alternative such as `libc6:any (>= 2.19) [!hurd-i386] <!nocheck>`.
pub fn parse_relation(text: &str) -> Result<Relation, RelationError> {
    let relation = text.trim_matches(is_space);
    if relation.is_empty() {
        return Err(RelationError::Empty(excerpt(text)));
    }
    let name_end = relation
        .find(|c: char| is_space(c) || matches!(c, '(' | '[' | '<' | ':'))
        .unwrap_or(relation.len());
    let (name, mut rest) = relation.split_at(name_end);
    if !valid_name(name) {
        return Err(RelationError::BadName {
            relation: excerpt(relation),
            name: excerpt(name),
        });
    }
    let mut arch = None;
    if let Some(after) = rest.strip_prefix(':') {
        let end = after
            .find(|c: char| is_space(c) || matches!(c, '(' | '[' | '<'))
            .unwrap_or(after.len());
        let (qualifier, after) = after.split_at(end);
        if !valid_name(qualifier) {
            return Err(RelationError::BadQualifier {
                relation: excerpt(relation),
                qualifier: excerpt(qualifier),
            });
        }
        arch = Some(match qualifier {
            "any" => ArchQualifier::Any,
            "native" => ArchQualifier::Native,
            other => ArchQualifier::Arch(other.to_owned()),
        });
        rest = after;
    }
    rest = rest.trim_start_matches(is_space);
    let mut constraint = None;
    if rest.starts_with('(') {
        let (inside, after) = bracketed(relation, rest, '(', ')')?;
        constraint = Some(parse_constraint(relation, inside)?);
        rest = after.trim_start_matches(is_space);
    }
    let mut arches = Vec::new();
    if rest.starts_with('[') {
        let (inside, after) = bracketed(relation, rest, '[', ']')?;
        for token in inside.split(is_space).filter(|t| !t.is_empty()) {
            let (negated, name) = match token.strip_prefix('!') {
                Some(name) => (true, name),
                None => (false, token),
            };
            if !valid_name(name) {
                return Err(RelationError::BadArchList {
                    relation: excerpt(relation),
                });
            }
            arches.push(ArchRestriction {
                negated,
                arch: name.to_owned(),
            });
        }
        let negated = arches.iter().filter(|r| r.negated).count();
        if arches.is_empty() || (negated != 0 && negated != arches.len()) {
            return Err(RelationError::BadArchList {
                relation: excerpt(relation),
            });
        }
        rest = after.trim_start_matches(is_space);
    }
    let mut profiles = Vec::new();
    while rest.starts_with('<') {
        let (inside, after) = bracketed(relation, rest, '<', '>')?;
        let mut list = Vec::new();
        for token in inside.split(is_space).filter(|t| !t.is_empty()) {
            let (negated, name) = match token.strip_prefix('!') {
                Some(name) => (true, name),
                None => (false, token),
            };
            if !valid_name(name) {
                return Err(RelationError::BadProfiles {
                    relation: excerpt(relation),
                });
            }
            list.push(ProfileTerm {
                negated,
                name: name.to_owned(),
            });
        }
        if list.is_empty() {
            return Err(RelationError::BadProfiles {
                relation: excerpt(relation),
            });
        }
        profiles.push(list);
        rest = after.trim_start_matches(is_space);
    }
    if !rest.is_empty() {
        return Err(RelationError::Trailing {
            relation: excerpt(relation),
            rest: excerpt(rest),
        });
    }
    Ok(Relation {
        name: name.to_owned(),
        arch,
        constraint,
        arches,
        profiles,
    })
}

/// Parses a relationship field's value (continuation lines allowed) into groups of
/// alternatives. A blank value is an empty list.
pub fn parse_relations(text: &str) -> Result<RelationList, RelationError> {
    let mut list = RelationList::default();
    if text.trim_matches(is_space).is_empty() {
        return Ok(list);
    }
    for group in text.split(',') {
        if list.ends.len() >= MAX_GROUPS {
            return Err(RelationError::TooMany(MAX_GROUPS));
        }
        for alternative in group.split('|') {
            list.relations.push(parse_relation(alternative)?);
        }
        list.ends.push(list.relations.len());
    }
    Ok(list)
}

/// Parses a `Provides` field: no alternatives, and only `=` versions.
pub fn parse_provides(text: &str) -> Result<Vec<Relation>, RelationError> {
    let list = parse_relations(text)?;
    if list.relations.len() != list.ends.len() {
        return Err(RelationError::BadProvides(excerpt(text.trim())));
    }
    let mut provided = Vec::with_capacity(list.relations.len());
    for relation in list.relations {
        if relation
            .constraint
            .as_ref()
            .is_some_and(|constraint| constraint.op != Op::Equal)
        {
            return Err(RelationError::BadProvides(excerpt(text.trim())));
        }
        provided.push(relation);
    }
    Ok(provided)
}

impl fmt::Display for Relation {
    /// dpkg's normalised form: `name:arch (op version) [arches] <profiles>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        match &self.arch {
            None => {}
            Some(ArchQualifier::Any) => f.write_str(":any")?,
            Some(ArchQualifier::Native) => f.write_str(":native")?,
            Some(ArchQualifier::Arch(arch)) => write!(f, ":{arch}")?,
        }
        if let Some(constraint) = &self.constraint {
            let version = constraint.version.to_dpkg_string();
            write!(f, " ({} {version})", constraint.op.as_str())?;
        }
        if !self.arches.is_empty() {
            let list: Vec<String> = self
                .arches
                .iter()
                .map(|r| format!("{}{}", if r.negated { "!" } else { "" }, r.arch))
                .collect();
            write!(f, " [{}]", list.join(" "))?;
        }
        for list in &self.profiles {
            let terms: Vec<String> = list
                .iter()
                .map(|t| format!("{}{}", if t.negated { "!" } else { "" }, t.name))
                .collect();
            write!(f, " <{}>", terms.join(" "))?;
        }
        Ok(())
    }
}

/// Formats groups as dpkg writes a relationship field: `a | b (>= 1), c`.
pub fn format_relations(list: &RelationList) -> String {
    list.groups()
        .map(|group| {
            group
                .iter()
                .map(Relation::to_string)
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    #[test]
    fn parses_a_php_fpm_depends() {
        let text = "libapparmor1 (>= 2.6~devel), libc6 (>= 2.15), libpcre3,\n php7.0-common (= 7.0.33-0+deb9u1), mime-support, tzdata, systemd | systemd-tmpfiles, ucf";
        let groups = parse_relations(text).unwrap();
        assert_eq!(groups.len(), 8);
        let libc = &groups.group(1).unwrap()[0];
        assert_eq!(libc.name, "libc6");
        let constraint = libc.constraint.as_ref().unwrap();
        assert_eq!(constraint.op, Op::LaterOrEqual);
        assert!(libc.accepts(&v("2.24-11+deb9u4")));
        assert!(!libc.accepts(&v("2.13-38+rpi2+deb7u8")));
        assert_eq!(groups.group(6).unwrap().len(), 2);
        assert_eq!(groups.group(6).unwrap()[1].name, "systemd-tmpfiles");
        assert_eq!(format_relations(&groups), text.replace(",\n ", ", "));
    }

    #[test]
    fn operators_including_obsolete_ones() {
        let cases = [
            ("a (<< 2)", Op::Earlier),
            ("a (<= 2)", Op::EarlierOrEqual),
            ("a (< 2)", Op::EarlierOrEqual),
            ("a (=2)", Op::Equal),
            ("a (>= 2)", Op::LaterOrEqual),
            ("a(> 2)", Op::LaterOrEqual),
            ("a ( >>2 )", Op::Later),
        ];
        for (text, op) in cases {
            let relation = parse_relation(text).unwrap();
            assert_eq!(relation.constraint.unwrap().op, op, "{text}");
        }
        let earlier = parse_relation("a (<< 2.0)").unwrap();
        assert!(earlier.accepts(&v("2.0~rc1")));
        assert!(!earlier.accepts(&v("2.0")));
        let exact = parse_relation("a (= 1.0)").unwrap();
        assert!(exact.accepts(&v("1.0-0")));
        assert!(parse_relation("a").unwrap().accepts(&v("9")));
    }

    #[test]
    fn qualifiers_restrictions_and_profiles() {
        let relation =
            parse_relation("python3:any (>= 3.5) [amd64 armhf] <!nocheck> <cross stage1>").unwrap();
        assert_eq!(relation.arch, Some(ArchQualifier::Any));
        assert_eq!(relation.arches.len(), 2);
        assert!(relation.applies_to("armhf", &[]));
        assert!(!relation.applies_to("i386", &[]));
        assert!(!relation.applies_to("armhf", &["nocheck"]));
        assert!(relation.applies_to("armhf", &["nocheck", "cross", "stage1"]));
        let negated = parse_relation("libseccomp-dev [!hurd-any !kfreebsd-any]").unwrap();
        assert!(negated.applies_to("armhf", &[]));
        let wildcard = parse_relation("x [any-arm]").unwrap();
        assert!(wildcard.applies_to("armhf", &[]));
        assert!(!wildcard.applies_to("arm64", &[]));
        assert!(
            parse_relation("x [linux-any]")
                .unwrap()
                .applies_to("arm64", &[])
        );
        let native = parse_relation("gcc:native").unwrap();
        assert_eq!(native.arch, Some(ArchQualifier::Native));
        let armhf = parse_relation("libc6:armhf").unwrap();
        assert_eq!(armhf.arch, Some(ArchQualifier::Arch("armhf".into())));
        assert_eq!(
            relation.to_string(),
            "python3:any (>= 3.5) [amd64 armhf] <!nocheck> <cross stage1>"
        );
    }

    #[test]
    fn provides_with_versions() {
        let provided =
            parse_provides("php-fpm, phpapi-20151012, libssl (= 1.1.0l-1~deb9u1)").unwrap();
        assert_eq!(provided.len(), 3);
        assert_eq!(
            provided[2].constraint.as_ref().unwrap().version,
            v("1.1.0l-1~deb9u1")
        );
        assert!(matches!(
            parse_provides("a | b"),
            Err(RelationError::BadProvides(_))
        ));
        assert!(matches!(
            parse_provides("a (>= 1)"),
            Err(RelationError::BadProvides(_))
        ));
        assert!(parse_provides("").unwrap().is_empty());
    }

    #[test]
    fn refuses_malformed_relations() {
        let cases = [
            "a, , b",
            "a |",
            "-a",
            "a (>= 1",
            "a (~ 1)",
            "a (>= )",
            "a [amd64 !i386]",
            "a []",
            "a <>",
            "a:",
            "a b",
            "a (>= 1) junk",
        ];
        for text in cases {
            assert!(parse_relations(text).is_err(), "{text} should be refused");
        }
        let err = parse_relations("libc6 (>= x2)").unwrap_err();
        assert!(err.to_string().contains("libc6 (>= x2)"), "{err}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn random_text_never_panics(text in "[ -~\\n]{0,120}") {
            if let Ok(groups) = parse_relations(&text) {
                let formatted = format_relations(&groups);
                prop_assert_eq!(parse_relations(&formatted).unwrap(), groups);
            }
            let _ = parse_provides(&text);
        }

        #[test]
        fn structured_relations_round_trip(
            names in prop::collection::vec("[a-z0-9][a-z0-9+.-]{0,10}", 1..5),
            version in crate::apt::version::tests::version_strategy(),
        ) {
            let join = |version: &str| {
                names
                    .iter()
                    .map(|name| format!("{name} (>= {version})"))
                    .collect::<Vec<_>>()
                    .join(" | ")
            };
            let groups = parse_relations(&join(&version)).unwrap();
            let canonical = v(&version).to_dpkg_string();
            prop_assert_eq!(format_relations(&groups), join(&canonical));
        }
    }
}
