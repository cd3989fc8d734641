//! The node's identity and environment in `/etc`: host name (`/etc/hostname` and the
//! `127.0.1.1` line of `/etc/hosts`), time zone (`/etc/timezone`, the `/etc/localtime`
//! link), locale (`/etc/default/locale`, `/etc/locale.gen`) and kernel parameters
//! (`/etc/sysctl.d/99-pi-imager.conf`).
//!
//! The base's files are edited in place, keeping their other lines, mode and owner. This
//! module does not compile locales: the build host cannot run the image's `localedef`, so a
//! locale the base has not generated is enabled in `/etc/locale.gen` and left to the
//! first-boot unit's `locale-gen` step. Users, SSH and services are other modules' work.

use super::{EditError, Editor, NodeContext};
use crate::apt::firstboot;
use crate::profile::Generation;
use crate::tree::{Inode, Kind};

/// The kernel parameters file. systemd-sysctl applies every `sysctl.d` file in name order and
/// the last assignment of a key wins, so the name sorts after the files packages ship
/// (Raspberry Pi OS's own `98-rpi.conf` sets `vm.min_free_kbytes`) and before
/// `99-sysctl.conf`, the administrator's `/etc/sysctl.conf`.
pub const SYSCTL_PATH: &str = "/etc/sysctl.d/99-pi-imager.conf";

/// Why a system setting could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SystemError {
    /// A file could not be read or written.
    #[error(transparent)]
    Edit(#[from] EditError),
    /// The time zone has no zone file in the image's tzdata.
    #[error(
        "time zone `{zone}` is not in the image: /usr/share/zoneinfo/{zone} is missing; use a zone this generation's tzdata has (`timedatectl list-timezones` on such a node lists them)"
    )]
    UnknownTimezone {
        /// The zone named by the profile.
        zone: String,
    },
    /// The locale is not one the image's glibc can generate.
    #[error(
        "locale `{locale}` is not listed in the image's /usr/share/i18n/SUPPORTED; use a locale listed there, such as `en_GB.UTF-8`"
    )]
    UnsupportedLocale {
        /// The locale named by the profile.
        locale: String,
    },
    /// The locale needs generating and the image cannot generate locales.
    #[error(
        "locale `{locale}` must be generated on the node, but the image has no `locales` package (/usr/share/i18n/SUPPORTED is missing); add `locales` to packages.install or use `C.UTF-8`"
    )]
    NoLocalesPackage {
        /// The locale named by the profile.
        locale: String,
    },
}

/// Writes the host name, time zone, locale and sysctl settings of `ctx` into `root`.
pub fn apply(root: &mut Editor, ctx: &NodeContext) -> Result<(), SystemError> {
    hostname(root, &ctx.node.hostname)?;
    let system = ctx.profile.system();
    if let Some(zone) = &system.timezone {
        timezone(root, zone, ctx.generation)?;
    }
    if let Some(locale) = &system.locale {
        self::locale(root, locale)?;
    }
    if !system.sysctl.is_empty() {
        let mut text = String::from(
            "# Written by pi-imager from the profile's [system] sysctl.\n\
             # Applied at boot by systemd-sysctl, after the packages' own sysctl.d files.\n",
        );
        for (key, value) in &system.sysctl {
            text.push_str(&format!("{key} = {value}\n"));
        }
        root.write(SYSCTL_PATH, text, 0o644)?;
    }
    Ok(())
}

/// Replaces the text of `path`, keeping the mode and owner of the file already there;
/// a new file is root-owned with `mode`.
pub(super) fn rewrite(
    root: &mut Editor,
    path: &str,
    text: impl Into<Vec<u8>>,
    mode: u32,
) -> Result<(), EditError> {
    let (mode, uid, gid) = match root.inode(path)? {
        Some(
            inode @ Inode {
                kind: Kind::File { .. },
                ..
            },
        ) => (inode.mode, inode.uid, inode.gid),
        _ => (mode, 0, 0),
    };
    root.write_owned(path, text, mode, uid, gid)
}

/// `/etc/hostname`, and the `127.0.1.1` line of `/etc/hosts` that Debian uses to map the
/// host's own name (the base's `raspberrypi` line is replaced, the others kept).
fn hostname(root: &mut Editor, name: &str) -> Result<(), SystemError> {
    rewrite(root, "/etc/hostname", format!("{name}\n"), 0o644)?;
    let line = match name.split_once('.') {
        Some((short, _)) => format!("127.0.1.1\t{name} {short}"),
        None => format!("127.0.1.1\t{name}"),
    };
    let hosts = root.read_text("/etc/hosts")?.unwrap_or_else(|| {
        "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n".to_owned()
    });
    rewrite(root, "/etc/hosts", set_hosts_line(&hosts, &line), 0o644)?;
    Ok(())
}

