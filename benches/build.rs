//! Benchmark: a warm-cache `pi-imager build` of a Raspberry-Pi-OS-shaped base of 2 GB,
//! against `cp --sparse=always` of the base plus `mke2fs -d` of the same root tree, in the
//! same run. Reports the time ratio (target: at most 2×), the build's peak memory (target:
//! at most 512 MiB whatever the image size), the time of each build step, and the build's
//! xz step against `xz -T0 -6 -k` of the same raw image (target: at least 0.9× its
//! throughput). It asserts nothing about times: the figures go to docs/benchmarks.md.
//!
//! The base: MBR, FAT32 boot at 8 MiB (512 MiB), ext4 root filling the rest, made by the
//! real tools from a directory holding about 1.35 GB of files (small ones and large
//! incompressible ones, as in the image bench), bookworm's os-release, a minimal dpkg
//! status and empty apt sources. The profile has no repositories and no packages and
//! writes a 4 GB card with an `.xz` copy. `pi-imager lock` fills the cache and writes
//! the lock; the build after it is the one timed. `pi-imager` is the binary cargo built
//! with the bench.
//!
//! `cargo bench --bench build` runs it at full size (about 12 GB of scratch disk);
//! `PI_IMAGER_BENCH_MB` sets the size of the files in MB and `PI_IMAGER_BENCH_DIR` where
//! the scratch files go. Without `--bench` (as `cargo test --benches` runs it) the base is
//! tiny, so the test run stays quick.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

const MIB: u64 = 1 << 20;

/// A deterministic pseudo-random byte stream (xorshift64*), incompressible enough that
/// nothing can cheat on it.
struct Noise(u64);

