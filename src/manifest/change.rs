//! What a running node changes by itself, so `verify` can tell a card that merely ran from
//! one that was damaged or tampered with.
//!
//! Each rule is a [`Pattern`] on one filesystem with the reason it is there. The list is a
//! judgement, kept short on purpose: a path is listed only when Raspberry Pi OS, the
//! packages' maintainer scripts run by `pi-imager-firstboot.service`, or ordinary daemons
//! rewrite it without anyone asking. The rules are written into each manifest, so a
//! manifest keeps meaning what it meant when it was made. This module does not compare
//! anything with a card.

use std::fmt;

use serde::Serialize as DeriveSerialize;
use serde::de::{self, Deserialize, Deserializer};
use serde::ser::{Serialize, Serializer};

use super::model::Filesystem;

/// The rules, in the order the documentation explains them: (filesystem, pattern, why).
const RULES: &[(Filesystem, &str, &str)] = &[
    (
        Filesystem::Root,
        "/etc/machine-id",
        "systemd writes the node's own machine id at first boot",
    ),
    (
        Filesystem::Root,
        "/var/lib/dbus/machine-id",
        "D-Bus keeps a copy of the machine id",
    ),
    (
        Filesystem::Root,
        "/etc/ssh/ssh_host_*",
        "Raspberry Pi OS regenerates the SSH host keys on each node at first boot",
    ),
    (
        Filesystem::Root,
        "/etc/passwd",
        "maintainer scripts run at first boot add system users",
    ),
    (
        Filesystem::Root,
        "/etc/passwd-",
        "the backup shadow-utils writes beside /etc/passwd",
    ),
    (
        Filesystem::Root,
        "/etc/group",
        "maintainer scripts run at first boot add system groups",
    ),
    (
        Filesystem::Root,
        "/etc/group-",
        "the backup shadow-utils writes beside /etc/group",
    ),
    (
        Filesystem::Root,
        "/etc/shadow",
        "changes with /etc/passwd (and with every password change)",
    ),
    (
        Filesystem::Root,
        "/etc/shadow-",
        "the backup shadow-utils writes beside /etc/shadow",
    ),
    (Filesystem::Root, "/etc/gshadow", "changes with /etc/group"),
    (
        Filesystem::Root,
        "/etc/gshadow-",
        "the backup shadow-utils writes beside /etc/gshadow",
    ),
    (
        Filesystem::Root,
        "/etc/subuid",
        "adduser gives new users subordinate ids",
    ),
    (
        Filesystem::Root,
        "/etc/subuid-",
        "the backup beside /etc/subuid",
    ),
    (
        Filesystem::Root,
        "/etc/subgid",
        "adduser gives new users subordinate ids",
    ),
    (
        Filesystem::Root,
        "/etc/subgid-",
        "the backup beside /etc/subgid",
    ),
    (
        Filesystem::Root,
        "/etc/ld.so.cache",
        "ldconfig rebuilds it when packages are configured at first boot",
    ),
    (
        Filesystem::Root,
        "/etc/alternatives/**",
        "update-alternatives in maintainer scripts sets these links",
    ),
    (
        Filesystem::Root,
        "/etc/ssl/certs/**",
        "update-ca-certificates rebuilds the hashed links and the bundle on configure",
    ),
    (
        Filesystem::Root,
        "/etc/systemd/system/*.wants/**",
        "maintainer scripts enable their services at first boot, and the first-boot unit removes its own link",
    ),
    (
        Filesystem::Root,
        "/etc/rc*.d/**",
        "update-rc.d (insserv on old generations) renumbers the init script links on configure",
    ),
    (
        Filesystem::Root,
        "/etc/console-setup/cached_*",
        "console-setup caches the keyboard and font setup at boot",
    ),
    (
        Filesystem::Root,
        "/etc/resolv.conf",
        "the DHCP client or resolvconf writes the name servers it is given",
    ),
    (
        Filesystem::Root,
        "/etc/fake-hwclock.data",
        "a Pi has no clock: fake-hwclock saves the time hourly and at shutdown",
    ),
    (Filesystem::Root, "/var/log/**", "logs"),
    (
        Filesystem::Root,
        "/var/lib/dpkg/**",
        "dpkg --configure -a at first boot rewrites the package database",
    ),
    (
        Filesystem::Root,
        "/var/lib/apt/**",
        "apt's lists and state change with every update",
    ),
    (
        Filesystem::Root,
        "/var/lib/ucf/**",
        "ucf records configuration files as maintainer scripts install them",
    ),
    (
        Filesystem::Root,
        "/var/lib/systemd/**",
        "systemd state: random seed, timer stamps, clock, enabled-unit records",
    ),
    (
        Filesystem::Root,
        "/var/lib/private/**",
        "state of services run with DynamicUser=",
    ),
    (
        Filesystem::Root,
        "/var/lib/urandom/**",
        "the random seed saved by old (sysvinit-era) generations",
    ),
    (Filesystem::Root, "/var/lib/dhcp/**", "DHCP leases"),
    (
        Filesystem::Root,
        "/var/lib/dhcpcd/**",
        "DHCP leases (dhcpcd)",
    ),
    (
        Filesystem::Root,
        "/var/lib/dhcpcd5/**",
        "DHCP leases (dhcpcd5 on old generations)",
    ),
    (
        Filesystem::Root,
        "/var/lib/NetworkManager/**",
        "NetworkManager's leases and state",
    ),
    (
        Filesystem::Root,
        "/var/lib/logrotate/**",
        "logrotate's record of its last run",
    ),
    (
        Filesystem::Root,
        "/var/lib/php/sessions/**",
        "PHP session files",
    ),
    (
        Filesystem::Root,
        "/var/lib/php5/sessions/**",
        "PHP session files (php5 on old generations)",
    ),
    (
        Filesystem::Root,
        "/var/lib/pi-imager/**",
        "the first-boot unit removes its pending flag when it has finished",
    ),
    (
        Filesystem::Root,
        "/var/cache/**",
        "caches (apt, man-db, debconf, fontconfig)",
    ),
    (
        Filesystem::Root,
        "/var/backups/**",
        "the daily backups of the package database and account files",
    ),
    (
        Filesystem::Root,
        "/var/tmp/**",
        "temporary files that survive reboots",
    ),
    (Filesystem::Root, "/tmp/**", "temporary files"),
    (
        Filesystem::Root,
        "/var/swap",
        "dphys-swapfile creates the swap file at boot",
    ),
    (
        Filesystem::Boot,
        "/ssh",
        "the flag file that enables SSH: the node deletes it once SSH is enabled",
    ),
    (
        Filesystem::Boot,
        "/ssh.txt",
        "the same flag under its other name",
    ),
    (
        Filesystem::Boot,
        "/userconf.txt",
        "read and deleted at first boot by the user setup of newer generations",
    ),
    (
        Filesystem::Boot,
        "/wpa_supplicant.conf",
        "moved into /etc at first boot by old generations",
    ),
];

