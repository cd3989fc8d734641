//! ext4 written by `mke2fs -d -` from a tar stream of a `Tree`, checked with e2fsck,
//! dumpe2fs and debugfs; the tar stream itself checked with GNU tar and Python's tarfile.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use pi_imager::image::io::ImageFile;
use pi_imager::image::mke2fs::{Ext4Params, Ext4Report, Mke2fsError, check_version, write_ext4};
use pi_imager::image::tar::write_tar;
use pi_imager::tree::{Content, Extent, Inode, Kind, Timestamp, Tree, TreePath};

use crate::fat_support::{content, run, sha256};

const MIB: u64 = 1024 * 1024;
const OFFSET: u64 = 8 * MIB;
const FS_SIZE: u64 = 64 * MIB;
/// Bytes of the image file after the filesystem.
const TAIL: u64 = 4 * MIB;
const EPOCH: i64 = 1_700_000_000;
const UUID: &str = "01234567-89ab-cdef-0123-456789abcdef";
const HASH_SEED: &str = "fedcba98-7654-3210-fedc-ba9876543210";
/// `security.capability` for cap_net_raw+ep (version 2), NULs included.
const CAPABILITY: [u8; 20] = [
    1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];
const PATTERN: u8 = 0xA5;
const MANY: usize = 3000;

fn p(text: &str) -> TreePath {
    TreePath::parse(text).unwrap()
}

fn ts(secs: i64, nanos: u32) -> Timestamp {
    Timestamp { secs, nanos }
}

fn owned(mut inode: Inode, uid: u32, gid: u32) -> Inode {
    inode.uid = uid;
    inode.gid = gid;
    inode
}

/// A long directory chain whose full path is well over 100 bytes.
fn deep_dir() -> String {
    format!(
        "srv/{}/{}/{}",
        "d".repeat(40),
        "e".repeat(40),
        "f".repeat(40)
    )
}

fn long_name() -> String {
    "n".repeat(255)
}

/// Bytes of the small "base image" that the sparse file's extents point into.
fn base_bytes() -> Vec<u8> {
    content(77, 256 * 1024)
}

/// The sparse file: two runs of the base image with holes around them.
fn sparse_expected() -> Vec<u8> {
    let base = base_bytes();
    let mut out = vec![0u8; 2 * MIB as usize + 5];
    out[..4096].copy_from_slice(&base[8192..8192 + 4096]);
    out[MIB as usize..MIB as usize + 10_000].copy_from_slice(&base[100_000..110_000]);
    out
}

