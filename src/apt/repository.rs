//! Loading one signed apt repository: its `InRelease` (or `Release` + `Release.gpg`)
//! fetched and verified against the repository's keyring, its `Release` parsed and checked
//! for expiry, and its `Packages` indexes for one architecture and `all` fetched through the
//! digest-checked cache, decompressed and parsed.
//!
//! Nothing unverified is used: every index is fetched by the SHA-256 and size the verified
//! Release gives. This module does not decide where repositories come from (see
//! [`super::source_set`]), does not choose packages, and does not unpack `.deb`s; it only
//! fetches them ([`fetch_deb`]).

use std::io::Read;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::compression::{CappedReader, Compression};
use super::keyring::{Keyring, KeyringError};
use super::package::PackageError;
use super::packages::PackagesIndex;
use super::release::{Release, ReleaseError};
use super::signature::{
    self, MAX_DETACHED_BYTES, MAX_RELEASE_BYTES, SignatureError, SignaturePolicy, Verified,
};
use super::sources::SourcesError;
use crate::fetch::{Expected, FetchError, Fetcher};
use crate::tree::TreeError;

/// The largest decompressed `Packages` index accepted (a full Debian index is about 60 MB).
pub const MAX_INDEX_BYTES: u64 = 1024 * 1024 * 1024;

/// One repository suite to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositorySource {
    /// How messages name it: the profile's name, or `base: <uri> <suite> (<file>, line N)`.
    pub name: String,
    /// The archive root, without a trailing `/`.
    pub uri: String,
    /// The suite, or for a flat repository its directory ending in `/`.
    pub suite: String,
    /// The components; empty for a flat repository.
    pub components: Vec<String>,
    /// A flat repository: indexes lie directly under `uri/suite`.
    pub flat: bool,
    /// The source's `arch=` / `Architectures:` restriction; empty means any. An image whose
    /// architecture is not listed gets no packages from it, as with apt.
    pub architectures: Vec<String>,
}

impl RepositorySource {
    /// The URL of a file beside the Release (`InRelease`, `main/binary-armhf/Packages.xz`).
    pub fn dists_url(&self, file: &str) -> String {
        if self.flat {
            let dir = self.suite.trim_start_matches("./").trim_start_matches('/');
            format!("{}/{dir}{file}", self.uri)
        } else {
            format!("{}/dists/{}/{file}", self.uri, self.suite)
        }
    }
}

/// What a repository tolerates, from the profile.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadPolicy {
    /// Accept a Release whose `Valid-Until` has passed (an archived suite), with a warning.
    pub accept_expired: bool,
    /// Accept algorithms apt no longer trusts (SHA-1), with a warning.
    pub allow_weak: bool,
    /// The SHA-256 of the signed Release file the lock recorded: that exact file is used
    /// (from the cache when it is there), and any other is refused. A pinned Release is
    /// not judged by its `Valid-Until`: pinning by digest already rules out a replay.
    pub pinned: Option<[u8; 32]>,
}

/// One parsed `Packages` index.
#[derive(Debug, Clone)]
pub struct LoadedIndex {
    /// The component (empty for a flat repository).
    pub component: String,
    /// The index's architecture (`armhf`, or `all`).
    pub architecture: String,
    /// Where it was fetched from.
    pub url: String,
    /// Its packages.
    pub index: PackagesIndex,
}

/// A verified repository and its indexes.
#[derive(Debug, Clone)]
pub struct LoadedRepository {
    /// Where it came from.
    pub source: RepositorySource,
    /// The verified Release.
    pub release: Release,
    /// The signature that vouched for it.
    pub signer: Verified,
    /// The SHA-256 of the signed file as fetched (InRelease, or Release when there is none),
    /// for the lock file.
    pub release_sha256: [u8; 32],
    /// The Release's `Date`, for the lock file.
    pub date: Option<i64>,
    /// The indexes, by component, then the architecture's before `all`.
    pub indexes: Vec<LoadedIndex>,
    /// What was accepted only because the profile allows it, one sentence each.
    pub warnings: Vec<String>,
}

