//! Small base trees shaped like each Raspberry Pi OS generation, and a profile to apply to
//! them, for the unit tests of the node settings. Test-only; real bases come from images.

use std::collections::BTreeSet;

use super::{DiskIds, Editor, NodeContext};
use crate::profile::{Generation, Profile};
use crate::tree::{Inode, Kind, Timestamp, Tree, TreePath};

const T: Timestamp = Timestamp::from_secs(1_456_704_000);

/// A base: its generation, root and boot trees.
pub struct Base {
    pub generation: Generation,
    pub root: Tree,
    pub boot: Tree,
}

fn tree() -> Tree {
    Tree::new(Inode::dir(0o755, T))
}

/// Puts a file (parents created), root-owned.
pub fn file(tree: &mut Tree, path: &str, text: &str, mode: u32) {
    put(tree, path, Inode::file(text.as_bytes().to_vec(), mode, T));
}

fn put(tree: &mut Tree, path: &str, inode: Inode) {
    let path = TreePath::parse(path).unwrap();
    tree.create_dir_all(&path.parent().unwrap(), &Inode::dir(0o755, T))
        .unwrap();
    let dest = tree.resolve(&path, false).unwrap();
    tree.replace(dest, inode).unwrap();
}

fn link(tree: &mut Tree, path: &str, target: &str) {
    put(tree, path, Inode::symlink(target.as_bytes().to_vec(), T));
}

const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
pi:x:1000:1000:,,,:/home/pi:/bin/bash
";
const SHADOW: &str = "root:*:16861:0:99999:7:::
daemon:*:16861:0:99999:7:::
www-data:*:16861:0:99999:7:::
nobody:*:16861:0:99999:7:::
pi:$6$rBoByrWRKMY1EHFy$ho.LISnfm83CLBWBE/yqJ6Lq1TinRlxw/ImMTPcvvMuUfhQYcMmFnpFXUPowjy2br1NA0IACwF9JKugSNuHoe0:16861:0:99999:7:::
";
const GROUP: &str = "root:x:0:
daemon:x:1:
sudo:x:27:pi
www-data:x:33:
shadow:x:42:
ssl-cert:x:110:
nogroup:x:65534:
pi:x:1000:
";
const GSHADOW: &str = "root:*::
daemon:*::
sudo:*::pi
www-data:*::
shadow:*::
ssl-cert:!::
nogroup:*::
pi:!::
";

fn common(root: &mut Tree) {
    file(root, "etc/hostname", "raspberrypi\n", 0o644);
    file(
        root,
        "etc/hosts",
        "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\nff02::1\t\tip6-allnodes\n\n127.0.1.1\traspberrypi\n",
        0o644,
    );
    file(root, "etc/passwd", PASSWD, 0o644);
    file(root, "etc/group", GROUP, 0o644);
    for (path, text) in [("etc/shadow", SHADOW), ("etc/gshadow", GSHADOW)] {
        let mut inode = Inode::file(text.as_bytes().to_vec(), 0o640, T);
        inode.gid = 42;
        put(root, path, inode);
    }
    file(root, "etc/skel/.bashrc", "# ~/.bashrc\n", 0o644);
    file(root, "etc/sudoers.d/README", "# drop-ins\n", 0o440);
    file(root, "etc/skel/.profile", "# ~/.profile\n", 0o644);
    let mut home = Inode::dir(0o755, T);
    (home.uid, home.gid) = (1000, 1000);
    put(root, "home/pi", home);
    file(root, "etc/default/locale", "LANG=en_GB.UTF-8\n", 0o644);
    file(
        root,
        "etc/locale.gen",
        "# This file lists locales that you wish to have built.\n# de_DE.UTF-8 UTF-8\nen_GB.UTF-8 UTF-8\n# en_US.UTF-8 UTF-8\n",
        0o644,
    );
    file(
        root,
        "usr/share/i18n/SUPPORTED",
        "de_DE.UTF-8 UTF-8\nde_DE ISO-8859-1\nen_GB.UTF-8 UTF-8\nen_US.UTF-8 UTF-8\n",
        0o644,
    );
    file(root, "usr/lib/locale/locale-archive", "compiled", 0o644);
    file(root, "usr/share/zoneinfo/Europe/London", "TZif2", 0o644);
    file(root, "usr/share/zoneinfo/UTC", "TZif2", 0o644);
    file(root, "etc/timezone", "Etc/UTC\n", 0o644);
    link(root, "etc/localtime", "/usr/share/zoneinfo/Etc/UTC");
    file(
        root,
        "etc/ssh/ssh_host_ed25519_key.pub",
        "ssh-ed25519 AAAA host\n",
        0o644,
    );
    file(
        root,
        "etc/nginx/nginx.conf",
        "http {\n\tinclude /etc/nginx/conf.d/*.conf;\n\tinclude /etc/nginx/sites-enabled/*;\n}\n",
        0o644,
    );
    file(
        root,
        "etc/nginx/sites-available/default",
        "server {}\n",
        0o644,
    );
    link(
        root,
        "etc/nginx/sites-enabled/default",
        "/etc/nginx/sites-available/default",
    );
    file(root, "etc/nginx/snippets/fastcgi-php.conf", "", 0o644);
    root.create_dir_all(
        &TreePath::parse("etc/nginx/conf.d").unwrap(),
        &Inode::dir(0o755, T),
    )
    .unwrap();
}

