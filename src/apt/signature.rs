//! Verification of a repository's signed metadata: a clearsigned `InRelease`, or `Release`
//! with its detached `Release.gpg`, against a [`Keyring`] under a [`SignaturePolicy`].
//!
//! One good signature by a fit key of the keyring is enough, as with apt (Debian's files
//! carry two or three, by keys of different releases). The policy follows apt: its gpgv
//! method treats MD5 and SHA-1 signature digests as untrusted, and apt asserts
//! `>=rsa2048,ed25519,ed448,nistp256,nistp384,nistp521` for keys (`APT::Key::Assert-Pubkey-Algo`);
//! SHA-1 self-signatures and bindings are refused as current verifiers (Sequoia) refuse them.
//! This module does not parse the Release file: the caller passes its `Date` if it wants the
//! key checked at that moment, and checks `Valid-Until` itself.

use pgp::{
    composed::{Deserializable, DetachedSignature, SignedPublicSubKey},
    packet::{Signature, SignatureType},
};

use super::certificate::{self, Moments, hash_of, is_weak_hash, issued_by};
use super::cleartext;
use super::keyring::{Keyring, KeyringEntry, describe, fingerprint_of};
use crate::calendar::format_utc;

/// The largest InRelease or Release accepted; real ones are well under a megabyte.
pub const MAX_RELEASE_BYTES: usize = 64 * 1024 * 1024;

/// The largest Release.gpg accepted.
pub const MAX_DETACHED_BYTES: usize = 1024 * 1024;

/// The most signatures one file may carry before it is refused.
const MAX_SIGNATURES: usize = 64;

/// What the caller tolerates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SignaturePolicy {
    /// Accept MD5/SHA-1 digests (in the signature, a self-signature or a binding) and keys
    /// apt no longer asserts (RSA under 2048 bits, DSA, …), reporting each in
    /// [`Verified::weak`]. For archived suites such as Raspbian's, whose archive key's
    /// self-signatures are SHA-1.
    pub allow_weak: bool,
}

/// A signature that verified, and what it vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Exactly the signed text: for InRelease the dash-unescaped body with each line ended by
    /// `\n` and trailing whitespace removed (the signature does not cover it); for Release
    /// the file as given.
    pub signed_text: Vec<u8>,
    /// The primary fingerprint of the certificate that signed (uppercase hex).
    pub signer_fingerprint: String,
    /// The fingerprint of the key that made the signature: a subkey, or the primary.
    pub signing_key_fingerprint: String,
    /// The keyring source the signer's certificate was loaded from (apt warns when that is
    /// the legacy `trusted.gpg`).
    pub keyring_origin: String,
    /// When the signature was made (unix seconds).
    pub signature_time: i64,
    /// The signature's digest, as OpenPGP names it (`SHA256`, `SHA512`, …).
    pub hash_algorithm: String,
    /// When the signing key or its primary expires, if ever (unix seconds), so a caller that
    /// learns the Release's `Date` only now can still compare.
    pub key_expires: Option<i64>,
    /// Weak algorithms accepted because the policy allowed them, one sentence each, for a
    /// warning.
    pub weak: Vec<String>,
}

impl Verified {
    /// Checks the signing key at the Release's `Date` after the fact, for a caller that
    /// verified with `at: None` and parsed the Date from [`Verified::signed_text`]; gives
    /// the same error `at` would have.
    pub fn check_key_valid_at(&self, date: i64) -> Result<(), SignatureError> {
        match self.key_expires {
            Some(expires) if date >= expires => Err(SignatureError::ExpiredKey {
                key: self.signing_key_fingerprint.clone(),
                expired: format_utc(expires),
                checked: format_utc(date),
                moment: "at the Release file's Date",
            }),
            _ => Ok(()),
        }
    }
}

