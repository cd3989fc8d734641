//! The emulated boot test (opt-in: `cargo test --test it -- --ignored boot_`): a real arm64
//! Debian base laid out as Raspberry Pi OS bookworm (made by `scripts/make-boot-base`,
//! cached outside the checkout), a profile that uses every capability, built by pi-imager
//! and booted with `qemu-system-aarch64 -M virt`; then checked from outside (HTTP, SSH
//! through forwards bound to 127.0.0.1) and over the serial console. A second boot checks
//! that the first-boot unit does not run again; a third, on `-M raspi3b` with the Pi 3's
//! device tree and the image's own `cmdline.txt`, that the root is found on the Pi's SD
//! controller by the ids the boot files name.
//!
//! It needs root (mmdebstrap), the host's Debian apt sources (the mirror is read from them
//! at run time) and network access to that mirror. `.ci/run` runs it last.

use std::io::{BufRead, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::golden::root;

/// The Debian mirror of the host's own apt sources, by the rule `scripts/host-mirror` gives
/// `.ci/install-deps` and `scripts/make-boot-base` too.
fn host_mirror() -> String {
    let script = root().join("scripts/host-mirror");
    let output = Command::new(&script)
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let mirror = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    assert!(
        output.status.success() && !mirror.is_empty(),
        "the boot test needs a Debian mirror in the host's apt sources (see above)"
    );
    mirror
}

/// How long `scripts/make-boot-base` may take (an empty cache takes 20-30 minutes).
const BASE_TIMEOUT: Duration = Duration::from_secs(75 * 60);
/// How long `pi-imager build` of the boot profile may take (downloads included).
const BUILD_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// `program` run under coreutils' `timeout`, which ends it (exit 124) when `limit` passes.
fn bounded(limit: Duration, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new("timeout");
    cmd.arg(limit.as_secs().to_string()).arg(program);
    cmd
}

/// Makes or reuses the base image; returns its path.
fn boot_base() -> PathBuf {
    let script = root().join("scripts/make-boot-base");
    let started = Instant::now();
    // Bounded like every step: a fresh machine takes 20-30 minutes, a stuck mirror forever.
    let output = bounded(BASE_TIMEOUT, &script)
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        output.status.success(),
        "scripts/make-boot-base failed or passed {BASE_TIMEOUT:?} (its output is above)"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let path = PathBuf::from(stdout.lines().last().unwrap_or_default().trim());
    assert!(path.is_file(), "make-boot-base printed no image: {stdout}");
    eprintln!(
        "boot: base {} ready in {:?}",
        path.display(),
        started.elapsed()
    );
    path
}

/// A tiny static arm64 ELF program that waits forever (`ppoll` with no descriptors, in a
/// loop): the node's server binary, so its unit can be checked active.
fn idle_server_elf() -> Vec<u8> {
    const BASE: u64 = 0x40_0000;
    const HEADERS: u64 = 64 + 56;
    let code: [u32; 7] = [
        0xd280_0000, // mov x0, #0
        0xd280_0001, // mov x1, #0
        0xd280_0002, // mov x2, #0
        0xd280_0003, // mov x3, #0
        0xd280_0928, // mov x8, #73 (ppoll)
        0xd400_0001, // svc #0
        0x17ff_fffa, // b back to the first mov
    ];
    let size = HEADERS + 4 * code.len() as u64;
    let mut elf = Vec::new();
    elf.extend_from_slice(b"\x7fELF\x02\x01\x01\x00");
    elf.extend_from_slice(&[0; 8]);
    elf.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    elf.extend_from_slice(&183u16.to_le_bytes()); // EM_AARCH64
    elf.extend_from_slice(&1u32.to_le_bytes());
    elf.extend_from_slice(&(BASE + HEADERS).to_le_bytes()); // entry
    elf.extend_from_slice(&64u64.to_le_bytes()); // program headers
    elf.extend_from_slice(&0u64.to_le_bytes()); // no section headers
    elf.extend_from_slice(&0u32.to_le_bytes());
    for half in [64u16, 56, 1, 64, 0, 0] {
        elf.extend_from_slice(&half.to_le_bytes());
    }
    elf.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    elf.extend_from_slice(&5u32.to_le_bytes()); // R+X
    for word in [0, BASE, BASE, size, size, 0x1000u64] {
        elf.extend_from_slice(&word.to_le_bytes());
    }
    for insn in code {
        elf.extend_from_slice(&insn.to_le_bytes());
    }
    elf
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free local port");
    listener.local_addr().expect("its address").port()
}

fn run_ok(cmd: &mut Command) -> String {
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (see .ci/install-deps)"));
    assert!(
        output.status.success(),
        "{cmd:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

const HOSTNAME: &str = "boot-node";
const USER: &str = "pi-test";
/// The node's addresses, on the documentation ranges QEMU's user network is told to use.
/// IPv4 is static, at the address QEMU's forwards are pointed to, so they work as soon as
/// the server listens; `restrict=on` keeps the node from reaching anything but them.
const IPV4: &str = "192.0.2.15";
const IPV6: &str = "2001:db8:0:82::10";
const DNS6: &str = "2001:db8:0:82::3";
const SERVER: &str = "idle-server";

/// The node's folder: profile, inputs, and (after the build) `out/`.
struct Node {
    dir: tempfile::TempDir,
    ssh_key: PathBuf,
    public_key: String,
}

impl Node {
    fn new(base: &Path, mirror: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::copy(
            "/usr/share/keyrings/debian-archive-keyring.gpg",
            d.join("debian-archive-keyring.gpg"),
        )
        .expect("debian-archive-keyring is installed on the host");
        // The manifest records the base's source relative to the profile, never a path of
        // the build machine: a link beside the profile names the cached base.
        std::os::unix::fs::symlink(base, d.join("base.img")).unwrap();
        std::fs::create_dir_all(d.join("bin")).unwrap();
        let elf = idle_server_elf();
        std::fs::write(d.join("bin").join(SERVER), &elf).unwrap();
        // The drive holds /var/www; the site is Debian's default document root in it.
        std::fs::create_dir_all(d.join("www/html")).unwrap();
        std::fs::write(
            d.join("www/html/index.html"),
            "static page from the www drive\n",
        )
        .unwrap();
        std::fs::write(
            d.join("www/html/info.php"),
            "<?php echo 'php ', PHP_MAJOR_VERSION, '.', PHP_MINOR_VERSION, ' says ', 6 * 7, \"\\n\";\n",
        )
        .unwrap();
        // The test logs in on the serial console without a password: ttyAMA0 on `-M virt`,
        // the mini UART ttyS1 on `-M raspi3b`.
        for tty in ["ttyAMA0", "ttyS1"] {
            let dropin = d.join(format!(
                "overlay/etc/systemd/system/serial-getty@{tty}.service.d"
            ));
            std::fs::create_dir_all(&dropin).unwrap();
            std::fs::write(
                dropin.join("autologin.conf"),
                "[Service]\nExecStart=\nExecStart=-/sbin/agetty --autologin root --keep-baud 115200,57600,38400,9600 %I $TERM\n",
            )
            .unwrap();
        }
        std::fs::write(
            d.join("overlay/etc/pi-imager-boot-test"),
            "overlay applied\n",
        )
        .unwrap();

        let ssh_key = d.join("id_ed25519");
        run_ok(
            Command::new("ssh-keygen")
                .args([
                    "-q",
                    "-t",
                    "ed25519",
                    "-N",
                    "",
                    "-C",
                    "pi-test@example.org",
                    "-f",
                ])
                .arg(&ssh_key),
        );
        let public_key = std::fs::read_to_string(d.join("id_ed25519.pub"))
            .unwrap()
            .trim()
            .to_owned();

        let profile = format!(
            r#"# The boot test's node: every capability, on a Debian arm64 base shaped as Raspberry Pi OS.
[image]
name = "boot"
board = "pi3"
card_size = "4GiB"
partition_table = "mbr"
compression = "none"

[base]
file = "base.img"

[[repository]]
name = "bookworm-backports"
uri = "{mirror}"
suite = "bookworm-backports"
components = ["main"]
key = "debian-archive-keyring.gpg"
priority = 100

[packages]
install = ["nginx-light", "php8.2-fpm", "tmux/bookworm-backports"]
remove = []

[network]
interface = "eth0"
ipv4 = "{IPV4}/24"
gateway4 = "192.0.2.2"
ipv6 = "{IPV6}/64"
gateway6 = "2001:db8:0:82::2"
dns = ["{DNS6}"]

[swap]
enabled = false

[[mount]]
path = "/var/www"
device = "LABEL=www"
fstype = "ext4"
options = ["noatime", "nofail", "x-systemd.device-timeout=60s"]
required_by = ["nginx", "php8.2-fpm"]
[mount.image]
size = "64MiB"
content = "www/"

[system]
hostname = "{HOSTNAME}"
sysctl = {{ "vm.swappiness" = "0" }}

[[user]]
name = "{USER}"
groups = ["sudo", "www-data"]
ssh_keys = ["{public_key}"]

[ssh]
enabled = true
password_auth = false

[web]
server = "nginx"
php = "8.2"
php_max_children = "auto"
headers = {{ "X-Served-By" = "pi-imager boot test", "X-Clacks-Overhead" = "GNU Terry Pratchett" }}

[server]
source = "bin/{SERVER}"
sha256 = "{sha}"
path = "/usr/local/bin/{SERVER}"
args = ["--idle"]
user = "www-data"
memory_max = "16MiB"

[files]
overlays = ["overlay"]
"#,
            sha = sha256_hex(&elf),
        );
        std::fs::write(d.join("boot.toml"), profile).unwrap();
        Node {
            dir,
            ssh_key,
            public_key,
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `pi-imager build`; returns (image, drive image).
    fn build(&self, cache: &Path) -> (PathBuf, PathBuf) {
        let output = bounded(BUILD_TIMEOUT, env!("CARGO_BIN_EXE_pi-imager"))
            .args(["build", "boot.toml", "--out", "out", "--cache"])
            .arg(cache)
            .current_dir(self.dir.path())
            .output()
            .expect("pi-imager runs");
        assert!(
            output.status.success(),
            "pi-imager build failed or passed {BUILD_TIMEOUT:?} ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        let mut image = None;
        let mut drive = None;
        for entry in std::fs::read_dir(self.path("out")).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with("-www.img") {
                drive = Some(path);
            } else if name.ends_with(".img") {
                image = Some(path);
            }
        }
        (
            image.expect("the build wrote an image"),
            drive.expect("the build wrote the www drive image"),
        )
    }
}

/// What the image's boot partition gives the emulator.
struct BootFiles {
    kernel: PathBuf,
    initrd: PathBuf,
    /// The image's own `cmdline.txt`, trimmed.
    cmdline: String,
}

impl BootFiles {
    /// Copies the kernel, initramfs and command line out of the image's boot partition.
    fn read(image: &Path, into: &Path) -> Self {
        let start = partition_start(image, 0);
        let fat = format!("{}@@{}", image.display(), start);
        let kernel = into.join("kernel8.img");
        let initrd = into.join("initramfs8");
        for (name, to) in [("::kernel8.img", &kernel), ("::initramfs8", &initrd)] {
            run_ok(Command::new("mcopy").args(["-o", "-i", &fat, name]).arg(to));
        }
        let cmdline = run_ok(Command::new("mcopy").args(["-i", &fat, "::cmdline.txt", "-"]));
        BootFiles {
            kernel,
            initrd,
            cmdline: cmdline.trim().to_owned(),
        }
    }

    /// The command line for `-M virt`: the image's, its consoles replaced by the PL011.
    fn virt_cmdline(&self) -> String {
        let mut words: Vec<&str> = self
            .cmdline
            .split_whitespace()
            .filter(|w| !w.starts_with("console="))
            .collect();
        words.push("console=ttyAMA0,115200");
        words.join(" ")
    }

    /// The command line for `-M raspi3b`: the image's own, with the mini UART named, which
    /// the Pi's firmware would do for `serial0` and QEMU, having no firmware, cannot.
    fn raspi3b_cmdline(&self) -> String {
        format!("{} console=ttyS1,115200", self.cmdline)
    }
}

/// The byte offset of partition `index` (from 0), read with sfdisk.
fn partition_start(image: &Path, index: usize) -> u64 {
    let table: serde_json::Value =
        serde_json::from_str(&run_ok(Command::new("sfdisk").arg("--json").arg(image))).unwrap();
    let sectors = table["partitiontable"]["partitions"][index]["start"]
        .as_u64()
        .unwrap_or_else(|| panic!("{} has no partition {}", image.display(), index + 1));
    sectors * 512
}

/// Copies the Raspberry Pi 3 B device tree out of the image's root: Debian's kernel package
/// installs it under `/usr/lib/linux-image-<version>/broadcom/`.
fn pi3_device_tree(image: &Path, into: &Path) -> PathBuf {
    let root = format!("{}?offset={}", image.display(), partition_start(image, 1));
    let listing = run_ok(Command::new("debugfs").args(["-R", "ls -p /usr/lib", &root]));
    let version = listing
        .lines()
        .filter_map(|l| l.split('/').nth(5))
        .find(|name| name.starts_with("linux-image-"))
        .unwrap_or_else(|| panic!("no /usr/lib/linux-image-* in the image:\n{listing}"))
        .to_owned();
    let dtb = into.join("bcm2837-rpi-3-b.dtb");
    run_ok(Command::new("debugfs").args([
        "-R",
        &format!(
            "dump /usr/lib/{version}/broadcom/bcm2837-rpi-3-b.dtb {}",
            dtb.display()
        ),
        &root,
    ]));
    assert!(
        std::fs::metadata(&dtb).is_ok_and(|m| m.len() > 1024),
        "the image's {version} has no broadcom/bcm2837-rpi-3-b.dtb"
    );
    dtb
}

/// A running emulator, its serial console read by a thread into a buffer and a log file.
struct Vm {
    child: Child,
    stdin: ChildStdin,
    serial: Arc<Mutex<Vec<u8>>>,
    log: PathBuf,
    /// Where the next wait starts reading in `serial`.
    seen: usize,
    commands: u32,
}

struct Ports {
    http: u16,
    ssh: u16,
}

/// The emulated board and what it is given besides the image.
enum Machine<'a> {
    /// `-M virt`: the image and the drive as virtio disks, user networking whose forwards
    /// listen on 127.0.0.1 only.
    Virt { drive: &'a Path, ports: &'a Ports },
    /// `-M raspi3b`: the image as the SD card, the Pi 3's device tree, the image's own
    /// command line; no network, no drive.
    Raspi3b { dtb: &'a Path },
}

impl Vm {
    fn start(image: &Path, boot: &BootFiles, machine: Machine<'_>, log: &Path) -> Self {
        let mut qemu = Command::new("qemu-system-aarch64");
        qemu.args(["-display", "none", "-monitor", "none", "-no-reboot"])
            .arg("-kernel")
            .arg(&boot.kernel)
            .arg("-initrd")
            .arg(&boot.initrd);
        match machine {
            Machine::Virt { drive, ports } => {
                let netdev = format!(
                    "user,id=net0,restrict=on,ipv4=on,net=192.0.2.0/24,host=192.0.2.2,dns=192.0.2.3,\
                     ipv6=on,ipv6-net=2001:db8:0:82::/64,ipv6-host=2001:db8:0:82::2,ipv6-dns={DNS6},\
                     hostfwd=tcp:127.0.0.1:{}-{IPV4}:80,hostfwd=tcp:127.0.0.1:{}-{IPV4}:22",
                    ports.http, ports.ssh
                );
                qemu.args([
                    "-M",
                    "virt",
                    "-cpu",
                    "cortex-a53",
                    "-smp",
                    "2",
                    "-m",
                    "1024",
                ])
                .args(["-serial", "stdio", "-append", &boot.virt_cmdline()])
                .arg("-drive")
                .arg(format!(
                    "if=none,format=raw,id=root,file={}",
                    image.display()
                ))
                .args(["-device", "virtio-blk-device,drive=root"])
                .arg("-drive")
                .arg(format!(
                    "if=none,format=raw,id=www,file={}",
                    drive.display()
                ))
                .args(["-device", "virtio-blk-device,drive=www"])
                .args([
                    "-netdev",
                    &netdev,
                    "-device",
                    "virtio-net-device,netdev=net0",
                ]);
            }
            Machine::Raspi3b { dtb } => {
                // The PL011 (first serial) is the Bluetooth UART on a Pi 3; the console
                // is the mini UART, QEMU's second serial port.
                qemu.args(["-M", "raspi3b", "-serial", "null", "-serial", "stdio"])
                    .args(["-append", &boot.raspi3b_cmdline()])
                    .arg("-dtb")
                    .arg(dtb)
                    .arg("-drive")
                    .arg(format!("if=sd,format=raw,file={}", image.display()));
            }
        }
        let mut child = qemu
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run qemu-system-aarch64: {e} (install qemu-system-arm)")
            });
        let stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let serial = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&serial);
        let mut file = std::fs::File::create(log).unwrap();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                let _ = file.write_all(&chunk[..n]);
                let _ = file.flush();
                sink.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend_from_slice(&chunk[..n]);
            }
        });
        Vm {
            child,
            stdin,
            serial,
            log: log.to_owned(),
            seen: 0,
            commands: 0,
        }
    }

    fn fail(&self, what: &str) -> ! {
        panic!(
            "boot test: {what}; the serial console's log is kept in {}",
            self.log.display()
        )
    }

    /// Waits until `needle` appears after what was already consumed; returns the text
    /// between the last wait and the end of the match.
    fn wait_for(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            {
                // Bytes, not text: a serial line can carry bytes that are not UTF-8 (a
                // UART's first garbage byte), and `seen` counts the buffer's bytes.
                let buffer = self.serial.lock().unwrap_or_else(|e| e.into_inner());
                let fresh = buffer.get(self.seen..).unwrap_or_default();
                if let Some(at) = fresh
                    .windows(needle.len())
                    .position(|w| w == needle.as_bytes())
                {
                    let end = at + needle.len();
                    let text = String::from_utf8_lossy(&fresh[..end]).into_owned();
                    self.seen += end;
                    return text;
                }
            }
            if Instant::now() > deadline {
                self.fail(&format!("`{needle}` did not appear within {timeout:?}"));
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                self.fail(&format!(
                    "qemu exited ({status}) while waiting for `{needle}`"
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn send(&mut self, line: &str) {
        if self
            .stdin
            .write_all(format!("{line}\n").as_bytes())
            .is_err()
        {
            self.fail("the serial console's input closed");
        }
        let _ = self.stdin.flush();
    }

    /// Logs in (the overlay's autologin) and quiets the shell: no echo, no prompt.
    fn login(&mut self, timeout: Duration) {
        self.wait_for(&format!("root@{HOSTNAME}"), timeout);
        std::thread::sleep(Duration::from_secs(2));
        self.send("stty -echo; export PS1= PS2= TERM=dumb; dmesg -n 1; printf '@@%s@@\\n' READY");
        self.wait_for("@@READY@@", Duration::from_secs(60));
    }

    /// Runs `command` in the serial shell; returns its exit status and output (stdout and
    /// stderr, without carriage returns).
    fn run(&mut self, command: &str, timeout: Duration) -> (i32, String) {
        self.commands += 1;
        let n = self.commands;
        self.send(&format!(
            "printf '@@%s@@\\n' B{n}; {{ {command} ; }} 2>&1; printf '@@%s %s@@\\n' E{n} $?"
        ));
        self.wait_for(&format!("@@B{n}@@"), timeout);
        let text = self.wait_for(&format!("@@E{n} "), timeout);
        let status_text = self.wait_for("@@", Duration::from_secs(10));
        let status = status_text
            .trim_end_matches("@@")
            .trim()
            .parse()
            .unwrap_or(-1);
        let output = text
            .trim_end_matches(&format!("@@E{n} "))
            .replace('\r', "")
            .trim_start_matches('\n')
            .to_owned();
        (status, output)
    }

    /// Runs `command` and fails the test unless it exits 0; returns its output.
    fn check(&mut self, command: &str, timeout: Duration) -> String {
        let (status, output) = self.run(command, timeout);
        if status != 0 {
            self.fail(&format!("`{command}` exited {status}:\n{output}"));
        }
        output
    }

    /// Powers the node off and waits for qemu to exit.
    fn power_off(mut self, timeout: Duration) {
        self.send("systemctl poweroff");
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.fail(&format!("the node did not power off within {timeout:?}"));
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `GET path` through the forwarded port, retried until it answers or `timeout` passes;
/// returns the whole response (status line, headers, body).
fn http_get(port: u16, path: &str, timeout: Duration) -> Option<String> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
            let request = format!("GET {path} HTTP/1.0\r\nHost: {HOSTNAME}\r\n\r\n");
            if stream.write_all(request.as_bytes()).is_ok() {
                let mut response = String::new();
                let mut reader = std::io::BufReader::new(stream);
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                    response.push_str(&line);
                    line.clear();
                }
                if response.starts_with("HTTP/") && !response.contains(" 502 ") {
                    return Some(response);
                }
            }
        }
        std::thread::sleep(Duration::from_secs(3));
    }
    None
}

/// Builds the profile, boots it three times and checks the node. Minutes long: opt-in.
#[test]
#[ignore = "boots an emulated arm64 node for minutes; run with `cargo test --test it -- --ignored boot_`"]
fn boot_built_node_on_qemu_virt() {
    let mirror = host_mirror();
    let base = boot_base();
    let node = Node::new(&base, &mirror);
    let cache = base
        .parent()
        .expect("the base's cache folder")
        .join("download-cache");
    let started = Instant::now();
    let (image, drive) = node.build(&cache);
    eprintln!("boot: pi-imager build took {:?}", started.elapsed());
    let boot = BootFiles::read(&image, node.dir.path());

    let logs = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let ports = Ports {
        http: free_port(),
        ssh: free_port(),
    };

    // First boot: the first-boot unit configures the packages pi-imager unpacked.
    let booted = Instant::now();
    let mut vm = Vm::start(
        &image,
        &boot,
        Machine::Virt {
            drive: &drive,
            ports: &ports,
        },
        &logs.join("boot-serial-1.log"),
    );
    vm.login(Duration::from_secs(1500));
    eprintln!("boot: first boot reached a shell in {:?}", booted.elapsed());
    let state = vm.run(
        "timeout 600 systemctl is-system-running --wait",
        Duration::from_secs(660),
    );
    eprintln!(
        "boot: system state after {:?}: {}",
        booted.elapsed(),
        state.1.trim()
    );

    let mut failures = Vec::new();
    let mut expect = |what: &str, ok: bool, detail: &str| {
        eprintln!("boot: {} {what}", if ok { "ok  " } else { "FAIL" });
        if !ok {
            failures.push(format!("{what}: {detail}"));
        }
    };
    let short = Duration::from_secs(120);

    let first = vm.run(
        "systemctl show -p Result -p ExecMainStatus pi-imager-firstboot.service; test ! -e /var/lib/pi-imager/firstboot-pending",
        short,
    );
    expect(
        "the first-boot unit finished",
        first.0 == 0 && first.1.contains("Result=success") && first.1.contains("ExecMainStatus=0"),
        &first.1,
    );
    let audit = vm.run("dpkg --audit", short);
    expect("dpkg --audit is empty", audit.1.trim().is_empty(), &audit.1);
    let failed = vm.run("systemctl --failed --no-legend --plain", short);
    expect(
        "systemctl --failed is empty",
        failed.1.trim().is_empty(),
        &failed.1,
    );
    let swap = vm.run("swapon --show", short);
    expect("swapon --show is empty", swap.1.trim().is_empty(), &swap.1);
    let www = vm.run("findmnt -n -o LABEL,FSTYPE /var/www", short);
    expect(
        "/var/www is the www drive",
        www.1.split_whitespace().collect::<Vec<_>>() == ["www", "ext4"],
        &www.1,
    );
    let ip = vm.run("ip -6 -o addr show dev eth0; cat /etc/resolv.conf", short);
    expect(
        "the IPv6 address is configured",
        ip.1.contains(&format!("inet6 {IPV6}/64")),
        &ip.1,
    );
    expect("the IPv6 DNS server is used", ip.1.contains(DNS6), &ip.1);
    let server = vm.run(&format!("systemctl is-active {SERVER}.service"), short);
    expect(
        "the server binary's unit is active",
        server.1.trim() == "active",
        &server.1,
    );
    let host = vm.run("hostname", short);
    expect("the hostname", host.1.trim() == HOSTNAME, &host.1);
    let keys = vm.run(&format!("cat /home/{USER}/.ssh/authorized_keys"), short);
    expect(
        "the user's SSH key",
        keys.1.contains(&node.public_key),
        &keys.1,
    );
    let overlay = vm.run("cat /etc/pi-imager-boot-test", short);
    expect(
        "the overlay",
        overlay.1.contains("overlay applied"),
        &overlay.1,
    );
    let tmux = vm.run("dpkg-query -W -f '${Version}' tmux", short);
    expect(
        "tmux from bookworm-backports",
        tmux.1.contains("bpo12"),
        &tmux.1,
    );

    let page = http_get(ports.http, "/info.php", Duration::from_secs(120)).unwrap_or_default();
    eprintln!(
        "boot: HTTP answered {:?} after the boot began, {:?} after the build began",
        booted.elapsed(),
        started.elapsed()
    );
    expect(
        "HTTP answers with the profile's headers",
        page.contains("X-Served-By: pi-imager boot test")
            && page.contains("X-Clacks-Overhead: GNU Terry Pratchett"),
        &page,
    );
    expect("the PHP page runs", page.contains("php 8.2 says 42"), &page);
    if page.is_empty() {
        // Say why from inside: the addresses, routes, listeners, and the node's own answer.
        let inside = vm.run(
            "ip -o addr; ip route; ip -6 route; ss -ltn; nmcli -t -f NAME,DEVICE,STATE con show; \
             journalctl -b -u NetworkManager --no-pager | tail -40; \
             curl -sS -m 10 -D - -o /dev/null http://127.0.0.1/info.php",
            short,
        );
        eprintln!(
            "boot: no HTTP answer from outside; inside the node:\n{}",
            inside.1
        );
    }

    let ssh = bounded(Duration::from_secs(120), "ssh")
        .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no"])
        .args([
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "ConnectTimeout=30",
        ])
        .arg("-i")
        .arg(&node.ssh_key)
        .args(["-p", &ports.ssh.to_string()])
        .arg(format!("{USER}@127.0.0.1"))
        .arg("hostname")
        .output();
    let ssh_text = ssh
        .as_ref()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
        })
        .unwrap_or_else(|e| format!("cannot run ssh: {e}"));
    expect(
        "SSH logs in with the user's key",
        ssh_text.trim() == HOSTNAME || ssh_text.lines().any(|l| l.trim() == HOSTNAME),
        &ssh_text,
    );

    if !failures.is_empty() {
        vm.fail(&format!("first boot:\n{}", failures.join("\n")));
    }
    vm.power_off(Duration::from_secs(180));

    // Second boot: nothing left for the first-boot unit.
    let mut vm = Vm::start(
        &image,
        &boot,
        Machine::Virt {
            drive: &drive,
            ports: &ports,
        },
        &logs.join("boot-serial-2.log"),
    );
    let again = Instant::now();
    vm.login(Duration::from_secs(900));
    vm.check(
        "timeout 600 systemctl is-system-running --wait",
        Duration::from_secs(660),
    );
    eprintln!("boot: second boot settled in {:?}", again.elapsed());
    let rerun = vm.check(
        "systemctl show -p ConditionResult -p ExecMainStartTimestampMonotonic pi-imager-firstboot.service",
        short,
    );
    if !(rerun.contains("ConditionResult=no")
        && rerun.contains("ExecMainStartTimestampMonotonic=0"))
    {
        vm.fail(&format!("the first-boot unit ran again:\n{rerun}"));
    }
    vm.power_off(Duration::from_secs(180));

    // The Pi 3's own board: its SD controller must find the root by the id the boot
    // partition's cmdline.txt names, as the Pi's firmware would pass it.
    let dtb = pi3_device_tree(&image, node.dir.path());
    let pi = Instant::now();
    let mut vm = Vm::start(
        &image,
        &boot,
        Machine::Raspi3b { dtb: &dtb },
        &logs.join("boot-serial-raspi3b.log"),
    );
    vm.login(Duration::from_secs(900));
    eprintln!("boot: -M raspi3b reached a shell in {:?}", pi.elapsed());
    let root_id = boot
        .cmdline
        .split_whitespace()
        .find_map(|w| w.strip_prefix("root=PARTUUID="))
        .unwrap_or_else(|| panic!("cmdline.txt names no root=PARTUUID=: {}", boot.cmdline))
        .to_owned();
    let cmdline = vm.check("cat /proc/cmdline", short);
    if !cmdline.trim().starts_with(&boot.cmdline) {
        vm.fail(&format!(
            "the kernel did not get cmdline.txt: {cmdline:?} against {:?}",
            boot.cmdline
        ));
    }
    let mounts = vm.check(
        "findmnt -n -o SOURCE,PARTUUID /; findmnt -n -o SOURCE,PARTUUID /boot/firmware",
        short,
    );
    let mounted: Vec<Vec<&str>> = mounts
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    // An MBR's PARTUUIDs are the disk id and the partition number.
    let disk_id = root_id
        .strip_suffix("-02")
        .unwrap_or_else(|| panic!("root=PARTUUID={root_id} is not an MBR's second partition"));
    let boot_id = format!("{disk_id}-01");
    if mounted
        != [
            vec!["/dev/mmcblk0p2", root_id.as_str()],
            vec!["/dev/mmcblk0p1", boot_id.as_str()],
        ]
    {
        vm.fail(&format!(
            "root and boot are not the SD card's partitions named {root_id} and {boot_id}:\n{mounts}"
        ));
    }
    let host = vm.check("hostname", short);
    if host.trim() != HOSTNAME {
        vm.fail(&format!("the hostname on -M raspi3b is {host:?}"));
    }
    eprintln!("boot: -M raspi3b checked in {:?}", pi.elapsed());
}
