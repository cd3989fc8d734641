//! Why a resolution failed: the errors of the resolver, each naming the packages involved
//! and the chain of dependencies from the request to the failure, so that a user can tell
//! which profile entry to change (a release to pull from, a priority, a removal).
//!
//! This module only describes failures; it does not search for alternatives.

use std::fmt;

/// One link of a dependency chain: a package version and the relation that led past it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Package name.
    pub name: String,
    /// The version chosen for it.
    pub version: String,
    /// The dependency of this package followed to the next step, as written.
    pub via: Option<String>,
}

/// The path from a requested package to the one that failed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Chain(pub Vec<Step>);

impl fmt::Display for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, step) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{} ({})", step.name, step.version)?;
            if index == 0 {
                f.write_str(" (requested)")?;
            }
            if let Some(via) = &step.via {
                write!(f, " depends on {via}")?;
            }
        }
        Ok(())
    }
}

/// A resolution that cannot be carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// A requested name is neither a package nor provided by one.
    #[error(
        "package {name} is not available from any configured origin (check its spelling and the profile's repositories)"
    )]
    NotFound {
        /// The requested name.
        name: String,
    },
    /// A requested package exists but no version of it may be installed.
    #[error("package {name} has no installation candidate: {reason}")]
    NoCandidate {
        /// The requested name.
        name: String,
        /// Why (e.g. only negative pins, or only known from the status file).
        reason: String,
    },
    /// A requested virtual name has several providers.
    #[error(
        "{name} is a virtual package provided by {}; name one of them in the profile",
        providers.join(", ")
    )]
    VirtualChoice {
        /// The virtual name.
        name: String,
        /// The packages providing it.
        providers: Vec<String>,
    },
    /// A dependency has no alternative that can be installed.
    #[error("{chain}, but {}", reasons.join("; and "))]
    Unsatisfiable {
        /// From the request to the package whose dependency fails (its `via` names it).
        chain: Chain,
        /// Why each alternative failed.
        reasons: Vec<String>,
    },
    /// Two packages may not be installed together.
    #[error("{package} {kind} {other}, which {other_state} (via {chain})")]
    Conflict {
        /// `name (version)` of the package being installed.
        package: String,
        /// `conflicts with` or `breaks`.
        kind: &'static str,
        /// `name (version)` of the other package.
        other: String,
        /// Why the other one stays (e.g. installed with no candidate that avoids it).
        other_state: String,
        /// How the first package came to be installed.
        chain: Chain,
    },
    /// An Essential package would have to be removed.
    #[error("{name} is Essential and is never removed ({why})")]
    Essential {
        /// The Essential package.
        name: String,
        /// What asked for the removal.
        why: String,
    },
    /// Removing a package leaves an installed package's dependency unmet.
    #[error(
        "removing {removed} would break {dependent}, which depends on {dependency}; remove {dependent} too or keep {removed}"
    )]
    RemovalBreaks {
        /// The package removed.
        removed: String,
        /// The installed package left broken.
        dependent: String,
        /// Its dependency, as written.
        dependency: String,
    },
    /// An installed package is left with an unmet dependency by an upgrade.
    #[error(
        "{dependent} depends on {dependency}, which is no longer met once {changed} is installed, and no candidate of {dependent} fixes it"
    )]
    Broken {
        /// `name (version)` of the installed package left broken.
        dependent: String,
        /// Its dependency, as written.
        dependency: String,
        /// The packages changed by the resolution that it names.
        changed: String,
    },
    /// The dependency graph is deeper than any real archive's.
    #[error("dependency chain deeper than {limit} packages at {chain}")]
    TooDeep {
        /// The depth limit.
        limit: usize,
        /// Where it was hit.
        chain: Chain,
    },
}
