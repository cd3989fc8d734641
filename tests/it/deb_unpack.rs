//! Unpacking into a tree, checked against the real tools: the tree written out equals
//! `dpkg-deb -x` of the same package, and equals what `dpkg --unpack --root` makes of the
//! same starting root (merged `/usr`, diversions, upgrades), `.list` included.

use std::fs;
use std::path::Path;
use std::process::Command;

use pi_imager::apt::{
    ContentStore, DebLimits, DebPackage, Diversion, Diversions, InstalledFiles, UnpackError,
    UnpackedFiles, unpack,
};
use pi_imager::tree::{Inode, Timestamp, Tree, TreePath};

use crate::deb_fixture::{
    DemoSpec, assert_same, build, dpkg_root, dpkg_unpack, empty_tree, run, scan, usrmerged_tree,
    write_tree,
};

fn p(s: &str) -> TreePath {
    TreePath::parse(s).unwrap()
}

fn open(deb: &Path, store: &ContentStore) -> DebPackage {
    DebPackage::open(deb, store, &DebLimits::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn nobody_else(_: &TreePath) -> bool {
    false
}

/// Every path with its inode, and the hard-link groups: enough to tell two trees apart.
pub fn snapshot(tree: &Tree) -> (Vec<(TreePath, Inode)>, Vec<Vec<TreePath>>) {
    let entries = tree
        .iter()
        .map(|(p, _, i)| (p.clone(), i.clone()))
        .collect();
    let links = tree
        .hard_links()
        .into_values()
        .map(|v| v.into_iter().cloned().collect())
        .collect();
    (entries, links)
}

#[test]
fn unpacked_tree_matches_dpkg_deb_extract() {
    let dir = tempfile::tempdir().unwrap();
    let store = ContentStore::new(dir.path().join("cache"));
    let deb_path = build(dir.path(), &DemoSpec::demo(), "xz");
    let deb = open(&deb_path, &store);
    let mut tree = empty_tree();
    let files = unpack(&mut tree, &deb, None, &Diversions::default(), &nobody_else).unwrap();

    let ours = dir.path().join("ours");
    fs::create_dir(&ours).unwrap();
    write_tree(&tree, &ours);
    // dpkg --unpack leaves a conffile at `.dpkg-new` until --configure; dpkg-deb -x does not.
    assert!(!ours.join("etc/demo/demo.conf").exists());
    fs::rename(
        ours.join("etc/demo/demo.conf.dpkg-new"),
        ours.join("etc/demo/demo.conf"),
    )
    .unwrap();
    let theirs = dir.path().join("theirs");
    run(Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb_path)
        .arg(&theirs));
    assert_same(&scan(&ours, &[]), &scan(&theirs, &[]), "dpkg-deb -x");

    // Control files byte for byte and mode for mode against dpkg-deb --ctrl-tarfile.
    let ctrl = dir.path().join("ctrl");
    fs::create_dir(&ctrl).unwrap();
    run(Command::new("sh").arg("-c").arg(format!(
        "dpkg-deb --ctrl-tarfile '{}' | tar -x -C '{}'",
        deb_path.display(),
        ctrl.display()
    )));
    let mut names: Vec<String> = fs::read_dir(&ctrl)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut ours_names: Vec<String> = deb.control.files.iter().map(|f| f.name.clone()).collect();
    ours_names.sort();
    assert_eq!(ours_names, names);
    for f in &deb.control.files {
        use std::os::unix::fs::PermissionsExt;
        let path = ctrl.join(&f.name);
        assert_eq!(f.bytes, fs::read(&path).unwrap(), "{}", f.name);
        assert_eq!(
            f.mode,
            fs::metadata(&path).unwrap().permissions().mode() & 0o7777
        );
    }

    // The computed md5sums agree with the package's own (order aside).
    let mut computed: Vec<&[u8]> = Vec::new();
    let text = files.md5sums_text();
    computed.extend(text.split(|b| *b == b'\n').filter(|l| !l.is_empty()));
    computed.sort();
    let member = &deb.control.get("md5sums").unwrap().bytes;
    let mut shipped: Vec<&[u8]> = member
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    shipped.sort();
    assert_eq!(computed, shipped);
    assert_eq!(files.conffiles, vec![p("etc/demo/demo.conf")]);
}

/// Unpacks `debs` in order into `tree` (ours) and with real dpkg into a copy of it, and
/// compares the results and the final `.list`.
fn compare_with_dpkg(
    dir: &Path,
    mut tree: Tree,
    debs: &[&Path],
    diversions_file: &[u8],
) -> (Tree, UnpackedFiles) {
    let store = ContentStore::new(dir.join("cache"));
    let real = dir.join("real");
    fs::create_dir_all(&real).unwrap();
    write_tree(&tree, &real);
    dpkg_root(&real);
    fs::write(real.join("var/lib/dpkg/diversions"), diversions_file).unwrap();
    let diversions = Diversions::parse(diversions_file).unwrap();
    let mut last = None;
    let mut old: Option<InstalledFiles> = None;
    for deb_path in debs {
        dpkg_unpack(&real, deb_path);
        let deb = open(deb_path, &store);
        let files = unpack(&mut tree, &deb, old.as_ref(), &diversions, &nobody_else)
            .unwrap_or_else(|e| panic!("{e}"));
        old = Some(InstalledFiles::from_list(&files.list_text(), files.conffiles.clone()).unwrap());
        last = Some(files);
    }
    let ours = dir.join("ours");
    fs::create_dir(&ours).unwrap();
    write_tree(&tree, &ours);
    let theirs = scan(&real, &["var/lib/dpkg"]);
    assert!(theirs.len() > 5, "dpkg unpacked almost nothing: {theirs:?}");
    assert_same(&scan(&ours, &["var/lib/dpkg"]), &theirs, "dpkg --unpack");
    let files = last.unwrap();
    let list = fs::read(real.join(format!("var/lib/dpkg/info/{}.list", files.package))).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&files.list_text()),
        String::from_utf8_lossy(&list)
    );
    (tree, files)
}

