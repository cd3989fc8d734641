//! The offline demo's committed inputs (`profiles/demo/`, made by `scripts/make-demo`) are
//! what `profiles/demo.toml` needs: the base opens and has bookworm's shape, the repository
//! verifies with the committed key and resolves the demo's packages as apt would, every
//! `.deb` satisfies `dpkg-deb`, the profile's digests match the files, and the script, run
//! again, makes the same inputs (signatures aside: the key is new on every run).

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pi_imager::apt::resolver::{Origin, Resolution, Universe, check, resolve};
use pi_imager::apt::rewrite::Rewrites;
use pi_imager::apt::{
    ConfiguredRepository, Database, Keyring, LoadedRepository, State, StatusFile,
    base_repositories, fetch_deb, load, profile_repository,
};
use pi_imager::base::BaseImage;
use pi_imager::fetch::Fetcher;
use pi_imager::image::fat::FatType;
use pi_imager::image::partition::TableKind;
use pi_imager::profile::{Profile, Source};
use pi_imager::tree::{Kind, Tree, TreePath};
use sha2::{Digest, Sha256};

use crate::golden::root;
use crate::pi_base::assert_trees_equal;

const DISK_ID: u32 = 0x5e6d_0001;
const URI: &str = "http://deb.example.org/demo";
/// bookworm's root filesystem features (facts.md).
const BOOKWORM_FEATURES: &[&str] = &[
    "has_journal",
    "ext_attr",
    "resize_inode",
    "dir_index",
    "filetype",
    "extent",
    "64bit",
    "flex_bg",
    "sparse_super",
    "large_file",
    "dir_nlink",
    "extra_isize",
    "metadata_csum",
];
/// The key file in the base: made afresh by each run of the script.
const BASE_KEY: &str = "etc/apt/trusted.gpg.d/demo.gpg";
/// Files whose bytes depend on the run's key.
const SIGNED: &[&str] = &[
    "base.img.xz",
    "keys/demo.asc",
    "repo/dists/old/InRelease",
    "repo/dists/old/Release.gpg",
    "repo/dists/new/InRelease",
    "repo/dists/new/Release.gpg",
];

fn demo() -> PathBuf {
    root().join("profiles/demo")
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs() as i64
}

fn sha256_hex(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Decompresses `xz` into a temporary file and opens it; the directory keeps it alive.
fn open_base(xz: &Path) -> (tempfile::TempDir, BaseImage) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let img = dir.path().join("base.img");
    let mut reader = pi_imager::image::compress::open_decompressed(xz)
        .unwrap_or_else(|e| panic!("{}: {e}", xz.display()));
    let mut out = std::fs::File::create(&img).expect("image file");
    std::io::copy(&mut reader, &mut out).expect("the base decompresses");
    drop(out);
    let base = BaseImage::open(&img).unwrap_or_else(|e| panic!("the base opens: {e}"));
    (dir, base)
}

fn text(tree: &Tree, path: &str) -> String {
    let inode = tree
        .lookup(&TreePath::parse(path).expect("a path"))
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    let Kind::File { size, content } = &inode.kind else {
        panic!("{path} is not a file");
    };
    let bytes = content.read_to_vec(*size, 1 << 20).expect("readable");
    String::from_utf8(bytes).unwrap_or_else(|_| panic!("{path} is not UTF-8"))
}

fn exists(tree: &Tree, path: &str) -> bool {
    tree.get(&TreePath::parse(path).expect("a path")).is_some()
}

