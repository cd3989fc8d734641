//! The build manifest of an image written by `write_disk`, checked against independent
//! tools: `sha256sum` of the image, of each partition cut out with `dd`, and of each
//! bmap range; file digests against the files `debugfs rdump` and `mcopy` extract, and
//! the same count. Plus the JSON round trip, determinism and a golden file; hostile
//! manifests are in `manifest_hostile`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use pi_imager::image::bmap::Bmap;
use pi_imager::image::disk::{BootSpec, DiskSpec, TableSpec, write_disk};
use pi_imager::image::mke2fs::{Ext4Params, FsUuid};
use pi_imager::image::partition::Guid;
use pi_imager::manifest::{
    BuildFacts, Checksum, Filesystem, InputDigest, InputKind, LockRef, Manifest, ManifestError,
    OutputFile, PackageRecord, Written,
};
use pi_imager::tree::{Inode, Timestamp, Tree, TreePath};
use sha2::{Digest, Sha256};

use crate::ext4_fixture::run;
use crate::golden::assert_golden;

const EPOCH: i64 = 1_456_704_000;
const CARD: u64 = 128 << 20;
const BOOT_START: u64 = 4 << 20;
const BOOT_SIZE: u64 = 48 << 20;

fn p(text: &str) -> TreePath {
    TreePath::parse(text).unwrap()
}

