//! Whether one key of a certificate may have made a repository signature: the primary key's
//! own self-signature and revocations, and for a subkey its binding signature (with the
//! subkey's back signature), key flags, expiry at the signature's time and at the Release's
//! `Date`, and algorithm strength under the caller's policy.
//!
//! Only the self-signatures that matter are checked, never the whole certificate: Debian's
//! keys carry third-party certifications that `verify_bindings()` rejects. This module does
//! not check the repository signature itself (`signature.rs` does) and ignores designated
//! revokers, self-signature expiry and user-ID validity beyond "some self-signed user ID".

use pgp::{
    composed::{SignedPublicKey, SignedPublicSubKey},
    crypto::{hash::HashAlgorithm, public_key::PublicKeyAlgorithm},
    packet::{Signature, SignatureType, SubpacketData},
    ser::Serialize,
    types::{EcdsaPublicParams, KeyDetails, PublicParams, Tag},
};

use super::keyring::fingerprint_of;
use super::signature::SignatureError;
use crate::calendar::format_utc;

/// The most self-issued signatures checked per component: real keys have a handful, and a
/// hostile certificate must not cost thousands of public-key operations.
const MAX_SELF_SIGNATURES: usize = 256;

/// The moments a signing key must be valid at (unix seconds).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Moments {
    /// The signature's creation time.
    pub(crate) signature: i64,
    /// The Release's `Date`, when the caller knows it.
    pub(crate) release: Option<i64>,
}

/// A key found fit to sign, with what the caller should hear about it.
#[derive(Debug, Default)]
pub(crate) struct Fitness {
    /// Weak algorithms accepted because the policy allowed them.
    pub(crate) weak: Vec<String>,
    /// When the signing key (or its primary) stops being valid, if ever.
    pub(crate) expires: Option<i64>,
}

/// The digests apt's gpgv method treats as untrusted for signatures (MD5, SHA-1; RIPEMD-160
/// is no stronger than SHA-1).
pub(crate) fn is_weak_hash(hash: HashAlgorithm) -> bool {
    !matches!(
        hash,
        HashAlgorithm::Sha256
            | HashAlgorithm::Sha384
            | HashAlgorithm::Sha512
            | HashAlgorithm::Sha224
            | HashAlgorithm::Sha3_256
            | HashAlgorithm::Sha3_512
    )
}

/// The hash a signature uses, `NONE` for a signature version rpgp cannot read.
pub(crate) fn hash_of(sig: &Signature) -> HashAlgorithm {
    sig.hash_alg().unwrap_or(HashAlgorithm::None)
}

/// Checks that `subkey` (or the primary key when `None`) of `cert` may have signed at
/// `moments`, allowing weak algorithms only if `allow_weak`.
pub(crate) fn check_signer(
    cert: &SignedPublicKey,
    subkey: Option<&SignedPublicSubKey>,
    moments: Moments,
    allow_weak: bool,
) -> Result<Fitness, SignatureError> {
    let primary = &cert.primary_key;
    let primary_fp = fingerprint_of(primary);
    let mut fitness = Fitness::default();

    for sig in cert
        .details
        .revocation_signatures
        .iter()
        .take(MAX_SELF_SIGNATURES)
    {
        if sig.typ() == Some(SignatureType::KeyRevocation) && sig.verify_key(primary).is_ok() {
            return Err(SignatureError::Revoked {
                key: primary_fp,
                reason: revocation_reason(sig),
            });
        }
    }

    let self_sigs = valid_self_signatures(cert);
    let self_sig = choose(
        self_sigs,
        allow_weak,
        &primary_fp,
        "self-signature",
        &mut fitness,
    )?;
    check_created_before(primary, &primary_fp, moments)?;
    check_strength(primary, &primary_fp, allow_weak, &mut fitness)?;
    let primary_expiry = expiry(primary, self_sig);
    check_expiry(&primary_fp, primary_expiry, moments)?;
    fitness.expires = primary_expiry;

    let Some(subkey) = subkey else {
        if !primary_may_sign(cert, self_sig) {
            return Err(SignatureError::NotSigningCapable { key: primary_fp });
        }
        return Ok(fitness);
    };

    let sub_fp = fingerprint_of(&subkey.key);
    for sig in subkey.signatures.iter().take(MAX_SELF_SIGNATURES) {
        if sig.typ() == Some(SignatureType::SubkeyRevocation)
            && sig.verify_subkey_binding(primary, &subkey.key).is_ok()
        {
            return Err(SignatureError::Revoked {
                key: sub_fp,
                reason: revocation_reason(sig),
            });
        }
    }
    let bindings: Vec<&Signature> = subkey
        .signatures
        .iter()
        .take(MAX_SELF_SIGNATURES)
        .filter(|sig| {
            sig.typ() == Some(SignatureType::SubkeyBinding)
                && sig.verify_subkey_binding(primary, &subkey.key).is_ok()
        })
        .collect();
    let binding = choose(
        bindings,
        allow_weak,
        &sub_fp,
        "binding signature",
        &mut fitness,
    )?;
    if !binding.key_flags().sign() {
        return Err(SignatureError::NotSigningCapable { key: sub_fp });
    }
    // Without the subkey's signature over the primary, anyone could bind someone else's
    // signing key to their certificate.
    let back = binding.embedded_signature().filter(|back| {
        back.verify_primary_key_binding(&subkey.key, primary)
            .is_ok()
    });
    let Some(back) = back else {
        return Err(SignatureError::InvalidKey {
            key: sub_fp,
            reason: "the signing subkey has no valid back signature (primary key binding), so \
                     it is not proven to belong to this certificate"
                .to_string(),
        });
    };
    weak_hash_gate(back, &sub_fp, "back signature", allow_weak, &mut fitness)?;
    check_created_before(&subkey.key, &sub_fp, moments)?;
    check_strength(&subkey.key, &sub_fp, allow_weak, &mut fitness)?;
    let sub_expiry = expiry(&subkey.key, binding);
    check_expiry(&sub_fp, sub_expiry, moments)?;
    fitness.expires = match (primary_expiry, sub_expiry) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    Ok(fitness)
}