#[test]
fn unpack_matches_dpkg_on_a_merged_usr_root() {
    let dir = tempfile::tempdir().unwrap();
    let debs = dir.path().join("debs");
    fs::create_dir(&debs).unwrap();
    let deb = build(&debs, &DemoSpec::demo(), "gzip");
    let (tree, _) = compare_with_dpkg(dir.path(), usrmerged_tree(), &[&deb], b"");
    // `./lib/demo/libdemo.so` went through the `/lib -> usr/lib` symlink, which is kept,
    // and `/usr` kept its own mode.
    assert!(tree.get(&p("usr/lib/demo/libdemo.so")).is_some());
    assert!(matches!(
        tree.get(&p("lib")).unwrap().kind,
        pi_imager::tree::Kind::Symlink(_)
    ));
    assert_eq!(tree.get(&p("usr")).unwrap().mode, 0o711);
}

#[test]
fn diverted_path_lands_at_the_divert_to_name() {
    let dir = tempfile::tempdir().unwrap();
    let debs = dir.path().join("debs");
    fs::create_dir(&debs).unwrap();
    let deb = build(&debs, &DemoSpec::demo(), "xz");
    let diversions = b"/usr/bin/demo\n/usr/bin/demo.distrib\nother-package\n";
    let (tree, files) = compare_with_dpkg(dir.path(), usrmerged_tree(), &[&deb], diversions);
    assert!(tree.get(&p("usr/bin/demo")).is_none());
    assert!(tree.get(&p("usr/bin/demo.distrib")).is_some());
    assert_eq!(
        tree.id(&p("usr/bin/demo.distrib")),
        tree.id(&p("usr/bin/demo-hard"))
    );
    // The list names the package's own path, as dpkg's does.
    assert!(files.files.contains(&p("usr/bin/demo")));

    // The diverting package itself writes the original name.
    let store = ContentStore::new(dir.path().join("cache"));
    let mut tree = usrmerged_tree();
    let own = Diversions::new([Diversion {
        path: p("usr/bin/demo"),
        divert_to: p("usr/bin/demo.distrib"),
        package: Some("demo".into()),
    }]);
    unpack(&mut tree, &open(&deb, &store), None, &own, &nobody_else).unwrap();
    assert!(tree.get(&p("usr/bin/demo")).is_some());
    assert!(tree.get(&p("usr/bin/demo.distrib")).is_none());
}

