//! The search itself, after apt's `MarkInstall` and the upgrade step of its problem
//! resolver: requested packages are marked for installation at their candidate version,
//! then every unmet Pre-Depends and Depends (and Recommends when asked) is met by the
//! first alternative whose candidate fits, preferring what is installed or already chosen;
//! Conflicts and Breaks are met by upgrading the other package when its candidate avoids
//! them, by replacing it when the new package is its successor (Provides, Replaces and
//! Conflicts or Breaks it), and are refused otherwise. A failed alternative is undone
//! before the next is tried.
//!
//! Unlike apt, this never removes a package the profile did not ask to remove: an image
//! builder should fail and say why rather than silently drop software.
//! This module does not order the result (see `order`) nor read any file.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::apt::relation::{Relation, RelationList, format_relations};

use super::explain::{Chain, ResolveError, Step};
use super::policy::Policy;
use super::universe::{Universe, VersionId};

/// Deeper chains than this exist in no archive; the limit keeps hostile input bounded.
pub const MAX_DEPTH: usize = 512;

/// Why a package leaves the system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemovalReason {
    /// The profile's `remove` list names it.
    Requested,
    /// A successor that provides and replaces it took its place.
    ReplacedBy(String),
}

/// The evolving state: what will be installed, and what was taken out.
#[derive(Debug, Clone, Default)]
pub(crate) struct State {
    pub want: HashMap<String, VersionId>,
    pub removed: BTreeMap<String, RemovalReason>,
    /// Packages in the order they were first marked, for a stable result.
    pub marked: Vec<String>,
}

/// One `apt-get [-t release] install` run over the shared state.
pub(crate) struct Run<'u, 's> {
    pub universe: &'u Universe,
    pub policy: Policy,
    /// The installed set when the run started (what apt would read from dpkg).
    pub installed: HashMap<String, VersionId>,
    pub state: &'s mut State,
    pub recommends: bool,
    /// Names the profile removes anyway: a conflict with them is met by removing them.
    pub doomed: &'s HashSet<String>,
}

fn label(universe: &Universe, id: VersionId) -> String {
    universe
        .version(id)
        .map_or_else(|| "?".to_owned(), |v| format!("{} ({})", v.name, v.version))
}

fn step(universe: &Universe, id: VersionId, via: Option<String>) -> Step {
    let (name, version) = universe.version(id).map_or_else(
        || ("?".to_owned(), "?".to_owned()),
        |v| (v.name.clone(), v.version.to_string()),
    );
    Step { name, version, via }
}

fn one_group(group: &[Relation]) -> String {
    format_relations(&RelationList::from_groups([group.to_vec()]))
}

impl Run<'_, '_> {
    /// The candidate of a package in this run.
    pub fn candidate(&self, name: &str) -> Option<VersionId> {
        self.policy.candidate(self.universe, name, &self.installed)
    }

    fn wanted(&self, id: VersionId) -> bool {
        self.universe
            .version(id)
            .is_some_and(|v| self.state.want.get(&v.name) == Some(&id))
    }

    /// Whether some alternative of `group` is met by what will be installed.
    pub fn group_met(&self, group: &[Relation]) -> bool {
        group.iter().any(|relation| self.relation_met(relation))
    }

    fn relation_met(&self, relation: &Relation) -> bool {
        if let Some(&id) = self.state.want.get(&relation.name)
            && self.universe.satisfies(id, relation)
        {
            return true;
        }
        self.universe
            .providers_of(&relation.name)
            .iter()
            .any(|&(id, _)| self.wanted(id) && self.universe.satisfies(id, relation))
    }

    /// Marks a requested package for installation at its candidate.
    pub fn request(&mut self, name: &str) -> Result<(), ResolveError> {
        let id = match self.candidate(name) {
            Some(id) => id,
            None if !self.universe.versions_of(name).is_empty() => {
                return Err(ResolveError::NoCandidate {
                    name: name.to_owned(),
                    reason: "no origin offers a version at a priority of 0 or more".to_owned(),
                });
            }
            None => {
                let mut providers: Vec<String> = Vec::new();
                for &(id, _) in self.universe.providers_of(name) {
                    if let Some(v) = self.universe.version(id)
                        && self.candidate(&v.name) == Some(id)
                        && !providers.contains(&v.name)
                    {
                        providers.push(v.name.clone());
                    }
                }
                match providers.as_slice() {
                    [] => {
                        return Err(ResolveError::NotFound {
                            name: name.to_owned(),
                        });
                    }
                    [only] => match self.candidate(only) {
                        Some(id) => id,
                        None => {
                            return Err(ResolveError::NotFound {
                                name: name.to_owned(),
                            });
                        }
                    },
                    _ => {
                        return Err(ResolveError::VirtualChoice {
                            name: name.to_owned(),
                            providers,
                        });
                    }
                }
            }
        };
        let mut chain = Chain::default();
        self.install(id, &mut chain)
    }