/// demo.toml without its `[mirrors]` table, which `check` does not know yet.
fn profile_text_without_mirrors() -> String {
    let text = std::fs::read_to_string(root().join("profiles/demo.toml")).expect("demo.toml");
    let mut out = String::new();
    let mut skipping = false;
    for line in text.lines() {
        if line.starts_with('[') {
            skipping = line.starts_with("[mirrors]");
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn demo_profile() -> Profile {
    let loaded = pi_imager::profile::parse(
        &profile_text_without_mirrors(),
        &root().join("profiles/demo.toml"),
    )
    .unwrap_or_else(|e| panic!("demo.toml (less [mirrors]) is valid: {e}"));
    loaded.profile
}

fn demo_toml() -> toml::Table {
    let text = std::fs::read_to_string(root().join("profiles/demo.toml")).expect("demo.toml");
    text.parse().expect("demo.toml is TOML")
}

#[test]
fn the_committed_base_is_bookworm_shaped() {
    let (_dir, base) = open_base(&demo().join("base.img.xz"));
    assert!(
        matches!(base.table.kind, TableKind::Mbr { disk_id } if disk_id == DISK_ID),
        "{:?}",
        base.table.kind
    );
    assert_eq!(base.boot.partition.start, 8 << 20);
    assert_eq!(base.boot.fat_type, FatType::Fat32);
    assert_eq!(base.boot.label.as_deref(), Some("bootfs"));
    let cmdline = text(&base.boot.tree, "cmdline.txt");
    assert_eq!(
        cmdline,
        "console=serial0,115200 console=tty1 root=PARTUUID=5e6d0001-02 rootfstype=ext4 \
         fsck.repair=yes rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot\n"
    );
    assert!(text(&base.boot.tree, "config.txt").contains("dtparam=audio=on"));

    assert_eq!(
        base.root.partition.start % (4 << 20),
        0,
        "root 4 MiB-aligned"
    );
    assert_eq!(base.root.superblock.label, b"rootfs");
    let mut features = base.root.superblock.features.names();
    features.sort();
    let mut expected: Vec<String> = BOOKWORM_FEATURES.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(features, expected);

    let tree = &base.root.tree;
    let release = base.os_release().expect("an os-release");
    assert_eq!(release.get("VERSION_CODENAME"), Some("bookworm"));
    assert!(text(tree, "etc/debian_version").starts_with("12."));
    let fstab = text(tree, "etc/fstab");
    assert!(
        fstab.contains("PARTUUID=5e6d0001-01  /boot/firmware  vfat"),
        "{fstab}"
    );
    assert!(fstab.contains("PARTUUID=5e6d0001-02  /               ext4"));
    assert!(exists(tree, "boot/firmware"));
    assert_eq!(text(tree, "etc/hostname"), "raspberrypi\n");
    assert!(text(tree, "etc/hosts").contains("127.0.1.1\t\traspberrypi"));
    let passwd = text(tree, "etc/passwd");
    assert!(passwd.contains("\nwww-data:x:33:33:"), "{passwd}");
    assert!(!passwd.contains("\npi:"), "the base has no pi user");
    let group = text(tree, "etc/group");
    for name in ["sudo", "www-data", "_ssh", "shadow", "gpio"] {
        assert!(group.contains(&format!("\n{name}:x:")), "group {name}");
    }
    for secret in ["etc/shadow", "etc/gshadow"] {
        let inode = tree.get(&TreePath::parse(secret).unwrap()).unwrap();
        assert_eq!(
            (inode.mode, inode.uid, inode.gid),
            (0o640, 0, 42),
            "{secret}"
        );
    }
    assert_eq!(
        text(tree, "etc/apt/sources.list"),
        format!("deb {URI} old main\n")
    );

    let db = Database::read(tree).expect("the dpkg database reads");
    assert_eq!(db.arch(), "armhf");
    let installed: BTreeMap<&str, String> = db
        .status()
        .entries
        .iter()
        .filter(|e| e.status().state == State::Installed)
        .map(|e| (e.name(), e.version().expect("a version").to_string()))
        .collect();
    for (name, version) in [
        ("base-files", "12.4+rpt2"),
        ("libdemo1", "1.0-1"),
        ("dphys-swapfile", "20100506-7.1+rpt3"),
        ("openssh-server", "1:9.2p1-2+deb12u3"),
        ("network-manager", "1.42.4-1+rpt1"),
        ("raspberrypi-sys-mods", "20241101"),
    ] {
        assert_eq!(
            installed.get(name).map(String::as_str),
            Some(version),
            "{name}"
        );
    }
    // dphys-swapfile leaves something to purge: its files, conffiles and enablement links.
    let list = text(tree, "var/lib/dpkg/info/dphys-swapfile.list");
    for path in [
        "/etc/dphys-swapfile",
        "/etc/init.d/dphys-swapfile",
        "/lib/systemd/system/dphys-swapfile.service",
    ] {
        assert!(list.lines().any(|l| l == path), "{path} listed");
        assert!(
            tree.lookup(&TreePath::parse(path).unwrap()).is_ok(),
            "{path}"
        );
    }
    assert!(
        text(tree, "var/lib/dpkg/info/dphys-swapfile.conffiles").contains("/etc/dphys-swapfile")
    );
    let wants = "etc/systemd/system/multi-user.target.wants/dphys-swapfile.service";
    assert!(
        tree.lookup(&TreePath::parse(wants).unwrap()).is_ok(),
        "{wants}"
    );
    assert!(exists(tree, "etc/rc2.d/S01dphys-swapfile"));
    // Multi-Arch: same packages keep their info under `name:arch`.
    assert!(exists(tree, "var/lib/dpkg/info/libdemo1:armhf.list"));
    assert!(exists(tree, "var/lib/dpkg/available"));
}

fn fetcher(cache: &tempfile::TempDir) -> Fetcher {
    Fetcher::new(cache.path().to_path_buf(), false).with_retries(1, Duration::from_millis(1))
}

/// The committed repository as a `file:` URL (what `[mirrors]` points the build at).
fn repo_url() -> String {
    let url = url::Url::from_directory_path(demo().join("repo")).expect("an absolute path");
    url.as_str().trim_end_matches('/').to_owned()
}

fn load_mirrored(
    fetcher: &Fetcher,
    configured: &ConfiguredRepository,
) -> Result<LoadedRepository, String> {
    assert_eq!(configured.source.uri, URI, "{}", configured.source.name);
    let mut source = configured.source.clone();
    source.uri = repo_url();
    load(
        fetcher,
        &source,
        &configured.keyring,
        "armhf",
        configured.policy,
        now(),
    )
    .map_err(|e| e.to_string())
}

fn origin(name: &str, priority: i16, loaded: &LoadedRepository) -> Origin {
    Origin {
        name: name.to_owned(),
        suite: loaded.release.suite.clone(),
        codename: loaded.release.codename.clone(),
        priority: i32::from(priority),
        indexes: loaded.indexes.iter().map(|i| i.index.clone()).collect(),
    }
}

fn versions(resolution: &Resolution) -> BTreeMap<String, (String, String)> {
    resolution
        .unpack
        .iter()
        .map(|u| (u.name.clone(), (u.version.to_string(), u.origin.clone())))
        .collect()
}

#[test]
fn the_committed_repository_verifies_and_resolves_the_demo_as_apt_would() {
    let (_dir, base) = open_base(&demo().join("base.img.xz"));
    let tree = &base.root.tree;
    let armored = std::fs::read(demo().join("keys/demo.asc")).expect("keys/demo.asc");
    let committed_key = Keyring::from_bytes(&armored, "keys/demo.asc").expect("the key reads");
    assert_eq!(committed_key.fingerprints().len(), 1);

    let cache = tempfile::tempdir().expect("cache");
    let fetcher = fetcher(&cache);
    let base_repos = base_repositories(tree, &Rewrites::default()).expect("the base's sources");
    assert_eq!(base_repos.len(), 1);
    assert_eq!(base_repos[0].source.suite, "old");
    assert_eq!(
        base_repos[0].keyring.fingerprints(),
        committed_key.fingerprints(),
        "the base trusts the committed key"
    );
    let old = load_mirrored(&fetcher, &base_repos[0]).expect("suite old verifies");

    let profile = demo_profile();
    let [repository] = profile.repositories() else {
        panic!("demo.toml has one [[repository]]");
    };
    let configured = profile_repository(repository, &fetcher).expect("the profile's key reads");
    assert_eq!(configured.priority, 100);
    let new = load_mirrored(&fetcher, &configured).expect("suite new verifies");
    for loaded in [&old, &new] {
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        assert_eq!(
            loaded.signer.signer_fingerprint,
            committed_key.fingerprints()[0]
        );
    }

    let status_text = text(tree, "var/lib/dpkg/status");
    let status = StatusFile::parse(&status_text, "/var/lib/dpkg/status").expect("status");
    let universe = Universe::new(
        "armhf",
        vec![origin("base-0", 500, &old), origin("new", 100, &new)],
        status,
    );
    let resolution = resolve(&universe, profile.packages()).expect("the demo resolves");
    let got = versions(&resolution);
    let want: BTreeMap<String, (String, String)> = [
        // Plain names: `old` (500) beats `new` (100), though `new` has nginx 1.26.
        ("nginx-light", "1.22.1-9", "base-0"),
        ("nginx-common", "1.22.1-9", "base-0"),
        // `php8.2-fpm/new` is `-t new`: PHP and the newer library it needs come from new.
        ("php8.2-fpm", "8.2.26-1", "new"),
        ("php8.2-common", "8.2.26-1", "new"),
        ("libdemo1", "2.0-1", "new"),
    ]
    .iter()
    .map(|(n, v, o)| (n.to_string(), (v.to_string(), o.to_string())))
    .collect();
    assert_eq!(got, want);
    let removed: Vec<&str> = resolution.remove.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(removed, ["dphys-swapfile"]);
    let defects = check(&universe, &resolution);
    assert!(defects.is_empty(), "{defects:?}");

    // Every package the build would download is there with the indexed size and digest.
    for unpack in &resolution.unpack {
        fetch_deb(
            &fetcher,
            &repo_url(),
            &unpack.filename,
            unpack.size,
            &unpack.sha256,
        )
        .unwrap_or_else(|e| panic!("{}: {e}", unpack.filename));
    }
    // And every .deb in the pool is indexed by one suite or the other.
    let indexed: BTreeSet<String> = [&old, &new]
        .iter()
        .flat_map(|l| l.indexes.iter())
        .flat_map(|i| i.index.entries().iter().map(|e| e.filename.clone()))
        .collect();
    let pool: BTreeSet<String> = debs()
        .iter()
        .map(|p| {
            p.strip_prefix(demo().join("repo"))
                .expect("in the repository")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(indexed, pool);
}

fn debs() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![demo().join("repo/pool")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("the pool reads") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "deb") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn dpkg_deb_accepts_every_committed_package() {
    let debs = debs();
    assert!(debs.len() >= 10, "only {} packages", debs.len());
    for deb in debs {
        let output = Command::new("dpkg-deb")
            .arg("--info")
            .arg(&deb)
            .output()
            .expect("dpkg-deb runs (is dpkg installed?)");
        let info = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{}: {}",
            deb.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            info.contains("demo stand-in"),
            "{} says it is a stand-in",
            deb.display()
        );
    }
}

#[test]
fn demo_toml_pins_the_committed_files_and_uses_every_section() {
    let table = demo_toml();
    let section = |name: &str| {
        table
            .get(name)
            .unwrap_or_else(|| panic!("demo.toml has no [{name}]"))
    };
    for name in [
        "image",
        "base",
        "repository",
        "packages",
        "network",
        "swap",
        "mount",
        "system",
        "user",
        "ssh",
        "web",
        "server",
        "files",
        "node",
        "mirrors",
    ] {
        section(name);
    }
    let pinned = |name: &str| {
        section(name)["sha256"]
            .as_str()
            .expect("a string")
            .to_owned()
    };
    assert_eq!(
        pinned("base"),
        sha256_hex(&demo().join("base.img.xz")),
        "run scripts/make-demo, which updates demo.toml's digests"
    );
    assert_eq!(pinned("server"), sha256_hex(&demo().join("bin/demo-agent")));
    assert_eq!(section("mirrors")[URI].as_str(), Some("demo/repo"));
    assert_eq!(section("node").as_array().map(Vec::len), Some(2));
    let mode = std::fs::metadata(demo().join("bin/demo-agent"))
        .expect("demo-agent")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);

    // Less [mirrors], the profile is valid and names these very files.
    let profile = demo_profile();
    match &profile.base().source {
        Source::Path(path) => assert_eq!(
            std::fs::canonicalize(path).expect("the base exists"),
            std::fs::canonicalize(demo().join("base.img.xz")).expect("base.img.xz")
        ),
        other => panic!("the base is {other:?}, not the committed file"),
    }
    assert_eq!(
        profile
            .base()
            .sha256
            .as_ref()
            .map(|s| s.as_str().to_owned()),
        Some(pinned("base"))
    );
    assert!(profile.mounts()[0].image.is_some(), "a [mount.image]");
    assert_eq!(profile.nodes().len(), 2);
}

/// Every file under `dir`, relative, with its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).expect("readable") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).expect("inside").to_string_lossy();
                out.insert(rel.into_owned(), std::fs::read(&path).expect("readable"));
            }
        }
    }
    out
}