/// A tree with every kind of inode and every attribute the image stage needs.
fn fixture(dir: &Path) -> Tree {
    let t = ts(EPOCH - 1000, 0);
    let mut tree = Tree::new(Inode::dir(0o755, ts(EPOCH - 5, 500)));
    for d in [
        "dev",
        "etc",
        "etc/alt",
        "run",
        "srv",
        "usr",
        "usr/bin",
        "usr/lib",
        "usr/share",
        "var",
        "var/lib",
        "var/lib/many",
    ] {
        tree.insert(p(d), Inode::dir(0o755, t)).unwrap();
    }
    tree.insert(p("tmp"), Inode::dir(0o1777, t)).unwrap();
    tree.insert(p("srv/shared"), owned(Inode::dir(0o2775, t), 0, 5678))
        .unwrap();
    let deep = deep_dir();
    tree.create_dir_all(&p(&deep), &Inode::dir(0o750, t))
        .unwrap();
    tree.insert(
        p(&format!("{deep}/leaf.txt")),
        Inode::file("deep\n", 0o644, t),
    )
    .unwrap();
    tree.insert(
        p(&format!("srv/{}", long_name())),
        Inode::file("long name\n", 0o644, t),
    )
    .unwrap();
    tree.insert(p("usr/share/ünïcödé"), Inode::dir(0o755, t))
        .unwrap();
    tree.insert(
        p("usr/share/ünïcödé/日本語.txt"),
        Inode::file("こんにちは\n", 0o644, t),
    )
    .unwrap();

    // Not UTF-8: stored as raw bytes (pax `hdrcharset=BINARY`).
    tree.insert(
        TreePath::parse(b"usr/share/latin1-\xe9t\xe9").unwrap(),
        Inode::file("latin-1\n", 0o644, t),
    )
    .unwrap();
    tree.insert(
        p("etc/passwd"),
        Inode::file("root:x:0:0::/root:/bin/sh\n", 0o644, t),
    )
    .unwrap();
    let mut ping = Inode::file(content(1, 5000), 0o4755, ts(EPOCH - 77, 123_456_789));
    ping.xattrs
        .insert(b"security.capability".to_vec(), CAPABILITY.to_vec());
    ping.xattrs
        .insert(b"user.comment".to_vec(), b"hello".to_vec());
    tree.insert(p("usr/bin/ping"), ping).unwrap();
    tree.insert(
        p("usr/bin/wall"),
        owned(Inode::file(content(2, 100), 0o2755, t), 1234, 5678),
    )
    .unwrap();
    tree.insert(
        p("srv/big-ids"),
        owned(Inode::file("ids\n", 0o640, t), 3_000_000, 80_000),
    )
    .unwrap();
    tree.insert(p("etc/empty"), Inode::file("", 0o600, t))
        .unwrap();
    tree.insert(
        p("etc/future"),
        Inode::file("2038\n", 0o644, ts((1 << 31) + 100, 0)),
    )
    .unwrap();
    tree.insert(p("etc/new\nline"), Inode::file("", 0o644, ts(EPOCH, 1)))
        .unwrap();
    tree.insert(
        p("usr/lib/three-mib"),
        Inode::file(content(3, 3 * MIB as usize), 0o644, t),
    )
    .unwrap();

    // Hard links across directories: three names, one inode.
    tree.insert(
        p("usr/lib/libfoo.so.1"),
        owned(
            Inode::file(content(4, 12_345), 0o755, ts(EPOCH - 9, 0)),
            1234,
            5678,
        ),
    )
    .unwrap();
    tree.link(&p("usr/lib/libfoo.so.1"), p("etc/alt/libfoo"))
        .unwrap();
    tree.link(&p("usr/lib/libfoo.so.1"), p("var/libfoo-copy"))
        .unwrap();

    // Links whose target name is over 100 bytes (pax `linkpath`), and links to a
    // symlink and to a fifo.
    tree.link(&p(&format!("{deep}/leaf.txt")), p("etc/leaf-link"))
        .unwrap();
    tree.insert(p("lib"), Inode::symlink("usr/lib", t)).unwrap();
    tree.link(&p("lib"), p("usr/lib-again")).unwrap();
    tree.insert(p("usr/bin/slow-link"), Inode::symlink(slow_target(), t))
        .unwrap();
    tree.insert(
        p("dev/null"),
        Inode::new(Kind::CharDevice { major: 1, minor: 3 }, 0o666, t),
    )
    .unwrap();
    tree.insert(
        p("dev/sda"),
        owned(
            Inode::new(Kind::BlockDevice { major: 8, minor: 0 }, 0o660, t),
            0,
            6,
        ),
    )
    .unwrap();
    tree.insert(p("run/initctl"), Inode::new(Kind::Fifo, 0o600, t))
        .unwrap();
    tree.link(&p("run/initctl"), p("dev/initctl")).unwrap();
    tree.insert(p("run/sock"), Inode::new(Kind::Socket, 0o777, ts(EPOCH, 3)))
        .unwrap();

    // A file stored as extents of an image file, with holes between and after them.
    let base_path = dir.join("base.img");
    fs::write(&base_path, base_bytes()).unwrap();
    let base = Arc::new(ImageFile::open(&base_path).unwrap());
    let extents: Arc<[Extent]> = Arc::from(vec![
        Extent {
            file_offset: 0,
            image_offset: 8192,
            len: 4096,
        },
        Extent {
            file_offset: MIB,
            image_offset: 100_000,
            len: 10_000,
        },
    ]);
    let size = sparse_expected().len() as u64;
    let sparse = Inode::new(
        Kind::File {
            size,
            content: Content::Image {
                file: base,
                extents,
            },
        },
        0o644,
        t,
    );
    tree.insert(p("var/lib/sparse.db"), sparse).unwrap();

    // A file read from the host (a cache entry).
    let host_path = dir.join("cached.deb");
    fs::write(&host_path, content(5, 70_000)).unwrap();
    let cached = Inode::new(
        Kind::File {
            size: 70_000,
            content: Content::HostFile(host_path),
        },
        0o644,
        t,
    );
    tree.insert(p("var/lib/cached.deb"), cached).unwrap();

    for i in 0..MANY {
        tree.insert(
            p(&format!("var/lib/many/f{i:05}")),
            Inode::file(format!("file {i}\n"), 0o644, ts(EPOCH - i as i64, 0)),
        )
        .unwrap();
    }
    tree
}

