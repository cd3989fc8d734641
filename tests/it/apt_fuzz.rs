//! Property tests: random and mutated keyrings, InRelease files and detached signatures
//! never panic the parsers or the verifier; they load, verify or give an error.

use pi_imager::apt::{Keyring, SignaturePolicy, verify_detached, verify_inrelease};
use proptest::prelude::*;

use super::apt_fixture::{RELEASE, fixture};

/// Overwrites bytes at the given relative positions and cuts the input to a relative length.
fn mutate(input: &[u8], edits: &[(f64, u8)], keep: f64) -> Vec<u8> {
    let mut out = input.to_vec();
    for (position, value) in edits {
        if out.is_empty() {
            break;
        }
        let index = ((out.len() - 1) as f64 * position) as usize;
        if let Some(byte) = out.get_mut(index) {
            *byte = *value;
        }
    }
    let len = (out.len() as f64 * keep) as usize;
    out.truncate(len.max(1));
    out
}

fn edits() -> impl Strategy<Value = Vec<(f64, u8)>> {
    prop::collection::vec((0.0..1.0f64, any::<u8>()), 1..6)
}

fn keep() -> impl Strategy<Value = f64> {
    prop_oneof![Just(1.0), 0.0..1.0f64]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = Keyring::from_bytes(&bytes, "random");
        let ring = Keyring::new();
        let _ = verify_inrelease(&bytes, &ring, &SignaturePolicy::default(), None);
        let _ = verify_detached(RELEASE, &bytes, &ring, &SignaturePolicy::default(), None);
    }

    #[test]
    fn random_armor_never_panics(body in "[A-Za-z0-9+/=\n]{0,600}") {
        let key = format!("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n{body}\n-----END PGP PUBLIC KEY BLOCK-----\n");
        let _ = Keyring::from_bytes(key.as_bytes(), "random armor");
        let sig = format!("-----BEGIN PGP SIGNATURE-----\n\n{body}\n-----END PGP SIGNATURE-----\n");
        let ring = Keyring::new();
        let _ = verify_detached(RELEASE, sig.as_bytes(), &ring, &SignaturePolicy::default(), None);
        let inrelease = format!("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nx\n{sig}");
        let _ = verify_inrelease(inrelease.as_bytes(), &ring, &SignaturePolicy::default(), None);
    }

    #[test]
    fn mutated_keyrings_never_panic(edits in edits(), keep in keep(), armored in any::<bool>()) {
        let f = fixture();
        let source = if armored { &f.two_keys_armored } else { &f.three_keys };
        let bytes = mutate(source, &edits, keep);
        if let Ok(ring) = Keyring::from_bytes(&bytes, "mutated") {
            // A mutated key may still be used to check a signature: that must not panic.
            let _ = verify_inrelease(&f.inrelease_rsa, &ring, &SignaturePolicy { allow_weak: true }, None);
            let _ = verify_inrelease(&f.inrelease_ed, &ring, &SignaturePolicy::default(), None);
        }
    }

    #[test]
    fn mutated_signed_files_never_panic(edits in edits(), keep in keep(), which in 0..3u8) {
        let f = fixture();
        let ring = Keyring::from_bytes(&f.three_keys, "three").expect("fixture keyring");
        let policy = SignaturePolicy::default();
        match which {
            0 => {
                let bytes = mutate(&f.inrelease_rsa, &edits, keep);
                let _ = verify_inrelease(&bytes, &ring, &policy, None);
            }
            1 => {
                let bytes = mutate(&f.release_gpg_ed_binary, &edits, keep);
                let _ = verify_detached(RELEASE, &bytes, &ring, &policy, None);
            }
            _ => {
                let bytes = mutate(&f.release_gpg_rsa, &edits, keep);
                let _ = verify_detached(RELEASE, &bytes, &ring, &policy, None);
            }
        }
    }
}
