//! The apt stage end to end, as the seed's node needs it: a Jessie-like base whose own
//! sources are rewritten to a local archive, nginx-light from the base's suite, then PHP-FPM
//! from a newer suite at a low pin priority (`php7.0-fpm/stretch`), which pulls a newer libc
//! and its companion from that suite; dphys-swapfile purged. The result is checked with real
//! dpkg: `dpkg --audit` and `dpkg-query` on the tree written out to a directory.

use std::path::Path;
use std::process::Command;

use pi_imager::apt::ContentStore;
use pi_imager::apt::install::install;
use pi_imager::fetch::Fetcher;
use pi_imager::tree::{Content, Inode, Kind, Timestamp, Tree, TreePath};

use crate::apt_gpg::Gpg;
use crate::deb_fixture::write_tree;
use crate::http_fixture::Server;
use crate::repo_fixture::run;

const T: Timestamp = Timestamp::from_secs(1_456_704_000);

fn host_arch() -> String {
    String::from_utf8(run(Path::new("."), "dpkg", &["--print-architecture"]))
        .unwrap()
        .trim()
        .to_string()
}

/// Builds `pool/<suite>/<name>_<version>_<arch>.deb` with one file and `fields`.
fn deb(root: &Path, suite: &str, name: &str, version: &str, arch: &str, fields: &[(&str, &str)]) {
    let dir = tempfile::tempdir().unwrap();
    let pkg = dir.path().join("pkg");
    std::fs::create_dir_all(pkg.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(pkg.join(format!("usr/share/doc/{name}"))).unwrap();
    std::fs::write(
        pkg.join(format!("usr/share/doc/{name}/README")),
        format!("{name} {version}\n"),
    )
    .unwrap();
    let mut control = format!(
        "Package: {name}\nVersion: {version}\nArchitecture: {arch}\nMaintainer: Example <archive@example.org>\nDescription: test package {name}\n"
    );
    for (k, v) in fields {
        control.push_str(&format!("{k}: {v}\n"));
    }
    std::fs::write(pkg.join("DEBIAN/control"), control).unwrap();
    let pool = root.join(format!("pool/{suite}"));
    std::fs::create_dir_all(&pool).unwrap();
    let out = pool.join(format!("{name}_{version}_{arch}.deb"));
    run(
        dir.path(),
        "dpkg-deb",
        &[
            "--root-owner-group",
            "-Zgzip",
            "--build",
            pkg.to_str().unwrap(),
            out.to_str().unwrap(),
        ],
    );
}

/// Two suites in one archive, signed by one key; returns the key's fingerprint.
fn archive(root: &Path, gpg: &Gpg, arch: &str) -> String {
    deb(
        root,
        "jessie",
        "libc6",
        "2.19-18+deb8u10",
        arch,
        &[("Depends", "libc-bin (= 2.19-18+deb8u10)")],
    );
    deb(
        root,
        "jessie",
        "libc-bin",
        "2.19-18+deb8u10",
        arch,
        &[("Essential", "yes")],
    );
    deb(
        root,
        "jessie",
        "nginx-light",
        "1.6.2-5+deb8u6",
        arch,
        &[("Depends", "libc6 (>= 2.14), lsb-base")],
    );
    deb(root, "jessie", "lsb-base", "4.1+Debian13+nmu1", "all", &[]);
    deb(
        root,
        "stretch",
        "libc6",
        "2.24-11+deb9u4",
        arch,
        &[("Depends", "libc-bin (= 2.24-11+deb9u4)")],
    );
    deb(
        root,
        "stretch",
        "libc-bin",
        "2.24-11+deb9u4",
        arch,
        &[("Essential", "yes")],
    );
    deb(
        root,
        "stretch",
        "nginx-light",
        "1.10.3-1+deb9u7",
        arch,
        &[("Depends", "libc6 (>= 2.14)")],
    );
    deb(
        root,
        "stretch",
        "php7.0-common",
        "7.0.33-0+deb9u1",
        arch,
        &[
            ("Depends", "libc6 (>= 2.4)"),
            ("Provides", "phpapi-20151012"),
        ],
    );
    deb(
        root,
        "stretch",
        "php7.0-fpm",
        "7.0.33-0+deb9u1",
        arch,
        &[(
            "Depends",
            "libc6 (>= 2.24), php7.0-common (= 7.0.33-0+deb9u1), phpapi-20151012, lsb-base",
        )],
    );
    let fingerprint = gpg.gen_key(
        "Example Archive <archive@example.org>",
        "ed25519",
        "sign",
        "never",
        &[],
    );
    for suite in ["jessie", "stretch"] {
        for a in [arch, "all"] {
            let index = run(
                root,
                "apt-ftparchive",
                &["packages", &format!("pool/{suite}")],
            );
            let out = root.join(format!("dists/{suite}/main/binary-{a}"));
            std::fs::create_dir_all(&out).unwrap();
            let filtered: String = String::from_utf8(index)
                .unwrap()
                .split("\n\n")
                .filter(|p| p.contains(&format!("Architecture: {a}\n")))
                .map(|p| format!("{}\n\n", p.trim_end()))
                .collect();
            std::fs::write(out.join("Packages"), filtered).unwrap();
            run(&out, "xz", &["-k", "-6", "Packages"]);
        }
        let options: Vec<String> = [
            "Origin=Raspbian".to_string(),
            "Label=Raspbian".to_string(),
            format!("Suite={suite}"),
            format!("Codename={suite}"),
            format!("Architectures={arch}"),
            "Components=main".to_string(),
        ]
        .iter()
        .flat_map(|o| ["-o".to_string(), format!("APT::FTPArchive::Release::{o}")])
        .chain(["release".to_string(), format!("dists/{suite}")])
        .collect();
        let refs: Vec<&str> = options.iter().map(String::as_str).collect();
        let release = run(root, "apt-ftparchive", &refs);
        std::fs::write(root.join(format!("dists/{suite}/Release")), &release).unwrap();
        let signed = gpg.clearsign(&[&fingerprint], "SHA512", &release, &[]);
        std::fs::write(root.join(format!("dists/{suite}/InRelease")), signed).unwrap();
    }
    fingerprint
}

fn md5_of(bytes: &[u8]) -> Md5Hex {
    use md5::Digest;
    Md5Hex(md5::Md5::digest(bytes).into())
}

/// An MD5 digest printed as md5sum does.
struct Md5Hex([u8; 16]);

impl std::fmt::LowerHex for Md5Hex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

fn put(tree: &mut Tree, path: &str, bytes: &[u8], mode: u32) {
    let at = TreePath::parse(path).unwrap();
    tree.create_dir_all(&at.parent().unwrap(), &Inode::dir(0o755, T))
        .unwrap();
    tree.insert(at, Inode::file(bytes.to_vec(), mode, T))
        .unwrap();
}

/// A Jessie-like base root: dpkg's database with libc6, libc-bin, dpkg and dphys-swapfile,
/// the swap service's files and enablement link, and apt sources naming the old mirror.
fn base_tree(arch: &str, key: &[u8]) -> Tree {
    let mut tree = Tree::new(Inode::dir(0o755, T));
    let installed = [
        (
            "libc6",
            "2.19-18+deb8u10",
            arch,
            "Depends: libc-bin (= 2.19-18+deb8u10)\n",
        ),
        ("libc-bin", "2.19-18+deb8u10", arch, "Essential: yes\n"),
        ("dpkg", "1.17.27", arch, "Essential: yes\n"),
        ("dphys-swapfile", "20100506-1", "all", ""),
    ];
    let mut status = String::new();
    for (name, version, a, extra) in installed {
        status.push_str(&format!(
            "Package: {name}\nStatus: install ok installed\nPriority: required\nMaintainer: Example <archive@example.org>\nArchitecture: {a}\nVersion: {version}\n{extra}Description: installed {name}\n\n"
        ));
        let doc = format!("/usr/share/doc/{name}/README");
        put(
            &mut tree,
            &doc,
            format!("{name} {version}\n").as_bytes(),
            0o644,
        );
        let mut list =
            format!("/.\n/usr\n/usr/share\n/usr/share/doc\n/usr/share/doc/{name}\n{doc}\n");
        if name == "dphys-swapfile" {
            put(&mut tree, "/sbin/dphys-swapfile", b"#!/bin/sh\n", 0o755);
            put(
                &mut tree,
                "/etc/init.d/dphys-swapfile",
                b"#!/bin/sh\n",
                0o755,
            );
            list.push_str(
                "/sbin\n/sbin/dphys-swapfile\n/etc\n/etc/init.d\n/etc/init.d/dphys-swapfile\n",
            );
            tree.create_dir_all(
                &TreePath::parse("etc/rc2.d").unwrap(),
                &Inode::dir(0o755, T),
            )
            .unwrap();
            tree.insert(
                TreePath::parse("etc/rc2.d/S02dphys-swapfile").unwrap(),
                Inode::symlink("../init.d/dphys-swapfile", T),
            )
            .unwrap();
        }
        put(
            &mut tree,
            &format!("/var/lib/dpkg/info/{name}.list"),
            list.as_bytes(),
            0o644,
        );
        let md5 = format!(
            "{:x}  usr/share/doc/{name}/README\n",
            md5_of(format!("{name} {version}\n").as_bytes())
        );
        put(
            &mut tree,
            &format!("/var/lib/dpkg/info/{name}.md5sums"),
            md5.as_bytes(),
            0o644,
        );
    }
    put(&mut tree, "/var/lib/dpkg/status", status.as_bytes(), 0o644);
    put(&mut tree, "/var/lib/dpkg/available", b"", 0o644);
    tree.create_dir_all(
        &TreePath::parse("var/lib/dpkg/updates").unwrap(),
        &Inode::dir(0o755, T),
    )
    .unwrap();
    put(
        &mut tree,
        "/etc/apt/sources.list",
        b"deb http://mirrordirector.raspbian.org/raspbian jessie main\n# deb-src http://archive.raspbian.org/raspbian jessie main\n",
        0o644,
    );
    put(&mut tree, "/etc/apt/trusted.gpg.d/raspbian.gpg", key, 0o644);
    tree.create_dir_all(&TreePath::parse("tmp").unwrap(), &Inode::dir(0o1777, T))
        .unwrap();
    tree
}

fn read(tree: &Tree, path: &str) -> String {
    let inode = tree
        .lookup(&TreePath::parse(path).unwrap())
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    let Kind::File { size, content } = &inode.kind else {
        panic!("{path} is not a file")
    };
    String::from_utf8(content.read_to_vec(*size, 1 << 20).unwrap()).unwrap()
}

#[test]
fn the_seed_node_gets_php_from_a_newer_suite_and_dpkg_accepts_the_result() {
    let arch = host_arch();
    let archive_dir = tempfile::tempdir().unwrap();
    let gpg = Gpg::new();
    let fingerprint = archive(archive_dir.path(), &gpg, &arch);
    let key = gpg.export(&[&fingerprint]);
    let server = Server::start(archive_dir.path());

    let profile_dir = tempfile::tempdir().unwrap();
    std::fs::write(profile_dir.path().join("base.img"), b"").unwrap();
    std::fs::write(profile_dir.path().join("archive.gpg"), &key).unwrap();
    let profile_text = format!(
        r#"
[image]
name = "blog"
board = "pi3"
card_size = "8GB"

[base]
file = "base.img"
rewrite_sources = {{ "http://mirrordirector.raspbian.org/raspbian" = "{base}" }}

[[repository]]
name = "stretch"
uri = "{base}"
suite = "stretch"
components = ["main"]
key = "archive.gpg"
priority = 100

[packages]
install = ["nginx-light", "php7.0-fpm/stretch"]
remove = ["dphys-swapfile"]
"#,
        base = server.base()
    );
    let profile_path = profile_dir.path().join("blog.toml");
    std::fs::write(&profile_path, &profile_text).unwrap();
    let profile = pi_imager::profile::load(&profile_path).unwrap().profile;

    let mut tree = base_tree(&arch, &key);
    let cache = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(cache.path().to_path_buf(), false);
    let store = ContentStore::new(cache.path().join("content"));
    let outcome = install(&mut tree, &profile, &fetcher, &store, 1_456_704_000, T).unwrap();

    let got: Vec<(String, String, String)> = outcome
        .packages
        .iter()
        .map(|p| (p.name.clone(), p.version.clone(), p.repository.clone()))
        .collect();
    let want = [
        ("libc-bin", "2.24-11+deb9u4", "stretch"),
        ("libc6", "2.24-11+deb9u4", "stretch"),
        ("lsb-base", "4.1+Debian13+nmu1", "base-0"),
        ("nginx-light", "1.6.2-5+deb8u6", "base-0"),
        ("php7.0-common", "7.0.33-0+deb9u1", "stretch"),
        ("php7.0-fpm", "7.0.33-0+deb9u1", "stretch"),
    ];
    let want: Vec<(String, String, String)> = want
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(outcome.removed, ["dphys-swapfile"]);
    assert_eq!(outcome.repositories.len(), 2);
    assert!(
        outcome
            .repositories
            .iter()
            .all(|r| r.release_sha256.len() == 64 && r.date.is_some())
    );

    // The image's own apt configuration agrees with the build.
    assert!(
        read(&tree, "etc/apt/sources.list")
            .starts_with(&format!("deb {} jessie main\n", server.base()))
    );
    assert_eq!(
        read(&tree, "etc/apt/sources.list.d/pi-imager-stretch.list")
            .lines()
            .last()
            .unwrap(),
        format!("deb {} stretch main", server.base())
    );
    let pin = read(&tree, "etc/apt/preferences.d/pi-imager-stretch");
    assert!(
        pin.contains("Pin: release o=Raspbian,n=stretch\nPin-Priority: 100\n"),
        "{pin}"
    );
    let Kind::File { size, content } = &tree
        .get(&TreePath::parse("etc/apt/trusted.gpg.d/pi-imager-stretch.gpg").unwrap())
        .unwrap()
        .kind
    else {
        panic!("no key");
    };
    assert_eq!(content.read_to_vec(*size, 1 << 20).unwrap(), key);
    // dphys-swapfile is gone with its enablement link; the first-boot unit is in place.
    for gone in [
        "sbin/dphys-swapfile",
        "etc/init.d/dphys-swapfile",
        "etc/rc2.d/S02dphys-swapfile",
    ] {
        assert!(
            tree.get(&TreePath::parse(gone).unwrap()).is_none(),
            "{gone} is still there"
        );
    }
    assert!(
        tree.get(&TreePath::parse("etc/systemd/system/pi-imager-firstboot.service").unwrap())
            .is_some()
    );
    assert!(matches!(
        tree.get(&TreePath::parse("usr/share/doc/php7.0-fpm/README").unwrap())
            .map(|i| &i.kind),
        Some(Kind::File {
            content: Content::Inline(_),
            ..
        })
    ));

    // Real dpkg reads the database written into the image.
    let root = tempfile::tempdir().unwrap();
    write_tree(&tree, root.path());
    let admindir = root.path().join("var/lib/dpkg");
    let query = run(
        Path::new("."),
        "dpkg-query",
        &[
            "--admindir",
            admindir.to_str().unwrap(),
            "-W",
            "-f",
            "${Package} ${Version} ${db:Status-Abbrev}\n",
        ],
    );
    let query = String::from_utf8(query).unwrap();
    for (name, version, _) in &want {
        assert!(
            query.contains(&format!("{name} {version} iU")),
            "{name} {version} not unpacked:\n{query}"
        );
    }
    assert!(query.contains("dpkg 1.17.27 ii"), "{query}");
    assert!(!query.contains("dphys-swapfile 20100506-1 ii"), "{query}");
    let audit = Command::new("dpkg")
        .arg(format!("--root={}", root.path().display()))
        .arg("--audit")
        .output()
        .unwrap();
    let audit = String::from_utf8_lossy(&audit.stdout).into_owned();
    assert!(audit.contains("unpacked but not yet configured"), "{audit}");
    for (name, _, _) in &want {
        assert!(
            audit.contains(&format!(" {name} ")),
            "{name} missing from dpkg --audit:\n{audit}"
        );
    }
    // Nothing else is wrong: only the unpacked packages are listed.
    assert_eq!(
        audit.lines().filter(|l| l.starts_with(' ')).count(),
        want.len(),
        "{audit}"
    );
}
