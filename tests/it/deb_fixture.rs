//! Fixtures for the `.deb` tests: packages built with the real `dpkg-deb`, a test-only
//! writer that puts a tree on disk as root, and a comparison of two directories entry by
//! entry (type, mode, owner, content digest, link target, device, hard-link groups).

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use pi_imager::tree::{Inode, Kind, Timestamp, Tree, TreePath};
use sha2::{Digest, Sha256};

/// Runs a command and panics with its output if it fails or is missing.
pub fn run(cmd: &mut Command) -> std::process::Output {
    let shown = format!("{cmd:?}");
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{shown}: cannot run (is the tool installed?): {e}"));
    assert!(
        out.status.success(),
        "{shown} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn write(path: &Path, bytes: &[u8], mode: u32) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// The files of one version of the fixture package `demo`, laid out for `dpkg-deb --build`.
pub struct DemoSpec {
    /// Package name.
    pub name: &'static str,
    /// Version.
    pub version: &'static str,
    /// Extra files (path relative to the root, contents).
    pub extra: Vec<(&'static str, Vec<u8>)>,
    /// Files of the standard set to leave out.
    pub without: Vec<&'static str>,
}

impl DemoSpec {
    /// The standard package at version 1.0.
    pub fn demo() -> Self {
        Self {
            name: "demo",
            version: "1.0",
            extra: Vec::new(),
            without: Vec::new(),
        }
    }
}

/// Deterministic pseudo-random bytes (a few MiB, so contents go to the cache).
pub fn big_bytes(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Lays out the package tree of `spec` in `dir` (with DEBIAN/) and returns it.
pub fn layout(dir: &Path, spec: &DemoSpec) -> PathBuf {
    let root = dir.join(format!("{}-{}", spec.name, spec.version));
    let d = |p: &str| root.join(p);
    let mut files: Vec<(&str, Vec<u8>, u32)> = vec![
        ("etc/demo/demo.conf", b"setting = 1\n".to_vec(), 0o644),
        ("usr/bin/demo", b"#!/bin/sh\necho demo\n".to_vec(), 0o755),
        ("usr/bin/demo-suid", b"suid\n".to_vec(), 0o4755),
        (
            "usr/share/demo/nested/deep/file.txt",
            b"deep\n".to_vec(),
            0o644,
        ),
        ("usr/share/demo/big.bin", big_bytes(3 << 20), 0o644),
        ("usr/share/demo/owned", b"owned by 1:2\n".to_vec(), 0o640),
        ("lib/demo/libdemo.so", b"\x7fELF fake\n".to_vec(), 0o644),
        (
            "usr/share/doc/demo/copyright",
            b"public domain\n".to_vec(),
            0o644,
        ),
    ];
    for (path, bytes) in &spec.extra {
        files.push((path, bytes.clone(), 0o644));
    }
    files.retain(|(p, _, _)| !spec.without.contains(p));
    for (path, bytes, mode) in &files {
        write(&d(path), bytes, *mode);
    }
    let has = |p: &str| files.iter().any(|(f, _, _)| *f == p);
    if has("usr/share/demo/owned") {
        std::os::unix::fs::chown(d("usr/share/demo/owned"), Some(1), Some(2)).unwrap();
    }
    if has("usr/bin/demo") {
        std::os::unix::fs::symlink("demo", d("usr/bin/demo-rel")).unwrap();
        fs::hard_link(d("usr/bin/demo"), d("usr/bin/demo-hard")).unwrap();
    }
    if has("usr/share/demo/big.bin") {
        std::os::unix::fs::symlink("/usr/bin/demo", d("usr/share/demo/abs")).unwrap();
        run(Command::new("mknod")
            .arg(d("usr/share/demo/null"))
            .args(["c", "1", "3"]));
        run(Command::new("mkfifo").arg(d("usr/share/demo/fifo")));
        fs::create_dir_all(d("var/lib/demo")).unwrap();
        fs::set_permissions(d("var/lib/demo"), fs::Permissions::from_mode(0o700)).unwrap();
    }
    let control = format!(
        "Package: {}\nVersion: {}\nArchitecture: all\nMaintainer: Demo <demo@example.org>\nInstalled-Size: 3100\nDescription: a fixture\n long description\n .\n second paragraph\n",
        spec.name, spec.version
    );
    write(&d("DEBIAN/control"), control.as_bytes(), 0o644);
    if has("etc/demo/demo.conf") {
        write(&d("DEBIAN/conffiles"), b"/etc/demo/demo.conf\n", 0o644);
    }
    for script in ["preinst", "postinst", "prerm", "postrm"] {
        write(
            &d(&format!("DEBIAN/{script}")),
            b"#!/bin/sh\nexit 0\n",
            0o755,
        );
    }
    let sums = run(Command::new("sh")
        .arg("-c")
        .arg("find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\\./||' | LC_ALL=C sort | xargs md5sum")
        .current_dir(&root));
    write(&d("DEBIAN/md5sums"), &sums.stdout, 0o644);
    root
}

/// Builds `spec` with `dpkg-deb --build -Z<compression>` into `dir`.
pub fn build(dir: &Path, spec: &DemoSpec, compression: &str) -> PathBuf {
    let root = layout(dir, spec);
    let out = dir.join(format!("{}_{}_{compression}.deb", spec.name, spec.version));
    run(Command::new("dpkg-deb")
        .arg(format!("-Z{compression}"))
        .args(["--build", "--nocheck"])
        .arg(&root)
        .arg(&out));
    out
}

/// A tree holding only a root directory.
pub fn empty_tree() -> Tree {
    Tree::new(Inode::dir(0o755, Timestamp::from_secs(1_600_000_000)))
}

/// A merged-/usr base: `/usr/lib`, `/usr/bin`, `/etc` and `/lib -> usr/lib`, with an
/// unusual mode on `/usr` to see that it is kept.
pub fn usrmerged_tree() -> Tree {
    let t = Timestamp::from_secs(1_600_000_000);
    let mut tree = empty_tree();
    let p = |s: &str| TreePath::parse(s).unwrap();
    tree.insert(p("usr"), Inode::dir(0o711, t)).unwrap();
    for dir in ["usr/lib", "usr/bin", "etc", "var", "var/lib"] {
        tree.insert(p(dir), Inode::dir(0o755, t)).unwrap();
    }
    tree.insert(p("lib"), Inode::symlink("usr/lib", t)).unwrap();
    tree
}

/// Writes `tree` under `dir` as root: owners, modes, times, links, devices.
pub fn write_tree(tree: &Tree, dir: &Path) {
    let mut first_name: HashMap<_, PathBuf> = HashMap::new();
    let mut dirs = Vec::new();
    for (path, id, inode) in tree.iter() {
        let host = if path.is_root() {
            dir.to_path_buf()
        } else {
            dir.join(String::from_utf8(path.to_relative_bytes()).unwrap())
        };
        match &inode.kind {
            Kind::Dir => {
                if !path.is_root() {
                    fs::create_dir(&host).unwrap();
                }
                dirs.push((host.clone(), inode.clone()));
                continue;
            }
            Kind::File { size, content } => {
                if let Some(existing) = first_name.get(&id) {
                    fs::hard_link(existing, &host).unwrap();
                    continue;
                }
                first_name.insert(id, host.clone());
                let mut out = fs::File::create(&host).unwrap();
                std::io::copy(&mut content.reader(*size).unwrap(), &mut out).unwrap();
            }
            Kind::Symlink(target) => {
                use std::os::unix::ffi::OsStrExt;
                std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(target), &host).unwrap();
                std::os::unix::fs::lchown(&host, Some(inode.uid), Some(inode.gid)).unwrap();
                continue;
            }
            Kind::CharDevice { major, minor } | Kind::BlockDevice { major, minor } => {
                let c = if matches!(inode.kind, Kind::CharDevice { .. }) {
                    "c"
                } else {
                    "b"
                };
                run(Command::new("mknod").arg(&host).args([
                    c,
                    &major.to_string(),
                    &minor.to_string(),
                ]));
            }
            Kind::Fifo => {
                run(Command::new("mkfifo").arg(&host));
            }
            Kind::Socket => panic!("packages hold no sockets"),
        }
        set_attrs(&host, inode);
    }
    // Directory attributes last, deepest first, so restrictive modes do not block writing.
    for (host, inode) in dirs.into_iter().rev() {
        set_attrs(&host, &inode);
    }
}

fn set_attrs(host: &Path, inode: &Inode) {
    std::os::unix::fs::chown(host, Some(inode.uid), Some(inode.gid)).unwrap();
    fs::set_permissions(host, fs::Permissions::from_mode(inode.mode)).unwrap();
    // Only regular files' times are compared; opening a fifo to set its time would block.
    if matches!(inode.kind, Kind::File { .. }) {
        let secs = u64::try_from(inode.mtime.secs).unwrap();
        let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
        fs::File::options()
            .write(true)
            .open(host)
            .and_then(|f| f.set_modified(time))
            .unwrap();
    }
}

/// What is compared of one directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `st_mode` (type and permission bits).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// SHA-256 of a regular file's bytes.
    pub sha256: Option<String>,
    /// Symlink target.
    pub link: Option<PathBuf>,
    /// Device number.
    pub rdev: u64,
    /// Modification time of regular files.
    pub mtime: Option<i64>,
    /// The first path sharing this file's inode, for hard links.
    pub link_group: Option<String>,
}

/// Every entry below `dir` by relative path, skipping those under `skip` prefixes.
pub fn scan(dir: &Path, skip: &[&str]) -> BTreeMap<String, Entry> {
    let mut out = BTreeMap::new();
    let mut inodes: HashMap<u64, String> = HashMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        let mut names: Vec<_> = fs::read_dir(&current)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        for path in names {
            let rel = path
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if skip
                .iter()
                .any(|s| rel == *s || rel.starts_with(&format!("{s}/")))
            {
                continue;
            }
            let meta = fs::symlink_metadata(&path).unwrap();
            let ft = meta.file_type();
            let mut entry = Entry {
                mode: meta.mode(),
                uid: meta.uid(),
                gid: meta.gid(),
                sha256: None,
                link: None,
                rdev: meta.rdev(),
                mtime: None,
                link_group: None,
            };
            if ft.is_file() {
                let mut bytes = Vec::new();
                fs::File::open(&path)
                    .unwrap()
                    .read_to_end(&mut bytes)
                    .unwrap();
                entry.sha256 = Some(pi_imager::apt::content::hex(&Sha256::digest(&bytes)));
                entry.mtime = Some(meta.mtime());
                if meta.nlink() > 1 {
                    let first = inodes.entry(meta.ino()).or_insert_with(|| rel.clone());
                    entry.link_group = Some(first.clone());
                }
            } else if ft.is_symlink() {
                entry.link = Some(fs::read_link(&path).unwrap());
            } else if ft.is_dir() {
                stack.push(path.clone());
            }
            out.insert(rel, entry);
        }
    }
    out
}

/// Asserts two scans are equal, listing every difference.
pub fn assert_same(ours: &BTreeMap<String, Entry>, theirs: &BTreeMap<String, Entry>, what: &str) {
    let mut diffs = Vec::new();
    for (path, entry) in theirs {
        match ours.get(path) {
            None => diffs.push(format!("missing in ours: {path}")),
            Some(mine) if mine != entry => {
                diffs.push(format!("{path}:\n  ours   {mine:?}\n  theirs {entry:?}"))
            }
            Some(_) => {}
        }
    }
    for path in ours.keys() {
        if !theirs.contains_key(path) {
            diffs.push(format!("extra in ours: {path}"));
        }
    }
    assert!(
        diffs.is_empty(),
        "{what}: {} differences\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

/// An empty root prepared for `dpkg --root`: the admin directory and an empty status.
pub fn dpkg_root(dir: &Path) {
    for sub in ["var/lib/dpkg/info", "var/lib/dpkg/updates"] {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
    fs::write(dir.join("var/lib/dpkg/status"), b"").unwrap();
}

/// Runs the real `dpkg --unpack` of `deb` into the root `dir`.
pub fn dpkg_unpack(dir: &Path, deb: &Path) {
    run(Command::new("dpkg")
        .arg(format!("--root={}", dir.display()))
        .args(["--force-not-root", "--force-script-chrootless", "--unpack"])
        .arg(deb));
}
