//! Raspberry Pi Imager's repository format (`os_list` JSON) written from build manifests,
//! so images built in any CI can be flashed from Imager with a custom repository.
//!
//! [`os_list`] reads every `*.manifest.json` in the folders it is given (with
//! [`Manifest::parse`], so a hostile or stale manifest is refused, not trusted), checks the
//! compressed image each one names is there with the size and digest the manifest records,
//! and returns one `os_list` entry per image: `extract_*` are the raw `.img`'s size and
//! digest, `image_download_*` the `.img.xz`'s (or `.img.gz`'s), `url` the base URL joined
//! with the compressed image's file name, the release date the build's epoch as a UTC date
//! and `devices` Imager's tags for the node's board. An `imager.devices` block lists those
//! boards too, because Imager opened on a custom repository alone takes its device list
//! from that file. This module does not build, upload or flash anything, and it writes no
//! `init_format`: the images are already configured, so Imager's own customisation (which
//! would overwrite the node's settings at first boot) stays off.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::calendar::utc_date;
use crate::manifest::{Checksum, Manifest, ManifestError};
use crate::profile::{Board, Keyword};

/// The largest manifest read, in bytes: far above what any real image's file list needs,
/// small enough that a stray huge file is refused instead of exhausting memory.
const MAX_MANIFEST: u64 = 1 << 30;

/// Why the `os_list` JSON could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ImagerError {
    /// A folder could not be listed.
    #[error("cannot list {path}: {source}")]
    List {
        /// The folder.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A manifest is larger than any manifest pi-imager writes.
    #[error("{path} is {size} bytes, more than a manifest can be ({MAX_MANIFEST}): is it one?")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
    },
    /// A manifest was refused.
    #[error("{path} is not a usable manifest: {source}")]
    Manifest {
        /// The file.
        path: PathBuf,
        /// Why.
        source: ManifestError,
    },
    /// No manifest in any of the folders.
    #[error("no *.manifest.json in {dirs}: give the folders `pi-imager build --out` wrote")]
    Empty {
        /// The folders searched, comma separated.
        dirs: String,
    },
    /// The build kept only the raw image.
    #[error(
        "{manifest} lists no compressed image ({image}.xz or {image}.gz): Raspberry Pi Imager \
         downloads a compressed image, so build with `compression = \"xz\"` in [image]"
    )]
    NoDownload {
        /// The manifest.
        manifest: PathBuf,
        /// The raw image's name.
        image: String,
    },
    /// The compressed image is missing or differs from what the manifest records.
    #[error(
        "{path} does not match its manifest (expected {expected_size} bytes, sha256 \
         {expected_sha256}; found {found}): rebuild, or publish the outputs of one build together"
    )]
    Stale {
        /// The compressed image.
        path: PathBuf,
        /// The size the manifest records.
        expected_size: u64,
        /// The digest the manifest records.
        expected_sha256: String,
        /// What is there instead.
        found: String,
    },
    /// Two manifests name the same compressed image, so their URLs would collide.
    #[error(
        "{name} is named by both {first} and {second}: the download URLs would collide; \
         give each build's folder once"
    )]
    Duplicate {
        /// The compressed image's name.
        name: String,
        /// The first manifest naming it.
        first: PathBuf,
        /// The second.
        second: PathBuf,
    },
    /// The manifest names a board Imager has no device tag for.
    #[error(
        "{manifest}: board {board:?} with {architecture} packages has no Raspberry Pi Imager device tag"
    )]
    Board {
        /// The manifest.
        manifest: PathBuf,
        /// The board as the manifest names it.
        board: String,
        /// The packages' architecture.
        architecture: String,
    },
    /// The build epoch is not a date between years 1970 and 9999.
    #[error("{manifest}: the build epoch {epoch} is not a date between 1970 and 9999")]
    Epoch {
        /// The manifest.
        manifest: PathBuf,
        /// The epoch.
        epoch: i64,
    },
    /// The base URL is not an absolute URL.
    #[error(
        "--base-url {url:?} is not an absolute URL ({reason}): give e.g. https://example.org/releases/v1/"
    )]
    BaseUrl {
        /// The URL given.
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// A file path could not be turned into a `file:` URL.
    #[error("{path} cannot be written as a file: URL; give --base-url")]
    FileUrl {
        /// The path.
        path: PathBuf,
    },
}

