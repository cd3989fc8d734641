//! The mount settings as systemd and util-linux read them: the `RequiresMountsFor=`
//! drop-ins pass `systemd-analyze verify --root=` beside a tiny unit they drop into, and
//! fstab parses with `findmnt --verify` into the entries the profile asked for.

use std::process::Command;

use pi_imager::profile::Generation;

use crate::node_fixture::{SEED, build, export, profile, text, validator};

#[test]
fn systemd_accepts_the_drop_ins() {
    let profile_text = SEED.replace(
        "required_by = [\"nginx\", \"php7.0-fpm\"]",
        "required_by = [\"nginx\", \"php7.0-fpm\"]\n\n[[mount]]\npath = \"/srv/my data\"\ndevice = \"UUID=0f3e51c0-ffee-4b45-9d2a-6c1f0b8e3f7e\"\nfstype = \"ext4\"\noptions = [\"nofail\"]\nrequired_by = [\"nginx\"]",
    );
    let profile = profile(&profile_text);
    let (root, _, _) = build(&profile, Generation::Bookworm);
    let dir = tempfile::tempdir().unwrap();
    export(&root, "/etc/systemd/system", dir.path());
    let drop_in = dir
        .path()
        .join("etc/systemd/system/nginx.service.d/pi-imager-mounts.conf");
    assert!(
        std::fs::read_to_string(&drop_in)
            .unwrap()
            .ends_with("RequiresMountsFor=/var/www \"/srv/my data\"\n")
    );
    std::fs::create_dir_all(dir.path().join("bin")).unwrap();
    std::fs::write(dir.path().join("bin/true"), "#!/bin/sh\n").unwrap();
    validator(
        Command::new("chmod")
            .arg("755")
            .arg(dir.path().join("bin/true")),
    );
    for service in ["nginx", "php7.0-fpm"] {
        // The unit the drop-in extends, as small as systemd accepts outside a full system.
        std::fs::write(
            dir.path()
                .join(format!("etc/systemd/system/{service}.service")),
            "[Unit]\nDescription=test\nDefaultDependencies=no\n[Service]\nExecStart=/bin/true\n",
        )
        .unwrap();
        let out = validator(
            Command::new("systemd-analyze")
                .arg("verify")
                .arg(format!("--root={}", dir.path().display()))
                .arg("--man=no")
                .arg(format!("{service}.service")),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.trim().is_empty(),
            "systemd-analyze verify {service}: {stderr}"
        );
    }
}

#[test]
fn findmnt_reads_fstab_as_the_profile_meant_it() {
    let profile_text = SEED.replace("path = \"/var/www\"", "path = \"/var/my www\"");
    let profile = profile(&profile_text);
    for generation in [Generation::Jessie, Generation::Trixie] {
        let (root, _, _) = build(&profile, generation);
        let dir = tempfile::tempdir().unwrap();
        let fstab = dir.path().join("fstab");
        std::fs::write(&fstab, text(&root, "/etc/fstab")).unwrap();
        let out = validator(
            Command::new("findmnt")
                .arg("--verify")
                .arg("--tab-file")
                .arg(&fstab),
        );
        let report = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(report.contains("0 parse errors"), "{report}");
        assert!(report.contains("0 warnings"), "{report}");
        // The only errors allowed are about this machine: the card's partitions and the
        // drive are not attached here.
        for line in report.lines().filter(|l| l.contains("[E]")) {
            assert!(line.contains("unreachable on boot required"), "{line}");
        }
        let listed = validator(
            Command::new("findmnt")
                .args(["--tab-file"])
                .arg(&fstab)
                .args([
                    "--raw",
                    "--noheadings",
                    "-o",
                    "SOURCE,TARGET,FSTYPE,OPTIONS,PASSNO",
                ]),
        );
        let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
        let boot = if generation == Generation::Jessie {
            "/boot"
        } else {
            "/boot/firmware"
        };
        for want in [
            format!("PARTUUID=1a2b3c4d-01 {boot} vfat defaults 2"),
            "PARTUUID=1a2b3c4d-02 / ext4 defaults,noatime 1".to_owned(),
            "LABEL=www /var/my\\x20www ext4 defaults,noatime,nofail,x-systemd.device-timeout=10s 2"
                .to_owned(),
        ] {
            assert!(listed.lines().any(|l| l == want), "{want} not in\n{listed}");
        }
    }
}
