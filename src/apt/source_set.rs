//! Which repositories a build reads, and the keys each is verified with: the base image's
//! own apt sources (read from its tree, never from the build host, with the profile's
//! `rewrite_sources` applied) and the profile's `[[repository]]` entries.
//!
//! The base's sources are verified as apt on the node would: by their `Signed-By` keyring
//! (looked up inside the image, or written inline), else by the image's `trusted.gpg` and
//! `trusted.gpg.d/`. A source marked `trusted=yes` is refused. This module loads nothing
//! from the repositories themselves (see [`super::repository`]).

use super::keyring::{Keyring, MAX_KEYRING_BYTES, is_keyring_file_name};
use super::repository::{LoadPolicy, RepositoryError, RepositorySource};
use super::rewrite::Rewrites;
use super::sources::{self, SignedBy, SourceEntry, SourcesFormat};
use crate::fetch::Fetcher;
use crate::profile::{Repository, RepositoryKey};
use crate::tree::{Kind, Tree, TreeError, TreePath};

/// The largest sources list read from the image.
const MAX_LIST_BYTES: u64 = 4 * 1024 * 1024;

/// The base's suites' pin priority, as apt gives a suite without pins.
pub const BASE_PRIORITY: i16 = 500;

/// A repository, the keys that verify it, and what it tolerates.
#[derive(Debug, Clone)]
pub struct ConfiguredRepository {
    /// Where it is.
    pub source: RepositorySource,
    /// The keys its Release must be signed by.
    pub keyring: Keyring,
    /// What it tolerates.
    pub policy: LoadPolicy,
    /// Its apt pin priority.
    pub priority: i16,
    /// The key as obtained, for the image's own apt configuration: the profile's key file
    /// or the fetched key; empty for the base's own sources, whose keys are in the image.
    pub key: Vec<u8>,
}

/// The base image's `deb` sources from `/etc/apt/sources.list` and
/// `/etc/apt/sources.list.d/*.list|*.sources`, in apt's order, with `rewrites` applied.
pub fn base_repositories(
    tree: &Tree,
    rewrites: &Rewrites,
) -> Result<Vec<ConfiguredRepository>, RepositoryError> {
    let mut entries = Vec::new();
    if let Some(text) = read_text(tree, "/etc/apt/sources.list", MAX_LIST_BYTES)? {
        entries.extend(sources::parse(
            &text,
            "/etc/apt/sources.list",
            SourcesFormat::OneLine,
        )?);
    }
    for (name, path) in list_dir(tree, "/etc/apt/sources.list.d")? {
        let Some(format) = SourcesFormat::from_file_name(&name) else {
            continue;
        };
        if let Some(text) = read_text(tree, &path, MAX_LIST_BYTES)? {
            entries.extend(sources::parse(&text, &path, format)?);
        }
    }
    rewrites.apply_to(&mut entries);
    let mut default_keyring: Option<Keyring> = None;
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        if entry.trusted {
            return Err(RepositoryError::Trusted {
                file: entry.origin_file,
                line: entry.line,
                uri: entry.uri,
            });
        }
        let name = format!(
            "base: {} {} ({}, line {})",
            entry.uri, entry.suite, entry.origin_file, entry.line
        );
        let keyring = match &entry.signed_by {
            Some(signed_by) => signed_by_keyring(tree, &entry, signed_by, &name)?,
            None => match &default_keyring {
                Some(ring) => ring.clone(),
                None => {
                    let ring = image_keyring(tree, &name)?;
                    default_keyring = Some(ring.clone());
                    ring
                }
            },
        };
        out.push(ConfiguredRepository {
            source: RepositorySource {
                name,
                uri: entry.uri.trim_end_matches('/').to_owned(),
                suite: entry.suite.clone(),
                components: entry.components.clone(),
                flat: entry.flat,
                architectures: entry.architectures.clone(),
            },
            keyring,
            policy: LoadPolicy::default(),
            priority: BASE_PRIORITY,
            key: Vec::new(),
        });
    }
    Ok(out)
}

/// A profile `[[repository]]` with its key: a file (its path already resolved against the
/// profile's folder by validation), or a download accepted only with the pinned fingerprint.
pub fn profile_repository(
    repo: &Repository,
    fetcher: &Fetcher,
) -> Result<ConfiguredRepository, RepositoryError> {
    let keyring_err = |source| RepositoryError::Keyring {
        repo: repo.name.clone(),
        source: Box::new(source),
    };
    let (keyring, key) = match &repo.key {
        RepositoryKey::File(path) => {
            let bytes = std::fs::read(path).map_err(|source| RepositoryError::KeyFile {
                repo: repo.name.clone(),
                path: path.clone(),
                source,
            })?;
            (
                Keyring::from_bytes(&bytes, &path.display().to_string()).map_err(keyring_err)?,
                bytes,
            )
        }
        RepositoryKey::Url { url, fingerprint } => {
            let fetch_err = |source| RepositoryError::Fetch {
                repo: repo.name.clone(),
                source,
            };
            let bytes = fetcher
                .fetch_unverified(url.as_str(), MAX_KEYRING_BYTES as u64)
                .map_err(fetch_err)?;
            let ring = Keyring::from_fetched(&bytes, fingerprint.as_str()).map_err(keyring_err)?;
            fetcher
                .store_verified(Some(url.as_str()), &bytes)
                .map_err(fetch_err)?;
            (ring, bytes)
        }
    };
    Ok(ConfiguredRepository {
        source: RepositorySource {
            name: repo.name.clone(),
            uri: repo.uri.as_str().trim_end_matches('/').to_owned(),
            suite: repo.suite.clone(),
            components: repo.components.clone(),
            flat: repo.suite.ends_with('/'),
            architectures: Vec::new(),
        },
        keyring,
        policy: LoadPolicy {
            accept_expired: repo.accept_expired,
            allow_weak: repo.allow_weak_signatures,
            pinned: None,
        },
        priority: repo.priority,
        key,
    })
}

