//! `pi-imager verify` on the demo image written by `pi-imager flash`: a clean card, a
//! byte flipped in a file's data (ext4 and FAT), in a file a running node changes, a file
//! removed and one added through the filesystem, a truncated card and a broken ext4
//! superblock. Offsets of file data come from the real tools (debugfs, mtools), not from
//! our readers.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use super::build::Demo;

/// The demo, built once per test run: `demo-a.img`, its `.bmap`, `.img.xz` and manifest.
pub struct Built {
    pub dir: PathBuf,
}

impl Built {
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn manifest_json(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.path("demo-a.manifest.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    /// The start of partition `role` (`boot` or `root`), from the manifest.
    pub fn partition_start(&self, role: &str) -> u64 {
        let m = self.manifest_json();
        m["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["role"] == role)
            .unwrap_or_else(|| panic!("no {role} partition in the manifest"))["start"]
            .as_u64()
            .unwrap()
    }
}

/// Builds the demo the first time it is asked for. The folder lives under cargo's
/// per-target temporary directory and is replaced by the next run.
pub fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("verify-demo");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let demo = Demo::with_lock();
        demo.build("out", &["--locked", "--node", "a"]);
        for name in [
            "demo-a.img",
            "demo-a.img.bmap",
            "demo-a.img.xz",
            "demo-a.manifest.json",
        ] {
            std::fs::rename(demo.path("out").join(name), dir.join(name))
                .unwrap_or_else(|e| panic!("the demo build wrote no {name}: {e}"));
        }
        Built { dir }
    })
}

/// Runs pi-imager with `args`.
pub fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pi-imager"))
        .args(args)
        .output()
        .expect("pi-imager runs")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Flashes the demo's `.img.xz` to a new file in `dir`; panics unless it succeeds.
pub fn flashed_card(dir: &Path) -> PathBuf {
    let card = dir.join("card.img");
    let out = run(&[
        "flash",
        built().path("demo-a.img.xz").to_str().unwrap(),
        card.to_str().unwrap(),
        "--yes",
    ]);
    assert!(out.status.success(), "flash failed: {}", text(&out.stderr));
    card
}

fn verify(card: &Path, extra: &[&str]) -> Output {
    let manifest = built().path("demo-a.manifest.json");
    let mut args = vec![
        "verify",
        card.to_str().unwrap(),
        "--manifest",
        manifest.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run(&args)
}

fn verify_json(card: &Path, extra: &[&str]) -> (i32, serde_json::Value) {
    let mut args = vec!["--json"];
    args.extend_from_slice(extra);
    let out = verify(card, &args);
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&out.stdout)));
    (out.status.code().unwrap(), json)
}

fn tool(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (install it: see .ci/install-deps)"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// The byte offset in the card of the first data byte of root file `path`, by debugfs.
fn ext4_data_offset(card: &Path, path: &str) -> u64 {
    let start = built().partition_start("root");
    let out = tool(
        Command::new("debugfs")
            .arg("-R")
            .arg(format!("bmap {path} 0"))
            .arg(format!("{}?offset={start}", card.display())),
    );
    let block: u64 = out.trim().parse().unwrap();
    assert!(block > 0, "{path} has no data block");
    start + block * 4096
}

/// The byte offset of boot file `path`'s data: its contents (read by mtype) found in the
/// boot partition.
fn fat_data_offset(card: &Path, path: &str) -> u64 {
    let start = built().partition_start("boot");
    let out = Command::new("mtype")
        .arg("-i")
        .arg(format!("{}@@{start}", card.display()))
        .arg(format!("::{path}"))
        .output()
        .expect("mtype runs (install mtools)");
    assert!(out.status.success(), "mtype: {}", text(&out.stderr));
    let image = std::fs::read(card).unwrap();
    let region = &image[start as usize..];
    let at = region
        .windows(out.stdout.len())
        .position(|w| w == out.stdout.as_slice())
        .expect("the file's bytes are in the boot partition");
    start + at as u64
}

fn flip(card: &Path, offset: u64) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(card)
        .unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, offset).unwrap();
    f.write_all_at(&[b[0] ^ 0x5a], offset).unwrap();
}

