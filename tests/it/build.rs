//! `pi-imager build` end to end on the offline demo profile (copied into a temporary folder
//! so the lock it writes never lands in the checkout), checked with the real tools:
//! sfdisk, e2fsck, fsck.fat, debugfs, bmaptool, xz and sha256sum; then reproducibility,
//! `--locked`, killed builds, tampered inputs and a full disk.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest, Sha256};

use super::golden::root;

/// A copy of the demo profile and its inputs, with its own cache and output folders.
pub struct Demo {
    pub dir: tempfile::TempDir,
}

impl Demo {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let profiles = root().join("profiles");
        let status = Command::new("cp")
            .arg("-a")
            .arg(profiles.join("demo.toml"))
            .arg(profiles.join("demo"))
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "cp of the demo failed");
        Demo { dir }
    }

    /// The demo with its committed lock.
    pub fn with_lock() -> Self {
        let demo = Self::new();
        std::fs::copy(root().join("profiles/demo.lock"), demo.path("demo.lock")).unwrap();
        demo
    }

    pub fn profile(&self) -> PathBuf {
        self.dir.path().join("demo.toml")
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Runs pi-imager with `args` (the profile is passed by the caller).
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_pi-imager"))
            .args(args)
            .current_dir(self.dir.path())
            .env("XDG_CACHE_HOME", self.dir.path().join("xdg-cache"))
            .output()
            .expect("pi-imager runs")
    }

    /// `build demo.toml --out OUT --cache cache` plus `extra`; panics unless it succeeds.
    pub fn build(&self, out: &str, extra: &[&str]) -> Output {
        let mut args = vec!["build", "demo.toml", "--out", out, "--cache", "cache"];
        args.extend_from_slice(extra);
        let output = self.run(&args);
        assert!(
            output.status.success(),
            "build failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }
}

fn tool(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (install it: see .ci/install-deps)"))
}

fn ok(cmd: &mut Command) -> String {
    let output = tool(cmd);
    assert!(
        output.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn sha256_file(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The files of an output folder (names, sorted), ignoring hidden staging folders.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Copies bytes `start..start+size` of `image` into a new sparse file.
fn extract(image: &Path, start: u64, size: u64, to: &Path) {
    ok(Command::new("dd")
        .arg(format!("if={}", image.display()))
        .arg(format!("of={}", to.display()))
        .args(["bs=512", "conv=sparse", "status=none"])
        .arg(format!("skip={}", start / 512))
        .arg(format!("count={}", size / 512)));
}

fn manifest(out: &Path, node: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(out.join(format!("demo-{node}.manifest.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn demo_build_is_checked_by_the_real_tools() {
    let demo = Demo::new();
    demo.build("out", &[]);
    let out = demo.path("out");
    let names = listing(&out);
    for node in ["a", "b"] {
        for suffix in [".img", ".img.xz", ".img.bmap", ".manifest.json", "-www.img"] {
            let name = format!("demo-{node}{suffix}");
            assert!(names.contains(&name), "{name} missing from {names:?}");
        }
    }
    assert!(names.contains(&"SHA256SUMS".to_owned()));
    assert!(
        demo.path("demo.lock").is_file(),
        "the first build writes the lock"
    );
    ok(Command::new("sha256sum")
        .args(["-c", "--strict", "SHA256SUMS"])
        .current_dir(&out));

    let image = out.join("demo-a.img");
    let table: serde_json::Value =
        serde_json::from_str(&ok(Command::new("sfdisk").arg("--json").arg(&image))).unwrap();
    let parts = table["partitiontable"]["partitions"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(parts.len(), 2);
    let m = manifest(&out, "a");
    let boot_start = parts[0]["start"].as_u64().unwrap() * 512;
    let boot_size = parts[0]["size"].as_u64().unwrap() * 512;
    let root_start = parts[1]["start"].as_u64().unwrap() * 512;
    let root_size = parts[1]["size"].as_u64().unwrap() * 512;

    let scratch = tempfile::tempdir().unwrap();
    let boot = scratch.path().join("boot.fat");
    let rootfs = scratch.path().join("root.ext4");
    extract(&image, boot_start, boot_size, &boot);
    extract(&image, root_start, root_size, &rootfs);
    ok(Command::new("fsck.fat").arg("-n").arg(&boot));
    ok(Command::new("e2fsck").arg("-fn").arg(&rootfs));

    // The manifest's digests are the bytes'.
    assert_eq!(m["image"]["sha256"].as_str().unwrap(), sha256_file(&image));
    let partitions = m["partitions"].as_array().unwrap();
    assert_eq!(
        partitions[0]["sha256"].as_str().unwrap(),
        sha256_file(&boot)
    );
    assert_eq!(
        partitions[1]["sha256"].as_str().unwrap(),
        sha256_file(&rootfs)
    );
    let hostname = ok(Command::new("debugfs")
        .args(["-R", "cat /etc/hostname"])
        .arg(&rootfs));
    assert_eq!(hostname.trim(), "demo-a");
    let files = m["files"].as_array().unwrap();
    let hostname_entry = files
        .iter()
        .find(|f| f["path"] == "/etc/hostname" && f["filesystem"] == "root")
        .expect("/etc/hostname in the manifest");
    // `written` marks what the build changed, whichever stage did it, and nothing else.
    let written = |path: &str| {
        files
            .iter()
            .find(|f| f["path"] == path && f["filesystem"] == "root")
            .unwrap_or_else(|| panic!("{path} in the manifest"))["written"]
            .as_bool()
            .unwrap()
    };
    assert!(written("/etc/hostname"), "a node setting");
    assert!(written("/usr/sbin/php-fpm8.2"), "a package's file");
    assert!(!written("/usr/lib/os-release"), "the base's own file");
    assert_eq!(
        hostname_entry["sha256"].as_str().unwrap(),
        Sha256::digest(hostname.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );

    // The compressed image is the raw one; the block map reproduces it.
    ok(Command::new("xz").arg("-t").arg(out.join("demo-a.img.xz")));
    let copy = scratch.path().join("copy.img");
    ok(Command::new("bmaptool")
        .arg("copy")
        .arg("--bmap")
        .arg(out.join("demo-a.img.bmap"))
        .arg(&image)
        .arg(&copy));
    ok(Command::new("cmp").arg(&image).arg(&copy));

    // The drive image is an ext4 filesystem labelled as the mount's device says.
    let drive = out.join("demo-a-www.img");
    ok(Command::new("e2fsck").arg("-fn").arg(&drive));
    let label = ok(Command::new("e2label").arg(&drive));
    assert_eq!(label.trim(), "www");
}

#[test]
fn a_changed_unpacked_base_in_the_cache_is_unpacked_again() {
    let demo = Demo::with_lock();
    demo.build("one", &["--locked"]);
    let lock = std::fs::read_to_string(demo.path("demo.lock")).unwrap();
    let pinned = lock
        .lines()
        .find_map(|l| l.strip_prefix("image_sha256 = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("the lock records the unpacked base's sha256")
        .to_owned();
    let cached: Vec<PathBuf> = std::fs::read_dir(demo.path("cache/base"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "img"))
        .collect();
    let [image] = cached.as_slice() else {
        panic!("one unpacked base in the cache: {cached:?}");
    };
    let digest = |path: &Path| -> String {
        Sha256::digest(std::fs::read(path).unwrap())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    assert_eq!(digest(image), pinned);
    // Whoever can write the cache changes a byte of the unpacked base.
    let mut bytes = std::fs::read(image).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(image, bytes).unwrap();
    demo.build("two", &["--locked"]);
    assert_eq!(digest(image), pinned, "the cached base was used as it was");
    for name in listing(&demo.path("one")) {
        ok(Command::new("cmp")
            .arg(demo.path("one").join(&name))
            .arg(demo.path("two").join(&name)));
    }
}

#[test]
fn the_committed_demo_lock_is_current() {
    // `scripts/make-demo` changes the demo's key and so its signed files: the lock must be
    // written again with them (`cargo run -- lock profiles/demo.toml`), or this fails.
    let demo = Demo::with_lock();
    let before = std::fs::read(demo.path("demo.lock")).unwrap();
    demo.build("out", &["--locked"]);
    assert_eq!(std::fs::read(demo.path("demo.lock")).unwrap(), before);
}

#[test]
fn builds_are_byte_identical_and_the_profile_mtime_changes_nothing() {
    let demo = Demo::new();
    demo.build("one", &[]);
    demo.build("two", &[]);
    ok(Command::new("touch")
        .args(["-d", "2030-01-01"])
        .arg(demo.profile()));
    demo.build("three", &["--locked"]);
    // Manifests first, key by key, so a difference names what differs (a full-suite run
    // once saw node a's manifest differ between an unlocked and a locked build; not seen
    // since).
    for node in ["a", "b"] {
        let one = manifest(&demo.path("one"), node);
        for other in ["two", "three"] {
            let theirs = manifest(&demo.path(other), node);
            let keys: Vec<&String> = one
                .as_object()
                .unwrap()
                .keys()
                .filter(|k| one[k.as_str()] != theirs[k.as_str()])
                .collect();
            assert!(
                keys.is_empty(),
                "node {node}: manifest of `{other}` differs in {keys:?}"
            );
        }
    }
    for name in listing(&demo.path("one")) {
        let one = demo.path("one").join(&name);
        for other in ["two", "three"] {
            ok(Command::new("cmp")
                .arg(&one)
                .arg(demo.path(other).join(&name)));
        }
    }
}

#[test]
fn locked_builds_refuse_a_changed_profile() {
    let demo = Demo::new();
    let no_lock = demo.run(&[
        "build",
        "demo.toml",
        "--out",
        "out",
        "--cache",
        "cache",
        "--locked",
    ]);
    assert_eq!(no_lock.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&no_lock.stderr).contains("no lock file"));
    let locked = demo.run(&["lock", "demo.toml", "--cache", "cache"]);
    assert!(
        locked.status.success(),
        "{}",
        String::from_utf8_lossy(&locked.stderr)
    );
    assert!(listing(&demo.path("out")).is_empty(), "lock builds nothing");
    let lock = std::fs::read_to_string(demo.path("demo.lock")).unwrap();
    assert!(
        lock.contains("[[package]]") && lock.contains("release_sha256"),
        "{lock}"
    );
    let text = std::fs::read_to_string(demo.profile()).unwrap();
    let changed = text.replacen("remove = [", "remove = [\"demo-extra\", ", 1);
    assert_ne!(changed, text, "the demo profile has a remove list");
    std::fs::write(demo.profile(), changed).unwrap();
    let refused = demo.run(&[
        "build",
        "demo.toml",
        "--out",
        "out",
        "--cache",
        "cache",
        "--locked",
    ]);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("changed since the lock"), "{stderr}");
    assert!(
        listing(&demo.path("out"))
            .iter()
            .all(|n| n.starts_with('.'))
    );
}

/// Whether an output folder holds any file at an output's name (hidden staging folders of
/// killed builds are not outputs).
fn outputs_in(dir: &Path) -> Vec<String> {
    listing(dir)
        .into_iter()
        .filter(|n| !n.starts_with('.'))
        .collect()
}

#[test]
fn a_killed_build_leaves_no_output_and_a_usable_cache() {
    let demo = Demo::new();
    // Warm the cache once so the kills land in every stage, not only the first download.
    demo.build("warm", &[]);
    let full = std::time::Instant::now();
    demo.build("timing", &[]);
    let took = full.elapsed();
    for step in 1..=3u32 {
        let out = format!("killed-{step}");
        let mut child = Command::new(env!("CARGO_BIN_EXE_pi-imager"))
            .args(["build", "demo.toml", "--out", &out, "--cache", "cache"])
            .current_dir(demo.dir.path())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(took * step / 4);
        // SIGKILL: no destructor, no handler runs.
        let _ = child.kill();
        let status = child.wait().unwrap();
        if status.success() {
            continue;
        }
        assert!(
            outputs_in(&demo.path(&out)).is_empty(),
            "a build killed at {step}/4 left {:?}",
            outputs_in(&demo.path(&out))
        );
        // The next build in the same folder and cache works and tidies the staging folder.
        demo.build(&out, &[]);
        assert!(
            listing(&demo.path(&out))
                .iter()
                .all(|n| !n.starts_with('.'))
        );
    }
}

fn refused(demo: &Demo, out: &str, what: &str) -> String {
    let output = demo.run(&["build", "demo.toml", "--out", out, "--cache", "fresh-cache"]);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{what}: {stderr}");
    assert!(
        outputs_in(&demo.path(out)).is_empty(),
        "{what}: outputs left"
    );
    assert!(!demo.path("demo.lock").exists(), "{what}: lock written");
    stderr
}

fn flip_byte(path: &Path, at_fraction: f64) {
    let mut bytes = std::fs::read(path).unwrap();
    let at = ((bytes.len() as f64) * at_fraction) as usize;
    bytes[at] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

fn files_named(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let out = ok(Command::new("find")
        .arg(dir)
        .args(["-type", "f", "-name"])
        .arg(format!("*{suffix}")));
    out.lines().map(PathBuf::from).collect()
}

#[test]
fn tampered_inputs_are_refused_and_nothing_is_written() {
    let demo = Demo::new();
    flip_byte(&demo.path("demo/base.img.xz"), 0.5);
    let stderr = refused(&demo, "out", "tampered base");
    assert!(
        stderr.contains("base.img.xz") && stderr.contains("sha256"),
        "{stderr}"
    );

    let demo = Demo::new();
    let key = demo.path("demo/keys/demo.asc");
    let other = super::apt_gpg::Gpg::new();
    other.gen_key(
        "Someone Else <other@example.org>",
        "ed25519",
        "sign",
        "never",
        &[],
    );
    std::fs::write(&key, other.export_armored(&["other@example.org"])).unwrap();
    let stderr = refused(&demo, "out", "another key");
    assert!(
        stderr.contains("InRelease") || stderr.contains("signature"),
        "{stderr}"
    );

    let demo = Demo::new();
    for packages in files_named(&demo.path("demo/repo/dists"), "Packages") {
        let text = std::fs::read_to_string(&packages).unwrap();
        std::fs::write(&packages, text.replacen("Version: ", "Version: 9", 1)).unwrap();
    }
    for compressed in files_named(&demo.path("demo/repo/dists"), "Packages.xz")
        .into_iter()
        .chain(files_named(&demo.path("demo/repo/dists"), "Packages.gz"))
    {
        std::fs::remove_file(compressed).unwrap();
    }
    let stderr = refused(&demo, "out", "tampered index");
    assert!(stderr.contains("Packages"), "{stderr}");

    let demo = Demo::new();
    for deb in files_named(&demo.path("demo/repo/pool"), ".deb") {
        flip_byte(&deb, 0.9);
    }
    let stderr = refused(&demo, "out", "tampered .deb");
    assert!(
        stderr.contains(".deb") && stderr.contains("sha256"),
        "{stderr}"
    );
}

#[test]
fn a_full_disk_is_a_clear_error_and_leaves_nothing() {
    let demo = Demo::new();
    // A file-size limit stands in for a full disk: writes past it fail with EFBIG, as
    // they would with ENOSPC, without needing a small filesystem mounted.
    let output = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "ulimit -f 20480; trap '' XFSZ; exec {} build demo.toml --out out --cache cache",
            env!("CARGO_BIN_EXE_pi-imager")
        ))
        .current_dir(demo.dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("too large") || stderr.contains("space"),
        "{stderr}"
    );
    assert!(
        listing(&demo.path("out")).is_empty(),
        "{:?}",
        listing(&demo.path("out"))
    );
}

#[test]
fn offline_builds_use_local_inputs_and_name_what_is_missing() {
    // Every input of the demo is on this machine (`file:` mirrors, local files): an offline
    // build with an empty cache needs no network.
    let demo = Demo::new();
    demo.build("out", &["--offline"]);
    // A base behind an http URL is not in the empty cache: the error names it and its digest.
    let text = std::fs::read_to_string(demo.profile()).unwrap();
    let remote = text.replacen(
        "file = \"demo/base.img.xz\"",
        "url = \"http://192.0.2.1/demo/base.img.xz\"",
        1,
    );
    assert_ne!(remote, text);
    std::fs::write(demo.profile(), remote).unwrap();
    std::fs::remove_file(demo.path("demo.lock")).unwrap();
    let output = demo.run(&[
        "build",
        "demo.toml",
        "--out",
        "out2",
        "--cache",
        "empty-cache",
        "--offline",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("http://192.0.2.1/demo/base.img.xz"),
        "{stderr}"
    );
    assert!(outputs_in(&demo.path("out2")).is_empty());
}