/// Why a repository could not be used. Each names the repository.
#[derive(Debug, thiserror::Error)]
pub enum RepositoryError {
    /// A download failed.
    #[error("repository {repo}: {source}")]
    Fetch {
        /// The repository.
        repo: String,
        /// What failed.
        source: FetchError,
    },
    /// The InRelease or Release.gpg did not verify.
    #[error("repository {repo}: {url} is refused: {source}")]
    Signature {
        /// The repository.
        repo: String,
        /// The signed file.
        url: String,
        /// Why.
        source: Box<SignatureError>,
    },
    /// The repository now serves another signed Release than the one the lock pinned, and
    /// the cache does not hold the pinned one.
    #[error(
        "repository {repo}: {url} has changed since the lock was written (sha256 {actual}, locked {locked}) and the cache does not hold the locked copy; run `pi-imager lock` to update the lock"
    )]
    LockMismatch {
        /// The repository.
        repo: String,
        /// The signed file.
        url: String,
        /// The digest the lock records.
        locked: String,
        /// The digest of what was served.
        actual: String,
    },
    /// The signature verified only with algorithms apt no longer trusts.
    #[error(
        "repository {repo}: {url} is refused: {source}; if this archived suite needs it, set `allow_weak_signatures = true` for it"
    )]
    Weak {
        /// The repository.
        repo: String,
        /// The signed file.
        url: String,
        /// The weak algorithm.
        source: Box<SignatureError>,
    },
    /// The verified Release cannot be read.
    #[error("repository {repo}: {source}")]
    Release {
        /// The repository.
        repo: String,
        /// Why.
        source: Box<ReleaseError>,
    },
    /// A signed or index file is not UTF-8 text.
    #[error("repository {repo}: {url} is not UTF-8 text")]
    NotText {
        /// The repository.
        repo: String,
        /// The file.
        url: String,
    },
    /// The Release's `Valid-Until` has passed.
    #[error(
        "repository {repo}: its Release expired on {valid_until} (Valid-Until) and may be a replayed old copy; if this is an archived suite, set `accept_expired = true` for it"
    )]
    Expired {
        /// The repository.
        repo: String,
        /// When it expired.
        valid_until: String,
    },
    /// The Release lists no Packages file for a component and architecture.
    #[error(
        "repository {repo}: its Release lists no Packages index for {component}/binary-{architecture} (looked for Packages.xz, Packages.gz and Packages); check the components and the image's architecture"
    )]
    MissingIndex {
        /// The repository.
        repo: String,
        /// The component.
        component: String,
        /// The architecture.
        architecture: String,
    },
    /// An index cannot be decompressed.
    #[error("repository {repo}: cannot decompress {url}: {reason}")]
    Decompress {
        /// The repository.
        repo: String,
        /// The index.
        url: String,
        /// Why.
        reason: String,
    },
    /// An index cannot be parsed.
    #[error("repository {repo}: {source}")]
    Index {
        /// The repository.
        repo: String,
        /// Why.
        source: Box<PackageError>,
    },
    /// A source is marked `trusted=yes`.
    #[error(
        "{file}, line {line}: the source {uri} is marked trusted (trusted=yes / Trusted: yes); pi-imager puts nothing unverified into an image: remove the option and give the repository's key with Signed-By"
    )]
    Trusted {
        /// The list file in the image.
        file: String,
        /// The line.
        line: usize,
        /// The source.
        uri: String,
    },
    /// A file of the image cannot be read.
    #[error("cannot read {path} in the base image: {source}")]
    Tree {
        /// The path in the image.
        path: String,
        /// Why.
        source: TreeError,
    },
    /// A file of the image is not a regular file or is too large.
    #[error("cannot read {path} in the base image: {reason}")]
    ImageFile {
        /// The path in the image.
        path: String,
        /// Why.
        reason: String,
    },
    /// A sources list of the image is malformed.
    #[error(transparent)]
    Sources(Box<SourcesError>),
    /// The profile's key file cannot be read.
    #[error("repository {repo}: key file {}: {source}", path.display())]
    KeyFile {
        /// The repository.
        repo: String,
        /// The key file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A keyring cannot be used.
    #[error("repository {repo}: {source}")]
    Keyring {
        /// The repository.
        repo: String,
        /// Why.
        source: Box<KeyringError>,
    },
    /// `Signed-By` names a fingerprint rather than a key file.
    #[error(
        "{file}, line {line}: Signed-By `{value}` names key fingerprints, which pi-imager does not support yet; name the keyring file instead"
    )]
    SignedByFingerprint {
        /// The list file.
        file: String,
        /// The line.
        line: usize,
        /// The value.
        value: String,
    },
}

