//! Issue 6 end to end: the blog profile (two nodes, pi3 and pi2) built by the real binary on
//! bases shaped like three Raspberry Pi OS generations (jessie 2016, bookworm, trixie; made
//! at test time by `generation_fixture.py` with scripts/make-demo's functions), then checked
//! from the built image alone: partitions cut out with `dd`, the root read with `debugfs`,
//! the boot partition with `mcopy`/`mdir`. Then the seed story: the Pi 3 and Pi 2 images
//! differ in exactly the files their `[[node]]` overrides write.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::golden::root as repo_root;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Generation {
    Jessie,
    Bookworm,
    Trixie,
}

impl Generation {
    fn name(self) -> &'static str {
        match self {
            Self::Jessie => "jessie",
            Self::Bookworm => "bookworm",
            Self::Trixie => "trixie",
        }
    }

    /// The PHP version the fixture's extra suite has (jessie: the blog's PHP 7.0 from
    /// stretch).
    fn php(self) -> &'static str {
        match self {
            Self::Jessie => "7.0",
            Self::Bookworm => "8.2",
            Self::Trixie => "8.4",
        }
    }

    fn boot_mount(self) -> &'static str {
        match self {
            Self::Jessie => "/boot",
            _ => "/boot/firmware",
        }
    }

    /// Where the generation's packages put systemd units.
    fn units(self) -> &'static str {
        match self {
            Self::Trixie => "/usr/lib/systemd/system",
            _ => "/lib/systemd/system",
        }
    }
}

const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA94379pnadhePa89yW5gmmCsituTD33v2oQRcTOsBkj pete@example.org";

/// The blog profile for a fixture base: the seed's settings on a small card, uncompressed.
fn profile(generation: Generation) -> String {
    let php = generation.php();
    // trixie replaced dphys-swapfile by rpi-swap: there is nothing to remove.
    let remove = if generation == Generation::Trixie {
        ""
    } else {
        "\"dphys-swapfile\""
    };
    format!(
        r#"[image]
name = "blog"
board = "pi3"
card_size = "256MiB"
partition_table = "mbr"
compression = "none"

[base]
file = "base.img"

[mirrors]
"http://deb.example.org/demo" = "repo"

[[repository]]
name = "new"
uri = "http://deb.example.org/demo"
suite = "new"
components = ["main"]
key = "keys/demo.asc"
priority = 100

[packages]
install = ["nginx-light", "php{php}-fpm/new"]
remove = [{remove}]

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
required_by = ["nginx", "php{php}-fpm"]
[mount.image]
size = "32MiB"
content = "www/"

[system]
hostname = "blog-pi3"
timezone = "Europe/London"
locale = "en_GB.UTF-8"
sysctl = {{ "vm.min_free_kbytes" = "16384", "vm.swappiness" = "0" }}
memory_max = {{ "php{php}-fpm" = "640MiB" }}

[[user]]
name = "pete"
groups = ["sudo", "www-data"]
ssh_keys = ["{KEY}"]

[ssh]
enabled = true
password_auth = false

[web]
server = "nginx"
php = "{php}"
php_max_children = "auto"
headers = {{ "X-Served-By" = "Raspberry Pi 3", "X-Clacks-Overhead" = "GNU Terry Pratchett" }}

[server]
source = "bin/demo-agent"
path = "/usr/local/bin/blog-agent"
args = ["--listen", "[::]:9100"]
user = "www-data"
memory_max = "32MiB"

[files]
overlays = ["overlay"]

[[node]]
name = "pi3"
hostname = "blog-pi3"
ipv6 = "2001:db8:0:82::3/64"

[[node]]
name = "pi2"
board = "pi2"
hostname = "blog-pi2"
ipv6 = "2001:db8:0:82::2/64"
headers = {{ "X-Served-By" = "Raspberry Pi 2" }}
"#
    )
}

fn tool(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (install it: see .ci/install-deps)"))
}

