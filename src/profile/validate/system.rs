//! Validation of the node's own settings shared by the fleet: `[swap]`, `[[mount]]`,
//! `[system]`, `[[user]]`, `[ssh]` and `[web]`.

use std::collections::{BTreeMap, BTreeSet};

use toml::Spanned;

use super::Ctx;
use crate::profile::credentials::{check_crypt_hash, check_ssh_key};
use crate::profile::model::{
    Device, MaxChildren, Mount, MountImage, Packages, Ssh, Swap, System, User, Web, WebServer,
};
use crate::profile::names::{
    check_account_name, check_locale, check_node_path, check_sysctl_key, check_timezone,
    check_unit_name,
};
use crate::profile::raw::{RawMount, RawProfile};
use crate::profile::size::Size;
use crate::profile::source::{Allowed, Expect, Source};
use crate::profile::suggest::{did_you_mean, one_of};

/// Filesystems a `[[mount]]` may name: those Raspberry Pi OS kernels mount from a USB drive.
const FSTYPES: &[&str] = &[
    "ext4", "ext3", "ext2", "vfat", "exfat", "btrfs", "xfs", "f2fs",
];

/// Mount points that belong to the card's own partitions.
const RESERVED_MOUNTS: &[&str] = &["/boot", "/boot/firmware", "/proc", "/sys", "/dev", "/run"];

pub(super) fn swap(ctx: &mut Ctx<'_, '_>, raw: &RawProfile) -> Swap {
    let Some(section) = &raw.swap else {
        return Swap::default();
    };
    let swap = section.get_ref();
    let enabled = swap.enabled.as_ref().is_some_and(|v| *v.get_ref());
    if let Some(v) = swap.enabled.as_ref().filter(|v| *v.get_ref()) {
        ctx.warning(
            v.span(),
            "swap.enabled",
            "swap on the SD card is what wore out and crashed the seed's node; prefer `zram`",
        );
    }
    let zram = ctx.parse_opt(&swap.zram, "swap.zram", |t| {
        let size = Size::parse(t)?;
        if size.bytes() < 1 << 20 {
            return Err(format!("{size} is too small for zram; use at least 1MiB"));
        }
        Ok(size)
    });
    Swap { enabled, zram }
}

fn parse_device(text: &str) -> Result<Device, String> {
    let is_uuid = |u: &str| {
        let groups: Vec<&str> = u.split('-').collect();
        let lens: Vec<usize> = groups.iter().map(|g| g.len()).collect();
        let hex = groups
            .iter()
            .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()));
        hex && (lens == [8, 4, 4, 4, 12] || lens == [4, 4] || lens == [8, 2] || lens == [16])
    };
    let (kind, value) = text.split_once('=').ok_or_else(|| {
        if text.starts_with("/dev/") {
            format!("`{text}` names a kernel device, whose name changes with the order drives appear; use `LABEL=`, `UUID=` or `PARTUUID=`")
        } else {
            format!("`{text}` is not a device; use `LABEL=…`, `UUID=…` or `PARTUUID=…`")
        }
    })?;
    match kind {
        "LABEL"
            if !value.is_empty()
                && value.len() <= 16
                && !value.contains(char::is_whitespace)
                && !value.contains('/') =>
        {
            Ok(Device::Label(value.to_string()))
        }
        "LABEL" => Err(format!(
            "`{value}` is not a usable label: 1 to 16 bytes, no spaces or `/`"
        )),
        "UUID" if is_uuid(value) => Ok(Device::Uuid(value.to_ascii_lowercase())),
        "PARTUUID" if is_uuid(value) => Ok(Device::PartUuid(value.to_ascii_lowercase())),
        "UUID" | "PARTUUID" => Err(format!("`{value}` is not a {kind}")),
        other => Err(format!(
            "`{other}=` is not a device kind; use `LABEL=`, `UUID=` or `PARTUUID=`{}",
            did_you_mean(other, ["LABEL", "UUID", "PARTUUID"])
        )),
    }
}