/// `hosts` with every `127.0.1.1` line replaced by `line` (one kept), or `line` added after
/// the `127.0.0.1` line when there is none.
fn set_hosts_line(hosts: &str, line: &str) -> String {
    let is_own = |l: &str| l.split_whitespace().next() == Some("127.0.1.1");
    let mut out = Vec::new();
    let mut placed = false;
    for l in hosts.lines() {
        if is_own(l) {
            if !placed {
                out.push(line.to_owned());
                placed = true;
            }
        } else {
            out.push(l.to_owned());
        }
    }
    if !placed {
        let at = out
            .iter()
            .position(|l| l.split_whitespace().next() == Some("127.0.0.1"))
            .map_or(out.len(), |i| i + 1);
        out.insert(at, line.to_owned());
    }
    let mut text = out.join("\n");
    text.push('\n');
    text
}

/// The `/etc/localtime` link and `/etc/timezone`. tzdata in trixie no longer keeps
/// `/etc/timezone`, so it is written only where the generation (or the base) has one.
fn timezone(root: &mut Editor, zone: &str, generation: Generation) -> Result<(), SystemError> {
    let zone_file = format!("/usr/share/zoneinfo/{zone}");
    let present = matches!(
        root.inode(&zone_file)?,
        Some(Inode {
            kind: Kind::File { .. },
            ..
        })
    );
    if !present {
        return Err(SystemError::UnknownTimezone {
            zone: zone.to_owned(),
        });
    }
    root.symlink("/etc/localtime", &zone_file)?;
    if generation < Generation::Trixie || root.exists("/etc/timezone")? {
        rewrite(root, "/etc/timezone", format!("{zone}\n"), 0o644)?;
    }
    Ok(())
}

/// `LANG=` in `/etc/default/locale` and the locale's line in `/etc/locale.gen`; a locale the
/// base has not generated is left to the first-boot unit's `locale-gen`.
fn locale(root: &mut Editor, locale: &str) -> Result<(), SystemError> {
    let current = root.read_text("/etc/default/locale")?.unwrap_or_default();
    rewrite(
        root,
        "/etc/default/locale",
        set_lang(&current, locale),
        0o644,
    )?;
    // C, POSIX and C.UTF-8 are built into libc (C.UTF-8 ships compiled with libc-bin).
    if matches!(locale.split('.').next(), Some("C" | "POSIX")) {
        return Ok(());
    }
    let gen_text = root.read_text("/etc/locale.gen")?.unwrap_or_default();
    if enabled_in(&gen_text, locale) && root.exists("/usr/lib/locale/locale-archive")? {
        return Ok(());
    }
    let Some(supported) = root.read_text("/usr/share/i18n/SUPPORTED")? else {
        return Err(SystemError::NoLocalesPackage {
            locale: locale.to_owned(),
        });
    };
    let Some(entry) = supported
        .lines()
        .find(|l| l.split_whitespace().next() == Some(locale))
    else {
        return Err(SystemError::UnsupportedLocale {
            locale: locale.to_owned(),
        });
    };
    let entry = entry.split_whitespace().collect::<Vec<_>>().join(" ");
    rewrite(
        root,
        "/etc/locale.gen",
        enable_locale(&gen_text, &entry),
        0o644,
    )?;
    request_locale_gen(root)?;
    Ok(())
}

/// `/etc/default/locale` with `LANG=` set (other variables kept).
fn set_lang(text: &str, locale: &str) -> String {
    let mut out: Vec<String> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("LANG="))
        .map(str::to_owned)
        .collect();
    let at = out
        .iter()
        .position(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .unwrap_or(out.len());
    out.insert(at, format!("LANG={locale}"));
    let mut text = out.join("\n");
    text.push('\n');
    text
}

/// Whether `locale` has an uncommented line in a `locale.gen` text.
fn enabled_in(gen_text: &str, locale: &str) -> bool {
    gen_text
        .lines()
        .any(|l| l.split_whitespace().next() == Some(locale))
}

/// `locale.gen` with `entry` (`en_GB.UTF-8 UTF-8`) uncommented, or added at the end.
fn enable_locale(gen_text: &str, entry: &str) -> String {
    let name = entry.split_whitespace().next().unwrap_or(entry);
    let mut found = false;
    let mut out: Vec<String> = Vec::new();
    for line in gen_text.lines() {
        let body = line.trim_start().trim_start_matches('#').trim();
        let mut words = body.split_whitespace();
        // Only a commented `name CHARSET` line is a locale entry (not the file's prose).
        let is_entry = words.next() == Some(name) && words.count() == 1;
        if is_entry && !found {
            out.push(entry.to_owned());
            found = true;
        } else {
            out.push(line.to_owned());
        }
    }
    if !found {
        out.push(entry.to_owned());
    }
    let mut text = out.join("\n");
    text.push('\n');
    text
}

