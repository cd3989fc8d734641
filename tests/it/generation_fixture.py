#!/usr/bin/env python3
"""Base images shaped like three Raspberry Pi OS generations, for the node end-to-end tests
(tests/it/node_e2e.rs), made with scripts/make-demo's own functions and the real tools.

    generation_fixture.py GENERATION OUT      (GENERATION: jessie, bookworm or trixie)

Writes into OUT: base.img (raw), repo/ (a signed two-suite repository: `old`, the base's own
sources, and `new`, an extra suite holding PHP-FPM), keys/demo.asc, bin/demo-agent,
overlay/, www/.

- jessie: Raspbian Jessie Lite 2016-02 as it was: FAT16 boot at 4 MiB mounted at /boot,
  /dev/mmcblk0p2 in cmdline.txt and fstab, dhcpcd (root:netdev 0664 dhcpcd.conf),
  dphys-swapfile with its rc?.d links and /var/swap, IPv6 switched off by modprobe,
  os-release without VERSION_CODENAME, debian_version 8.0, no merged /usr, an ext4 root
  without metadata_csum or 64bit (e2fsprogs 1.42 knew neither), nginx 1.6.2, sshd_config
  without an Include, php7.0-fpm from the extra suite (the blog's stretch PHP).
- bookworm: the demo's own shape (/boot/firmware, NetworkManager, init=...firstboot).
- trixie: merged /usr with /lib, rpi-swap (/etc/rpi/swap.conf), cloud-init (`network-config`,
  `user-data`, `meta-data` on the boot partition), ` resize` on cmdline and
  rpi-resize.service enabled, units in /usr/lib/systemd/system, php8.4-fpm.

Every package is a stand-in, as the demo's are: only the shape counts.
"""

import importlib.machinery
import importlib.util
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
MAKE_DEMO = os.path.join(HERE, "..", "..", "scripts", "make-demo")

loader = importlib.machinery.SourceFileLoader("make_demo", MAKE_DEMO)
spec = importlib.util.spec_from_loader("make_demo", loader)
demo = importlib.util.module_from_spec(spec)
loader.exec_module(demo)

pkg, doc, script, unit, run = demo.pkg, demo.doc, demo.script, demo.unit, demo.run
ORIGINAL_ETC_FILES = demo.etc_files
MIB = demo.MIB

# Raspbian Jessie's mke2fs 1.42 defaults: no metadata_csum, no 64bit.
JESSIE_FEATURES = (
    "has_journal,ext_attr,resize_inode,dir_index,filetype,extent,flex_bg,sparse_super,"
    "large_file,huge_file,uninit_bg,dir_nlink,extra_isize"
)

JESSIE_OS_RELEASE = b"""\
PRETTY_NAME="Raspbian GNU/Linux 8 (jessie)"
NAME="Raspbian GNU/Linux"
VERSION_ID="8"
VERSION="8 (jessie)"
ID=raspbian
ID_LIKE=debian
HOME_URL="https://www.example.org/pi-imager-test/"
"""

TRIXIE_OS_RELEASE = b"""\
PRETTY_NAME="Debian GNU/Linux 13 (trixie)"
NAME="Debian GNU/Linux"
VERSION_ID="13"
VERSION="13 (trixie)"
VERSION_CODENAME=trixie
DEBIAN_VERSION_FULL=13.1
ID=debian
HOME_URL="https://www.example.org/pi-imager-test/"
"""

JESSIE_SSHD = b"""\
# pi-imager test stand-in shaped like jessie's sshd_config (no Include)
Port 22
Protocol 2
UsePrivilegeSeparation yes
PermitRootLogin without-password
ChallengeResponseAuthentication no
#PasswordAuthentication yes
X11Forwarding yes
AcceptEnv LANG LC_*
Subsystem sftp /usr/lib/openssh/sftp-server
UsePAM yes
"""

TRIXIE_SSHD = b"""\
# pi-imager test stand-in shaped like trixie's sshd_config
Include /etc/ssh/sshd_config.d/*.conf
KbdInteractiveAuthentication no
UsePAM yes
Subsystem sftp /usr/lib/openssh/sftp-server
"""

