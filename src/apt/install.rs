//! The apt stage as one step: the profile's `[packages]` resolved against the base image's
//! own repositories and the profile's extra ones, every `.deb` downloaded and checked against
//! its verified index entry, unpacked into the tree and recorded in the image's dpkg
//! database; removals purged; the first-boot unit that configures the packages installed;
//! and the image's own apt configuration made to agree with the build.
//!
//! This is where the pieces meet; each piece (repository loading, resolution, unpacking,
//! the database) lives in its own module and knows nothing of the others.

use std::collections::BTreeMap;

use super::config::{ImageRepository, write_image_config};
use super::content::ContentStore;
use super::deb::{DebError, DebLimits, DebPackage};
use super::dpkg::{Database, DpkgError};
use super::firstboot::{FirstbootError, install_firstboot};
use super::repository::{LoadPolicy, LoadedRepository, RepositoryError, fetch_deb, load};
use super::resolver::{LockEntry, Origin, ResolveError, Universe, resolve};
use super::rewrite::Rewrites;
use super::source_set::{base_repositories, profile_repository};
use super::unpack::{UnpackError, unpack};
use crate::fetch::{FetchError, Fetcher};
use crate::profile::{Mirror, Profile, Source};
use crate::tree::{Timestamp, Tree};

/// What the lock file records of one repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryLock {
    /// The profile's name, or `base-N` for the base image's N-th source.
    pub name: String,
    /// Where it is.
    pub uri: String,
    /// Its suite.
    pub suite: String,
    /// SHA-256 of its signed Release file (InRelease, or Release), lowercase hex.
    pub release_sha256: String,
    /// The Release's `Date`, Unix seconds.
    pub date: Option<i64>,
}

/// What the apt stage did.
#[derive(Debug, Clone, Default)]
pub struct AptOutcome {
    /// Every unpacked package, for the lock file and the manifest, in name order.
    pub packages: Vec<LockEntry>,
    /// Every repository used, in apt's order.
    pub repositories: Vec<RepositoryLock>,
    /// Packages purged.
    pub removed: Vec<String>,
    /// Things accepted only because the profile allows them (expired or weakly signed
    /// suites), one sentence each.
    pub warnings: Vec<String>,
    /// The time every file written got, Unix seconds.
    pub epoch: i64,
}