fn signed_by_keyring(
    tree: &Tree,
    entry: &SourceEntry,
    signed_by: &SignedBy,
    name: &str,
) -> Result<Keyring, RepositoryError> {
    let keyring_err = |source| RepositoryError::Keyring {
        repo: name.to_owned(),
        source: Box::new(source),
    };
    match signed_by {
        SignedBy::Inline(block) => {
            let origin = format!(
                "the Signed-By of {}, line {}",
                entry.origin_file, entry.line
            );
            Keyring::from_signed_by_field(block, &origin).map_err(keyring_err)
        }
        SignedBy::Path(value) => {
            let mut ring = Keyring::new();
            for item in value
                .split([',', ' ', '\t', '\n'])
                .filter(|s| !s.is_empty())
            {
                if !item.starts_with('/') {
                    return Err(RepositoryError::SignedByFingerprint {
                        file: entry.origin_file.clone(),
                        line: entry.line,
                        value: value.clone(),
                    });
                }
                let bytes = read_file(tree, item, MAX_KEYRING_BYTES as u64)?.ok_or_else(|| {
                    RepositoryError::Tree {
                        path: item.to_owned(),
                        source: TreeError::NotFound {
                            path: item.to_owned(),
                        },
                    }
                })?;
                let origin = format!("{item} in the base image");
                ring.merge(Keyring::from_bytes(&bytes, &origin).map_err(keyring_err)?);
            }
            Ok(ring)
        }
    }
}

/// `/etc/apt/trusted.gpg` and `/etc/apt/trusted.gpg.d/*.{gpg,asc}` of the image; empty files
/// are skipped, as apt skips them.
fn image_keyring(tree: &Tree, name: &str) -> Result<Keyring, RepositoryError> {
    let mut paths = vec!["/etc/apt/trusted.gpg".to_owned()];
    for (file, path) in list_dir(tree, "/etc/apt/trusted.gpg.d")? {
        if is_keyring_file_name(&file) {
            paths.push(path);
        }
    }
    let mut ring = Keyring::new();
    for path in paths {
        let Some(bytes) = read_file(tree, &path, MAX_KEYRING_BYTES as u64)? else {
            continue;
        };
        if bytes.is_empty() {
            continue;
        }
        let origin = format!("{path} in the base image");
        ring.merge(Keyring::from_bytes(&bytes, &origin).map_err(|source| {
            RepositoryError::Keyring {
                repo: name.to_owned(),
                source: Box::new(source),
            }
        })?);
    }
    Ok(ring)
}

fn tree_path(path: &str) -> Result<TreePath, RepositoryError> {
    TreePath::parse(path).map_err(|source| RepositoryError::Tree {
        path: path.to_owned(),
        source,
    })
}

/// The regular file at `path` in the image (through its symlinks), or `None` if absent.
fn read_file(tree: &Tree, path: &str, limit: u64) -> Result<Option<Vec<u8>>, RepositoryError> {
    let inode = match tree.lookup(&tree_path(path)?) {
        Ok(inode) => inode,
        Err(TreeError::NotFound { .. }) => return Ok(None),
        Err(source) => {
            return Err(RepositoryError::Tree {
                path: path.to_owned(),
                source,
            });
        }
    };
    let Kind::File { size, content } = &inode.kind else {
        return Err(RepositoryError::ImageFile {
            path: path.to_owned(),
            reason: "it is not a regular file".to_owned(),
        });
    };
    content
        .read_to_vec(*size, limit)
        .map(Some)
        .map_err(|err| RepositoryError::ImageFile {
            path: path.to_owned(),
            reason: err.to_string(),
        })
}

fn read_text(tree: &Tree, path: &str, limit: u64) -> Result<Option<String>, RepositoryError> {
    match read_file(tree, path, limit)? {
        None => Ok(None),
        Some(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| RepositoryError::ImageFile {
                path: path.to_owned(),
                reason: "it is not UTF-8 text".to_owned(),
            }),
    }
}

/// The (name, path) of each entry of the image directory `dir`, in name order; nothing if
/// it does not exist.
fn list_dir(tree: &Tree, dir: &str) -> Result<Vec<(String, String)>, RepositoryError> {
    let path = tree_path(dir)?;
    let resolved = tree
        .resolve(&path, true)
        .map_err(|source| RepositoryError::Tree {
            path: dir.to_owned(),
            source,
        })?;
    if !tree.get(&resolved).is_some_and(|inode| inode.is_dir()) {
        return Ok(Vec::new());
    }
    Ok(tree
        .children(&resolved)
        .filter_map(|(child, _)| {
            let name = std::str::from_utf8(child.file_name()?).ok()?.to_owned();
            let path = format!("{}/{name}", dir.trim_end_matches('/'));
            Some((name, path))
        })
        .collect())
}
