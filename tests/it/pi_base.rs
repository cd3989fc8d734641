//! Raspberry-Pi-OS-shaped base images for tests, made with the real tools: an MBR from
//! `sfdisk`, a FAT32 boot partition from `mkfs.vfat` filled by `mcopy`, and an ext4 root
//! from the ext4 fixtures (`mke2fs -d`), copied into place with `dd`. Plus comparisons of
//! trees with their sources and with each other.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use pi_imager::tree::{Inode, InodeId, Kind, Tree, TreePath};
use sha2::{Digest, Sha256};

use crate::ext4_fixture::{Fixture, run};

/// A base image and what it was made from.
pub struct PiBase {
    /// Keeps the temporary directory alive.
    _dir: tempfile::TempDir,
    /// The image file.
    pub img: PathBuf,
    /// The boot partition's source directory.
    pub boot_src: PathBuf,
    /// The root filesystem's fixture.
    pub root: &'static Fixture,
    /// The boot partition's FAT width, 16 or 32.
    pub fat_bits: u32,
    /// Boot partition start in bytes.
    pub boot_start: u64,
    /// Root partition start in bytes.
    pub root_start: u64,
}

/// Writes the files a Raspberry Pi boot partition holds.
fn make_boot_files(dir: &Path) {
    let w = |rel: &str, data: &[u8]| {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
    };
    w(
        "config.txt",
        b"# http://rpf.io/configtxt\ndtparam=audio=on\n",
    );
    w("cmdline.txt", b"dwc_otg.lpm_enable=0 console=serial0,115200 console=tty1 root=/dev/mmcblk0p2 rootfstype=ext4 elevator=deadline fsck.repair=yes rootwait\n");
    let kernel: Vec<u8> = (0..3 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    w("kernel7.img", &kernel);
    w("bcm2709-rpi-2-b.dtb", &[0xd0, 0x0d, 0xfe, 0xed, 1, 2, 3]);
    w("bcm2710-rpi-3-b.dtb", &[0xd0, 0x0d, 0xfe, 0xed, 4, 5, 6]);
    w(
        "LICENCE.broadcom",
        b"Copyright (c) 2006, Broadcom Corporation.\n",
    );
    for i in 0..40 {
        w(
            &format!("overlays/overlay-{i:02}.dtbo"),
            format!("overlay {i}\n").as_bytes(),
        );
    }
    // Even seconds: FAT keeps two-second times.
    run(Command::new("find").arg(dir).args([
        "-exec",
        "touch",
        "-h",
        "-d",
        "2016-02-26 12:00:00 UTC",
        "{}",
        "+",
    ]));
}

/// Builds a base image: a boot FAT (`fat_bits` 16 or 32, as `mkfs.vfat -F`) at
/// `boot_start_mib` of `boot_size_mib`, root after it on the next 4 MiB boundary holding
/// `root`'s filesystem.
pub fn pi_base(
    root: &'static Fixture,
    fat_bits: u32,
    boot_start_mib: u64,
    boot_size_mib: u64,
) -> PiBase {
    let dir = tempfile::tempdir().unwrap();
    let boot_src = dir.path().join("boot");
    make_boot_files(&boot_src);
    let img = dir.path().join("base.img");
    let boot_start = boot_start_mib << 20;
    let root_start = ((boot_start_mib + boot_size_mib).div_ceil(4) * 4) << 20;
    let root_len = std::fs::metadata(&root.img).unwrap().len();
    let size = root_start + root_len;
    std::fs::File::create(&img).unwrap().set_len(size).unwrap();
    let script = format!(
        "label: dos\nlabel-id: 0x0b5e1a2c\nstart={}, size={}, type=c\nstart={}, size={}, type=83\n",
        boot_start / 512,
        (boot_size_mib << 20) / 512,
        root_start / 512,
        root_len / 512
    );
    let mut child = Command::new("sfdisk")
        .arg("-q")
        .arg(&img)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("sfdisk runs (is fdisk installed?)");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), script.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success(), "sfdisk failed");
    run(Command::new("mkfs.vfat")
        .args(["-F", &fat_bits.to_string(), "-n", "boot", "-i", "5a4e4f21"])
        .arg(format!("--offset={}", boot_start / 512))
        .arg(&img)
        .arg(((boot_size_mib << 20) / 1024).to_string()));
    let mut mcopy = Command::new("mcopy");
    mcopy
        .env("TZ", "UTC")
        .env("MTOOLS_SKIP_CHECK", "1")
        .arg("-s")
        .arg("-m")
        .arg("-i")
        .arg(format!("{}@@{boot_start}", img.display()));
    for entry in std::fs::read_dir(&boot_src).unwrap() {
        mcopy.arg(entry.unwrap().path());
    }
    run(mcopy.arg("::/"));
    run(Command::new("dd")
        .arg(format!("if={}", root.img.display()))
        .arg(format!("of={}", img.display()))
        .args(["bs=1M", "conv=notrunc,sparse", "status=none"])
        .arg(format!("seek={}", root_start >> 20)));
    PiBase {
        _dir: dir,
        img,
        boot_src,
        root,
        fat_bits,
        boot_start,
        root_start,
    }
}

/// The sha256 of a tree file's content, streamed from its source.
pub fn content_digest(inode: &Inode) -> [u8; 32] {
    let Kind::File { size, content } = &inode.kind else {
        panic!("not a regular file");
    };
    let mut reader = content.reader(*size).unwrap();
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    h.finalize().into()
}

fn file_digest(path: &Path) -> [u8; 32] {
    let mut f = std::fs::File::open(path).unwrap();
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    h.finalize().into()
}