/// Bytes that do not repeat within a block, so a misplaced block changes a digest.
fn noise(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_add(seed).wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

fn boot_tree() -> Tree {
    let t = Timestamp::from_secs(EPOCH);
    let mut tree = Tree::new(Inode::dir(0o755, t));
    tree.insert(p("config.txt"), Inode::file("dtparam=audio=on\n", 0o644, t))
        .unwrap();
    tree.insert(
        p("cmdline.txt"),
        Inode::file(
            "console=tty1 root=PARTUUID=0b5e1a2c-02 rootwait\n",
            0o644,
            t,
        ),
    )
    .unwrap();
    tree.insert(p("kernel7.img"), Inode::file(noise(1 << 20, 1), 0o644, t))
        .unwrap();
    tree.insert(p("ssh"), Inode::file("", 0o644, t)).unwrap();
    tree.insert(p("overlays"), Inode::dir(0o755, t)).unwrap();
    for i in 0..5 {
        tree.insert(
            p(&format!("overlays/overlay-{i}.dtbo")),
            Inode::file(format!("overlay {i}\n"), 0o644, t),
        )
        .unwrap();
    }
    tree
}

fn root_tree() -> Tree {
    let t = Timestamp::from_secs(EPOCH);
    let mut tree = Tree::new(Inode::dir(0o755, t));
    for d in [
        "etc",
        "etc/ssh",
        "usr",
        "usr/bin",
        "usr/lib",
        "usr/share",
        "var",
        "var/log",
        "var/www",
    ] {
        tree.insert(p(d), Inode::dir(0o755, t)).unwrap();
    }
    let mut file = |path: &str, bytes: Vec<u8>, mode: u32, owner: u32| {
        let mut inode = Inode::file(bytes, mode, t);
        inode.uid = owner;
        inode.gid = owner;
        tree.insert(p(path), inode).unwrap();
    };
    file("etc/hostname", b"blog\n".to_vec(), 0o644, 0);
    file("etc/machine-id", Vec::new(), 0o444, 0);
    file(
        "etc/passwd",
        b"root:x:0:0::/root:/bin/sh\n".to_vec(),
        0o644,
        0,
    );
    file("etc/ssh/ssh_host_ed25519_key", noise(399, 7), 0o600, 0);
    file(
        "etc/ssh/sshd_config",
        b"PasswordAuthentication no\n".to_vec(),
        0o644,
        0,
    );
    file("usr/bin/tool", noise(3 << 20, 2), 0o4755, 0);
    file("usr/lib/os-release", b"ID=raspbian\n".to_vec(), 0o644, 0);
    file("usr/share/100% sure.txt", b"percent\n".to_vec(), 0o644, 0);
    file("usr/share/ünïcödé", b"utf-8\n".to_vec(), 0o644, 0);
    file("var/log/syslog", b"boot\n".to_vec(), 0o640, 4);
    file("var/www/index.html", b"<h1>blog</h1>\n".to_vec(), 0o644, 33);
    // A name that is not UTF-8 (Latin-1 "café"), as old archives have.
    tree.insert(
        TreePath::parse(b"usr/share/caf\xe9").unwrap(),
        Inode::file(b"latin-1 name\n".to_vec(), 0o644, t),
    )
    .unwrap();
    tree.link(&p("usr/bin/tool"), p("usr/bin/tool-again"))
        .unwrap();
    tree.insert(
        p("etc/os-release"),
        Inode::symlink("../usr/lib/os-release", t),
    )
    .unwrap();
    tree
}

fn spec(table: TableSpec) -> DiskSpec {
    DiskSpec {
        size: CARD,
        table,
        boot: BootSpec {
            start: BOOT_START,
            size: BOOT_SIZE,
            label: "bootfs".to_string(),
            volume_id: 0x2016_0226,
            timestamp: EPOCH,
        },
        root: Ext4Params::new(
            "rootfs",
            FsUuid([0x5e; 16]),
            FsUuid([0xed; 16]),
            Ext4Params::JESSIE,
            EPOCH,
        ),
    }
}

fn digest(text: &str) -> Checksum {
    Checksum::of(text.as_bytes())
}

fn facts() -> BuildFacts {
    BuildFacts {
        tool_version: "0.1.0".to_string(),
        profile: "blog.toml".to_string(),
        profile_digest: digest("profile"),
        node: "pi3".to_string(),
        hostname: "blog".to_string(),
        board: "pi3".to_string(),
        generation: "jessie".to_string(),
        lock: Some(LockRef {
            name: "blog.lock".to_string(),
            sha256: digest("lock"),
        }),
        epoch: EPOCH,
        inputs: vec![
            InputDigest {
                kind: InputKind::Base,
                name: "base".to_string(),
                source: "https://example.org/raspbian-lite.zip".to_string(),
                sha256: digest("base"),
            },
            InputDigest {
                kind: InputKind::Overlay,
                name: "www".to_string(),
                source: "overlays/www".to_string(),
                sha256: digest("overlay"),
            },
        ],
        packages: vec![PackageRecord {
            name: "nginx-light".to_string(),
            version: "1.6.2-5+deb8u4".to_string(),
            architecture: "armhf".to_string(),
            repository: "base".to_string(),
            filename: "pool/main/n/nginx/nginx-light_1.6.2-5+deb8u4_armhf.deb".to_string(),
            sha256: digest("nginx"),
        }],
        removed: vec!["dphys-swapfile".to_string()],
        written: Written {
            root: [
                p("etc/hostname"),
                p("etc/ssh/sshd_config"),
                p("etc/os-release"),
            ]
            .into_iter()
            .collect(),
            boot: [p("ssh")].into_iter().collect(),
        },
        notes: vec!["PHP-FPM: 4 children of about 40 MiB each fit the 1 GiB board.".to_string()],
        outputs: vec![OutputFile {
            name: "blog-pi3.img.xz".to_string(),
            sha256: digest("xz"),
            size: 1234,
        }],
    }
}

/// A written image, its bmap and its manifest, made once for the tests that share it.
pub struct Fixture {
    _dir: tempfile::TempDir,
    img: PathBuf,
    bmap: Bmap,
    pub manifest: Manifest,
}

pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("blog-pi3.img");
        write_disk(
            &img,
            &spec(TableSpec::Mbr {
                disk_id: 0x0b5e_1a2c,
            }),
            &boot_tree(),
            &root_tree(),
        )
        .unwrap();
        let bmap = Bmap::from_image(&img).unwrap();
        let manifest = Manifest::describe(&img, &bmap, facts()).unwrap();
        Fixture {
            _dir: dir,
            img,
            bmap,
            manifest,
        }
    })
}

fn sh(script: &str) -> String {
    run(Command::new("sh").arg("-c").arg(script))
}

