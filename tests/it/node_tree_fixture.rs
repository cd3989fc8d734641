//! Fixtures for the node-settings tests: a profile beside its files, small base trees, a
//! run of one node part through an [`Editor`], and the written files copied out of the tree
//! so the real daemons (`nginx -t`, `sshd -t`, `systemd-analyze verify`, …) can check them.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use pi_imager::node::{DiskIds, Editor, NodeContext};
use pi_imager::profile::{Generation, Profile};
use pi_imager::tree::{Inode, Kind, Timestamp, Tree, TreePath};

const T: Timestamp = Timestamp::from_secs(1_456_704_000);

/// The start of every test profile: image, base and network.
pub const HEAD: &str = r#"
[image]
name = "blog"
board = "pi3"
card_size = "8GB"

[base]
file = "base.img"

[network]
interface = "eth0"
ipv4 = "off"
ipv6 = "2001:db8:0:82::3/64"
"#;

/// `HEAD` plus `rest`, checked, with `base.img` created in `dir`.
pub fn profile(dir: &Path, rest: &str) -> Profile {
    fs::write(dir.join("base.img"), b"img").unwrap();
    let text = format!("{HEAD}\n{rest}");
    match pi_imager::profile::parse(&text, &dir.join("node.toml")) {
        Ok(loaded) => loaded.profile,
        Err(e) => panic!("test profile is invalid: {e}"),
    }
}

/// A tree holding `files` (path, contents, mode), root-owned, parents created.
pub fn tree(files: &[(&str, &[u8], u32)]) -> Tree {
    let mut tree = Tree::new(Inode::dir(0o755, T));
    for (path, bytes, mode) in files {
        put(&mut tree, path, Inode::file(bytes.to_vec(), *mode, T));
    }
    tree
}

/// Puts `inode` at `path` of `tree`, creating parents.
pub fn put(tree: &mut Tree, path: &str, inode: Inode) {
    let path = TreePath::parse(path).unwrap();
    tree.create_dir_all(&path.parent().unwrap(), &Inode::dir(0o755, T))
        .unwrap();
    tree.replace(path, inode).unwrap();
}

/// What a node part wrote.
pub struct Written {
    /// Root paths written.
    pub root: BTreeSet<TreePath>,
    /// Notes.
    pub notes: Vec<String>,
}

/// Runs `part` on `root` and `boot` for the profile's first node.
pub fn run_part<E: std::fmt::Display>(
    profile: &Profile,
    generation: Generation,
    root: &mut Tree,
    boot: &mut Tree,
    part: impl FnOnce(&mut Editor, &mut Editor, &NodeContext, &mut Vec<String>) -> Result<(), E>,
) -> Written {
    let ids = DiskIds {
        boot: "PARTUUID=1a2b3c4d-01".into(),
        root: "PARTUUID=1a2b3c4d-02".into(),
    };
    let ctx = NodeContext {
        profile,
        node: &profile.nodes()[0],
        generation,
        ids: &ids,
        mtime: Timestamp::from_secs(1_700_000_000),
    };
    let mut root_changed = BTreeSet::new();
    let mut boot_changed = BTreeSet::new();
    let mut notes = Vec::new();
    let mut root_edit = Editor::new(root, &mut root_changed, ctx.mtime);
    let mut boot_edit = Editor::new(boot, &mut boot_changed, ctx.mtime);
    if let Err(e) = part(&mut root_edit, &mut boot_edit, &ctx, &mut notes) {
        panic!("node part failed: {e}");
    }
    Written {
        root: root_changed,
        notes,
    }
}

/// The bytes of the regular file at `path` (symlinks followed inside the tree).
pub fn read(tree: &Tree, path: &str) -> Vec<u8> {
    let inode = tree
        .lookup(&TreePath::parse(path).unwrap())
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    match &inode.kind {
        Kind::File { size, content } => content.read_to_vec(*size, 1 << 24).unwrap(),
        other => panic!("{path} is not a file: {other:?}"),
    }
}

/// Copies the file or symlink at tree path `from` to host path `to`, with the tree's mode.
pub fn export(tree: &Tree, from: &str, to: &Path) {
    fs::create_dir_all(to.parent().unwrap()).unwrap();
    let inode = tree.get(&TreePath::parse(from).unwrap()).unwrap();
    match &inode.kind {
        Kind::Symlink(target) => {
            let _ = fs::remove_file(to);
            std::os::unix::fs::symlink(String::from_utf8(target.clone()).unwrap(), to).unwrap();
        }
        _ => {
            fs::write(to, read(tree, from)).unwrap();
            fs::set_permissions(to, fs::Permissions::from_mode(inode.mode)).unwrap();
        }
    }
}

/// Runs a command; panics if it cannot start (the tool is missing).
pub fn output(cmd: &mut Command) -> Output {
    let shown = format!("{cmd:?}");
    cmd.output().unwrap_or_else(|e| {
        panic!("{shown}: cannot run (is it installed? see .ci/install-deps): {e}")
    })
}

/// Runs a command and panics with its output unless it succeeds.
pub fn check(cmd: &mut Command) -> Output {
    let shown = format!("{cmd:?}");
    let out = output(cmd);
    assert!(
        out.status.success(),
        "{shown} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Writes the whole tree under host directory `to` (directories, files, symlinks; owners
/// are not copied).
pub fn export_all(tree: &Tree, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for (path, _, inode) in tree.iter().filter(|(p, _, _)| !p.is_root()) {
        let dest = to.join(String::from_utf8(path.to_relative_bytes()).unwrap());
        match inode.kind {
            Kind::Dir => fs::create_dir_all(&dest).unwrap(),
            Kind::File { .. } | Kind::Symlink(_) => export(tree, &path.to_string(), &dest),
            _ => {}
        }
    }
}
