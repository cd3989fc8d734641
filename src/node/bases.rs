//! Small trees shaped like each Raspberry Pi OS generation's base image, and profiles, for
//! the node stage's unit tests. Only the files the node stage reads are there.

use std::path::Path;

use super::{DiskIds, NodeContext};
use crate::profile::{Generation, Profile};
use crate::tree::{Inode, Timestamp, Tree, TreePath};

pub const T: Timestamp = Timestamp::from_secs(1_456_704_000);

/// The seed's profile: IPv6 only, no swap, /var/www on a USB drive.
pub const SEED: &str = r#"
[image]
name = "blog"
board = "pi3"
card_size = "8GB"

[base]
url = "https://example.org/raspbian.zip"

[packages]
remove = ["dphys-swapfile"]

[network]
interface = "eth0"
ipv4 = "off"
ipv6 = "2001:db8:0:82::3/64"
gateway6 = "2001:db8:0:82::1"
dns = ["2001:db8:0:53::64", "2001:db8:1:53::64"]

[swap]
enabled = false

[[mount]]
path = "/var/www"
device = "LABEL=www"
fstype = "ext4"
options = ["noatime", "nofail", "x-systemd.device-timeout=10s"]
required_by = ["nginx", "php7.0-fpm"]
"#;

pub fn profile(text: &str) -> Profile {
    crate::profile::parse(text, Path::new("profiles/test.toml"))
        .unwrap_or_else(|e| panic!("test profile: {e}"))
        .profile
}

pub fn ids() -> DiskIds {
    DiskIds {
        boot: "PARTUUID=1a2b3c4d-01".into(),
        root: "PARTUUID=1a2b3c4d-02".into(),
    }
}

pub fn context<'a>(
    profile: &'a Profile,
    ids: &'a DiskIds,
    generation: Generation,
) -> NodeContext<'a> {
    NodeContext {
        profile,
        node: &profile.nodes()[0],
        generation,
        ids,
        mtime: Timestamp::from_secs(1_700_000_000),
    }
}

fn put(tree: &mut Tree, path: &str, inode: Inode) {
    let path = TreePath::parse(path).unwrap();
    if let Some(parent) = path.parent() {
        tree.create_dir_all(&parent, &Inode::dir(0o755, T)).unwrap();
    }
    tree.replace(path, inode).unwrap();
}

fn file(tree: &mut Tree, path: &str, text: &str) {
    put(tree, path, Inode::file(text.as_bytes().to_vec(), 0o644, T));
}

fn link(tree: &mut Tree, path: &str, target: &str) {
    put(tree, path, Inode::symlink(target.as_bytes().to_vec(), T));
}

/// Raspbian jessie lite 2016-02-26: root on /dev/mmcblk0p2, dhcpcd, dphys-swapfile, IPv6
/// switched off by modprobe.
pub fn jessie() -> (Tree, Tree) {
    let mut root = Tree::new(Inode::dir(0o755, T));
    file(
        &mut root,
        "etc/os-release",
        "PRETTY_NAME=\"Raspbian GNU/Linux 8 (jessie)\"\nVERSION_ID=\"8\"\nVERSION=\"8 (jessie)\"\nID=raspbian\n",
    );
    file(&mut root, "etc/debian_version", "8.0\n");
    file(
        &mut root,
        "etc/fstab",
        "proc            /proc           proc    defaults          0       0\n/dev/mmcblk0p1  /boot           vfat    defaults          0       2\n/dev/mmcblk0p2  /               ext4    defaults,noatime  0       1\n# a swapfile is not a swap partition, no line here\n#   use  dphys-swapfile swap[on|off]  for that\n",
    );
    put(&mut root, "boot", Inode::dir(0o755, T));
    let mut conf = Inode::file(
        b"hostname\nclientid\npersistent\noption rapid_commit\n".to_vec(),
        0o664,
        T,
    );
    conf.gid = 108;
    put(&mut root, "etc/dhcpcd.conf", conf);
    link(&mut root, "sbin/dhcpcd", "/etc/alternatives/dhcpcd");
    file(&mut root, "sbin/ifup", "\x7fELF");
    file(
        &mut root,
        "etc/network/interfaces",
        "source-directory /etc/network/interfaces.d\n\nauto lo\niface lo inet loopback\n\niface eth0 inet manual\n",
    );
    file(&mut root, "etc/init.d/dphys-swapfile", "#!/bin/sh\n");
    for rc in ["rc2.d/S02", "rc3.d/S02", "rc0.d/K01"] {
        link(
            &mut root,
            &format!("etc/{rc}dphys-swapfile"),
            "../init.d/dphys-swapfile",
        );
    }
    put(&mut root, "var/swap", Inode::file(vec![0; 64], 0o600, T));
    file(
        &mut root,
        "etc/modprobe.d/ipv6.conf",
        "# Don't load ipv6 by default\nalias net-pf-10 off\n#alias ipv6 off\n",
    );
    let mut boot = Tree::new(Inode::dir(0o755, T));
    file(
        &mut boot,
        "cmdline.txt",
        "dwc_otg.lpm_enable=0 console=ttyAMA0,115200 console=tty1 root=/dev/mmcblk0p2 rootfstype=ext4 elevator=deadline fsck.repair=yes rootwait\n",
    );
    (root, boot)
}