#[test]
fn a_flashed_card_matches_and_says_what_built_it() {
    let dir = tempfile::tempdir().unwrap();
    let card = flashed_card(dir.path());
    let out = verify(&card, &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    let first = stdout.lines().next().unwrap();
    assert!(first.starts_with("matches: "), "{first}");
    assert!(
        first.contains("demo-a (node a of demo.toml) built from demo.lock at epoch"),
        "{first}"
    );
    let (code, json) = verify_json(&card, &["--blocks"]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["verdict"], "matches");
    assert_eq!(json["origin"]["lock"]["name"], "demo.lock");
    assert!(json["checked"]["ranges"].as_u64().unwrap() > 0);
    // The raw image itself is a valid target too.
    assert_eq!(
        verify(&built().path("demo-a.img"), &["--blocks"])
            .status
            .code(),
        Some(0)
    );
}

#[test]
fn a_flipped_byte_in_a_file_is_named_by_both_comparisons() {
    let dir = tempfile::tempdir().unwrap();
    let card = flashed_card(dir.path());
    flip(&card, ext4_data_offset(&card, "/etc/hostname"));
    flip(&card, fat_data_offset(&card, "/config.txt") + 3);

    let (code, json) = verify_json(&card, &[]);
    assert_eq!(code, 1, "{json}");
    assert_eq!(json["verdict"], "differs");
    let files = json["files"].as_array().unwrap();
    let find = |fs: &str, path: &str| {
        files
            .iter()
            .find(|f| f["filesystem"] == fs && f["path"] == path)
            .unwrap_or_else(|| panic!("{fs}:{path} not reported: {json}"))
    };
    assert_eq!(find("root", "/etc/hostname")["status"], "damaged");
    assert_eq!(find("boot", "/config.txt")["status"], "damaged");
    assert_eq!(files.len(), 2, "{json}");

    let (code, json) = verify_json(&card, &["--blocks"]);
    assert_eq!(code, 1, "{json}");
    let ranges = json["ranges"].as_array().unwrap();
    assert_eq!(ranges.len(), 2, "{json}");
    let names: Vec<(String, u64, String)> = ranges
        .iter()
        .flat_map(|r| {
            r["files"].as_array().unwrap().iter().map(|f| {
                (
                    r["area"].as_str().unwrap().to_string(),
                    r["partition"].as_u64().unwrap(),
                    f["path"].as_str().unwrap().to_string(),
                )
            })
        })
        .collect();
    assert!(
        names.contains(&("root".into(), 2, "/etc/hostname".into())),
        "{json}"
    );
    assert!(
        names.contains(&("boot".into(), 1, "/config.txt".into())),
        "{json}"
    );

    let out = verify(&card, &["--blocks"]);
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("differs: "), "{stdout}");
    assert!(stdout.contains("root:/etc/hostname differs"), "{stdout}");
}

#[test]
fn a_file_a_running_node_changes_is_ignored_by_default_but_not_by_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let card = flashed_card(dir.path());
    flip(&card, ext4_data_offset(&card, "/etc/passwd"));

    let out = verify(&card, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));

    let (code, json) = verify_json(&card, &["--blocks"]);
    assert_eq!(code, 1, "{json}");
    let file = &json["ranges"][0]["files"][0];
    assert_eq!(file["path"], "/etc/passwd", "{json}");
    assert_eq!(file["differs"], true);
    assert_eq!(file["expected_to_change"], true);
}

#[test]
fn removed_and_added_files_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    let card = flashed_card(dir.path());
    let start = built().partition_start("root");
    let extra = dir.path().join("extra");
    std::fs::write(&extra, b"not from the build\n").unwrap();
    tool(
        Command::new("debugfs")
            .arg("-w")
            .arg("-R")
            .arg("rm /etc/hostname")
            .arg(format!("{}?offset={start}", card.display())),
    );
    tool(
        Command::new("debugfs")
            .arg("-w")
            .arg("-R")
            .arg(format!("write {} /added.txt", extra.display()))
            .arg(format!("{}?offset={start}", card.display())),
    );
    let (code, json) = verify_json(&card, &[]);
    assert_eq!(code, 1, "{json}");
    let statuses: Vec<(String, String)> = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        statuses.contains(&("/etc/hostname".into(), "missing".into())),
        "{json}"
    );
    assert!(
        statuses.contains(&("/added.txt".into(), "added".into())),
        "{json}"
    );
}

#[test]
fn a_truncated_card_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let card = flashed_card(dir.path());
    let f = std::fs::OpenOptions::new().write(true).open(&card).unwrap();
    f.set_len(100 << 20).unwrap();
    for extra in [&[][..], &["--blocks"][..]] {
        let out = verify(&card, extra);
        assert_eq!(out.status.code(), Some(2));
        let stderr = text(&out.stderr);
        assert!(stderr.contains("truncated"), "{stderr}");
        assert!(stderr.contains("104857600 bytes"), "{stderr}");
    }
}

#[test]
fn a_broken_ext4_superblock_is_reported_and_the_boot_partition_still_checked() {
    let dir = tempfile::tempdir().unwrap();
    let card = flashed_card(dir.path());
    let root = built().partition_start("root");
    // The superblock's magic number, 0xEF53 at byte 0x38 of the superblock.
    flip(&card, root + 1024 + 0x38);
    flip(&card, fat_data_offset(&card, "/cmdline.txt"));

    let (code, json) = verify_json(&card, &[]);
    assert_eq!(code, 1, "{json}");
    let errors = json["filesystem_errors"].as_array().unwrap();
    assert!(
        errors.iter().any(|e| e["filesystem"] == "root"),
        "no root filesystem error: {json}"
    );
    let files = json["files"].as_array().unwrap();
    assert!(
        files
            .iter()
            .any(|f| f["filesystem"] == "boot" && f["path"] == "/cmdline.txt"),
        "the boot partition was not checked: {json}"
    );
    let out = verify(&card, &[]);
    assert!(text(&out.stdout).contains("filesystem error (root)"));
}

#[test]
fn a_bad_manifest_is_could_not_tell() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"schema\": \"pi-imager-manifest/9\"}").unwrap();
    let out = run(&[
        "verify",
        built().path("demo-a.img").to_str().unwrap(),
        "--manifest",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("manifest"),
        "{}",
        text(&out.stderr)
    );
}