pub(super) fn mounts(ctx: &mut Ctx<'_, '_>, raw: &RawProfile) -> Vec<Mount> {
    let mut paths = BTreeSet::new();
    let mut out = Vec::new();
    for (i, section) in raw.mount.iter().enumerate() {
        let prefix = format!("mount[{i}]");
        if let Some(mount) = mount(ctx, section, &prefix) {
            if !paths.insert(mount.path.clone()) {
                let span = section
                    .get_ref()
                    .path
                    .as_ref()
                    .map_or(section.span(), Spanned::span);
                ctx.error(
                    span,
                    &format!("{prefix}.path"),
                    format!("`{}` is mounted twice", mount.path),
                );
                continue;
            }
            out.push(mount);
        }
    }
    out
}

fn mount(ctx: &mut Ctx<'_, '_>, section: &Spanned<RawMount>, prefix: &str) -> Option<Mount> {
    let raw = section.get_ref();
    let key = |k: &str| format!("{prefix}.{k}");
    let path = match &raw.path {
        Some(v) => ctx.parse(v, &key("path"), |t| {
            check_node_path(t)?;
            if RESERVED_MOUNTS
                .iter()
                .any(|r| t == *r || t.starts_with(&format!("{r}/")))
            {
                return Err(format!(
                    "`{t}` belongs to the card or the kernel; mount the drive elsewhere"
                ));
            }
            Ok(t.to_string())
        }),
        None => {
            ctx.missing(section.span(), &key("path"), ", such as `/var/www`");
            None
        }
    };
    let device = match &raw.device {
        Some(v) => ctx.parse(v, &key("device"), parse_device),
        None => {
            ctx.missing(section.span(), &key("device"), ", such as `LABEL=www`");
            None
        }
    };
    let fstype = match &raw.fstype {
        Some(v) => ctx.parse(v, &key("fstype"), |t| {
            if FSTYPES.contains(&t) {
                Ok(t.to_string())
            } else {
                Err(format!(
                    "`{t}` is not one of {}{}",
                    one_of(FSTYPES),
                    did_you_mean(t, FSTYPES.iter().copied())
                ))
            }
        }),
        None => {
            ctx.missing(section.span(), &key("fstype"), ", such as `ext4`");
            None
        }
    };
    let options = ctx.list(&raw.options, &key("options"), |ctx, v, k| {
        ctx.parse(v, k, |t| {
            if t.is_empty() || t.contains([',', ' ', '\t', '\n']) {
                Err(format!(
                    "`{t}` is not one mount option; list each option as its own string"
                ))
            } else if t == "defaults" {
                Err("`defaults` is always there; list only the options to add".to_string())
            } else {
                Ok(t.to_string())
            }
        })
    });
    let required_by = ctx.list(&raw.required_by, &key("required_by"), |ctx, v, k| {
        ctx.parse(v, k, |t| {
            check_unit_name(t)?;
            Ok(if t.ends_with(".service") {
                t.to_string()
            } else {
                format!("{t}.service")
            })
        })
    });
    let image = match &raw.image {
        Some(image) => {
            let image_key = key("image");
            let size = match &image.get_ref().size {
                Some(v) => ctx.parse(v, &format!("{image_key}.size"), |t| {
                    let size = Size::parse(t)?;
                    if size.bytes() < 8 << 20 {
                        return Err(format!(
                            "{size} is too small for an ext4 drive image; use at least 8MiB"
                        ));
                    }
                    Ok(size)
                }),
                None => {
                    ctx.missing(
                        image.span(),
                        &format!("{image_key}.size"),
                        ", such as `32GB`",
                    );
                    None
                }
            };
            let dir = ctx.dir.to_path_buf();
            let content = ctx.parse_opt(
                &image.get_ref().content,
                &format!("{image_key}.content"),
                |t| match Source::parse(t, &dir, Allowed::AnyUrl, Expect::Directory)? {
                    Source::Path(p) => Ok(p),
                    Source::Url(_) => Err(
                        "the drive's content is a directory beside the profile, not a URL"
                            .to_string(),
                    ),
                },
            );
            if fstype.as_deref().is_some_and(|f| f != "ext4") {
                let span = raw.fstype.as_ref().map_or(section.span(), Spanned::span);
                ctx.error(
                    span,
                    &key("fstype"),
                    "a drive image (`[mount.image]`) is written as ext4; set `fstype = \"ext4\"`",
                );
            }
            if matches!(device, Some(Device::PartUuid(_))) {
                let span = raw.device.as_ref().map_or(section.span(), Spanned::span);
                ctx.error(span, &key("device"), "a drive image is a bare filesystem without partitions; name it by `LABEL=` or `UUID=`");
            }
            if image.get_ref().content.is_some() && content.is_none() {
                return None;
            }
            Some(MountImage {
                size: size?,
                content,
            })
        }
        None => None,
    };
    if let (Some(opts), Some(path)) = (&raw.options, &path) {
        let has_nofail = opts.get_ref().iter().any(|o| o.get_ref() == "nofail");
        if !has_nofail {
            ctx.warning(
                opts.span(),
                &key("options"),
                format!(
                    "without `nofail` the node stops booting when the drive for `{path}` is missing"
                ),
            );
        }
    }
    Some(Mount {
        path: path?,
        device: device?,
        fstype: fstype?,
        options,
        required_by,
        image,
    })
}