fn slow_target() -> String {
    format!("/usr/lib/{}/target", "s".repeat(180))
}

fn params(features: &[&str]) -> Ext4Params {
    Ext4Params::new(
        "rootfs",
        UUID.parse().unwrap(),
        HASH_SEED.parse().unwrap(),
        features,
        EPOCH,
    )
}

/// An image file with the filesystem range sparse and the rest filled with [`PATTERN`].
fn patterned_image(path: &Path) {
    let f = fs::File::create(path).unwrap();
    f.set_len(OFFSET + FS_SIZE + TAIL).unwrap();
    f.write_all_at(&vec![PATTERN; OFFSET as usize], 0).unwrap();
    f.write_all_at(&vec![PATTERN; TAIL as usize], OFFSET + FS_SIZE)
        .unwrap();
}

fn image_arg(img: &Path) -> String {
    format!("{}?offset={OFFSET}", img.display())
}

fn debugfs(img: &Path, request: &str) -> String {
    let out = run(Command::new("debugfs")
        .arg("-R")
        .arg(request)
        .arg(image_arg(img)));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The word after `label` in debugfs output.
fn field<'a>(text: &'a str, label: &str) -> &'a str {
    let at = text
        .find(label)
        .unwrap_or_else(|| panic!("no `{label}` in:\n{text}"));
    text[at + label.len()..].split_whitespace().next().unwrap()
}

/// Checks what debugfs reports for `path` against the tree's inode.
fn check_inode(img: &Path, tree: &Tree, path: &str) {
    let inode = tree.get(&p(path)).unwrap();
    let id = tree.id(&p(path)).unwrap();
    let stat = debugfs(img, &format!("stat \"/{path}\""));
    assert_eq!(
        u32::from_str_radix(field(&stat, "Mode:"), 8).unwrap(),
        inode.mode,
        "{path} mode:\n{stat}"
    );
    assert_eq!(field(&stat, "User:"), inode.uid.to_string(), "{path}");
    assert_eq!(field(&stat, "Group:"), inode.gid.to_string(), "{path}");
    if !inode.is_dir() {
        assert_eq!(field(&stat, "Size:"), inode.size().to_string(), "{path}");
        assert_eq!(
            field(&stat, "Links:"),
            tree.link_count(id).to_string(),
            "{path} links"
        );
    }
    // Low 32 bits of the seconds, then nanoseconds above two epoch bits (debugfs put
    // back what mke2fs leaves out). atime and ctime repeat mtime.
    let expected = format!(
        "0x{:08x}:{:08x}",
        inode.mtime.secs as u32,
        extra(inode.mtime)
    );
    for label in [" mtime:", " atime:", " ctime:"] {
        assert_eq!(field(&stat, label), expected, "{path}{label}\n{stat}");
    }
    match &inode.kind {
        Kind::CharDevice { major, minor } | Kind::BlockDevice { major, minor } => {
            let numbers = field(&stat, "Device major/minor number:");
            assert_eq!(numbers, format!("{major:02}:{minor:02}"), "{path}");
        }
        Kind::Symlink(target) if target.len() < 60 => {
            assert!(
                stat.contains(&format!(
                    "Fast link dest: \"{}\"",
                    String::from_utf8_lossy(target)
                )),
                "{path}:\n{stat}"
            );
        }
        _ => {}
    }
}

/// The `i_*time_extra` field debugfs shows after the colon.
fn extra(t: Timestamp) -> u32 {
    let epoch = ((t.secs - i64::from(t.secs as i32)) >> 32) as u32 & 3;
    (t.nanos << 2) | epoch
}

fn cat(img: &Path, path: &str) -> Vec<u8> {
    run(Command::new("debugfs")
        .arg("-R")
        .arg(format!("cat \"/{path}\""))
        .arg(image_arg(img)))
    .stdout
}

/// Copies the filesystem range out, for tools that cannot take an offset.
fn extract(img: &Path, out: &Path) {
    let data = read_range(img);
    fs::write(out, data).unwrap();
}

