//! Benchmark: `pi-imager flash` against `bmaptool copy` of the same image and block map
//! to a file in the same run (target: at least 1.0× bmaptool's throughput), and
//! `verify --blocks` against `sha256sum` of the image (target: at least 1.0×).
//!
//! The image is sparse, `PI_IMAGER_BENCH_MB` MiB (512 by default) with three MiB of
//! pseudo-random data in every four, so three quarters is mapped. Each tool runs five
//! times, alternating, so the page cache favours neither; every round is printed, and
//! the ratio is given for the best times and for the medians (the disk of a shared
//! machine is noisy). Flash times include our pre-write check and read-back of every
//! range, which bmaptool does not do. `PI_IMAGER_BENCH_DIR` sets where the scratch files
//! go (about three times the image).
//!
//! A second part flashes a loop device (`losetup`, backed by a file in the scratch
//! directory) the same way, where both tools take their block-device path: bmaptool's
//! `fsync` every 6 MiB, our writeback one chunk behind and a read-back from the device.
//! It is skipped, with the reason printed, when a loop device cannot be set up (not
//! root, no loop driver): the bench is not a test.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use pi_imager::flash::{self, DeviceChecks, FlashOptions};
use pi_imager::image::bmap::Bmap;
use pi_imager::manifest::{
    BlockMap, BlockRange, BuildInfo, Checksum, ImageInfo, Manifest, TableInfo,
};
use pi_imager::verify::{self, Mode};

const ROUNDS: usize = 5;

/// Deterministic incompressible bytes (xorshift64*).
fn noise(seed: u64, buf: &mut [u8]) {
    let mut s = seed | 1;
    for chunk in buf.chunks_mut(8) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        let v = s.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
}

fn make_image(path: &Path, mib: u64) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::create(path).unwrap();
    f.set_len(mib << 20).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    for m in 0..mib {
        if m % 4 != 3 {
            noise(m + 1, &mut buf);
            f.write_all_at(&buf, m << 20).unwrap();
        }
    }
    f.sync_all().unwrap();
}

fn time(mut f: impl FnMut()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64()
}

fn run(cmd: &mut Command) {
    let status = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(status.success(), "{cmd:?} failed");
}

/// A manifest holding only what `verify --blocks` reads: the image and its block map.
fn manifest_for(bmap: &Bmap, name: &str) -> Manifest {
    Manifest {
        schema: pi_imager::manifest::SCHEMA.to_string(),
        build: BuildInfo {
            tool_version: "bench".into(),
            profile: "bench.toml".into(),
            profile_digest: Checksum([0; 32]),
            node: "bench".into(),
            hostname: "bench".into(),
            board: "pi3".into(),
            generation: "bookworm".into(),
            lock: None,
            epoch: 0,
        },
        inputs: Vec::new(),
        packages: Vec::new(),
        removed: Vec::new(),
        notes: Vec::new(),
        image: ImageInfo {
            name: name.into(),
            size: bmap.image_size,
            sha256: Checksum([0; 32]),
            // The table kind's type is not exported; its JSON spelling is.
            table: serde_json::from_value::<TableInfo>(
                serde_json::json!({"kind": "mbr", "id": "00000000"}),
            )
            .unwrap(),
        },
        partitions: Vec::new(),
        blocks: BlockMap {
            block_size: bmap.block_size,
            mapped_blocks: bmap.mapped_blocks_count(),
            ranges: bmap
                .ranges
                .iter()
                .map(|r| BlockRange {
                    first: r.first,
                    last: r.last,
                    sha256: Checksum(r.sha256),
                })
                .collect(),
        },
        files: Vec::new(),
        symlinks: Vec::new(),
        expected_to_change: Vec::new(),
        outputs: Vec::new(),
    }
}

