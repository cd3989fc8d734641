//! The package universe the resolver works on: every version of every package of the
//! image's architecture (and `all`) offered by the configured origins, merged with dpkg's
//! installed set, indexed by name and by the virtual names they provide.
//!
//! Building a universe copies nothing but names and small indices: the parsed
//! [`PackagesIndex`]es and the [`StatusFile`] stay owned here and versions point into them.
//! This module does not pick versions (see `policy`) nor decide what to install (`solve`).

use std::collections::HashMap;

use crate::apt::package::{MultiArch, Relations};
use crate::apt::packages::{IndexEntry, PackagesIndex};
use crate::apt::relation::{ArchQualifier, Relation};
use crate::apt::status::{State, StatusFile, Want};
use crate::apt::version::Version;

/// One repository as the resolver sees it: its indexes and the metadata pins match on.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The profile's repository name, or e.g. `base-0` for the base image's own sources.
    pub name: String,
    /// `Suite` of its Release.
    pub suite: Option<String>,
    /// `Codename` of its Release.
    pub codename: Option<String>,
    /// apt pin priority (the base's suites 500, a profile repository its `priority`).
    pub priority: i32,
    /// Its parsed `Packages` indexes (the image's architecture and `all`).
    pub indexes: Vec<PackagesIndex>,
}

impl Origin {
    /// Whether `apt-get -t <release>` targets this origin: the release names its suite,
    /// its codename or (for a profile repository) its name.
    pub fn is_release(&self, release: &str) -> bool {
        self.suite.as_deref() == Some(release)
            || self.codename.as_deref() == Some(release)
            || self.name == release
    }
}

/// Index of a version in its [`Universe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VersionId(pub(crate) u32);

/// Where a version's record lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Entry `entry` of index `index` of origin `origin`.
    Index {
        /// The origin's position in the universe.
        origin: usize,
        /// The index's position in the origin.
        index: usize,
        /// The entry's position in the index.
        entry: usize,
    },
    /// Entry `entry` of the status file (the installed version).
    Status {
        /// The entry's position in the status file.
        entry: usize,
    },
}

/// One version of a package, with every place it can be had from.
#[derive(Debug, Clone)]
pub struct PackageVersion {
    /// Package name.
    pub name: String,
    /// The version.
    pub version: Version,
    /// `Architecture`.
    pub architecture: String,
    /// `Multi-Arch`.
    pub multi_arch: MultiArch,
    /// `Essential: yes`.
    pub essential: bool,
    /// The `Priority` field's rank: 1 required … 5 extra, 6 unknown (apt's provider order).
    pub priority_rank: u8,
    /// Where it is offered or recorded; index sources first, in origin order.
    pub sources: Vec<Source>,
}

/// Versions of all packages, the installed set and the virtual-name index.
#[derive(Debug)]
pub struct Universe {
    architecture: String,
    origins: Vec<Origin>,
    status: StatusFile,
    versions: Vec<PackageVersion>,
    /// Per package name, its versions, highest first.
    by_name: HashMap<String, Vec<VersionId>>,
    /// Per virtual name, the versions providing it with the provided version, if any.
    provided: HashMap<String, Vec<(VersionId, Option<Version>)>>,
    installed: HashMap<String, VersionId>,
    /// Per name, the versions whose Conflicts or Breaks name it.
    negated: HashMap<String, Vec<VersionId>>,
    empty: Relations,
}

