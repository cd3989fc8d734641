//! Swap settings as the programs on the node read them: systemd-zram-generator run on the
//! written configuration (`ZRAM_GENERATOR_ROOT` points it at a copy of the tree) creates
//! the zram swap the profile asks for and none when it asks for none, and zram-tools'
//! `/etc/default/zramswap` is shell that sets the size.

use std::path::Path;
use std::process::Command;

use pi_imager::profile::Generation;

use crate::node_fixture::{SEED, build, build_with, export, profile, text, validator};

const GENERATOR: &str = "/usr/lib/systemd/system-generators/zram-generator";

/// Runs zram-generator on `root`; returns the swap units it generated.
fn zram_swaps(root: &Path) -> Vec<String> {
    // The generator sizes devices from the machine's memory: a Pi 3's.
    std::fs::create_dir_all(root.join("proc")).unwrap();
    std::fs::write(root.join("proc/meminfo"), "MemTotal:         948304 kB\n").unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let out = validator(
        Command::new(GENERATOR)
            .arg(out_dir.path())
            .env("ZRAM_GENERATOR_ROOT", root),
    );
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "zram-generator (install systemd-zram-generator): {out:?}"
    );
    let mut swaps: Vec<String> = std::fs::read_dir(out_dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".swap"))
        .collect();
    swaps.sort();
    swaps
}

#[test]
fn zram_generator_makes_the_zram_swap_the_profile_asks_for() {
    let with_zram = SEED.replace("enabled = false", "enabled = false\nzram = \"256MiB\"");
    let profile = profile(&with_zram);
    let (root, _, _) = build(&profile, Generation::Trixie);
    assert!(text(&root, "/etc/rpi/swap.conf.d/90-pi-imager.conf").contains("Mechanism=zram\n"));
    let dir = tempfile::tempdir().unwrap();
    export(&root, "/etc/systemd", dir.path());
    assert_eq!(zram_swaps(dir.path()), ["dev-zram0.swap"]);
}

#[test]
fn zram_generator_makes_none_when_swap_is_off() {
    let vendor_default = "[zram0]\nzram-size = ram / 2\n";
    let generator_files = [
        (
            "/usr/lib/systemd/system-generators/zram-generator",
            "\x7fELF",
        ),
        ("/usr/lib/systemd/zram-generator.conf", vendor_default),
    ];
    // The check sees swap when there is some: the packaged default alone makes zram0.
    let bare = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(bare.path().join("usr/lib/systemd")).unwrap();
    std::fs::write(
        bare.path().join("usr/lib/systemd/zram-generator.conf"),
        vendor_default,
    )
    .unwrap();
    assert_eq!(zram_swaps(bare.path()), ["dev-zram0.swap"]);

    let profile = profile(SEED);
    let (root, _, _) = build_with(&profile, Generation::Bookworm, &generator_files);
    let dir = tempfile::tempdir().unwrap();
    export(&root, "/etc/systemd", dir.path());
    std::fs::create_dir_all(dir.path().join("usr/lib/systemd")).unwrap();
    std::fs::write(
        dir.path().join("usr/lib/systemd/zram-generator.conf"),
        vendor_default,
    )
    .unwrap();
    assert!(zram_swaps(dir.path()).is_empty());
}

#[test]
fn zramswap_defaults_set_the_size_in_mib() {
    let with_zram = SEED.replace("enabled = false", "enabled = false\nzram = \"300MiB\"");
    let profile = profile(&with_zram);
    let (root, _, _) = build_with(
        &profile,
        Generation::Buster,
        &[
            ("/usr/sbin/zramswap", "#!/bin/sh\n"),
            (
                "/etc/default/zramswap",
                "# ALGO=lz4\nPERCENT=50\n#SIZE=256\nPRIORITY=100\n",
            ),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("zramswap");
    std::fs::write(&file, text(&root, "/etc/default/zramswap")).unwrap();
    // zramswap sources the file; PERCENT would win over SIZE.
    let out = validator(Command::new("sh").arg("-c").arg(format!(
        ". '{}' && echo \"$SIZE:${{PERCENT:-}}:$PRIORITY\"",
        file.display()
    )));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "300::100\n",
        "{out:?}"
    );
}
