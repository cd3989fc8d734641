//! Benchmark: read a base image's root into a tree and write a new image from it, against
//! `mke2fs -d DIR` alone on the same files, in the same run. Reports the time ratio
//! (target: at most 1.5×) and this process's peak memory (target: at most 300 MiB,
//! because file contents are streamed, never held).
//!
//! `cargo bench --bench image` builds a root of about 1.5 GB; set `PI_IMAGER_BENCH_MB` for
//! another size and `PI_IMAGER_BENCH_DIR` for where the scratch files go (they need about
//! three times that size of free disk).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use pi_imager::base::BaseImage;
use pi_imager::image::disk::{BootSpec, DiskSpec, TableSpec, write_disk};
use pi_imager::image::mke2fs::{Ext4Params, FsUuid};

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

fn run(cmd: &mut Command) {
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(status.success(), "{cmd:?} failed");
}

/// Writes a root of about `total` bytes: large files, 30,000 small ones, links.
fn make_root(dir: &Path, total: u64) -> (u64, usize) {
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
    let mut written = 0u64;
    let mut files = 0usize;
    let mut buf = vec![0u8; 1 << 20];
    let small_budget = total / 5;
    let mut i = 0u64;
    while written < small_budget && files < 30_000 {
        let d = dir.join(format!("usr/share/doc/pkg{:04}", i / 100));
        std::fs::create_dir_all(&d).unwrap();
        let len = 1024 + (i * 7919) % (31 * 1024);
        noise.fill(&mut buf[..len as usize]);
        std::fs::write(d.join(format!("file{i:05}")), &buf[..len as usize]).unwrap();
        written += len;
        files += 1;
        i += 1;
    }
    let big = dir.join("usr/lib/big");
    std::fs::create_dir_all(&big).unwrap();
    let mut j = 0;
    while written < total {
        let len = ((1 + j % 16) << 20).min(total - written);
        let mut f = std::fs::File::create(big.join(format!("blob{j:04}"))).unwrap();
        let mut left = len;
        while left > 0 {
            let n = left.min(buf.len() as u64) as usize;
            noise.fill(&mut buf[..n]);
            std::io::Write::write_all(&mut f, &buf[..n]).unwrap();
            left -= n as u64;
        }
        written += len;
        files += 1;
        j += 1;
    }
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    std::os::unix::fs::symlink("../usr/lib/big/blob0000", dir.join("etc/blob-link")).unwrap();
    (written, files)
}

/// `mke2fs -d src` with the bench's feature set, into `image` (at `offset` when given).
fn mke2fs(src: &Path, image: &Path, offset: Option<u64>, size: u64) {
    let mut cmd = Command::new("mke2fs");
    cmd.args([
        "-q",
        "-F",
        "-t",
        "ext4",
        "-O",
        &format!("none,{FEATURES}"),
        "-L",
        "rootfs",
    ]);
    if let Some(offset) = offset {
        cmd.arg(format!("-Eoffset={offset}"));
    }
    run(cmd
        .arg("-d")
        .arg(src)
        .arg(image)
        .arg(format!("{}k", size / 1024)));
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

const FEATURES: &str = "has_journal,ext_attr,resize_inode,dir_index,filetype,extent,64bit,flex_bg,sparse_super,large_file,dir_nlink,extra_isize,metadata_csum";

fn main() {
    let mb: u64 = std::env::var("PI_IMAGER_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500);
    let scratch = tempfile::TempDir::new_in(
        std::env::var_os("PI_IMAGER_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from),
    )
    .unwrap();
    let src = scratch.path().join("root");
    let (bytes, files) = make_root(&src, mb * 1_000_000);
    let fs_size = (bytes * 3 / 2 + (256 << 20)) / 4096 * 4096;
    println!(
        "root: {files} files, {:.0} MB; filesystem {:.0} MB",
        bytes as f64 / 1e6,
        fs_size as f64 / 1e6
    );

    // The base image: MBR, FAT32 boot at 8 MiB, ext4 root at 520 MiB, made by the real tools.
    let base = scratch.path().join("base.img");
    let root_start: u64 = 520 << 20;
    let card = root_start + fs_size;
    std::fs::File::create(&base).unwrap().set_len(card).unwrap();
    let mut sfdisk = Command::new("sfdisk")
        .arg("-q")
        .arg(&base)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        sfdisk.stdin.as_mut().unwrap(),
        format!(
            "label: dos\nstart=16384, size=1048576, type=c\nstart={}, type=83\n",
            root_start / 512
        )
        .as_bytes(),
    )
    .unwrap();
    assert!(sfdisk.wait().unwrap().success());
    run(Command::new("mkfs.vfat")
        .args(["-F", "32", "-n", "bootfs", "--offset=16384"])
        .arg(&base)
        .arg("524288"));
    mke2fs(&src, &base, Some(root_start), fs_size);

    // The reference: mke2fs -d from the directory, alone.
    let reference = scratch.path().join("reference.img");
    let start = Instant::now();
    mke2fs(&src, &reference, None, fs_size);
    let reference_secs = start.elapsed().as_secs_f64();
    std::fs::remove_file(&reference).unwrap();

    // pi-imager: read the base into trees, write a whole new image from them.
    let out = scratch.path().join("out.img");
    let start = Instant::now();
    let image = BaseImage::open(&base).unwrap();
    let read_secs = start.elapsed().as_secs_f64();
    let sb = &image.root.superblock;
    let params = Ext4Params::like(sb, FsUuid([7; 16]), FsUuid([9; 16]), 1_456_704_000);
    let spec = DiskSpec {
        size: card,
        table: TableSpec::Mbr {
            disk_id: 0x1234_5678,
        },
        boot: BootSpec {
            start: image.boot.partition.start,
            size: image.boot.partition.size,
            label: "bootfs".to_string(),
            volume_id: 0x1234_5678,
            timestamp: 1_456_704_000,
        },
        root: params,
    };
    write_disk(&out, &spec, &image.boot.tree, &image.root.tree).unwrap();
    let ours_secs = start.elapsed().as_secs_f64();
    let peak = peak_rss_mib();

    println!("mke2fs -d DIR alone:             {reference_secs:8.2} s");
    println!("pi-imager read base:             {read_secs:8.2} s");
    println!("pi-imager read + write image:    {ours_secs:8.2} s");
    println!(
        "ratio (pi-imager / mke2fs -d):   {:8.2}x   (target <= 1.5x)",
        ours_secs / reference_secs
    );
    println!("peak memory of pi-imager:        {peak:8.1} MiB (target <= 300 MiB)");
}