fn ok(cmd: &mut Command) -> String {
    let output = tool(cmd);
    assert!(
        output.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A fixture base and its inputs, the profile, and the build's output folder.
struct Built {
    dir: tempfile::TempDir,
    generation: Generation,
}

impl Built {
    fn new(generation: Generation) -> Self {
        let dir = tempfile::tempdir().unwrap();
        ok(Command::new("python3")
            .arg(repo_root().join("tests/it/generation_fixture.py"))
            .arg(generation.name())
            .arg(dir.path()));
        std::fs::write(dir.path().join("blog.toml"), profile(generation)).unwrap();
        let output = tool(
            Command::new(env!("CARGO_BIN_EXE_pi-imager"))
                .args(["build", "blog.toml", "--out", "out", "--cache", "cache"])
                .current_dir(dir.path())
                .env("XDG_CACHE_HOME", dir.path().join("xdg-cache")),
        );
        assert!(
            output.status.success(),
            "{} build failed:\n{}",
            generation.name(),
            String::from_utf8_lossy(&output.stderr)
        );
        Built { dir, generation }
    }

    fn out(&self, name: &str) -> PathBuf {
        self.dir.path().join("out").join(name)
    }

    fn manifest(&self, node: &str) -> serde_json::Value {
        let text = std::fs::read_to_string(self.out(&format!("blog-{node}.manifest.json")))
            .unwrap_or_else(|e| panic!("manifest of {node}: {e}"));
        serde_json::from_str(&text).unwrap()
    }

    /// The base's cmdline.txt, read from the fixture's image with mtools.
    fn base_cmdline(&self) -> String {
        let base = self.dir.path().join("base.img");
        let table: serde_json::Value =
            serde_json::from_str(&ok(Command::new("sfdisk").arg("--json").arg(&base))).unwrap();
        let start = table["partitiontable"]["partitions"][0]["start"]
            .as_u64()
            .unwrap();
        ok(Command::new("mcopy")
            .env("MTOOLS_SKIP_CHECK", "1")
            .arg("-n")
            .arg("-i")
            .arg(format!("{}@@{}", base.display(), start * 512))
            .arg("::cmdline.txt")
            .arg("-"))
    }

    /// The node's image, cut into its two filesystems.
    fn card(&self, node: &str) -> Card {
        Card::cut(&self.out(&format!("blog-{node}.img")))
    }
}

/// A built card: its disk id, and its partitions as files.
struct Card {
    _scratch: tempfile::TempDir,
    disk_id: String,
    boot: PathBuf,
    root: PathBuf,
}

impl Card {
    fn cut(image: &Path) -> Self {
        let table: serde_json::Value =
            serde_json::from_str(&ok(Command::new("sfdisk").arg("--json").arg(image))).unwrap();
        let table = &table["partitiontable"];
        assert_eq!(table["label"], "dos", "an MBR card");
        let id = table["id"].as_str().expect("sfdisk gives the disk id");
        let disk_id = format!(
            "{:08x}",
            u32::from_str_radix(id.trim_start_matches("0x"), 16).unwrap()
        );
        let parts = table["partitions"].as_array().unwrap();
        assert_eq!(parts.len(), 2, "{parts:?}");
        let scratch = tempfile::tempdir().unwrap();
        let cut = |index: usize, name: &str| {
            let path = scratch.path().join(name);
            let start = parts[index]["start"].as_u64().unwrap();
            let size = parts[index]["size"].as_u64().unwrap();
            ok(Command::new("dd")
                .arg(format!("if={}", image.display()))
                .arg(format!("of={}", path.display()))
                .args(["bs=512", "conv=sparse", "status=none"])
                .arg(format!("skip={start}"))
                .arg(format!("count={size}")));
            path
        };
        let boot = cut(0, "boot.fat");
        let root = cut(1, "root.ext4");
        ok(Command::new("fsck.fat").arg("-n").arg(&boot));
        ok(Command::new("e2fsck").arg("-fn").arg(&root));
        Card {
            _scratch: scratch,
            disk_id,
            boot,
            root,
        }
    }

    fn debugfs(&self, request: &str) -> Output {
        tool(
            Command::new("debugfs")
                .arg("-R")
                .arg(request)
                .arg(&self.root),
        )
    }

    /// A root file's text, or `None` when debugfs finds no such file.
    fn try_text(&self, path: &str) -> Option<String> {
        let stat = self.debugfs(&format!("stat \"{path}\""));
        let stderr = String::from_utf8_lossy(&stat.stderr);
        if stderr.contains("not found") {
            return None;
        }
        let out = self.debugfs(&format!("cat \"{path}\""));
        Some(String::from_utf8(out.stdout).unwrap())
    }

    fn text(&self, path: &str) -> String {
        self.try_text(path)
            .unwrap_or_else(|| panic!("{path} is not in the image's root"))
    }

    fn exists(&self, path: &str) -> bool {
        self.try_text(path).is_some()
    }

    /// (type, mode, uid, gid) of a root path as `debugfs stat` reports them.
    fn stat(&self, path: &str) -> (String, u32, u32, u32) {
        let out = self.debugfs(&format!("stat \"{path}\""));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let field = |name: &str| -> String {
            let at = text
                .find(name)
                .unwrap_or_else(|| panic!("no {name} in debugfs stat {path}:\n{text}"));
            text[at + name.len()..]
                .split_whitespace()
                .next()
                .unwrap()
                .to_owned()
        };
        (
            field("Type:"),
            u32::from_str_radix(&field("Mode:"), 8).unwrap(),
            field("User:").parse().unwrap(),
            field("Group:").parse().unwrap(),
        )
    }

    /// A symbolic link's target, as `debugfs stat` shows a fast link's.
    fn link(&self, path: &str) -> String {
        let out = self.debugfs(&format!("stat \"{path}\""));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let at = text
            .find("Fast link dest: \"")
            .unwrap_or_else(|| panic!("{path} is not a fast symlink:\n{text}"));
        let rest = &text[at + "Fast link dest: \"".len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    }

    /// A boot file's text, or `None` when mtools finds no such file.
    fn boot_file(&self, name: &str) -> Option<String> {
        let out = tool(
            Command::new("mcopy")
                .env("MTOOLS_SKIP_CHECK", "1")
                .arg("-n")
                .arg("-i")
                .arg(&self.boot)
                .arg(format!("::{name}"))
                .arg("-"),
        );
        out.status
            .success()
            .then(|| String::from_utf8(out.stdout).unwrap())
    }

    fn boot_names(&self) -> Vec<String> {
        ok(Command::new("mdir")
            .env("MTOOLS_SKIP_CHECK", "1")
            .args(["-b", "-i"])
            .arg(&self.boot)
            .arg("::/"))
        .lines()
        .map(|l| l.trim_start_matches("::/").to_owned())
        .collect()
    }
}

/// Every check of one node's card that does not depend on which node it is.
fn check_card(built: &Built, node: &str, hostname: &str, address: &str, served_by: &str) {
    let generation = built.generation;
    let card = built.card(node);
    let id = &card.disk_id;
    let php = generation.php();

    // fstab: the card's own ids, the generation's boot mount, no swap, the drive.
    let fstab = card.text("/etc/fstab");
    let boot_line = format!("PARTUUID={id}-01  {}  vfat", generation.boot_mount());
    assert!(fstab.contains(&boot_line), "{boot_line} not in\n{fstab}");
    let root_line = format!("PARTUUID={id}-02  /  ext4");
    assert!(fstab.contains(&root_line), "{root_line} not in\n{fstab}");
    assert!(!fstab.contains("mmcblk0"), "{fstab}");
    assert!(
        fstab
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .all(|l| l.split_whitespace().nth(2) != Some("swap")),
        "{fstab}"
    );
    assert!(
        fstab.contains(
            "LABEL=www  /var/www  ext4  defaults,noatime,nofail,x-systemd.device-timeout=10s  0  2\n"
        ),
        "{fstab}"
    );
    assert_eq!(card.stat("/var/www").0, "directory");

    // cmdline.txt: the card's root, no first-boot resize, IPv6 not disabled, and every
    // other word of the base's kept in its order.
    let cmdline = card.boot_file("cmdline.txt").expect("cmdline.txt");
    let words: Vec<&str> = cmdline.split_whitespace().collect();
    let base_cmdline = built.base_cmdline();
    let kept: Vec<&str> = base_cmdline
        .split_whitespace()
        .filter(|w| !w.starts_with("root=") && !w.starts_with("init=") && *w != "resize")
        .collect();
    assert_eq!(
        words
            .iter()
            .copied()
            .filter(|w| !w.starts_with("root="))
            .collect::<Vec<_>>(),
        kept,
        "{cmdline}"
    );
    assert!(
        words.contains(&format!("root=PARTUUID={id}-02").as_str()),
        "{cmdline}"
    );
    assert_eq!(
        words.iter().filter(|w| w.starts_with("root=")).count(),
        1,
        "{cmdline}"
    );
    assert!(
        !words
            .iter()
            .any(|w| w.starts_with("init=") || *w == "resize" || w.starts_with("ipv6.disable")),
        "{cmdline}"
    );

    // The network, as the generation's renderer reads it.
    match generation {
        Generation::Jessie => {
            let conf = card.text("/etc/dhcpcd.conf");
            assert!(
                conf.starts_with("hostname\n"),
                "the base's options stay: {conf}"
            );
            assert!(
                conf.contains(&format!(
                    "interface eth0\nnoipv4\nnoipv6rs\nstatic ip6_address={address}\n"
                )),
                "{conf}"
            );
            assert!(conf.contains("2001:db8:0:53::64"), "{conf}");
            let (_, mode, uid, gid) = card.stat("/etc/dhcpcd.conf");
            let netdev = group_id(&card.text("/etc/group"), "netdev");
            assert_eq!(
                (mode, uid, gid),
                (0o664, 0, netdev),
                "root:netdev 0664 kept"
            );
            let hook = card.text("/etc/dhcpcd.exit-hook");
            assert!(hook.contains("2001:db8:0:82::1"), "{hook}");
            assert!(
                !card.exists("/etc/modprobe.d/ipv6.conf"),
                "IPv6 switched back on"
            );
            assert!(!card.exists("/etc/NetworkManager"));
        }
        Generation::Bookworm | Generation::Trixie => {
            let path = "/etc/NetworkManager/system-connections/eth0.nmconnection";
            let keyfile = card.text(path);
            assert!(keyfile.contains("[ipv4]\nmethod=disabled\n"), "{keyfile}");
            assert!(
                keyfile.contains(&format!("address1={address}")),
                "{keyfile}"
            );
            assert!(keyfile.contains("2001:db8:0:82::1"), "{keyfile}");
            assert_eq!(card.stat(path), ("regular".to_owned(), 0o600, 0, 0));
            assert!(!card.exists("/etc/dhcpcd.conf"));
        }
    }
    if generation == Generation::Trixie {
        let names = card.boot_names();
        assert!(
            !names
                .iter()
                .any(|n| n.eq_ignore_ascii_case("network-config")),
            "{names:?}"
        );
        assert!(
            card.text("/etc/cloud/cloud.cfg.d/99-pi-imager-network.cfg")
                .contains("network: {config: disabled}")
        );
        // user-data agrees with the profile: cloud-init keeps the host name, makes no
        // `pi` of its own, and sets what the profile sets.
        let user_data = card.boot_file("user-data").expect("user-data kept");
        for line in [
            "preserve_hostname: true\n",
            "users: []\n",
            "ssh_pwauth: false\n",
            "timezone: \"Europe/London\"\n",
        ] {
            assert!(user_data.contains(line), "{line} not in\n{user_data}");
        }
        assert!(!user_data.contains("raspberrypi"), "{user_data}");
        assert!(!user_data.contains("passwd"), "{user_data}");
        assert!(card.boot_file("meta-data").is_some(), "meta-data kept");
    }

    // Swap off, the way the generation runs it.
    assert!(!card.exists("/var/swap"));
    for rc in [
        "rc2.d/S02",
        "rc3.d/S02",
        "rc5.d/S02",
        "rc0.d/K01",
        "rc6.d/K01",
    ] {
        assert!(!card.exists(&format!("/etc/{rc}dphys-swapfile")), "{rc}");
    }
    assert!(!card.exists("/etc/systemd/system/multi-user.target.wants/dphys-swapfile.service"));
    if generation == Generation::Trixie {
        assert!(
            card.text("/etc/rpi/swap.conf.d/90-pi-imager.conf")
                .contains("[Main]\nMechanism=none\n")
        );
        // The image already fills the card: the resize service is gone and masked.
        assert!(!card.exists("/etc/systemd/system/multi-user.target.wants/rpi-resize.service"));
        assert_eq!(
            card.link("/etc/systemd/system/rpi-resize.service"),
            "/dev/null"
        );
    } else {
        assert!(!card.exists("/etc/rpi/swap.conf.d/90-pi-imager.conf"));
    }

    // The site is never served from the card: both services need the drive.
    for service in ["nginx", &format!("php{php}-fpm")] {
        let drop_in = card.text(&format!(
            "/etc/systemd/system/{service}.service.d/pi-imager-mounts.conf"
        ));
        assert!(
            drop_in.contains("[Unit]\nRequiresMountsFor=/var/www\n"),
            "{service}: {drop_in}"
        );
    }

    // Labels as the base's.
    let boot_label = if generation == Generation::Jessie {
        "boot"
    } else {
        "bootfs"
    };
    assert_eq!(
        ok(Command::new("fatlabel").arg(&card.boot)).trim(),
        boot_label
    );
    assert_eq!(ok(Command::new("e2label").arg(&card.root)).trim(), "rootfs");

    // Host name and time zone (trixie's tzdata dropped /etc/timezone).
    assert_eq!(card.text("/etc/hostname"), format!("{hostname}\n"));
    assert_eq!(
        card.link("/etc/localtime"),
        "/usr/share/zoneinfo/Europe/London"
    );
    match generation {
        Generation::Trixie => assert!(!card.exists("/etc/timezone")),
        _ => assert_eq!(card.text("/etc/timezone"), "Europe/London\n"),
    }
    assert!(
        card.text("/etc/hosts")
            .contains(&format!("127.0.1.1\t{hostname}"))
    );

    // The account: adduser's shape, keys only, files owned as sshd demands.
    let passwd = card.text("/etc/passwd");
    assert!(
        passwd
            .lines()
            .any(|l| l.starts_with("pete:x:1000:1000:,,,:/home/pete:")),
        "{passwd}"
    );
    let shadow_gid = group_id(&card.text("/etc/group"), "shadow");
    assert_eq!(
        card.stat("/etc/shadow"),
        ("regular".to_owned(), 0o640, 0, shadow_gid)
    );
    assert!(card.text("/etc/shadow").contains("\npete:*:"));
    assert_eq!(
        card.stat("/etc/gshadow"),
        ("regular".to_owned(), 0o640, 0, shadow_gid)
    );
    let keys = "/home/pete/.ssh/authorized_keys";
    assert_eq!(card.stat(keys), ("regular".to_owned(), 0o600, 1000, 1000));
    assert_eq!(card.text(keys), format!("{KEY}\n"));
    assert_eq!(card.stat("/home/pete/.ssh").2, 1000);
    let sudo = card
        .text("/etc/group")
        .lines()
        .find(|l| l.starts_with("sudo:"))
        .unwrap()
        .to_owned();
    assert!(sudo.ends_with("pete"), "{sudo}");

    // SSH: enabled by systemctl's links, key logins only.
    let ssh_unit = format!("{}/ssh.service", generation.units());
    assert_eq!(
        card.link("/etc/systemd/system/multi-user.target.wants/ssh.service"),
        ssh_unit
    );
    let sshd = match generation {
        // jessie's sshd_config has no Include: it is edited itself.
        Generation::Jessie => card.text("/etc/ssh/sshd_config"),
        _ => card.text("/etc/ssh/sshd_config.d/00-pi-imager.conf"),
    };
    assert!(sshd.contains("\nPasswordAuthentication no\n"), "{sshd}");
    // PAM's keyboard-interactive passwords too, under the keyword the generation's sshd knows.
    let kbd = match generation {
        Generation::Jessie => "ChallengeResponseAuthentication no\n",
        _ => "KbdInteractiveAuthentication no\n",
    };
    assert!(sshd.contains(kbd), "{sshd}");

    // The web server's headers, in a file no package owns.
    let headers = card.text("/etc/nginx/conf.d/pi-imager-headers.conf");
    // jessie's nginx 1.6.2 predates `always`.
    let always = if generation == Generation::Jessie {
        ""
    } else {
        " always"
    };
    assert!(
        headers.contains(&format!(
            "add_header X-Served-By \"{served_by}\"{always};\n"
        )),
        "{headers}"
    );
    assert!(
        headers.contains(&format!(
            "add_header X-Clacks-Overhead \"GNU Terry Pratchett\"{always};\n"
        )),
        "{headers}"
    );
    assert_eq!(
        card.link("/etc/nginx/sites-enabled/default"),
        "/etc/nginx/sites-available/pi-imager"
    );
    assert!(
        card.text("/etc/nginx/sites-available/pi-imager")
            .contains(&format!("fastcgi_pass unix:/run/php/php{php}-fpm.sock;"))
    );
    assert!(
        card.text(&format!("/etc/php/{php}/fpm/pool.d/zz-pi-imager.conf"))
            .contains("pm.max_children = 10\n")
    );

    // The node's server: binary 0755, unit, its wants link.
    assert_eq!(
        card.stat("/usr/local/bin/blog-agent"),
        ("regular".to_owned(), 0o755, 0, 0)
    );
    let unit = card.text("/etc/systemd/system/blog-agent.service");
    assert!(unit.contains("User=www-data\n"), "{unit}");
    assert!(unit.contains("Restart=always\n"), "{unit}");
    // jessie's systemd 215 knows neither MemoryMax= nor ProtectSystem=strict, and
    // StateDirectory= came with buster's systemd 241.
    let expected: &[&str] = match generation {
        Generation::Jessie => &["MemoryLimit=32M\n", "ProtectSystem=full\n"],
        _ => &[
            "MemoryMax=32M\n",
            "ProtectSystem=strict\n",
            "StateDirectory=blog-agent\n",
        ],
    };
    for line in expected {
        assert!(unit.contains(line), "{line} not in\n{unit}");
    }
    if generation == Generation::Jessie {
        assert!(!unit.contains("MemoryMax="), "{unit}");
    }
    let fpm_memory = card.text(&format!(
        "/etc/systemd/system/php{php}-fpm.service.d/pi-imager-memory.conf"
    ));
    let fpm_line = match generation {
        Generation::Jessie => "MemoryLimit=640M\n",
        _ => "MemoryMax=640M\n",
    };
    assert!(fpm_memory.contains(fpm_line), "{fpm_memory}");
    assert_eq!(
        card.link("/etc/systemd/system/multi-user.target.wants/blog-agent.service"),
        "/etc/systemd/system/blog-agent.service"
    );

    // The drive image holds the site, labelled as fstab names it.
    let drive = built.out(&format!("blog-{node}-www.img"));
    ok(Command::new("e2fsck").arg("-fn").arg(&drive));
    assert_eq!(ok(Command::new("e2label").arg(&drive)).trim(), "www");
    let index = ok(Command::new("debugfs")
        .args(["-R", "cat /index.php"])
        .arg(&drive));
    assert!(index.contains("<?php"), "{index}");

    // The overlay's modes and owners, named as the image names them.
    let www_data = group_id(&card.text("/etc/group"), "www-data");
    assert_eq!(
        card.stat("/etc/demo/agent.conf"),
        ("regular".to_owned(), 0o640, 0, www_data)
    );
}

fn group_id(group: &str, name: &str) -> u32 {
    group
        .lines()
        .find_map(|l| {
            let mut fields = l.split(':');
            (fields.next() == Some(name)).then(|| fields.nth(1).unwrap().parse().unwrap())
        })
        .unwrap_or_else(|| panic!("no group {name}"))
}

/// The files of both filesystems with what identifies their content and attributes:
/// regular files by digest, mode and owner, links by target.
fn listing(manifest: &serde_json::Value) -> BTreeMap<(String, String), String> {
    let mut out = BTreeMap::new();
    for entry in manifest["files"].as_array().unwrap() {
        out.insert(
            (
                entry["filesystem"].as_str().unwrap().to_owned(),
                entry["path"].as_str().unwrap().to_owned(),
            ),
            format!(
                "file {} {} {}:{}",
                entry["sha256"], entry["mode"], entry["uid"], entry["gid"]
            ),
        );
    }
    for entry in manifest["symlinks"].as_array().unwrap() {
        out.insert(
            (
                entry["filesystem"].as_str().unwrap().to_owned(),
                entry["path"].as_str().unwrap().to_owned(),
            ),
            format!("link {} {}:{}", entry["target"], entry["uid"], entry["gid"]),
        );
    }
    out
}

/// The files a node's setting writes, by the profile key that sets it. This is the node
/// stage's documented behaviour (docs/decisions.md, spec/node.md), not an observation of
/// a build:
/// - `name`: the node's identity. The MBR disk id derives from the profile digest and the
///   node's name, and cmdline.txt's `root=` and fstab's boot and root lines name it.
/// - `hostname`: /etc/hostname and the 127.0.1.1 line of /etc/hosts. (trixie's cloud-init
///   user-data keeps the written name with `preserve_hostname`, so it names no host.)
/// - `ipv6`: the renderer's own file: dhcpcd.conf's `static ip6_address` (jessie; the exit
///   hook holds only the gateway, which both nodes share), or the NetworkManager keyfile.
/// - `headers`: nginx's headers file.
/// - `board`: PHP-FPM's pool drop-in, whose `pm.max_children` is sized from the board's RAM
///   and whose comment names the board.
fn written_by(key: &str, generation: Generation) -> Vec<(&'static str, String)> {
    let root = |p: &str| ("root", p.to_owned());
    match key {
        "name" => vec![("boot", "/cmdline.txt".to_owned()), root("/etc/fstab")],
        "hostname" => vec![root("/etc/hostname"), root("/etc/hosts")],
        "ipv6" => match generation {
            Generation::Jessie => vec![root("/etc/dhcpcd.conf")],
            _ => vec![root(
                "/etc/NetworkManager/system-connections/eth0.nmconnection",
            )],
        },
        "headers" => vec![root("/etc/nginx/conf.d/pi-imager-headers.conf")],
        "board" => vec![root(&format!(
            "/etc/php/{}/fpm/pool.d/zz-pi-imager.conf",
            generation.php()
        ))],
        other => panic!("the test knows no files for the node key `{other}`"),
    }
}

/// The node keys whose effective values differ between the profile's two nodes: a key
/// either node sets, compared with the fleet's value where a node does not set it.
fn differing_keys(profile: &str) -> BTreeSet<String> {
    let doc: toml::Value = toml::from_str(profile).unwrap();
    let nodes = doc["node"].as_array().unwrap();
    let fleet = |key: &str| -> Option<toml::Value> {
        match key {
            "board" => doc["image"].get("board").cloned(),
            "hostname" => doc["system"].get("hostname").cloned(),
            "ipv6" => doc["network"].get("ipv6").cloned(),
            "headers" => doc["web"].get("headers").cloned(),
            _ => None,
        }
    };
    let effective = |node: &toml::Value, key: &str| -> Option<toml::Value> {
        let own = node.get(key).cloned();
        if key == "headers" {
            // A node's header replaces the fleet's of the same name; the others stay.
            let mut merged = fleet(key)
                .and_then(|v| v.as_table().cloned())
                .unwrap_or_default();
            if let Some(own) = own.and_then(|v| v.as_table().cloned()) {
                merged.extend(own);
            }
            return Some(toml::Value::Table(merged));
        }
        own.or_else(|| fleet(key))
    };
    let keys: BTreeSet<String> = nodes
        .iter()
        .flat_map(|n| n.as_table().unwrap().keys().cloned())
        .collect();
    keys.into_iter()
        .filter(|k| effective(&nodes[0], k) != effective(&nodes[1], k))
        .collect()
}

/// The seed story: the Pi 3 and the Pi 2 of one profile differ in exactly the files their
/// overrides write, in both filesystems, and in nothing else.
fn check_seed_story(built: &Built) {
    let generation = built.generation;
    let keys = differing_keys(&profile(generation));
    assert_eq!(
        keys,
        ["board", "headers", "hostname", "ipv6", "name"]
            .map(String::from)
            .into(),
        "the profile's nodes"
    );
    let expected: BTreeSet<(String, String)> = keys
        .iter()
        .flat_map(|k| written_by(k, generation))
        .map(|(fs, p)| (fs.to_owned(), p))
        .collect();
    let pi3 = listing(&built.manifest("pi3"));
    let pi2 = listing(&built.manifest("pi2"));
    let differ: BTreeSet<(String, String)> = pi3
        .keys()
        .chain(pi2.keys())
        .filter(|k| pi3.get(*k) != pi2.get(*k))
        .cloned()
        .collect();
    assert_eq!(
        differ,
        expected,
        "{}: pi3 and pi2 differ in {differ:?}, the overrides write {expected:?}",
        generation.name()
    );
}

fn jessie_features_kept(built: &Built) {
    let card = built.card("pi3");
    let features = String::from_utf8(card.debugfs("features").stdout).unwrap();
    assert!(
        !features.contains("metadata_csum") && !features.contains("64bit"),
        "jessie's e2fsck 1.42 would refuse: {features}"
    );
    assert!(features.contains("huge_file"), "{features}");
}

/// Both nodes of the blog profile, each with its own overrides.
fn check_both_cards(built: &Built) {
    check_card(
        built,
        "pi3",
        "blog-pi3",
        "2001:db8:0:82::3/64",
        "Raspberry Pi 3",
    );
    check_card(
        built,
        "pi2",
        "blog-pi2",
        "2001:db8:0:82::2/64",
        "Raspberry Pi 2",
    );
}

#[test]
fn jessie_2016_node_settings_are_in_the_built_images() {
    let built = Built::new(Generation::Jessie);
    check_both_cards(&built);
    jessie_features_kept(&built);
    let manifest = built.manifest("pi3");
    assert_eq!(manifest["build"]["generation"], "jessie");
    check_seed_story(&built);
}

#[test]
fn bookworm_node_settings_are_in_the_built_images() {
    let built = Built::new(Generation::Bookworm);
    check_both_cards(&built);
    assert_eq!(built.manifest("pi2")["build"]["generation"], "bookworm");
    check_seed_story(&built);
}

#[test]
fn trixie_node_settings_are_in_the_built_images() {
    let built = Built::new(Generation::Trixie);
    check_both_cards(&built);
    assert_eq!(built.manifest("pi3")["build"]["generation"], "trixie");
    check_seed_story(&built);
}
