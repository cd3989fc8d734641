//! The lock file (`<profile>.lock`, TOML): every input of a build pinned by digest, and
//! the epoch every timestamp takes, so a later build on any machine uses exactly the same
//! inputs and writes the same bytes.
//!
//! This module reads and writes the file and compares it with a profile; it does not
//! fetch or resolve anything.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::apt::install::RepositoryLock;
use crate::apt::release::parse_sha256;
use crate::apt::resolver::LockEntry;

/// The lock file format's version; a lock of another version is refused with a message.
pub const LOCK_VERSION: u32 = 1;

/// The largest lock file read (a big fleet's lock is well under a MiB).
const MAX_LOCK_BYTES: u64 = 16 << 20;

/// A lock file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    /// [`LOCK_VERSION`].
    pub version: u32,
    /// SHA-256 of the profile's inputs (base location, repositories, package requests) in
    /// canonical form: a profile whose inputs changed no longer matches.
    pub inputs_sha256: String,
    /// The time every timestamp of the image takes, Unix seconds.
    pub epoch: i64,
    /// The base image.
    pub base: LockedBase,
    /// The server binary's SHA-256, when the profile has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_sha256: Option<String>,
    /// The digest of the overlay trees, in order, when the profile has overlays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlays_sha256: Option<String>,
    /// Every repository used, in apt's order.
    #[serde(default, rename = "repository")]
    pub repositories: Vec<LockedRepository>,
    /// Every package unpacked, in name order.
    #[serde(default, rename = "package")]
    pub packages: Vec<LockEntry>,
}

/// The base image in a lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedBase {
    /// Its URL, or its path relative to the profile.
    pub source: String,
    /// SHA-256 of the file as downloaded.
    pub sha256: String,
    /// SHA-256 of the image it unpacks to: a cached unpacked image is reused only when it
    /// still has this digest. Absent in locks written before it was recorded (the download
    /// is then unpacked again on every build, until the lock is rewritten).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_sha256: Option<String>,
}

/// A repository in a lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedRepository {
    /// The profile's name, or `base-N`.
    pub name: String,
    /// Its URI.
    pub uri: String,
    /// Its suite.
    pub suite: String,
    /// SHA-256 of its signed Release (InRelease or Release).
    pub release_sha256: String,
    /// The Release's `Date`, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<i64>,
}

/// Why a lock file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// It could not be read or written.
    #[error("lock file {}: {source}", path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// It is not a lock file this version understands.
    #[error("lock file {}: {reason}; delete it and run `pi-imager lock` to write a new one", path.display())]
    Invalid {
        /// The lock file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl Lock {
    /// Where the lock of `profile` lives: beside it, `<stem>.lock`.
    pub fn path_for(profile: &Path) -> PathBuf {
        profile.with_extension("lock")
    }

    /// Reads the lock at `path`; `None` when there is none.
    pub fn read(path: &Path) -> Result<Option<Lock>, LockError> {
        let io = |source| LockError::Io {
            path: path.to_path_buf(),
            source,
        };
        let meta = match std::fs::metadata(path) {
            Ok(meta) => meta,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(io(err)),
        };
        if meta.len() > MAX_LOCK_BYTES {
            return Err(LockError::Invalid {
                path: path.to_path_buf(),
                reason: format!("it has {} bytes, more than any lock", meta.len()),
            });
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        Self::parse(&text, path).map(Some)
    }

    /// Parses lock `text` read from `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Lock, LockError> {
        let invalid = |reason: String| LockError::Invalid {
            path: path.to_path_buf(),
            reason,
        };
        let lock: Lock = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        if lock.version != LOCK_VERSION {
            return Err(invalid(format!(
                "it has version {}, this pi-imager writes version {LOCK_VERSION}",
                lock.version
            )));
        }
        // A digest that does not parse would silently pin nothing: refuse it here.
        let digests = [
            ("inputs_sha256", Some(&lock.inputs_sha256)),
            ("base.sha256", Some(&lock.base.sha256)),
            ("base.image_sha256", lock.base.image_sha256.as_ref()),
            ("server_sha256", lock.server_sha256.as_ref()),
            ("overlays_sha256", lock.overlays_sha256.as_ref()),
        ]
        .into_iter()
        .filter_map(|(key, value)| Some((key.to_owned(), value?)))
        .chain(lock.repositories.iter().map(|r| {
            (
                format!("repository {} release_sha256", r.name),
                &r.release_sha256,
            )
        }))
        .chain(
            lock.packages
                .iter()
                .map(|p| (format!("package {} sha256", p.name), &p.sha256)),
        );
        for (key, value) in digests {
            if parse_sha256(value).is_none() {
                return Err(invalid(format!(
                    "{key} `{value}` is not a sha256 (64 hex digits)"
                )));
            }
        }
        Ok(lock)
    }

    /// The lock as TOML text, with a header saying what it is.
    pub fn to_toml(&self) -> String {
        let body = toml::to_string(self).unwrap_or_default();
        format!(
            "# Written by pi-imager: every input of this profile's images, pinned.\n\
             # Commit it beside the profile; `pi-imager build --locked` uses exactly these.\n\n{body}"
        )
    }

    /// The repository pins as the apt stage takes them.
    pub fn release_pins(&self) -> std::collections::BTreeMap<String, [u8; 32]> {
        self.repositories
            .iter()
            .filter_map(|r| Some((r.name.clone(), parse_sha256(&r.release_sha256)?)))
            .collect()
    }
}