impl Universe {
    /// Builds the universe for a single-architecture system of `architecture`.
    pub fn new(architecture: &str, origins: Vec<Origin>, status: StatusFile) -> Universe {
        let mut universe = Universe {
            architecture: architecture.to_owned(),
            origins: Vec::new(),
            status: StatusFile::default(),
            versions: Vec::new(),
            by_name: HashMap::new(),
            provided: HashMap::new(),
            installed: HashMap::new(),
            negated: HashMap::new(),
            empty: Relations::default(),
        };
        for (o, origin) in origins.iter().enumerate() {
            for (i, index) in origin.indexes.iter().enumerate() {
                for (e, entry) in index.entries().iter().enumerate() {
                    let control = &entry.control;
                    if !universe.arch_ok(&control.architecture) {
                        continue;
                    }
                    let source = Source::Index {
                        origin: o,
                        index: i,
                        entry: e,
                    };
                    let record = PackageVersion {
                        name: control.name.clone(),
                        version: control.version.clone(),
                        architecture: control.architecture.clone(),
                        multi_arch: control.multi_arch,
                        essential: control.essential,
                        priority_rank: rank(control.priority.as_deref()),
                        sources: Vec::new(),
                    };
                    universe.add(record, source);
                }
            }
        }
        for (e, entry) in status.entries.iter().enumerate() {
            let status_now = entry.status();
            let present = status_now.state >= State::Unpacked
                && !matches!(status_now.want, Want::Purge | Want::Deinstall);
            let (Some(version), Some(arch)) = (entry.version(), entry.architecture()) else {
                continue;
            };
            if !present || !universe.arch_ok(arch) {
                continue;
            }
            let record = PackageVersion {
                name: entry.name().to_owned(),
                version: version.clone(),
                architecture: arch.to_owned(),
                multi_arch: entry.multi_arch(),
                essential: entry.essential(),
                priority_rank: rank(entry.priority()),
                sources: Vec::new(),
            };
            let id = universe.add(record, Source::Status { entry: e });
            universe.installed.insert(entry.name().to_owned(), id);
        }
        universe.origins = origins;
        universe.status = status;
        // Highest version first, as apt walks them when choosing a candidate.
        let versions = &universe.versions;
        for ids in universe.by_name.values_mut() {
            ids.sort_by(|a, b| {
                let va = versions.get(a.0 as usize).map(|v| &v.version);
                let vb = versions.get(b.0 as usize).map(|v| &v.version);
                vb.cmp(&va)
            });
        }
        for id in 0..universe.versions.len() {
            let id = VersionId(id as u32);
            let provides = universe.relations(id).provides.clone();
            for provide in provides {
                let version = provide.constraint.map(|c| c.version);
                universe
                    .provided
                    .entry(provide.name)
                    .or_default()
                    .push((id, version));
            }
            let relations = universe.relations(id);
            let mut names: Vec<String> = relations
                .conflicts
                .relations()
                .iter()
                .chain(relations.breaks.relations())
                .map(|r| r.name.clone())
                .collect();
            names.dedup();
            for name in names {
                universe.negated.entry(name).or_default().push(id);
            }
        }
        universe
    }

    fn arch_ok(&self, arch: &str) -> bool {
        arch == "all" || arch == self.architecture
    }

    fn add(&mut self, record: PackageVersion, source: Source) -> VersionId {
        let ids = self.by_name.entry(record.name.clone()).or_default();
        // The same version of the same package from several places is one version with
        // several sources, as in apt's cache.
        for &id in ids.iter() {
            if let Some(existing) = self.versions.get_mut(id.0 as usize)
                && existing.version == record.version
                && existing.architecture == record.architecture
            {
                existing.sources.push(source);
                return id;
            }
        }
        let id = VersionId(self.versions.len() as u32);
        self.versions.push(PackageVersion {
            sources: vec![source],
            ..record
        });
        ids.push(id);
        id
    }

    /// The native architecture.
    pub fn architecture(&self) -> &str {
        &self.architecture
    }

    /// The origins, in the order given.
    pub fn origins(&self) -> &[Origin] {
        &self.origins
    }

    /// The status file the installed set came from.
    pub fn status(&self) -> &StatusFile {
        &self.status
    }

    /// A version's record.
    pub fn version(&self, id: VersionId) -> Option<&PackageVersion> {
        self.versions.get(id.0 as usize)
    }

    /// How many versions there are.
    pub fn len(&self) -> usize {
        self.versions.len()
    }

    /// Whether the universe holds no version at all.
    pub fn is_empty(&self) -> bool {
        self.versions.is_empty()
    }

    /// The versions of a package, highest first (empty for unknown or purely virtual names).
    pub fn versions_of(&self, name: &str) -> &[VersionId] {
        self.by_name.get(name).map_or(&[], Vec::as_slice)
    }