USER_DATA = b"""\
#cloud-config
# pi-imager test stand-in shaped like Raspberry Pi OS trixie's user-data, as the
# imager writes it
hostname: raspberrypi
manage_etc_hosts: true
users:
- name: pi
  groups: users,adm,dialout,audio,netdev,video,plugdev,cdrom,games,input,gpio,spi,i2c,render,sudo
  shell: /bin/bash
  lock_passwd: false
  passwd: $5$stand-in$notarealhash
ssh_pwauth: true
timezone: Etc/UTC
"""

META_DATA = b"dsmode: local\ninstance_id: rpios-image\n"

NETWORK_CONFIG = b"""\
network:
  version: 2
  ethernets:
    eth0:
      dhcp4: true
      optional: true
"""


def php(version, package_version, units):
    """php<version>-common and -fpm in the `new` suite, Debian's /etc/php/<v> layout."""
    return [
        pkg(
            f"php{version}-common", package_version, ["new"], section="php",
            source=f"php{version}",
            files={
                f"/etc/php/{version}/mods-available/test.ini": (0o644, b"; stand-in\n"),
                **doc(f"php{version}-common"),
            },
            conffiles=[f"/etc/php/{version}/mods-available/test.ini"],
        ),
        pkg(
            f"php{version}-fpm", package_version, ["new"], section="php",
            source=f"php{version}", depends=f"php{version}-common (= {package_version})",
            files={
                f"/etc/php/{version}/fpm/php-fpm.conf": (
                    0o644, f"[global]\ninclude=/etc/php/{version}/fpm/pool.d/*.conf\n".encode()),
                f"/etc/php/{version}/fpm/pool.d/www.conf": (
                    0o644, demo.FPM_POOL.replace(b"8.2", version.encode())),
                f"{units}/php{version}-fpm.service": (
                    0o644, unit(f"PHP {version} FPM (stand-in)", f"/usr/sbin/php-fpm{version} -F")),
                f"/usr/sbin/php-fpm{version}": (0o755, script("exit 1\n")),
                **doc(f"php{version}-fpm"),
            },
            conffiles=[f"/etc/php/{version}/fpm/php-fpm.conf",
                       f"/etc/php/{version}/fpm/pool.d/www.conf"],
        ),
    ]


def by_name(names):
    return [p for p in demo.PACKAGES if p["name"] in names and "old" in p["suites"]]


def tzdata_locales():
    return by_name({"tzdata", "locales", "libdemo1"})