impl Noise {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            let v = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// The sizes of one run.
struct Shape {
    /// Bytes of file contents in the root.
    files: u64,
    /// The base image's size.
    base_card: u64,
    /// The boot partition's size (it starts at 8 MiB).
    boot_size: u64,
    /// The profile's `card_size`.
    card_size: &'static str,
}

impl Shape {
    fn root_start(&self) -> u64 {
        8 * MIB + self.boot_size
    }
}

fn run(cmd: &mut Command) {
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(status.success(), "{cmd:?} failed");
}

fn timed(cmd: &mut Command) -> f64 {
    let start = Instant::now();
    run(cmd);
    start.elapsed().as_secs_f64()
}

fn write(path: &Path, data: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
}

const OS_RELEASE: &str = "PRETTY_NAME=\"Raspbian GNU/Linux 12 (bookworm)\"\n\
NAME=\"Raspbian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\n\
VERSION_CODENAME=bookworm\nID=raspbian\nID_LIKE=debian\n";

const DPKG_STATUS: &str = "Package: dpkg\nStatus: install ok installed\nPriority: required\n\
Section: admin\nInstalled-Size: 6413\nMaintainer: Dpkg Developers <debian-dpkg@example.org>\n\
Architecture: armhf\nMulti-Arch: foreign\nVersion: 1.21.22\n\
Description: Debian package management system\n\n\
Package: base-files\nStatus: install ok installed\nPriority: required\nSection: admin\n\
Installed-Size: 340\nMaintainer: Santiago Vila <sanvila@example.org>\nArchitecture: armhf\n\
Version: 12.4+rpi1+deb12u8\nDescription: Debian base system miscellaneous files\n";

const FSTAB: &str = "proc /proc proc defaults 0 0\n\
PARTUUID=a1b2c3d4-01 /boot/firmware vfat defaults 0 2\n\
PARTUUID=a1b2c3d4-02 / ext4 defaults,noatime 0 1\n";

/// The root's system files: enough for a bookworm base the build accepts with no packages.
fn write_system(root: &Path) {
    for dir in [
        "boot/firmware",
        "dev",
        "home",
        "proc",
        "root",
        "run",
        "sys",
        "tmp",
        "usr/bin",
        "usr/sbin",
        "etc/apt/sources.list.d",
        "etc/apt/trusted.gpg.d",
        "etc/systemd/system/multi-user.target.wants",
        "var/lib/dpkg/info",
        "var/lib/dpkg/updates",
        "var/lib/apt/lists",
        "var/log",
        "var/tmp",
    ] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    for (link, target) in [("bin", "usr/bin"), ("sbin", "usr/sbin"), ("lib", "usr/lib")] {
        std::fs::create_dir_all(root.join(target)).unwrap();
        std::os::unix::fs::symlink(target, root.join(link)).unwrap();
    }
    std::os::unix::fs::symlink("../usr/lib/os-release", root.join("etc/os-release")).unwrap();
    let files: [(&str, &str); 11] = [
        ("usr/lib/os-release", OS_RELEASE),
        ("var/lib/dpkg/status", DPKG_STATUS),
        ("var/lib/dpkg/arch", "armhf\n"),
        ("etc/apt/sources.list", ""),
        ("etc/fstab", FSTAB),
        ("etc/hostname", "raspberrypi\n"),
        (
            "etc/hosts",
            "127.0.0.1\tlocalhost\n::1\t\tlocalhost\n127.0.1.1\traspberrypi\n",
        ),
        (
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/bash\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n\
             nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
        ),
        (
            "etc/group",
            "root:x:0:\nsudo:x:27:\nwww-data:x:33:\nshadow:x:42:\nnogroup:x:65534:\n",
        ),
        (
            "etc/shadow",
            "root:*:20000:0:99999:7:::\nwww-data:*:20000:0:99999:7:::\nnobody:*:20000:0:99999:7:::\n",
        ),
        (
            "etc/gshadow",
            "root:*::\nsudo:*::\nwww-data:*::\nshadow:*::\nnogroup:*::\n",
        ),
    ];
    for (path, text) in files {
        write(&root.join(path), text.as_bytes());
    }
    write(&root.join("etc/machine-id"), b"");
    // Bookworm's network renderer, which the build looks for by its program.
    write(
        &root.join("usr/sbin/NetworkManager"),
        b"\x7fELF bench stand-in\n",
    );
    std::fs::create_dir_all(root.join("etc/NetworkManager/system-connections")).unwrap();
}

/// Writes about `total` bytes of files under `usr`: up to 30,000 small ones, then large
/// incompressible ones (as the image bench does).
fn write_files(root: &Path, total: u64) -> usize {
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
    let mut written = 0u64;
    let mut files = 0usize;
    let mut buf = vec![0u8; MIB as usize];
    let small_budget = total / 5;
    let mut i = 0u64;
    while written < small_budget && files < 30_000 {
        let len = 1024 + (i * 7919) % (31 * 1024);
        noise.fill(&mut buf[..len as usize]);
        let dir = format!("usr/share/doc/pkg{:04}/file{i:05}", i / 100);
        write(&root.join(dir), &buf[..len as usize]);
        written += len;
        files += 1;
        i += 1;
    }
    let big = root.join("usr/lib/big");
    std::fs::create_dir_all(&big).unwrap();
    let mut j = 0;
    while written < total {
        let len = ((1 + j % 16) * MIB).min(total - written);
        let mut f = std::fs::File::create(big.join(format!("blob{j:04}"))).unwrap();
        let mut left = len;
        while left > 0 {
            let n = left.min(MIB) as usize;
            noise.fill(&mut buf[..n]);
            f.write_all(&buf[..n]).unwrap();
            left -= n as u64;
        }
        written += len;
        files += 1;
        j += 1;
    }
    files
}

/// The boot partition's files: what the build's boot rules read and rewrite.
fn write_boot(boot: &Path) {
    write(
        &boot.join("cmdline.txt"),
        b"console=serial0,115200 console=tty1 root=PARTUUID=a1b2c3d4-02 rootfstype=ext4 \
          fsck.repair=yes rootwait quiet\n",
    );
    write(
        &boot.join("config.txt"),
        b"dtparam=audio=on\narm_64bit=0\n[all]\n",
    );
    for name in [
        "bootcode.bin",
        "start.elf",
        "fixup.dat",
        "kernel7.img",
        "kernel7l.img",
    ] {
        write(
            &boot.join(name),
            format!("bench stand-in for {name}\n").as_bytes(),
        );
    }
}

const FEATURES: &str = "has_journal,ext_attr,resize_inode,dir_index,filetype,extent,64bit,flex_bg,sparse_super,large_file,dir_nlink,extra_isize,metadata_csum";

/// `mke2fs -d src` with the base's feature set, into `image` (at `offset` when given).
fn mke2fs(src: &Path, image: &Path, offset: Option<u64>, size: u64) -> f64 {
    let mut cmd = Command::new("mke2fs");
    // `-i 16384` as for a real card's root: mke2fs would give a small test root one inode
    // per 4 KiB, and `Ext4Params::like` then reads its ratio as 4095 and refuses it.
    cmd.args([
        "-q", "-F", "-t", "ext4", "-b", "4096", "-I", "256", "-i", "16384",
    ])
    .arg("-O")
    .arg(format!("none,{FEATURES}"))
    .args(["-L", "rootfs"]);
    if let Some(offset) = offset {
        cmd.arg(format!("-Eoffset={offset}"));
    }
    timed(
        cmd.arg("-d")
            .arg(src)
            .arg(image)
            .arg(format!("{}k", size / 1024)),
    )
}

/// The base image: MBR, FAT32 boot, ext4 root, made by the real tools.
fn make_base(base: &Path, shape: &Shape, root: &Path, boot: &Path) {
    std::fs::File::create(base)
        .unwrap()
        .set_len(shape.base_card)
        .unwrap();
    let mut sfdisk = Command::new("sfdisk")
        .arg("-q")
        .arg(base)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run sfdisk: {e}"));
    let table = format!(
        "label: dos\nlabel-id: 0xa1b2c3d4\nstart={}, size={}, type=c\nstart={}, type=83\n",
        8 * MIB / 512,
        shape.boot_size / 512,
        shape.root_start() / 512
    );
    sfdisk
        .stdin
        .take()
        .unwrap()
        .write_all(table.as_bytes())
        .unwrap();
    assert!(sfdisk.wait().unwrap().success(), "sfdisk failed");
    let mut mkfs = Command::new("mkfs.vfat");
    mkfs.args(["-F", "32", "-n", "bootfs"]);
    if shape.boot_size < 256 * MIB {
        // FAT32 needs 65,525 clusters: a small boot partition needs 512-byte ones.
        mkfs.args(["-s", "1"]);
    }
    run(mkfs
        .arg(format!("--offset={}", 8 * MIB / 512))
        .arg(base)
        .arg((shape.boot_size / 1024).to_string()));
    let mut mcopy = Command::new("mcopy");
    mcopy
        .args(["-s", "-i"])
        .arg(format!("{}@@{}", base.display(), 8 * MIB))
        .env("MTOOLS_SKIP_CHECK", "1");
    let mut names: Vec<PathBuf> = std::fs::read_dir(boot)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    run(mcopy.args(names).arg("::/"));
    mke2fs(
        root,
        base,
        Some(shape.root_start()),
        shape.base_card - shape.root_start(),
    );
}

fn profile_text(shape: &Shape) -> String {
    format!(
        "[image]\nname = \"bench\"\nboard = \"pi3\"\ncard_size = \"{}\"\ncompression = \"xz\"\n\n\
         [base]\nfile = \"base.img\"\n\n[system]\nhostname = \"bench\"\n",
        shape.card_size
    )
}

/// One line a measured command printed, with when it arrived and the CPU time the
/// command had used by then (seconds since it started).
struct Step {
    at: f64,
    cpu: f64,
    line: String,
}

/// What one command took.
struct Measured {
    secs: f64,
    cpu: f64,
    peak_kib: i64,
    steps: Vec<Step>,
}

/// CPU seconds (user and system, reaped children included) `pid` has used so far, from
/// `/proc/PID/stat`: wall times on a shared machine say little, CPU times compare.
fn cpu_so_far(pid: i32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    // Fields 14 to 17 of stat(5): utime, stime, cutime, cstime.
    let ticks: f64 = after_name
        .split_whitespace()
        .skip(11)
        .take(4)
        .filter_map(|v| v.parse::<f64>().ok())
        .sum();
    // SAFETY: sysconf has no preconditions.
    let per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    ticks / per_sec
}

/// Runs `cmd` and waits for it with `wait4`, whose rusage gives its CPU time and peak
/// resident memory (of its largest process, children such as mke2fs included); each line
/// it prints on standard error is timestamped, so every step of a build can be told.
// The child is reaped by `wait4`, not `Child::wait`, to get its rusage.
#[allow(clippy::zombie_processes)]
fn measure(cmd: &mut Command) -> Measured {
    let start = Instant::now();
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let pid = i32::try_from(child.id()).unwrap();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map(|line| Step {
                at: start.elapsed().as_secs_f64(),
                cpu: cpu_so_far(pid),
                line: line.unwrap(),
            })
            .collect::<Vec<Step>>()
    });
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value to be overwritten.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our child, not yet waited for; both pointers are to live locals.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(waited, pid, "wait4 on {cmd:?} failed");
    let steps = reader.join().unwrap();
    let status = std::process::ExitStatus::from_raw(status);
    if !status.success() {
        let log: Vec<&str> = steps.iter().map(|s| s.line.as_str()).collect();
        panic!("{cmd:?} failed ({status}):\n{}", log.join("\n"));
    }
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Measured {
        secs,
        cpu: seconds(usage.ru_utime) + seconds(usage.ru_stime),
        peak_kib: usage.ru_maxrss,
        steps,
    }
}