#[test]
fn upgrade_removes_dropped_files_but_not_shared_ones() {
    let dir = tempfile::tempdir().unwrap();
    let debs = dir.path().join("debs");
    fs::create_dir(&debs).unwrap();
    let mut v1 = DemoSpec::demo();
    v1.extra = vec![
        ("usr/share/demo/old-only", b"old\n".to_vec()),
        ("usr/share/demo/shared", b"shared\n".to_vec()),
        ("usr/share/demo/gone-dir/file", b"x\n".to_vec()),
    ];
    let v1 = build(&debs, &v1, "xz");
    let mut v2 = DemoSpec::demo();
    v2.version = "2.0";
    v2.extra = vec![("usr/share/demo/new-only", b"new\n".to_vec())];
    let v2 = build(&debs, &v2, "xz");

    // Without other owners, the result is what dpkg makes of the same two unpacks.
    compare_with_dpkg(dir.path(), usrmerged_tree(), &[&v1, &v2], b"");

    let store = ContentStore::new(dir.path().join("cache"));
    let mut tree = usrmerged_tree();
    let first = unpack(
        &mut tree,
        &open(&v1, &store),
        None,
        &Diversions::default(),
        &nobody_else,
    )
    .unwrap();
    let old = InstalledFiles::from_list(&first.list_text(), first.conffiles.clone()).unwrap();
    let shared = p("usr/share/demo/shared");
    let second = unpack(
        &mut tree,
        &open(&v2, &store),
        Some(&old),
        &Diversions::default(),
        &|path: &TreePath| *path == shared,
    )
    .unwrap();
    assert!(tree.get(&p("usr/share/demo/old-only")).is_none());
    assert!(tree.get(&p("usr/share/demo/gone-dir")).is_none());
    assert!(tree.get(&shared).is_some());
    assert!(tree.get(&p("usr/share/demo/new-only")).is_some());
    assert!(second.removed.contains(&p("usr/share/demo/old-only")));
    assert!(!second.removed.contains(&shared));
}

#[test]
fn failure_part_way_leaves_the_tree_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let store = ContentStore::new(dir.path().join("cache"));
    let deb = open(&build(dir.path(), &DemoSpec::demo(), "gzip"), &store);
    let t = Timestamp::from_secs(5);
    let mut tree = usrmerged_tree();
    // A hard-linked file and a non-empty directory the package replaces early, then a
    // diversion into a missing directory for `/var/lib/demo`, the archive's last entry:
    // the unpack fails after changing things and must undo all of them.
    tree.insert(p("usr/bin/demo-suid"), Inode::file("mine", 0o755, t))
        .unwrap();
    tree.link(&p("usr/bin/demo-suid"), p("usr/lib/alias"))
        .unwrap();
    for d in [
        "usr/share",
        "usr/share/demo",
        "usr/share/demo/owned",
        "usr/share/demo/owned/sub",
    ] {
        tree.insert(p(d), Inode::dir(0o700, t)).unwrap();
    }
    tree.insert(p("usr/share/demo/owned/sub/x"), Inode::file("x", 0o644, t))
        .unwrap();
    let before = snapshot(&tree);
    let diversions = Diversions::new([Diversion {
        path: p("var/lib/demo"),
        divert_to: p("missing/demo"),
        package: Some("other".into()),
    }]);
    let err = unpack(&mut tree, &deb, None, &diversions, &nobody_else).unwrap_err();
    assert!(
        matches!(&err, UnpackError::Tree { path, .. } if *path == p("var/lib/demo")),
        "{err}"
    );
    assert!(err.to_string().contains("demo_1.0_gzip.deb"), "{err}");
    assert_eq!(snapshot(&tree), before);
    assert_eq!(
        tree.id(&p("usr/bin/demo-suid")),
        tree.id(&p("usr/lib/alias"))
    );
}