def jessie():
    demo.MERGED = {}
    demo.DIRS = [d for d in demo.DIRS if d != "/boot/firmware"]
    demo.ROOT_FEATURES = JESSIE_FEATURES
    units = "/lib/systemd/system"
    demo.PACKAGES = [
        pkg("base-files", "8+rpi1", ["old"], section="admin", priority="required",
            installed=True,
            files={
                "/etc/debian_version": (0o644, b"8.0\n"),
                "/etc/os-release": (0o644, JESSIE_OS_RELEASE),
                **doc("base-files"),
            },
            conffiles=["/etc/debian_version"]),
        *tzdata_locales(),
        pkg("dhcpcd5", "1:6.7.1-1+rpi1", ["old"], section="net", installed=True,
            files={
                "/sbin/dhcpcd5": (0o755, script("exit 0\n")),
                f"{units}/dhcpcd.service": (0o644, unit("dhcpcd (stand-in)", "/sbin/dhcpcd5 -q -b")),
                **doc("dhcpcd5"),
            }),
        pkg("dphys-swapfile", "20100506-1", ["old"], arch="all", section="admin",
            installed=True,
            files={
                "/etc/dphys-swapfile": (0o644, b"CONF_SWAPSIZE=100\n"),
                "/etc/init.d/dphys-swapfile": (0o755, script("exit 0\n")),
                "/sbin/dphys-swapfile": (0o755, script("exit 0\n")),
                **doc("dphys-swapfile"),
            },
            conffiles=["/etc/dphys-swapfile", "/etc/init.d/dphys-swapfile"],
            scripts={"postrm": script('set -e\nif [ "$1" = purge ]; then rm -f /var/swap; fi\n')}),
        pkg("openssh-server", "1:6.7p1-5+deb8u1", ["old"], section="net", installed=True,
            source="openssh",
            files={
                "/etc/ssh/sshd_config": (0o644, JESSIE_SSHD),
                f"{units}/ssh.service": (0o644, unit("OpenBSD Secure Shell server", "/usr/sbin/sshd -D")),
                "/usr/sbin/sshd": (0o755, script("exit 1\n")),
                **doc("openssh-server"),
            },
            conffiles=["/etc/ssh/sshd_config"]),
        *demo.nginx("1.6.2-5+deb8u1", ["old"], "libdemo1 (>= 1.0)"),
        *php("7.0", "7.0.33-0+deb9u1", units),
    ]
    demo.SERVICE_LINKS = {
        "/etc/systemd/system/multi-user.target.wants/dhcpcd.service": f"{units}/dhcpcd.service",
        **{f"/etc/rc{level}.d/S02dphys-swapfile": "../init.d/dphys-swapfile" for level in "2345"},
        **{f"/etc/rc{level}.d/K01dphys-swapfile": "../init.d/dphys-swapfile" for level in "016"},
    }

    def etc_files(key):
        files = ORIGINAL_ETC_FILES(key)
        files["/etc/fstab"] = (0o644, 0, 0, (
            "proc            /proc           proc    defaults          0       0\n"
            "/dev/mmcblk0p1  /boot           vfat    defaults          0       2\n"
            "/dev/mmcblk0p2  /               ext4    defaults,noatime  0       1\n"
            "# a swapfile is not a swap partition, no line here\n"
            "#   use  dphys-swapfile swap[on|off]  for that\n").encode())
        netdev = next(g for n, g, _ in demo.GROUPS if n == "netdev")
        files["/etc/dhcpcd.conf"] = (0o664, 0, netdev,
                                     b"hostname\nclientid\npersistent\noption rapid_commit\n")
        files["/etc/modprobe.d/ipv6.conf"] = (
            0o644, 0, 0, b"# Don't load ipv6 by default\nalias net-pf-10 off\n#alias ipv6 off\n")
        files["/etc/network/interfaces"] = (
            0o644, 0, 0,
            b"source-directory /etc/network/interfaces.d\n\nauto lo\niface lo inet loopback\n\n"
            b"iface eth0 inet manual\n")
        files["/var/swap"] = (0o600, 0, 0, bytes(8192))
        return files

    demo.etc_files = etc_files
    return {
        "boot": {
            "config.txt": b"# stand-in\ndtparam=audio=on\n",
            "cmdline.txt": b"dwc_otg.lpm_enable=0 console=ttyAMA0,115200 console=tty1 "
                           b"root=/dev/mmcblk0p2 rootfstype=ext4 elevator=deadline "
                           b"fsck.repair=yes rootwait\n",
            "kernel7.img": b"stand-in for the Pi 2/3 kernel\n",
            "bcm2709-rpi-2-b.dtb": b"stand-in\n",
            "bcm2710-rpi-3-b.dtb": b"stand-in\n",
        },
        "fat": 16, "label": "boot", "boot_start": 4, "boot_size": 60, "root_start": 64,
    }


def bookworm():
    return {
        "boot": demo.boot_files(),
        "fat": 32, "label": "bootfs", "boot_start": demo.BOOT_START_MIB,
        "boot_size": demo.BOOT_SIZE_MIB, "root_start": demo.ROOT_START_MIB,
    }