/// Direct-key signatures and user-ID certifications made by the primary key itself and
/// cryptographically valid; third-party certifications are skipped before any hashing.
fn valid_self_signatures(cert: &SignedPublicKey) -> Vec<&Signature> {
    let primary = &cert.primary_key;
    let mut valid = Vec::new();
    let mut budget = MAX_SELF_SIGNATURES;
    let mut affordable = |sig: &Signature| {
        let own = issued_by(sig, primary) && budget > 0;
        if own {
            budget -= 1;
        }
        own
    };
    for sig in &cert.details.direct_signatures {
        if sig.typ() == Some(SignatureType::Key)
            && affordable(sig)
            && sig.verify_key(primary).is_ok()
        {
            valid.push(sig);
        }
    }
    for user in &cert.details.users {
        let revoked = user.signatures.iter().any(|sig| {
            sig.typ() == Some(SignatureType::CertRevocation)
                && affordable(sig)
                && sig
                    .verify_certification(primary, Tag::UserId, &user.id)
                    .is_ok()
        });
        if revoked {
            continue;
        }
        for sig in &user.signatures {
            if sig.is_certification()
                && affordable(sig)
                && sig
                    .verify_certification(primary, Tag::UserId, &user.id)
                    .is_ok()
            {
                valid.push(sig);
            }
        }
    }
    valid
}

/// Whether the signature names `key` as its issuer (or names no issuer at all).
pub(crate) fn issued_by(sig: &Signature, key: &impl KeyDetails) -> bool {
    let ids = sig.issuer_key_id();
    let fps = sig.issuer_fingerprint();
    if ids.is_empty() && fps.is_empty() {
        return true;
    }
    let fp = key.fingerprint();
    let id = key.legacy_key_id();
    ids.iter().any(|candidate| **candidate == id) || fps.iter().any(|candidate| **candidate == fp)
}

/// The newest valid signature, preferring strong digests; a weak one only if allowed.
fn choose<'a>(
    valid: Vec<&'a Signature>,
    allow_weak: bool,
    key: &str,
    what: &str,
    fitness: &mut Fitness,
) -> Result<&'a Signature, SignatureError> {
    let newest = |sigs: &mut dyn Iterator<Item = &'a Signature>| {
        sigs.max_by_key(|sig| sig.created().map(|t| t.as_secs()).unwrap_or(0))
    };
    if let Some(strong) = newest(&mut valid.iter().copied().filter(|s| !is_weak_hash(hash_of(s)))) {
        return Ok(strong);
    }
    let Some(weak) = newest(&mut valid.iter().copied()) else {
        return Err(SignatureError::InvalidKey {
            key: key.to_string(),
            reason: format!("it has no valid {what}"),
        });
    };
    weak_hash_gate(weak, key, what, allow_weak, fitness)?;
    Ok(weak)
}

fn weak_hash_gate(
    sig: &Signature,
    key: &str,
    what: &str,
    allow_weak: bool,
    fitness: &mut Fitness,
) -> Result<(), SignatureError> {
    let hash = hash_of(sig);
    if !is_weak_hash(hash) {
        return Ok(());
    }
    let description = format!("its {what} uses the {hash} digest");
    if allow_weak {
        fitness.weak.push(format!("key {key}: {description}"));
        Ok(())
    } else {
        Err(SignatureError::WeakAlgorithm {
            key: key.to_string(),
            what: description,
        })
    }
}

