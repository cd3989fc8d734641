//! Keyrings in the forms apt reads, made by real gpg, plus this machine's Debian archive
//! keyring and (after `apt-get update`) its InRelease files.

use std::path::Path;
use std::process::Command;

use pi_imager::apt::{Keyring, KeyringError, SignaturePolicy, verify_inrelease};

use super::apt_fixture::fixture;

#[test]
fn a_binary_keyring_with_three_keys_loads() {
    let f = fixture();
    let ring = Keyring::from_bytes(&f.three_keys, "trusted.gpg").expect("three keys");
    assert_eq!(
        ring.fingerprints(),
        [f.rsa_fp.clone(), f.ed_fp.clone(), f.stranger_fp.clone()]
    );
    assert!(ring.fingerprints().iter().all(|fp| {
        fp.len() == 40
            && fp
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
    }));
}

#[test]
fn a_broken_key_after_good_ones_is_skipped_and_reported() {
    let f = fixture();
    let mut bytes = f.three_keys.clone();
    // A v4 RSA public-key packet whose modulus is invalid. rpgp reads it while still
    // collecting the packets of the key before it, so that key is lost too.
    bytes.extend_from_slice(b"\x99\x00\x0c\x04\x00\x00\x00\x00\x01\x00\x01\x01\x00\x01\x01");
    let ring = Keyring::from_bytes(&bytes, "trusted.gpg").expect("the good keys load");
    assert_eq!(ring.fingerprints(), [f.rsa_fp.clone(), f.ed_fp.clone()]);
    assert_eq!(ring.skipped().len(), 1, "{:?}", ring.skipped());
    assert!(ring.skipped()[0].starts_with("trusted.gpg: "));
    assert!(
        !ring.skipped()[0].contains("Backtrace"),
        "{:?}",
        ring.skipped()
    );
    let err = Keyring::from_bytes(&bytes[f.three_keys.len()..], "broken.gpg").unwrap_err();
    assert!(matches!(err, KeyringError::Malformed { .. }), "{err}");
    assert!(err.to_string().contains("invalid modulus"), "{err}");
}

#[test]
fn a_legacy_trusted_gpg_with_trust_packets_loads() {
    let f = fixture();
    let ring = Keyring::from_bytes(&f.legacy_keyring, "trusted.gpg").expect("legacy keyring");
    let mut fingerprints = ring.fingerprints();
    fingerprints.sort();
    let mut expected = [f.rsa_fp.clone(), f.ed_fp.clone()];
    expected.sort();
    assert_eq!(fingerprints, expected);
    assert!(ring.skipped().is_empty(), "{:?}", ring.skipped());
    let verified = verify_inrelease(&f.inrelease_ed, &ring, &SignaturePolicy::default(), None)
        .expect("keys from a legacy keyring verify");
    assert_eq!(verified.keyring_origin, "trusted.gpg");
}

#[test]
fn a_keybox_is_refused_with_advice() {
    let f = fixture();
    let err = Keyring::from_bytes(&f.keybox, "pubring.kbx").unwrap_err();
    assert!(matches!(err, KeyringError::Keybox { .. }), "{err}");
    assert!(err.to_string().contains("gpg --export"), "{err}");
}

#[test]
fn an_armored_file_with_two_keys_loads() {
    let f = fixture();
    let ring = Keyring::from_bytes(&f.two_keys_armored, "keys.asc").expect("two keys");
    assert_eq!(ring.fingerprints(), [f.rsa_fp.clone(), f.ed_fp.clone()]);
}

#[test]
fn concatenated_armor_blocks_load() {
    let f = fixture();
    let mut both = f.two_keys_armored.clone();
    let stranger = Keyring::from_bytes(&f.stranger_key, "s").expect("stranger");
    assert_eq!(stranger.len(), 1);
    both.extend_from_slice(b"\n");
    both.extend_from_slice(&f.two_keys_armored);
    let ring = Keyring::from_bytes(&both, "cat.asc").expect("two blocks");
    assert_eq!(ring.len(), 4);
}

#[test]
fn an_inline_signed_by_block_loads() {
    let f = fixture();
    let armored = String::from_utf8(f.two_keys_armored.clone()).unwrap();
    // As written in a deb822 .sources file: folded, empty lines as " .".
    let folded: String = armored
        .lines()
        .map(|line| {
            if line.is_empty() {
                " .\n".to_string()
            } else {
                format!(" {line}\n")
            }
        })
        .collect();
    let ring =
        Keyring::from_signed_by_field(&folded, "Signed-By of example.sources").expect("inline");
    assert_eq!(ring.fingerprints(), [f.rsa_fp.clone(), f.ed_fp.clone()]);
}

#[test]
fn a_trusted_gpg_d_directory_loads_gpg_and_asc_files_only() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("b-rsa.gpg"), &f.rsa_key).unwrap();
    std::fs::write(dir.path().join("a-ed.asc"), &f.two_keys_armored).unwrap();
    std::fs::write(dir.path().join("c-stranger.gpg~"), &f.stranger_key).unwrap();
    std::fs::write(dir.path().join("README"), b"not a key").unwrap();
    std::fs::write(dir.path().join("empty.gpg"), b"").unwrap();
    let ring = Keyring::from_dir(dir.path()).expect("directory loads");
    assert_eq!(
        ring.fingerprints(),
        [f.rsa_fp.clone(), f.ed_fp.clone(), f.rsa_fp.clone()],
        "name order, backups and other files ignored"
    );
    std::fs::write(dir.path().join("d-broken.gpg"), b"\x99garbage").unwrap();
    let err = Keyring::from_dir(dir.path()).unwrap_err();
    assert!(err.to_string().contains("d-broken.gpg"), "{err}");
}

