//! The boot files: `cmdline.txt` on the boot partition and the fstab lines of the boot and
//! root partitions, so the card boots by the ids the image writer gives it.
//!
//! `root=` and fstab name the partitions by [`DiskIds`](super::DiskIds) whatever form the
//! base used (`/dev/mmcblk0p2`, `PARTUUID=`, `LABEL=`). The base's first-boot resize and
//! disk-id randomisation are removed (`init=…init_resize.sh`, `init=…firstboot`, the
//! ` resize` word, `resize2fs_once`, `rpi-resize.service`): the image already fills the
//! card and keeps the identity its manifest records. `ipv6.disable=1` goes when the node
//! wants IPv6. Other first-boot work of the base is kept. The network files themselves are
//! the `network` module's.

use super::NodeContext;
use super::config_file::rewrite;
use super::edit::{EditError, Editor};
use super::enablement;
use super::fstab::{Entry, Fstab};
use super::generation::boot_mount_point;
use crate::profile::Ipv6Config;
use crate::tree::TreePath;

/// The init programs of the base's first-boot resize, which would also change the disk id.
const RESIZE_INITS: [&str; 2] = [
    "init=/usr/lib/raspi-config/init_resize.sh",
    "init=/usr/lib/raspberrypi-sys-mods/firstboot",
];

/// Mount points a base's fstab gives the boot partition.
const BOOT_MOUNT_POINTS: [&str; 2] = ["/boot", "/boot/firmware"];

/// Why the boot files could not be written.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    /// The boot partition has no cmdline.txt.
    #[error(
        "the base image's boot partition has no cmdline.txt, so the kernel would not know its root filesystem; use a Raspberry Pi OS image as the base"
    )]
    NoCmdline,
    /// A file could not be read or written.
    #[error(transparent)]
    Edit(#[from] EditError),
}

/// Writes cmdline.txt and the boot and root fstab lines, and removes the first-boot resize.
pub fn apply(root: &mut Editor, boot: &mut Editor, ctx: &NodeContext) -> Result<(), BootError> {
    let name = cmdline_name(boot).ok_or(BootError::NoCmdline)?;
    let text = boot.read_text(&name)?.ok_or(BootError::NoCmdline)?;
    let wants_ipv6 = ctx.node.network.ipv6 != Ipv6Config::Off;
    rewrite(
        boot,
        &name,
        &cmdline(&text, &ctx.ids.root, wants_ipv6),
        0o755,
    )?;
    fstab(root, ctx)?;
    remove_resize(root)?;
    Ok(())
}

/// cmdline.txt's path on the boot partition: FAT names are case-insensitive, and a file
/// copied by a tool that stores bare 8.3 names reads back as `CMDLINE.TXT`.
fn cmdline_name(boot: &Editor) -> Option<String> {
    boot.tree()
        .children(&TreePath::root())
        .map(|(path, _)| path)
        .find(|path| {
            path.file_name()
                .is_some_and(|n| n.eq_ignore_ascii_case(b"cmdline.txt"))
        })
        .map(ToString::to_string)
}

/// The kernel command line with `root=` naming `root` and the resize and (when IPv6 is
/// wanted) `ipv6.disable=1` words removed. Only the first line is read by the firmware;
/// any others are kept as they are.
pub fn cmdline(text: &str, root: &str, wants_ipv6: bool) -> String {
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    let mut words: Vec<String> = Vec::new();
    let mut has_root = false;
    for word in first.split_whitespace() {
        if word.starts_with("root=") {
            if !has_root {
                words.push(format!("root={root}"));
            }
            has_root = true;
        } else if RESIZE_INITS.contains(&word)
            || word == "resize"
            || (wants_ipv6 && word == "ipv6.disable=1")
        {
            continue;
        } else {
            words.push(word.to_owned());
        }
    }
    if !has_root {
        words.push(format!("root={root}"));
    }
    let mut out = words.join(" ");
    out.push('\n');
    out.push_str(rest);
    out
}