pub(super) fn system(ctx: &mut Ctx<'_, '_>, raw: &RawProfile) -> System {
    let Some(section) = &raw.system else {
        return System::default();
    };
    let system = section.get_ref();
    let timezone = ctx.parse_opt(&system.timezone, "system.timezone", |t| {
        check_timezone(t).map(|()| t.to_string())
    });
    let locale = ctx.parse_opt(&system.locale, "system.locale", |t| {
        check_locale(t).map(|()| t.to_string())
    });
    let mut sysctl = BTreeMap::new();
    for (name, value) in system.sysctl.iter().flat_map(|m| m.get_ref()) {
        let key = format!("system.sysctl.\"{}\"", name.get_ref());
        let name_ok = ctx.parse(name, &key, check_sysctl_key).is_some();
        let text = match value.get_ref() {
            toml::Value::String(s) if !s.is_empty() && !s.contains(['\n', '\r']) => Some(s.clone()),
            toml::Value::Integer(i) => Some(i.to_string()),
            toml::Value::Boolean(b) => Some(u8::from(*b).to_string()),
            _ => {
                ctx.error(
                    value.span(),
                    &key,
                    "a sysctl value is a number or a one-line string",
                );
                None
            }
        };
        if let (true, Some(text)) = (name_ok, text) {
            sysctl.insert(name.get_ref().clone(), text);
        }
    }
    let mut memory_max = BTreeMap::new();
    for (unit, size) in system.memory_max.iter().flat_map(|m| m.get_ref()) {
        let key = format!("system.memory_max.\"{}\"", unit.get_ref());
        let unit_name = ctx.parse(unit, &key, |t| {
            check_unit_name(t)?;
            Ok(if t.ends_with(".service") {
                t.to_string()
            } else {
                format!("{t}.service")
            })
        });
        let size = ctx.parse(size, &key, Size::parse);
        if let (Some(unit_name), Some(size)) = (unit_name, size) {
            memory_max.insert(unit_name, size);
        }
    }
    System {
        timezone,
        locale,
        sysctl,
        memory_max,
    }
}

pub(super) fn users(ctx: &mut Ctx<'_, '_>, raw: &RawProfile) -> Vec<User> {
    let mut names = BTreeSet::new();
    let mut out = Vec::new();
    for (i, section) in raw.user.iter().enumerate() {
        let prefix = format!("user[{i}]");
        let user = section.get_ref();
        let name = match &user.name {
            Some(v) => ctx.parse(v, &format!("{prefix}.name"), |t| {
                check_account_name(t, "user").map(|()| t.to_string())
            }),
            None => {
                ctx.missing(section.span(), &format!("{prefix}.name"), "");
                None
            }
        };
        if let Some(name) = &name
            && !names.insert(name.clone())
        {
            let span = user.name.as_ref().map_or(section.span(), Spanned::span);
            ctx.error(
                span,
                &format!("{prefix}.name"),
                format!("user `{name}` is defined twice"),
            );
        }
        let groups = ctx.list(&user.groups, &format!("{prefix}.groups"), |ctx, v, key| {
            ctx.parse(v, key, |t| {
                check_account_name(t, "group").map(|()| t.to_string())
            })
        });
        let ssh_keys = ctx.list(
            &user.ssh_keys,
            &format!("{prefix}.ssh_keys"),
            |ctx, v, key| ctx.parse(v, key, |t| check_ssh_key(t).map(|()| t.trim().to_string())),
        );
        if let Some(password) = &user.password {
            ctx.error(
                password.span(),
                &format!("{prefix}.password"),
                "clear-text passwords are not accepted; write `password_hash` with a crypt(5) hash (`mkpasswd -m sha-512`)",
            );
        }
        let password_hash = ctx.parse_opt(
            &user.password_hash,
            &format!("{prefix}.password_hash"),
            |t| check_crypt_hash(t).map(|()| t.to_string()),
        );
        if let Some(name) = name {
            out.push(User {
                name,
                groups,
                ssh_keys,
                password_hash,
            });
        }
    }
    out
}