def trixie():
    units = "/usr/lib/systemd/system"
    demo.MERGED = {"/bin": "usr/bin", "/sbin": "usr/sbin", "/lib": "usr/lib"}
    keep = by_name({"tzdata", "locales", "libdemo1", "network-manager"})
    for p in keep:
        p["files"] = {
            (units + path[len("/lib/systemd/system"):] if path.startswith("/lib/systemd/system/") else path): v
            for path, v in p["files"].items()
        }
    demo.PACKAGES = [
        pkg("base-files", "13.8+rpt1", ["old"], section="admin", priority="required",
            installed=True,
            files={
                "/etc/debian_version": (0o644, b"13.1\n"),
                "/usr/lib/os-release": (0o644, TRIXIE_OS_RELEASE),
                "/etc/os-release": ("link", "../usr/lib/os-release"),
                **doc("base-files"),
            },
            conffiles=["/etc/debian_version"]),
        *keep,
        pkg("raspberrypi-sys-mods", "20250916", ["old"], section="admin", installed=True,
            files={
                f"{units}/rpi-resize.service": (0o644, unit("Resize the root filesystem (stand-in)",
                                                            "/usr/lib/raspberrypi-sys-mods/rpi-resize",
                                                            kind="oneshot")),
                "/usr/lib/raspberrypi-sys-mods/rpi-resize": (0o755, script("exit 0\n")),
                **doc("raspberrypi-sys-mods"),
            }),
        pkg("rpi-swap", "0.2", ["old"], section="admin", installed=True,
            files={
                "/etc/rpi/swap.conf": (0o644, b"[Main]\n#Mechanism=auto\n"),
                "/usr/lib/systemd/system-generators/rpi-swap-generator": (0o755, script("exit 0\n")),
                **doc("rpi-swap"),
            },
            conffiles=["/etc/rpi/swap.conf"]),
        pkg("cloud-init", "25.1.4-1+rpt1", ["old"], arch="all", section="admin", installed=True,
            files={
                "/etc/cloud/cloud.cfg": (0o644, b"# stand-in\nusers:\n- default\npreserve_hostname: false\n"),
                "/etc/cloud/cloud.cfg.d/99_raspberry-pi.cfg": (
                    0o644, b"datasource_list: [ NoCloud, None ]\ndatasource:\n  NoCloud:\n"
                           b"    seedfrom: file:///boot/firmware\n"),
                **doc("cloud-init"),
            },
            conffiles=["/etc/cloud/cloud.cfg"]),
        pkg("openssh-server", "1:10.0p1-7", ["old"], section="net", installed=True,
            source="openssh",
            files={
                "/etc/ssh/sshd_config": (0o644, TRIXIE_SSHD),
                "/etc/ssh/sshd_config.d": ("dir", None),
                f"{units}/ssh.service": (0o644, unit("OpenBSD Secure Shell server", "/usr/sbin/sshd -D")),
                "/usr/sbin/sshd": (0o755, script("exit 1\n")),
                **doc("openssh-server"),
            },
            conffiles=["/etc/ssh/sshd_config"]),
        *demo.nginx("1.26.3-3", ["old"], "libdemo1 (>= 1.0)"),
        *php("8.4", "8.4.11-1", units),
    ]
    demo.SERVICE_LINKS = {
        "/etc/systemd/system/multi-user.target.wants/NetworkManager.service":
            f"{units}/NetworkManager.service",
        "/etc/systemd/system/multi-user.target.wants/rpi-resize.service": f"{units}/rpi-resize.service",
    }

    def etc_files(key):
        files = ORIGINAL_ETC_FILES(key)
        # trixie's tzdata no longer writes /etc/timezone.
        del files["/etc/timezone"]
        return files

    demo.etc_files = etc_files
    boot = demo.boot_files()
    boot["cmdline.txt"] = (
        f"console=serial0,115200 console=tty1 root=PARTUUID={demo.PARTUUID}-02 rootfstype=ext4 "
        "fsck.repair=yes rootwait quiet resize cfg80211.ieee80211_regdom=GB\n").encode()
    boot["user-data"] = USER_DATA
    boot["meta-data"] = META_DATA
    boot["network-config"] = NETWORK_CONFIG
    return {
        "boot": boot,
        "fat": 32, "label": "bootfs", "boot_start": demo.BOOT_START_MIB,
        "boot_size": demo.BOOT_SIZE_MIB, "root_start": demo.ROOT_START_MIB,
    }