/// Why signed metadata was refused.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    /// The file exceeds the size cap.
    #[error(
        "the {what} is {size} bytes, more than the {limit}-byte limit for repository metadata; refusing to read it"
    )]
    TooLarge {
        /// Which file.
        what: &'static str,
        /// Its size.
        size: usize,
        /// The cap.
        limit: usize,
    },
    /// The InRelease framing is broken or carries unsigned parts.
    #[error("the InRelease file is not a valid clearsigned message: {reason}")]
    MalformedCleartext {
        /// What is wrong.
        reason: String,
    },
    /// The signature armor or packets cannot be read.
    #[error("the signature in the {what} is malformed: {reason}")]
    MalformedSignature {
        /// Which file.
        what: &'static str,
        /// What the parser said.
        reason: String,
    },
    /// There is no signature at all.
    #[error(
        "the {what} carries no OpenPGP signature; the repository is unsigned or the file was cut short"
    )]
    NoSignature {
        /// Which file.
        what: &'static str,
    },
    /// No signature was made by a key of the keyring.
    #[error("the {what} is signed by {}, but {}; add the repository's signing key (or fix its Signed-By)", issuers.join(", "), keyring_summary(keyring))]
    UnknownKey {
        /// Which file.
        what: &'static str,
        /// The issuers the signatures name (fingerprints, or long key ids).
        issuers: Vec<String>,
        /// The primary fingerprints of the keyring.
        keyring: Vec<String>,
    },
    /// The signature does not match the text.
    #[error(
        "the signature by key {key} does not match the signed text: the file was altered or corrupted"
    )]
    BadSignature {
        /// The key that was tried.
        key: String,
    },
    /// A signature with a weak digest (allowed by the profile) did not verify: the file may
    /// be altered, or the digest is too short for the key's algorithm (Ed25519 signatures
    /// need one of at least 256 bits, which SHA-1 is not).
    #[error(
        "the signature by key {key} does not verify: it uses the {hash} digest, which is too short for some key types (an Ed25519 signature needs at least 256 bits), or the file was altered; the repository should be signed with SHA-256 or better"
    )]
    BadWeakSignature {
        /// The key that was tried.
        key: String,
        /// The signature's digest algorithm.
        hash: String,
    },
    /// The signing key (or its primary) had expired.
    #[error(
        "key {key} expired on {expired}, before {checked} ({moment}); the repository must be re-signed, or its key's expiry extended"
    )]
    ExpiredKey {
        /// The expired key.
        key: String,
        /// When it expired.
        expired: String,
        /// The moment it was checked at.
        checked: String,
        /// Which moment that is.
        moment: &'static str,
    },
    /// The signing key or its primary is revoked.
    #[error("key {key} has been revoked{reason}; nothing it signs is trusted")]
    Revoked {
        /// The revoked key.
        key: String,
        /// The revocation's stated reason, prefixed for the sentence, or empty.
        reason: String,
    },
    /// The key's flags do not allow signing.
    #[error("key {key} is not allowed to sign (its key flags do not include signing)")]
    NotSigningCapable {
        /// The key.
        key: String,
    },
    /// An algorithm the policy refuses.
    #[error(
        "key {key}: {what}, which apt no longer trusts; for an archived suite that needs it, set `allow_weak_signatures = true` on that repository in the profile"
    )]
    WeakAlgorithm {
        /// The key (signer for a weak signature digest).
        key: String,
        /// What is weak.
        what: String,
    },
    /// The signature has passed its own expiry time.
    #[error("the signature by key {key} expired on {expired}")]
    SignatureExpired {
        /// The key.
        key: String,
        /// When the signature expired.
        expired: String,
    },
    /// The key is unusable for another reason (no valid self-signature or binding, …).
    #[error("key {key} cannot be used: {reason}")]
    InvalidKey {
        /// The key.
        key: String,
        /// Why.
        reason: String,
    },
}

/// Verifies a clearsigned InRelease. `at` is the Release's `Date` (unix seconds) if the caller
/// knows it; the signing key must be valid then as well as when the signature was made.
pub fn verify_inrelease(
    text: &[u8],
    keyring: &Keyring,
    policy: &SignaturePolicy,
    at: Option<i64>,
) -> Result<Verified, SignatureError> {
    const WHAT: &str = "InRelease";
    check_size(WHAT, text.len(), MAX_RELEASE_BYTES)?;
    let parsed = cleartext::parse(text)?;
    let signatures = read_armored(WHAT, parsed.signature_block)?;
    for sig in &signatures {
        let hash = hash_of(sig);
        if !parsed.hashes.is_empty() && !parsed.hashes.contains(&hash) {
            return Err(SignatureError::MalformedCleartext {
                reason: format!("a signature uses {hash}, which its Hash header does not announce"),
            });
        }
    }
    let found = verify_any(WHAT, &signatures, parsed.signed_data(), keyring, policy, at)?;
    Ok(found.into_verified(parsed.body))
}