#[test]
fn make_demo_makes_what_is_committed() {
    let out = tempfile::tempdir().expect("temporary directory");
    let made = out.path().join("demo");
    let output = Command::new(root().join("scripts/make-demo"))
        .arg(&made)
        .output()
        .expect("scripts/make-demo runs (python3, dpkg-deb, apt-ftparchive, gpg, mtools ...)");
    assert!(
        output.status.success(),
        "make-demo failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );

    let committed = files(&demo());
    let fresh = files(&made);
    assert_eq!(
        committed.keys().collect::<Vec<_>>(),
        fresh.keys().collect::<Vec<_>>(),
        "the same files"
    );
    for (path, bytes) in &committed {
        if !SIGNED.contains(&path.as_str()) {
            assert!(
                fresh[path] == *bytes,
                "{path} differs from what make-demo makes"
            );
        }
    }

    let (_a, mut old) = open_base(&demo().join("base.img.xz"));
    let (_b, mut new) = open_base(&made.join("base.img.xz"));
    assert_eq!(old.size, new.size);
    assert_eq!(old.table, new.table);
    assert_eq!(old.root.superblock.uuid, new.root.superblock.uuid);
    assert_eq!(old.root.superblock.hash_seed, new.root.superblock.hash_seed);
    assert_eq!(old.boot.volume_id, new.boot.volume_id);
    assert_trees_equal(&old.boot.tree, &new.boot.tree, "boot");
    // The key differs by design; each base trusts its own run's key.
    let key = TreePath::parse(BASE_KEY).expect("a path");
    let fresh_key = Keyring::from_bytes(&fresh["keys/demo.asc"], "keys/demo.asc").expect("key");
    assert_eq!(
        base_repositories(&new.root.tree, &Rewrites::default()).expect("sources")[0]
            .keyring
            .fingerprints(),
        fresh_key.fingerprints()
    );
    old.root
        .tree
        .remove(&key)
        .expect("the committed base has the key");
    new.root
        .tree
        .remove(&key)
        .expect("the new base has the key");
    assert_trees_equal(&old.root.tree, &new.root.tree, "root");
}

/// Runs apt-get on the committed repository with a private configuration: the base's
/// status, the base's source and the profile's (signed by the committed key, not trusted
/// blindly), new pinned at 100. Returns stdout; panics with apt's output on failure.
fn apt_get(dir: &Path, args: &[&str]) -> String {
    let p = |sub: &str| dir.join(sub).display().to_string();
    let mut cmd = Command::new("apt-get");
    cmd.env("APT_CONFIG", "/dev/null").env("LC_ALL", "C");
    for option in [
        format!("Dir={}", p("")),
        format!("Dir::State={}", p("state")),
        format!("Dir::State::status={}", p("status")),
        format!("Dir::State::Lists={}", p("lists")),
        format!("Dir::Cache={}", p("cache")),
        "Dir::Cache::pkgcache=".to_owned(),
        "Dir::Cache::srcpkgcache=".to_owned(),
        format!("Dir::Etc::SourceList={}", p("sources.list")),
        format!("Dir::Etc::SourceParts={}", p("parts")),
        format!("Dir::Etc::Preferences={}", p("preferences")),
        format!("Dir::Etc::PreferencesParts={}", p("parts")),
        format!("Dir::Etc::Parts={}", p("parts")),
        format!("Dir::Etc::Trusted={}", p("trusted.gpg")),
        format!("Dir::Etc::TrustedParts={}", p("parts")),
        format!("Dir::Log={}", p("log")),
        "APT::Architecture=armhf".to_owned(),
        "APT::Architectures=armhf".to_owned(),
        "APT::Sandbox::User=root".to_owned(),
        "APT::Install-Recommends=false".to_owned(),
        "Debug::NoLocking=1".to_owned(),
        "Acquire::Languages=none".to_owned(),
    ] {
        cmd.arg("-o").arg(option);
    }
    let output = cmd
        .args(args)
        .output()
        .expect("apt-get runs (is apt installed?)");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "apt-get {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// `Inst name (version ...)` and `Purg name [...]` lines of a simulation.
fn simulated(stdout: &str) -> (BTreeMap<String, String>, BTreeSet<String>) {
    let mut installed = BTreeMap::new();
    let mut removed = BTreeSet::new();
    for line in stdout.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Inst", name, rest @ ..] => {
                let version = rest
                    .iter()
                    .find(|w| w.starts_with('('))
                    .map(|w| w.trim_start_matches('('))
                    .expect("Inst has a version");
                installed.insert(name.to_string(), version.to_owned());
            }
            ["Purg", name, ..] | ["Remv", name, ..] => {
                removed.insert(name.to_string());
            }
            _ => {}
        }
    }
    (installed, removed)
}