#[test]
fn a_fetched_key_must_carry_the_pinned_fingerprint() {
    let f = fixture();
    let spaced: String = f
        .rsa_fp
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).to_lowercase())
        .collect::<Vec<_>>()
        .join(" ");
    let ring = Keyring::from_fetched(&f.three_keys, &spaced).expect("right fingerprint");
    assert_eq!(
        ring.fingerprints(),
        std::slice::from_ref(&f.rsa_fp),
        "only the pinned key is kept"
    );

    let err = Keyring::from_fetched(&f.ed_key, &f.rsa_fp).unwrap_err();
    match &err {
        KeyringError::FingerprintMismatch { expected, found } => {
            assert_eq!(expected, &f.rsa_fp);
            assert_eq!(found, std::slice::from_ref(&f.ed_fp));
        }
        other => panic!("expected FingerprintMismatch, got {other}"),
    }
    assert!(err.to_string().contains(&f.ed_fp), "{err}");

    // A subkey's fingerprint is not the certificate's.
    let err = Keyring::from_fetched(&f.ed_key, &f.ed_sub_fp).unwrap_err();
    assert!(
        matches!(err, KeyringError::FingerprintMismatch { .. }),
        "{err}"
    );
    let err = Keyring::from_fetched(&f.ed_key, "0xDEADBEEF").unwrap_err();
    assert!(matches!(err, KeyringError::BadFingerprint { .. }), "{err}");
}

const DEBIAN_KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

fn gpg_show_keys(path: &Path) -> Vec<String> {
    let out = Command::new("gpg")
        .args(["--batch", "--with-colons", "--show-keys"])
        .arg(path)
        .output()
        .expect("gpg is required for this test; install `gnupg`");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The first fpr after each pub line is the primary's.
    let mut primaries = Vec::new();
    let mut want = false;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if line.starts_with("pub:") {
            want = true;
        } else if want && line.starts_with("fpr:") {
            primaries.push(line.split(':').nth(9).unwrap_or_default().to_string());
            want = false;
        }
    }
    primaries
}

#[test]
fn the_hosts_debian_archive_keyring_loads_like_gpg_sees_it() {
    let path = Path::new(DEBIAN_KEYRING);
    assert!(
        path.is_file(),
        "{DEBIAN_KEYRING} is missing; install the debian-archive-keyring package"
    );
    let ring = Keyring::from_file(path).expect("Debian's keyring loads");
    let mut ours = ring.fingerprints();
    let mut theirs = gpg_show_keys(path);
    ours.sort();
    theirs.sort();
    assert!(!ours.is_empty());
    assert_eq!(ours, theirs);
}

/// The Release's `Date:` as unix seconds, parsed by coreutils' date.
fn release_date(release: &[u8]) -> i64 {
    let text = String::from_utf8_lossy(release);
    let value = text
        .lines()
        .find_map(|line| line.strip_prefix("Date: "))
        .expect("a Date field");
    let out = Command::new("date")
        .args(["-u", "+%s", "-d", value])
        .output()
        .expect("date(1) runs");
    assert!(out.status.success(), "date cannot parse {value}");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("seconds")
}

#[test]
fn the_hosts_inrelease_files_verify_with_the_debian_keyring() {
    let lists = Path::new("/var/lib/apt/lists");
    let files: Vec<_> = std::fs::read_dir(lists)
        .map(|dir| {
            dir.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.to_string_lossy().ends_with("_InRelease"))
                .filter(|p| p.to_string_lossy().contains("debian"))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        !files.is_empty(),
        "no Debian InRelease under /var/lib/apt/lists: run `apt-get update` first (.ci/install-deps does)"
    );
    let ring = Keyring::from_file(Path::new(DEBIAN_KEYRING)).expect("Debian's keyring loads");
    for file in files {
        let text = std::fs::read(&file).unwrap();
        let verified = verify_inrelease(&text, &ring, &SignaturePolicy::default(), None)
            .unwrap_or_else(|err| panic!("{}: {err}", file.display()));
        assert!(verified.weak.is_empty(), "{:?}", verified.weak);
        assert!(
            verified.signed_text.starts_with(b"Origin: Debian"),
            "{}",
            file.display()
        );
        // Checked again at the Release's own Date, converted by date(1).
        let date = release_date(&verified.signed_text);
        verified
            .check_key_valid_at(date)
            .unwrap_or_else(|err| panic!("{}: {err}", file.display()));
        verify_inrelease(&text, &ring, &SignaturePolicy::default(), Some(date))
            .unwrap_or_else(|err| panic!("{}: {err}", file.display()));
        // One flipped byte in the body fails.
        let mut tampered = text.clone();
        let at = tampered
            .windows(7)
            .position(|w| w == b"Origin:")
            .expect("Origin field");
        tampered[at + 8] ^= 0x20;
        assert!(verify_inrelease(&tampered, &ring, &SignaturePolicy::default(), None).is_err());
    }
}