/// Debian's sshd_config of buster and later starts with this Include.
const SSHD_INCLUDE: &str = "Include /etc/ssh/sshd_config.d/*.conf\n\n#PasswordAuthentication yes\nKbdInteractiveAuthentication no\nUsePAM yes\nSubsystem sftp /usr/lib/openssh/sftp-server\n";

/// Raspbian jessie 2016-02: root on /dev/mmcblk0p2, dhcpcd, dphys-swapfile, IPv6 off by
/// modprobe alias, no sshswitch (SSH was on by default), nginx 1.6 and php5.
pub fn jessie() -> Base {
    let mut root = tree();
    common(&mut root);
    file(&mut root, "etc/debian_version", "8.0\n", 0o644);
    file(&mut root, "etc/dhcpcd.conf", "hostname\nclientid\n", 0o644);
    file(
        &mut root,
        "etc/dphys-swapfile",
        "CONF_SWAPSIZE=100\n",
        0o644,
    );
    file(
        &mut root,
        "etc/modprobe.d/ipv6.conf",
        "alias net-pf-10 off\n",
        0o644,
    );
    file(&mut root, "bin/bash", "ELF", 0o755);
    file(
        &mut root,
        "etc/ssh/sshd_config",
        "Port 22\nProtocol 2\nChallengeResponseAuthentication no\n#PasswordAuthentication yes\nUsePAM yes\n",
        0o644,
    );
    file(
        &mut root,
        "lib/systemd/system/ssh.service",
        "[Unit]\n",
        0o644,
    );
    link(
        &mut root,
        "etc/systemd/system/multi-user.target.wants/ssh.service",
        "/lib/systemd/system/ssh.service",
    );
    file(
        &mut root,
        "var/lib/dpkg/status",
        "Package: nginx-common\nStatus: install ok installed\nVersion: 1.6.2-5+deb8u1\n\n",
        0o644,
    );
    file(&mut root, "etc/php5/fpm/pool.d/www.conf", "[www]\n", 0o644);
    let mut boot = tree();
    file(
        &mut boot,
        "cmdline.txt",
        "dwc_otg.lpm_enable=0 console=ttyAMA0,115200 console=tty1 root=/dev/mmcblk0p2 rootfstype=ext4 elevator=deadline rootwait\n",
        0o755,
    );
    Base {
        generation: Generation::Jessie,
        root,
        boot,
    }
}

fn merged_usr(root: &mut Tree) {
    for (name, target) in [("bin", "usr/bin"), ("lib", "usr/lib"), ("sbin", "usr/sbin")] {
        root.create_dir_all(&TreePath::parse(target).unwrap(), &Inode::dir(0o755, T))
            .unwrap();
        link(root, name, target);
    }
}

