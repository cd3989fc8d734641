//! Reading `.deb` files built by the real `dpkg-deb` with every compression (and a bzip2
//! data member assembled by hand): control files against `dpkg-deb --info` and `--field`,
//! data entries against an independent tar reader (Python's `tarfile`) fed by
//! `dpkg-deb --fsys-tarfile`.

use std::path::Path;
use std::process::Command;

use pi_imager::apt::{Compression, ContentStore, DataKind, DebLimits, DebPackage};
use pi_imager::tree::TreePath;

use crate::deb_fixture::{DemoSpec, build, run};

/// Builds a copy of `deb` whose data member is `data.tar.bz2`, with `ar` and `bzip2`.
pub fn rebuild_with_bzip2(dir: &Path, plain_deb: &Path) -> std::path::PathBuf {
    let work = dir.join("bz2-work");
    std::fs::create_dir_all(&work).unwrap();
    run(Command::new("ar")
        .arg("x")
        .arg(plain_deb)
        .current_dir(&work));
    run(Command::new("bzip2")
        .arg("-9")
        .arg("data.tar")
        .current_dir(&work));
    let out = dir.join("demo_bz2.deb");
    run(Command::new("ar")
        .arg("rc")
        .arg(&out)
        .args(["debian-binary", "control.tar", "data.tar.bz2"])
        .current_dir(&work));
    out
}

/// The data entries of `deb` as Python's tarfile reads `dpkg-deb --fsys-tarfile`.
fn python_entries(deb: &Path) -> Vec<String> {
    let script = r#"
import sys, tarfile
t = tarfile.open(fileobj=sys.stdin.buffer, mode='r|')
for m in t:
    kind = {tarfile.REGTYPE:'file', tarfile.AREGTYPE:'file', tarfile.DIRTYPE:'dir', tarfile.SYMTYPE:'symlink',
            tarfile.LNKTYPE:'hardlink', tarfile.CHRTYPE:'char', tarfile.BLKTYPE:'block', tarfile.FIFOTYPE:'fifo'}[m.type]
    name = m.name.lstrip('./') if m.name not in ('.', './') else ''
    link = m.linkname
    if kind == 'hardlink':
        link = link[2:] if link.startswith('./') else link
    print(f"{name}|{kind}|{m.mode:o}|{m.uid}|{m.gid}|{m.size if kind == 'file' else 0}|{link}|{m.devmajor}|{m.devminor}|{m.mtime}")
"#;
    let out = run(Command::new("sh")
        .arg("-c")
        .arg(format!(
            "dpkg-deb --fsys-tarfile '{}' | python3 -c \"$0\"",
            deb.display()
        ))
        .arg(script));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn our_entries(deb: &DebPackage) -> Vec<String> {
    deb.entries
        .iter()
        .map(|e| {
            let name = String::from_utf8(e.path.to_relative_bytes()).unwrap();
            let name = if name == "." { String::new() } else { name };
            let (kind, size, link, major, minor) = match &e.kind {
                DataKind::Dir => ("dir", 0, String::new(), 0, 0),
                DataKind::File { size, .. } => ("file", *size, String::new(), 0, 0),
                DataKind::Symlink(t) => {
                    ("symlink", 0, String::from_utf8_lossy(t).into_owned(), 0, 0)
                }
                DataKind::HardLink(t) => (
                    "hardlink",
                    0,
                    String::from_utf8(t.to_relative_bytes()).unwrap(),
                    0,
                    0,
                ),
                DataKind::CharDevice { major, minor } => ("char", 0, String::new(), *major, *minor),
                DataKind::BlockDevice { major, minor } => {
                    ("block", 0, String::new(), *major, *minor)
                }
                DataKind::Fifo => ("fifo", 0, String::new(), 0, 0),
            };
            format!(
                "{name}|{kind}|{:o}|{}|{}|{size}|{link}|{major}|{minor}|{}",
                e.mode, e.uid, e.gid, e.mtime
            )
        })
        .collect()
}

/// `dpkg-deb --info`'s member table: (name, size, executable).
fn dpkg_info_members(deb: &Path) -> Vec<(String, usize, bool)> {
    let out = run(Command::new("dpkg-deb").arg("--info").arg(deb));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut members = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() >= 5 && words[1] == "bytes," && words[3] == "lines" {
            let (exec, name) = if words[4] == "*" {
                (true, words[5])
            } else {
                (false, words[4])
            };
            members.push((name.to_string(), words[0].parse().unwrap(), exec));
        }
    }
    members.sort();
    members
}

/// `dpkg-deb --contents` as (mode string, owner/group names, size or device, name, link).
fn dpkg_contents(deb: &Path) -> Vec<String> {
    let out = run(Command::new("dpkg-deb").arg("--contents").arg(deb));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            // perms owner/group size date time name [-> target | link to target]
            let mut fields: Vec<&str> = line.split_whitespace().collect();
            let rest = fields.split_off(5).join(" ");
            format!("{} {} {} {rest}", fields[0], fields[1], fields[2])
        })
        .collect()
}

