//! Why `verify` could not tell whether a target matches its manifest (exit code 2).
//! Differences found are not errors: they are the report's findings.

use std::io;
use std::path::PathBuf;

/// Something kept `verify` from comparing the target with the manifest at all.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The target could not be opened or read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The image file or device.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
    /// The target is shorter than the image the manifest describes.
    #[error(
        "{} is {actual} bytes but the image {image} is {expected} bytes: the target is truncated or is not the card this image was written to",
        path.display()
    )]
    Truncated {
        /// The image file or device.
        path: PathBuf,
        /// Its size.
        actual: u64,
        /// The image's size in the manifest.
        expected: u64,
        /// The image's name in the manifest.
        image: String,
    },
    /// The manifest could not be read or is not a valid manifest.
    #[error("cannot use the manifest {}: {reason}", path.display())]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}