/// Raspberry Pi OS bookworm: boot at /boot/firmware, NetworkManager, the sys-mods
/// first-boot init, sshswitch, merged /usr.
pub fn bookworm() -> Base {
    let mut root = tree();
    merged_usr(&mut root);
    common(&mut root);
    file(&mut root, "etc/debian_version", "12.5\n", 0o644);
    file(&mut root, "bin/bash", "ELF", 0o755);
    file(&mut root, "etc/ssh/sshd_config", SSHD_INCLUDE, 0o644);
    root.create_dir_all(
        &TreePath::parse("etc/ssh/sshd_config.d").unwrap(),
        &Inode::dir(0o755, T),
    )
    .unwrap();
    file(
        &mut root,
        "lib/systemd/system/ssh.service",
        "[Unit]\n",
        0o644,
    );
    file(
        &mut root,
        "lib/systemd/system/sshswitch.service",
        "[Unit]\n",
        0o644,
    );
    file(
        &mut root,
        "lib/systemd/system/userconfig.service",
        "[Unit]\n",
        0o644,
    );
    link(
        &mut root,
        "etc/systemd/system/multi-user.target.wants/userconfig.service",
        "/lib/systemd/system/userconfig.service",
    );
    file(
        &mut root,
        "etc/adduser.conf",
        "# Default: DIR_MODE=0700\n#DIR_MODE=0700\n",
        0o644,
    );
    file(
        &mut root,
        "etc/NetworkManager/NetworkManager.conf",
        "[main]\nplugins=ifupdown,keyfile\n",
        0o644,
    );
    file(
        &mut root,
        "etc/php/8.2/fpm/pool.d/www.conf",
        "[www]\n",
        0o644,
    );
    root.create_dir_all(
        &TreePath::parse("boot/firmware").unwrap(),
        &Inode::dir(0o755, T),
    )
    .unwrap();
    let mut boot = tree();
    file(
        &mut boot,
        "cmdline.txt",
        "console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 fsck.repair=yes rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot\n",
        0o755,
    );
    Base {
        generation: Generation::Bookworm,
        root,
        boot,
    }
}

/// Raspberry Pi OS trixie: rpi-swap, cloud-init files on the boot partition, ` resize` on
/// the command line, no /etc/timezone, units under /usr/lib.
pub fn trixie() -> Base {
    let mut base = bookworm();
    base.generation = Generation::Trixie;
    let root = &mut base.root;
    root.remove(&TreePath::parse("etc/timezone").unwrap())
        .unwrap();
    root.remove(&TreePath::parse("usr/lib/systemd/system/sshswitch.service").unwrap())
        .unwrap();
    file(root, "etc/debian_version", "13.1\n", 0o644);
    file(root, "etc/rpi/swap.conf", "[Main]\nMechanism=auto\n", 0o644);
    file(
        root,
        "etc/ssh/sshd_config.d/50-cloud-init.conf",
        "PasswordAuthentication yes\n",
        0o600,
    );
    let boot = &mut base.boot;
    file(boot, "network-config", "version: 2\n", 0o755);
    file(boot, "user-data", "#cloud-config\n", 0o755);
    file(
        boot,
        "cmdline.txt",
        "console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 fsck.repair=yes rootwait resize\n",
        0o755,
    );
    base
}

/// The profile every test starts from (the seed's node, on a Pi 3).
pub const PROFILE: &str = r#"
[image]
name = "blog"
board = "pi3"
card_size = "8GB"

[base]
file = "base.img"

[network]
interface = "eth0"
ipv4 = "off"
ipv6 = "2001:db8:0:82::3/64"
gateway6 = "2001:db8:0:82::1"
dns = ["2001:db8:0:53::64"]

[system]
hostname = "blog-pi3"
timezone = "Europe/London"
locale = "de_DE.UTF-8"
sysctl = { "vm.min_free_kbytes" = "16384" }

[[user]]
name = "pete"
groups = ["sudo", "www-data"]
ssh_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGmJ8g3/vzWAfaeUdwx2u5xBenZWXGQqvFsCQfxqqFXo pete@example.org"]

[ssh]
enabled = true
password_auth = false

[web]
server = "nginx"
php = "8.2"
php_max_children = "auto"
headers = { "X-Served-By" = "Raspberry Pi 3", "X-Clacks-Overhead" = "GNU Terry Pratchett" }
"#;

/// A base with a profile, applied through editors as the node stage does.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub profile: Profile,
    pub base: Base,
    pub root_changed: BTreeSet<TreePath>,
    pub boot_changed: BTreeSet<TreePath>,
    pub notes: Vec<String>,
}

