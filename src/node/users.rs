//! The profile's `[[user]]` accounts: `/etc/passwd`, `/etc/shadow`, `/etc/group` and
//! `/etc/gshadow` edited as Debian's `adduser` would, the home directory (from `/etc/skel`)
//! and `~/.ssh/authorized_keys`.
//!
//! The base's lines are kept as they are (comments, field counts, order); a user the base
//! already has (such as `pi`) is updated, never duplicated. New accounts get the lowest free
//! id from 1000 with a personal group of the same id where it is free, `adduser`'s GECOS
//! `,,,` and shell `/bin/bash`. Names are resolved against the image's own databases, never
//! the build host's; [`uid_of`] and [`gid_of`] do that for the other node settings. This
//! module does not touch SSH's daemon settings or sudo rules.

use std::collections::BTreeSet;

use super::{EditError, Editor, NodeContext};
use crate::profile::{Generation, User};
use crate::tree::{Inode, Kind, TreePath};

/// adduser's range for ordinary users and their groups (`FIRST_UID`..=`LAST_UID`).
const FIRST_ID: u32 = 1000;
const LAST_ID: u32 = 59999;

/// Why the accounts could not be written.
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    /// A file could not be read or written.
    #[error(transparent)]
    Edit(#[from] EditError),
    /// An account database is missing.
    #[error(
        "the image has no {path}, so accounts cannot be added to it; is the base a Raspberry Pi OS image?"
    )]
    MissingDatabase {
        /// The file.
        path: &'static str,
    },
    /// A supplementary group does not exist in the image.
    #[error(
        "user `{user}` is to join group `{group}`, which the image's /etc/group does not have; install the package that creates it, or remove it from the user's `groups`"
    )]
    NoSuchGroup {
        /// The user.
        user: String,
        /// The group.
        group: String,
    },
    /// Every id from 1000 to 59999 is taken.
    #[error(
        "no free user id between {FIRST_ID} and {LAST_ID} is left in the image for user `{user}`"
    )]
    NoFreeId {
        /// The user.
        user: String,
    },
    /// A base's entry for the user is unusable.
    #[error(
        "{path}: the entry of `{user}` is malformed ({reason}); fix the base image's account database"
    )]
    Malformed {
        /// The file.
        path: &'static str,
        /// The user.
        user: String,
        /// What is wrong.
        reason: &'static str,
    },
}

/// One colon-separated database (`passwd`, `group`, `shadow`, `gshadow`) as lines.
struct Table {
    lines: Vec<String>,
}

impl Table {
    fn read(root: &Editor, path: &'static str) -> Result<Option<Self>, UsersError> {
        Ok(root.read_text(path)?.map(|text| Self {
            lines: text.lines().map(str::to_owned).collect(),
        }))
    }

    fn require(root: &Editor, path: &'static str) -> Result<Self, UsersError> {
        Self::read(root, path)?.ok_or(UsersError::MissingDatabase { path })
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.lines
            .iter()
            .position(|l| l.split(':').next() == Some(name))
    }

    fn fields(&self, name: &str) -> Option<Vec<&str>> {
        self.position(name)
            .and_then(|i| self.lines.get(i))
            .map(|l| l.split(':').collect())
    }

    /// The numeric third field (uid or gid) of `name`.
    fn id(&self, name: &str) -> Option<u32> {
        self.fields(name)?.get(2)?.parse().ok()
    }

    fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.lines
            .iter()
            .filter_map(|l| l.split(':').nth(2)?.parse().ok())
    }

    /// Sets field `index` of `name`'s line, padding missing fields.
    fn set_field(&mut self, name: &str, index: usize, value: &str) {
        let Some(i) = self.position(name) else { return };
        let Some(line) = self.lines.get_mut(i) else {
            return;
        };
        let mut fields: Vec<String> = line.split(':').map(str::to_owned).collect();
        if fields.len() <= index {
            fields.resize(index + 1, String::new());
        }
        if let Some(field) = fields.get_mut(index) {
            *field = value.to_owned();
        }
        *line = fields.join(":");
    }

    /// Adds `member` to the comma-separated list in field `index` of group `group`.
    fn add_member(&mut self, group: &str, index: usize, member: &str) -> bool {
        let Some(fields) = self.fields(group) else {
            return false;
        };
        let list = fields.get(index).copied().unwrap_or("");
        if list.split(',').any(|m| m == member) {
            return true;
        }
        let joined = if list.is_empty() {
            member.to_owned()
        } else {
            format!("{list},{member}")
        };
        self.set_field(group, index, &joined);
        true
    }

    fn text(&self) -> String {
        let mut text = self.lines.join("\n");
        text.push('\n');
        text
    }
}