/// `sha256sum` of what `script` writes to its standard output.
fn sha256sum_of(script: &str) -> String {
    let out = sh(&format!("{script} | sha256sum"));
    out.split_whitespace().next().unwrap().to_string()
}

/// Regular files under `dir` (symlinks not followed), by path from `dir`, with digests.
fn host_files(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                let rel = entry.path().strip_prefix(dir).unwrap().to_owned();
                let sum: [u8; 32] = Sha256::digest(std::fs::read(entry.path()).unwrap()).into();
                out.insert(
                    format!("/{}", rel.to_string_lossy()),
                    Checksum(sum).to_hex(),
                );
            }
        }
    }
    out
}

fn manifest_files(m: &Manifest, fs: Filesystem) -> BTreeMap<String, String> {
    m.files
        .iter()
        .filter(|f| f.filesystem == fs)
        .map(|f| (f.path.0.to_string(), f.sha256.to_hex()))
        .collect()
}

#[test]
fn image_partition_and_range_digests_agree_with_sha256sum() {
    let f = fixture();
    let m = &f.manifest;
    let img = f.img.display().to_string();
    assert_eq!(m.image.name, "blog-pi3.img");
    assert_eq!(m.image.size, CARD);
    assert_eq!(
        m.image.sha256.to_hex(),
        sha256sum_of(&format!("cat '{img}'"))
    );
    assert_eq!(m.image.table.id, "0b5e1a2c");

    assert_eq!(m.partitions.len(), 2);
    for part in &m.partitions {
        let cut = format!(
            "dd if='{img}' bs=512 skip={} count={} status=none",
            part.start / 512,
            part.size / 512
        );
        assert_eq!(
            part.sha256.to_hex(),
            sha256sum_of(&cut),
            "partition {}",
            part.number
        );
    }
    let boot = &m.partitions[0];
    assert_eq!((boot.start, boot.size), (BOOT_START, BOOT_SIZE));
    assert_eq!(boot.partuuid, "0b5e1a2c-01");
    let fs = boot.filesystem.as_ref().unwrap();
    assert_eq!(fs.uuid.as_deref(), Some("2016-0226"));
    assert_eq!(fs.label.as_deref(), Some("bootfs"));
    let json = m.to_json();
    assert!(json.contains("\"type\": \"fat32\""), "{json}");
    assert!(json.contains("\"type\": \"ext4\""), "{json}");
    let root_fs = m.partitions[1].filesystem.as_ref().unwrap();
    assert_eq!(
        root_fs.uuid.as_deref(),
        Some("5e5e5e5e-5e5e-5e5e-5e5e-5e5e5e5e5e5e")
    );

    assert_eq!(m.blocks.block_size, f.bmap.block_size);
    assert_eq!(m.blocks.ranges.len(), f.bmap.ranges.len());
    assert!(!m.blocks.ranges.is_empty());
    for (ours, theirs) in m.blocks.ranges.iter().zip(&f.bmap.ranges) {
        assert_eq!((ours.first, ours.last), (theirs.first, theirs.last));
        assert_eq!(ours.sha256.0, theirs.sha256);
        let start = ours.first * m.blocks.block_size;
        let len = ((ours.last + 1) * m.blocks.block_size).min(m.image.size) - start;
        let cut = format!(
            "dd if='{img}' iflag=skip_bytes,count_bytes skip={start} count={len} bs=1M status=none"
        );
        assert_eq!(
            ours.sha256.to_hex(),
            sha256sum_of(&cut),
            "range {}-{}",
            ours.first,
            ours.last
        );
    }
}