impl From<SourcesError> for RepositoryError {
    fn from(err: SourcesError) -> Self {
        RepositoryError::Sources(Box::new(err))
    }
}

/// Fetches, verifies and parses `source` for architecture `arch` (and `all`). `now` (unix
/// seconds) is compared with the Release's `Valid-Until`; the signing key is judged at the
/// Release's `Date`, so an archived suite verifies as it did when it was signed.
pub fn load(
    fetcher: &Fetcher,
    source: &RepositorySource,
    keyring: &Keyring,
    arch: &str,
    policy: LoadPolicy,
    now: i64,
) -> Result<LoadedRepository, RepositoryError> {
    let repo = || source.name.clone();
    let signature_policy = SignaturePolicy {
        allow_weak: policy.allow_weak,
    };
    let signed = match policy.pinned {
        Some(pinned) => fetch_pinned(fetcher, source, keyring, &signature_policy, pinned)?,
        None => fetch_signed(fetcher, source, keyring, &signature_policy)?,
    };
    let text = std::str::from_utf8(&signed.verified.signed_text).map_err(|_| {
        RepositoryError::NotText {
            repo: repo(),
            url: signed.url.clone(),
        }
    })?;
    let release = Release::parse(text, &signed.url).map_err(|source| RepositoryError::Release {
        repo: repo(),
        source: Box::new(source),
    })?;
    if let Some(date) = release.date {
        signed
            .verified
            .check_key_valid_at(date)
            .map_err(|err| signature_error(source, &signed.url, err))?;
    }
    let mut warnings = Vec::new();
    let judged_now = if policy.pinned.is_some() {
        None
    } else {
        Some(now)
    };
    if let Some(valid_until) = release
        .valid_until
        .filter(|until| judged_now.is_some_and(|now| now > *until))
    {
        let valid_until = crate::calendar::format_utc(valid_until);
        if !policy.accept_expired {
            return Err(RepositoryError::Expired {
                repo: repo(),
                valid_until,
            });
        }
        warnings.push(format!(
            "repository {}: its Release expired on {valid_until} (Valid-Until); accepted because the profile sets `accept_expired = true`",
            source.name
        ));
    }
    if let Some(warning) = suite_mismatch(source, &release) {
        warnings.push(warning);
    }
    for weak in &signed.verified.weak {
        warnings.push(format!(
            "repository {}: {weak}; accepted because the profile sets `allow_weak_signatures = true`",
            source.name
        ));
    }
    // Only now, verified, may the signed files enter the cache (for `--offline`).
    for (url, bytes) in &signed.files {
        fetcher
            .store_verified(Some(url), bytes)
            .map_err(|source| RepositoryError::Fetch {
                repo: repo(),
                source,
            })?;
    }
    let indexes = load_indexes(fetcher, source, &release, arch)?;
    Ok(LoadedRepository {
        source: source.clone(),
        date: release.date,
        release,
        signer: signed.verified,
        release_sha256: signed.sha256,
        indexes,
        warnings,
    })
}

/// apt's "conflicting distribution" check: a Release signed for another suite of the same
/// archive (say an old one, replayed) verifies with the same key, so say when the suite asked
/// for is neither the Release's `Suite` nor its `Codename`. A warning, as in apt, because
/// archives rename suites (`stable` → `oldstable`) without re-signing anything wrongly.
fn suite_mismatch(source: &RepositorySource, release: &Release) -> Option<String> {
    if source.flat {
        return None;
    }
    let names = [release.suite.as_deref(), release.codename.as_deref()];
    let named: Vec<&str> = names.into_iter().flatten().collect();
    if named.is_empty() || named.contains(&source.suite.as_str()) {
        return None;
    }
    Some(format!(
        "repository {}: conflicting distribution: asked for suite `{}`, but the signed Release is for `{}`",
        source.name,
        source.suite,
        named.join("` / `")
    ))
}

