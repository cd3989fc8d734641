//! A small signed apt repository built by each test with Debian's own tools: `.deb`s from
//! `dpkg-deb --build`, indexes from `apt-ftparchive packages` (plain, `.gz` and `.xz`), a
//! Release from `apt-ftparchive release`, signed by real `gpg` in a throwaway home.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use super::apt_gpg::Gpg;

/// The packages in the fixture: (name, version, architecture, depends).
pub const PACKAGES: &[(&str, &str, &str, &str)] = &[
    ("hello", "1.0-1", "armhf", "libhello (>= 2.0)"),
    ("libhello", "2.1-1", "armhf", ""),
    ("hello-doc", "1.0-1", "all", ""),
];

/// The user id of the repository's signing key.
pub const SIGNER: &str = "Example Archive <archive@example.org>";

/// The repository directory, the GnuPG home that signs it, and the signing key.
pub struct Repo {
    pub dir: TempDir,
    pub gpg: Gpg,
    pub key_fp: String,
}

pub fn run(dir: &Path, program: &str, args: &[&str]) -> Vec<u8> {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} is needed for this test: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

impl Repo {
    /// Builds the packages and indexes and a Release (no Valid-Until), unsigned.
    pub fn build() -> Repo {
        let dir = tempfile::Builder::new()
            .prefix("repo")
            .tempdir()
            .expect("temporary directory");
        let root = dir.path();
        for (name, version, arch, depends) in PACKAGES {
            build_deb(root, name, version, arch, depends);
        }
        for arch in ["armhf", "all"] {
            let index = run(
                root,
                "apt-ftparchive",
                &["packages", &format!("pool/{arch}")],
            );
            let out = root.join(format!("dists/stable/main/binary-{arch}"));
            std::fs::create_dir_all(&out).unwrap();
            std::fs::write(out.join("Packages"), &index).unwrap();
            run(&out, "xz", &["-k", "-6", "Packages"]);
            run(&out, "gzip", &["-k", "-n", "-9", "Packages"]);
        }
        let gpg = Gpg::new();
        let key_fp = gpg.gen_key(SIGNER, "ed25519", "sign", "never", &[]);
        let repo = Repo { dir, gpg, key_fp };
        repo.write_release(None);
        repo
    }

    /// The suite directory.
    pub fn dists(&self) -> PathBuf {
        self.dir.path().join("dists/stable")
    }

    /// Writes `dists/stable/Release` with apt-ftparchive; `valid_seconds` adds Valid-Until.
    pub fn write_release(&self, valid_seconds: Option<u64>) {
        for name in ["Release", "InRelease", "Release.gpg"] {
            let _ = std::fs::remove_file(self.dists().join(name));
        }
        let mut args: Vec<String> = [
            "Origin=Example",
            "Label=Example",
            "Suite=stable",
            "Codename=stable",
            "Architectures=armhf",
            "Components=main",
        ]
        .iter()
        .flat_map(|o| ["-o".to_owned(), format!("APT::FTPArchive::Release::{o}")])
        .collect();
        if let Some(seconds) = valid_seconds {
            args.push("-o".to_owned());
            args.push(format!("APT::FTPArchive::Release::ValidTime={seconds}"));
        }
        args.extend(["release".to_owned(), "dists/stable".to_owned()]);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let release = run(self.dir.path(), "apt-ftparchive", &refs);
        std::fs::write(self.dists().join("Release"), release).unwrap();
    }

    /// The Release text.
    pub fn release(&self) -> Vec<u8> {
        std::fs::read(self.dists().join("Release")).unwrap()
    }

    /// Writes `InRelease`, clearsigned by `signer` (a fingerprint) with gpg options `extra`.
    pub fn sign_inrelease(&self, gpg: &Gpg, signer: &str, extra: &[&str]) {
        self.sign_inrelease_digest(gpg, signer, "SHA512", extra);
    }

    /// Writes `InRelease` clearsigned with the digest `digest` (`SHA1` for the weak case).
    pub fn sign_inrelease_digest(&self, gpg: &Gpg, signer: &str, digest: &str, extra: &[&str]) {
        let signed = gpg.clearsign(&[signer], digest, &self.release(), extra);
        std::fs::write(self.dists().join("InRelease"), signed).unwrap();
    }

    /// Writes `Release.gpg`, a detached armored signature by `signer`.
    pub fn sign_detached(&self, gpg: &Gpg, signer: &str) {
        let signature = gpg.detach_sign(signer, "SHA512", &self.release(), true);
        std::fs::write(self.dists().join("Release.gpg"), signature).unwrap();
    }

    /// The binary export of the signing key.
    pub fn key(&self) -> Vec<u8> {
        self.gpg.export(&[&self.key_fp])
    }
}

fn build_deb(repo: &Path, name: &str, version: &str, arch: &str, depends: &str) {
    let root = repo.join("build").join(name);
    std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
    let doc = root.join("usr/share/doc").join(name);
    std::fs::create_dir_all(&doc).unwrap();
    let mut control = format!(
        "Package: {name}\nVersion: {version}\nArchitecture: {arch}\nMaintainer: M <m@example.org>\n"
    );
    if !depends.is_empty() {
        control.push_str(&format!("Depends: {depends}\n"));
    }
    control.push_str("Section: misc\nPriority: optional\nDescription: test package\n");
    std::fs::write(root.join("DEBIAN/control"), control).unwrap();
    std::fs::write(doc.join("README"), format!("{name} {version}\n")).unwrap();
    std::fs::create_dir_all(repo.join("pool").join(arch)).unwrap();
    let deb = format!("pool/{arch}/{name}_{version}_{arch}.deb");
    let build = format!("build/{name}");
    run(
        repo,
        "dpkg-deb",
        &["--root-owner-group", "-Zgzip", "--build", &build, &deb],
    );
}
