//! Benchmark: parse this machine's own apt lists (the full Debian `Packages` indexes apt
//! downloaded, read at run time from apt's lists directory) and resolve `php8.2-fpm nginx`
//! against its dpkg status, beside `apt-get -s install` of the same packages on the same
//! data. Reports both times, their ratio (target: under 1 s for parse + resolve) and
//! whether the two selected the same packages and versions.
//!
//! `cargo bench --bench resolve`; `PI_IMAGER_BENCH_PACKAGES` overrides the requested names
//! (space-separated). Indexes are decompressed with the `lz4`, `xz` or `gzip` tools before
//! timing starts, since apt stores them compressed in its own way.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use pi_imager::apt::resolver::{Origin, Universe, resolve};
use pi_imager::apt::{PackagesIndex, StatusFile};
use pi_imager::profile::{PackageRequest, Packages};

const LISTS: &str = "/var/lib/apt/lists";
const STATUS: &str = "/var/lib/dpkg/status";

fn decompress(path: &Path) -> Option<String> {
    let name = path.to_string_lossy();
    let tool = if name.ends_with(".lz4") {
        "lz4"
    } else if name.ends_with(".xz") {
        "xz"
    } else if name.ends_with(".gz") {
        "gzip"
    } else {
        return std::fs::read_to_string(path).ok();
    };
    let output = Command::new(tool).arg("-dc").arg(path).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

fn main() {
    let architecture = String::from_utf8_lossy(
        &Command::new("dpkg")
            .arg("--print-architecture")
            .output()
            .expect("dpkg --print-architecture")
            .stdout,
    )
    .trim()
    .to_owned();
    let names: Vec<String> = std::env::var("PI_IMAGER_BENCH_PACKAGES")
        .unwrap_or_else(|_| "php8.2-fpm nginx".to_owned())
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let mut texts = Vec::new();
    for entry in std::fs::read_dir(LISTS).expect("apt's lists directory") {
        let path = entry.expect("list entry").path();
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !file.contains("_Packages") {
            continue;
        }
        // `host_path_dists_<suite>_main_binary-<arch>_Packages.lz4`
        let suite = file
            .split("_dists_")
            .nth(1)
            .and_then(|rest| rest.split('_').next())
            .unwrap_or("unknown")
            .to_owned();
        if let Some(text) = decompress(&path) {
            texts.push((suite, file, text));
        }
    }
    assert!(
        !texts.is_empty(),
        "no Packages index under {LISTS}: run apt-get update first"
    );
    let status_text = std::fs::read_to_string(STATUS).expect("dpkg status");

    let start = Instant::now();
    let mut stanzas = 0;
    let mut origins = Vec::new();
    for (suite, file, text) in texts {
        let index = PackagesIndex::parse(text, &file).expect("index parses");
        stanzas += index.entries().len();
        // Backports suites are NotAutomatic/ButAutomaticUpgrades: apt gives them 100.
        let priority = if suite.ends_with("-backports") {
            100
        } else {
            500
        };
        origins.push(Origin {
            name: suite.clone(),
            suite: Some(suite),
            codename: None,
            priority,
            indexes: vec![index],
        });
    }
    let status = StatusFile::parse(&status_text, STATUS).expect("status parses");
    let parsed = start.elapsed();
    let universe = Universe::new(&architecture, origins, status);
    let packages = Packages {
        install: names
            .iter()
            .map(|name| PackageRequest {
                name: name.clone(),
                release: None,
            })
            .collect(),
        remove: Vec::new(),
        recommends: true,
    };
    let resolution = resolve(&universe, &packages).expect("resolution");
    let ours_time = start.elapsed();

    let apt_start = Instant::now();
    let output = Command::new("apt-get")
        .args(["-s", "-o", "Debug::NoLocking=1", "install"])
        .args(&names)
        .output()
        .expect("apt-get");
    let apt_time = apt_start.elapsed();
    let mut theirs = BTreeMap::new();
    let mut removed = BTreeSet::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Inst", name, old, new, ..] if old.starts_with('[') => {
                theirs.insert(name.to_string(), new.trim_start_matches('(').to_owned());
            }
            ["Inst", name, new, ..] => {
                theirs.insert(name.to_string(), new.trim_start_matches('(').to_owned());
            }
            ["Remv", name, ..] => {
                removed.insert(name.to_string());
            }
            _ => {}
        }
    }
    let ours: BTreeMap<String, String> = resolution
        .unpack
        .iter()
        .map(|u| (u.name.clone(), u.version.to_string()))
        .collect();
    println!(
        "parsed {stanzas} stanzas in {:.3} s; parse + resolve {:.3} s ({} packages to unpack)",
        parsed.as_secs_f64(),
        ours_time.as_secs_f64(),
        ours.len()
    );
    println!(
        "apt-get -s install {}: {:.3} s; ratio ours/apt {:.2}",
        names.join(" "),
        apt_time.as_secs_f64(),
        ours_time.as_secs_f64() / apt_time.as_secs_f64()
    );
    if ours == theirs && removed.is_empty() {
        println!("same selection as apt ({} packages)", ours.len());
    } else {
        let only_ours: Vec<_> = ours
            .iter()
            .filter(|(k, v)| theirs.get(*k) != Some(v))
            .collect();
        let only_apt: Vec<_> = theirs
            .iter()
            .filter(|(k, v)| ours.get(*k) != Some(v))
            .collect();
        println!(
            "selection differs: only ours {only_ours:?}; only apt {only_apt:?}; apt removes {removed:?}"
        );
    }
}
