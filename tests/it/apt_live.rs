//! Opt-in live test against the real Debian archive (off by default: no network in the
//! default run). The mirror's address is taken at run time from this machine's own apt
//! configuration, never written here. Run with:
//!
//!     cargo test --test it -- --ignored live_
//!
//! It loads the host's Debian suite (signed InRelease verified with the Debian archive
//! keyring, `Packages.xz` checked against the Release) and resolves nginx with PHP-FPM.

use std::path::Path;

use pi_imager::apt::repository::{LoadPolicy, RepositorySource, load};
use pi_imager::apt::resolver::{Origin, Universe, resolve};
use pi_imager::apt::sources::{self, SourcesFormat};
use pi_imager::apt::{Keyring, StatusFile};
use pi_imager::fetch::Fetcher;
use pi_imager::profile::{PackageRequest, Packages};

/// The first Debian (not security, not updates) source of the host's apt configuration.
fn host_debian_source() -> (String, String) {
    let mut files: Vec<(String, SourcesFormat)> =
        vec![("/etc/apt/sources.list".into(), SourcesFormat::OneLine)];
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(format) = SourcesFormat::from_file_name(&name) {
                files.push((entry.path().display().to_string(), format));
            }
        }
    }
    for (file, format) in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let Ok(entries) = sources::parse(&text, &file, format) else {
            continue;
        };
        for e in entries {
            let suite_ok = !e.suite.contains('-') && !e.suite.contains('/');
            if suite_ok && e.uri.contains("debian") && !e.uri.contains("security") {
                return (e.uri.trim_end_matches('/').to_string(), e.suite);
            }
        }
    }
    panic!("no Debian source in this machine's apt configuration");
}

#[test]
#[ignore = "live: needs the Debian archive; run with --ignored"]
fn live_resolves_php_fpm_and_nginx_against_the_debian_archive() {
    let (uri, suite) = host_debian_source();
    let arch = String::from_utf8(
        std::process::Command::new("dpkg")
            .arg("--print-architecture")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_string();
    let keyring =
        Keyring::from_file(Path::new("/usr/share/keyrings/debian-archive-keyring.gpg")).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(cache.path().to_path_buf(), false);
    let source = RepositorySource {
        name: "debian".into(),
        uri,
        suite,
        components: vec!["main".into()],
        flat: false,
        architectures: Vec::new(),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let loaded = load(
        &fetcher,
        &source,
        &keyring,
        &arch,
        LoadPolicy::default(),
        now,
    )
    .unwrap();
    assert!(
        loaded
            .indexes
            .iter()
            .map(|i| i.index.entries().len())
            .sum::<usize>()
            > 10_000
    );
    let origin = Origin {
        name: "debian".into(),
        suite: loaded.release.suite.clone(),
        codename: loaded.release.codename.clone(),
        priority: 500,
        indexes: loaded.indexes.iter().map(|i| i.index.clone()).collect(),
    };
    let universe = Universe::new(&arch, vec![origin], StatusFile::default());
    let request = Packages {
        install: ["nginx", "php-fpm"]
            .iter()
            .map(|n| PackageRequest {
                name: n.to_string(),
                release: None,
            })
            .collect(),
        remove: Vec::new(),
        recommends: false,
    };
    let resolution = resolve(&universe, &request).unwrap();
    let names: Vec<&str> = resolution.unpack.iter().map(|u| u.name.as_str()).collect();
    assert!(names.contains(&"nginx"), "{names:?}");
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("php") && n.ends_with("-fpm") && *n != "php-fpm"),
        "{names:?}"
    );
    assert!(names.contains(&"libc6"), "{names:?}");
}