/// dpkg keeps a directory where a package now ships a symlink, and replaces a directory
/// (contents and all) with a file.
#[test]
fn symlinks_keep_directories_and_files_replace_them_as_in_dpkg() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("pkg");
    fs::create_dir_all(root.join("DEBIAN")).unwrap();
    fs::create_dir_all(root.join("usr/share/doc")).unwrap();
    std::os::unix::fs::symlink("other", root.join("usr/share/doc/x")).unwrap();
    std::os::unix::fs::symlink("other", root.join("usr/share/doc/e")).unwrap();
    fs::write(root.join("usr/share/doc/f"), b"file\n").unwrap();
    fs::write(
        root.join("DEBIAN/control"),
        b"Package: shapes\nVersion: 1\nArchitecture: all\nMaintainer: x <x@example.org>\nDescription: x\n x\n",
    )
    .unwrap();
    let deb = dir.path().join("shapes.deb");
    run(Command::new("dpkg-deb")
        .args(["--root-owner-group", "--build"])
        .arg(&root)
        .arg(&deb));
    let t = Timestamp::from_secs(5);
    let mut tree = usrmerged_tree();
    for d in [
        "usr/share",
        "usr/share/doc",
        "usr/share/doc/x",
        "usr/share/doc/e",
        "usr/share/doc/f",
    ] {
        tree.insert(p(d), Inode::dir(0o755, t)).unwrap();
    }
    tree.insert(p("usr/share/doc/x/file"), Inode::file("x", 0o644, t))
        .unwrap();
    tree.insert(p("usr/share/doc/f/inner"), Inode::file("i", 0o644, t))
        .unwrap();
    let (tree, _) = compare_with_dpkg(&dir.path().join("cmp"), tree, &[&deb], b"");
    assert!(tree.get(&p("usr/share/doc/x/file")).is_some());
    assert!(tree.get(&p("usr/share/doc/f/inner")).is_none());
}

/// Moving a file from `/lib` to `/usr/lib` between versions on a merged-/usr image: the
/// old path names the new file, so removing the old path must not delete it (the file
/// loss dpkg itself was known for on merged systems).
#[test]
fn moving_a_file_across_the_usrmerge_alias_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = ContentStore::new(dir.path().join("cache"));
    let v1 = build(dir.path(), &DemoSpec::demo(), "gzip");
    let mut spec = DemoSpec::demo();
    spec.version = "2.0";
    spec.without = vec!["lib/demo/libdemo.so"];
    spec.extra = vec![("usr/lib/demo/libdemo.so", b"moved\n".to_vec())];
    let v2 = build(dir.path(), &spec, "gzip");
    let mut tree = usrmerged_tree();
    let first = unpack(
        &mut tree,
        &open(&v1, &store),
        None,
        &Diversions::default(),
        &nobody_else,
    )
    .unwrap();
    let old = InstalledFiles::from_list(&first.list_text(), first.conffiles.clone()).unwrap();
    let second = unpack(
        &mut tree,
        &open(&v2, &store),
        Some(&old),
        &Diversions::default(),
        &nobody_else,
    )
    .unwrap();
    assert_eq!(tree.get(&p("usr/lib/demo/libdemo.so")).unwrap().size(), 6);
    assert!(tree.get(&p("lib")).is_some(), "the /lib symlink must stay");
    assert!(second.removed.is_empty(), "{:?}", second.removed);
}
