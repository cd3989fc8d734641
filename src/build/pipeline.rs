//! `build` and `lock` as the sequence of their stages.
//!
//! Each stage is a function that takes what the previous ones produced and returns a value;
//! the only shared state is the output folder being staged. Nothing is written at an output's
//! final name until every node of the build has succeeded.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::digest::{inputs_digest, profile_digest, trees_digest};
use super::ids::NodeIds;
use super::lock::{LOCK_VERSION, Lock, LockError, LockedBase, LockedRepository};
use super::output::{OutputError, Outputs, sha256sums};
use super::progress::{Reporter, human_bytes};
use crate::apt::content::ContentStore;
use crate::apt::install::{AptError, AptOutcome, AptPins, Epoch, install_pinned};
use crate::apt::release::parse_sha256 as parse_hex32;
use crate::base::{BaseError, BaseImage, BaseSourceError, FetchedBase, fetch_base_pinned};
use crate::fetch::{Expected, FetchError, Fetcher, hash_file, hex};
use crate::image::bmap::{Bmap, BmapError};
use crate::image::compress::{self, CompressError};
use crate::image::disk::{BootSpec, DiskError, DiskSpec, TableSpec, write_disk};
use crate::image::mke2fs::{Ext4Params, FsUuid, Mke2fsError, check_version, write_ext4};
use crate::manifest::{
    BuildFacts, Checksum, InputDigest, InputKind, LockRef, Manifest, ManifestError,
    OutputFile as OutputRecord, PackageRecord, Written,
};
use crate::node::{self, DiskIds, NodeContext, NodeError, NodeInputs};
use crate::profile::{
    self, Compression, Device, Generation, Mount, Node, PartitionTable, Profile, ProfileError,
    Source,
};
use crate::tree::{Timestamp, Tree};

/// What to build and how.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The profile file.
    pub profile: PathBuf,
    /// Build only this node.
    pub node: Option<String>,
    /// The output folder.
    pub out: PathBuf,
    /// Use exactly the lock's inputs; refuse a profile that no longer matches it.
    pub locked: bool,
    /// Use the download cache only.
    pub offline: bool,
    /// The download cache (default: the XDG cache folder).
    pub cache: Option<PathBuf>,
}

/// One file a build wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    /// Its final path.
    pub path: PathBuf,
    /// Its length.
    pub size: u64,
    /// Its SHA-256.
    pub sha256: [u8; 32],
}

/// What a build wrote for one node.
#[derive(Debug, Clone)]
pub struct NodeReport {
    /// The node's name.
    pub node: String,
    /// The files written for it, the raw image first.
    pub outputs: Vec<OutputFile>,
    /// Decisions printed at build time (such as PHP-FPM sizing).
    pub notes: Vec<String>,
}

/// What a build did.
#[derive(Debug, Clone)]
pub struct BuildReport {
    /// The lock file.
    pub lock: PathBuf,
    /// Whether the lock was written (new or changed).
    pub lock_written: bool,
    /// The lock's epoch.
    pub epoch: i64,
    /// Each node built.
    pub nodes: Vec<NodeReport>,
    /// The `SHA256SUMS` file.
    pub sha256sums: Option<PathBuf>,
}