impl Fixture {
    /// `base` with [`PROFILE`].
    pub fn new(base: Base) -> Self {
        Self::with_profile(base, PROFILE)
    }

    /// `base` with the profile `text`; `base.img` and `bin/blog-agent` exist beside it.
    pub fn with_profile(base: Base, text: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("base.img"), b"img").unwrap();
        std::fs::create_dir_all(dir.path().join("bin")).unwrap();
        std::fs::write(dir.path().join("bin/blog-agent"), b"\x7fELF agent").unwrap();
        Self::in_dir(dir, base, text)
    }

    /// `base` with the profile `text` in `dir`, whose other files the test made.
    pub fn in_dir(dir: tempfile::TempDir, base: Base, text: &str) -> Self {
        let path = dir.path().join("node.toml");
        let mut full = text.to_owned();
        if !text.contains("[image]") {
            full = format!("{}\n{text}", &PROFILE[..PROFILE.find("[system]").unwrap()]);
            if !text.contains("hostname") && !text.contains("[system]") {
                full.push_str("\n[system]\nhostname = \"blog-pi3\"\n");
            }
        }
        let profile = match crate::profile::parse(&full, &path) {
            Ok(loaded) => loaded.profile,
            Err(e) => panic!("test profile is invalid: {e}"),
        };
        Self {
            dir,
            profile,
            base,
            root_changed: BTreeSet::new(),
            boot_changed: BTreeSet::new(),
            notes: Vec::new(),
        }
    }

    /// Runs `part` with editors of the root and boot trees.
    pub fn apply(
        &mut self,
        part: impl FnOnce(
            &mut Editor,
            &mut Editor,
            &NodeContext,
            &mut Vec<String>,
        ) -> Result<(), String>,
    ) -> Result<(), String> {
        let ids = DiskIds {
            boot: "PARTUUID=1a2b3c4d-01".into(),
            root: "PARTUUID=1a2b3c4d-02".into(),
        };
        let ctx = NodeContext {
            profile: &self.profile,
            node: &self.profile.nodes()[0],
            generation: self.base.generation,
            ids: &ids,
            mtime: Timestamp::from_secs(1_700_000_000),
        };
        let mtime = ctx.mtime;
        let mut root = Editor::new(&mut self.base.root, &mut self.root_changed, mtime);
        let mut boot = Editor::new(&mut self.base.boot, &mut self.boot_changed, mtime);
        part(&mut root, &mut boot, &ctx, &mut self.notes)
    }

    fn get(&self, path: &str) -> Option<&Inode> {
        let path = TreePath::parse(path).unwrap();
        let path = self.base.root.resolve(&path, false).unwrap();
        self.base.root.get(&path)
    }

    /// The inode at `path` of the root (a final symlink not followed).
    pub fn inode(&self, path: &str) -> &Inode {
        self.get(path)
            .unwrap_or_else(|| panic!("{path} is not in the tree"))
    }

    /// Whether `path` exists in the root.
    pub fn exists(&self, path: &str) -> bool {
        self.get(path).is_some()
    }

    /// Whether `path` exists in the boot tree.
    pub fn boot_exists(&self, path: &str) -> bool {
        self.base
            .boot
            .get(&TreePath::parse(path).unwrap())
            .is_some()
    }

    /// The text of a root file.
    pub fn text(&self, path: &str) -> String {
        let path = TreePath::parse(path).unwrap();
        let inode = self.base.root.lookup(&path).unwrap();
        match &inode.kind {
            Kind::File { size, content } => {
                String::from_utf8(content.read_to_vec(*size, 1 << 20).unwrap()).unwrap()
            }
            other => panic!("{path} is not a file: {other:?}"),
        }
    }

    /// The target of a root symlink.
    pub fn link(&self, path: &str) -> String {
        match &self.inode(path).kind {
            Kind::Symlink(target) => String::from_utf8(target.clone()).unwrap(),
            other => panic!("{path} is not a symlink: {other:?}"),
        }
    }

    /// The root paths written, as text.
    pub fn changed(&self) -> Vec<String> {
        self.root_changed.iter().map(ToString::to_string).collect()
    }
}