/// Fetches a `.deb` named by a verified index entry (`Filename`, `Size`, `SHA256`) into the
/// cache and returns the cache file.
pub fn fetch_deb(
    fetcher: &Fetcher,
    repo_uri: &str,
    filename: &str,
    size: u64,
    sha256: &[u8; 32],
) -> Result<PathBuf, FetchError> {
    let url = format!(
        "{}/{}",
        repo_uri.trim_end_matches('/'),
        filename.trim_start_matches('/')
    );
    fetcher.fetch_verified(
        &url,
        &Expected {
            sha256: *sha256,
            size: Some(size),
        },
    )
}

/// The signed metadata, verified, with the files it came from.
struct Signed {
    url: String,
    verified: Verified,
    sha256: [u8; 32],
    files: Vec<(String, Vec<u8>)>,
}

fn fetch_signed(
    fetcher: &Fetcher,
    source: &RepositorySource,
    keyring: &Keyring,
    policy: &SignaturePolicy,
) -> Result<Signed, RepositoryError> {
    let fetch_err = |source_err| RepositoryError::Fetch {
        repo: source.name.clone(),
        source: source_err,
    };
    let inrelease_url = source.dists_url("InRelease");
    let inrelease_failure = match fetcher.fetch_unverified(&inrelease_url, MAX_RELEASE_BYTES as u64)
    {
        Ok(bytes) => {
            let verified = signature::verify_inrelease(&bytes, keyring, policy, None)
                .map_err(|err| signature_error(source, &inrelease_url, err))?;
            return Ok(Signed {
                sha256: Sha256::digest(&bytes).into(),
                files: vec![(inrelease_url.clone(), bytes)],
                url: inrelease_url,
                verified,
            });
        }
        Err(err @ (FetchError::NotFound { .. } | FetchError::Offline { .. })) => err,
        Err(err) => return Err(fetch_err(err)),
    };
    // No InRelease: the older pair, as apt falls back to it.
    let release_url = source.dists_url("Release");
    let release = match fetcher.fetch_unverified(&release_url, MAX_RELEASE_BYTES as u64) {
        Ok(bytes) => bytes,
        Err(FetchError::Offline { .. }) => return Err(fetch_err(inrelease_failure)),
        Err(err @ FetchError::NotFound { .. }) => {
            return Err(fetch_err(match inrelease_failure {
                FetchError::Offline { .. } => inrelease_failure,
                _ => err,
            }));
        }
        Err(err) => return Err(fetch_err(err)),
    };
    let gpg_url = source.dists_url("Release.gpg");
    let gpg = fetcher
        .fetch_unverified(&gpg_url, MAX_DETACHED_BYTES as u64)
        .map_err(fetch_err)?;
    let verified = signature::verify_detached(&release, &gpg, keyring, policy, None)
        .map_err(|err| signature_error(source, &gpg_url, err))?;
    Ok(Signed {
        sha256: Sha256::digest(&release).into(),
        files: vec![(release_url.clone(), release), (gpg_url, gpg)],
        url: release_url,
        verified,
    })
}