/// Our entries printed the way `dpkg-deb --contents` (GNU tar -tv) prints them.
fn our_contents(deb: &DebPackage) -> Vec<String> {
    deb.entries
        .iter()
        .map(|e| {
            let (t, size, suffix) = match &e.kind {
                DataKind::Dir => ('d', "0".to_string(), String::new()),
                DataKind::File { size, .. } => ('-', size.to_string(), String::new()),
                DataKind::Symlink(target) => (
                    'l',
                    "0".into(),
                    format!(" -> {}", String::from_utf8_lossy(target)),
                ),
                DataKind::HardLink(target) => (
                    'h',
                    "0".into(),
                    format!(
                        " link to ./{}",
                        String::from_utf8_lossy(&target.to_relative_bytes())
                    ),
                ),
                DataKind::CharDevice { major, minor } => {
                    ('c', format!("{major},{minor}"), String::new())
                }
                DataKind::BlockDevice { major, minor } => {
                    ('b', format!("{major},{minor}"), String::new())
                }
                DataKind::Fifo => ('p', "0".into(), String::new()),
            };
            let mut perms = String::from(t);
            for (i, c) in "rwxrwxrwx".chars().enumerate() {
                let bit = 0o400 >> i;
                let special = match i {
                    2 if e.mode & 0o4000 != 0 => Some(('s', 'S')),
                    5 if e.mode & 0o2000 != 0 => Some(('s', 'S')),
                    8 if e.mode & 0o1000 != 0 => Some(('t', 'T')),
                    _ => None,
                };
                perms.push(match (special, e.mode & bit != 0) {
                    (Some((on, _)), true) => on,
                    (Some((_, off)), false) => off,
                    (None, true) => c,
                    (None, false) => '-',
                });
            }
            let name = if e.path.is_root() {
                "./".to_string()
            } else {
                let rel = String::from_utf8_lossy(&e.path.to_relative_bytes()).into_owned();
                if matches!(e.kind, DataKind::Dir) {
                    format!("./{rel}/")
                } else {
                    format!("./{rel}")
                }
            };
            format!(
                "{perms} {}/{} {size} {name}{suffix}",
                String::from_utf8_lossy(&e.uname),
                String::from_utf8_lossy(&e.gname)
            )
        })
        .collect()
}

fn field(deb: &Path, name: &str) -> String {
    let out = run(Command::new("dpkg-deb").arg("--field").arg(deb).arg(name));
    String::from_utf8(out.stdout)
        .unwrap()
        .trim_end()
        .to_string()
}

#[test]
fn every_compression_reads_like_dpkg_deb() {
    let dir = tempfile::tempdir().unwrap();
    let store = ContentStore::new(dir.path().join("cache"));
    let mut debs = Vec::new();
    for (flag, compression) in [
        ("xz", Compression::Xz),
        ("gzip", Compression::Gzip),
        ("zstd", Compression::Zstd),
        ("none", Compression::None),
    ] {
        let sub = dir.path().join(flag);
        std::fs::create_dir_all(&sub).unwrap();
        debs.push((build(&sub, &DemoSpec::demo(), flag), compression));
    }
    let plain = debs[3].0.clone();
    debs.push((rebuild_with_bzip2(dir.path(), &plain), Compression::Bzip2));

    for (path, compression) in &debs {
        let deb =
            DebPackage::open(path, &store, &DebLimits::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(deb.data_compression, *compression, "{}", path.display());
        for name in [
            "Package",
            "Version",
            "Architecture",
            "Maintainer",
            "Description",
        ] {
            assert_eq!(
                deb.control.field(name).unwrap(),
                field(path, name),
                "{name}"
            );
        }
        let mut ours: Vec<(String, usize, bool)> = deb
            .control
            .files
            .iter()
            .map(|f| (f.name.clone(), f.bytes.len(), f.mode & 0o111 != 0))
            .collect();
        ours.sort();
        assert_eq!(ours, dpkg_info_members(path), "{}", path.display());
        assert_eq!(
            our_entries(&deb),
            python_entries(path),
            "{}",
            path.display()
        );
        assert_eq!(
            our_contents(&deb),
            dpkg_contents(path),
            "{}",
            path.display()
        );

        // The big file was streamed into the cache, and its bytes are intact.
        let big = deb
            .entries
            .iter()
            .find(|e| e.path == TreePath::parse("usr/share/demo/big.bin").unwrap())
            .unwrap();
        let DataKind::File { size, content, .. } = &big.kind else {
            panic!("big.bin is not a file");
        };
        assert!(matches!(content, pi_imager::tree::Content::HostFile(_)));
        assert_eq!(
            content.read_to_vec(*size, 8 << 20).unwrap(),
            crate::deb_fixture::big_bytes(3 << 20)
        );
    }
}