/// Asks the first-boot unit to run `locale-gen`, installing the unit if the package stage
/// did not.
fn request_locale_gen(root: &mut Editor) -> Result<(), EditError> {
    let mtime = root.mtime();
    let installed = root.exists(firstboot::UNIT_PATH)?;
    for (path, inode) in firstboot::firstboot_files(&[], mtime) {
        // The package stage's unit and script are kept (its script lists its preinst
        // steps); only what is missing is added, the pending flag included.
        if !installed || (path == firstboot::PENDING_PATH && !root.exists(path)?) {
            root.put(path, inode)?;
        }
    }
    root.write(
        firstboot::LOCALE_GEN_PATH,
        "pi-imager: locales in /etc/locale.gen await locale-gen on first boot\n",
        0o644,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::sample_base::{Fixture, jessie, trixie};

    #[test]
    fn hosts_line_replaced_or_added() {
        let base = "127.0.0.1\tlocalhost\n::1\t\tlocalhost\n\n127.0.1.1\traspberrypi\n";
        assert_eq!(
            set_hosts_line(base, "127.0.1.1\tblog-pi3"),
            "127.0.0.1\tlocalhost\n::1\t\tlocalhost\n\n127.0.1.1\tblog-pi3\n"
        );
        assert_eq!(
            set_hosts_line("127.0.0.1 localhost\n::1 localhost\n", "127.0.1.1\tx"),
            "127.0.0.1 localhost\n127.0.1.1\tx\n::1 localhost\n"
        );
    }

    #[test]
    fn locale_gen_entry_uncommented_once() {
        let text = "# This file lists locales\n# en_GB.UTF-8 UTF-8\n# en_GB ISO-8859-1\n";
        assert_eq!(
            enable_locale(text, "en_GB.UTF-8 UTF-8"),
            "# This file lists locales\nen_GB.UTF-8 UTF-8\n# en_GB ISO-8859-1\n"
        );
        assert_eq!(
            enable_locale("", "de_DE.UTF-8 UTF-8"),
            "de_DE.UTF-8 UTF-8\n"
        );
        assert_eq!(
            set_lang(
                "#  File generated by update-locale\nLANG=en_GB.UTF-8\n",
                "de_DE.UTF-8"
            ),
            "#  File generated by update-locale\nLANG=de_DE.UTF-8\n"
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]
        #[test]
        fn base_texts_of_any_shape_are_edited_without_panic(text in "[ -~\t\n#]{0,200}") {
            let hosts = set_hosts_line(&text, "127.0.1.1\tx");
            proptest::prop_assert_eq!(hosts.matches("127.0.1.1\tx\n").count(), 1);
            let _ = set_lang(&text, "C.UTF-8");
            let enabled = enable_locale(&text, "en_GB.UTF-8 UTF-8");
            proptest::prop_assert!(enabled_in(&enabled, "en_GB.UTF-8"));
        }
    }

    #[test]
    fn jessie_gets_hostname_zone_locale_and_sysctl() {
        let mut fx = Fixture::new(jessie());
        fx.apply(|root, _boot, ctx, _notes| apply(root, ctx).map_err(|e| e.to_string()))
            .unwrap();
        assert_eq!(fx.text("/etc/hostname"), "blog-pi3\n");
        assert!(fx.text("/etc/hosts").contains("127.0.1.1\tblog-pi3\n"));
        assert!(!fx.text("/etc/hosts").contains("raspberrypi"));
        assert_eq!(
            fx.link("/etc/localtime"),
            "/usr/share/zoneinfo/Europe/London"
        );
        assert_eq!(fx.text("/etc/timezone"), "Europe/London\n");
        assert!(
            fx.text("/etc/default/locale")
                .contains("LANG=de_DE.UTF-8\n")
        );
        assert!(fx.text("/etc/locale.gen").contains("\nde_DE.UTF-8 UTF-8\n"));
        // The locale is new to the base: the first-boot unit must generate it.
        assert!(fx.exists(&format!("/{}", firstboot::LOCALE_GEN_PATH)));
        assert!(fx.exists(&format!("/{}", firstboot::UNIT_PATH)));
        assert_eq!(
            fx.text(SYSCTL_PATH).lines().last(),
            Some("vm.min_free_kbytes = 16384")
        );
        assert!(
            fx.changed()
                .contains(&"/etc/sysctl.d/99-pi-imager.conf".to_owned())
        );
    }

    #[test]
    fn trixie_keeps_no_etc_timezone_and_rejects_unknown_zone() {
        let mut fx = Fixture::new(trixie());
        fx.apply(|root, _boot, ctx, _notes| apply(root, ctx).map_err(|e| e.to_string()))
            .unwrap();
        assert!(!fx.exists("/etc/timezone"));
        assert_eq!(
            fx.link("/etc/localtime"),
            "/usr/share/zoneinfo/Europe/London"
        );
        let mut fx = Fixture::with_profile(trixie(), "[system]\ntimezone = \"Mars/Olympus\"\n");
        let err = fx
            .apply(|root, _boot, ctx, _notes| apply(root, ctx).map_err(|e| e.to_string()))
            .unwrap_err();
        assert!(err.contains("Mars/Olympus"), "{err}");
    }
}