/// The signed Release the lock pinned: the cached InRelease with that digest when there is
/// one (no network needed), else whatever the repository serves now, which must be it.
fn fetch_pinned(
    fetcher: &Fetcher,
    source: &RepositorySource,
    keyring: &Keyring,
    policy: &SignaturePolicy,
    pinned: [u8; 32],
) -> Result<Signed, RepositoryError> {
    let expected = Expected {
        sha256: pinned,
        size: None,
    };
    let cached = fetcher
        .cached(&expected)
        .map_err(|err| RepositoryError::Fetch {
            repo: source.name.clone(),
            source: err,
        })?;
    if let Some(path) = cached {
        let inrelease_url = source.dists_url("InRelease");
        if let Ok(bytes) = std::fs::read(&path)
            && let Ok(verified) = signature::verify_inrelease(&bytes, keyring, policy, None)
        {
            return Ok(Signed {
                sha256: pinned,
                files: vec![(inrelease_url.clone(), bytes)],
                url: inrelease_url,
                verified,
            });
        }
    }
    let signed = fetch_signed(fetcher, source, keyring, policy)?;
    if signed.sha256 != pinned {
        return Err(RepositoryError::LockMismatch {
            repo: source.name.clone(),
            url: signed.url,
            locked: hex(&pinned),
            actual: hex(&signed.sha256),
        });
    }
    Ok(signed)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn signature_error(source: &RepositorySource, url: &str, err: SignatureError) -> RepositoryError {
    let repo = source.name.clone();
    let url = url.to_owned();
    match err {
        SignatureError::WeakAlgorithm { .. } => RepositoryError::Weak {
            repo,
            url,
            source: Box::new(err),
        },
        _ => RepositoryError::Signature {
            repo,
            url,
            source: Box::new(err),
        },
    }
}

fn load_indexes(
    fetcher: &Fetcher,
    source: &RepositorySource,
    release: &Release,
    arch: &str,
) -> Result<Vec<LoadedIndex>, RepositoryError> {
    let components: Vec<String> = if source.flat {
        vec![String::new()]
    } else {
        source.components.clone()
    };
    let mut indexes = Vec::new();
    if !source.architectures.is_empty() && !source.architectures.iter().any(|a| a == arch) {
        return Ok(indexes);
    }
    for component in &components {
        for architecture in [arch, "all"] {
            let dir = if source.flat {
                String::new()
            } else {
                format!("{component}/binary-{architecture}/")
            };
            // A flat repository has one index for every architecture.
            if source.flat && architecture == "all" {
                continue;
            }
            let Some((path, compression)) = pick_index(release, &dir) else {
                if architecture == "all" {
                    continue;
                }
                return Err(RepositoryError::MissingIndex {
                    repo: source.name.clone(),
                    component: component.clone(),
                    architecture: architecture.to_owned(),
                });
            };
            let Some(file) = release.file(&path) else {
                continue;
            };
            let url = source.dists_url(&path);
            let cached = fetcher
                .fetch_verified(
                    &url,
                    &Expected {
                        sha256: file.sha256,
                        size: Some(file.size),
                    },
                )
                .map_err(|err| RepositoryError::Fetch {
                    repo: source.name.clone(),
                    source: err,
                })?;
            let text =
                decompress(&cached, compression).map_err(|reason| RepositoryError::Decompress {
                    repo: source.name.clone(),
                    url: url.clone(),
                    reason,
                })?;
            let index = PackagesIndex::parse(text, &url).map_err(|err| RepositoryError::Index {
                repo: source.name.clone(),
                source: Box::new(err),
            })?;
            indexes.push(LoadedIndex {
                component: component.clone(),
                architecture: architecture.to_owned(),
                url,
                index,
            });
        }
    }
    Ok(indexes)
}

/// The best listed form of `<dir>Packages`: xz, then gzip, then uncompressed.
fn pick_index(release: &Release, dir: &str) -> Option<(String, Compression)> {
    [
        ("Packages.xz", Compression::Xz),
        ("Packages.gz", Compression::Gzip),
        ("Packages", Compression::None),
    ]
    .into_iter()
    .map(|(name, compression)| (format!("{dir}{name}"), compression))
    .find(|(path, _)| release.file(path).is_some())
}

fn decompress(path: &std::path::Path, compression: Compression) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let decoder = compression.decoder(file).map_err(|e| e.to_string())?;
    let mut capped = CappedReader::new(decoder, MAX_INDEX_BYTES);
    let mut bytes = Vec::new();
    capped.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|_| "the decompressed index is not UTF-8 text".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(flat: bool, suite: &str) -> RepositorySource {
        RepositorySource {
            name: "test".to_owned(),
            uri: "http://example.org/debian".to_owned(),
            suite: suite.to_owned(),
            components: vec!["main".to_owned()],
            flat,
            architectures: Vec::new(),
        }
    }

    #[test]
    fn urls_of_suites_and_flat_repositories() {
        assert_eq!(
            source(false, "jessie").dists_url("InRelease"),
            "http://example.org/debian/dists/jessie/InRelease"
        );
        assert_eq!(
            source(true, "./").dists_url("Packages.gz"),
            "http://example.org/debian/Packages.gz"
        );
        assert_eq!(
            source(true, "sub/").dists_url("InRelease"),
            "http://example.org/debian/sub/InRelease"
        );
    }

    #[test]
    fn deb_urls_join_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let fetcher = Fetcher::new(dir.path().to_path_buf(), true);
        let err = fetch_deb(
            &fetcher,
            "http://example.org/debian/",
            "/pool/a.deb",
            1,
            &[0; 32],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("http://example.org/debian/pool/a.deb"),
            "{err}"
        );
    }
}
