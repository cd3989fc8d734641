//! Shared fixtures for the FAT tests: a source tree with awkward names, real tools
//! (mkfs.vfat, mtools, fsck.fat) run in temporary directories, and tree comparisons.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, UNIX_EPOCH};

use pi_imager::image::fat::{Fat, FatEntry};
use pi_imager::image::io::ReadAt;
use sha2::{Digest, Sha256};

/// Runs a tool, panicking with its output if it cannot be started or fails.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .env("TZ", "UTC")
        .env("MTOOLS_SKIP_CHECK", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?} (is it installed?): {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// What a test knows about one path: directory, or file size, content digest and mtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Dir,
    File {
        size: u64,
        sha256: String,
        mtime: i64,
    },
}

pub fn sha256(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Deterministic content of `len` bytes that differs between `seed`s.
pub fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// The files of the common source tree: path and content. Directories are implied.
pub fn source_files() -> Vec<(String, Vec<u8>)> {
    let mut files = vec![
        ("hello.txt".to_string(), b"hello, world\n".to_vec()),
        ("README".to_string(), b"read me\n".to_vec()),
        ("Makefile".to_string(), b"all:\n\ttrue\n".to_vec()),
        (
            "A Long File Name With Spaces.txt".to_string(),
            content(1, 1000),
        ),
        (
            "Überblick.txt".to_string(),
            "Überblick\n".as_bytes().to_vec(),
        ),
        ("empty.dat".to_string(), Vec::new()),
        ("big.bin".to_string(), content(2, 3 * 1024 * 1024 + 123)),
        ("deep/a/b/c/d/leaf.txt".to_string(), b"leaf\n".to_vec()),
        (
            "deep/a/b/sibling with a long name.conf".to_string(),
            content(3, 5000),
        ),
        ("deep/a/zeros.bin".to_string(), vec![0u8; 20_000]),
    ];
    for i in 0..230 {
        files.push((
            format!("many/entry number {i:04}.txt"),
            content(100 + i, i as usize * 7),
        ));
    }
    files
}

/// Writes the source tree under `root` with even, distinct mtimes; returns what was written.
pub fn make_source_dir(root: &Path) -> BTreeMap<String, Item> {
    let mut items = BTreeMap::new();
    for (i, (path, data)) in source_files().into_iter().enumerate() {
        let full = root.join(&path);
        let mut parent = full.parent();
        while let Some(p) = parent.filter(|p| *p != root) {
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            items.insert(rel, Item::Dir);
            parent = p.parent();
        }
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        fs::write(&full, &data).unwrap();
        let mtime = 1_600_000_000 + 2 * i as i64;
        fs::File::options()
            .write(true)
            .open(&full)
            .unwrap()
            .set_modified(UNIX_EPOCH + Duration::from_secs(mtime as u64))
            .unwrap();
        items.insert(
            path,
            Item::File {
                size: data.len() as u64,
                sha256: sha256(&data),
                mtime,
            },
        );
    }
    items
}

/// Everything under a host directory, with mtimes when `with_mtime`.
pub fn scan_dir(root: &Path, with_mtime: bool) -> BTreeMap<String, Item> {
    let mut items = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let rel = e
                .path()
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let meta = e.metadata().unwrap();
            if meta.is_dir() {
                items.insert(rel, Item::Dir);
                stack.push(e.path());
            } else {
                let data = fs::read(e.path()).unwrap();
                let mtime = if with_mtime {
                    meta.modified()
                        .unwrap()
                        .duration_since(UNIX_EPOCH)
                        .unwrap()
                        .as_secs() as i64
                } else {
                    0
                };
                items.insert(
                    rel,
                    Item::File {
                        size: data.len() as u64,
                        sha256: sha256(&data),
                        mtime,
                    },
                );
            }
        }
    }
    items
}

/// Everything our reader finds, content read through the byte ranges it reports.
pub fn scan_fat<R: ReadAt>(fat: &Fat<R>, src: &R, with_mtime: bool) -> BTreeMap<String, Item> {
    let mut items = BTreeMap::new();
    for e in fat.walk().unwrap() {
        if e.is_dir() {
            items.insert(e.path, Item::Dir);
            continue;
        }
        let mut data = Vec::new();
        for &(offset, len) in &e.extents {
            let mut buf = vec![0u8; len as usize];
            src.read_exact_at(&mut buf, offset).unwrap();
            data.extend_from_slice(&buf);
        }
        assert_eq!(data.len() as u64, u64::from(e.size), "{}", e.path);
        assert_eq!(fat.read_to_vec(&e, u64::MAX).unwrap(), data, "{}", e.path);
        items.insert(
            e.path,
            Item::File {
                size: data.len() as u64,
                sha256: sha256(&data),
                mtime: if with_mtime { e.mtime } else { 0 },
            },
        );
    }
    items
}

/// The source files as writer entries.
pub fn source_entries() -> Vec<FatEntry<'static>> {
    source_files()
        .into_iter()
        .map(|(path, data)| FatEntry::bytes(path, data))
        .collect()
}

/// A file of `size` bytes full of holes.
pub fn sparse_file(path: &Path, size: u64) -> fs::File {
    let f = fs::File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)
        .unwrap();
    f.set_len(size).unwrap();
    f
}
