//! The node stage run whole on each generation-shaped base (see `bases`): what each
//! generation's files look like afterwards.

use super::bases::{self, SEED};
use super::{NodeInputs, apply, generation};
use crate::profile::Generation;
use crate::tree::{Kind, Tree, TreePath};

fn text(tree: &Tree, path: &str) -> Option<String> {
    let inode = tree
        .lookup(&TreePath::parse(path.trim_start_matches('/')).unwrap())
        .ok()?;
    match &inode.kind {
        Kind::File { size, content } => {
            Some(String::from_utf8(content.read_to_vec(*size, 1 << 20).unwrap()).unwrap())
        }
        _ => None,
    }
}

fn exists(tree: &Tree, path: &str) -> bool {
    tree.get(&TreePath::parse(path.trim_start_matches('/')).unwrap())
        .is_some()
}

#[test]
fn jessie_2016() {
    let (mut root, mut boot) = bases::jessie();
    let generation = generation::detect(&root, None).unwrap();
    assert_eq!(generation, Generation::Jessie);
    let profile = bases::profile(SEED);
    let ids = bases::ids();
    let ctx = bases::context(&profile, &ids, generation);
    let outcome = apply(&mut root, &mut boot, &ctx, &NodeInputs::default()).unwrap();

    let cmdline = text(&boot, "cmdline.txt").unwrap();
    assert!(cmdline.contains(" root=PARTUUID=1a2b3c4d-02 "), "{cmdline}");
    let fstab = text(&root, "etc/fstab").unwrap();
    assert!(
        fstab.contains("PARTUUID=1a2b3c4d-01  /boot  vfat  defaults  0  2\n"),
        "{fstab}"
    );
    assert!(fstab.contains("PARTUUID=1a2b3c4d-02  /  ext4  defaults,noatime  0  1\n"));
    assert!(fstab.contains(
        "LABEL=www  /var/www  ext4  defaults,noatime,nofail,x-systemd.device-timeout=10s  0  2\n"
    ));
    assert!(!fstab.contains("mmcblk0"));

    let dhcpcd = text(&root, "etc/dhcpcd.conf").unwrap();
    assert!(dhcpcd.starts_with("hostname\n"));
    assert!(
        dhcpcd
            .contains("interface eth0\nnoipv4\nnoipv6rs\nstatic ip6_address=2001:db8:0:82::3/64\n")
    );
    let conf = root
        .lookup(&TreePath::parse("etc/dhcpcd.conf").unwrap())
        .unwrap();
    assert_eq!(
        (conf.mode, conf.gid),
        (0o664, 108),
        "dhcpcd.conf keeps root:netdev 0664"
    );
    assert!(
        text(&root, "etc/dhcpcd.exit-hook")
            .unwrap()
            .contains("default via 2001:db8:0:82::1")
    );
    assert!(!exists(&root, "etc/modprobe.d/ipv6.conf"));

    assert!(!exists(&root, "var/swap"));
    assert!(!exists(&root, "etc/rc2.d/S02dphys-swapfile"));
    assert!(!exists(&root, "etc/rc0.d/K01dphys-swapfile"));
    assert!(!exists(&root, "etc/rpi/swap.conf.d/90-pi-imager.conf"));

    assert!(
        root.get(&TreePath::parse("var/www").unwrap())
            .unwrap()
            .is_dir()
    );
    for service in ["nginx", "php7.0-fpm"] {
        let drop_in = text(
            &root,
            &format!("etc/systemd/system/{service}.service.d/pi-imager-mounts.conf"),
        )
        .unwrap();
        assert!(drop_in.ends_with("[Unit]\nRequiresMountsFor=/var/www\n"));
    }

    let listed: Vec<String> = outcome.root.iter().map(ToString::to_string).collect();
    for path in [
        "/etc/fstab",
        "/etc/dhcpcd.conf",
        "/etc/dhcpcd.exit-hook",
        "/var/swap",
        "/etc/modprobe.d/ipv6.conf",
        "/var/www",
    ] {
        assert!(
            listed.contains(&path.to_owned()),
            "{path} not in {listed:?}"
        );
    }
    assert_eq!(
        outcome
            .boot
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["/cmdline.txt"]
    );
    assert!(outcome.notes.iter().any(|n| n.contains("IPv6")));
}