/// Raspberry Pi OS bookworm lite: /boot/firmware, NetworkManager, firstboot init.
pub fn bookworm() -> (Tree, Tree) {
    let mut root = Tree::new(Inode::dir(0o755, T));
    file(
        &mut root,
        "usr/lib/os-release",
        "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n",
    );
    link(&mut root, "etc/os-release", "../usr/lib/os-release");
    link(&mut root, "sbin", "usr/sbin");
    file(&mut root, "usr/sbin/NetworkManager", "\x7fELF");
    file(
        &mut root,
        "etc/fstab",
        "proc            /proc           proc    defaults          0       0\nPARTUUID=4e639091-01  /boot/firmware  vfat    defaults          0       2\nPARTUUID=4e639091-02  /               ext4    defaults,noatime  0       1\n",
    );
    put(&mut root, "boot/firmware", Inode::dir(0o755, T));
    put(
        &mut root,
        "etc/NetworkManager/system-connections",
        Inode::dir(0o700, T),
    );
    file(&mut root, "etc/init.d/dphys-swapfile", "#!/bin/sh\n");
    file(
        &mut root,
        "lib/systemd/system/dphys-swapfile.service",
        "[Unit]\n",
    );
    link(
        &mut root,
        "etc/systemd/system/multi-user.target.wants/dphys-swapfile.service",
        "/lib/systemd/system/dphys-swapfile.service",
    );
    let mut boot = Tree::new(Inode::dir(0o755, T));
    file(
        &mut boot,
        "cmdline.txt",
        "console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 fsck.repair=yes rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot\n",
    );
    (root, boot)
}

/// Raspberry Pi OS trixie lite: rpi-swap, cloud-init data on the boot partition, ` resize`.
pub fn trixie() -> (Tree, Tree) {
    let mut root = Tree::new(Inode::dir(0o755, T));
    file(
        &mut root,
        "usr/lib/os-release",
        "PRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\nVERSION_CODENAME=trixie\nID=debian\n",
    );
    link(&mut root, "etc/os-release", "../usr/lib/os-release");
    link(&mut root, "sbin", "usr/sbin");
    link(&mut root, "lib", "usr/lib");
    file(&mut root, "usr/sbin/NetworkManager", "\x7fELF");
    file(
        &mut root,
        "etc/fstab",
        "proc  /proc  proc  defaults  0  0\nPARTUUID=3bc5e1b8-01  /boot/firmware  vfat  defaults  0  2\nPARTUUID=3bc5e1b8-02  /  ext4  defaults,noatime  0  1\n",
    );
    put(&mut root, "boot/firmware", Inode::dir(0o755, T));
    file(&mut root, "etc/rpi/swap.conf", "[Main]\n#Mechanism=auto\n");
    file(
        &mut root,
        "usr/lib/systemd/system/rpi-resize.service",
        "[Unit]\n",
    );
    put(&mut root, "etc/cloud/cloud.cfg.d", Inode::dir(0o755, T));
    let mut boot = Tree::new(Inode::dir(0o755, T));
    file(
        &mut boot,
        "cmdline.txt",
        "console=serial0,115200 console=tty1 root=PARTUUID=3bc5e1b8-02 rootfstype=ext4 fsck.repair=yes rootwait quiet splash plymouth.ignore-serial-consoles resize cfg80211.ieee80211_regdom=GB\n",
    );
    file(
        &mut boot,
        "network-config",
        "network:\n  version: 2\n  ethernets:\n    eth0:\n      dhcp4: true\n",
    );
    file(
        &mut boot,
        "user-data",
        "#cloud-config\nhostname: raspberrypi\n",
    );
    (root, boot)
}