def make_base(out, stage, key, shape):
    """scripts/make-demo's make_base with the partition layout and FAT width of `shape`."""
    img = os.path.join(out, "base.img")
    root_start = shape["root_start"]
    with open(img, "wb") as f:
        f.truncate((root_start + demo.ROOT_SIZE_MIB) * MIB)
    table = (
        f"label: dos\nlabel-id: 0x{demo.DISK_ID:08x}\n"
        f"start={shape['boot_start'] * MIB // 512}, size={shape['boot_size'] * MIB // 512}, "
        f"type=c\n"  # Raspbian marked even its FAT16 boot 0x0c
        f"start={root_start * MIB // 512}, size={demo.ROOT_SIZE_MIB * MIB // 512}, type=83\n"
    )
    run(["sfdisk", "-q", img], stdin=table.encode())
    run(["mkfs.vfat", "--invariant", "-F", str(shape["fat"]), "-n", shape["label"],
         "-i", demo.BOOT_VOLUME_ID, f"--offset={shape['boot_start'] * MIB // 512}", img,
         str(shape["boot_size"] * 1024)])
    boot = os.path.join(stage, "bootfs")
    for name, data in sorted(shape["boot"].items()):
        path = os.path.join(boot, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    for root, dirs, files in os.walk(boot):
        for name in dirs + files:
            os.utime(os.path.join(root, name), (demo.EPOCH, demo.EPOCH))
    run(["mcopy", "-s", "-m", "-i", f"{img}@@{shape['boot_start'] * MIB}",
         *[os.path.join(boot, n) for n in sorted(os.listdir(boot))], "::/"],
        env={"MTOOLS_SKIP_CHECK": "1"})
    config = os.path.join(stage, "mke2fs.conf")
    features = demo.ROOT_FEATURES
    with open(config, "w") as f:
        f.write(f"[defaults]\n\tbase_features = {features}\n"
                f"[fs_types]\n\text4 = {{\n\t\tfeatures = {features}\n\t}}\n")
    run(["mke2fs", "-F", "-q", "-t", "ext4", "-O", "none," + features, "-b", "4096",
         "-I", "256", "-m", "5", "-L", "rootfs", "-U", demo.ROOT_UUID,
         "-E", f"offset={root_start * MIB},hash_seed={demo.ROOT_HASH_SEED},root_owner=0:0",
         "-d", "-", img, str(demo.ROOT_SIZE_MIB * MIB // 4096)],
        env={"MKE2FS_CONFIG": config, "E2FSPROGS_FAKE_TIME": str(demo.EPOCH)},
        stdin=demo.root_tar(key))


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("jessie", "bookworm", "trixie"):
        sys.exit("usage: generation_fixture.py jessie|bookworm|trixie OUT")
    shape = {"jessie": jessie, "bookworm": bookworm, "trixie": trixie}[sys.argv[1]]()
    out = os.path.abspath(sys.argv[2])
    os.makedirs(out, exist_ok=True)
    os.umask(0o022)
    with tempfile.TemporaryDirectory(prefix="generation-fixture-") as stage:
        home = os.path.join(stage, "gnupg")
        os.mkdir(home, 0o700)

        def gpg(args, stdin=None):
            return run(["gpg", "--batch", "--no-tty", "--quiet", "--homedir", home,
                        "--pinentry-mode", "loopback", "--passphrase", "",
                        "--faked-system-time", f"{demo.EPOCH}!", *args], stdin=stdin)

        gpg(["--quick-gen-key", demo.SIGNER, "ed25519", "sign", "never"])
        os.makedirs(os.path.join(out, "keys"))
        with open(os.path.join(out, "keys", "demo.asc"), "wb") as f:
            f.write(gpg(["--armor", "--export", demo.SIGNER]))
        key = gpg(["--export", demo.SIGNER])
        demo.make_repo(out, os.path.join(stage, "debs"),
                       lambda args: gpg(["--local-user", demo.SIGNER, *args]))
        make_base(out, stage, key, shape)
    demo.write_tree(os.path.join(out, "bin"), {"demo-agent": demo.DEMO_AGENT.encode()},
                    {"demo-agent"})
    demo.write_tree(os.path.join(out, "overlay"), demo.OVERLAY)
    demo.write_tree(os.path.join(out, "www"), demo.WWW)
    shutil.rmtree(os.path.join(out, "debs"), ignore_errors=True)


if __name__ == "__main__":
    main()