pub(super) fn ssh(ctx: &mut Ctx<'_, '_>, raw: &RawProfile, users: &[User]) -> Ssh {
    let Some(section) = &raw.ssh else {
        return Ssh {
            enabled: false,
            password_auth: true,
        };
    };
    let ssh = Ssh {
        enabled: section
            .get_ref()
            .enabled
            .as_ref()
            .is_some_and(|v| *v.get_ref()),
        password_auth: section
            .get_ref()
            .password_auth
            .as_ref()
            .is_none_or(|v| *v.get_ref()),
    };
    if ssh.enabled && !ssh.password_auth && users.iter().all(|u| u.ssh_keys.is_empty()) {
        ctx.warning(
            section.span(),
            "ssh",
            "SSH is on with password login off, but no [[user]] has `ssh_keys`: only users already in the base image can log in",
        );
    }
    ssh
}

pub(super) fn web(ctx: &mut Ctx<'_, '_>, raw: &RawProfile, packages: &Packages) -> Option<Web> {
    let section = raw.web.as_ref()?;
    let web = section.get_ref();
    let server = match &web.server {
        Some(v) => ctx.keyword::<WebServer>(v, "web.server"),
        None => {
            ctx.missing(
                section.span(),
                "web.server",
                ": `nginx`, `apache2` or `lighttpd`",
            );
            None
        }
    };
    let php = ctx.parse_opt(&web.php, "web.php", |t| {
        let valid = t.split_once('.').is_some_and(|(major, minor)| {
            !major.is_empty()
                && !minor.is_empty()
                && major
                    .bytes()
                    .chain(minor.bytes())
                    .all(|b| b.is_ascii_digit())
        });
        if valid {
            Ok(t.to_string())
        } else {
            Err(format!("`{t}` is not a PHP version such as `7.0` or `8.2`"))
        }
    });
    let php_max_children = match &web.php_max_children {
        None => Some(MaxChildren::Auto),
        Some(v) => match v.get_ref() {
            toml::Value::String(s) if s == "auto" => Some(MaxChildren::Auto),
            toml::Value::Integer(n) if (1..=1024).contains(n) => {
                u32::try_from(*n).ok().map(MaxChildren::Fixed)
            }
            _ => {
                ctx.error(v.span(), "web.php_max_children", "use `\"auto\"` (sized from the board's RAM) or a number of children from 1 to 1024");
                None
            }
        },
    };
    if web.php_max_children.is_some() && web.php.is_none() {
        let span = web
            .php_max_children
            .as_ref()
            .map_or(section.span(), Spanned::span);
        ctx.warning(span, "web.php_max_children", "has no effect without `php`");
    }
    if let (Some(server), true) = (server, !packages.install.is_empty()) {
        let names = server_packages(server);
        let installs_server = packages.install.iter().any(|p| {
            names
                .iter()
                .any(|n| p.name == *n || p.name.starts_with(&format!("{n}-")))
        });
        if !installs_server {
            let span = web.server.as_ref().map_or(section.span(), Spanned::span);
            ctx.warning(
                span,
                "web.server",
                format!(
                    "`{server}` is not in packages.install; the base image must already have it"
                ),
            );
        }
    }
    if let (Some(php), true) = (&php, !packages.install.is_empty())
        && !packages
            .install
            .iter()
            .any(|p| p.name.starts_with("php") && p.name.ends_with("-fpm"))
    {
        let span = web.php.as_ref().map_or(section.span(), Spanned::span);
        ctx.warning(span, "web.php", format!("no PHP-FPM package (such as `php{php}-fpm`) is in packages.install; the base image must already have it"));
    }
    Some(Web {
        server: server?,
        php,
        php_max_children: php_max_children?,
    })
}

fn server_packages(server: WebServer) -> &'static [&'static str] {
    match server {
        WebServer::Nginx => &["nginx"],
        WebServer::Apache2 => &["apache2"],
        WebServer::Lighttpd => &["lighttpd"],
    }
}