impl From<&RepositoryLock> for LockedRepository {
    fn from(r: &RepositoryLock) -> Self {
        Self {
            name: r.name.clone(),
            uri: r.uri.clone(),
            suite: r.suite.clone(),
            release_sha256: r.release_sha256.clone(),
            date: r.date,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Lock {
        Lock {
            version: LOCK_VERSION,
            inputs_sha256: "ab".repeat(32),
            epoch: 1_456_704_000,
            base: LockedBase {
                source: "https://example.org/base.zip".to_owned(),
                sha256: "cd".repeat(32),
                image_sha256: Some("12".repeat(32)),
            },
            server_sha256: Some("ef".repeat(32)),
            overlays_sha256: None,
            repositories: vec![LockedRepository {
                name: "stretch".to_owned(),
                uri: "http://example.org/raspbian".to_owned(),
                suite: "stretch".to_owned(),
                release_sha256: "01".repeat(32),
                date: Some(1_500_000_000),
            }],
            packages: vec![LockEntry {
                name: "nginx-light".to_owned(),
                version: "1.6.2-5+deb8u1".to_owned(),
                architecture: "armhf".to_owned(),
                repository: "base-0".to_owned(),
                filename: "pool/main/n/nginx/nginx-light_1.6.2-5+deb8u1_armhf.deb".to_owned(),
                sha256: "23".repeat(32),
            }],
        }
    }

    #[test]
    fn round_trips_through_toml() {
        let lock = sample();
        let text = lock.to_toml();
        assert!(text.starts_with("# Written by pi-imager"));
        assert_eq!(Lock::parse(&text, Path::new("x.lock")).unwrap(), lock);
        assert_eq!(lock.release_pins().len(), 1);
    }

    #[test]
    fn refuses_other_versions_and_unknown_keys_naming_the_file() {
        let text = sample().to_toml().replace("version = 1", "version = 7");
        let err = Lock::parse(&text, Path::new("blog.lock"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("blog.lock") && err.contains("version 7"),
            "{err}"
        );
        let text = format!("{}\nsurprise = 1\n", sample().to_toml());
        assert!(Lock::parse(&text, Path::new("blog.lock")).is_err());
        let text = sample().to_toml().replace(&"01".repeat(32), "not-a-digest");
        let err = Lock::parse(&text, Path::new("blog.lock"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("repository stretch release_sha256"), "{err}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]
        #[test]
        fn hostile_text_never_panics(text in ".{0,400}") {
            let _ = Lock::parse(&text, Path::new("x.lock"));
        }
    }
}