/// `pi-imager build` of the bench profile into `out`.
fn build(dir: &Path, out: &str) -> Measured {
    measure(
        Command::new(env!("CARGO_BIN_EXE_pi-imager"))
            .args(["build", "bench.toml", "--out", out, "--cache", "cache"])
            .current_dir(dir)
            .env("XDG_CACHE_HOME", dir.join("xdg-cache")),
    )
}

/// The one file in `dir` whose name ends with `suffix`.
fn output(dir: &Path, suffix: &str) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one *{suffix} in {dir:?}: {found:?}"
    );
    found.into_iter().next().unwrap()
}

/// The second partition's size in bytes, as sfdisk reads the table.
fn root_partition_size(image: &Path) -> u64 {
    let out = Command::new("sfdisk")
        .arg("-J")
        .arg(image)
        .output()
        .unwrap();
    assert!(out.status.success(), "sfdisk -J failed");
    let table: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    table["partitiontable"]["partitions"][1]["size"]
        .as_u64()
        .unwrap()
        * 512
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let default_mb = if full { 1350 } else { 5 };
    let mb: u64 = std::env::var("PI_IMAGER_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_mb);
    let shape = if full {
        Shape {
            files: mb * 1_000_000,
            // A 2 GiB card, or more when the files would not fit its root beside a 512 MiB
            // boot partition (the filesystem's own blocks take about 130 MB).
            base_card: (2048 * MIB).max(520 * MIB + mb * 1_000_000 * 17 / 16 + 128 * MIB),
            boot_size: 512 * MIB,
            card_size: "4GB",
        }
    } else {
        Shape {
            files: mb * 1_000_000,
            base_card: 44 * MIB + (mb * 1_000_000 * 3 / 2 + 64 * MIB),
            boot_size: 36 * MIB,
            card_size: "256MiB",
        }
    };
    let scratch = tempfile::TempDir::new_in(
        std::env::var_os("PI_IMAGER_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from),
    )
    .unwrap();
    let dir = scratch.path();

    let tree = dir.join("tree");
    write_system(&tree);
    let files = write_files(&tree, shape.files);
    let boot = dir.join("boot");
    write_boot(&boot);
    let base = dir.join("base.img");
    make_base(&base, &shape, &tree, &boot);
    println!(
        "base: {:.2} GB card, {files} files of {:.2} GB in the root; output card {}",
        shape.base_card as f64 / 1e9,
        shape.files as f64 / 1e9,
        shape.card_size
    );

    std::fs::write(dir.join("bench.toml"), profile_text(&shape)).unwrap();
    let check = Command::new(env!("CARGO_BIN_EXE_pi-imager"))
        .args(["check", "bench.toml"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "pi-imager check refused the bench profile:\n{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );

    // `lock` fills the cache (the unpacked base) and writes the lock, as a first build
    // would, without the hour a first build of a 4 GB card spends in xz on this machine.
    measure(
        Command::new(env!("CARGO_BIN_EXE_pi-imager"))
            .args(["lock", "bench.toml", "--cache", "cache"])
            .current_dir(dir)
            .env("XDG_CACHE_HOME", dir.join("xdg-cache")),
    );
    let warm = build(dir, "out");
    let image = output(&dir.join("out"), ".img");
    let root_size = root_partition_size(&image);

    // The reference: copy the base, then make the root filesystem of the output's size
    // from the same tree.
    let copy = dir.join("copy.img");
    let cp_secs = timed(
        Command::new("cp")
            .arg("--sparse=always")
            .arg(&base)
            .arg(&copy),
    );
    std::fs::remove_file(&copy).unwrap();
    let reference = dir.join("reference.img");
    let mke2fs_secs = mke2fs(&tree, &reference, None, root_size);
    std::fs::remove_file(&reference).unwrap();
    let reference_secs = cp_secs + mke2fs_secs;

    // xz on the same raw image (a hard link, so its .xz does not land on the build's).
    let ours_xz = output(&dir.join("out"), ".img.xz");
    let raw = dir.join("raw.img");
    std::fs::hard_link(&image, &raw).unwrap();
    let raw_len = std::fs::metadata(&raw).unwrap().len();
    let xz = measure(Command::new("xz").args(["-T0", "-6", "-k"]).arg(&raw));
    let same_bytes = Command::new("cmp")
        .arg("-s")
        .arg(dir.join("raw.img.xz"))
        .arg(&ours_xz)
        .status()
        .unwrap_or_else(|e| panic!("cannot run cmp: {e}"))
        .success();

    println!("warm build, step by step (wall, CPU):");
    let mut xz_stage = (f64::NAN, f64::NAN);
    for (i, step) in warm.steps.iter().enumerate() {
        let (end, end_cpu) = warm
            .steps
            .get(i + 1)
            .map_or((warm.secs, warm.cpu), |s| (s.at, s.cpu));
        let took = (end - step.at, end_cpu - step.cpu);
        if step.line.contains(": compressing ") {
            xz_stage = took;
        }
        println!("  {:8.2} s {:8.2} s  {}", took.0, took.1, step.line);
    }
    let without_xz = warm.secs - xz_stage.0;
    println!(
        "warm build:                    {:8.2} s  (CPU {:.2} s)",
        warm.secs, warm.cpu
    );
    println!("cp --sparse=always base:       {cp_secs:8.2} s");
    println!(
        "mke2fs -d DIR ({:.2} GB root): {mke2fs_secs:8.2} s",
        root_size as f64 / 1e9
    );
    println!(
        "ratio build / (cp + mke2fs):   {:8.2}x   (target <= 2x)",
        warm.secs / reference_secs
    );
    println!(
        "  without the xz step:         {:8.2}x",
        without_xz / reference_secs
    );
    println!(
        "peak memory of the build:      {:8.1} MiB (target <= 512 MiB)",
        warm.peak_kib as f64 / 1024.0
    );
    let mbps = |secs: f64| raw_len as f64 / secs / 1e6;
    println!(
        "xz step ({:.2} GB raw):         {:8.2} s  {:7.1} MB/s  CPU {:.2} s",
        raw_len as f64 / 1e9,
        xz_stage.0,
        mbps(xz_stage.0),
        xz_stage.1
    );
    println!(
        "xz -T0 -6 -k:                  {:8.2} s  {:7.1} MB/s  CPU {:.2} s",
        xz.secs,
        mbps(xz.secs),
        xz.cpu
    );
    println!(
        "throughput ratio ours / xz:    {:8.2}x   (target >= 0.9x); by CPU time {:.2}x; same bytes: {}",
        xz.secs / xz_stage.0,
        xz.cpu / xz_stage.1,
        if same_bytes { "yes" } else { "no" }
    );
}
