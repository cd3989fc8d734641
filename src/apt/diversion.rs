//! dpkg's diversions: a path diverted to another name, by a package or by the
//! administrator (`dpkg-divert --local`), as listed in `/var/lib/dpkg/diversions`.
//!
//! When a package other than the diverting one ships a diverted path, dpkg writes the file
//! at the divert-to name; the diverting package itself writes the original path. A package
//! that is not the diverting one may not ship the divert-to name itself. This module only
//! answers where a path goes; writing the diversions file belongs to the dpkg database.

use std::collections::HashMap;

use crate::tree::{TreeError, TreePath};

/// One diversion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diversion {
    /// The diverted path.
    pub path: TreePath,
    /// Where other packages' versions of it go.
    pub divert_to: TreePath,
    /// The diverting package; `None` for a local (administrator's) diversion.
    pub package: Option<String>,
}

/// Why a path cannot be placed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum DiversionError {
    /// A package ships the divert-to name of someone else's diversion.
    #[error(
        "trying to overwrite `{path}`, which is the diverted version of `{original}` ({by}); dpkg refuses this"
    )]
    OverwritesDiverted {
        /// The divert-to path the package ships.
        path: TreePath,
        /// The diverted original.
        original: TreePath,
        /// Who diverted it.
        by: String,
    },
    /// The diversions file is malformed.
    #[error("the diversions file is malformed: {reason}")]
    Malformed {
        /// What is wrong.
        reason: String,
    },
}

/// The diversions in force.
#[derive(Debug, Clone, Default)]
pub struct Diversions {
    by_path: HashMap<TreePath, Diversion>,
    by_target: HashMap<TreePath, Diversion>,
}

impl Diversions {
    /// The given diversions (a later one for the same path replaces an earlier one).
    pub fn new(list: impl IntoIterator<Item = Diversion>) -> Self {
        let mut out = Self::default();
        for d in list {
            out.by_target.insert(d.divert_to.clone(), d.clone());
            out.by_path.insert(d.path.clone(), d);
        }
        out
    }

    /// Parses dpkg's `diversions` file: three lines per diversion (path, divert-to, package
    /// or `:` for a local diversion).
    pub fn parse(text: &[u8]) -> Result<Self, DiversionError> {
        let lines: Vec<&[u8]> = text
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        if !lines.len().is_multiple_of(3) {
            return Err(DiversionError::Malformed {
                reason: format!("{} lines, not a multiple of three", lines.len()),
            });
        }
        let path = |line: &[u8]| {
            TreePath::parse(line).map_err(|e: TreeError| DiversionError::Malformed {
                reason: e.to_string(),
            })
        };
        let mut list = Vec::new();
        for triple in lines.chunks(3) {
            let [from, to, package] = triple else {
                continue;
            };
            list.push(Diversion {
                path: path(from)?,
                divert_to: path(to)?,
                package: match *package {
                    b":" => None,
                    name => Some(String::from_utf8_lossy(name).into_owned()),
                },
            });
        }
        Ok(Self::new(list))
    }

    /// Where `package`'s file `path` is written.
    pub fn destination(&self, path: &TreePath, package: &str) -> Result<TreePath, DiversionError> {
        if let Some(d) = self.by_target.get(path)
            && d.package.as_deref() != Some(package)
        {
            return Err(DiversionError::OverwritesDiverted {
                path: path.clone(),
                original: d.path.clone(),
                by: d
                    .package
                    .as_ref()
                    .map_or("a local diversion".to_string(), |p| format!("package {p}")),
            });
        }
        match self.by_path.get(path) {
            Some(d) if d.package.as_deref() != Some(package) => Ok(d.divert_to.clone()),
            _ => Ok(path.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> TreePath {
        TreePath::parse(s).unwrap()
    }

    #[test]
    fn others_are_diverted_the_diverter_is_not() {
        let d =
            Diversions::parse(b"/usr/bin/x\n/usr/bin/x.real\nwrapper\n/etc/y\n/etc/y.local\n:\n")
                .unwrap();
        assert_eq!(
            d.destination(&p("usr/bin/x"), "other").unwrap(),
            p("usr/bin/x.real")
        );
        assert_eq!(
            d.destination(&p("usr/bin/x"), "wrapper").unwrap(),
            p("usr/bin/x")
        );
        assert_eq!(d.destination(&p("etc/y"), "any").unwrap(), p("etc/y.local"));
        assert_eq!(
            d.destination(&p("usr/bin/z"), "any").unwrap(),
            p("usr/bin/z")
        );
        assert!(d.destination(&p("usr/bin/x.real"), "other").is_err());
        assert!(d.destination(&p("usr/bin/x.real"), "wrapper").is_ok());
        assert!(d.destination(&p("etc/y.local"), "any").is_err());
        assert!(Diversions::parse(b"/a\n/b\n").is_err());
    }
}