fn read_range(img: &Path) -> Vec<u8> {
    let f = fs::File::open(img).unwrap();
    let mut data = vec![0u8; FS_SIZE as usize];
    f.read_exact_at(&mut data, OFFSET).unwrap();
    data
}

fn write(tree: &Tree, img: &Path, features: &[&str]) -> Ext4Report {
    write_ext4(tree, img, OFFSET, FS_SIZE, &params(features))
        .unwrap_or_else(|e| panic!("write_ext4 failed: {e}"))
}

fn check_filesystem(features: &[&str]) {
    check_version().expect("e2fsprogs 1.47.1 or later is needed for these tests");
    let dir = tempfile::tempdir().unwrap();
    let tree = fixture(dir.path());
    let img = dir.path().join("disk.img");
    patterned_image(&img);
    let report = write(&tree, &img, features);

    assert_eq!(report.tar.sockets_skipped, vec![p("run/sock")]);
    // The root, ping and a name with a newline have fractions of seconds, ping a user
    // xattr, and etc/future needs an epoch bit.
    assert_eq!(report.restored, 4, "{report:?}");

    run(Command::new("e2fsck").arg("-fn").arg(image_arg(&img)));

    let copy = dir.path().join("fs.img");
    extract(&img, &copy);
    let header =
        String::from_utf8(run(Command::new("dumpe2fs").arg("-h").arg(&copy)).stdout).unwrap();
    let line = |label: &str| -> String {
        header
            .lines()
            .find_map(|l| l.strip_prefix(label))
            .unwrap_or_else(|| panic!("no `{label}` in dumpe2fs output"))
            .trim()
            .to_string()
    };
    // dumpe2fs may name `extent` in the plural.
    let found: BTreeSet<String> = line("Filesystem features:")
        .split_whitespace()
        .map(|s| {
            if s == "extents" {
                "extent".into()
            } else {
                s.to_string()
            }
        })
        .collect();
    let wanted: BTreeSet<String> = features.iter().map(|s| s.to_string()).collect();
    assert_eq!(found, wanted);
    assert_eq!(line("Filesystem volume name:"), "rootfs");
    assert_eq!(line("Filesystem UUID:"), UUID);
    assert_eq!(line("Directory Hash Seed:"), HASH_SEED);
    assert_eq!(line("Block size:"), "4096");
    assert_eq!(line("Inode size:"), "256");
    assert_eq!(line("Block count:"), (FS_SIZE / 4096).to_string());

    for path in [
        "etc",
        "tmp",
        "srv/shared",
        "etc/passwd",
        "usr/bin/ping",
        "usr/bin/wall",
        "etc/future",
        "srv/big-ids", // uid past the ustar field: pax `uid`
        "etc/empty",
        "usr/lib/libfoo.so.1",
        "etc/alt/libfoo",
        "var/libfoo-copy",
        "lib",
        "usr/bin/slow-link",
        "dev/null",
        "dev/sda",
        "run/initctl",
        "dev/initctl",
        "etc/leaf-link",
        "usr/lib-again",
        "var/lib/sparse.db",
        "var/lib/many/f02999",
        "usr/share/ünïcödé/日本語.txt",
    ] {
        check_inode(&img, &tree, path);
    }
    check_inode(&img, &tree, &format!("{}/leaf.txt", deep_dir()));
    check_inode(&img, &tree, &format!("srv/{}", long_name()));
    // The root takes the tree root's attributes from the `./` member.
    let root = debugfs(&img, "stat /");
    assert_eq!(field(&root, "Mode:"), "0755");
    assert_eq!(
        field(&root, " mtime:"),
        format!("0x{:08x}:{:08x}", EPOCH - 5, 500 << 2)
    );
    assert!(debugfs(&img, "ls /run").contains("initctl"));
    // A name with a newline: found by inode number, its nanoseconds put back.
    let listing = debugfs(&img, "ls -p /etc");
    let entry = listing
        .split("\n/")
        .find(|e| e.contains("/new\nline/"))
        .unwrap_or_else(|| panic!("no new\\nline in {listing}"));
    let ino = entry.trim_start_matches('/').split('/').next().unwrap();
    let stat = debugfs(&img, &format!("stat <{ino}>"));
    assert_eq!(
        field(&stat, " mtime:"),
        format!("0x{EPOCH:08x}:00000004"),
        "{stat}"
    );
    let share = debugfs(&img, "ls /usr/share");
    assert!(share.contains("latin1-\\xe9t\\xe9"), "{share}");
    assert!(!debugfs(&img, "ls /run").contains("sock"));

    let slow = debugfs(&img, "stat /usr/bin/slow-link");
    assert!(!slow.contains("Fast link dest"), "{slow}");
    assert_eq!(cat(&img, "usr/bin/slow-link"), slow_target().as_bytes());

    let xattrs = debugfs(&img, "ea_list /usr/bin/ping");
    assert!(xattrs.contains("user.comment (5) = \"hello\""), "{xattrs}");
    assert!(
        xattrs.contains(
            "security.capability (20) = 01 00 00 02 00 20 00 00 00 00 00 00 00 00 00 00 00 00 00 00"
        ),
        "{xattrs}"
    );

    let expect_file = |path: &str, bytes: &[u8]| {
        let got = cat(&img, path);
        assert_eq!(got.len(), bytes.len(), "{path} length");
        assert!(got == bytes, "{path} contents differ");
    };
    expect_file("usr/lib/three-mib", &content(3, 3 * MIB as usize));
    expect_file("etc/alt/libfoo", &content(4, 12_345));
    expect_file("var/lib/sparse.db", &sparse_expected());
    expect_file("var/lib/cached.deb", &content(5, 70_000));
    expect_file("var/lib/many/f01234", b"file 1234\n");
    expect_file("usr/share/ünïcödé/日本語.txt", "こんにちは\n".as_bytes());
    expect_file("etc/empty", b"");
    // The holes of the sparse file stay holes: 4096 + 10000 bytes of data need 4 blocks.
    let sparse = debugfs(&img, "stat /var/lib/sparse.db");
    assert_eq!(field(&sparse, "Blockcount:"), "32", "{sparse}");

    // Outside the range nothing changed; inside, only used blocks were written.
    let f = fs::File::open(&img).unwrap();
    let mut before = vec![0u8; OFFSET as usize];
    f.read_exact_at(&mut before, 0).unwrap();
    assert!(
        before.iter().all(|&b| b == PATTERN),
        "bytes before the range changed"
    );
    let mut after = vec![0u8; TAIL as usize];
    f.read_exact_at(&mut after, OFFSET + FS_SIZE).unwrap();
    assert!(
        after.iter().all(|&b| b == PATTERN),
        "bytes after the range changed"
    );
    let free = line("Free blocks:").parse::<u64>().unwrap();
    let used = (FS_SIZE / 4096 - free) * 4096;
    let allocated = fs::metadata(&img).unwrap().blocks() * 512;
    assert!(
        allocated <= OFFSET + TAIL + used + MIB,
        "the image is not sparse: {allocated} bytes allocated for {used} bytes used"
    );
}