#[test]
fn bookworm() {
    let (mut root, mut boot) = bases::bookworm();
    let generation = generation::detect(&root, None).unwrap();
    assert_eq!(generation, Generation::Bookworm);
    let profile = bases::profile(SEED);
    let ids = bases::ids();
    let ctx = bases::context(&profile, &ids, generation);
    apply(&mut root, &mut boot, &ctx, &NodeInputs::default()).unwrap();

    let cmdline = text(&boot, "cmdline.txt").unwrap();
    assert_eq!(
        cmdline,
        "console=serial0,115200 console=tty1 root=PARTUUID=1a2b3c4d-02 rootfstype=ext4 fsck.repair=yes rootwait quiet\n"
    );
    let fstab = text(&root, "etc/fstab").unwrap();
    assert!(
        fstab.contains("PARTUUID=1a2b3c4d-01  /boot/firmware  vfat"),
        "{fstab}"
    );
    let path = "etc/NetworkManager/system-connections/eth0.nmconnection";
    let keyfile = root.get(&TreePath::parse(path).unwrap()).unwrap();
    assert_eq!((keyfile.mode, keyfile.uid, keyfile.gid), (0o600, 0, 0));
    assert!(
        text(&root, path)
            .unwrap()
            .contains("[ipv4]\nmethod=disabled\n")
    );
    assert!(!exists(&root, "etc/dhcpcd.conf"));
    assert!(!exists(
        &root,
        "etc/systemd/system/multi-user.target.wants/dphys-swapfile.service"
    ));
}

#[test]
fn trixie() {
    let (mut root, mut boot) = bases::trixie();
    let generation = generation::detect(&root, None).unwrap();
    assert_eq!(generation, Generation::Trixie);
    let profile = bases::profile(SEED);
    let ids = bases::ids();
    let ctx = bases::context(&profile, &ids, generation);
    let outcome = apply(&mut root, &mut boot, &ctx, &NodeInputs::default()).unwrap();

    let cmdline = text(&boot, "cmdline.txt").unwrap();
    assert!(
        !cmdline.split_whitespace().any(|w| w == "resize"),
        "{cmdline}"
    );
    assert!(!exists(&boot, "network-config"));
    assert!(exists(&boot, "user-data"));
    assert!(
        text(&root, "etc/cloud/cloud.cfg.d/99-pi-imager-network.cfg")
            .unwrap()
            .contains("network: {config: disabled}")
    );
    assert_eq!(
        text(&root, "etc/rpi/swap.conf.d/90-pi-imager.conf").unwrap(),
        "# Written by pi-imager from the profile's [swap].\n[Main]\nMechanism=none\n"
    );
    let mask = root
        .get(&TreePath::parse("etc/systemd/system/rpi-resize.service").unwrap())
        .unwrap();
    assert!(matches!(&mask.kind, Kind::Symlink(t) if t == b"/dev/null"));
    assert!(
        outcome
            .boot
            .iter()
            .any(|p| p.to_string() == "/network-config")
    );
}

