//! The outcome of a resolution: what to unpack, in an order dpkg accepts, what to remove,
//! and what the lock file records; and the profile-level driver that runs the install
//! transactions and the removals in turn.
//!
//! Packages are ordered so that each one's Pre-Depends, then its Depends, come before it
//! wherever the dependency graph has no cycle (inside a cycle, the order in which they were
//! chosen is kept). This module does not download or unpack anything.

use std::collections::{HashMap, HashSet};

use crate::apt::package::Control;
use crate::apt::relation::{Relation, RelationList, format_relations};
use crate::apt::version::Version;
use crate::profile::Packages;

use super::explain::ResolveError;
use super::policy::Policy;
use super::solve::{RemovalReason, Run, State, broken_groups};
use super::universe::{Universe, VersionId};

/// A package to unpack.
#[derive(Debug, Clone)]
pub struct Unpack {
    /// Package name.
    pub name: String,
    /// The version to unpack.
    pub version: Version,
    /// Its architecture (the image's, or `all`).
    pub architecture: String,
    /// The installed version it upgrades, if any.
    pub replaces_version: Option<Version>,
    /// Name of the origin it is taken from.
    pub origin: String,
    /// `Filename` below the origin's root.
    pub filename: String,
    /// `Size` of the `.deb`.
    pub size: u64,
    /// `SHA256` of the `.deb`.
    pub sha256: [u8; 32],
    /// The index entry's control fields.
    pub control: Control,
    /// The index paragraph as written.
    pub paragraph: String,
}

/// A package to purge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    /// Package name.
    pub name: String,
    /// The installed version.
    pub version: Version,
    /// Why it goes.
    pub reason: RemovalReason,
}

/// What the lock file records of an unpacked package (a `[[package]]` table of the lock).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockEntry {
    /// Package name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Architecture.
    pub architecture: String,
    /// The origin's name.
    pub repository: String,
    /// `Filename`.
    pub filename: String,
    /// `SHA256`, lowercase hex.
    pub sha256: String,
}

/// The resolved change to the installed set.
#[derive(Debug, Clone, Default)]
pub struct Resolution {
    /// Packages to unpack, in an order dpkg can unpack them.
    pub unpack: Vec<Unpack>,
    /// Packages to purge, in name order.
    pub remove: Vec<Removal>,
}

impl Resolution {
    /// The lock entries, one per unpacked package, in name order.
    pub fn lock(&self) -> Vec<LockEntry> {
        let mut entries: Vec<LockEntry> = self
            .unpack
            .iter()
            .map(|u| LockEntry {
                name: u.name.clone(),
                version: u.version.to_string(),
                architecture: u.architecture.clone(),
                repository: u.origin.clone(),
                filename: u.filename.clone(),
                sha256: u.sha256.iter().map(|b| format!("{b:02x}")).collect(),
            })
            .collect();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        entries
    }
}

/// Resolves a profile's `[packages]` against a universe: `apt-get install` of the plain
/// names, then `apt-get -t <release> install` per release in order of first appearance,
/// then the purges.
pub fn resolve(universe: &Universe, packages: &Packages) -> Result<Resolution, ResolveError> {
    let mut runs: Vec<(Option<&str>, Vec<&str>)> = vec![(None, Vec::new())];
    for request in &packages.install {
        let release = request.release.as_deref();
        match runs.iter_mut().find(|(r, _)| *r == release) {
            Some((_, names)) => names.push(&request.name),
            None => runs.push((release, vec![&request.name])),
        }
    }
    let initial = universe.installed().clone();
    let broken_before = broken_groups(universe, &initial);
    let doomed: HashSet<String> = packages.remove.iter().cloned().collect();
    let mut state = State {
        want: initial.clone(),
        ..State::default()
    };
    for (release, names) in runs {
        if names.is_empty() {
            continue;
        }
        let installed = state.want.clone();
        let mut run = Run {
            universe,
            policy: Policy::new(universe, release),
            installed,
            state: &mut state,
            recommends: packages.recommends,
            doomed: &doomed,
        };
        for name in names {
            run.request(name)?;
        }
        run.repair(&broken_before)?;
    }
    remove_requested(universe, &mut state, &packages.remove)?;
    Ok(build(universe, &initial, &state))
}