/// The uid of `name` in the image's `/etc/passwd`.
pub fn uid_of(root: &Editor, name: &str) -> Result<Option<u32>, EditError> {
    id_in(root, "/etc/passwd", name)
}

/// The gid of `name` in the image's `/etc/group`.
pub fn gid_of(root: &Editor, name: &str) -> Result<Option<u32>, EditError> {
    id_in(root, "/etc/group", name)
}

fn id_in(root: &Editor, path: &str, name: &str) -> Result<Option<u32>, EditError> {
    Ok(root.read_text(path)?.and_then(|text| {
        text.lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.first() == Some(&name))
            .and_then(|f| f.get(2)?.parse().ok())
    }))
}

/// The mode of new home directories: the image's `DIR_MODE` in `/etc/adduser.conf`, else
/// adduser's default of that generation (0755 until bullseye; 0700 from bookworm's 3.134).
fn home_mode(root: &Editor, generation: Generation) -> Result<u32, EditError> {
    let configured = root.read_text("/etc/adduser.conf")?.and_then(|text| {
        text.lines().find_map(|l| {
            let value = l.trim().strip_prefix("DIR_MODE")?.trim_start();
            let value = value.strip_prefix('=')?.trim().trim_matches(['"', '\'']);
            u32::from_str_radix(value, 8).ok().filter(|m| *m <= 0o7777)
        })
    });
    Ok(configured.unwrap_or(if generation >= Generation::Bookworm {
        0o700
    } else {
        0o755
    }))
}

/// Creates or updates every `[[user]]` of the profile.
pub fn apply(root: &mut Editor, ctx: &NodeContext) -> Result<(), UsersError> {
    let users = ctx.profile.users();
    if users.is_empty() {
        return Ok(());
    }
    let mut db = Databases {
        passwd: Table::require(root, "/etc/passwd")?,
        shadow: Table::require(root, "/etc/shadow")?,
        group: Table::require(root, "/etc/group")?,
        gshadow: Table::read(root, "/etc/gshadow")?,
        day: u64::try_from(ctx.mtime.secs.div_euclid(86_400)).unwrap_or(0),
    };
    let home_mode = home_mode(root, ctx.generation)?;
    let shell = if root.exists("/bin/bash")? {
        "/bin/bash"
    } else {
        "/bin/sh"
    };
    for user in users {
        let account = match db.existing(user)? {
            Some(account) => account,
            None => {
                let account = db.create(user, shell)?;
                make_home(root, &account, home_mode)?;
                account
            }
        };
        db.set_password(user);
        sudo_without_password(root, user)?;
        for group in &user.groups {
            db.join(user, group)?;
        }
        if !user.ssh_keys.is_empty() {
            let ssh = format!("{}/.ssh", account.home.trim_end_matches('/'));
            let mut dir = Inode::dir(0o700, root.mtime());
            (dir.uid, dir.gid) = (account.uid, account.gid);
            root.put(&ssh, dir)?;
            let mut keys = user.ssh_keys.join("\n");
            keys.push('\n');
            root.write_owned(
                &format!("{ssh}/authorized_keys"),
                keys,
                0o600,
                account.uid,
                account.gid,
            )?;
        }
    }
    disable_user_wizard(root)?;
    let shadow_gid = db.group.id("shadow").unwrap_or(0);
    super::system::rewrite(root, "/etc/passwd", db.passwd.text(), 0o644)?;
    super::system::rewrite(root, "/etc/group", db.group.text(), 0o644)?;
    root.write_owned("/etc/shadow", db.shadow.text(), 0o640, 0, shadow_gid)?;
    if let Some(gshadow) = &db.gshadow {
        root.write_owned("/etc/gshadow", gshadow.text(), 0o640, 0, shadow_gid)?;
    }
    Ok(())
}

/// The sudoers drop-in of a key-only member of `sudo`.
pub fn sudoers_path(user: &str) -> String {
    format!("/etc/sudoers.d/010_pi-imager-{user}-nopasswd")
}

