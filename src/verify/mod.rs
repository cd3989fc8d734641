//! `pi-imager verify`: compares an image file or a card with the manifest it was built
//! with, opened read-only, and says whether it matches, and if not, where it differs.
//!
//! Two comparisons: by default ([`Mode::Files`], for a card that has been running) both
//! filesystems are read with our own readers and every file of the manifest is compared,
//! skipping what a running node changes by itself (`files`); with `--blocks`
//! ([`Mode::Blocks`], for a fresh card or an image) every mapped range's digest is
//! compared and each range that differs is traced to its partition and files (`blocks`).
//! Either way the report ([`Report`]) starts with what built the image, from the
//! manifest. Differences are findings (exit 1), not errors; a [`VerifyError`] means the
//! comparison could not be made (exit 2). This module never writes to the target.

mod blocks;
mod error;
mod files;
mod report;
mod target;
mod volume;

use std::path::Path;

pub use error::VerifyError;
pub use report::{
    Checked, FileFinding, FileStatus, FsProblem, Mode, Origin, RangeFile, RangeFinding, Report,
    Verdict,
};
pub use target::Target;
pub use volume::{Node, NodeKind, Volume};

use crate::manifest::Manifest;

/// Reads and checks the manifest at `path`.
pub fn load_manifest(path: &Path) -> Result<Manifest, VerifyError> {
    let text = std::fs::read_to_string(path).map_err(|e| VerifyError::Manifest {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    Manifest::parse(&text).map_err(|e| VerifyError::Manifest {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Compares `target` (an image file or block device) with `manifest`.
pub fn verify(target: &Path, manifest: &Manifest, mode: Mode) -> Result<Report, VerifyError> {
    let read_error = |source| VerifyError::Read {
        path: target.to_path_buf(),
        source,
    };
    let opened = Target::open(target).map_err(read_error)?;
    if !files::long_enough(&opened, manifest) {
        return Err(VerifyError::Truncated {
            path: target.to_path_buf(),
            actual: crate::image::io::ReadAt::size(&opened),
            expected: manifest.image.size,
            image: manifest.image.name.clone(),
        });
    }
    let mut report = Report {
        verdict: Verdict::Matches,
        mode,
        target: target.display().to_string(),
        origin: Origin::of(manifest),
        checked: Checked::default(),
        ranges: Vec::new(),
        files: Vec::new(),
        filesystem_errors: Vec::new(),
    };
    match mode {
        Mode::Blocks => {
            let found = blocks::compare(&opened, manifest).map_err(read_error)?;
            report.ranges = found.ranges;
            report.filesystem_errors = found.problems;
            report.checked.ranges = found.checked;
        }
        Mode::Files => {
            let found = files::compare(&opened, manifest);
            report.files = found.files;
            report.filesystem_errors = found.problems;
            report.checked = found.checked;
        }
    }
    report.decide();
    Ok(report)
}
