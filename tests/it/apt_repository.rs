//! Repository metadata written by Debian's own tools: `.deb`s built with `dpkg-deb`,
//! indexed by `apt-ftparchive packages` and summarised by `apt-ftparchive release`, then read
//! by our `Release` and `Packages` parsers and checked against the files themselves.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use pi_imager::apt::relation::Op;
use pi_imager::apt::{MultiArch, PackagesIndex, Release};
use sha2::{Digest, Sha256};

use crate::repo_fixture::run;

/// Builds `pool/main/<name>.deb` from a control file and one data file.
fn build_deb(repo: &Path, name: &str, control: &str) {
    let root = repo.join("build").join(name);
    std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(root.join("usr/share/doc").join(name)).unwrap();
    std::fs::write(root.join("DEBIAN/control"), control).unwrap();
    std::fs::write(root.join("usr/share/doc").join(name).join("README"), name).unwrap();
    std::fs::create_dir_all(repo.join("pool/main")).unwrap();
    let deb = format!("pool/main/{name}.deb");
    let build = format!("build/{name}");
    run(
        repo,
        "dpkg-deb",
        &["--root-owner-group", "-Zgzip", "--build", &build, &deb],
    );
}

fn sha256(path: &Path) -> [u8; 32] {
    Sha256::digest(std::fs::read(path).unwrap()).into()
}

#[test]
fn reads_what_apt_ftparchive_writes() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    build_deb(
        repo,
        "nginx-light",
        "Package: nginx-light\nVersion: 1.6.2-5+deb8u6\nArchitecture: armhf\nMaintainer: M <m@example.org>\nDepends: libc6 (>= 2.15), libpcre3 (>= 1:8.35), nginx-common (= 1.6.2-5+deb8u6)\nBreaks: nginx (<< 1.4.5-1)\nProvides: httpd, httpd-cgi\nConflicts: nginx-extras\nSection: httpd\nPriority: extra\nDescription: nginx web/proxy server (basic version)\n A small web server.\n",
    );
    build_deb(
        repo,
        "php7.0-fpm",
        "Package: php7.0-fpm\nSource: php7.0 (7.0.33-0+deb9u1)\nVersion: 7.0.33-0+deb9u1+b1\nArchitecture: armhf\nMulti-Arch: foreign\nMaintainer: M <m@example.org>\nPre-Depends: dpkg (>= 1.17.14)\nDepends: libc6 (>= 2.17), systemd | systemd-tmpfiles, tzdata\nProvides: php-fpm, phpapi-20151012 (= 20151012)\nSection: php\nPriority: optional\nDescription: FastCGI Process Manager\n",
    );
    let index_dir = repo.join("dists/test/main/binary-armhf");
    std::fs::create_dir_all(&index_dir).unwrap();
    let packages = run(repo, "apt-ftparchive", &["packages", "pool"]);
    std::fs::write(index_dir.join("Packages"), &packages).unwrap();
    run(&index_dir, "gzip", &["-k9n", "Packages"]);
    run(&index_dir, "xz", &["-k", "Packages"]);
    let release = run(
        repo,
        "apt-ftparchive",
        &[
            "-oAPT::FTPArchive::Release::Origin=Example",
            "-oAPT::FTPArchive::Release::Suite=test",
            "-oAPT::FTPArchive::Release::Codename=testing-name",
            "-oAPT::FTPArchive::Release::Architectures=armhf",
            "-oAPT::FTPArchive::Release::Components=main",
            "release",
            "dists/test",
        ],
    );
    let release =
        Release::parse(&String::from_utf8(release).unwrap(), "dists/test/Release").unwrap();
    assert_eq!(release.origin.as_deref(), Some("Example"));
    assert_eq!(release.codename.as_deref(), Some("testing-name"));
    assert_eq!(release.architectures, ["armhf"]);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let date = release.date.expect("apt-ftparchive writes a Date");
    assert!(
        (date - now).abs() < 86_400,
        "Date {date} is about now ({now})"
    );
    for name in ["Packages", "Packages.gz", "Packages.xz"] {
        let path = index_dir.join(name);
        let entry = release
            .file(&format!("main/binary-armhf/{name}"))
            .unwrap_or_else(|| panic!("{name} is listed"));
        assert_eq!(
            entry.size,
            std::fs::metadata(&path).unwrap().len(),
            "{name} size"
        );
        assert_eq!(entry.sha256, sha256(&path), "{name} digest");
    }

    let index = PackagesIndex::parse(String::from_utf8(packages).unwrap(), "Packages").unwrap();
    assert_eq!(index.entries().len(), 2);
    for entry in index.entries() {
        let deb = repo.join(&entry.filename);
        assert_eq!(entry.size, std::fs::metadata(&deb).unwrap().len());
        assert_eq!(entry.sha256, sha256(&deb));
    }
    let nginx = &index.entries()[0].control;
    assert_eq!(nginx.name, "nginx-light");
    assert_eq!(nginx.relations.depends.len(), 3);
    let pcre = &nginx.relations.depends.group(1).unwrap()[0];
    assert_eq!(pcre.constraint.as_ref().unwrap().version.epoch(), 1);
    assert_eq!(
        nginx.relations.breaks.group(0).unwrap()[0]
            .constraint
            .as_ref()
            .unwrap()
            .op,
        Op::Earlier
    );
    let php = &index.entries()[1].control;
    assert_eq!(php.multi_arch, MultiArch::Foreign);
    assert_eq!(
        php.source
            .as_ref()
            .unwrap()
            .version
            .as_ref()
            .unwrap()
            .as_str(),
        "7.0.33-0+deb9u1"
    );
    assert_eq!(
        php.relations.provides[1].constraint.as_ref().unwrap().op,
        Op::Equal
    );
    assert_eq!(php.relations.depends.group(1).unwrap().len(), 2);
    let raw = index.raw(&index.entries()[1]);
    assert!(raw.starts_with("Package: php7.0-fpm\n"), "{raw}");
    assert!(
        raw.contains("\nFilename: pool/main/php7.0-fpm.deb\n"),
        "{raw}"
    );
    assert_eq!(php.description.as_deref(), Some("FastCGI Process Manager"));
}