/// A path pattern: `/`-separated components where `*` matches any run of bytes inside one
/// component, and a last component `**` matches everything below the directory before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    components: Vec<Vec<u8>>,
    below: bool,
}

/// Why a pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a path pattern: it must start with `/`, have no empty, `.` or `..` component, and use `**` only as its last component"
)]
pub struct BadPattern(pub String);

impl Pattern {
    /// Parses `/var/log/**`, `/etc/ssh/ssh_host_*` or a plain path.
    pub fn parse(text: &str) -> Result<Self, BadPattern> {
        let bad = || BadPattern(text.chars().take(200).collect());
        let rest = text.strip_prefix('/').ok_or_else(bad)?;
        let mut components: Vec<Vec<u8>> = rest.split('/').map(|c| c.as_bytes().to_vec()).collect();
        let below = components.last().is_some_and(|c| c == b"**");
        if below {
            components.pop();
        }
        let valid = |c: &Vec<u8>| {
            !c.is_empty()
                && c != b"."
                && c != b".."
                && !c.contains(&0)
                && !c.windows(2).any(|w| w == b"**")
        };
        if components.is_empty() || !components.iter().all(valid) {
            return Err(bad());
        }
        Ok(Self {
            text: text.to_string(),
            components,
            below,
        })
    }

