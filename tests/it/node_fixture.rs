//! Generation-shaped base trees and profiles for the node-stage tests, the node stage run
//! on them, and the written files copied out to a temporary folder where the real
//! validators (nmcli, dhcpcd, systemd-analyze, findmnt) can read them.

use std::path::Path;
use std::process::{Command, Output};

use pi_imager::node::{self, DiskIds, NodeContext, NodeInputs, NodeOutcome};
use pi_imager::profile::{Generation, Profile};
use pi_imager::tree::{Inode, Kind, Timestamp, Tree, TreePath};

const T: Timestamp = Timestamp::from_secs(1_456_704_000);

/// The seed's profile: IPv6 only, no swap, /var/www on a USB drive.
pub const SEED: &str = r#"
[image]
name = "blog"
board = "pi3"
card_size = "8GB"

[base]
url = "https://example.org/raspbian.zip"

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

/// The seed profile with its `[network]` table replaced.
pub fn with_network(network: &str) -> String {
    let start = SEED.find("[network]").unwrap();
    let end = SEED.find("[swap]").unwrap();
    format!("{}{network}\n\n{}", &SEED[..start], &SEED[end..])
}

pub fn profile(text: &str) -> Profile {
    pi_imager::profile::parse(text, Path::new("profiles/test.toml"))
        .unwrap_or_else(|e| panic!("test profile: {e}"))
        .profile
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

/// A base tree and boot tree shaped like `generation`'s Raspberry Pi OS Lite.
pub fn base(generation: Generation) -> (Tree, Tree) {
    let mut root = Tree::new(Inode::dir(0o755, T));
    let mut boot = Tree::new(Inode::dir(0o755, T));
    let old = matches!(
        generation,
        Generation::Jessie | Generation::Stretch | Generation::Buster | Generation::Bullseye
    );
    file(
        &mut root,
        "etc/os-release",
        &format!("PRETTY_NAME=\"Raspbian\"\nVERSION_CODENAME={generation}\n"),
    );
    let (boot_at, root_dev) = if old {
        ("/boot", "/dev/mmcblk0p2")
    } else {
        ("/boot/firmware", "PARTUUID=4e639091-02")
    };
    file(
        &mut root,
        "etc/fstab",
        &format!(
            "proc  /proc  proc  defaults  0  0\n/dev/mmcblk0p1  {boot_at}  vfat  defaults  0  2\n{root_dev}  /  ext4  defaults,noatime  0  1\n"
        ),
    );
    put(&mut root, &boot_at[1..], Inode::dir(0o755, T));
    if old {
        file(&mut root, "sbin/dhcpcd", "\x7fELF");
        file(
            &mut root,
            "etc/dhcpcd.conf",
            "hostname\nclientid\npersistent\noption rapid_commit\noption domain_name_servers, domain_name, domain_search, host_name\noption classless_static_routes\noption ntp_servers\nrequire dhcp_server_identifier\nslaac private\nnohook lookup-hostname\n",
        );
        file(
            &mut root,
            "etc/modprobe.d/ipv6.conf",
            "alias net-pf-10 off\n",
        );
        file(&mut root, "sbin/ifup", "\x7fELF");
        file(
            &mut root,
            "etc/network/interfaces",
            "source-directory /etc/network/interfaces.d\n\nauto lo\niface lo inet loopback\n\niface eth0 inet manual\n",
        );
    } else {
        file(&mut root, "usr/sbin/NetworkManager", "\x7fELF");
    }
    file(
        &mut boot,
        "cmdline.txt",
        &format!(
            "console=serial0,115200 console=tty1 root={root_dev} rootfstype=ext4 fsck.repair=yes rootwait\n"
        ),
    );
    (root, boot)
}

/// Runs the node stage for `profile` on a base of `generation`.
pub fn build(profile: &Profile, generation: Generation) -> (Tree, Tree, NodeOutcome) {
    build_with(profile, generation, &[])
}

/// Runs the node stage on a base of `generation` that also has `files` (path, text).
pub fn build_with(
    profile: &Profile,
    generation: Generation,
    files: &[(&str, &str)],
) -> (Tree, Tree, NodeOutcome) {
    let (mut root, mut boot) = base(generation);
    for (path, content) in files {
        file(&mut root, path.trim_start_matches('/'), content);
    }
    let ids = DiskIds {
        boot: "PARTUUID=1a2b3c4d-01".into(),
        root: "PARTUUID=1a2b3c4d-02".into(),
    };
    let ctx = NodeContext {
        profile,
        node: &profile.nodes()[0],
        generation,
        ids: &ids,
        mtime: Timestamp::from_secs(1_700_000_000),
    };
    let outcome = node::apply(&mut root, &mut boot, &ctx, &NodeInputs::default())
        .unwrap_or_else(|e| panic!("node stage: {e}"));
    (root, boot, outcome)
}

/// The text of a regular file of `tree`.
pub fn text(tree: &Tree, path: &str) -> String {
    let inode = tree
        .lookup(&TreePath::parse(path.trim_start_matches('/')).unwrap())
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    match &inode.kind {
        Kind::File { size, content } => {
            String::from_utf8(content.read_to_vec(*size, 1 << 20).unwrap()).unwrap()
        }
        other => panic!("{path} is not a file: {other:?}"),
    }
}

/// Copies the regular files and directories of `tree` under `prefix` into `dest`.
pub fn export(tree: &Tree, prefix: &str, dest: &Path) {
    let prefix = TreePath::parse(prefix.trim_start_matches('/')).unwrap();
    for (path, _, inode) in tree.iter() {
        if !path.starts_with(&prefix) {
            continue;
        }
        let out = dest.join(String::from_utf8(path.to_relative_bytes()).unwrap());
        match &inode.kind {
            Kind::Dir => std::fs::create_dir_all(&out).unwrap(),
            Kind::File { size, content } => {
                std::fs::create_dir_all(out.parent().unwrap()).unwrap();
                std::fs::write(&out, content.read_to_vec(*size, 1 << 20).unwrap()).unwrap();
            }
            _ => {}
        }
    }
}

/// Runs a validator, failing loudly when it is not installed.
pub fn validator(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?} (install it with .ci/install-deps): {e}"))
}
