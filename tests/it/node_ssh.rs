//! SSH settings checked by OpenSSH's own sshd: the written `sshd_config` and drop-in are
//! tested with `sshd -t`, and `sshd -T` shows that password logins are really off, even
//! with a later drop-in (trixie's cloud-init) saying otherwise.

use std::fs;
use std::path::Path;
use std::process::Command;

use pi_imager::node::ssh::{self, DROP_IN_PATH};
use pi_imager::profile::Generation;

use super::node_tree_fixture::{check, export, profile, run_part, tree};

const PROFILE: &str =
    "[system]\nhostname = \"blog-pi3\"\n\n[ssh]\nenabled = true\npassword_auth = false\n";

/// Runs `ssh::apply` on a base whose `sshd_config` is `config`, copies the results to
/// `dir`, and returns sshd's effective settings.
fn effective(dir: &Path, generation: Generation, config: &str) -> String {
    let profile = profile(dir, PROFILE);
    let mut root = tree(&[
        ("etc/ssh/sshd_config", config.as_bytes(), 0o644),
        ("lib/systemd/system/ssh.service", b"[Unit]\n", 0o644),
    ]);
    let mut boot = tree(&[]);
    let written = run_part(&profile, generation, &mut root, &mut boot, |r, b, c, _| {
        ssh::apply(r, b, c)
    });
    let conf = dir.join("ssh");
    let drop_ins = conf.join("sshd_config.d");
    fs::create_dir_all(&drop_ins).unwrap();
    export(&root, "/etc/ssh/sshd_config", &conf.join("sshd_config"));
    if written.root.iter().any(|p| p.to_string() == DROP_IN_PATH) {
        export(&root, DROP_IN_PATH, &drop_ins.join("00-pi-imager.conf"));
    }
    // A later drop-in that turns passwords on, as trixie's cloud-init writes.
    fs::write(
        drop_ins.join("50-cloud-init.conf"),
        "PasswordAuthentication yes\n",
    )
    .unwrap();
    let main = conf.join("sshd_config");
    let text = fs::read_to_string(&main)
        .unwrap()
        .replace("/etc/ssh/sshd_config.d", &drop_ins.display().to_string());
    fs::write(&main, text).unwrap();
    let key = conf.join("host_key");
    check(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", ""])
            .arg("-f")
            .arg(&key),
    );
    // sshd refuses to start, even for -t, without its privilege separation directory.
    fs::create_dir_all("/run/sshd").unwrap();
    let sshd = |flag: &str| {
        check(
            Command::new("/usr/sbin/sshd")
                .arg(flag)
                .arg("-f")
                .arg(&main)
                .arg("-h")
                .arg(&key),
        )
    };
    sshd("-t");
    String::from_utf8(sshd("-T").stdout).unwrap()
}

fn debian_sshd_config() -> String {
    fs::read_to_string("/usr/share/openssh/sshd_config")
        .expect("openssh-server is not installed (see .ci/install-deps)")
}

#[test]
fn drop_in_wins_on_a_generation_with_include() {
    let tmp = tempfile::tempdir().unwrap();
    let config = debian_sshd_config();
    assert!(config.contains("Include /etc/ssh/sshd_config.d/*.conf"));
    let settings = effective(tmp.path(), Generation::Bookworm, &config);
    assert!(
        settings.contains("\npasswordauthentication no\n"),
        "{settings}"
    );
    assert!(settings.contains("\nkbdinteractiveauthentication no\n"));
}

#[test]
fn sshd_config_itself_is_edited_without_include() {
    let tmp = tempfile::tempdir().unwrap();
    // A jessie-era config: no Include, passwords commented (so on by default).
    let config = debian_sshd_config()
        .lines()
        .filter(|l| !l.starts_with("Include") && !l.starts_with("KbdInteractive"))
        .collect::<Vec<_>>()
        .join("\n")
        + "\nMatch User backup\n\tPasswordAuthentication yes\n";
    let settings = effective(tmp.path(), Generation::Jessie, &config);
    assert!(
        settings.contains("\npasswordauthentication no\n"),
        "{settings}"
    );
    assert!(settings.contains("\nkbdinteractiveauthentication no\n"));
}