#[test]
fn zram_and_renderer_overrides() {
    let zram = SEED.replace("enabled = false", "enabled = false\nzram = \"256MiB\"");
    let profile = bases::profile(&zram);
    let ids = bases::ids();
    let (mut root, mut boot) = bases::trixie();
    let ctx = bases::context(&profile, &ids, Generation::Trixie);
    apply(&mut root, &mut boot, &ctx, &NodeInputs::default()).unwrap();
    assert!(
        text(&root, "etc/rpi/swap.conf.d/90-pi-imager.conf")
            .unwrap()
            .contains("Mechanism=zram\n")
    );
    assert!(
        text(&root, "etc/systemd/zram-generator.conf.d/90-pi-imager.conf")
            .unwrap()
            .ends_with("[zram0]\nzram-size = 256\n")
    );

    let (mut root, mut boot) = bases::jessie();
    let ctx = bases::context(&profile, &ids, Generation::Jessie);
    let message = apply(&mut root, &mut boot, &ctx, &NodeInputs::default())
        .unwrap_err()
        .to_string();
    assert!(message.contains("zram-tools"), "{message}");

    let nm = SEED.replace(
        "interface = \"eth0\"",
        "interface = \"eth0\"\nrenderer = \"networkmanager\"",
    );
    let profile = bases::profile(&nm);
    let (mut root, mut boot) = bases::jessie();
    let ctx = bases::context(&profile, &ids, Generation::Jessie);
    let message = apply(&mut root, &mut boot, &ctx, &NodeInputs::default())
        .unwrap_err()
        .to_string();
    assert!(message.contains("network-manager"), "{message}");

    let dhcpcd = SEED.replace(
        "interface = \"eth0\"",
        "interface = \"eth0\"\nrenderer = \"dhcpcd\"",
    );
    let profile = bases::profile(&dhcpcd);
    let (mut root, mut boot) = bases::bookworm();
    let ctx = bases::context(&profile, &ids, Generation::Bookworm);
    assert!(
        apply(&mut root, &mut boot, &ctx, &NodeInputs::default())
            .unwrap_err()
            .to_string()
            .contains("dhcpcd5")
    );

    let networkd = SEED.replace(
        "interface = \"eth0\"",
        "interface = \"eth0\"\nrenderer = \"networkd\"",
    );
    let profile = bases::profile(&networkd);
    let (mut root, mut boot) = bases::bookworm();
    let ctx = bases::context(&profile, &ids, Generation::Bookworm);
    let message = apply(&mut root, &mut boot, &ctx, &NodeInputs::default())
        .unwrap_err()
        .to_string();
    assert!(message.contains("has no systemd-networkd"), "{message}");
    let (mut root, mut boot) = bases::jessie();
    let ctx = bases::context(&profile, &ids, Generation::Jessie);
    let message = apply(&mut root, &mut boot, &ctx, &NodeInputs::default())
        .unwrap_err()
        .to_string();
    assert!(message.contains("not supported on jessie"), "{message}");
}

#[test]
fn networkd_on_bookworm_is_enabled_and_networkmanager_stands_aside() {
    let networkd = SEED.replace(
        "interface = \"eth0\"",
        "interface = \"eth0\"\nrenderer = \"networkd\"",
    );
    let profile = bases::profile(&networkd);
    let ids = bases::ids();
    let (mut root, mut boot) = bases::bookworm();
    for unit in ["systemd-networkd.service", "systemd-networkd.socket"] {
        root.insert(
            TreePath::parse(format!("lib/systemd/system/{unit}")).unwrap(),
            crate::tree::Inode::file(b"[Unit]\n".to_vec(), 0o644, bases::T),
        )
        .unwrap();
    }
    let ctx = bases::context(&profile, &ids, Generation::Bookworm);
    apply(&mut root, &mut boot, &ctx, &NodeInputs::default()).unwrap();
    let file = text(&root, "etc/systemd/network/10-pi-imager-eth0.network").unwrap();
    assert!(file.contains("Address=2001:db8:0:82::3/64\nGateway=2001:db8:0:82::1\n"));
    for link in [
        "etc/systemd/system/multi-user.target.wants/systemd-networkd.service",
        "etc/systemd/system/sockets.target.wants/systemd-networkd.socket",
    ] {
        assert!(exists(&root, link), "{link}");
    }
    assert!(
        text(
            &root,
            "etc/NetworkManager/conf.d/90-pi-imager-unmanaged.conf"
        )
        .unwrap()
        .contains("interface-name:eth0")
    );
    assert!(!exists(
        &root,
        "etc/NetworkManager/system-connections/eth0.nmconnection"
    ));
}