/// Gives a member of `sudo` without a password passwordless sudo, as Raspberry Pi OS gives
/// its first user (`010_pi-nopasswd`): with `*` in shadow, sudo's password prompt could
/// never be answered and the account could not administer the node.
fn sudo_without_password(root: &mut Editor, user: &User) -> Result<(), EditError> {
    let wants_sudo = user.groups.iter().any(|g| g == "sudo");
    if user.password_hash.is_some() || !wants_sudo || !root.exists("/etc/sudoers.d")? {
        return Ok(());
    }
    root.write(
        &sudoers_path(&user.name),
        format!(
            "# Written by pi-imager: {0} logs in with keys only and has no password to give sudo.\n\
             {0} ALL=(ALL) NOPASSWD: ALL\n",
            user.name
        ),
        0o440,
    )
}

/// Removes the enablement links of `userconfig.service`, Raspberry Pi OS's first-boot wizard
/// (userconf-pi, bullseye 2022 on) that asks on the console for a user to create or rename:
/// the profile has made its accounts, and the wizard would hold the first boot at a prompt.
fn disable_user_wizard(root: &mut Editor) -> Result<(), EditError> {
    let Ok(units) = TreePath::parse("etc/systemd/system") else {
        return Ok(());
    };
    let links: Vec<String> = root
        .tree()
        .iter()
        .filter(|(path, _, _)| {
            path.starts_with(&units)
                && path.file_name() == Some(b"userconfig.service")
                && path.depth() == units.depth() + 2
        })
        .map(|(path, _, _)| path.to_string())
        .collect();
    for link in links {
        root.remove(&link)?;
    }
    Ok(())
}

/// A user's ids and home, as the databases give them.
struct Account {
    uid: u32,
    gid: u32,
    home: String,
}

struct Databases {
    passwd: Table,
    shadow: Table,
    group: Table,
    gshadow: Option<Table>,
    /// Days since the epoch: the shadow "last changed" date.
    day: u64,
}

impl Databases {
    fn existing(&self, user: &User) -> Result<Option<Account>, UsersError> {
        let Some(fields) = self.passwd.fields(&user.name) else {
            return Ok(None);
        };
        let malformed = |reason| UsersError::Malformed {
            path: "/etc/passwd",
            user: user.name.clone(),
            reason,
        };
        let number = |i: usize| fields.get(i).and_then(|f| f.parse::<u32>().ok());
        let uid = number(2).ok_or_else(|| malformed("no numeric uid"))?;
        let gid = number(3).ok_or_else(|| malformed("no numeric gid"))?;
        let home = fields
            .get(5)
            .filter(|h| h.starts_with('/') && TreePath::parse(h).is_ok())
            .ok_or_else(|| malformed("no absolute home directory"))?;
        Ok(Some(Account {
            uid,
            gid,
            home: (*home).to_owned(),
        }))
    }

    /// Adds the passwd, shadow, group and gshadow lines of a new user, as adduser does.
    fn create(&mut self, user: &User, shell: &str) -> Result<Account, UsersError> {
        // Sets, so a base with a huge passwd cannot make the search quadratic.
        let uids: BTreeSet<u32> = self.passwd.ids().collect();
        let gids: BTreeSet<u32> = self.group.ids().collect();
        let free = |taken: &BTreeSet<u32>| (FIRST_ID..=LAST_ID).find(|id| !taken.contains(id));
        let own_group = self.group.id(&user.name);
        let (uid, gid) = match own_group {
            // A group of the user's name already there becomes the personal group.
            Some(gid) => (free(&uids), Some(gid)),
            None => {
                match (FIRST_ID..=LAST_ID).find(|id| !uids.contains(id) && !gids.contains(id)) {
                    Some(id) => (Some(id), Some(id)),
                    None => (free(&uids), free(&gids)),
                }
            }
        };
        let (Some(uid), Some(gid)) = (uid, gid) else {
            return Err(UsersError::NoFreeId {
                user: user.name.clone(),
            });
        };
        let name = &user.name;
        let home = format!("/home/{name}");
        self.passwd
            .lines
            .push(format!("{name}:x:{uid}:{gid}:,,,:{home}:{shell}"));
        self.shadow
            .lines
            .push(format!("{name}:*:{}:0:99999:7:::", self.day));
        if own_group.is_none() {
            self.group.lines.push(format!("{name}:x:{gid}:"));
            if let Some(gshadow) = &mut self.gshadow {
                gshadow.lines.push(format!("{name}:!::"));
            }
        }
        Ok(Account { uid, gid, home })
    }