/// Raspberry Pi Imager's repository file: the images and the devices they are for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OsList {
    /// The devices the images are for, so Imager's device picker is not empty when the
    /// file is opened as a repository on its own.
    pub imager: ImagerBlock,
    /// One entry per image.
    pub os_list: Vec<OsEntry>,
}

/// The `imager` block of the repository file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImagerBlock {
    /// The boards of the images, each once, in the order first met.
    pub devices: Vec<Device>,
}

/// A device in Imager's picker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Device {
    /// As Imager shows it (`Raspberry Pi 3`).
    pub name: String,
    /// The tags an image must carry one of to be offered for this device.
    pub tags: Vec<String>,
    /// A line under the name.
    pub description: String,
    /// `exclusive`: only images tagged for this device are offered.
    pub matching_type: String,
}

/// One image of the repository file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OsEntry {
    /// As Imager lists it: the image's name (`demo-a`).
    pub name: String,
    /// What it is: generation, board, node, host name and profile.
    pub description: String,
    /// Where Imager downloads the compressed image.
    pub url: String,
    /// The build epoch as a UTC date, `YYYY-MM-DD`.
    pub release_date: String,
    /// The raw image's size in bytes.
    pub extract_size: u64,
    /// The raw image's SHA-256, which Imager checks after writing.
    pub extract_sha256: String,
    /// The compressed image's size in bytes.
    pub image_download_size: u64,
    /// The compressed image's SHA-256.
    pub image_download_sha256: String,
    /// Imager's device tags for the board (`pi3-32bit`).
    pub devices: Vec<String>,
}

/// How URLs are written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// The folder URL the compressed images are published under; `None` writes `file:`
    /// URLs of the images where they are, for trying the file locally.
    pub base_url: Option<String>,
}