/// Why the apt stage failed; each variant names what it was working on.
#[derive(Debug, thiserror::Error)]
pub enum AptError {
    /// A repository could not be configured, fetched or verified.
    #[error(transparent)]
    Repository(#[from] RepositoryError),
    /// The image's dpkg database is unreadable, or a package could not be recorded.
    #[error(transparent)]
    Dpkg(#[from] DpkgError),
    /// The request cannot be satisfied.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// A package could not be downloaded.
    #[error("package {package}: {source}")]
    Fetch {
        /// The package.
        package: String,
        /// What failed.
        source: FetchError,
    },
    /// A downloaded package is not a valid `.deb`.
    #[error(transparent)]
    Deb(#[from] DebError),
    /// A package could not be unpacked into the image.
    #[error(transparent)]
    Unpack(#[from] UnpackError),
    /// The first-boot unit could not be written.
    #[error(transparent)]
    Firstboot(#[from] FirstbootError),
    /// The packages resolved now are not the ones the lock records.
    #[error(
        "the packages no longer resolve as the lock records: {}; run `pi-imager lock` to update the lock",
        differences.join("; ")
    )]
    LockMismatch {
        /// Each difference, one sentence.
        differences: Vec<String>,
    },
    /// The image's apt configuration could not be written.
    #[error("the image's apt configuration: {0}")]
    Config(String),
}

/// What a lock pins of the apt stage; empty when there is no lock.
#[derive(Debug, Clone, Default)]
pub struct AptPins {
    /// For each repository (by its lock name), the SHA-256 of its signed Release.
    pub releases: BTreeMap<String, [u8; 32]>,
    /// The packages the lock records: the resolution must come out exactly so.
    pub packages: Option<Vec<LockEntry>>,
}

/// Where the build fetches each repository from: its own URI, or the profile's mirror for
/// it. Mirrors change where bytes come from, never which bytes: everything is still checked
/// against the signed metadata.
fn fetch_uri(uri: &str, mirrors: &[Mirror]) -> Result<String, AptError> {
    let Some(mirror) = mirrors.iter().find(|m| {
        let prefix = m.prefix.trim_end_matches('/');
        uri == prefix || uri.starts_with(&format!("{prefix}/"))
    }) else {
        return Ok(uri.to_owned());
    };
    let rest = &uri[mirror.prefix.trim_end_matches('/').len()..];
    let target = match &mirror.target {
        Source::Url(url) => url.as_str().trim_end_matches('/').to_owned(),
        Source::Path(path) => {
            let absolute = std::fs::canonicalize(path)
                .map_err(|e| AptError::Config(format!("mirror {}: {e}", path.display())))?;
            url::Url::from_directory_path(&absolute)
                .map_err(|()| {
                    AptError::Config(format!(
                        "mirror {} cannot be named by a file: URL",
                        absolute.display()
                    ))
                })?
                .as_str()
                .trim_end_matches('/')
                .to_owned()
        }
    };
    Ok(format!("{target}{rest}"))
}

/// Installs the profile's packages into `tree` (the base image's root). `now` is compared
/// with Releases' `Valid-Until`; every file written gets time `mtime`.
pub fn install(
    tree: &mut Tree,
    profile: &Profile,
    fetcher: &Fetcher,
    store: &ContentStore,
    now: i64,
    mtime: Timestamp,
) -> Result<AptOutcome, AptError> {
    install_pinned(
        tree,
        profile,
        fetcher,
        store,
        now,
        Epoch::Fixed(mtime),
        &AptPins::default(),
    )
}

/// The time the files the apt stage writes get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Epoch {
    /// This time (a lock's epoch, or the caller's).
    Fixed(Timestamp),
    /// The newest `Date` of the repositories' signed Releases, or `fallback` when none has
    /// one: a time that follows from the inputs, never from the build host's clock.
    NewestRelease {
        /// Unix seconds used when no Release is dated.
        fallback: i64,
    },
}

/// [`install`], held to a lock: each repository's signed Release must be the pinned one,
/// and the resolution must equal the locked package list.
pub fn install_pinned(
    tree: &mut Tree,
    profile: &Profile,
    fetcher: &Fetcher,
    store: &ContentStore,
    now: i64,
    epoch: Epoch,
    pins: &AptPins,
) -> Result<AptOutcome, AptError> {
    let base = profile.base();
    let rewrites = Rewrites::new(
        base.rewrite_sources
            .iter()
            .map(|(from, to)| (from.as_str(), to.as_str())),
    );
    let mut configured = base_repositories(tree, &rewrites)?;
    for repo in &mut configured {
        repo.policy = LoadPolicy {
            accept_expired: base.accept_expired,
            allow_weak: base.allow_weak_signatures,
            pinned: None,
        };
    }
    let base_count = configured.len();
    for repo in profile.repositories() {
        configured.push(profile_repository(repo, fetcher)?);
    }
    let names: Vec<String> = configured
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if i < base_count {
                format!("base-{i}")
            } else {
                c.source.name.clone()
            }
        })
        .collect();
    // The lock and the image name repositories by their own URIs; only fetching uses the
    // mirrors.
    let original_uris: Vec<String> = configured.iter().map(|c| c.source.uri.clone()).collect();
    for (repo, name) in configured.iter_mut().zip(&names) {
        repo.source.uri = fetch_uri(&repo.source.uri, profile.mirrors())?;
        repo.policy.pinned = pins.releases.get(name).copied();
    }
    let mut db = Database::read(tree)?;
    let arch = db.arch().to_string();
    let mut loaded: Vec<LoadedRepository> = Vec::with_capacity(configured.len());
    for repo in &configured {
        loaded.push(load(
            fetcher,
            &repo.source,
            &repo.keyring,
            &arch,
            repo.policy,
            now,
        )?);
    }
    let mtime = match epoch {
        Epoch::Fixed(mtime) => mtime,
        Epoch::NewestRelease { fallback } => Timestamp::from_secs(
            loaded
                .iter()
                .filter_map(|l| l.date)
                .max()
                .unwrap_or(fallback),
        ),
    };
    db.set_mtime(mtime);
    let mut outcome = AptOutcome::default();
    let origins = loaded
        .iter()
        .zip(&configured)
        .zip(&names)
        .map(|((l, c), name)| Origin {
            name: name.clone(),
            suite: l.release.suite.clone(),
            codename: l.release.codename.clone(),
            priority: i32::from(c.priority),
            indexes: l.indexes.iter().map(|i| i.index.clone()).collect(),
        })
        .collect();
    for ((l, name), uri) in loaded.iter().zip(&names).zip(&original_uris) {
        outcome.warnings.extend(l.warnings.iter().cloned());
        outcome.repositories.push(RepositoryLock {
            name: name.clone(),
            uri: uri.clone(),
            suite: l.source.suite.clone(),
            release_sha256: hex(&l.release_sha256),
            date: l.date,
        });
    }
    let universe = Universe::new(&arch, origins, db.status().clone());
    let resolution = resolve(&universe, profile.packages())?;
    if let Some(locked) = &pins.packages {
        check_locked(locked, &resolution.lock())?;
    }
    for package in &resolution.unpack {
        // Every origin the resolver names is one of ours: it only knows the ones built above.
        let uri = names
            .iter()
            .zip(&configured)
            .find(|(name, _)| **name == package.origin)
            .map_or("", |(_, c)| c.source.uri.as_str());
        let path = fetch_deb(
            fetcher,
            uri,
            &package.filename,
            package.size,
            &package.sha256,
        )
        .map_err(|source| AptError::Fetch {
            package: format!("{} {}", package.name, package.version),
            source,
        })?;
        let deb = DebPackage::open(&path, store, &DebLimits::default())?;
        let old = db.installed_files(tree, &deb)?;
        // `name:arch` for Multi-Arch: same packages, as dpkg names their info files.
        let info_name = db.info_name(&deb)?;
        let unpacked = {
            let owned = |p: &crate::tree::TreePath| db.owned_by_other(&info_name, p);
            unpack(tree, &deb, old.as_ref(), db.diversions(), &owned)?
        };
        db.record_unpacked(tree, &deb, &unpacked)?;
    }
    for removal in &resolution.remove {
        db.purge(tree, &removal.name)?;
        outcome.removed.push(removal.name.clone());
    }
    install_firstboot(tree, db.pending_preinst(), mtime)?;
    db.write(tree)?;
    let extra: Vec<ImageRepository<'_>> = profile
        .repositories()
        .iter()
        .zip(&configured[base_count..])
        .zip(&loaded[base_count..])
        .map(|((repo, c), l)| ImageRepository {
            repo,
            key: &c.key,
            release: &l.release,
        })
        .collect();
    write_image_config(tree, &rewrites, &extra, mtime).map_err(AptError::Config)?;
    outcome.packages = resolution.lock();
    outcome.epoch = mtime.secs;
    Ok(outcome)
}

/// The resolution must be the locked one; the error lists what differs.
fn check_locked(locked: &[LockEntry], resolved: &[LockEntry]) -> Result<(), AptError> {
    if locked == resolved {
        return Ok(());
    }
    let describe = |e: &LockEntry| format!("{} {} ({})", e.name, e.version, e.architecture);
    let mut differences: Vec<String> = locked
        .iter()
        .filter(|e| !resolved.contains(e))
        .map(|e| format!("locked {} is not chosen now", describe(e)))
        .collect();
    differences.extend(
        resolved
            .iter()
            .filter(|e| !locked.contains(e))
            .map(|e| format!("{} is chosen but not in the lock", describe(e))),
    );
    Err(AptError::LockMismatch { differences })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