/// Verifies `Release` against its detached signature `Release.gpg` (armored or binary).
pub fn verify_detached(
    release: &[u8],
    release_gpg: &[u8],
    keyring: &Keyring,
    policy: &SignaturePolicy,
    at: Option<i64>,
) -> Result<Verified, SignatureError> {
    const WHAT: &str = "Release.gpg";
    check_size("Release", release.len(), MAX_RELEASE_BYTES)?;
    check_size(WHAT, release_gpg.len(), MAX_DETACHED_BYTES)?;
    let first = release_gpg.iter().find(|b| !b.is_ascii_whitespace());
    let signatures = match first {
        None => return Err(SignatureError::NoSignature { what: WHAT }),
        Some(b) if b & 0x80 != 0 => read_binary(WHAT, release_gpg)?,
        Some(_) => read_armored(WHAT, release_gpg)?,
    };
    verify_any(WHAT, &signatures, release, keyring, policy, at)
        .map(|found| found.into_verified(release.to_vec()))
}

fn keyring_summary(keyring: &[String]) -> String {
    if keyring.is_empty() {
        "the keyring is empty".to_string()
    } else {
        format!("the keyring holds only {}", keyring.join(", "))
    }
}

fn check_size(what: &'static str, size: usize, limit: usize) -> Result<(), SignatureError> {
    if size > limit {
        return Err(SignatureError::TooLarge { what, size, limit });
    }
    Ok(())
}

fn read_armored(what: &'static str, block: &[u8]) -> Result<Vec<Signature>, SignatureError> {
    let malformed = |err: pgp::errors::Error| SignatureError::MalformedSignature {
        what,
        reason: describe(&err),
    };
    let (sigs, _headers) = DetachedSignature::from_armor_many(block).map_err(malformed)?;
    collect_signatures(what, sigs)
}

fn read_binary(what: &'static str, bytes: &[u8]) -> Result<Vec<Signature>, SignatureError> {
    let sigs = DetachedSignature::from_bytes_many(bytes).map_err(|err| {
        SignatureError::MalformedSignature {
            what,
            reason: describe(&err),
        }
    })?;
    collect_signatures(what, sigs)
}

fn collect_signatures(
    what: &'static str,
    sigs: impl Iterator<Item = pgp::errors::Result<DetachedSignature>>,
) -> Result<Vec<Signature>, SignatureError> {
    let mut out = Vec::new();
    for sig in sigs {
        if out.len() >= MAX_SIGNATURES {
            return Err(SignatureError::MalformedSignature {
                what,
                reason: format!("it carries more than {MAX_SIGNATURES} signatures"),
            });
        }
        let sig = sig.map_err(|err| SignatureError::MalformedSignature {
            what,
            reason: describe(&err),
        })?;
        out.push(sig.signature);
    }
    if out.is_empty() {
        return Err(SignatureError::NoSignature { what });
    }
    Ok(out)
}

/// A signature accepted, before the signed text is attached.
struct Found {
    signer: String,
    signing_key: String,
    origin: String,
    time: i64,
    hash: String,
    expires: Option<i64>,
    weak: Vec<String>,
}

impl Found {
    fn into_verified(self, signed_text: Vec<u8>) -> Verified {
        Verified {
            signed_text,
            signer_fingerprint: self.signer,
            signing_key_fingerprint: self.signing_key,
            keyring_origin: self.origin,
            signature_time: self.time,
            hash_algorithm: self.hash,
            key_expires: self.expires,
            weak: self.weak,
        }
    }
}

/// Accepts the first signature that verifies with a fit key; otherwise reports the first
/// failure by a key the keyring knows, or, if none is known, the issuers.
fn verify_any(
    what: &'static str,
    signatures: &[Signature],
    data: &[u8],
    keyring: &Keyring,
    policy: &SignaturePolicy,
    at: Option<i64>,
) -> Result<Found, SignatureError> {
    let mut first_failure = None;
    let mut unknown = Vec::new();
    for sig in signatures {
        let candidates = candidates(keyring, sig);
        if candidates.is_empty() {
            unknown.push(issuer_of(sig));
            continue;
        }
        for (entry, subkey) in candidates {
            match check_one(sig, data, entry, subkey, policy, at) {
                Ok(found) => return Ok(found),
                Err(err) => {
                    first_failure.get_or_insert(err);
                }
            }
        }
    }
    Err(first_failure.unwrap_or_else(|| SignatureError::UnknownKey {
        what,
        issuers: unknown,
        keyring: keyring.fingerprints(),
    }))
}

