//! dpkg's status database: what we write is read by real `dpkg-query`, and this machine's
//! own status file (written by real dpkg) survives a parse and write unchanged.

use std::process::Command;

use pi_imager::apt::deb822::{self, Options};
use pi_imager::apt::status::{Conffile, State, Status, StatusEntry, StatusFile};

/// The host's dpkg database, read at run time (every Debian machine has one).
const HOST_STATUS: &str = "/var/lib/dpkg/status";

const NGINX_CONTROL: &str = "\
Package: nginx-light
Source: nginx
Version: 1.6.2-5+deb8u6
Architecture: armhf
Maintainer: Debian Nginx Maintainers <pkg-nginx-maintainers@lists.example.org>
Installed-Size: 1071
Depends: libc6 (>= 2.15), nginx-common (= 1.6.2-5+deb8u6)
Breaks: nginx (<< 1.4.5-1)
Provides: httpd, httpd-cgi, nginx
Conflicts: nginx-extras, nginx-full
Section: httpd
Priority: extra
Homepage: http://nginx.example.org
Description: nginx web/proxy server (basic version)
 Nginx (\"engine X\") is a high-performance web and reverse proxy server.
 .
 This package provides a very light version of nginx.
";

const LIBC_CONTROL: &str = "\
Package: libc6
Source: glibc
Version: 2.19-18+deb8u10
Architecture: armhf
Multi-Arch: same
Maintainer: GNU Libc Maintainers <debian-glibc@lists.example.org>
Installed-Size: 9132
Depends: libgcc1
Breaks: nscd (<< 2.19)
Priority: required
Section: libs
Filename: pool/main/g/glibc/libc6_2.19-18+deb8u10_armhf.deb
Size: 3955114
SHA256: 4d2d0e3d9b6d4f7ae4b4e1f2c0c2d1b5e3f0a1c2d3e4f5a6b7c8d9e0f1a2b3c4
Description: GNU C Library: Shared libraries
";

fn entry(control: &str, status: Status, conffiles: &[Conffile]) -> StatusEntry {
    let paragraphs = deb822::parse_all(control, "control", Options::STRICT).unwrap();
    StatusEntry::from_control(
        &paragraphs[0].to_owned_paragraph(),
        status,
        conffiles,
        "control",
    )
    .unwrap()
}

#[test]
fn dpkg_query_reads_a_written_status() {
    let installed = Status {
        state: State::Installed,
        ..Status::UNPACKED
    };
    let conffile = Conffile {
        path: "/etc/nginx/nginx.conf".into(),
        md5: "newconffile".into(),
        obsolete: false,
        remove_on_upgrade: false,
    };
    let status = StatusFile {
        entries: vec![
            entry(LIBC_CONTROL, installed, &[]),
            entry(NGINX_CONTROL, Status::UNPACKED, &[conffile]),
        ],
    };
    let written = status.write();
    assert!(
        !written.contains("Filename:"),
        "index-only fields stay out of status"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("status"), &written).unwrap();
    std::fs::write(dir.path().join("available"), "").unwrap();
    std::fs::create_dir(dir.path().join("info")).unwrap();
    std::fs::create_dir(dir.path().join("updates")).unwrap();
    let output = Command::new("dpkg-query")
        .arg(format!("--admindir={}", dir.path().display()))
        .arg("-W")
        .arg("-f=${Package} ${Version} ${Architecture} ${Status} ${Conffiles}\\n")
        .output()
        .expect("dpkg-query is needed for this test (install dpkg)");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "dpkg-query failed: {stderr}");
    assert!(stderr.is_empty(), "dpkg-query warned: {stderr}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "libc6 2.19-18+deb8u10 armhf install ok installed \n\
         nginx-light 1.6.2-5+deb8u6 armhf install ok unpacked  /etc/nginx/nginx.conf newconffile\n"
    );
    let reread = StatusFile::parse(&written, "status").unwrap();
    assert_eq!(reread.write(), written);
}

#[test]
fn host_status_round_trips_byte_for_byte() {
    let text = std::fs::read_to_string(HOST_STATUS)
        .unwrap_or_else(|e| panic!("this test reads the host's dpkg status file: {e}"));
    let status = StatusFile::parse(&text, "host status").unwrap();
    assert!(
        !status.entries.is_empty(),
        "the host has installed packages"
    );
    assert_eq!(
        status.write(),
        text,
        "parse then write must not change a byte"
    );
    for entry in &status.entries {
        if entry.status().state != State::NotInstalled {
            assert!(entry.version().is_some(), "{} has a version", entry.name());
        }
    }
}

/// Rebuilding each host entry from its own fields must reproduce dpkg's field order: this is
/// how entries for newly unpacked packages get the order dpkg would give them.
#[test]
fn host_entries_rebuilt_from_control_keep_dpkg_order() {
    let text = std::fs::read_to_string(HOST_STATUS)
        .unwrap_or_else(|e| panic!("this test reads the host's dpkg status file: {e}"));
    let status = StatusFile::parse(&text, "host status").unwrap();
    let mut differing = Vec::new();
    for entry in &status.entries {
        let rebuilt =
            StatusEntry::from_control(entry.fields(), entry.status(), entry.conffiles(), "host")
                .unwrap();
        if rebuilt.fields() != entry.fields() {
            differing.push(entry.name().to_owned());
        }
    }
    assert!(
        differing.is_empty(),
        "field order differs for {differing:?}"
    );
}