/// Algorithms apt accepts since it asserts `>=rsa2048,ed25519,ed448,nistp256,nistp384,
/// nistp521` (`APT::Key::Assert-Pubkey-Algo`); anything else is weak.
pub(crate) fn key_weakness(key: &impl KeyDetails) -> Option<String> {
    match key.public_params() {
        PublicParams::RSA(params) => {
            // The first MPI is the modulus; its two-byte header is its length in bits.
            let bytes = params.to_bytes().ok()?;
            let bits = u16::from_be_bytes([*bytes.first()?, *bytes.get(1)?]);
            (bits < 2048).then(|| format!("a {bits}-bit RSA key"))
        }
        PublicParams::ECDSA(
            EcdsaPublicParams::P256 { .. }
            | EcdsaPublicParams::P384 { .. }
            | EcdsaPublicParams::P521 { .. },
        )
        | PublicParams::EdDSALegacy(_)
        | PublicParams::Ed25519(_)
        | PublicParams::Ed448(_) => None,
        PublicParams::DSA(_) => Some("a DSA key".to_string()),
        _ => Some(format!("a {:?} key", key.algorithm())),
    }
}

fn check_strength(
    key: &impl KeyDetails,
    fp: &str,
    allow_weak: bool,
    fitness: &mut Fitness,
) -> Result<(), SignatureError> {
    let Some(weakness) = key_weakness(key) else {
        return Ok(());
    };
    if allow_weak {
        fitness.weak.push(format!("key {fp} is {weakness}"));
        Ok(())
    } else {
        Err(SignatureError::WeakAlgorithm {
            key: fp.to_string(),
            what: format!("it is {weakness}"),
        })
    }
}

fn check_created_before(
    key: &impl KeyDetails,
    fp: &str,
    moments: Moments,
) -> Result<(), SignatureError> {
    let created = i64::from(key.created_at().as_secs());
    if created > moments.signature {
        return Err(SignatureError::InvalidKey {
            key: fp.to_string(),
            reason: format!(
                "the signature ({}) is older than the key ({})",
                format_utc(moments.signature),
                format_utc(created)
            ),
        });
    }
    Ok(())
}

/// Key creation plus the self-signature's key expiration time; zero means "never".
fn expiry(key: &impl KeyDetails, sig: &Signature) -> Option<i64> {
    let seconds = sig.key_expiration_time()?.as_secs();
    (seconds != 0).then(|| i64::from(key.created_at().as_secs()) + i64::from(seconds))
}

fn check_expiry(fp: &str, expiry: Option<i64>, moments: Moments) -> Result<(), SignatureError> {
    let Some(expiry) = expiry else { return Ok(()) };
    let checks = [
        (Some(moments.signature), "when the signature was made"),
        (moments.release, "at the Release file's Date"),
    ];
    for (moment, label) in checks {
        let Some(moment) = moment else { continue };
        if moment >= expiry {
            return Err(SignatureError::ExpiredKey {
                key: fp.to_string(),
                expired: format_utc(expiry),
                checked: format_utc(moment),
                moment: label,
            });
        }
    }
    Ok(())
}

/// A primary key signs if its self-signature's key flags say so, or, for the old v4 keys
/// made before key flags existed, if its algorithm can sign at all.
fn primary_may_sign(cert: &SignedPublicKey, self_sig: &Signature) -> bool {
    let has_flags = self_sig.config().is_some_and(|config| {
        config
            .hashed_subpackets()
            .any(|packet| matches!(packet.data, SubpacketData::KeyFlags(_)))
    });
    if has_flags {
        return self_sig.key_flags().sign();
    }
    matches!(
        cert.primary_key.algorithm(),
        PublicKeyAlgorithm::RSA
            | PublicKeyAlgorithm::RSASign
            | PublicKeyAlgorithm::DSA
            | PublicKeyAlgorithm::ECDSA
            | PublicKeyAlgorithm::EdDSALegacy
            | PublicKeyAlgorithm::Ed25519
            | PublicKeyAlgorithm::Ed448
    )
}

fn revocation_reason(sig: &Signature) -> String {
    match sig.revocation_reason_string() {
        Some(text) if !text.is_empty() => {
            format!(" (reason given: {})", String::from_utf8_lossy(text))
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_digests_follow_apt() {
        assert!(is_weak_hash(HashAlgorithm::Md5));
        assert!(is_weak_hash(HashAlgorithm::Sha1));
        assert!(is_weak_hash(HashAlgorithm::Ripemd160));
        assert!(!is_weak_hash(HashAlgorithm::Sha256));
        assert!(!is_weak_hash(HashAlgorithm::Sha512));
    }
}
