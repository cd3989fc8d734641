//! apt's pin priorities and candidate choice (apt_preferences(5)).
//!
//! A version's priority is the highest of the priorities of the places it comes from: each
//! origin's pin (990 for the origins `-t <release>` names, as `APT::Default-Release` makes
//! them), and 100 for the dpkg status file when it is the installed version. The candidate
//! is found walking versions from the highest down: a version replaces the choice so far
//! only with a strictly higher priority, and once the installed version is reached with a
//! priority below 1000 the choice is raised to 999, so that only a pin of 1000 or more can
//! downgrade. Versions at a priority below 0 are never candidates.
//! This module does not decide what gets installed.

use std::collections::HashMap;

use super::universe::{Source, Universe, VersionId};

/// The priority of the dpkg status file.
pub const STATUS_PRIORITY: i32 = 100;
/// The priority `-t` (`APT::Default-Release`) gives the target release's origins.
pub const TARGET_PRIORITY: i32 = 990;

/// Priorities for one `apt-get [-t release] install` run.
#[derive(Debug, Clone)]
pub struct Policy {
    origin_priority: Vec<i32>,
}

impl Policy {
    /// The policy of a run targeting `release`, if any.
    pub fn new(universe: &Universe, release: Option<&str>) -> Policy {
        let origin_priority = universe
            .origins()
            .iter()
            .map(|origin| match release {
                // The default release's pin is applied before the preferences and fixes
                // the origin's priority, so it wins even over a lower explicit pin.
                Some(release) if origin.is_release(release) => TARGET_PRIORITY,
                _ => origin.priority,
            })
            .collect();
        Policy { origin_priority }
    }

    /// The priority of origin `origin` under this policy.
    pub fn origin_priority(&self, origin: usize) -> Option<i32> {
        self.origin_priority.get(origin).copied()
    }

    /// The priority of `id` when `installed` is the package's installed version.
    pub fn priority(
        &self,
        universe: &Universe,
        id: VersionId,
        installed: Option<VersionId>,
    ) -> i32 {
        let Some(version) = universe.version(id) else {
            return i32::MIN;
        };
        let mut best: Option<i32> = None;
        for source in &version.sources {
            let priority = match *source {
                Source::Index { origin, .. } => self.origin_priority(origin),
                Source::Status { .. } => None,
            };
            if let Some(priority) = priority {
                best = Some(best.map_or(priority, |b| b.max(priority)));
            }
        }
        if installed == Some(id) {
            best = Some(best.map_or(STATUS_PRIORITY, |b| b.max(STATUS_PRIORITY)));
        }
        best.unwrap_or(i32::MIN)
    }

    /// The candidate version of package `name` given what is installed now.
    pub fn candidate(
        &self,
        universe: &Universe,
        name: &str,
        installed: &HashMap<String, VersionId>,
    ) -> Option<VersionId> {
        let now = installed.get(name).copied();
        let mut max = 0;
        let mut chosen = None;
        for &id in universe.versions_of(name) {
            // A version that only the status file knows but is no longer installed.
            if now != Some(id)
                && universe
                    .version(id)
                    .is_some_and(|v| v.sources.iter().all(|s| matches!(s, Source::Status { .. })))
            {
                continue;
            }
            let priority = self.priority(universe, id, now);
            if priority < 0 {
                continue;
            }
            if priority > max || chosen.is_none() && priority == max && priority > 0 {
                max = priority;
                chosen = Some(id);
            }
            if now == Some(id) && max < 1000 {
                max = 999;
                if chosen.is_none() {
                    chosen = Some(id);
                }
            }
        }
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apt::packages::PackagesIndex;
    use crate::apt::resolver::universe::Origin;
    use crate::apt::status::StatusFile;

    fn origin(name: &str, priority: i32, versions: &[&str]) -> Origin {
        let mut text = String::new();
        for version in versions {
            text.push_str(&format!(
                "Package: lib\nVersion: {version}\nArchitecture: all\nFilename: pool/lib_{version}.deb\nSize: 1\nSHA256: {}\n\n",
                "0".repeat(64)
            ));
        }
        Origin {
            name: name.to_owned(),
            suite: Some(name.to_owned()),
            codename: None,
            priority,
            indexes: vec![PackagesIndex::parse(text, "Packages").expect("index")],
        }
    }

    fn universe(installed: Option<&str>, origins: Vec<Origin>) -> Universe {
        let status = installed.map_or_else(String::new, |v| {
            format!(
                "Package: lib\nStatus: install ok installed\nVersion: {v}\nArchitecture: all\n\n"
            )
        });
        Universe::new(
            "armhf",
            origins,
            StatusFile::parse(&status, "status").expect("status"),
        )
    }

    fn candidate(universe: &Universe, release: Option<&str>) -> Option<String> {
        let id = Policy::new(universe, release).candidate(universe, "lib", universe.installed())?;
        Some(universe.version(id)?.version.to_string())
    }

    #[test]
    fn highest_priority_then_highest_version() {
        let u = universe(
            None,
            vec![
                origin("a", 500, &["1.0", "1.1"]),
                origin("b", 100, &["2.0"]),
            ],
        );
        assert_eq!(candidate(&u, None).as_deref(), Some("1.1"));
        assert_eq!(candidate(&u, Some("b")).as_deref(), Some("2.0"));
    }

    #[test]
    fn installed_is_not_downgraded_below_1000() {
        let u = universe(Some("3.0"), vec![origin("a", 990, &["1.0"])]);
        assert_eq!(candidate(&u, None).as_deref(), Some("3.0"));
        let u = universe(Some("3.0"), vec![origin("a", 1001, &["1.0"])]);
        assert_eq!(candidate(&u, None).as_deref(), Some("1.0"));
    }

    #[test]
    fn installed_outranks_low_priority_upgrades() {
        let u = universe(Some("1.0"), vec![origin("a", 50, &["2.0"])]);
        assert_eq!(candidate(&u, None).as_deref(), Some("1.0"));
        let u = universe(Some("1.0"), vec![origin("a", 100, &["2.0"])]);
        assert_eq!(candidate(&u, None).as_deref(), Some("2.0"));
        let u = universe(None, vec![origin("a", -1, &["2.0"])]);
        assert_eq!(candidate(&u, None), None);
    }
}