#[test]
fn root_files_agree_with_debugfs_rdump() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let root_start = f.manifest.partitions[1].start;
    let out = dir.path().join("root");
    std::fs::create_dir(&out).unwrap();
    run(Command::new("debugfs")
        .arg("-R")
        .arg(format!("rdump / {}", out.display()))
        .arg(format!("{}?offset={root_start}", f.img.display())));
    // rdump writes the root directory's entries into the destination as they are.
    let extracted = host_files(&out);
    let listed = manifest_files(&f.manifest, Filesystem::Root);
    assert_eq!(extracted.len(), 13, "{extracted:#?}");
    assert_eq!(listed, extracted);

    // debugfs's own view of a sample: sizes, modes and owners.
    let stat = run(Command::new("debugfs")
        .args(["-R", "stat /usr/bin/tool"])
        .arg(format!("{}?offset={root_start}", f.img.display())));
    let tool = f
        .manifest
        .files
        .iter()
        .find(|e| e.path.0 == p("usr/bin/tool"))
        .unwrap();
    assert!(stat.contains(&format!("Size: {}", tool.size)), "{stat}");
    assert!(stat.contains("Mode:  04755"), "{stat}");
    let www = f
        .manifest
        .files
        .iter()
        .find(|e| e.path.0 == p("var/www/index.html"))
        .unwrap();
    assert_eq!((www.uid, www.gid, www.mode), (33, 33, 0o644));
}

#[test]
fn boot_files_agree_with_mcopy_and_mdir() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("boot");
    std::fs::create_dir(&out).unwrap();
    let volume = format!("{}@@{BOOT_START}", f.img.display());
    run(Command::new("mcopy")
        .args(["-s", "-n", "-i"])
        .arg(&volume)
        .arg("::/*")
        .arg(&out));
    let extracted = host_files(&out);
    let listed = manifest_files(&f.manifest, Filesystem::Boot);
    assert_eq!(listed, extracted);

    let mdir = run(Command::new("mdir")
        .args(["-/", "-b", "-a", "-i"])
        .arg(&volume)
        .arg("::/"));
    let mdir_files = mdir
        .lines()
        .filter(|l| !l.ends_with('/') && l.starts_with("::/"))
        .count();
    assert_eq!(mdir_files, 9, "{mdir}");
    assert_eq!(listed.len(), mdir_files);
}

#[test]
fn flags_links_and_names_are_recorded() {
    let m = &fixture().manifest;
    let entry = |fs: Filesystem, path: &str| {
        m.files
            .iter()
            .find(|e| e.filesystem == fs && e.path.0 == p(path))
            .unwrap_or_else(|| panic!("{path} is listed"))
    };
    assert!(entry(Filesystem::Root, "etc/hostname").written);
    assert!(!entry(Filesystem::Root, "etc/hostname").expected_to_change);
    assert!(entry(Filesystem::Root, "etc/machine-id").expected_to_change);
    assert!(entry(Filesystem::Root, "etc/ssh/ssh_host_ed25519_key").expected_to_change);
    assert!(entry(Filesystem::Root, "var/log/syslog").expected_to_change);
    assert!(!entry(Filesystem::Root, "usr/bin/tool").written);
    assert_eq!(
        entry(Filesystem::Root, "usr/bin/tool").sha256,
        entry(Filesystem::Root, "usr/bin/tool-again").sha256,
        "hard links share their digest"
    );
    assert!(entry(Filesystem::Boot, "ssh").written);
    assert!(!entry(Filesystem::Boot, "config.txt").expected_to_change);

    let link = &m.symlinks[0];
    assert_eq!(link.path.0, p("etc/os-release"));
    assert_eq!(link.target.0, b"../usr/lib/os-release");
    assert!(link.written);

    let json = m.to_json();
    assert!(
        json.contains("\"/usr/share/100%25 sure.txt\""),
        "% is escaped"
    );
    assert!(json.contains("\"/usr/share/ünïcödé\""), "UTF-8 is kept");
    assert!(
        json.contains("\"/usr/share/caf%E9\""),
        "other bytes are escaped"
    );
    let sorted: Vec<(Filesystem, &TreePath)> =
        m.files.iter().map(|f| (f.filesystem, &f.path.0)).collect();
    let mut expected = sorted.clone();
    expected.sort();
    assert_eq!(sorted, expected);
    assert!(m.expects_change(Filesystem::Root, b"/var/log/nginx/error.log"));
}

#[test]
fn json_round_trips_and_describe_is_deterministic() {
    let f = fixture();
    let json = f.manifest.to_json();
    assert!(json.ends_with("}\n"));
    assert_eq!(Manifest::parse(&json).unwrap(), f.manifest);
    let again = Manifest::describe(&f.img, &f.bmap, facts()).unwrap();
    assert_eq!(again.to_json(), json, "two describes of one image differ");
}

