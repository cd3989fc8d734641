//! A configuration file of the base changed in place: the new text keeps the file's owner,
//! group and mode (Raspbian's `/etc/dhcpcd.conf` is `root:netdev 0664`), and an unchanged
//! text is not written at all, so the manifest lists only what the builder really changed.
//!
//! It decides nothing about the text itself.

use super::edit::{EditError, Editor};

/// Writes `text` at `path` unless the file already holds it; a new file is root-owned with
/// `mode`, an existing one keeps its owner and mode. Returns whether it wrote.
pub fn rewrite(editor: &mut Editor, path: &str, text: &str, mode: u32) -> Result<bool, EditError> {
    let current = editor.read(path)?;
    if current.as_deref() == Some(text.as_bytes()) {
        return Ok(false);
    }
    let (mode, uid, gid) = match editor.inode(path)? {
        Some(inode) if current.is_some() => (inode.mode & 0o7777, inode.uid, inode.gid),
        _ => (mode, 0, 0),
    };
    editor.write_owned(path, text.as_bytes().to_vec(), mode, uid, gid)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::{Inode, Timestamp, Tree, TreePath};
    use std::collections::BTreeSet;

    #[test]
    fn keeps_owner_and_mode_and_skips_unchanged_text() {
        let t = Timestamp::from_secs(0);
        let mut tree = Tree::new(Inode::dir(0o755, t));
        tree.insert(TreePath::parse("etc").unwrap(), Inode::dir(0o755, t))
            .unwrap();
        let mut conf = Inode::file(b"a\n".to_vec(), 0o664, t);
        conf.gid = 109;
        tree.insert(TreePath::parse("etc/dhcpcd.conf").unwrap(), conf)
            .unwrap();
        let mut changed = BTreeSet::new();
        let mut edit = Editor::new(&mut tree, &mut changed, Timestamp::from_secs(9));
        assert!(!rewrite(&mut edit, "/etc/dhcpcd.conf", "a\n", 0o644).unwrap());
        assert!(rewrite(&mut edit, "/etc/dhcpcd.conf", "b\n", 0o644).unwrap());
        let inode = edit.inode("/etc/dhcpcd.conf").unwrap().unwrap();
        assert_eq!((inode.mode & 0o7777, inode.gid), (0o664, 109));
        assert!(rewrite(&mut edit, "/etc/new.conf", "c\n", 0o600).unwrap());
        assert_eq!(
            edit.inode("/etc/new.conf").unwrap().unwrap().mode & 0o7777,
            0o600
        );
        assert_eq!(changed.len(), 2);
    }
}
