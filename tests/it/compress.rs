//! Compressed outputs checked with the system's xz and gzip: integrity, content, equality
//! with `xz -T2 -6`, determinism, and `open_decompressed` on good and damaged files.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use pi_imager::image::compress::{Kind, compress, open_decompressed};
use sha2::{Digest, Sha256};

const MIB: u64 = 1 << 20;

/// A 64 MiB sparse image: holes, a few random regions (some straddling xz block
/// boundaries at 24 MiB), a text-like region and a non-aligned tail.
fn make_image(path: &Path) {
    let mut f = File::create(path).unwrap();
    let mut state = 0x1234_5678_9abc_def1u64;
    let mut random = |len: usize| {
        let mut v = Vec::with_capacity(len);
        while v.len() < len {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            v.extend_from_slice(&state.to_le_bytes());
        }
        v.truncate(len);
        v
    };
    for (start, len) in [
        (0, MIB),
        (5 * MIB + 17, 2 * MIB),
        (24 * MIB - 4096, MIB),
        (50 * MIB, 2 * MIB),
    ] {
        f.seek(SeekFrom::Start(start)).unwrap();
        f.write_all(&random(len as usize)).unwrap();
    }
    f.seek(SeekFrom::Start(40 * MIB)).unwrap();
    f.write_all(&b"server { listen 80; root /srv/www; }\n".repeat(20_000))
        .unwrap();
    f.seek(SeekFrom::Start(64 * MIB - 1000)).unwrap();
    f.write_all(&random(1000)).unwrap();
    f.set_len(64 * MIB).unwrap();
}

fn sha256_of(mut r: impl Read) -> [u8; 32] {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = r.read(&mut buf).unwrap();
        if n == 0 {
            return h.finalize().into();
        }
        h.update(&buf[..n]);
    }
}

fn tool(name: &str, args: &[&str], file: &Path) -> std::process::Output {
    Command::new(name)
        .args(args)
        .arg(file)
        .stderr(Stdio::piped())
        .output()
        .unwrap_or_else(|e| panic!("{name} is needed by this test and could not run: {e}"))
}

struct Fixture {
    _dir: tempfile::TempDir,
    image: std::path::PathBuf,
    image_sha: [u8; 32],
    root: std::path::PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("disk.img");
    make_image(&image);
    let image_sha = sha256_of(File::open(&image).unwrap());
    let root = dir.path().to_path_buf();
    Fixture {
        _dir: dir,
        image,
        image_sha,
        root,
    }
}

#[test]
fn xz_output_is_valid_deterministic_and_matches_xz_t2() {
    let fx = fixture();
    let out = fx.root.join("disk.img.xz");
    let report = compress(&fx.image, &out, Kind::Xz, 2).unwrap();
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(report.bytes_in, 64 * MIB);
    assert_eq!(report.bytes_out, bytes.len() as u64);
    assert_eq!(report.sha256_out, <[u8; 32]>::from(Sha256::digest(&bytes)));

    let t = tool("xz", &["-t"], &out);
    assert!(t.status.success(), "xz -t rejected our output: {t:?}");
    let dc = tool("xz", &["-dc"], &out);
    assert!(dc.status.success(), "xz -dc failed: {dc:?}");
    assert_eq!(
        sha256_of(&dc.stdout[..]),
        fx.image_sha,
        "xz -dc differs from the image"
    );

    let theirs = tool("xz", &["-T2", "-6", "-c"], &fx.image);
    assert!(theirs.status.success());
    assert!(theirs.stdout == bytes, "our xz differs from `xz -T2 -6 -c`");

    // The block size, not the thread count, shapes the stream: same bytes for any count.
    for threads in [1, 2, 4] {
        let again = fx.root.join(format!("again{threads}.img.xz"));
        let r = compress(&fx.image, &again, Kind::Xz, threads).unwrap();
        assert_eq!(r, report, "{threads} threads");
        assert!(
            std::fs::read(&again).unwrap() == bytes,
            "{threads} threads: bytes differ"
        );
    }

    let mut reader = open_decompressed(&out).unwrap();
    assert_eq!(sha256_of(&mut reader), fx.image_sha);
}

#[test]
fn gz_output_is_valid_and_deterministic() {
    let fx = fixture();
    let out = fx.root.join("disk.img.gz");
    let report = compress(&fx.image, &out, Kind::Gz, 2).unwrap();
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(report.bytes_out, bytes.len() as u64);
    assert_eq!(report.sha256_out, <[u8; 32]>::from(Sha256::digest(&bytes)));
    // No file name flag, mtime 0.
    assert_eq!(bytes[3] & 0x08, 0);
    assert_eq!(&bytes[4..8], &[0, 0, 0, 0]);

    let t = tool("gzip", &["-t"], &out);
    assert!(t.status.success(), "gzip -t rejected our output: {t:?}");
    let dc = tool("gzip", &["-dc"], &out);
    assert!(dc.status.success());
    assert_eq!(sha256_of(&dc.stdout[..]), fx.image_sha, "gzip -dc differs");

    let again = fx.root.join("again.img.gz");
    assert_eq!(compress(&fx.image, &again, Kind::Gz, 1).unwrap(), report);
    assert!(std::fs::read(&again).unwrap() == bytes);

    assert_eq!(sha256_of(open_decompressed(&out).unwrap()), fx.image_sha);
    assert_eq!(
        sha256_of(open_decompressed(&fx.image).unwrap()),
        fx.image_sha
    );
}

#[test]
fn damaged_xz_gives_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("small.img");
    let mut data = Vec::new();
    for i in 0..(3 * MIB as usize) {
        data.push((i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3]);
    }
    std::fs::write(&raw, &data).unwrap();
    let xz = dir.path().join("small.img.xz");
    compress(&raw, &xz, Kind::Xz, 2).unwrap();
    let good = std::fs::read(&xz).unwrap();

    let truncated = dir.path().join("truncated.img.xz");
    std::fs::write(&truncated, &good[..good.len() / 2]).unwrap();
    let mut corrupt_bytes = good.clone();
    let mid = corrupt_bytes.len() / 2;
    for b in &mut corrupt_bytes[mid..mid + 64] {
        *b ^= 0x5a;
    }
    let corrupt = dir.path().join("corrupt.img.xz");
    std::fs::write(&corrupt, &corrupt_bytes).unwrap();
    let header_only = dir.path().join("header.img.xz");
    std::fs::write(&header_only, &good[..12]).unwrap();

    for path in [&truncated, &corrupt, &header_only] {
        let mut sink = Vec::new();
        let err = open_decompressed(path)
            .unwrap()
            .read_to_end(&mut sink)
            .expect_err("a damaged .xz must not read cleanly");
        let msg = err.to_string();
        assert!(
            msg.contains(&path.display().to_string()),
            "error does not name the file: {msg}"
        );
    }

    let missing = dir.path().join("missing.img.xz");
    let err = open_decompressed(&missing).err().expect("missing file");
    assert!(err.to_string().contains("missing.img.xz"));
}
