//! Trigger interests in `/var/lib/dpkg/triggers`, registered at unpack as dpkg does:
//! `File` holds `<path> <pkg>[/noawait]` for file triggers, and `triggers/<name>` holds
//! `<pkg>[/noawait]` for each named trigger a package is interested in.
//!
//! Only interests are kept here. Activations (`activate` directives, and the file
//! triggers that unpacked paths would fire) are not recorded: the packages' own
//! `activate` directives fire again when `dpkg --configure -a` configures them on first
//! boot; file triggers fired by unpacked paths (a `man-db` index refresh, say) are lost.

use super::admin_dir::{admin_path, read_file, write_file};
use super::error::DpkgError;
use crate::tree::{Timestamp, Tree, TreePath};

/// The largest trigger file read.
const MAX_TRIGGER_BYTES: u64 = 16 << 20;
/// Files of `triggers/` that are not named triggers.
const RESERVED: [&str; 3] = ["File", "Lock", "Unincorp"];

/// The interests of a package's `triggers` control file: `(trigger, noawait)`.
fn interests(control: &[u8]) -> Vec<(String, bool)> {
    String::from_utf8_lossy(control)
        .lines()
        .filter_map(|line| {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace();
            let noawait = match words.next()? {
                "interest" | "interest-await" => false,
                "interest-noawait" => true,
                _ => return None,
            };
            Some((words.next()?.to_owned(), noawait))
        })
        .collect()
}

/// Whether a trigger-file line names `info_name` (with or without `/noawait`).
fn names(word: &str, info_name: &str) -> bool {
    word.strip_suffix("/noawait").unwrap_or(word) == info_name
}

fn word(info_name: &str, noawait: bool) -> String {
    if noawait {
        format!("{info_name}/noawait")
    } else {
        info_name.to_owned()
    }
}

/// Refuses a `triggers` control file naming a trigger that cannot be a file name, so a
/// package is refused before anything of it is recorded.
pub(crate) fn check_interests(info_name: &str, control: &[u8]) -> Result<(), DpkgError> {
    for (name, _) in interests(control) {
        if !name.starts_with('/') && crate::tree::check_name(name.as_bytes()).is_err() {
            return Err(DpkgError::BadControl {
                deb: info_name.to_owned(),
                reason: format!("trigger name `{name}` is not usable as a file name"),
            });
        }
    }
    Ok(())
}

/// Replaces the interests of `info_name` by those of its `triggers` control file
/// (`None` to remove them, as on purge).
pub(crate) fn update_interests(
    tree: &mut Tree,
    info_name: &str,
    control: Option<&[u8]>,
    mtime: Timestamp,
) -> Result<(), DpkgError> {
    let new = control.map(interests).unwrap_or_default();
    let dir = admin_path("triggers");
    let bad = |name: &str| DpkgError::BadControl {
        deb: info_name.to_owned(),
        reason: format!("trigger name `{name}` is not usable as a file name"),
    };

    // File triggers.
    let file = admin_path("triggers/File");
    let old = read_file(tree, &file, MAX_TRIGGER_BYTES)?;
    let mut lines: Vec<String> = old
        .as_deref()
        .map(|b| {
            String::from_utf8_lossy(b)
                .lines()
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    lines.retain(|l| {
        !l.split_whitespace()
            .nth(1)
            .is_some_and(|w| names(w, info_name))
    });
    for (name, noawait) in new.iter().filter(|(n, _)| n.starts_with('/')) {
        lines.push(format!("{name} {}", word(info_name, *noawait)));
    }
    if lines.is_empty() {
        // dpkg deletes `File` when no file trigger is left.
        if old.is_some()
            && let Ok(dest) = tree.resolve(&file, false)
        {
            let _ = tree.remove(&dest);
        }
    } else {
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        write_file(tree, &file, text.into_bytes(), 0o644, mtime)?;
    }

    // Named triggers: drop the package everywhere, then add its interests.
    let existing: Vec<TreePath> = tree
        .resolve(&dir, true)
        .map(|d| {
            tree.children(&d)
                .map(|(p, _)| p.clone())
                .filter(|p| {
                    let name = p.file_name().unwrap_or_default();
                    !RESERVED.iter().any(|r| r.as_bytes() == name)
                })
                .collect()
        })
        .unwrap_or_default();
    let mut named: Vec<(TreePath, Vec<String>, bool)> = Vec::new();
    for path in existing {
        let Some(bytes) = read_file(tree, &path, MAX_TRIGGER_BYTES)? else {
            continue;
        };
        let all: Vec<String> = String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_owned)
            .collect();
        let kept: Vec<String> = all
            .iter()
            .filter(|l| !names(l.trim(), info_name))
            .cloned()
            .collect();
        let changed = kept.len() != all.len();
        named.push((path, kept, changed));
    }
    for (name, noawait) in new.iter().filter(|(n, _)| !n.starts_with('/')) {
        let path = dir.join(name.as_bytes()).map_err(|_| bad(name))?;
        let line = word(info_name, *noawait);
        match named.iter_mut().find(|(p, _, _)| *p == path) {
            Some((_, lines, changed)) => {
                lines.push(line);
                *changed = true;
            }
            None => named.push((path, vec![line], true)),
        }
    }
    for (path, lines, changed) in named {
        if !changed {
            continue;
        }
        if lines.is_empty() {
            // dpkg deletes a named trigger nobody is interested in any more.
            let _ = tree.remove(&path);
        } else {
            let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
            write_file(tree, &path, text.into_bytes(), 0o644, mtime)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_interest_directives_only() {
        assert_eq!(
            interests(
                b"interest /usr/share/man\ninterest-noawait t # c\nactivate-noawait ldconfig\n#x\n"
            ),
            [("/usr/share/man".to_owned(), false), ("t".to_owned(), true)]
        );
        assert!(names("pkg/noawait", "pkg"));
        assert!(!names("pkg2", "pkg"));
    }

    #[test]
    fn interests_come_and_go_as_in_dpkg() {
        let t = Timestamp::from_secs(1);
        let mut tree = Tree::new(crate::tree::Inode::dir(0o755, t));
        let ci = b"interest /usr/share/x\ninterest-noawait named\n";
        update_interests(&mut tree, "p:armhf", Some(ci), t).unwrap();
        let read = |tree: &Tree, p: &str| {
            read_file(tree, &admin_path(p), 1024)
                .unwrap()
                .map(|b| String::from_utf8(b).unwrap())
        };
        assert_eq!(
            read(&tree, "triggers/File").unwrap(),
            "/usr/share/x p:armhf\n"
        );
        assert_eq!(read(&tree, "triggers/named").unwrap(), "p:armhf/noawait\n");
        update_interests(&mut tree, "p:armhf", None, t).unwrap();
        assert_eq!(read(&tree, "triggers/File"), None);
        assert_eq!(read(&tree, "triggers/named"), None);
        let bad = update_interests(&mut tree, "p", Some(b"interest a/b\n"), t);
        assert!(matches!(bad, Err(DpkgError::BadControl { .. })));
    }
}