#[test]
fn an_upper_case_cmdline_is_found_and_kept_under_its_name() {
    let (mut root, mut boot) = bases::jessie();
    let path = TreePath::parse("cmdline.txt").unwrap();
    let inode = boot.get(&path).unwrap().clone();
    boot.remove(&path).unwrap();
    boot.insert(TreePath::parse("CMDLINE.TXT").unwrap(), inode)
        .unwrap();
    let profile = bases::profile(SEED);
    let ids = bases::ids();
    let ctx = bases::context(&profile, &ids, Generation::Jessie);
    let outcome = apply(&mut root, &mut boot, &ctx, &NodeInputs::default()).unwrap();
    assert!(
        text(&boot, "CMDLINE.TXT")
            .unwrap()
            .contains("root=PARTUUID=1a2b3c4d-02")
    );
    assert!(!exists(&boot, "cmdline.txt"));
    assert_eq!(outcome.boot.len(), 1);
}

#[test]
fn ifupdown_on_jessie_takes_the_interface_from_dhcpcd() {
    let ifupdown = SEED.replace(
        "interface = \"eth0\"",
        "interface = \"eth0\"\nrenderer = \"ifupdown\"",
    );
    let profile = bases::profile(&ifupdown);
    let ids = bases::ids();
    let (mut root, mut boot) = bases::jessie();
    let ctx = bases::context(&profile, &ids, Generation::Jessie);
    apply(&mut root, &mut boot, &ctx, &NodeInputs::default()).unwrap();
    let stanza = text(&root, "etc/network/interfaces.d/pi-imager-eth0").unwrap();
    assert!(stanza.contains("iface eth0 inet6 static\n    address 2001:db8:0:82::3/64\n"));
    assert!(
        text(&root, "etc/network/interfaces")
            .unwrap()
            .contains("# pi-imager (see interfaces.d): iface eth0 inet manual")
    );
    let dhcpcd = text(&root, "etc/dhcpcd.conf").unwrap();
    assert!(dhcpcd.ends_with("denyinterfaces eth0\n"), "{dhcpcd}");
    assert!(!dhcpcd.contains("interface eth0"));
    assert!(
        text(&root, "etc/resolv.conf")
            .unwrap()
            .contains("nameserver 2001:db8:0:53::64\n")
    );
    assert!(!exists(&root, "etc/dhcpcd.exit-hook"));
}

#[test]
fn zram_the_base_set_up_itself_is_switched_off() {
    use crate::tree::Inode;
    let (mut root, mut boot) = bases::bookworm();
    for (path, inode) in [
        (
            "usr/lib/systemd/system-generators/zram-generator",
            Inode::file(b"\x7fELF".to_vec(), 0o755, bases::T),
        ),
        (
            "usr/lib/systemd/system/zramswap.service",
            Inode::file(b"[Unit]\n".to_vec(), 0o644, bases::T),
        ),
        (
            "etc/systemd/system/multi-user.target.wants/zramswap.service",
            Inode::symlink(b"/lib/systemd/system/zramswap.service".to_vec(), bases::T),
        ),
    ] {
        let path = TreePath::parse(path).unwrap();
        root.create_dir_all(&path.parent().unwrap(), &Inode::dir(0o755, bases::T))
            .unwrap();
        root.insert(path, inode).unwrap();
    }
    let profile = bases::profile(SEED);
    let ids = bases::ids();
    let ctx = bases::context(&profile, &ids, Generation::Bookworm);
    apply(&mut root, &mut boot, &ctx, &NodeInputs::default()).unwrap();
    assert!(!exists(
        &root,
        "etc/systemd/system/multi-user.target.wants/zramswap.service"
    ));
    let conf = text(&root, "etc/systemd/zram-generator.conf").unwrap();
    assert!(conf.lines().all(|l| l.starts_with('#')), "{conf}");
}
