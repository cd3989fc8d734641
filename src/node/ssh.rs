//! SSH on the node: sshd enabled or disabled by its systemd links (and the boot partition's
//! `ssh` file on generations whose `sshswitch.service` reads it), and password logins
//! switched off in the daemon's configuration.
//!
//! sshd keeps the *first* value it reads for a keyword. Where the base's `sshd_config`
//! starts by including `/etc/ssh/sshd_config.d/*.conf` (bullseye and later), the setting goes
//! in a drop-in named to be read first, so no package's drop-in (trixie's cloud-init writes
//! `50-cloud-init.conf`) can turn passwords back on; older generations get `sshd_config`
//! itself edited. This module does not create users or host keys (the base's first boot
//! makes those).

use super::{EditError, Editor, NodeContext};
use crate::profile::Generation;

/// The drop-in that turns password logins off (read before every other drop-in).
pub const DROP_IN_PATH: &str = "/etc/ssh/sshd_config.d/00-pi-imager.conf";
/// The enablement link `systemctl enable ssh` makes.
pub const WANTS_PATH: &str = "/etc/systemd/system/multi-user.target.wants/ssh.service";
/// The alias link `systemctl enable ssh` makes (`Alias=sshd.service`).
pub const ALIAS_PATH: &str = "/etc/systemd/system/sshd.service";

const SSHD_CONFIG: &str = "/etc/ssh/sshd_config";

/// Why SSH could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    /// A file could not be read or written.
    #[error(transparent)]
    Edit(#[from] EditError),
    /// SSH is to be enabled but the image has no sshd.
    #[error(
        "[ssh] enabled = true, but the image has no ssh.service (openssh-server is not installed); add `openssh-server` to packages.install"
    )]
    NoServer,
}

/// Enables or disables sshd and applies `password_auth`.
pub fn apply(root: &mut Editor, boot: &mut Editor, ctx: &NodeContext) -> Result<(), SshError> {
    let ssh = ctx.profile.ssh();
    let unit = unit_path(root, "ssh.service", ctx.generation)?;
    if ssh.enabled {
        let unit = unit.ok_or(SshError::NoServer)?;
        root.symlink(WANTS_PATH, &unit)?;
        root.symlink(ALIAS_PATH, &unit)?;
        if unit_path(root, "sshswitch.service", ctx.generation)?.is_some() {
            boot.write("/ssh", Vec::new(), 0o644)?;
        }
    } else {
        root.remove(WANTS_PATH)?;
        root.remove(ALIAS_PATH)?;
        boot.remove("/ssh")?;
        boot.remove("/ssh.txt")?;
    }
    if !ssh.password_auth {
        keys_only(root, ctx.generation)?;
    }
    Ok(())
}

/// Where the image keeps the unit `name`: `/lib/systemd/system` until bookworm, `/usr/lib`
/// from trixie (merged /usr makes both names work on bookworm; the link names the one the
/// generation's packages use).
pub fn unit_path(
    root: &Editor,
    name: &str,
    generation: Generation,
) -> Result<Option<String>, EditError> {
    let mut dirs = ["/lib/systemd/system", "/usr/lib/systemd/system"];
    if generation >= Generation::Trixie {
        dirs.reverse();
    }
    for dir in dirs {
        let path = format!("{dir}/{name}");
        if root.inode(&path)?.is_some() {
            return Ok(Some(path));
        }
    }
    Ok(None)
}

/// The keyword that disables keyboard-interactive (PAM) passwords: OpenSSH 8.7 renamed it
/// (bookworm's 9.2 knows both; jessie's 6.7 only the old name).
fn kbd_keyword(generation: Generation) -> &'static str {
    if generation >= Generation::Bookworm {
        "KbdInteractiveAuthentication"
    } else {
        "ChallengeResponseAuthentication"
    }
}

fn keys_only(root: &mut Editor, generation: Generation) -> Result<(), EditError> {
    let config = root.read_text(SSHD_CONFIG)?.unwrap_or_default();
    let settings = [
        ("PasswordAuthentication", "no"),
        (kbd_keyword(generation), "no"),
    ];
    if include_read_first(&config) {
        let mut text = String::from(
            "# Written by pi-imager ([ssh] password_auth = false): key logins only.\n\
             # sshd keeps the first value it reads; this drop-in is read before the others.\n",
        );
        for (keyword, value) in settings {
            text.push_str(&format!("{keyword} {value}\n"));
        }
        root.write(DROP_IN_PATH, text, 0o644)?;
    } else {
        let mut text = config;
        for (keyword, value) in settings {
            text = set_global(&text, keyword, value);
        }
        super::system::rewrite(root, SSHD_CONFIG, text, 0o644)?;
    }
    Ok(())
}

