//! The server unit and memory drop-ins checked by systemd itself: `systemd-analyze verify
//! --root=` on a root holding the written unit, the installed binary and systemd's own
//! targets, with any warning about our files counted as a failure.

use std::fs;
use std::path::Path;
use std::process::Command;

use pi_imager::node::server;
use pi_imager::profile::Generation;
use pi_imager::tree::{Content, Kind, TreePath};

use super::node_tree_fixture::{export, output, profile, run_part, tree};

/// Runs `systemd-analyze verify --root=root unit` and returns its stderr, panicking on
/// failure.
fn verify(root: &Path, unit: &str) -> String {
    let out = output(
        Command::new("systemd-analyze")
            .arg("verify")
            .arg(format!("--root={}", root.display()))
            .arg(unit),
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "systemd-analyze verify {unit}: {stderr}"
    );
    stderr
}

#[test]
fn systemd_verifies_the_hardened_unit_and_drop_in() {
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir_all(tmp.path().join("bin")).unwrap();
    let agent = tmp.path().join("bin/blog-agent");
    fs::write(&agent, "#!/bin/sh\nexec sleep 1\n").unwrap();
    let profile = profile(
        tmp.path(),
        "[system]\nhostname = \"blog-pi3\"\nmemory_max = { \"nginx\" = \"256MiB\" }\n\n[server]\nsource = \"bin/blog-agent\"\nargs = [\"--listen\", \"[::]:9100\", \"a b\", \"50%\", \"$HOME\"]\nuser = \"www-data\"\nmemory_max = \"128MiB\"\n",
    );
    let mut root = tree(&[(
        "etc/passwd",
        b"root:x:0:0:root:/root:/bin/bash\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n",
        0o644,
    )]);
    let mut boot = tree(&[]);
    run_part(
        &profile,
        Generation::Bookworm,
        &mut root,
        &mut boot,
        |r, _, c, _| server::apply(r, c, Some(&agent)),
    );
    let inode = root
        .get(&TreePath::parse("usr/local/bin/blog-agent").unwrap())
        .unwrap();
    assert!(matches!(&inode.kind, Kind::File { content: Content::HostFile(p), .. } if *p == agent));
    assert_eq!(inode.mode, 0o755);
    let out = tmp.path().join("root");
    for path in [
        "/usr/local/bin/blog-agent",
        "/etc/systemd/system/blog-agent.service",
        "/etc/systemd/system/multi-user.target.wants/blog-agent.service",
        "/etc/systemd/system/nginx.service.d/pi-imager-memory.conf",
    ] {
        export(&root, path, &out.join(path.trim_start_matches('/')));
    }
    // systemd's own targets and slices, which every service depends on by default, and a
    // stand-in for the package's nginx unit.
    let units = out.join("lib/systemd/system");
    fs::create_dir_all(&units).unwrap();
    let mut copied = 0;
    for entry in fs::read_dir("/lib/systemd/system").expect("systemd is not installed") {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        if (name.ends_with(".target") || name.ends_with(".slice")) && entry.path().is_file() {
            fs::copy(entry.path(), units.join(&name)).unwrap();
            copied += 1;
        }
    }
    assert!(copied > 10, "systemd's targets are missing");
    fs::write(
        units.join("nginx.service"),
        "[Unit]\nDescription=nginx\n[Service]\nExecStart=/usr/local/bin/blog-agent\n",
    )
    .unwrap();
    for unit in ["blog-agent.service", "nginx.service"] {
        let stderr = verify(&out, unit);
        assert!(
            !stderr.contains("blog-agent.service") && !stderr.contains("pi-imager-memory"),
            "systemd warned about a written file: {stderr}"
        );
    }
    // The check is real: an unknown setting in the unit is reported.
    let unit = out.join("etc/systemd/system/blog-agent.service");
    let text = fs::read_to_string(&unit)
        .unwrap()
        .replace("Restart=always", "Restart=alwayz");
    fs::write(&unit, text).unwrap();
    assert!(verify(&out, "blog-agent.service").contains("alwayz"));
}