/// The profile's purges, refused for Essential packages and for packages others need.
fn remove_requested(
    universe: &Universe,
    state: &mut State,
    names: &[String],
) -> Result<(), ResolveError> {
    let before = state.want.clone();
    for name in names {
        let Some(&id) = state.want.get(name) else {
            continue;
        };
        if universe.version(id).is_some_and(|v| v.essential) {
            return Err(ResolveError::Essential {
                name: name.clone(),
                why: "the profile's remove list names it".to_owned(),
            });
        }
        state.want.remove(name);
        state.removed.insert(name.clone(), RemovalReason::Requested);
    }
    let mut names_sorted: Vec<&String> = state.want.keys().collect();
    names_sorted.sort();
    for dependent in names_sorted {
        let Some(&id) = state.want.get(dependent) else {
            continue;
        };
        let relations = universe.relations(id);
        for group in relations
            .pre_depends
            .groups()
            .chain(relations.depends.groups())
        {
            // Only what the removal itself leaves unmet is its fault.
            if group_met(universe, &state.want, group) || !group_met(universe, &before, group) {
                continue;
            }
            let removed = group
                .iter()
                .find(|r| names.contains(&r.name))
                .map_or_else(|| names.join(", "), |r| r.name.clone());
            return Err(ResolveError::RemovalBreaks {
                removed,
                dependent: dependent.clone(),
                dependency: format_relations(&RelationList::from_groups([group.to_vec()])),
            });
        }
    }
    Ok(())
}

/// Whether `group` is met by the versions in `want`.
pub(crate) fn group_met(
    universe: &Universe,
    want: &HashMap<String, VersionId>,
    group: &[Relation],
) -> bool {
    group.iter().any(|relation| {
        want.get(&relation.name)
            .is_some_and(|&id| universe.satisfies(id, relation))
            || universe
                .providers_of(&relation.name)
                .iter()
                .any(|&(id, _)| {
                    universe
                        .version(id)
                        .is_some_and(|v| want.get(&v.name) == Some(&id))
                        && universe.satisfies(id, relation)
                })
    })
}

fn build(universe: &Universe, initial: &HashMap<String, VersionId>, state: &State) -> Resolution {
    let changed: Vec<VersionId> = state
        .marked
        .iter()
        .filter_map(|name| {
            let &id = state.want.get(name)?;
            (initial.get(name) != Some(&id)).then_some(id)
        })
        .collect();
    let order = unpack_order(universe, &changed);
    let unpack = order
        .into_iter()
        .filter_map(|id| {
            let version = universe.version(id)?;
            let (origin, entry) = universe.index_entry(id)?;
            Some(Unpack {
                name: version.name.clone(),
                version: version.version.clone(),
                architecture: version.architecture.clone(),
                replaces_version: initial
                    .get(&version.name)
                    .and_then(|&old| universe.version(old))
                    .map(|old| old.version.clone()),
                origin: universe.origins().get(origin)?.name.clone(),
                filename: entry.filename.clone(),
                size: entry.size,
                sha256: entry.sha256,
                control: entry.control.clone(),
                paragraph: universe.paragraph(id).unwrap_or("").to_owned(),
            })
        })
        .collect();
    let remove = state
        .removed
        .iter()
        .filter_map(|(name, reason)| {
            let &id = initial.get(name)?;
            Some(Removal {
                name: name.clone(),
                version: universe.version(id)?.version.clone(),
                reason: reason.clone(),
            })
        })
        .collect();
    Resolution { unpack, remove }
}

/// Depth-first order over the changed packages: Pre-Depends targets first, then Depends
/// targets, then the package; a package met again while on the stack (a cycle) is left
/// where it first came.
pub fn unpack_order(universe: &Universe, changed: &[VersionId]) -> Vec<VersionId> {
    let by_name: HashMap<&str, VersionId> = changed
        .iter()
        .filter_map(|&id| Some((universe.version(id)?.name.as_str(), id)))
        .collect();
    let targets_in = |relations: &RelationList| -> Vec<VersionId> {
        let mut found = Vec::new();
        for relation in relations.relations() {
            for (_, &id) in by_name.iter().filter(|(name, _)| **name == relation.name) {
                found.push(id);
            }
            for &(provider, _) in universe.providers_of(&relation.name) {
                if changed.contains(&provider) {
                    found.push(provider);
                }
            }
        }
        found
    };
    let mut done: HashSet<VersionId> = HashSet::new();
    let mut order = Vec::with_capacity(changed.len());
    for &root in changed {
        // Iterative DFS: (node, children expanded?).
        let mut stack: Vec<(VersionId, bool)> = vec![(root, false)];
        let mut on_stack: HashSet<VersionId> = HashSet::new();
        while let Some((id, expanded)) = stack.pop() {
            if done.contains(&id) {
                continue;
            }
            if expanded {
                on_stack.remove(&id);
                done.insert(id);
                order.push(id);
                continue;
            }
            if !on_stack.insert(id) {
                continue;
            }
            stack.push((id, true));
            let relations = universe.relations(id);
            let mut children = targets_in(&relations.pre_depends);
            children.extend(targets_in(&relations.depends));
            // Pushed in reverse so Pre-Depends are visited (and emitted) first.
            for child in children.into_iter().rev() {
                if !done.contains(&child) && !on_stack.contains(&child) {
                    stack.push((child, false));
                }
            }
        }
    }
    order
}
