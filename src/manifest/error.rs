//! Why a manifest could not be made or read. Each variant carries the offending value
//! and says what to do about it.

use std::io;
use std::path::PathBuf;

use super::model::Filesystem;
use crate::base::BaseError;

/// Why a manifest could not be made or parsed.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The image could not be opened or read.
    #[error("cannot read image {}: {source}", path.display())]
    Io {
        /// The image.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Our readers refused the written image: the build wrote something it cannot read.
    #[error("the written image cannot be read back: {0}")]
    ReadBack(#[from] BaseError),
    /// A file's contents could not be read from the image.
    #[error("cannot read {filesystem:?} file {path} from image {}: {source}", image.display())]
    FileContent {
        /// The image.
        image: PathBuf,
        /// The filesystem.
        filesystem: Filesystem,
        /// The file.
        path: String,
        /// The underlying error.
        source: io::Error,
    },
    /// The block map is of an image of another size.
    #[error(
        "the block map describes a {bmap_size}-byte image but the image is {image_size} bytes: make the bmap from this image"
    )]
    BmapSize {
        /// The size in the bmap.
        bmap_size: u64,
        /// The image's size.
        image_size: u64,
    },
    /// A block map range's digest does not match the image.
    #[error(
        "block map range {first}-{last} says sha256 {expected} but the image's bytes hash to {actual}: make the bmap from this image"
    )]
    BmapMismatch {
        /// First block.
        first: u64,
        /// Last block.
        last: u64,
        /// The digest in the bmap.
        expected: String,
        /// The digest of the image.
        actual: String,
    },
    /// A name that must be a plain file name is a path, or empty.
    #[error(
        "the manifest's {field} is {value:?}, which is not a plain file name: give the name only, never a directory of the build machine"
    )]
    NotAFileName {
        /// Which field.
        field: &'static str,
        /// Its value.
        value: String,
    },
    /// An input's source is an absolute path of the build machine.
    #[error(
        "input {name:?} has source {source_text:?}: a source is a URL or a path relative to the profile, never an absolute path of the build machine"
    )]
    AbsoluteSource {
        /// The input's name.
        name: String,
        /// Its source.
        source_text: String,
    },
    /// The text is not JSON of the manifest's shape.
    #[error("the manifest is not valid: {message} (line {line}, column {column})")]
    Json {
        /// What serde_json said.
        message: String,
        /// Line, 1-based.
        line: usize,
        /// Column, 1-based.
        column: usize,
    },
    /// The manifest has another schema version.
    #[error(
        "the manifest's schema is {found:?} but this pi-imager reads {expected:?}: use the pi-imager version that wrote it",
        expected = super::SCHEMA
    )]
    Schema {
        /// The schema field.
        found: String,
    },
    /// A list is out of order or has a duplicate.
    #[error("the manifest's {list} are not sorted without duplicates: {at} is out of place")]
    Order {
        /// Which list.
        list: &'static str,
        /// The entry out of place.
        at: String,
    },
    /// A range or partition lies outside the image or is inconsistent.
    #[error("the manifest's {what} is inconsistent: {why}")]
    Inconsistent {
        /// What.
        what: String,
        /// Why.
        why: String,
    },
}

impl ManifestError {
    pub(super) fn json(error: serde_json::Error) -> Self {
        let mut message = error.to_string();
        // serde_json appends " at line L column C"; the variant says it once.
        if let Some(pos) = message.rfind(" at line ") {
            message.truncate(pos);
        }
        if message.starts_with("unknown field") {
            message.push_str(
                "; a manifest with fields this version does not know was written by a newer pi-imager",
            );
        }
        Self::Json {
            message,
            line: error.line(),
            column: error.column(),
        }
    }

    pub(super) fn inconsistent(what: impl Into<String>, why: impl Into<String>) -> Self {
        Self::Inconsistent {
            what: what.into(),
            why: why.into(),
        }
    }
}