#[test]
fn real_apt_resolves_the_demo_the_same_way() {
    let (_base_dir, base) = open_base(&demo().join("base.img.xz"));
    let dir = tempfile::tempdir().expect("temporary directory");
    let d = dir.path();
    for sub in [
        "state",
        "lists/partial",
        "cache/archives/partial",
        "parts",
        "log",
    ] {
        std::fs::create_dir_all(d.join(sub)).expect("apt directories");
    }
    std::fs::write(
        d.join("status"),
        text(&base.root.tree, "var/lib/dpkg/status"),
    )
    .expect("status");
    let key = demo().join("keys/demo.asc");
    std::fs::write(
        d.join("sources.list"),
        format!(
            "deb [signed-by={key}] {repo} old main\ndeb [signed-by={key}] {repo} new main\n",
            key = key.display(),
            repo = repo_url()
        ),
    )
    .expect("sources.list");
    std::fs::write(
        d.join("preferences"),
        "Package: *\nPin: release n=new\nPin-Priority: 100\n",
    )
    .expect("preferences");
    apt_get(d, &["update"]);

    // The profile's runs, in its order: plain names, then `-t new` for `pkg/new`, then the
    // purge. Each starts from the base: nothing here depends on the runs before it.
    let (plain, _) = simulated(&apt_get(d, &["-s", "install", "nginx-light"]));
    let (pulled, _) = simulated(&apt_get(d, &["-s", "-t", "new", "install", "php8.2-fpm"]));
    let (_, purged) = simulated(&apt_get(d, &["-s", "purge", "dphys-swapfile"]));
    let mut theirs = plain;
    theirs.extend(pulled);

    let profile = demo_profile();
    let cache = tempfile::tempdir().expect("cache");
    let fetcher = fetcher(&cache);
    let base_repos = base_repositories(&base.root.tree, &Rewrites::default()).expect("sources");
    let old = load_mirrored(&fetcher, &base_repos[0]).expect("old");
    let configured =
        profile_repository(&profile.repositories()[0], &fetcher).expect("the profile's key");
    let new = load_mirrored(&fetcher, &configured).expect("new");
    let status = StatusFile::parse(
        &text(&base.root.tree, "var/lib/dpkg/status"),
        "/var/lib/dpkg/status",
    )
    .expect("status");
    let universe = Universe::new(
        "armhf",
        vec![origin("base-0", 500, &old), origin("new", 100, &new)],
        status,
    );
    let ours = resolve(&universe, profile.packages()).expect("the demo resolves");
    let our_versions: BTreeMap<String, String> = versions(&ours)
        .into_iter()
        .map(|(name, (version, _))| (name, version))
        .collect();
    let our_removals: BTreeSet<String> = ours.remove.iter().map(|r| r.name.clone()).collect();
    assert_eq!(our_versions, theirs, "installed: pi-imager vs apt");
    assert_eq!(our_removals, purged, "removed: pi-imager vs apt");
    assert_eq!(theirs.get("libdemo1").map(String::as_str), Some("2.0-1"));
}
