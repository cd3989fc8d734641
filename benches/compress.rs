//! Benchmark: compress a realistic sparse image with our multi-threaded xz and with
//! `xz -T0 -6 -c`, in the same run, and report both throughputs, their ratio (target:
//! ours at least 0.9× of xz's) and the output sizes.
//!
//! The image is about 512 MiB: a mix of incompressible random regions, text-like regions
//! and holes. Set `PI_IMAGER_BENCH_MB` for another size and `PI_IMAGER_BENCH_DIR` for where
//! the scratch files go.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use pi_imager::image::compress::{Kind, compress};

/// A deterministic pseudo-random byte stream (xorshift64*).
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }

    /// Text-like bytes: words from a small vocabulary, lines of varying length, the way
    /// configuration files, scripts and documentation compress.
    fn fill_text(&mut self, buf: &mut [u8]) {
        const WORDS: [&str; 24] = [
            "the",
            "package",
            "config",
            "server",
            "include",
            "return",
            "if",
            "else",
            "fi",
            "echo",
            "usr",
            "lib",
            "share",
            "doc",
            "copyright",
            "license",
            "function",
            "value",
            "static",
            "int",
            "char",
            "void",
            "struct",
            "nginx",
        ];
        let mut i = 0;
        while i < buf.len() {
            let r = self.next();
            let word = WORDS[(r % WORDS.len() as u64) as usize].as_bytes();
            let sep: &[u8] = if r >> 60 == 0 { b"\n" } else { b" " };
            for &b in word.iter().chain(sep) {
                if i < buf.len() {
                    buf[i] = b;
                    i += 1;
                }
            }
        }
    }
}

/// Writes a sparse image of `mib` MiB: per MiB, 30% random, 30% text, 40% holes.
fn make_image(path: &Path, mib: u64) {
    let mut f = File::create(path).unwrap();
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
    let mut buf = vec![0u8; 1 << 20];
    for i in 0..mib {
        match noise.next() % 10 {
            0..=2 => {
                noise.fill(&mut buf);
                f.write_all(&buf).unwrap();
            }
            3..=5 => {
                noise.fill_text(&mut buf);
                f.write_all(&buf).unwrap();
            }
            _ => {
                f.seek(SeekFrom::Start((i + 1) << 20)).unwrap();
            }
        }
    }
    f.set_len(mib << 20).unwrap();
}

fn main() {
    let mib: u64 = std::env::var("PI_IMAGER_BENCH_MB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(512);
    let dir = match std::env::var_os("PI_IMAGER_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    let image = dir.path().join("bench.img");
    make_image(&image, mib);
    let bytes = mib << 20;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);

    let ours_path = dir.path().join("ours.img.xz");
    let t = Instant::now();
    let report = compress(&image, &ours_path, Kind::Xz, threads).unwrap();
    let ours = t.elapsed().as_secs_f64();

    let theirs_path = dir.path().join("xz.img.xz");
    let t = Instant::now();
    let status = Command::new("xz")
        .args(["-T0", "-6", "-c"])
        .arg(&image)
        .stdout(Stdio::from(File::create(&theirs_path).unwrap()))
        .status()
        .unwrap_or_else(|e| panic!("cannot run xz (install xz-utils): {e}"));
    let theirs = t.elapsed().as_secs_f64();
    assert!(status.success(), "xz failed");
    let theirs_size = std::fs::metadata(&theirs_path).unwrap().len();

    let mbps = |secs: f64| bytes as f64 / secs / 1e6;
    println!("image: {mib} MiB (30% random, 30% text, 40% holes), {threads} threads");
    println!(
        "ours:    {:.2} s  {:.1} MB/s  output {} bytes",
        ours,
        mbps(ours),
        report.bytes_out
    );
    println!(
        "xz -T0:  {:.2} s  {:.1} MB/s  output {} bytes",
        theirs,
        mbps(theirs),
        theirs_size
    );
    let ratio = theirs / ours;
    println!(
        "throughput ratio ours/xz: {ratio:.2}x (target >= 0.9x){}",
        if ratio >= 0.9 { "" } else { "  BELOW TARGET" }
    );
}
