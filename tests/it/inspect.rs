//! `pi-imager inspect` on an image made by the real tools: what it reports agrees with
//! `sfdisk --json` and `debugfs`, and `--ls` shows modes, owners and xattrs.

use std::process::Command;

use crate::ext4_fixture::run;
use crate::golden::pi_imager;

/// A small Raspbian-jessie-like image: MBR, FAT16 boot at 4 MiB, ext4 root at 64 MiB.
fn small_image(dir: &std::path::Path) -> std::path::PathBuf {
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("usr/lib")).unwrap();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::create_dir_all(root.join("usr/bin")).unwrap();
    std::fs::write(
        root.join("usr/lib/os-release"),
        "PRETTY_NAME=\"Raspbian GNU/Linux 8 (jessie)\"\nNAME=\"Raspbian GNU/Linux\"\nVERSION_ID=\"8\"\nID=raspbian\n",
    )
    .unwrap();
    std::os::unix::fs::symlink("../usr/lib/os-release", root.join("etc/os-release")).unwrap();
    // Jessie's os-release has no VERSION_CODENAME: the generation comes from debian_version.
    std::fs::write(root.join("etc/debian_version"), "8.0\n").unwrap();
    std::fs::write(root.join("usr/bin/ping"), b"\x7fELF ping").unwrap();
    run(Command::new("chmod")
        .arg("4755")
        .arg(root.join("usr/bin/ping")));
    let img = dir.join("small.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(192 << 20)
        .unwrap();
    let mut sfdisk = Command::new("sfdisk")
        .arg("-q")
        .arg(&img)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("sfdisk runs");
    std::io::Write::write_all(
        sfdisk.stdin.as_mut().unwrap(),
        b"label: dos\nlabel-id: 0xa1b2c3d4\nstart=8192, size=122880, type=c\nstart=131072, type=83\n",
    )
    .unwrap();
    assert!(sfdisk.wait().unwrap().success());
    run(Command::new("mkfs.vfat")
        .args(["-F", "16", "-n", "boot", "-i", "1234abcd", "--offset=8192"])
        .arg(&img)
        .arg("61440"));
    run(Command::new("mke2fs")
        .args([
            "-q",
            "-F",
            "-t",
            "ext4",
            "-O",
            "^metadata_csum,^64bit",
            "-L",
            "rootfs",
        ])
        .args(["-U", "6c1f0b8e-3f7e-4b45-9d2a-0f3e51c0ffee"])
        .arg(format!("-Eoffset={}", 131_072 * 512))
        .arg("-d")
        .arg(&root)
        .arg(&img)
        .arg("128M"));
    run(Command::new("debugfs")
        .args(["-w", "-R", "ea_set /usr/bin/ping user.pi-imager test-value"])
        .arg(format!("{}?offset={}", img.display(), 131_072 * 512)));
    img
}

#[test]
fn inspect_agrees_with_sfdisk_and_debugfs() {
    let dir = tempfile::tempdir().unwrap();
    let img = small_image(dir.path());
    let path = img.to_str().unwrap();
    let (code, stdout, stderr) = pi_imager(&["inspect", "--json", path]);
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let sfdisk: serde_json::Value =
        serde_json::from_str(&run(Command::new("sfdisk").arg("--json").arg(&img))).unwrap();
    let table = &sfdisk["partitiontable"];
    assert_eq!(report["table"]["kind"], "mbr");
    assert_eq!(
        format!("0x{}", report["table"]["id"].as_str().unwrap()),
        table["id"].as_str().unwrap()
    );
    for (ours, theirs) in report["table"]["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .zip(table["partitions"].as_array().unwrap())
    {
        assert_eq!(
            ours["start"].as_u64().unwrap(),
            theirs["start"].as_u64().unwrap() * 512
        );
        assert_eq!(
            ours["size"].as_u64().unwrap(),
            theirs["size"].as_u64().unwrap() * 512
        );
        let their_type = u8::from_str_radix(theirs["type"].as_str().unwrap(), 16).unwrap();
        assert_eq!(
            ours["kind"].as_str().unwrap(),
            format!("0x{their_type:02x}")
        );
    }
    assert_eq!(report["boot"]["label"], "boot");
    assert_eq!(report["boot"]["uuid"], "1234-ABCD");
    assert_eq!(report["boot"]["features"][0], "fat16");
    assert_eq!(report["root"]["label"], "rootfs");
    assert_eq!(
        report["root"]["uuid"],
        "6c1f0b8e-3f7e-4b45-9d2a-0f3e51c0ffee"
    );
    // dumpe2fs cannot take `?offset=`; debugfs's `stats` prints the same superblock.
    let dump = run(Command::new("debugfs").args(["-R", "stats"]).arg(format!(
        "{}?offset={}",
        img.display(),
        131_072 * 512
    )));
    let features: Vec<&str> = dump
        .lines()
        .find_map(|l| l.strip_prefix("Filesystem features:"))
        .unwrap()
        .split_whitespace()
        .collect();
    let ours: Vec<&str> = report["root"]["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(ours, features);
    assert_eq!(report["os_release"]["ID"], "raspbian");
    assert_eq!(report["generation"], "jessie");

    let (code, stdout, _) = pi_imager(&["inspect", path, "--ls", "/usr/bin"]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("os: Raspbian GNU/Linux 8 (jessie)\ngeneration: jessie\n"),
        "{stdout}"
    );
    let line = stdout
        .lines()
        .find(|l| l.ends_with("/usr/bin/ping"))
        .expect("ping listed");
    assert!(line.starts_with("-rwsr-xr-x"), "{line}");
    assert!(
        stdout.contains("xattr user.pi-imager=0x746573742d76616c7565"),
        "{stdout}"
    );
    let (code, stdout, _) = pi_imager(&["inspect", path, "--ls", "/etc/os-release"]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("/etc/os-release -> ../usr/lib/os-release"),
        "{stdout}"
    );
}

#[test]
fn inspect_refuses_what_is_not_an_image() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.img");
    std::fs::write(&junk, b"not an image at all").unwrap();
    let (code, stdout, stderr) = pi_imager(&["inspect", junk.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(stdout.is_empty());
    assert!(stderr.contains("junk.img"), "{stderr}");
    let (code, _, stderr) = pi_imager(&["inspect", "no-such.img"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("no-such.img"), "{stderr}");
}