#[test]
fn jessie_features_filesystem_matches_the_tree() {
    check_filesystem(Ext4Params::JESSIE);
}

#[test]
fn bookworm_features_filesystem_matches_the_tree() {
    check_filesystem(Ext4Params::BOOKWORM);
}

#[test]
fn two_writes_are_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let tree = fixture(dir.path());
    let a = dir.path().join("a.img");
    let b = dir.path().join("b.img");
    patterned_image(&a);
    // The second image holds stale bytes inside the range: they must not leak in.
    let f = fs::File::create(&b).unwrap();
    f.write_all_at(&vec![PATTERN; (OFFSET + FS_SIZE + TAIL) as usize], 0)
        .unwrap();
    drop(f);
    write(&tree, &a, Ext4Params::BOOKWORM);
    write(&tree, &b, Ext4Params::BOOKWORM);
    assert_eq!(sha256(&read_range(&a)), sha256(&read_range(&b)));
    write(&tree, &a, Ext4Params::BOOKWORM);
    assert_eq!(sha256(&read_range(&a)), sha256(&read_range(&b)));
}

#[test]
fn tar_stream_reads_back_with_gnu_tar_and_python() {
    let dir = tempfile::tempdir().unwrap();
    let tree = fixture(dir.path());
    let tar_path = dir.path().join("root.tar");
    let mut out = std::io::BufWriter::new(fs::File::create(&tar_path).unwrap());
    let summary = write_tar(&tree, &mut out).unwrap();
    drop(out);
    assert_eq!(summary.bytes, fs::metadata(&tar_path).unwrap().len());
    let mut again = Vec::new();
    write_tar(&tree, &mut again).unwrap();
    assert_eq!(sha256(&again), sha256(&fs::read(&tar_path).unwrap()));

    let listing = run(Command::new("tar")
        .arg("--numeric-owner")
        .arg("-tvf")
        .arg(&tar_path));
    let listing_err = listing.stderr.clone();
    let listing = String::from_utf8_lossy(&listing.stdout);
    // GNU tar does not know `hdrcharset` (it reads the raw name all the same).
    let stderr = String::from_utf8_lossy(&listing_err);
    assert!(
        stderr
            .lines()
            .all(|l| l.contains("unknown extended header keyword 'hdrcharset'")),
        "{stderr}"
    );
    assert_eq!(listing.lines().count() as u64, summary.members);
    assert!(listing.contains("-rwsr-xr-x 0/0"), "{listing}");
    assert!(listing.contains("3000000/80000"), "{listing}");
    assert!(
        listing.contains("var/libfoo-copy link to etc/alt/libfoo"),
        "{listing}"
    );
    assert!(listing.contains(&long_name()), "{listing}");

    let script = r#"
import sys, tarfile
t = tarfile.open(sys.argv[1])
for m in t:
    if m.name in ('usr/bin/ping', 'dev/sda', 'srv/big-ids') or len(m.name) > 200:
        cap = m.pax_headers.get('SCHILY.xattr.security.capability', '')
        print(m.name[:20], m.type.decode(), oct(m.mode), m.uid, m.gid, m.pax_headers.get('mtime'),
              cap.encode('utf-8', 'surrogateescape').hex(), m.devmajor, m.devminor, len(m.name))
"#;
    let out = run(Command::new("python3").arg("-c").arg(script).arg(&tar_path));
    let text = String::from_utf8(out.stdout).unwrap();
    let cap_hex: String = CAPABILITY.iter().map(|b| format!("{b:02x}")).collect();
    assert!(
        text.contains(&format!(
            "usr/bin/ping 0 0o4755 0 0 {}.123456789 {cap_hex} 0 0 12",
            EPOCH - 77
        )),
        "{text}"
    );
    assert!(text.contains("dev/sda 4 0o660 0 6 "), "{text}");
    assert!(text.contains(" 8 0 7"), "{text}");
    assert!(text.contains("srv/big-ids 0 0o640 3000000 80000"), "{text}");
    assert!(
        text.contains(&format!(" {}", 4 + 255)),
        "the long name: {text}"
    );
}

