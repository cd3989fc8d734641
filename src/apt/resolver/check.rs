//! An independent check of a resolution: applies it to the installed set and lists every
//! unmet Pre-Depends or Depends and every Conflicts or Breaks between two packages of the
//! result, like `apt-get check` would. It shares no logic with the search, so tests can
//! hold the search to it. Packages already broken before the resolution are not reported.

use std::collections::HashMap;

use crate::apt::relation::{RelationList, format_relations};

use super::resolution::{Resolution, group_met};
use super::universe::{Universe, VersionId};

/// A defect of the resulting installed set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inconsistency {
    /// `package` has a dependency no package of the result meets.
    Unmet {
        /// `name (version)`.
        package: String,
        /// The dependency, as written.
        dependency: String,
    },
    /// `package` conflicts with or breaks `other`, both in the result.
    Clash {
        /// `name (version)`.
        package: String,
        /// `name (version)`.
        other: String,
    },
}

/// The installed set after `resolution`: name to version.
pub fn result_set(universe: &Universe, resolution: &Resolution) -> HashMap<String, VersionId> {
    let mut want = universe.installed().clone();
    for removal in &resolution.remove {
        want.remove(&removal.name);
    }
    for unpack in &resolution.unpack {
        if let Some(&id) = universe.versions_of(&unpack.name).iter().find(|&&id| {
            universe
                .version(id)
                .is_some_and(|v| v.version == unpack.version)
        }) {
            want.insert(unpack.name.clone(), id);
        }
    }
    want
}

/// Every defect of the installed set after `resolution` that was not there before.
pub fn check(universe: &Universe, resolution: &Resolution) -> Vec<Inconsistency> {
    let before = defects(universe, universe.installed());
    defects(universe, &result_set(universe, resolution))
        .into_iter()
        .filter(|d| !before.contains(d))
        .collect()
}

fn label(universe: &Universe, id: VersionId) -> String {
    universe
        .version(id)
        .map_or_else(|| "?".to_owned(), |v| format!("{} ({})", v.name, v.version))
}

fn defects(universe: &Universe, want: &HashMap<String, VersionId>) -> Vec<Inconsistency> {
    let mut found = Vec::new();
    let mut names: Vec<&String> = want.keys().collect();
    names.sort();
    for name in names {
        let Some(&id) = want.get(name) else {
            continue;
        };
        let relations = universe.relations(id);
        for group in relations
            .pre_depends
            .groups()
            .chain(relations.depends.groups())
        {
            if !group_met(universe, want, group) {
                found.push(Inconsistency::Unmet {
                    package: label(universe, id),
                    dependency: format_relations(&RelationList::from_groups([group.to_vec()])),
                });
            }
        }
        for relation in relations
            .conflicts
            .relations()
            .iter()
            .chain(relations.breaks.relations())
        {
            for other in universe.targets(relation) {
                let Some(v) = universe.version(other) else {
                    continue;
                };
                if v.name != *name && want.get(&v.name) == Some(&other) {
                    found.push(Inconsistency::Clash {
                        package: label(universe, id),
                        other: label(universe, other),
                    });
                }
            }
        }
    }
    found
}