    /// The versions providing `name`, each with the version it provides, if stated.
    pub fn providers_of(&self, name: &str) -> &[(VersionId, Option<Version>)] {
        self.provided.get(name).map_or(&[], Vec::as_slice)
    }

    /// The versions whose Conflicts or Breaks name `name`.
    pub fn negated_by(&self, name: &str) -> &[VersionId] {
        self.negated.get(name).map_or(&[], Vec::as_slice)
    }

    /// The installed version of each installed package.
    pub fn installed(&self) -> &HashMap<String, VersionId> {
        &self.installed
    }

    /// The relationship fields of a version.
    pub fn relations(&self, id: VersionId) -> &Relations {
        let Some(version) = self.version(id) else {
            return &self.empty;
        };
        match version.sources.first() {
            Some(&Source::Index { .. }) => self
                .index_entry(id)
                .map_or(&self.empty, |(_, entry)| &entry.control.relations),
            Some(&Source::Status { entry }) => self
                .status
                .entries
                .get(entry)
                .map_or(&self.empty, |e| e.relations()),
            None => &self.empty,
        }
    }

    /// The first index entry offering a version, with its origin's position.
    pub fn index_entry(&self, id: VersionId) -> Option<(usize, &IndexEntry)> {
        self.version(id)?.sources.iter().find_map(|source| {
            let &Source::Index {
                origin,
                index,
                entry,
            } = source
            else {
                return None;
            };
            let found = self
                .origins
                .get(origin)?
                .indexes
                .get(index)?
                .entries()
                .get(entry)?;
            Some((origin, found))
        })
    }

    /// The raw index paragraph of the first index entry offering a version.
    pub fn paragraph(&self, id: VersionId) -> Option<&str> {
        let version = self.version(id)?;
        version.sources.iter().find_map(|source| {
            let &Source::Index {
                origin,
                index,
                entry,
            } = source
            else {
                return None;
            };
            let index = self.origins.get(origin)?.indexes.get(index)?;
            Some(index.raw(index.entries().get(entry)?))
        })
    }

    /// Whether version `id`, as package `relation.name` or through its Provides, satisfies
    /// `relation`.
    pub fn satisfies(&self, id: VersionId, relation: &Relation) -> bool {
        let Some(version) = self.version(id) else {
            return false;
        };
        if version.name == relation.name
            && self.qualifier_ok(version, relation.arch.as_ref())
            && relation.accepts(&version.version)
        {
            return true;
        }
        self.relations(id).provides.iter().any(|provide| {
            provide.name == relation.name
                && self.qualifier_ok(version, relation.arch.as_ref())
                && match (&relation.constraint, &provide.constraint) {
                    (None, _) => true,
                    // An unversioned Provides never satisfies a versioned dependency.
                    (Some(_), None) => false,
                    (Some(wanted), Some(given)) => wanted.matches(&given.version),
                }
        })
    }

    fn qualifier_ok(&self, version: &PackageVersion, qualifier: Option<&ArchQualifier>) -> bool {
        match qualifier {
            None | Some(ArchQualifier::Native) => true,
            // apt lets only `Multi-Arch: allowed` packages satisfy `name:any`.
            Some(ArchQualifier::Any) => version.multi_arch == MultiArch::Allowed,
            Some(ArchQualifier::Arch(arch)) => {
                *arch == self.architecture
                    && (version.architecture == *arch || version.architecture == "all")
            }
        }
    }

    /// Every version that could satisfy `relation` (by name or Provides), deduplicated,
    /// real-package versions first.
    pub fn targets(&self, relation: &Relation) -> Vec<VersionId> {
        let mut found: Vec<VersionId> = self
            .versions_of(&relation.name)
            .iter()
            .copied()
            .filter(|&id| self.satisfies(id, relation))
            .collect();
        for &(id, _) in self.providers_of(&relation.name) {
            if !found.contains(&id) && self.satisfies(id, relation) {
                found.push(id);
            }
        }
        found
    }
}

/// apt's order of the `Priority` field, most important first.
fn rank(priority: Option<&str>) -> u8 {
    match priority {
        Some("required") => 1,
        Some("important") => 2,
        Some("standard") => 3,
        Some("optional") => 4,
        Some("extra") => 5,
        _ => 6,
    }
}