#[test]
fn too_small_filesystem_says_how_big_it_must_be() {
    let dir = tempfile::tempdir().unwrap();
    let tree = fixture(dir.path());
    let img = dir.path().join("small.img");
    fs::File::create(&img).unwrap().set_len(64 * MIB).unwrap();
    let err = write_ext4(&tree, &img, 0, 4 * MIB, &params(Ext4Params::BOOKWORM)).unwrap_err();
    let Mke2fsError::TooSmall { estimate, .. } = &err else {
        panic!("expected TooSmall, got {err}");
    };
    assert!(*estimate > 4 * MIB && *estimate <= 64 * MIB, "{err}");
    let message = err.to_string();
    assert!(
        message.contains("does not fit") && message.contains("MiB"),
        "{message}"
    );
    // The estimate is enough.
    write_ext4(&tree, &img, 0, *estimate, &params(Ext4Params::BOOKWORM)).unwrap();

    let err = write_ext4(
        &tree,
        &img,
        62 * MIB,
        4 * MIB,
        &params(Ext4Params::BOOKWORM),
    )
    .unwrap_err();
    assert!(matches!(err, Mke2fsError::ImageTooShort { .. }), "{err}");
}

#[test]
fn wrong_content_length_is_an_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("short.bin");
    fs::write(&host, b"only ten b").unwrap();
    let t = ts(EPOCH, 0);
    let mut tree = Tree::new(Inode::dir(0o755, t));
    tree.insert(p("etc"), Inode::dir(0o755, t)).unwrap();
    tree.insert(
        p("etc/short.bin"),
        Inode::new(
            Kind::File {
                size: 4096,
                content: Content::HostFile(host),
            },
            0o644,
            t,
        ),
    )
    .unwrap();
    for i in 0..50 {
        tree.insert(
            p(&format!("etc/z{i}")),
            Inode::file(vec![7u8; 100_000], 0o644, t),
        )
        .unwrap();
    }
    let img = dir.path().join("x.img");
    fs::File::create(&img).unwrap().set_len(32 * MIB).unwrap();
    let err = write_ext4(&tree, &img, 0, 32 * MIB, &params(Ext4Params::BOOKWORM)).unwrap_err();
    assert!(matches!(err, Mke2fsError::Tar(_)), "{err}");
    assert!(err.to_string().contains("/etc/short.bin"), "{err}");
}