/// Why a build failed. Each variant names what it was working on.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The profile is not valid.
    #[error(transparent)]
    Profile(#[from] ProfileError),
    /// `--node` names no node of the profile.
    #[error("the profile has no node `{node}`; its nodes are: {known}")]
    UnknownNode {
        /// The name asked for.
        node: String,
        /// The profile's nodes.
        known: String,
    },
    /// The lock file is unreadable.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// `--locked` and the profile or an input no longer matches the lock.
    #[error("{}: {reason}; run `pi-imager lock {}` to update it, or build without --locked", lock.display(), profile.display())]
    NotLocked {
        /// The lock file.
        lock: PathBuf,
        /// The profile.
        profile: PathBuf,
        /// What does not match.
        reason: String,
    },
    /// No download cache folder could be chosen.
    #[error("no cache folder: set XDG_CACHE_HOME or HOME, or pass --cache DIR")]
    NoCache,
    /// An input could not be downloaded.
    #[error("{what}: {source}")]
    Fetch {
        /// The input.
        what: String,
        /// What failed.
        source: FetchError,
    },
    /// A local input is unusable.
    #[error("{}: {reason}", path.display())]
    Input {
        /// The file or folder.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The base image could not be fetched or unpacked.
    #[error(transparent)]
    BaseSource(#[from] BaseSourceError),
    /// The base image could not be read.
    #[error(transparent)]
    Base(#[from] BaseError),
    /// The packages could not be installed.
    #[error(transparent)]
    Apt(#[from] AptError),
    /// A node setting could not be written.
    #[error("node {node}: {source}")]
    Node {
        /// The node.
        node: String,
        /// What failed.
        source: Box<NodeError>,
    },
    /// e2fsprogs is missing or too old, or a drive image could not be written.
    #[error(transparent)]
    Ext4(#[from] Mke2fsError),
    /// The card image could not be written.
    #[error("{}: {source}", path.display())]
    Disk {
        /// The image being written.
        path: PathBuf,
        /// What failed.
        source: DiskError,
    },
    /// The block map could not be made.
    #[error(transparent)]
    Bmap(#[from] BmapError),
    /// The compressed image could not be written.
    #[error(transparent)]
    Compress(#[from] CompressError),
    /// The manifest could not be made.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The output folder could not be written.
    #[error(transparent)]
    Output(#[from] OutputError),
}

impl BuildError {
    /// Whether the error is the user's input (exit code 2) rather than a failed operation.
    pub fn is_usage(&self) -> bool {
        matches!(self, Self::Profile(_) | Self::UnknownNode { .. })
    }
}

fn io_input(path: &Path) -> impl FnOnce(std::io::Error) -> BuildError + '_ {
    move |e| BuildError::Input {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// The profile as loaded, with its digests.
struct Loaded {
    profile: Profile,
    path: PathBuf,
    digest: [u8; 32],
    inputs: [u8; 32],
}

fn load_profile(path: &Path, reporter: &Reporter) -> Result<Loaded, BuildError> {
    let loaded = profile::load(path)?;
    for warning in &loaded.warnings {
        reporter.warning(&warning.render(path));
    }
    // The file was just read and parsed, so it is readable TOML.
    let text = std::fs::read_to_string(path).map_err(io_input(path))?;
    let bad = |e: toml::de::Error| BuildError::Input {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    Ok(Loaded {
        digest: profile_digest(&text).map_err(bad)?,
        inputs: inputs_digest(&text).map_err(bad)?,
        profile: loaded.profile,
        path: path.to_path_buf(),
    })
}

fn select_nodes<'p>(profile: &'p Profile, only: Option<&str>) -> Result<Vec<&'p Node>, BuildError> {
    let all: Vec<&Node> = profile.nodes().iter().collect();
    let Some(only) = only else {
        return Ok(all);
    };
    let chosen: Vec<&Node> = all.iter().copied().filter(|n| n.name == only).collect();
    if chosen.is_empty() {
        return Err(BuildError::UnknownNode {
            node: only.to_owned(),
            known: all
                .iter()
                .map(|n| n.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    Ok(chosen)
}

/// How an existing lock is used.
enum Pinning {
    /// No usable lock: resolve afresh (a base digest may still be pinned, with the digest
    /// of what it unpacks to when an earlier lock of the same base recorded it).
    Fresh {
        base: Option<[u8; 32]>,
        unpacked: Option<[u8; 32]>,
    },
    /// Use the lock's inputs.
    Locked(Lock),
}

fn base_source_text(profile: &Profile) -> String {
    match &profile.base().source {
        Source::Url(url) => url.to_string(),
        Source::Path(path) => relative_to_profile(profile, path),
    }
}

fn profile_base_pin(profile: &Profile) -> Option<[u8; 32]> {
    profile
        .base()
        .sha256
        .as_ref()
        .and_then(|h| parse_hex32(h.as_str()))
}

fn choose_pinning(
    loaded: &Loaded,
    existing: Option<Lock>,
    locked: bool,
    lock_path: &Path,
    reporter: &Reporter,
) -> Result<Pinning, BuildError> {
    let not_locked = |reason: String| BuildError::NotLocked {
        lock: lock_path.to_path_buf(),
        profile: loaded.path.clone(),
        reason,
    };
    let profile_pin = profile_base_pin(&loaded.profile);
    let Some(lock) = existing else {
        if locked {
            return Err(not_locked("there is no lock file".to_owned()));
        }
        return Ok(fresh_pinning(loaded, None));
    };
    let lock_base = parse_hex32(&lock.base.sha256);
    let same_base_source = lock.base.source == base_source_text(&loaded.profile);
    let base_agrees = profile_pin.is_none_or(|pin| Some(pin) == lock_base);
    if lock.inputs_sha256 == hex(&loaded.inputs) && base_agrees && same_base_source {
        return Ok(Pinning::Locked(lock));
    }
    if locked {
        let reason = if !base_agrees {
            "the profile's base.sha256 differs from the locked base digest".to_owned()
        } else {
            "the profile's base, repositories or packages changed since the lock was written"
                .to_owned()
        };
        return Err(not_locked(reason));
    }
    reporter.step(&format!(
        "the profile's inputs changed since {} was written: resolving again",
        lock_path.display()
    ));
    Ok(fresh_pinning(loaded, Some(&lock)))
}

/// Pins for resolving afresh: the profile's base digest, else the one an existing lock of
/// the same base source records; and that lock's digest of the unpacked image when the
/// base is the very file it recorded, so the cached image can still be checked.
fn fresh_pinning(loaded: &Loaded, existing: Option<&Lock>) -> Pinning {
    let lock = existing.filter(|l| l.base.source == base_source_text(&loaded.profile));
    let lock_base = lock.and_then(|l| parse_hex32(&l.base.sha256));
    let base = profile_base_pin(&loaded.profile).or(lock_base);
    let unpacked = lock
        .and_then(|l| l.base.image_sha256.as_deref())
        .and_then(parse_hex32)
        .filter(|_| base.is_some() && base == lock_base);
    Pinning::Fresh { base, unpacked }
}

fn make_fetcher(
    opts: &BuildOptions,
    reporter: &std::sync::Arc<Reporter>,
) -> Result<Fetcher, BuildError> {
    let cache = match &opts.cache {
        Some(dir) => dir.clone(),
        None => Fetcher::default_cache_dir().ok_or(BuildError::NoCache)?,
    };
    let progress = std::sync::Arc::clone(reporter);
    Ok(
        Fetcher::new(cache, opts.offline).with_progress(Box::new(move |url, got, total| {
            progress.download(url, got, total);
        })),
    )
}

/// The inputs besides packages, fetched and checked.
struct Inputs {
    base: FetchedBase,
    server: Option<(PathBuf, [u8; 32])>,
    overlays: Option<[u8; 32]>,
}

fn fetch_inputs(
    loaded: &Loaded,
    fetcher: &Fetcher,
    pinning: &Pinning,
    locked: bool,
    lock_path: &Path,
    reporter: &Reporter,
) -> Result<Inputs, BuildError> {
    let profile = &loaded.profile;
    let lock = match pinning {
        Pinning::Locked(lock) => Some(lock),
        Pinning::Fresh { .. } => None,
    };
    let (base_pin, unpacked_pin) = match pinning {
        Pinning::Locked(lock) => (
            parse_hex32(&lock.base.sha256),
            lock.base.image_sha256.as_deref().and_then(parse_hex32),
        ),
        Pinning::Fresh { base, unpacked } => (*base, *unpacked),
    };
    reporter.step(&format!("base image {}", base_source_text(profile)));
    let base = fetch_base_pinned(fetcher, &profile.base().source, base_pin, unpacked_pin)?;
    if base.newly_pinned {
        reporter.step(&format!(
            "pinned the base image's sha256 {} in {}",
            hex(&base.download_sha256),
            lock_path.display()
        ));
    }
    let server = match profile.server() {
        None => None,
        Some(server) => Some(fetch_server(server, fetcher)?),
    };
    let overlays = if profile.overlays().is_empty() {
        None
    } else {
        let roots: Vec<&Path> = profile.overlays().iter().map(PathBuf::as_path).collect();
        let first = roots.first().copied().unwrap_or(Path::new(""));
        Some(trees_digest(&roots).map_err(io_input(first))?)
    };
    if locked && let Some(lock) = lock {
        let not_locked = |reason: String| BuildError::NotLocked {
            lock: lock_path.to_path_buf(),
            profile: loaded.path.clone(),
            reason,
        };
        if lock.server_sha256 != server.as_ref().map(|(_, d)| hex(d)) {
            return Err(not_locked(
                "the server binary is not the one the lock records".to_owned(),
            ));
        }
        if lock.overlays_sha256 != overlays.as_ref().map(hex) {
            return Err(not_locked(
                "the overlays' contents are not the ones the lock records".to_owned(),
            ));
        }
    }
    Ok(Inputs {
        base,
        server,
        overlays,
    })
}

fn fetch_server(
    server: &crate::profile::Server,
    fetcher: &Fetcher,
) -> Result<(PathBuf, [u8; 32]), BuildError> {
    let pinned = server.sha256.as_ref().and_then(|h| parse_hex32(h.as_str()));
    match &server.source {
        Source::Path(path) => {
            let (digest, _) = hash_file(path).map_err(io_input(path))?;
            if let Some(pinned) = pinned
                && pinned != digest
            {
                return Err(BuildError::Input {
                    path: path.clone(),
                    reason: format!(
                        "its sha256 is {}, but the profile's server.sha256 is {}",
                        hex(&digest),
                        hex(&pinned)
                    ),
                });
            }
            Ok((path.clone(), digest))
        }
        Source::Url(url) => {
            // Validation requires a digest for a URL.
            let sha256 = pinned.unwrap_or_default();
            let path = fetcher
                .fetch_verified(url.as_str(), &Expected { sha256, size: None })
                .map_err(|source| BuildError::Fetch {
                    what: "server binary".to_owned(),
                    source,
                })?;
            Ok((path, sha256))
        }
    }
}

/// The fleet's shared root: the base's root with the packages installed.
struct Shared {
    root: Tree,
    apt: AptOutcome,
}

fn newest_mtime(tree: &Tree) -> i64 {
    tree.iter()
        .map(|(_, _, inode)| inode.mtime.secs)
        .max()
        .unwrap_or(0)
}

fn assemble_shared_root(
    profile: &Profile,
    base: &BaseImage,
    fetcher: &Fetcher,
    pinning: &Pinning,
    reporter: &Reporter,
) -> Result<Shared, BuildError> {
    let mut root = base.root.tree.clone();
    let (epoch, pins) = match pinning {
        Pinning::Locked(lock) => (
            Epoch::Fixed(Timestamp::from_secs(lock.epoch)),
            AptPins {
                releases: lock.release_pins(),
                packages: Some(lock.packages.clone()),
            },
        ),
        Pinning::Fresh { .. } => {
            let epoch = match source_date_epoch() {
                Some(secs) => Epoch::Fixed(Timestamp::from_secs(secs)),
                None => Epoch::NewestRelease {
                    fallback: newest_mtime(&base.root.tree),
                },
            };
            (epoch, AptPins::default())
        }
    };
    let store = ContentStore::new(fetcher.cache_dir().join("deb-content"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    reporter.step("packages: loading repositories, resolving, unpacking");
    let apt = install_pinned(&mut root, profile, fetcher, &store, now, epoch, &pins)?;
    for warning in &apt.warnings {
        reporter.warning(warning);
    }
    reporter.step(&format!(
        "packages: {} unpacked, {} removed",
        apt.packages.len(),
        apt.removed.len()
    ));
    Ok(Shared { root, apt })
}

/// `SOURCE_DATE_EPOCH`, the reproducible-builds convention for "the time of this build",
/// when a first build (with no lock yet) should use a chosen time.
fn source_date_epoch() -> Option<i64> {
    std::env::var("SOURCE_DATE_EPOCH").ok()?.trim().parse().ok()
}

/// Everything a node's build reads that all nodes share.
struct Fleet<'a> {
    loaded: &'a Loaded,
    base: &'a BaseImage,
    generation: Generation,
    shared: &'a Shared,
    inputs: &'a Inputs,
    lock_ref: Option<LockRef>,
    epoch: i64,
}

fn disk_ids(ids: &NodeIds, table: PartitionTable) -> (TableSpec, DiskIds) {
    match table {
        PartitionTable::Mbr => (
            TableSpec::Mbr {
                disk_id: ids.disk_id,
            },
            DiskIds {
                boot: format!("PARTUUID={:08x}-01", ids.disk_id),
                root: format!("PARTUUID={:08x}-02", ids.disk_id),
            },
        ),
        PartitionTable::Gpt => (
            TableSpec::Gpt {
                disk: ids.disk_guid,
                boot: ids.boot_guid,
                root: ids.root_guid,
            },
            DiskIds {
                boot: format!("PARTUUID={}", ids.boot_guid),
                root: format!("PARTUUID={}", ids.root_guid),
            },
        ),
    }
}

fn build_node(
    fleet: &Fleet<'_>,
    node: &Node,
    outputs: &mut Outputs,
    reporter: &Reporter,
) -> Result<NodeReport, BuildError> {
    let profile = &fleet.loaded.profile;
    let name = format!("{}-{}", profile.image().name, node.name);
    reporter.step(&format!("node {}: settings", node.name));
    let ids = NodeIds::derive(&fleet.loaded.digest, &node.name);
    let (table, partition_ids) = disk_ids(&ids, node.partition_table);
    let mut root = fleet.shared.root.clone();
    let mut boot = fleet.base.boot.tree.clone();
    let ctx = NodeContext {
        profile,
        node,
        generation: fleet.generation,
        ids: &partition_ids,
        mtime: Timestamp::from_secs(fleet.epoch),
    };
    let node_inputs = NodeInputs {
        server_binary: fleet.inputs.server.as_ref().map(|(p, _)| p.clone()),
    };
    let settings = node::apply(&mut root, &mut boot, &ctx, &node_inputs).map_err(|source| {
        BuildError::Node {
            node: node.name.clone(),
            source: Box::new(source),
        }
    })?;
    for note in &settings.notes {
        reporter.step(&format!("node {}: {note}", node.name));
    }

    reporter.step(&format!("node {}: writing {name}.img", node.name));
    let image = outputs.stage(&format!("{name}.img"))?;
    let base = fleet.base;
    let boot_size = profile
        .image()
        .boot_size
        .map_or(base.boot.partition.size, |s| s.bytes());
    let spec = DiskSpec {
        size: node.card_size.bytes(),
        table,
        boot: BootSpec {
            start: base.boot.partition.start,
            size: boot_size,
            label: base
                .boot
                .label
                .clone()
                .unwrap_or_else(|| "bootfs".to_owned()),
            volume_id: ids.volume_id,
            timestamp: fleet.epoch,
        },
        root: Ext4Params::like(
            &base.root.superblock,
            ids.root_uuid,
            ids.hash_seed,
            fleet.epoch,
        ),
    };
    let disk = write_disk(&image, &spec, &boot, &root).map_err(|source| BuildError::Disk {
        path: image.clone(),
        source,
    })?;
    let bmap = Bmap::from_image(&image)?;
    let mut extra: Vec<OutputRecord> = Vec::new();
    extra.push(write_text(
        outputs,
        &format!("{name}.img.bmap"),
        &bmap.to_xml(),
    )?);
    if let Some((kind, suffix)) = match profile.image().compression {
        Compression::None => None,
        Compression::Gz => Some((compress::Kind::Gz, "gz")),
        Compression::Xz => Some((compress::Kind::Xz, "xz")),
    } {
        reporter.step(&format!(
            "node {}: compressing {name}.img.{suffix}",
            node.name
        ));
        let file_name = format!("{name}.img.{suffix}");
        let out = outputs.stage(&file_name)?;
        // The compressor hashes what it writes: no second read of the file.
        let report = compress::compress(&image, &out, kind, compression_threads())?;
        extra.push(OutputRecord {
            name: file_name,
            size: report.bytes_out,
            sha256: Checksum(report.sha256_out),
        });
    }
    for mount in profile.mounts() {
        if let Some(path) = write_drive(fleet, node, mount, &name, outputs, reporter)? {
            extra.push(record(&path)?);
        }
    }

    reporter.step(&format!("node {}: manifest", node.name));
    let facts = BuildFacts {
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        profile: fleet
            .loaded
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        profile_digest: Checksum(fleet.loaded.digest),
        node: node.name.clone(),
        hostname: node.hostname.clone(),
        board: node.board.to_string(),
        generation: fleet.generation.to_string(),
        lock: fleet.lock_ref.clone(),
        epoch: fleet.epoch,
        inputs: input_digests(fleet),
        packages: fleet
            .shared
            .apt
            .packages
            .iter()
            .map(|p| PackageRecord {
                name: p.name.clone(),
                version: p.version.clone(),
                architecture: p.architecture.clone(),
                repository: p.repository.clone(),
                filename: p.filename.clone(),
                sha256: Checksum(parse_hex32(&p.sha256).unwrap_or_default()),
            })
            .collect(),
        removed: fleet.shared.apt.removed.clone(),
        written: Written {
            root: changed_since(&fleet.base.root.tree, &root, &settings.root),
            boot: changed_since(&fleet.base.boot.tree, &boot, &settings.boot),
        },
        notes: settings.notes.clone(),
        outputs: extra.clone(),
    };
    let manifest = Manifest::describe(&image, &bmap, facts)?;
    let manifest_file = write_text(
        outputs,
        &format!("{name}.manifest.json"),
        &manifest.to_json(),
    )?;
    let files = std::iter::once(OutputRecord {
        name: format!("{name}.img"),
        size: disk.layout.size,
        sha256: manifest.image.sha256,
    })
    .chain(extra)
    .chain(std::iter::once(manifest_file))
    .map(|r| OutputFile {
        path: outputs.dir().join(&r.name),
        size: r.size,
        sha256: r.sha256.0,
    })
    .collect();
    Ok(NodeReport {
        node: node.name.clone(),
        outputs: files,
        notes: settings.notes,
    })
}

fn compression_threads() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| u32::try_from(n.get()).unwrap_or(1))
}

/// Every path the build wrote or changed, whatever stage did it (packages, apt
/// configuration, node settings, overlays): what differs from the base, plus the paths the
/// node stage removed.
fn changed_since(
    base: &Tree,
    now: &Tree,
    removed_or_written: &std::collections::BTreeSet<crate::tree::TreePath>,
) -> std::collections::BTreeSet<crate::tree::TreePath> {
    let mut changed = removed_or_written.clone();
    for (path, _, inode) in now.iter() {
        if base.get(path) != Some(inode) {
            changed.insert(path.clone());
        }
    }
    changed
}

/// Records an output file already written (a drive image), hashing it.
fn record(path: &Path) -> Result<OutputRecord, BuildError> {
    let (digest, size) = hash_file(path).map_err(io_input(path))?;
    Ok(OutputRecord {
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        size,
        sha256: Checksum(digest),
    })
}

/// Writes a text output made in memory and records it, digested from memory.
fn write_text(outputs: &mut Outputs, name: &str, text: &str) -> Result<OutputRecord, BuildError> {
    let path = outputs.stage(name)?;
    std::fs::write(&path, text).map_err(io_input(&path))?;
    Ok(OutputRecord {
        name: name.to_owned(),
        size: text.len() as u64,
        sha256: Checksum(Sha256::digest(text.as_bytes()).into()),
    })
}

fn input_digests(fleet: &Fleet<'_>) -> Vec<InputDigest> {
    let profile = &fleet.loaded.profile;
    let mut inputs = vec![InputDigest {
        kind: InputKind::Base,
        name: "base".to_owned(),
        source: base_source_text(profile),
        sha256: Checksum(fleet.inputs.base.download_sha256),
    }];
    for repo in &fleet.shared.apt.repositories {
        inputs.push(InputDigest {
            kind: InputKind::Repository,
            name: repo.name.clone(),
            source: format!("{} {}", repo.uri, repo.suite),
            sha256: Checksum(parse_hex32(&repo.release_sha256).unwrap_or_default()),
        });
    }
    if let (Some(server), Some((_, digest))) = (profile.server(), &fleet.inputs.server) {
        inputs.push(InputDigest {
            kind: InputKind::Server,
            name: server.unit.clone(),
            source: match &server.source {
                Source::Url(url) => url.to_string(),
                Source::Path(p) => relative_to_profile(profile, p),
            },
            sha256: Checksum(*digest),
        });
    }
    if let Some(digest) = &fleet.inputs.overlays {
        inputs.push(InputDigest {
            kind: InputKind::Overlay,
            name: "overlays".to_owned(),
            source: profile
                .overlays()
                .iter()
                .map(|p| relative_to_profile(profile, p))
                .collect::<Vec<_>>()
                .join(" "),
            sha256: Checksum(*digest),
        });
    }
    inputs
}

/// A local input as the profile names it (relative to the profile's folder), so locks and
/// manifests never hold a path of the build machine.
fn relative_to_profile(profile: &Profile, path: &Path) -> String {
    let dir = profile.path().parent().unwrap_or(Path::new(""));
    let relative = path.strip_prefix(dir).unwrap_or(path);
    let relative = relative.strip_prefix(".").unwrap_or(relative);
    relative.to_string_lossy().into_owned()
}

/// The drive image of a `[mount.image]`, `<name>-<node>-<last path component>.img`.
fn write_drive(
    fleet: &Fleet<'_>,
    node: &Node,
    mount: &Mount,
    name: &str,
    outputs: &mut Outputs,
    reporter: &Reporter,
) -> Result<Option<PathBuf>, BuildError> {
    let Some(image) = &mount.image else {
        return Ok(None);
    };
    let tree =
        node::storage::drive_tree(mount, Timestamp::from_secs(fleet.epoch)).map_err(|source| {
            BuildError::Node {
                node: node.name.clone(),
                source: Box::new(source.into()),
            }
        })?;
    let Some(tree) = tree else {
        return Ok(None);
    };
    let short = mount
        .path
        .rsplit('/')
        .find(|c| !c.is_empty())
        .unwrap_or("drive");
    let file_name = format!("{name}-{short}.img");
    reporter.step(&format!("node {}: writing {file_name}", node.name));
    let path = outputs.stage(&file_name)?;
    let (derived_uuid, hash_seed) = NodeIds::drive(&fleet.loaded.digest, &node.name, &mount.path);
    let (label, uuid) = match &mount.device {
        Device::Label(label) => (label.clone(), derived_uuid),
        Device::Uuid(text) => (
            String::new(),
            text.parse::<FsUuid>().unwrap_or(derived_uuid),
        ),
        _ => (String::new(), derived_uuid),
    };
    let mut params = Ext4Params::like(&fleet.base.root.superblock, uuid, hash_seed, fleet.epoch);
    params.label = label;
    let size = image.size.bytes() - image.size.bytes() % u64::from(params.block_size);
    let file = std::fs::File::create(&path).map_err(io_input(&path))?;
    file.set_len(size).map_err(io_input(&path))?;
    drop(file);
    write_ext4(&tree, &path, 0, size, &params)?;
    Ok(Some(path))
}

fn write_lock_file(path: &Path, lock: &Lock) -> Result<bool, BuildError> {
    let text = lock.to_toml();
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(false);
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(io_input(path))?;
    std::io::Write::write_all(&mut temp, text.as_bytes()).map_err(io_input(path))?;
    temp.as_file().sync_all().map_err(io_input(path))?;
    temp.persist(path).map_err(|e| BuildError::Input {
        path: path.to_path_buf(),
        reason: e.error.to_string(),
    })?;
    Ok(true)
}

fn new_lock(loaded: &Loaded, inputs: &Inputs, shared: &Shared) -> Lock {
    Lock {
        version: LOCK_VERSION,
        inputs_sha256: hex(&loaded.inputs),
        epoch: shared.apt.epoch,
        base: LockedBase {
            source: base_source_text(&loaded.profile),
            sha256: hex(&inputs.base.download_sha256),
            image_sha256: Some(hex(&inputs.base.image_sha256)),
        },
        server_sha256: inputs.server.as_ref().map(|(_, d)| hex(d)),
        overlays_sha256: inputs.overlays.as_ref().map(hex),
        repositories: shared
            .apt
            .repositories
            .iter()
            .map(LockedRepository::from)
            .collect(),
        packages: shared.apt.packages.clone(),
    }
}

/// The stages both commands share: profile, lock, inputs, base, packages.
struct Prepared {
    loaded: Loaded,
    lock_path: PathBuf,
    inputs: Inputs,
    base: BaseImage,
    shared: Shared,
}

fn prepare(
    opts: &BuildOptions,
    reporter: &std::sync::Arc<Reporter>,
    fresh: bool,
) -> Result<Prepared, BuildError> {
    let loaded = load_profile(&opts.profile, reporter)?;
    select_nodes(&loaded.profile, opts.node.as_deref())?;
    // Before any download: a missing or old e2fsprogs should not cost one.
    check_version()?;
    let lock_path = Lock::path_for(&opts.profile);
    let existing = Lock::read(&lock_path)?;
    let pinning = if fresh {
        fresh_pinning(&loaded, existing.as_ref())
    } else {
        choose_pinning(&loaded, existing, opts.locked, &lock_path, reporter)?
    };
    let fetcher = make_fetcher(opts, reporter)?;
    let inputs = fetch_inputs(
        &loaded,
        &fetcher,
        &pinning,
        opts.locked,
        &lock_path,
        reporter,
    )?;
    let base = BaseImage::open(&inputs.base.image)?;
    reporter.step(&format!(
        "base: {} ({}), root {} used",
        base.os_release()
            .and_then(|r| r.pretty_name())
            .unwrap_or_else(|| "unknown release".to_owned()),
        human_bytes(base.size),
        human_bytes(
            base.root
                .superblock
                .blocks_count
                .saturating_sub(base.root.superblock.free_blocks_count)
                .saturating_mul(u64::from(base.root.superblock.block_size))
        )
    ));
    let shared = assemble_shared_root(&loaded.profile, &base, &fetcher, &pinning, reporter)?;
    Ok(Prepared {
        loaded,
        lock_path,
        inputs,
        base,
        shared,
    })
}

/// `pi-imager lock`: resolves every input afresh and writes the lock, without building.
pub fn lock(
    opts: &BuildOptions,
    reporter: &std::sync::Arc<Reporter>,
) -> Result<(PathBuf, bool), BuildError> {
    let prepared = prepare(opts, reporter, true)?;
    let lock = new_lock(&prepared.loaded, &prepared.inputs, &prepared.shared);
    let written = write_lock_file(&prepared.lock_path, &lock)?;
    Ok((prepared.lock_path, written))
}

/// `pi-imager build`: every stage, then the outputs committed and the lock written.
pub fn build(
    opts: &BuildOptions,
    reporter: &std::sync::Arc<Reporter>,
) -> Result<BuildReport, BuildError> {
    let prepared = prepare(opts, reporter, false)?;
    let profile = &prepared.loaded.profile;
    let nodes = select_nodes(profile, opts.node.as_deref())?;
    let generation = node::generation::detect(&prepared.shared.root, profile.base().generation)
        .map_err(|source| BuildError::Node {
            node: nodes.first().map(|n| n.name.clone()).unwrap_or_default(),
            source: Box::new(source.into()),
        })?;
    let lock = new_lock(&prepared.loaded, &prepared.inputs, &prepared.shared);
    let lock_text = lock.to_toml();
    let fleet = Fleet {
        loaded: &prepared.loaded,
        base: &prepared.base,
        generation,
        shared: &prepared.shared,
        inputs: &prepared.inputs,
        lock_ref: Some(LockRef {
            name: prepared
                .lock_path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            sha256: Checksum(Sha256::digest(lock_text.as_bytes()).into()),
        }),
        epoch: lock.epoch,
    };
    let mut outputs = Outputs::open(&opts.out)?;
    let mut reports = Vec::new();
    for node in nodes {
        reports.push(build_node(&fleet, node, &mut outputs, reporter)?);
    }
    let sums = write_sums(&mut outputs, &reports)?;
    outputs.commit()?;
    let lock_written = if opts.locked {
        false
    } else {
        write_lock_file(&prepared.lock_path, &lock)?
    };
    Ok(BuildReport {
        lock: prepared.lock_path,
        lock_written,
        epoch: lock.epoch,
        nodes: reports,
        sha256sums: Some(sums),
    })
}

/// `SHA256SUMS` of the output folder: this build's files, and the entries of an earlier
/// build's files that are still there (a `--node` build does not forget the other nodes).
fn write_sums(outputs: &mut Outputs, reports: &[NodeReport]) -> Result<PathBuf, BuildError> {
    let mut entries: std::collections::BTreeMap<String, [u8; 32]> = Default::default();
    let final_path = outputs.dir().join("SHA256SUMS");
    if let Ok(old) = std::fs::read_to_string(&final_path) {
        for line in old.lines() {
            if let Some((digest, name)) = line.split_once("  ")
                && let Some(digest) = parse_hex32(digest)
                && !name.contains('/')
                && outputs.dir().join(name).is_file()
            {
                entries.insert(name.to_owned(), digest);
            }
        }
    }
    for report in reports {
        for file in &report.outputs {
            if let Some(name) = file.path.file_name() {
                entries.insert(name.to_string_lossy().into_owned(), file.sha256);
            }
        }
    }
    let list: Vec<(String, [u8; 32])> = entries.into_iter().collect();
    let path = outputs.stage("SHA256SUMS")?;
    std::fs::write(&path, sha256sums(&list)).map_err(io_input(&path))?;
    Ok(final_path)
}