    /// Whether `path` (absolute, `/a/b`) matches.
    pub fn matches(&self, path: &[u8]) -> bool {
        let Some(rest) = path.strip_prefix(b"/") else {
            return false;
        };
        let parts: Vec<&[u8]> = rest.split(|b| *b == b'/').collect();
        let n = self.components.len();
        let depth_ok = if self.below {
            parts.len() > n
        } else {
            parts.len() == n
        };
        depth_ok
            && self
                .components
                .iter()
                .zip(&parts)
                .all(|(pattern, part)| glob(pattern, part))
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// `*`-only globbing of one component, iterative so that no pattern costs more than
/// `pattern.len() * name.len()` steps.
fn glob(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(c) if name.get(n) == Some(c) => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    p = sp + 1;
                    n = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .is_some_and(|tail| tail.iter().all(|c| *c == b'*'))
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Pattern {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Pattern::parse(&text).map_err(de::Error::custom)
    }
}

/// One rule: paths of `filesystem` matching `pattern` change on a running node.
#[derive(Debug, Clone, PartialEq, Eq, DeriveSerialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeRule {
    /// The filesystem the rule is about.
    pub filesystem: Filesystem,
    /// The paths.
    pub pattern: Pattern,
    /// Why the node changes them, for the person reading a `verify` report.
    pub why: String,
}

impl ChangeRule {
    /// Whether the rule covers `path` of `filesystem`.
    pub fn matches(&self, filesystem: Filesystem, path: &[u8]) -> bool {
        self.filesystem == filesystem && self.pattern.matches(path)
    }
}

/// The rules this version of pi-imager writes into its manifests.
pub fn builtin_rules() -> Vec<ChangeRule> {
    RULES
        .iter()
        .filter_map(|(filesystem, pattern, why)| {
            Some(ChangeRule {
                filesystem: *filesystem,
                pattern: Pattern::parse(pattern).ok()?,
                why: (*why).to_string(),
            })
        })
        .collect()
}

/// Whether a running node changes `path` (absolute, `/etc/machine-id`) of `filesystem` by
/// itself, by this version's rules.
pub fn is_expected_to_change(filesystem: Filesystem, path: &str) -> bool {
    RULES.iter().any(|(fs, pattern, _)| {
        *fs == filesystem && Pattern::parse(pattern).is_ok_and(|p| p.matches(path.as_bytes()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apt::firstboot::{LINK_PATH, PENDING_PATH};

    #[test]
    fn every_builtin_pattern_parses() {
        assert_eq!(builtin_rules().len(), RULES.len());
    }

    #[test]
    fn what_a_running_node_changes() {
        let root = |p: &str| is_expected_to_change(Filesystem::Root, p);
        for changes in [
            "/etc/machine-id",
            "/var/lib/dbus/machine-id",
            "/etc/ssh/ssh_host_ed25519_key",
            "/etc/ssh/ssh_host_rsa_key.pub",
            "/etc/passwd",
            "/etc/shadow-",
            "/etc/ld.so.cache",
            "/etc/alternatives/php",
            "/var/log/syslog",
            "/var/log/nginx/access.log",
            "/var/lib/dpkg/status",
            "/var/lib/dpkg/info/nginx.list",
            "/var/cache/man/index.db",
            "/var/lib/systemd/random-seed",
            "/etc/rc2.d/S01nginx",
            "/etc/systemd/system/multi-user.target.wants/nginx.service",
            "/tmp/x",
        ] {
            assert!(root(changes), "{changes}");
        }
        for stays in [
            "/etc/ssh/sshd_config",
            "/etc/ssh/sshd_config.d/pi-imager.conf",
            "/etc/hostname",
            "/var/log",
            "/var/logx/a",
            "/etc/passwd.bak",
            "/etc/machine-id/x",
            "/usr/bin/ssh_host_x",
            "/etc/systemd/system/nginx.service",
            "/etc/nginx/nginx.conf",
            "/var/www/html/index.html",
        ] {
            assert!(!root(stays), "{stays}");
        }
        assert!(!is_expected_to_change(Filesystem::Boot, "/var/log/x"));
        assert!(!is_expected_to_change(Filesystem::Boot, "/config.txt"));
        assert!(!is_expected_to_change(Filesystem::Boot, "/cmdline.txt"));
        assert!(is_expected_to_change(Filesystem::Boot, "/ssh"));
        assert!(!is_expected_to_change(Filesystem::Root, "/ssh"));
    }

    #[test]
    fn the_first_boot_units_own_traces_are_covered() {
        for path in [LINK_PATH, PENDING_PATH] {
            assert!(
                is_expected_to_change(Filesystem::Root, &format!("/{path}")),
                "{path}"
            );
        }
    }

    #[test]
    fn patterns_refuse_what_they_cannot_mean() {
        for bad in [
            "",
            "var/log/**",
            "/",
            "/var//log",
            "/var/**/x",
            "/a/../b",
            "/**",
            "/a/x**",
        ] {
            assert!(Pattern::parse(bad).is_err(), "{bad}");
        }
        let p = Pattern::parse("/etc/rc*.d/**").unwrap();
        assert!(p.matches(b"/etc/rcS.d/S01x"));
        assert!(!p.matches(b"/etc/rcS.d"));
        assert!(glob(b"a*b*c", b"aXXbYYc"));
        assert!(!glob(b"a*b*c", b"aXXbYY"));
        assert!(glob(b"*", b""));
    }
}