#[test]
fn mke2fs_dying_early_reports_its_stderr() {
    // mke2fs refuses the feature before reading any of the (large) archive: the writer
    // thread gets a broken pipe and the error is mke2fs' own message.
    let dir = tempfile::tempdir().unwrap();
    let tree = fixture(dir.path());
    let img = dir.path().join("x.img");
    fs::File::create(&img).unwrap().set_len(FS_SIZE).unwrap();
    let err = write_ext4(&tree, &img, 0, FS_SIZE, &{
        let mut bad = params(Ext4Params::BOOKWORM);
        bad.features.push("no_such_feature".into());
        bad
    })
    .unwrap_err();
    let Mke2fsError::Failed { stderr, .. } = &err else {
        panic!("expected Failed, got {err}");
    };
    assert!(
        stderr.contains("no_such_feature") || stderr.contains("Invalid"),
        "{err}"
    );
}

#[test]
fn a_path_with_a_question_mark_still_gets_its_times_restored() {
    // e2fsprogs reads `?` in a device name as options; debugfs must still reach the image.
    let dir = tempfile::tempdir().unwrap();
    let t = ts(EPOCH, 42);
    let tree = Tree::new(Inode::dir(0o700, t));
    let img = dir.path().join("odd?name.img");
    fs::File::create(&img)
        .unwrap()
        .set_len(OFFSET + FS_SIZE)
        .unwrap();
    let report = write(&tree, &img, Ext4Params::BOOKWORM);
    assert_eq!(report.restored, 1);
    let copy = dir.path().join("plain.img");
    extract(&img, &copy);
    let stat = String::from_utf8_lossy(
        &run(Command::new("debugfs").arg("-R").arg("stat /").arg(&copy)).stdout,
    )
    .into_owned();
    assert_eq!(
        field(&stat, " mtime:"),
        format!("0x{EPOCH:08x}:{:08x}", 42 << 2)
    );
}

#[test]
fn small_inodes_keep_whole_seconds_and_xattrs_need_ext_attr() {
    let dir = tempfile::tempdir().unwrap();
    let t = ts(EPOCH, 123);
    let mut tree = Tree::new(Inode::dir(0o755, t));
    let mut file = Inode::file("x", 0o644, t);
    file.xattrs.insert(b"user.a".to_vec(), b"1".to_vec());
    tree.insert(p("f"), file).unwrap();
    let img = dir.path().join("small-inodes.img");
    fs::File::create(&img)
        .unwrap()
        .set_len(OFFSET + FS_SIZE)
        .unwrap();
    // 128-byte inodes have no room for nanoseconds: they stay whole seconds, the xattr
    // is still put back, and the filesystem is clean.
    let mut small = params(Ext4Params::JESSIE);
    small.inode_size = 128;
    small.journal_mib = Some(4);
    let report = write_ext4(&tree, &img, OFFSET, FS_SIZE, &small).unwrap();
    assert_eq!(report.restored, 1);
    run(Command::new("e2fsck").arg("-fn").arg(image_arg(&img)));
    assert!(debugfs(&img, "ea_list /f").contains("user.a (1) = \"1\""));
    // The journal is inode 8, of the size asked for.
    assert_eq!(
        field(&debugfs(&img, "stat <8>"), "Size:"),
        (4 * MIB).to_string()
    );
    assert_eq!(
        field(&debugfs(&img, "stat /f"), "mtime:"),
        format!("0x{EPOCH:08x}")
    );
    // Without ext_attr mke2fs would drop the xattr silently: refused up front.
    let mut no_xattrs = params(&["has_journal", "extent", "filetype", "sparse_super"]);
    no_xattrs.features.retain(|f| f != "ext_attr");
    let err = write_ext4(&tree, &img, OFFSET, FS_SIZE, &no_xattrs).unwrap_err();
    assert!(matches!(err, Mke2fsError::BadParams(_)), "{err}");
    assert!(err.to_string().contains("/f"), "{err}");
}
