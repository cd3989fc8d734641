//! Signed apt repositories: which keys a repository is trusted with, and whether its
//! `InRelease` (or `Release` + `Release.gpg`) carries a good signature by one of them.
//!
//! - `keyring`: loads keys from binary keyrings, armored files, `Signed-By:` blocks and
//!   fingerprint-pinned downloads.
//! - `signature`: the verification entry points, the weak-algorithm policy and the errors.
//! - `cleartext`: the InRelease framing (dash-escaping, `Hash:` headers, nothing unsigned).
//! - `certificate`: whether the key that signed was fit to (bindings, flags, expiry,
//!   revocation, strength).
//!
//! Nothing here fetches files or parses the Release's fields; the caller hands over bytes and,
//! if it knows it, the Release's `Date`.

mod certificate;
mod cleartext;
mod keyring;
mod signature;

pub use keyring::{Keyring, KeyringError, MAX_KEYRING_BYTES, is_keyring_file_name};
pub use signature::{
    MAX_DETACHED_BYTES, MAX_RELEASE_BYTES, SignatureError, SignaturePolicy, Verified,
    verify_detached, verify_inrelease,
};