/// The manifest as users see it. What mke2fs lays out (the root's bytes, where its blocks
/// are) depends on the e2fsprogs version, so those digests and ranges are masked: their
/// values are checked against sha256sum above, the golden file checks everything else.
#[test]
fn golden_manifest() {
    let f = fixture();
    let mut masked = f.manifest.to_json();
    let mask = "[depends on the e2fsprogs version]";
    let mut hide = |digest: String| masked = masked.replace(&digest, mask);
    hide(f.manifest.image.sha256.to_hex());
    hide(f.manifest.partitions[1].sha256.to_hex());
    let start = masked.find("  \"blocks\": {").unwrap();
    let end = masked.find("  \"files\": [").unwrap();
    masked.replace_range(start..end, &format!("  \"blocks\": \"{mask}\",\n"));
    assert_golden(
        Path::new("tests/data/golden/manifest-blog-pi3.json"),
        &masked,
    );
}

#[test]
fn gpt_ids_are_recorded_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("gpt.img");
    let guid = |s: &str| s.parse::<Guid>().unwrap();
    write_disk(
        &img,
        &spec(TableSpec::Gpt {
            disk: guid("6c1f0b8e-3f7e-4b45-9d2a-0f3e51c0ffee"),
            boot: guid("0b5e1a2c-0000-4000-8000-000000000001"),
            root: guid("0b5e1a2c-0000-4000-8000-000000000002"),
        }),
        &boot_tree(),
        &root_tree(),
    )
    .unwrap();
    let bmap = Bmap::from_image(&img).unwrap();
    let m = Manifest::describe(&img, &bmap, facts()).unwrap();
    assert_eq!(m.image.table.id, "6c1f0b8e-3f7e-4b45-9d2a-0f3e51c0ffee");
    assert_eq!(
        m.partitions[1].partuuid,
        "0b5e1a2c-0000-4000-8000-000000000002"
    );
    assert_eq!(m.partitions[0].name, "bootfs");
    assert_eq!(Manifest::parse(&m.to_json()).unwrap(), m);
}

#[test]
fn a_stale_bmap_or_a_machine_path_is_refused() {
    let f = fixture();
    let mut stale = f.bmap.clone();
    stale.ranges[0].sha256[0] ^= 1;
    let error = Manifest::describe(&f.img, &stale, facts()).unwrap_err();
    assert!(
        matches!(error, ManifestError::BmapMismatch { .. }),
        "{error}"
    );
    let mut shorter = f.bmap.clone();
    shorter.image_size -= 4096;
    let error = Manifest::describe(&f.img, &shorter, facts()).unwrap_err();
    assert!(matches!(error, ManifestError::BmapSize { .. }), "{error}");

    let mut facts_with_path = facts();
    facts_with_path.profile = "profiles/blog.toml".to_string();
    let error = Manifest::describe(&f.img, &f.bmap, facts_with_path).unwrap_err();
    assert!(
        error.to_string().contains("not a plain file name"),
        "{error}"
    );
    let mut absolute = facts();
    absolute.inputs[1].source = "/srv/overlays/www".to_string();
    let error = Manifest::describe(&f.img, &f.bmap, absolute).unwrap_err();
    assert!(
        matches!(error, ManifestError::AbsoluteSource { .. }),
        "{error}"
    );
}

#[test]
fn written_paths_outside_the_image_change_nothing() {
    // The builder may list paths it removed; they are simply not in the image.
    let f = fixture();
    let mut facts = facts();
    facts.written.root.insert(p("etc/removed-by-the-build"));
    let m = Manifest::describe(&f.img, &f.bmap, facts).unwrap();
    let written: BTreeSet<String> = m
        .files
        .iter()
        .filter(|e| e.written)
        .map(|e| e.path.to_string())
        .collect();
    assert_eq!(
        written,
        ["/etc/hostname", "/etc/ssh/sshd_config", "/ssh"]
            .into_iter()
            .map(str::to_string)
            .collect()
    );
}