/// The `os_list` for every manifest in `dirs` (each folder's manifests sorted by name,
/// folders in the order given).
pub fn os_list(dirs: &[PathBuf], options: &Options) -> Result<OsList, ImagerError> {
    let base = options.base_url.as_deref().map(base_url).transpose()?;
    let mut entries: Vec<(OsEntry, PathBuf)> = Vec::new();
    let mut devices: Vec<Device> = Vec::new();
    for dir in dirs {
        for path in manifests_in(dir)? {
            let manifest = read_manifest(&path)?;
            let (entry, device) = entry(dir, &path, &manifest, base.as_ref())?;
            if let Some((_, first)) = entries
                .iter()
                .find(|(e, _)| download_name(&e.url) == download_name(&entry.url))
            {
                return Err(ImagerError::Duplicate {
                    name: download_name(&entry.url).to_owned(),
                    first: first.clone(),
                    second: path,
                });
            }
            if !devices.iter().any(|d| d.name == device.name) {
                devices.push(device);
            }
            entries.push((entry, path));
        }
    }
    if entries.is_empty() {
        return Err(ImagerError::Empty {
            dirs: dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    Ok(OsList {
        imager: ImagerBlock { devices },
        os_list: entries.into_iter().map(|(e, _)| e).collect(),
    })
}

impl OsList {
    /// Pretty-printed JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        // Serialising plain strings, numbers and vectors cannot fail.
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// The last path segment of a URL: the compressed image's file name.
fn download_name(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

fn base_url(text: &str) -> Result<url::Url, ImagerError> {
    let bad = |reason: String| ImagerError::BaseUrl {
        url: text.chars().take(200).collect(),
        reason,
    };
    // A folder URL must end in `/`, or joining a name would replace its last segment.
    let folder = if text.ends_with('/') {
        text.to_owned()
    } else {
        format!("{text}/")
    };
    let url = url::Url::parse(&folder).map_err(|e| bad(e.to_string()))?;
    if url.cannot_be_a_base() {
        return Err(bad("it cannot hold a file name".to_owned()));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("it has a query or fragment".to_owned()));
    }
    Ok(url)
}

/// The `*.manifest.json` files of `dir`, sorted by name.
fn manifests_in(dir: &Path) -> Result<Vec<PathBuf>, ImagerError> {
    let list = |source| ImagerError::List {
        path: dir.to_path_buf(),
        source,
    };
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(list)? {
        let entry = entry.map_err(list)?;
        let name = entry.file_name();
        if name.to_string_lossy().ends_with(".manifest.json") && entry.path().is_file() {
            found.push(entry.path());
        }
    }
    found.sort();
    Ok(found)
}

fn read_manifest(path: &Path) -> Result<Manifest, ImagerError> {
    let read = |source| ImagerError::Read {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(read)?.len();
    if size > MAX_MANIFEST {
        return Err(ImagerError::TooLarge {
            path: path.to_path_buf(),
            size,
        });
    }
    let text = std::fs::read_to_string(path).map_err(read)?;
    Manifest::parse(&text).map_err(|source| ImagerError::Manifest {
        path: path.to_path_buf(),
        source,
    })
}

fn entry(
    dir: &Path,
    path: &Path,
    manifest: &Manifest,
    base: Option<&url::Url>,
) -> Result<(OsEntry, Device), ImagerError> {
    let image = &manifest.image;
    let download = [".xz", ".gz"]
        .iter()
        .find_map(|suffix| {
            let name = format!("{}{suffix}", image.name);
            manifest.outputs.iter().find(|o| o.name == name)
        })
        .ok_or_else(|| ImagerError::NoDownload {
            manifest: path.to_path_buf(),
            image: image.name.clone(),
        })?;
    let file = dir.join(&download.name);
    check_download(&file, download.size, &download.sha256)?;

    let url = match base {
        Some(base) => base
            .join(&download.name)
            .map_err(|e| ImagerError::BaseUrl {
                url: base.to_string(),
                reason: e.to_string(),
            })?
            .to_string(),
        None => {
            let absolute = std::path::absolute(&file).map_err(|source| ImagerError::Read {
                path: file.clone(),
                source,
            })?;
            url::Url::from_file_path(&absolute)
                .map_err(|()| ImagerError::FileUrl { path: absolute })?
                .to_string()
        }
    };

    let architecture = architecture(manifest);
    let device = device(&manifest.build.board, architecture).ok_or_else(|| ImagerError::Board {
        manifest: path.to_path_buf(),
        board: manifest.build.board.chars().take(50).collect(),
        architecture: architecture
            .map_or("no architecture-specific", Arch::debian)
            .to_owned(),
    })?;
    let release_date = utc_date(manifest.build.epoch).ok_or(ImagerError::Epoch {
        manifest: path.to_path_buf(),
        epoch: manifest.build.epoch,
    })?;
    let build = &manifest.build;
    let stem = image.name.strip_suffix(".img").unwrap_or(&image.name);
    let entry = OsEntry {
        name: stem.to_owned(),
        description: format!(
            "Raspberry Pi OS {} for {}: node {} ({}) of {}, built by pi-imager {}",
            build.generation,
            device.name,
            build.node,
            build.hostname,
            build.profile,
            build.tool_version
        ),
        url,
        release_date,
        extract_size: image.size,
        extract_sha256: image.sha256.to_hex(),
        image_download_size: download.size,
        image_download_sha256: download.sha256.to_hex(),
        devices: device.tags.clone(),
    };
    Ok((entry, device))
}

/// Refuses a compressed image that is missing or differs from the manifest: a repository
/// file promising bytes that are not published would fail only on the user's machine.
fn check_download(path: &Path, size: u64, sha256: &Checksum) -> Result<(), ImagerError> {
    let stale = |found: String| ImagerError::Stale {
        path: path.to_path_buf(),
        expected_size: size,
        expected_sha256: sha256.to_hex(),
        found,
    };
    let found_size = match std::fs::metadata(path) {
        Ok(meta) => meta.len(),
        Err(e) => return Err(stale(format!("no file: {e}"))),
    };
    if found_size != size {
        return Err(stale(format!("{found_size} bytes")));
    }
    let (digest, _) = crate::fetch::hash_file(path).map_err(|source| ImagerError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if digest != sha256.0 {
        return Err(stale(format!("sha256 {}", crate::fetch::hex(&digest))));
    }
    Ok(())
}

/// Whether the image's userland is 32-bit or 64-bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// `armhf` (or `armel`): Imager's `-32bit` tags.
    Bits32,
    /// `arm64`: Imager's `-64bit` tags.
    Bits64,
}

impl Arch {
    fn debian(self) -> &'static str {
        match self {
            Self::Bits32 => "armhf",
            Self::Bits64 => "arm64",
        }
    }
}

/// The architecture of the manifest's packages; `None` when they are all `all` (or there
/// are none), in which case both tags of the board are written.
pub fn architecture(manifest: &Manifest) -> Option<Arch> {
    manifest
        .packages
        .iter()
        .find_map(|p| match p.architecture.as_str() {
            "armhf" | "armel" => Some(Arch::Bits32),
            "arm64" => Some(Arch::Bits64),
            _ => None,
        })
}

/// Imager's device for `board` (a profile board keyword) and the tags an image of
/// `arch` carries for it. The tags are the ones Raspberry Pi's own repository file uses:
/// `pi1`, `pi2` (32-bit only), `pi3` (also the Zero 2 W, the same SoC), `pi4` and `pi5`,
/// each with `-32bit` or `-64bit`. `None` for a board pi-imager does not know, or a
/// 64-bit image on a Pi 2, which Imager has no tag for.
pub fn device(board: &str, arch: Option<Arch>) -> Option<Device> {
    let board = Board::from_keyword(board)?;
    let (name, description, family) = match board {
        Board::Pi2 => ("Raspberry Pi 2", "Raspberry Pi 2 Model B", "pi2"),
        Board::Pi3 => ("Raspberry Pi 3", "Raspberry Pi 3 Model B", "pi3"),
        Board::Pi3Plus => ("Raspberry Pi 3", "Raspberry Pi 3 Model B+", "pi3"),
        Board::Pi4 => ("Raspberry Pi 4", "Raspberry Pi 4 Model B", "pi4"),
        Board::Pi5 => ("Raspberry Pi 5", "Raspberry Pi 5", "pi5"),
        Board::Zero2W => ("Raspberry Pi Zero 2 W", "Raspberry Pi Zero 2 W", "pi3"),
    };
    let widths: &[&str] = match (arch, family) {
        (Some(Arch::Bits64), "pi2") => return None,
        (None, "pi2") | (Some(Arch::Bits32), _) => &["32bit"],
        (Some(Arch::Bits64), _) => &["64bit"],
        (None, _) => &["64bit", "32bit"],
    };
    Some(Device {
        name: name.to_owned(),
        tags: widths.iter().map(|w| format!("{family}-{w}")).collect(),
        description: description.to_owned(),
        matching_type: "exclusive".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boards_map_to_imager_tags() {
        let tags = |board, arch| device(board, arch).map(|d| d.tags);
        assert_eq!(
            tags("pi2", Some(Arch::Bits32)),
            Some(vec!["pi2-32bit".into()])
        );
        assert_eq!(tags("pi2", Some(Arch::Bits64)), None);
        assert_eq!(tags("pi2", None), Some(vec!["pi2-32bit".into()]));
        assert_eq!(
            tags("pi3plus", Some(Arch::Bits64)),
            Some(vec!["pi3-64bit".into()])
        );
        assert_eq!(
            tags("zero2w", Some(Arch::Bits32)),
            Some(vec!["pi3-32bit".into()])
        );
        assert_eq!(
            tags("pi4", Some(Arch::Bits64)),
            Some(vec!["pi4-64bit".into()])
        );
        assert_eq!(
            tags("pi5", None),
            Some(vec!["pi5-64bit".into(), "pi5-32bit".into()])
        );
        assert_eq!(tags("pi9", Some(Arch::Bits64)), None);
    }

    #[test]
    fn base_urls_are_folders() {
        let join =
            |base: &str, name: &str| base_url(base).map(|u| u.join(name).map(|j| j.to_string()));
        assert_eq!(
            join("https://example.org/r/v1", "demo-a.img.xz")
                .ok()
                .and_then(Result::ok)
                .as_deref(),
            Some("https://example.org/r/v1/demo-a.img.xz")
        );
        assert_eq!(
            join("https://example.org/r/v1/", "a b.img.xz")
                .ok()
                .and_then(Result::ok)
                .as_deref(),
            Some("https://example.org/r/v1/a%20b.img.xz")
        );
        assert!(base_url("releases/v1").is_err());
        assert!(base_url("mailto:someone@example.org").is_err());
        assert!(base_url("https://example.org/r?x=1").is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        #[test]
        fn any_epoch_gives_a_date_or_none(epoch in proptest::prelude::any::<i64>()) {
            if let Some(date) = utc_date(epoch) {
                proptest::prop_assert_eq!(date.len(), 10);
            }
        }

        #[test]
        fn any_board_text_gives_a_device_or_none(board in ".{0,20}") {
            let _ = device(&board, None);
            let _ = device(&board, Some(Arch::Bits64));
        }

        #[test]
        fn any_base_url_gives_a_url_or_an_error(text in ".{0,60}") {
            let _ = base_url(&text);
        }
    }

    #[test]
    fn download_names_are_last_segments() {
        assert_eq!(download_name("https://example.org/r/a.img.xz"), "a.img.xz");
        assert_eq!(download_name("a.img.xz"), "a.img.xz");
    }
}
