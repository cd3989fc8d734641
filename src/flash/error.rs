//! Why `flash` refused or failed. Every refusal happens before the first byte is written
//! unless the variant says otherwise.

use std::io;
use std::path::PathBuf;

use crate::image::bmap::BmapError;
use crate::image::compress::CompressError;

/// Everything that stops a flash.
#[derive(Debug, thiserror::Error)]
pub enum FlashError {
    /// The image could not be opened or read.
    #[error("cannot read the image {}: {source}", path.display())]
    Image {
        /// The image.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
    /// A compressed image could not be opened.
    #[error("{0}")]
    Compressed(#[from] CompressError),
    /// The block map beside the image is damaged or not a block map.
    #[error("the block map {} cannot be used: {source}; fix or remove it", path.display())]
    Bmap {
        /// The `.bmap` file.
        path: PathBuf,
        /// What is wrong.
        source: BmapError,
    },
    /// The image is not the one the block map describes.
    #[error(
        "the image {} does not match its block map {}: {why}; refusing to write it",
        image.display(),
        bmap.display()
    )]
    ImageMismatch {
        /// The image.
        image: PathBuf,
        /// The block map.
        bmap: PathBuf,
        /// What differs.
        why: String,
    },
    /// The device could not be opened, measured or written.
    #[error("cannot use {}: {source}", path.display())]
    Device {
        /// The device or file.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
    /// The target is neither a block device nor a regular file.
    #[error("{} is neither a block device nor a regular file", path.display())]
    NotADevice {
        /// The target.
        path: PathBuf,
    },
    /// The device, or one of its partitions, is mounted.
    #[error(
        "{} is mounted ({source_name} on {mount_point}); unmount it first, or pass --allow-mounted if you are sure",
        path.display()
    )]
    Mounted {
        /// The target.
        path: PathBuf,
        /// The mounted device as the mount table names it.
        source_name: String,
        /// Where it is mounted.
        mount_point: String,
    },
    /// The device holds the running system's root filesystem.
    #[error(
        "{} holds the running system (its {source_name} is mounted on /); pick another device, or pass --allow-system-disk if you really mean it",
        path.display()
    )]
    RunningSystem {
        /// The target.
        path: PathBuf,
        /// The mounted device.
        source_name: String,
    },
    /// The device is smaller than the image.
    #[error(
        "{} holds {device_size} bytes but the image needs {image_size}; use a larger card, or pass --allow-smaller if the data fits (the root filesystem will then end past the card)",
        path.display()
    )]
    TooSmall {
        /// The target.
        path: PathBuf,
        /// Its size.
        device_size: u64,
        /// The image's size.
        image_size: u64,
    },
    /// The mapped data does not fit the device even with `--allow-smaller`.
    #[error(
        "{} holds {device_size} bytes but the image's data reaches byte {data_end}; it cannot fit",
        path.display()
    )]
    DataDoesNotFit {
        /// The target.
        path: PathBuf,
        /// Its size.
        device_size: u64,
        /// One past the last mapped byte.
        data_end: u64,
    },
    /// A block device without `--yes` and no terminal to ask on.
    #[error(
        "writing {} destroys what it holds; pass --yes to confirm when no terminal can ask",
        path.display()
    )]
    NeedsConfirmation {
        /// The target.
        path: PathBuf,
    },
    /// The person asked declined.
    #[error("not confirmed; nothing was written")]
    Declined,
    /// While writing, a range of a compressed image did not match its digest. The
    /// partition table was not written, so the card does not boot.
    #[error(
        "blocks {first}-{last} of the image do not match the block map: the image is damaged; the partition table was not written, so the card will not boot half-written"
    )]
    SourceDigest {
        /// First block.
        first: u64,
        /// Last block.
        last: u64,
    },
    /// The read-back found ranges that differ from what was written.
    #[error(
        "after writing, {count} ranges of {} read back differently (first: blocks {first}-{last}); the card may be failing",
        path.display()
    )]
    ReadBack {
        /// The target.
        path: PathBuf,
        /// How many ranges differ.
        count: usize,
        /// First block of the first bad range.
        first: u64,
        /// Its last block.
        last: u64,
    },
}

impl FlashError {
    /// Whether the person can fix this with other arguments (exit 2) rather than a
    /// failure of the devices or data (exit 1).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            FlashError::NotADevice { .. }
                | FlashError::Mounted { .. }
                | FlashError::RunningSystem { .. }
                | FlashError::TooSmall { .. }
                | FlashError::NeedsConfirmation { .. }
                | FlashError::Declined
        )
    }
}