/// Every (certificate, subkey-or-primary) the signature names as its issuer.
fn candidates<'k>(
    keyring: &'k Keyring,
    sig: &Signature,
) -> Vec<(&'k KeyringEntry, Option<&'k SignedPublicSubKey>)> {
    let mut out = Vec::new();
    for entry in keyring.entries() {
        if issued_by(sig, &entry.key.primary_key) {
            out.push((entry, None));
        }
        for subkey in &entry.key.public_subkeys {
            if issued_by(sig, &subkey.key) {
                out.push((entry, Some(subkey)));
            }
        }
    }
    out
}

fn issuer_of(sig: &Signature) -> String {
    if let Some(fp) = sig.issuer_fingerprint().first() {
        return format!("{fp:X}");
    }
    if let Some(id) = sig.issuer_key_id().first() {
        return format!("key id {}", id.to_string().to_ascii_uppercase());
    }
    "an unnamed key".to_string()
}

fn check_one(
    sig: &Signature,
    data: &[u8],
    entry: &KeyringEntry,
    subkey: Option<&SignedPublicSubKey>,
    policy: &SignaturePolicy,
    at: Option<i64>,
) -> Result<Found, SignatureError> {
    let cert = &entry.key;
    let signing_key = match subkey {
        Some(subkey) => fingerprint_of(&subkey.key),
        None => fingerprint_of(&cert.primary_key),
    };
    if !matches!(sig.typ(), Some(SignatureType::Binary | SignatureType::Text)) {
        return Err(SignatureError::InvalidKey {
            key: signing_key,
            reason: format!(
                "its signature is of type {:?}, not a document signature",
                sig.typ()
            ),
        });
    }
    // A weak digest is refused before verifying: it is the reason whether or not the
    // signature would verify (some verifiers reject SHA-1 with Ed25519 outright).
    let hash = hash_of(sig);
    if is_weak_hash(hash) && !policy.allow_weak {
        return Err(SignatureError::WeakAlgorithm {
            key: signing_key,
            what: format!("the signature uses the {hash} digest"),
        });
    }
    let verified = match subkey {
        Some(subkey) => sig.verify(&subkey.key, data),
        None => sig.verify(&cert.primary_key, data),
    };
    if verified.is_err() {
        return Err(if is_weak_hash(hash) {
            SignatureError::BadWeakSignature {
                key: signing_key,
                hash: hash.to_string(),
            }
        } else {
            SignatureError::BadSignature { key: signing_key }
        });
    }
    let Some(created) = sig.created() else {
        return Err(SignatureError::InvalidKey {
            key: signing_key,
            reason: "its signature has no creation time".to_string(),
        });
    };
    let time = i64::from(created.as_secs());
    if let Some(lifetime) = sig.signature_expiration_time() {
        let seconds = i64::from(lifetime.as_secs());
        let now = at.unwrap_or(time);
        if seconds != 0 && now >= time + seconds {
            return Err(SignatureError::SignatureExpired {
                key: signing_key,
                expired: format_utc(time + seconds),
            });
        }
    }
    let mut weak = Vec::new();
    if is_weak_hash(hash) {
        weak.push(format!(
            "key {signing_key}: the signature uses the {hash} digest"
        ));
    }
    let moments = Moments {
        signature: time,
        release: at,
    };
    let fitness = certificate::check_signer(cert, subkey, moments, policy.allow_weak)?;
    weak.extend(fitness.weak);
    Ok(Found {
        signer: fingerprint_of(&cert.primary_key),
        signing_key,
        origin: entry.origin.clone(),
        time,
        hash: hash.to_string(),
        expires: fitness.expires,
        weak,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_input_is_refused_before_parsing() {
        let big = vec![b'a'; MAX_DETACHED_BYTES + 1];
        let ring = Keyring::new();
        let err = verify_detached(b"x", &big, &ring, &SignaturePolicy::default(), None);
        assert!(matches!(err, Err(SignatureError::TooLarge { .. })));
    }

    #[test]
    fn empty_detached_signature_is_named() {
        let ring = Keyring::new();
        let err = verify_detached(b"x", b"  \n", &ring, &SignaturePolicy::default(), None);
        assert!(matches!(err, Err(SignatureError::NoSignature { .. })));
    }
}
