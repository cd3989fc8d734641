//! How a Debian service is switched on, undone: the systemd links in
//! `/etc/systemd/system/*.wants` (and `.requires`), the SysV `rc?.d` links, and masking.
//!
//! This is what `systemctl disable` and `update-rc.d NAME remove` leave behind, done on the
//! tree. It does not remove the package or its unit files.

use super::edit::{EditError, Editor};
use crate::tree::TreePath;

const SYSTEMD_ETC: &str = "etc/systemd/system";
const UNIT_DIRS: [&str; 3] = [
    "/etc/systemd/system",
    "/lib/systemd/system",
    "/usr/lib/systemd/system",
];

/// Removes every link that starts `unit` (such as `dphys-swapfile.service`) at boot:
/// systemd `.wants`/`.requires` links in /etc and the SysV `S`/`K` links of the script of
/// the same name. Returns the paths removed.
pub fn disable(root: &mut Editor, unit: &str) -> Result<Vec<String>, EditError> {
    let script = unit.strip_suffix(".service").unwrap_or(unit);
    let mut doomed = Vec::new();
    if let Ok(dir) = TreePath::parse(SYSTEMD_ETC) {
        for (path, _) in root.tree().children(&dir) {
            let name = path.file_name().unwrap_or_default();
            if name.ends_with(b".wants") || name.ends_with(b".requires") {
                let link = format!("{path}/{unit}");
                if root.exists(&link)? {
                    doomed.push(link);
                }
            }
        }
    }
    if let Ok(etc) = TreePath::parse("etc") {
        for (path, _) in root.tree().children(&etc) {
            let name = path.file_name().unwrap_or_default();
            let is_rc = name.len() == 5 && name.starts_with(b"rc") && name.ends_with(b".d");
            if !is_rc {
                continue;
            }
            for (link, _) in root.tree().children(path) {
                let link_name = link.file_name().unwrap_or_default();
                let sysv = link_name.len() == script.len() + 3
                    && matches!(link_name.first(), Some(b'S' | b'K'))
                    && link_name
                        .get(1..3)
                        .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
                    && link_name.get(3..) == Some(script.as_bytes());
                if sysv {
                    doomed.push(link.to_string());
                }
            }
        }
    }
    for path in &doomed {
        root.remove(path)?;
    }
    Ok(doomed)
}

/// Masks `unit` (a link to /dev/null in /etc/systemd/system) when the tree has the unit,
/// so nothing can start it; returns whether it did.
pub fn mask(root: &mut Editor, unit: &str) -> Result<bool, EditError> {
    let mut present = false;
    for dir in &UNIT_DIRS[1..] {
        present |= root.exists(&format!("{dir}/{unit}"))?;
    }
    if !present {
        return Ok(false);
    }
    root.symlink(&format!("{}/{unit}", UNIT_DIRS[0]), "/dev/null")?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::{Inode, Timestamp, Tree};
    use std::collections::BTreeSet;

    #[test]
    fn removes_systemd_and_sysv_links_only_of_that_unit() {
        let t = Timestamp::from_secs(0);
        let mut tree = Tree::new(Inode::dir(0o755, t));
        let mut changed = BTreeSet::new();
        let mut edit = Editor::new(&mut tree, &mut changed, t);
        edit.symlink(
            "/etc/systemd/system/multi-user.target.wants/dphys-swapfile.service",
            "/lib/systemd/system/dphys-swapfile.service",
        )
        .unwrap();
        edit.symlink("/etc/rc2.d/S02dphys-swapfile", "../init.d/dphys-swapfile")
            .unwrap();
        edit.symlink("/etc/rc0.d/K01dphys-swapfile", "../init.d/dphys-swapfile")
            .unwrap();
        edit.symlink("/etc/rc2.d/S02dphys-swapfilex", "../init.d/x")
            .unwrap();
        edit.write("/etc/init.d/dphys-swapfile", b"#!/bin/sh\n".to_vec(), 0o755)
            .unwrap();
        let removed = disable(&mut edit, "dphys-swapfile.service").unwrap();
        assert_eq!(removed.len(), 3, "{removed:?}");
        assert!(edit.exists("/etc/rc2.d/S02dphys-swapfilex").unwrap());
        assert!(!mask(&mut edit, "dphys-swapfile.service").unwrap());
        edit.write("/lib/systemd/system/rpi-resize.service", Vec::new(), 0o644)
            .unwrap();
        assert!(mask(&mut edit, "rpi-resize.service").unwrap());
    }
}