/// Runs `bmaptool copy` and our flash of `image` alternately; returns our times and
/// theirs, in seconds. File targets are removed before each run so both write a new file.
fn flash_rounds(
    image: &Path,
    bmap_path: &Path,
    ours_target: &Path,
    theirs_target: &Path,
    files: bool,
) -> (Vec<f64>, Vec<f64>) {
    let options = FlashOptions {
        image: image.to_path_buf(),
        bmap: Some(bmap_path.to_path_buf()),
        device: ours_target.to_path_buf(),
        checks: DeviceChecks::default(),
    };
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        if files {
            let _ = std::fs::remove_file(theirs_target);
        }
        theirs.push(time(|| {
            run(Command::new("bmaptool")
                .arg("copy")
                .arg("--bmap")
                .arg(bmap_path)
                .arg(image)
                .arg(theirs_target))
        }));
        if files {
            let _ = std::fs::remove_file(ours_target);
        }
        ours.push(time(|| {
            flash::flash(&options, &mut |_, _, _| {}).unwrap();
        }));
    }
    (ours, theirs)
}

fn best(times: &[f64]) -> f64 {
    times.iter().copied().fold(f64::MAX, f64::min)
}

fn median(times: &[f64]) -> f64 {
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

fn report(what: &str, mapped: u64, mib: u64, ours: &[f64], theirs: &[f64]) {
    let mapped_mib = mapped as f64 / 1048576.0;
    let rounds = |t: &[f64]| {
        t.iter()
            .map(|s| format!("{s:.2}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!(
        "{what}: {mapped_mib:.1} MiB mapped of {mib} MiB; pi-imager best {:.2} s ({:.0} MiB/s, with check and read-back), median {:.2} s [{}]; bmaptool copy best {:.2} s ({:.0} MiB/s), median {:.2} s [{}]; throughput ratio best {:.2}x, median {:.2}x (target >= 1.0x)",
        best(ours),
        mapped_mib / best(ours),
        median(ours),
        rounds(ours),
        best(theirs),
        mapped_mib / best(theirs),
        median(theirs),
        rounds(theirs),
        best(theirs) / best(ours),
        median(theirs) / median(ours),
    );
}

/// A loop device backed by a file, detached when dropped.
struct LoopDevice {
    path: std::path::PathBuf,
}

impl LoopDevice {
    fn attach(backing: &Path, size: u64) -> Result<Self, String> {
        let file = std::fs::File::create(backing).map_err(|e| e.to_string())?;
        file.set_len(size).map_err(|e| e.to_string())?;
        let out = Command::new("losetup")
            .args(["--find", "--show"])
            .arg(backing)
            .output()
            .map_err(|e| format!("cannot run losetup: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "losetup failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Ok(Self { path: path.into() })
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.path).status();
    }
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
    let bmap = Bmap::from_image(&image).unwrap();
    let bmap_path = dir.path().join("bench.img.bmap");
    std::fs::write(&bmap_path, bmap.to_xml()).unwrap();
    let mapped = bmap.mapped_blocks_count() * bmap.block_size;

    let ours_target = dir.path().join("ours.img");
    let theirs_target = dir.path().join("theirs.img");
    let (ours, theirs) = flash_rounds(&image, &bmap_path, &ours_target, &theirs_target, true);
    report("flash to a file", mapped, mib, &ours, &theirs);

    match LoopDevice::attach(&dir.path().join("loop.img"), mib << 20) {
        Ok(device) => {
            let (ours, theirs) =
                flash_rounds(&image, &bmap_path, &device.path, &device.path, false);
            report("flash to a loop device", mapped, mib, &ours, &theirs);
        }
        Err(why) => println!("flash to a loop device: skipped ({why})"),
    }

    let manifest = manifest_for(&bmap, "bench.img");
    let (mut ours, mut theirs) = (f64::MAX, f64::MAX);
    for _ in 0..ROUNDS {
        theirs = theirs.min(time(|| run(Command::new("sha256sum").arg(&image))));
        ours = ours.min(time(|| {
            let report = verify::verify(&image, &manifest, Mode::Blocks).unwrap();
            assert_eq!(report.verdict, verify::Verdict::Matches);
        }));
    }
    let verify_ratio = theirs / ours;
    println!(
        "verify --blocks: {mib} MiB image; pi-imager {ours:.2} s, sha256sum {theirs:.2} s; throughput ratio {verify_ratio:.2}x (target >= 1.0x)"
    );
}
