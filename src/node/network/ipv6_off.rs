//! The ways a base switches IPv6 off, undone when the profile asks for IPv6: the modprobe
//! rules that keep the `ipv6` module from loading (`alias net-pf-10 off`, `blacklist ipv6`,
//! …) and `disable_ipv6 = 1` in sysctl files. (`ipv6.disable=1` on the kernel command line
//! is the `boot` module's.)
//!
//! Lines are removed, the rest of each file kept; a file left with nothing but comments is
//! removed. Nothing here switches IPv6 off.

use crate::node::config_file::rewrite;
use crate::node::edit::{EditError, Editor};
use crate::tree::{Kind, TreePath};

const DIRS: [&str; 2] = ["etc/modprobe.d", "etc/sysctl.d"];

/// Whether a modprobe.d or sysctl line keeps IPv6 off.
pub fn disables_ipv6(line: &str) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["alias", "net-pf-10", "off" | "ipv6-off"]
        | ["alias", "ipv6", "off"]
        | ["blacklist", "ipv6"]
        | ["install", "ipv6", "/bin/true" | "/bin/false"]
        | ["options", "ipv6", "disable=1"] => true,
        _ => {
            let compact: String = words.concat();
            compact.starts_with("net.ipv6.conf.") && compact.ends_with(".disable_ipv6=1")
        }
    }
}

/// Removes every rule that keeps IPv6 off; returns the files changed or removed.
pub fn enable(root: &mut Editor) -> Result<Vec<String>, EditError> {
    let mut files = vec!["/etc/sysctl.conf".to_owned()];
    for dir in DIRS {
        let Ok(dir) = TreePath::parse(dir) else {
            continue;
        };
        for (path, id) in root.tree().children(&dir) {
            let name = path.file_name().unwrap_or_default();
            if name.ends_with(b".conf") && matches!(root.tree().inode(id).kind, Kind::File { .. }) {
                files.push(path.to_string());
            }
        }
    }
    let mut changed = Vec::new();
    for file in files {
        let Some(text) = root.read_text(&file)? else {
            continue;
        };
        if !text.lines().any(disables_ipv6) {
            continue;
        }
        let kept: Vec<&str> = text.lines().filter(|l| !disables_ipv6(l)).collect();
        let only_comments = kept
            .iter()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'));
        if only_comments && file != "/etc/sysctl.conf" {
            root.remove(&file)?;
        } else {
            let mut out = kept.join("\n");
            out.push('\n');
            rewrite(root, &file, &out, 0o644)?;
        }
        changed.push(file);
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::{Inode, Timestamp, Tree};
    use std::collections::BTreeSet;

    #[test]
    fn jessie_modprobe_file_goes_and_sysctl_lines_are_dropped() {
        let t = Timestamp::from_secs(0);
        let mut tree = Tree::new(Inode::dir(0o755, t));
        let mut changed = BTreeSet::new();
        let mut edit = Editor::new(&mut tree, &mut changed, t);
        edit.write(
            "/etc/modprobe.d/ipv6.conf",
            "# Don't load ipv6 by default\nalias net-pf-10 off\n",
            0o644,
        )
        .unwrap();
        edit.write(
            "/etc/modprobe.d/raspi-blacklist.conf",
            "blacklist snd_bcm2835\n",
            0o644,
        )
        .unwrap();
        edit.write(
            "/etc/sysctl.conf",
            "vm.swappiness=1\nnet.ipv6.conf.all.disable_ipv6 = 1\n",
            0o644,
        )
        .unwrap();
        let files = enable(&mut edit).unwrap();
        assert_eq!(files.len(), 2, "{files:?}");
        assert!(!edit.exists("/etc/modprobe.d/ipv6.conf").unwrap());
        assert!(edit.exists("/etc/modprobe.d/raspi-blacklist.conf").unwrap());
        assert_eq!(
            edit.read_text("/etc/sysctl.conf").unwrap().unwrap(),
            "vm.swappiness=1\n"
        );
    }

    #[test]
    fn recognises_the_usual_spellings() {
        for line in [
            "alias net-pf-10 off",
            "blacklist  ipv6",
            "install ipv6 /bin/true",
            "net.ipv6.conf.default.disable_ipv6=1",
        ] {
            assert!(disables_ipv6(line), "{line}");
        }
        for line in [
            "# alias net-pf-10 off",
            "net.ipv6.conf.all.disable_ipv6 = 0",
            "alias net-pf-10 ipv6",
        ] {
            assert!(!disables_ipv6(line), "{line}");
        }
    }
}
