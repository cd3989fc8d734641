//! The profile: a TOML file describing one kind of node and optionally a fleet of them.
//!
//! [`load`] reads a profile file, parses it (serde, unknown keys refused) and validates every
//! key into an immutable [`Profile`] whose [`Node`]s have the fleet's overrides applied. All
//! problems in the file are reported together, each as `PATH:LINE:COL: key: message`. This
//! stage reads only the profile and checks that the local files it names exist; it fetches
//! nothing and opens no image.

mod credentials;
mod diagnostic;
mod model;
mod names;
mod network;
mod raw;
mod recover;
mod size;
mod source;
mod suggest;
mod validate;

use std::path::{Path, PathBuf};

pub use diagnostic::{Diagnostic, Severity};
pub use model::{
    Base, Board, Compression, Device, Generation, Image, Keyword, MaxChildren, Mirror, Mount,
    MountImage, Network, Node, PackageRequest, Packages, PartitionTable, Profile, Renderer,
    Repository, RepositoryKey, Server, Ssh, Swap, System, User, Web, WebServer,
};
pub use network::{Ipv4Cidr, Ipv4Config, Ipv6Cidr, Ipv6Config};
pub use size::Size;
pub use source::{Fingerprint, Sha256Hex, Source};

/// Profiles larger than this are refused before parsing: no real profile comes close.
const MAX_PROFILE_BYTES: u64 = 1 << 20;

/// Why a profile could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The file could not be read.
    #[error("cannot read profile {}: {source}", path.display())]
    Read {
        /// The profile's path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not a usable profile; every problem found is listed.
    #[error("{}", render(path, diagnostics))]
    Invalid {
        /// The profile's path.
        path: PathBuf,
        /// Errors and warnings, in file order.
        diagnostics: Vec<Diagnostic>,
    },
}

fn render(path: &Path, diagnostics: &[Diagnostic]) -> String {
    let lines: Vec<String> = diagnostics.iter().map(|d| d.render(path)).collect();
    lines.join("\n")
}

/// A valid profile and the warnings found while checking it.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The profile.
    pub profile: Profile,
    /// Things that are allowed but probably not meant.
    pub warnings: Vec<Diagnostic>,
}

/// Reads and validates the profile at `path`.
pub fn load(path: &Path) -> Result<Loaded, ProfileError> {
    let read_error = |source| ProfileError::Read {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(read_error)?.len();
    if size > MAX_PROFILE_BYTES {
        return Err(read_error(std::io::Error::other(format!(
            "the file has {size} bytes; a profile is at most 1 MiB"
        ))));
    }
    let bytes = std::fs::read(path).map_err(read_error)?;
    let text = String::from_utf8(bytes).map_err(|e| {
        read_error(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "it is not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        ))
    })?;
    parse(&text, path)
}

/// Validates profile `text` as if read from `path` (relative paths in it start from
/// `path`'s folder).
pub fn parse(text: &str, path: &Path) -> Result<Loaded, ProfileError> {
    let mut diags = diagnostic::Diagnostics::new(text);
    let profile = recover::deserialize(text, &mut diags)
        .and_then(|raw| validate::validate(&raw, path, &mut diags));
    let has_errors = diags.has_errors();
    let diagnostics = diags.into_sorted();
    match profile {
        Some(profile) if !has_errors => Ok(Loaded {
            profile,
            warnings: diagnostics,
        }),
        _ => Err(ProfileError::Invalid {
            path: path.to_path_buf(),
            diagnostics,
        }),
    }
}