/// The keyword of a config line (`Keyword value` or `Keyword=value`), if it is not a comment.
fn keyword(line: &str) -> Option<&str> {
    let line = line.trim_start();
    if line.starts_with('#') || line.is_empty() {
        return None;
    }
    line.split(|c: char| c.is_whitespace() || c == '=').next()
}

/// Whether `sshd_config` includes `sshd_config.d` before it sets any password keyword itself,
/// so a drop-in's values win.
fn include_read_first(config: &str) -> bool {
    for line in config.lines() {
        match keyword(line) {
            Some(k) if k.eq_ignore_ascii_case("Include") => {
                return line.contains("sshd_config.d");
            }
            Some(k)
                if [
                    "PasswordAuthentication",
                    "KbdInteractiveAuthentication",
                    "ChallengeResponseAuthentication",
                    "Match",
                ]
                .iter()
                .any(|w| w.eq_ignore_ascii_case(k)) =>
            {
                return false;
            }
            _ => {}
        }
    }
    false
}

/// `config` with every global (before the first `Match`) `keyword` line set to `value`, or
/// one such line added before the first `Match` (or at the end).
fn set_global(config: &str, keyword_name: &str, value: &str) -> String {
    let mut out = Vec::new();
    let mut in_match = false;
    let mut placed = false;
    for line in config.lines() {
        let k = keyword(line);
        if k.is_some_and(|k| k.eq_ignore_ascii_case("Match")) {
            if !in_match && !placed {
                out.push(format!("{keyword_name} {value}"));
                placed = true;
            }
            in_match = true;
        }
        if !in_match && k.is_some_and(|k| k.eq_ignore_ascii_case(keyword_name)) {
            out.push(format!("{keyword_name} {value}"));
            placed = true;
        } else {
            out.push(line.to_owned());
        }
    }
    if !placed {
        out.push(format!("{keyword_name} {value}"));
    }
    let mut text = out.join("\n");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::sample_base::{Fixture, bookworm, jessie, trixie};

    fn run(fx: &mut Fixture) {
        fx.apply(|root, boot, ctx, _notes| apply(root, boot, ctx).map_err(|e| e.to_string()))
            .unwrap();
    }

    #[test]
    fn jessie_edits_sshd_config_and_writes_no_boot_file() {
        let mut fx = Fixture::new(jessie());
        run(&mut fx);
        let config = fx.text("/etc/ssh/sshd_config");
        assert!(config.contains("\nChallengeResponseAuthentication no\n"));
        assert!(config.contains("\nPasswordAuthentication no\n"), "{config}");
        assert!(config.contains("#PasswordAuthentication yes\n"));
        assert!(!fx.exists(DROP_IN_PATH));
        assert_eq!(fx.link(WANTS_PATH), "/lib/systemd/system/ssh.service");
        assert_eq!(fx.link(ALIAS_PATH), "/lib/systemd/system/ssh.service");
        assert!(!fx.boot_exists("ssh"), "jessie 2016-02 has no sshswitch");
    }

    #[test]
    fn bookworm_drop_in_and_boot_switch() {
        let mut fx = Fixture::new(bookworm());
        run(&mut fx);
        let drop_in = fx.text(DROP_IN_PATH);
        assert!(drop_in.contains("\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"));
        assert!(fx.boot_exists("ssh"));
        assert!(
            !fx.text("/etc/ssh/sshd_config")
                .contains("PasswordAuthentication no")
        );
    }

    #[test]
    fn trixie_links_usr_lib_and_disabling_removes_links() {
        let mut fx = Fixture::new(trixie());
        run(&mut fx);
        assert_eq!(fx.link(WANTS_PATH), "/usr/lib/systemd/system/ssh.service");
        assert!(!fx.boot_exists("ssh"));
        let profile = "[ssh]\nenabled = false\n";
        let mut fx = Fixture::with_profile(jessie(), profile);
        run(&mut fx);
        assert!(!fx.exists(WANTS_PATH));
        assert!(fx.changed().contains(&WANTS_PATH.to_owned()));
    }

    #[test]
    fn match_blocks_are_left_alone() {
        let text = "Port 22\nMatch User x\n  PasswordAuthentication yes\n";
        assert_eq!(
            set_global(text, "PasswordAuthentication", "no"),
            "Port 22\nPasswordAuthentication no\nMatch User x\n  PasswordAuthentication yes\n"
        );
        assert!(!include_read_first(
            "PasswordAuthentication yes\nInclude /etc/ssh/sshd_config.d/*.conf\n"
        ));
        assert!(include_read_first(
            "# c\nInclude /etc/ssh/sshd_config.d/*.conf\n"
        ));
    }
}
