//! Benchmark: describe a written image for its manifest, against coreutils' `sha256sum` of
//! the same image file, in the same run. Reports the time ratio and the peak memory of the
//! describe step alone, for two card sizes holding the same files: memory must not grow
//! with the card, because every digest is computed from a streamed buffer.
//!
//! `cargo bench --bench manifest` (or `cargo test --bench manifest` for an unoptimised
//! crate with optimised dependencies) writes about 300 MB of files onto 1 GiB and 4 GiB
//! cards. `PI_IMAGER_BENCH_MB` sets the file volume, `PI_IMAGER_BENCH_DIR` the scratch
//! folder (it needs about twice the file volume free, as the images are sparse).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use pi_imager::image::bmap::Bmap;
use pi_imager::image::disk::{BootSpec, DiskSpec, TableSpec, write_disk};
use pi_imager::image::mke2fs::{Ext4Params, FsUuid};
use pi_imager::manifest::{BuildFacts, Checksum, Manifest, Written};
use pi_imager::tree::{Content, Inode, Kind, Timestamp, Tree, TreePath};

const EPOCH: i64 = 1_456_704_000;

/// A deterministic pseudo-random byte stream (xorshift64*).
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

fn p(text: &str) -> TreePath {
    TreePath::parse(text).unwrap()
}

/// A root tree of about `total` bytes whose files live in `dir` on the host: 2,000 small
/// files and 8 MiB blobs for the rest.
fn make_root(dir: &Path, total: u64) -> (Tree, usize) {
    let t = Timestamp::from_secs(EPOCH);
    let mut tree = Tree::new(Inode::dir(0o755, t));
    for d in [
        "usr",
        "usr/share",
        "usr/share/doc",
        "usr/lib",
        "usr/lib/big",
    ] {
        tree.insert(p(d), Inode::dir(0o755, t)).unwrap();
    }
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
    let mut buf = vec![0u8; 8 << 20];
    let mut written = 0u64;
    let mut files = 0usize;
    let mut add = |tree: &mut Tree, at: &str, len: usize| {
        noise.fill(&mut buf[..len]);
        let host = dir.join(format!("f{files}"));
        std::fs::write(&host, &buf[..len]).unwrap();
        let kind = Kind::File {
            size: len as u64,
            content: Content::HostFile(host),
        };
        tree.insert(p(at), Inode::new(kind, 0o644, t)).unwrap();
        files += 1;
        len as u64
    };
    for i in 0..2000usize {
        if i % 100 == 0 {
            tree.insert(
                p(&format!("usr/share/doc/pkg{}", i / 100)),
                Inode::dir(0o755, t),
            )
            .unwrap();
        }
        let at = format!("usr/share/doc/pkg{}/file{i}", i / 100);
        written += add(&mut tree, &at, 1024 + (i * 7919) % (31 * 1024));
    }
    let mut j = 0;
    while written < total {
        let len = (8usize << 20).min((total - written) as usize);
        written += add(&mut tree, &format!("usr/lib/big/blob{j:04}"), len);
        j += 1;
    }
    (tree, files)
}

fn facts() -> BuildFacts {
    BuildFacts {
        tool_version: "bench".to_string(),
        profile: "bench.toml".to_string(),
        profile_digest: Checksum::of(b"bench"),
        node: "bench".to_string(),
        hostname: "bench".to_string(),
        board: "pi4".to_string(),
        generation: "bookworm".to_string(),
        lock: None,
        epoch: EPOCH,
        inputs: Vec::new(),
        packages: Vec::new(),
        removed: Vec::new(),
        written: Written::default(),
        notes: Vec::new(),
        outputs: Vec::new(),
    }
}

/// Resets this process's peak resident size, so the next reading covers what follows.
fn reset_peak() {
    // Linux: writing 5 to clear_refs resets VmHWM.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn main() {
    let mb: u64 = std::env::var("PI_IMAGER_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let scratch = tempfile::TempDir::new_in(
        std::env::var_os("PI_IMAGER_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from),
    )
    .unwrap();
    let host = scratch.path().join("files");
    std::fs::create_dir(&host).unwrap();
    let (root, files) = make_root(&host, mb * 1_000_000);
    let t = Timestamp::from_secs(EPOCH);
    let mut boot = Tree::new(Inode::dir(0o755, t));
    boot.insert(p("config.txt"), Inode::file("arm_64bit=1\n", 0o644, t))
        .unwrap();
    println!("root: {files} files, {mb} MB");

    for card in [1u64 << 30, 4 << 30] {
        let img = scratch.path().join("bench.img");
        let spec = DiskSpec {
            size: card,
            table: TableSpec::Mbr {
                disk_id: 0x1234_5678,
            },
            boot: BootSpec {
                start: 8 << 20,
                size: 256 << 20,
                label: "bootfs".to_string(),
                volume_id: 0x1234_5678,
                timestamp: EPOCH,
            },
            root: Ext4Params::new(
                "rootfs",
                FsUuid([7; 16]),
                FsUuid([9; 16]),
                Ext4Params::BOOKWORM,
                EPOCH,
            ),
        };
        write_disk(&img, &spec, &boot, &root).unwrap();
        let bmap = Bmap::from_image(&img).unwrap();

        let start = Instant::now();
        let out = Command::new("sha256sum")
            .arg(&img)
            .output()
            .expect("sha256sum runs");
        assert!(out.status.success());
        let reference = start.elapsed().as_secs_f64();

        reset_peak();
        let before = peak_rss_mib();
        let start = Instant::now();
        let manifest = Manifest::describe(&img, &bmap, facts()).unwrap();
        let ours = start.elapsed().as_secs_f64();
        let peak = peak_rss_mib();
        assert!(
            String::from_utf8_lossy(&out.stdout).starts_with(&manifest.image.sha256.to_hex()),
            "sha256sum and the manifest disagree"
        );
        println!("card {} GiB:", card >> 30);
        println!("  sha256sum of the image:        {reference:8.2} s");
        println!("  Manifest::describe:            {ours:8.2} s");
        println!(
            "  ratio (describe / sha256sum):  {:8.2}x   (describe also hashes every partition, range and file)",
            ours / reference
        );
        println!("  peak memory before / during:   {before:8.1} / {peak:.1} MiB");
        std::fs::remove_file(&img).unwrap();
    }
}