/// Asserts `tree` holds exactly what directory `src` holds: every path, type, mode, owner,
/// size, content, link target, device, hard-link grouping, and mtime (nanoseconds too when
/// `nanos`). `with_owners`: compare uid/gid (a FAT tree has none).
pub fn assert_tree_matches_dir(tree: &Tree, src: &Path, nanos: bool, with_owners: bool) {
    let mut expected = 0;
    let mut inode_of: BTreeMap<u64, InodeId> = BTreeMap::new();
    let mut stack = vec![(src.to_path_buf(), TreePath::root())];
    while let Some((host, at)) = stack.pop() {
        let meta = std::fs::symlink_metadata(&host).unwrap();
        let id = tree
            .id(&at)
            .unwrap_or_else(|| panic!("{at} missing from the tree"));
        let inode = tree.inode(id);
        expected += 1;
        let ft = meta.file_type();
        use std::os::unix::fs::FileTypeExt;
        match &inode.kind {
            Kind::File { size, .. } => {
                assert!(ft.is_file(), "{at}: tree has a file");
                assert_eq!(*size, meta.len(), "{at}: size");
                assert_eq!(content_digest(inode), file_digest(&host), "{at}: content");
            }
            Kind::Dir => assert!(ft.is_dir(), "{at}: tree has a directory"),
            Kind::Symlink(target) => {
                assert!(ft.is_symlink(), "{at}: tree has a symlink");
                let host_target = std::fs::read_link(&host).unwrap();
                assert_eq!(
                    target.as_slice(),
                    host_target.as_os_str().as_encoded_bytes(),
                    "{at}: target"
                );
            }
            Kind::CharDevice { major, minor } | Kind::BlockDevice { major, minor } => {
                assert!(ft.is_char_device() || ft.is_block_device(), "{at}: device");
                let rdev = meta.rdev();
                let host_major = (((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff)) as u32;
                let host_minor = ((rdev & 0xff) | ((rdev >> 12) & !0xff)) as u32;
                assert_eq!(
                    (*major, *minor),
                    (host_major, host_minor),
                    "{at}: device numbers"
                );
            }
            Kind::Fifo => assert!(ft.is_fifo(), "{at}: fifo"),
            Kind::Socket => assert!(ft.is_socket(), "{at}: socket"),
        }
        if with_owners {
            assert_eq!(inode.mode, meta.mode() & 0o7777, "{at}: mode");
            assert_eq!(
                (inode.uid, inode.gid),
                (meta.uid(), meta.gid()),
                "{at}: owner"
            );
        }
        if !ft.is_dir() && !ft.is_symlink() || ft.is_symlink() && nanos {
            assert_eq!(inode.mtime.secs, meta.mtime(), "{at}: mtime seconds");
            if nanos {
                assert_eq!(
                    i64::from(inode.mtime.nanos),
                    meta.mtime_nsec(),
                    "{at}: mtime nanoseconds"
                );
            }
        }
        if meta.nlink() > 1 && !ft.is_dir() {
            let first = *inode_of.entry(meta.ino()).or_insert(id);
            assert_eq!(first, id, "{at}: hard link grouping");
        }
        if ft.is_dir() {
            for entry in std::fs::read_dir(&host).unwrap() {
                let entry = entry.unwrap();
                let name = entry.file_name();
                stack.push((entry.path(), at.join(name.as_encoded_bytes()).unwrap()));
            }
        }
    }
    // mke2fs adds lost+found, which the source does not have.
    let extra = usize::from(
        tree.get(&TreePath::parse("lost+found").unwrap()).is_some()
            && !src.join("lost+found").exists(),
    );
    assert_eq!(
        tree.len(),
        expected + extra,
        "the tree has paths the source does not"
    );
}

/// Asserts two trees are equal path by path: kind, mode, owner, mtime, xattrs, content,
/// and hard-link grouping.
pub fn assert_trees_equal(a: &Tree, b: &Tree, what: &str) {
    let paths_a: Vec<&TreePath> = a.iter().map(|(p, _, _)| p).collect();
    let paths_b: Vec<&TreePath> = b.iter().map(|(p, _, _)| p).collect();
    assert_eq!(paths_a.len(), paths_b.len(), "{what}: number of paths");
    let mut ids: BTreeMap<InodeId, InodeId> = BTreeMap::new();
    for ((pa, ida, ia), (pb, idb, ib)) in a.iter().zip(b.iter()) {
        assert_eq!(pa, pb, "{what}: paths differ");
        assert_eq!(ia.mode, ib.mode, "{what}: {pa}: mode");
        assert_eq!((ia.uid, ia.gid), (ib.uid, ib.gid), "{what}: {pa}: owner");
        assert_eq!(ia.mtime, ib.mtime, "{what}: {pa}: mtime");
        assert_eq!(ia.xattrs, ib.xattrs, "{what}: {pa}: xattrs");
        match (&ia.kind, &ib.kind) {
            (Kind::File { size: sa, .. }, Kind::File { size: sb, .. }) => {
                assert_eq!(sa, sb, "{what}: {pa}: size");
                assert_eq!(
                    content_digest(ia),
                    content_digest(ib),
                    "{what}: {pa}: content"
                );
            }
            (ka, kb) => assert_eq!(ka, kb, "{what}: {pa}: kind"),
        }
        if !ia.is_dir() {
            let mapped = *ids.entry(ida).or_insert(idb);
            assert_eq!(mapped, idb, "{what}: {pa}: hard-link grouping");
        }
    }
}