    /// Marks `id` for installation and meets its relations (apt's `MarkInstall`).
    pub fn install(&mut self, id: VersionId, chain: &mut Chain) -> Result<(), ResolveError> {
        let universe = self.universe;
        let Some(version) = universe.version(id) else {
            return Ok(());
        };
        if self.state.want.get(&version.name) == Some(&id) {
            return Ok(());
        }
        if chain.0.len() >= MAX_DEPTH {
            return Err(ResolveError::TooDeep {
                limit: MAX_DEPTH,
                chain: chain.clone(),
            });
        }
        let name = version.name.clone();
        if !self.state.marked.contains(&name) {
            self.state.marked.push(name.clone());
        }
        self.state.want.insert(name.clone(), id);
        self.state.removed.remove(&name);
        chain.0.push(step(universe, id, None));
        let result = self.meet_relations(id, chain);
        chain.0.pop();
        result
    }

    fn meet_relations(&mut self, id: VersionId, chain: &mut Chain) -> Result<(), ResolveError> {
        self.meet_negative(id, chain)?;
        self.meet_reverse_negative(id, chain)?;
        let relations = self.universe.relations(id);
        let mut groups: Vec<(&[Relation], bool)> = relations
            .pre_depends
            .groups()
            .chain(relations.depends.groups())
            .map(|g| (g, true))
            .collect();
        if self.recommends {
            groups.extend(relations.recommends.groups().map(|g| (g, false)));
        }
        for (group, required) in groups {
            if self.group_met(group) {
                continue;
            }
            let snapshot = self.state.clone();
            match self.meet_group(group, chain) {
                Ok(()) => {}
                // apt leaves a Recommends it cannot meet unmet.
                Err(_) if !required => *self.state = snapshot,
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// The versions apt would try for a group, in order: per alternative, the package's
    /// own candidate, then the candidates of its providers.
    fn options(&self, group: &[Relation]) -> Vec<VersionId> {
        let universe = self.universe;
        let mut options = Vec::new();
        for relation in group {
            if let Some(id) = self.candidate(&relation.name)
                && universe.satisfies(id, relation)
            {
                options.push(id);
            }
            let mut providers: Vec<VersionId> = Vec::new();
            for &(id, _) in universe.providers_of(&relation.name) {
                let Some(v) = universe.version(id) else {
                    continue;
                };
                if v.name != relation.name
                    && self.candidate(&v.name) == Some(id)
                    && universe.satisfies(id, relation)
                    && !options.contains(&id)
                    && !providers.contains(&id)
                {
                    providers.push(id);
                }
            }
            // apt's CompareProviders: Essential, then installed, then the Priority field;
            // ties keep the order of apt's provides lists, which are built by prepending,
            // so the provider read last comes first.
            providers.sort_by_key(|&id| {
                let v = universe.version(id);
                let name = v.map_or("", |v| v.name.as_str());
                let first = universe.versions_of(name).iter().min().copied();
                (
                    !v.is_some_and(|v| v.essential),
                    !self.state.want.contains_key(name),
                    v.map_or(6, |v| v.priority_rank),
                    std::cmp::Reverse(first),
                )
            });
            options.extend(providers);
        }
        options
    }

    fn meet_group(&mut self, group: &[Relation], chain: &mut Chain) -> Result<(), ResolveError> {
        let via = one_group(group);
        if let Some(last) = chain.0.last_mut() {
            last.via = Some(via.clone());
        }
        let options = self.options(group);
        let mut first_error = None;
        for option in options {
            let snapshot = self.state.clone();
            match self.install(option, chain) {
                Ok(()) => return Ok(()),
                Err(error) => {
                    *self.state = snapshot;
                    first_error.get_or_insert(error);
                }
            }
        }
        if let Some(error) = first_error {
            return Err(error);
        }
        Err(ResolveError::Unsatisfiable {
            chain: chain.clone(),
            reasons: group.iter().map(|r| self.why_not(r)).collect(),
        })
    }

    /// Why no version is available for `relation`.
    fn why_not(&self, relation: &Relation) -> String {
        let universe = self.universe;
        let versions = universe.versions_of(&relation.name);
        let providers = universe.providers_of(&relation.name);
        if versions.is_empty() && providers.is_empty() {
            return format!(
                "no origin offers {} and no package provides it",
                relation.name
            );
        }
        let mut text = match self.candidate(&relation.name) {
            Some(id) => {
                let installed = self.state.want.get(&relation.name) == Some(&id);
                format!(
                    "the candidate of {} is {}{} at priority {}, which does not satisfy it",
                    relation.name,
                    universe
                        .version(id)
                        .map_or_else(String::new, |v| v.version.to_string()),
                    if installed { " (installed)" } else { "" },
                    self.policy
                        .priority(universe, id, self.installed.get(&relation.name).copied()),
                )
            }
            None if versions.is_empty() => {
                format!("no candidate of a package providing {} fits", relation.name)
            }
            None => format!("{} has no installation candidate", relation.name),
        };
        let fitting: Vec<String> = universe
            .targets(relation)
            .into_iter()
            .filter_map(|id| {
                let v = universe.version(id)?;
                let (origin, _) = universe.index_entry(id)?;
                let o = universe.origins().get(origin)?;
                Some(format!(
                    "{} {} from {} at priority {}",
                    v.name,
                    v.version,
                    o.name,
                    self.policy.origin_priority(origin).unwrap_or(o.priority)
                ))
            })
            .collect();
        if fitting.is_empty() {
            text.push_str(" and no origin provides one that does");
        } else {
            text.push_str(&format!(
                " and only versions the pins do not choose would ({}; request the package \
                 with `/<release>` in the profile, as apt-get -t does, or raise that \
                 origin's priority)",
                fitting.join(", ")
            ));
        }
        text
    }

    /// Conflicts and Breaks of `id` against what will be installed.
    fn meet_negative(&mut self, id: VersionId, chain: &mut Chain) -> Result<(), ResolveError> {
        let universe = self.universe;
        let Some(name) = universe.version(id).map(|v| v.name.clone()) else {
            return Ok(());
        };
        let relations = universe.relations(id);
        let negatives = [
            (&relations.conflicts, "conflicts with"),
            (&relations.breaks, "breaks"),
        ];
        for (list, kind) in negatives {
            for relation in list.relations() {
                for other in universe.targets(relation) {
                    let Some(other_name) = universe.version(other).map(|v| v.name.clone()) else {
                        continue;
                    };
                    if other_name == name || !self.wanted(other) {
                        continue;
                    }
                    self.resolve_clash(id, other, &other_name, relation, kind, chain)?;
                }
            }
        }
        Ok(())
    }

    /// Conflicts and Breaks that packages to be installed declare against `id`.
    fn meet_reverse_negative(
        &mut self,
        id: VersionId,
        chain: &mut Chain,
    ) -> Result<(), ResolveError> {
        let universe = self.universe;
        let Some(version) = universe.version(id) else {
            return Ok(());
        };
        let mut names = vec![version.name.clone()];
        names.extend(
            universe
                .relations(id)
                .provides
                .iter()
                .map(|p| p.name.clone()),
        );
        for target in names {
            for &other in universe.negated_by(&target) {
                let Some(other_name) = universe.version(other).map(|v| v.name.clone()) else {
                    continue;
                };
                if other_name == version.name || !self.wanted(other) {
                    continue;
                }
                let relations = universe.relations(other);
                let hits = [
                    (&relations.conflicts, "conflicts with"),
                    (&relations.breaks, "breaks"),
                ];
                for (list, kind) in hits {
                    for relation in list.relations() {
                        if relation.name == target
                            && universe.satisfies(id, relation)
                            && self.wanted(other)
                            && self.wanted(id)
                        {
                            // The other package is the one that has to move.
                            self.resolve_clash(id, other, &other_name, relation, kind, chain)?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// `id` (being installed) and the installed-or-chosen `other` clash through `relation`.
    fn resolve_clash(
        &mut self,
        id: VersionId,
        other: VersionId,
        other_name: &str,
        relation: &Relation,
        kind: &'static str,
        chain: &mut Chain,
    ) -> Result<(), ResolveError> {
        let universe = self.universe;
        // An upgrade of the other package that no longer clashes, as apt tries first.
        if let Some(candidate) = self.candidate(other_name)
            && candidate != other
            && !universe.satisfies(candidate, relation)
            && !self.clashes(candidate, id)
        {
            let snapshot = self.state.clone();
            match self.install(candidate, chain) {
                Ok(()) => return Ok(()),
                Err(_) => *self.state = snapshot,
            }
        }
        let essential = universe.version(other).is_some_and(|v| v.essential);
        let successor =
            self.succeeds(id, other_name) || self.succeeds(other, &label_name(universe, id));
        let doomed = self.doomed.contains(other_name);
        if (successor || doomed) && !essential {
            let reason = if successor {
                RemovalReason::ReplacedBy(label_name(universe, id))
            } else {
                RemovalReason::Requested
            };
            self.state.want.remove(other_name);
            self.state.removed.insert(other_name.to_owned(), reason);
            return Ok(());
        }
        if essential && (successor || doomed) {
            return Err(ResolveError::Essential {
                name: other_name.to_owned(),
                why: format!("{} would replace it", label(universe, id)),
            });
        }
        let other_state = if self.installed.get(other_name) == Some(&other) {
            "is installed and has no candidate that avoids the clash".to_owned()
        } else {
            "is also to be installed".to_owned()
        };
        Err(ResolveError::Conflict {
            package: label(universe, id),
            kind,
            other: label(universe, other),
            other_state,
            chain: chain.clone(),
        })
    }

    /// Whether `id` is the successor of package `name`: Provides it, Replaces it and
    /// Conflicts with or Breaks it.
    fn succeeds(&self, id: VersionId, name: &str) -> bool {
        let relations = self.universe.relations(id);
        relations.provides.iter().any(|p| p.name == name)
            && relations
                .replaces
                .relations()
                .iter()
                .any(|r| r.name == name)
            && relations
                .conflicts
                .relations()
                .iter()
                .chain(relations.breaks.relations())
                .any(|r| r.name == name)
    }

    /// Whether `a` and `b` clash through either one's Conflicts or Breaks.
    fn clashes(&self, a: VersionId, b: VersionId) -> bool {
        let universe = self.universe;
        let one_way = |x: VersionId, y: VersionId| {
            let relations = universe.relations(x);
            relations
                .conflicts
                .relations()
                .iter()
                .chain(relations.breaks.relations())
                .any(|r| universe.satisfies(y, r))
        };
        one_way(a, b) || one_way(b, a)
    }

    /// After the requests: installed packages left with an unmet dependency are upgraded
    /// to their candidate, as apt's problem resolver does, or the run fails.
    pub fn repair(
        &mut self,
        broken_before: &HashSet<(VersionId, usize)>,
    ) -> Result<(), ResolveError> {
        let universe = self.universe;
        for _ in 0..MAX_DEPTH {
            let mut names: Vec<&String> = self.state.want.keys().collect();
            names.sort();
            let mut found = None;
            for name in names {
                let Some(&id) = self.state.want.get(name) else {
                    continue;
                };
                let relations = universe.relations(id);
                if let Some((_, group)) = relations
                    .pre_depends
                    .groups()
                    .chain(relations.depends.groups())
                    .enumerate()
                    .find(|(position, g)| {
                        !broken_before.contains(&(id, *position)) && !self.group_met(g)
                    })
                {
                    found = Some((name.clone(), id, one_group(group), group.to_vec()));
                    break;
                }
            }
            let Some((name, id, dependency, group)) = found else {
                return Ok(());
            };
            match self.candidate(&name) {
                Some(candidate) if candidate != id => {
                    let mut chain = Chain::default();
                    self.install(candidate, &mut chain)?;
                }
                _ => {
                    let changed: Vec<String> = group
                        .iter()
                        .filter_map(|r| {
                            self.state
                                .want
                                .get(&r.name)
                                .map(|&v| label(universe, v))
                                .or_else(|| {
                                    self.state
                                        .removed
                                        .contains_key(&r.name)
                                        .then(|| format!("the removal of {}", r.name))
                                })
                        })
                        .collect();
                    return Err(ResolveError::Broken {
                        dependent: label(universe, id),
                        dependency,
                        changed: if changed.is_empty() {
                            "the new packages".to_owned()
                        } else {
                            changed.join(", ")
                        },
                    });
                }
            }
        }
        Ok(())
    }
}

fn label_name(universe: &Universe, id: VersionId) -> String {
    universe
        .version(id)
        .map_or_else(String::new, |v| v.name.clone())
}

/// The dependency groups (version, position among Pre-Depends then Depends) already unmet
/// in `want`, so that a base image shipping a broken package does not fail every
/// resolution.
pub(crate) fn broken_groups(
    universe: &Universe,
    want: &HashMap<String, VersionId>,
) -> HashSet<(VersionId, usize)> {
    let mut broken = HashSet::new();
    for &id in want.values() {
        let relations = universe.relations(id);
        for (position, group) in relations
            .pre_depends
            .groups()
            .chain(relations.depends.groups())
            .enumerate()
        {
            if !super::resolution::group_met(universe, want, group) {
                broken.insert((id, position));
            }
        }
    }
    broken
}
