//! cloud-init's `user-data` on the boot partition (Raspberry Pi OS trixie): at the first
//! boot cloud-init applies it, and the base's (or Raspberry Pi Imager's) copy sets a host
//! name, creates a `pi` account with a password, allows SSH password logins and sets a
//! time zone — undoing the node's settings the image already holds. The file is replaced
//! by one that agrees with the profile: the host name kept as written
//! (`preserve_hostname`, which stops cloud-init's hostname modules and so its edit of
//! `/etc/hosts`), no accounts when the profile makes its own (`users: []`, which also
//! drops cloud-init's default user), and `ssh_pwauth`, `timezone` and `locale` set to the
//! profile's values. `meta-data` (the instance id) is left, so cloud-init's other first-boot
//! work still runs once.
//!
//! The base's other user-data keys (`runcmd`, `write_files`, `packages`…) are not carried
//! over: the profile is the node's only source, and a note says the file was replaced. The
//! network half (`network-config`) is handled with the network (`network::cloud_init`).
//! This module does not parse YAML; it writes a whole document of its own.

use super::NodeContext;
use super::edit::{EditError, Editor};

/// Why the user-data could not be written.
#[derive(Debug, thiserror::Error)]
pub enum CloudInitError {
    /// The boot partition's file could not be read or written (boxed: the node stage's
    /// error stays small enough to return by value).
    #[error(transparent)]
    Edit(Box<EditError>),
}

impl From<EditError> for CloudInitError {
    fn from(error: EditError) -> Self {
        Self::Edit(Box::new(error))
    }
}

/// The file on the boot partition cloud-init's NoCloud source reads.
pub const USER_DATA: &str = "/user-data";

/// `value` as a YAML double-quoted scalar.
fn quoted(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The user-data document that agrees with the profile of `ctx`.
pub fn user_data(ctx: &NodeContext) -> String {
    let profile = ctx.profile;
    let mut text = String::from(
        "#cloud-config\n\
         # Written by pi-imager. The image already holds the profile's host name, accounts,\n\
         # SSH and time settings; cloud-init is told to keep them at the first boot.\n\
         preserve_hostname: true\n\
         manage_etc_hosts: false\n",
    );
    if !profile.users().is_empty() {
        text.push_str(
            "# The accounts are the profile's [[user]] entries, already in the image.\nusers: []\n",
        );
    }
    let pwauth = if profile.ssh().password_auth {
        "true"
    } else {
        "false"
    };
    text.push_str(&format!("ssh_pwauth: {pwauth}\n"));
    let system = profile.system();
    if let Some(zone) = &system.timezone {
        text.push_str(&format!("timezone: {}\n", quoted(zone)));
    }
    if let Some(locale) = &system.locale {
        text.push_str(&format!("locale: {}\n", quoted(locale)));
    }
    text
}

/// Replaces the boot partition's `user-data`, when the base has one, by [`user_data`];
/// returns a note for the build log when it did.
pub fn apply(boot: &mut Editor, ctx: &NodeContext) -> Result<Option<String>, CloudInitError> {
    let Some(current) = boot.read_text(USER_DATA)? else {
        return Ok(None);
    };
    let wanted = user_data(ctx);
    if current == wanted {
        return Ok(None);
    }
    boot.write(USER_DATA, wanted, 0o644)?;
    Ok(Some(
        "cloud-init's user-data on the boot partition is replaced by one that keeps the profile's host name, accounts, SSH and time settings (the base's other user-data keys are dropped)".to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::bases::{self, SEED};
    use crate::node::{NodeInputs, apply as apply_node};
    use crate::tree::{Kind, TreePath};

    fn boot_text(boot: &crate::tree::Tree, path: &str) -> Option<String> {
        let inode = boot.get(&TreePath::parse(path).unwrap())?;
        match &inode.kind {
            Kind::File { size, content } => {
                Some(String::from_utf8(content.read_to_vec(*size, 1 << 20).unwrap()).unwrap())
            }
            _ => None,
        }
    }

    #[test]
    fn trixie_user_data_agrees_with_the_profile() {
        let text = format!(
            "{SEED}\n[system]\nhostname = \"blog-pi3\"\ntimezone = \"Europe/London\"\nlocale = \"en_GB.UTF-8\"\n\n[[user]]\nname = \"pete\"\nssh_keys = [\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA94379pnadhePa89yW5gmmCsituTD33v2oQRcTOsBkj pete@example.org\"]\n\n[ssh]\nenabled = true\npassword_auth = false\n"
        );
        let profile = bases::profile(&text);
        let ids = bases::ids();
        let (_, mut boot) = bases::trixie();
        let ctx = bases::context(&profile, &ids, crate::profile::Generation::Trixie);
        let mut changed = std::collections::BTreeSet::new();
        let note = {
            let mut editor = Editor::new(&mut boot, &mut changed, ctx.mtime);
            apply(&mut editor, &ctx).unwrap()
        };
        assert!(note.is_some_and(|n| n.contains("user-data")));
        assert!(changed.iter().any(|p| p.to_string() == "/user-data"));
        let data = boot_text(&boot, "user-data").unwrap();
        assert!(data.starts_with("#cloud-config\n"), "{data}");
        for line in [
            "preserve_hostname: true\n",
            "users: []\n",
            "ssh_pwauth: false\n",
            "timezone: \"Europe/London\"\n",
            "locale: \"en_GB.UTF-8\"\n",
        ] {
            assert!(data.contains(line), "{line} missing from {data}");
        }
        // The base's `hostname: raspberrypi` must not survive to be applied at first boot.
        assert!(!data.contains("raspberrypi"), "{data}");
    }

    #[test]
    fn without_accounts_or_user_data_nothing_is_forced() {
        let profile = bases::profile(SEED);
        let ids = bases::ids();
        let (mut root, mut boot) = bases::trixie();
        let ctx = bases::context(&profile, &ids, crate::profile::Generation::Trixie);
        apply_node(&mut root, &mut boot, &ctx, &NodeInputs::default()).unwrap();
        let data = boot_text(&boot, "user-data").unwrap();
        assert!(!data.contains("users:"), "{data}");
        assert!(data.contains("preserve_hostname: true\n"));

        // A base without user-data (bookworm) gets none.
        let (mut root, mut boot) = bases::bookworm();
        let ctx = bases::context(&profile, &ids, crate::profile::Generation::Bookworm);
        let outcome = apply_node(&mut root, &mut boot, &ctx, &NodeInputs::default()).unwrap();
        assert!(boot_text(&boot, "user-data").is_none());
        assert!(!outcome.boot.iter().any(|p| p.to_string() == "/user-data"));
    }

    #[test]
    fn values_are_quoted_for_yaml() {
        assert_eq!(quoted("Europe/London"), "\"Europe/London\"");
        assert_eq!(quoted("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
    }
}