/// Points fstab's root and boot lines at the card's ids; the boot line at the mount point
/// of the generation. Missing lines are added.
fn fstab(root: &mut Editor, ctx: &NodeContext) -> Result<(), EditError> {
    let text = root.read_text("/etc/fstab")?.unwrap_or_default();
    let mut fstab = Fstab::parse(&text);
    let boot_at = boot_mount_point(ctx.generation);
    let roots = fstab.update(
        |e| e.mount_point == "/",
        |e| e.device.clone_from(&ctx.ids.root),
    );
    if roots == 0 {
        fstab.set(Entry {
            device: ctx.ids.root.clone(),
            mount_point: "/".into(),
            fstype: "ext4".into(),
            options: "defaults,noatime".into(),
            dump: "0".into(),
            pass: "1".into(),
        });
    }
    let boots = fstab.update(
        |e| BOOT_MOUNT_POINTS.contains(&e.mount_point.as_str()) && e.fstype == "vfat",
        |e| {
            e.device.clone_from(&ctx.ids.boot);
            boot_at.clone_into(&mut e.mount_point);
        },
    );
    if boots == 0 {
        fstab.set(Entry {
            device: ctx.ids.boot.clone(),
            mount_point: boot_at.into(),
            fstype: "vfat".into(),
            options: "defaults".into(),
            dump: "0".into(),
            pass: "2".into(),
        });
    }
    rewrite(root, "/etc/fstab", &fstab.render(), 0o644)?;
    root.mkdir(boot_at, 0o755, 0, 0)?;
    Ok(())
}

/// Removes the base's resize-at-first-boot services (the image already fills the card).
fn remove_resize(root: &mut Editor) -> Result<(), EditError> {
    enablement::disable(root, "resize2fs_once.service")?;
    root.remove("/etc/init.d/resize2fs_once")?;
    enablement::disable(root, "rpi-resize.service")?;
    enablement::mask(root, "rpi-resize.service")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "PARTUUID=1a2b3c4d-02";

    #[test]
    fn jessie_2016_cmdline_gets_partuuid() {
        let jessie = "dwc_otg.lpm_enable=0 console=ttyAMA0,115200 console=tty1 root=/dev/mmcblk0p2 rootfstype=ext4 elevator=deadline fsck.repair=yes rootwait\n";
        assert_eq!(
            cmdline(jessie, ROOT, true),
            "dwc_otg.lpm_enable=0 console=ttyAMA0,115200 console=tty1 root=PARTUUID=1a2b3c4d-02 rootfstype=ext4 elevator=deadline fsck.repair=yes rootwait\n"
        );
    }

    #[test]
    fn resize_words_and_ipv6_disable_go() {
        let buster = "console=serial0,115200 console=tty1 root=PARTUUID=738a4d67-02 rootfstype=ext4 elevator=deadline fsck.repair=yes rootwait quiet init=/usr/lib/raspi-config/init_resize.sh ipv6.disable=1";
        assert_eq!(
            cmdline(buster, ROOT, true),
            "console=serial0,115200 console=tty1 root=PARTUUID=1a2b3c4d-02 rootfstype=ext4 elevator=deadline fsck.repair=yes rootwait quiet\n"
        );
        assert!(cmdline(buster, ROOT, false).ends_with("quiet ipv6.disable=1\n"));
        let bookworm = "console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 fsck.repair=yes rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot";
        assert!(!cmdline(bookworm, ROOT, true).contains("init="));
        let trixie = "console=serial0,115200 console=tty1 root=PARTUUID=3bc5e1b8-02 rootfstype=ext4 fsck.repair=yes rootwait quiet splash plymouth.ignore-serial-consoles resize cfg80211.ieee80211_regdom=GB";
        let out = cmdline(trixie, ROOT, true);
        assert!(!out.split_whitespace().any(|w| w == "resize"), "{out}");
        assert!(out.contains("cfg80211.ieee80211_regdom=GB"));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]
        #[test]
        fn any_cmdline_gets_exactly_one_root(text in "[ -~\n]{0,200}") {
            let out = cmdline(&text, ROOT, true);
            let first = out.lines().next().unwrap_or_default();
            let roots: Vec<&str> = first.split_whitespace().filter(|w| w.starts_with("root=")).collect();
            proptest::prop_assert_eq!(roots, vec!["root=PARTUUID=1a2b3c4d-02"]);
            proptest::prop_assert!(!first.split_whitespace().any(|w| w == "resize"));
        }
    }

    #[test]
    fn a_missing_root_is_added_and_other_inits_kept() {
        assert_eq!(
            cmdline("console=tty1 init=/bin/sh", ROOT, true),
            "console=tty1 init=/bin/sh root=PARTUUID=1a2b3c4d-02\n"
        );
    }
}