    /// The shadow password: the profile's hash, or `*` (no password can match, yet the
    /// account is not "locked", so key logins keep working where sshd checks for `!`).
    fn set_password(&mut self, user: &User) {
        let hash = user.password_hash.as_deref().unwrap_or("*");
        if self.shadow.position(&user.name).is_none() {
            self.shadow
                .lines
                .push(format!("{}:{hash}:{}:0:99999:7:::", user.name, self.day));
            return;
        }
        let current = self
            .shadow
            .fields(&user.name)
            .and_then(|f| f.get(1).map(|h| (*h).to_owned()));
        if current.as_deref() != Some(hash) {
            self.shadow.set_field(&user.name, 1, hash);
            self.shadow.set_field(&user.name, 2, &self.day.to_string());
        }
    }

    fn join(&mut self, user: &User, group: &str) -> Result<(), UsersError> {
        if !self.group.add_member(group, 3, &user.name) {
            return Err(UsersError::NoSuchGroup {
                user: user.name.clone(),
                group: group.to_owned(),
            });
        }
        if let Some(gshadow) = &mut self.gshadow {
            gshadow.add_member(group, 3, &user.name);
        }
        Ok(())
    }
}

/// The new user's home directory, with `/etc/skel`'s files copied in, all owned by the user.
fn make_home(root: &mut Editor, account: &Account, mode: u32) -> Result<(), EditError> {
    let mtime = root.mtime();
    let mut dir = Inode::dir(mode, mtime);
    (dir.uid, dir.gid) = (account.uid, account.gid);
    root.put(&account.home, dir)?;
    let Ok(skel) = TreePath::parse("etc/skel") else {
        return Ok(());
    };
    let entries: Vec<(String, Inode)> = root
        .tree()
        .iter()
        .filter(|(path, _, _)| path.starts_with(&skel) && **path != skel)
        .filter_map(|(path, _, inode)| {
            let rel: Vec<String> = path
                .components()
                .skip(skel.depth())
                .map(|c| String::from_utf8(c.to_vec()).ok())
                .collect::<Option<_>>()?;
            Some((rel.join("/"), inode.clone()))
        })
        .collect();
    for (rel, inode) in entries {
        if !matches!(inode.kind, Kind::File { .. } | Kind::Dir | Kind::Symlink(_)) {
            continue;
        }
        let mut copy = inode;
        (copy.uid, copy.gid, copy.mtime) = (account.uid, account.gid, mtime);
        root.put(&format!("{}/{rel}", account.home), copy)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::sample_base::{Fixture, bookworm, jessie};

    fn run(fx: &mut Fixture) {
        fx.apply(|root, _boot, ctx, _notes| apply(root, ctx).map_err(|e| e.to_string()))
            .unwrap();
    }

    #[test]
    fn new_user_as_adduser_makes_it() {
        let mut fx = Fixture::new(jessie());
        run(&mut fx);
        let passwd = fx.text("/etc/passwd");
        assert!(
            passwd.ends_with("pete:x:1001:1001:,,,:/home/pete:/bin/bash\n"),
            "{passwd}"
        );
        let day = 1_700_000_000 / 86_400;
        assert!(
            fx.text("/etc/shadow")
                .ends_with(&format!("pete:*:{day}:0:99999:7:::\n"))
        );
        let group = fx.text("/etc/group");
        assert!(group.contains("\nsudo:x:27:pi,pete\n"), "{group}");
        assert!(group.contains("\nwww-data:x:33:pete\n"));
        assert!(group.ends_with("pete:x:1001:\n"));
        assert!(fx.text("/etc/gshadow").contains("\nsudo:*::pi,pete\n"));
        assert!(fx.text("/etc/gshadow").ends_with("pete:!::\n"));
        let shadow = fx.inode("/etc/shadow");
        assert_eq!((shadow.mode, shadow.uid, shadow.gid), (0o640, 0, 42));
        let home = fx.inode("/home/pete");
        assert_eq!((home.mode, home.uid, home.gid), (0o755, 1001, 1001));
        let bashrc = fx.inode("/home/pete/.bashrc");
        assert_eq!((bashrc.uid, bashrc.mode), (1001, 0o644));
        let ssh = fx.inode("/home/pete/.ssh");
        assert_eq!((ssh.mode, ssh.uid, ssh.gid), (0o700, 1001, 1001));
        let keys = fx.inode("/home/pete/.ssh/authorized_keys");
        assert_eq!((keys.mode, keys.uid), (0o600, 1001));
        assert!(
            fx.text("/home/pete/.ssh/authorized_keys")
                .starts_with("ssh-ed25519 ")
        );
    }

    #[test]
    fn existing_pi_is_updated_not_duplicated() {
        let profile = "[[user]]\nname = \"pi\"\ngroups = [\"www-data\", \"sudo\"]\nssh_keys = [\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGmJ8g3/vzWAfaeUdwx2u5xBenZWXGQqvFsCQfxqqFXo pi@example.org\"]\n";
        let mut fx = Fixture::with_profile(bookworm(), profile);
        run(&mut fx);
        let passwd = fx.text("/etc/passwd");
        assert_eq!(passwd.matches("\npi:").count(), 1);
        // The default password is replaced by `*`: keys only.
        let shadow = fx.text("/etc/shadow");
        assert!(shadow.contains("\npi:*:"), "{shadow}");
        assert!(fx.text("/etc/group").contains("\nsudo:x:27:pi\n"));
        assert!(fx.text("/etc/group").contains("\nwww-data:x:33:pi\n"));
        assert_eq!(
            fx.inode("/home/pi").mode,
            0o755,
            "an existing home keeps its mode"
        );
        assert_eq!(fx.inode("/home/pi/.ssh/authorized_keys").uid, 1000);
    }

    #[test]
    fn bookworm_homes_are_private_and_missing_groups_refused() {
        let profile = "[[user]]\nname = \"ann\"\npassword_hash = \"$6$salt$Xq0d2Y8vXc5lYq1aGkzJxK0tV0x8e2aRkq1g7M1i6YV3h5yJxWbQ1pFz3xS9mQ8eN2rL5tP0uC7vB4nA6dE1f.\"\n";
        let mut fx = Fixture::with_profile(bookworm(), profile);
        run(&mut fx);
        assert_eq!(fx.inode("/home/ann").mode, 0o700);
        let wizard = "/etc/systemd/system/multi-user.target.wants/userconfig.service";
        assert!(!fx.exists(wizard) && fx.changed().contains(&wizard.to_owned()));
        assert!(fx.text("/etc/shadow").contains("\nann:$6$salt$"));
        assert!(!fx.exists(&sudoers_path("ann")), "ann has a password");
        assert!(!fx.exists("/home/ann/.ssh"));
        let profile = "[[user]]\nname = \"ann\"\ngroups = [\"docker\"]\n";
        let mut fx = Fixture::with_profile(bookworm(), profile);
        let err = fx
            .apply(|root, _boot, ctx, _notes| apply(root, ctx).map_err(|e| e.to_string()))
            .unwrap_err();
        assert!(err.contains("`docker`"), "{err}");
    }

    #[test]
    fn lookups_read_the_image() {
        let mut fx = Fixture::new(jessie());
        fx.apply(|root, _boot, _ctx, _notes| {
            assert_eq!(uid_of(root, "www-data").unwrap(), Some(33));
            assert_eq!(gid_of(root, "ssl-cert").unwrap(), Some(110));
            assert_eq!(uid_of(root, "nosuch").unwrap(), None);
            Ok(())
        })
        .unwrap();
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn hostile_account_databases_never_panic(
            passwd in "([a-z]{0,4}(:[a-z0-9/]{0,6}){0,7}\n){0,12}",
            group in "([a-z]{0,6}(:[a-z0-9,]{0,6}){0,4}\n){0,12}",
        ) {
            let mut base = jessie();
            crate::node::sample_base::file(&mut base.root, "etc/passwd", &passwd, 0o644);
            crate::node::sample_base::file(&mut base.root, "etc/group", &group, 0o644);
            let mut fx = Fixture::new(base);
            let _ = fx.apply(|root, _boot, ctx, _| apply(root, ctx).map_err(|e| e.to_string()));
        }
    }
}
