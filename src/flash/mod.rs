//! `pi-imager flash IMAGE DEVICE`: writes an image (`.img`, `.img.xz`, `.img.gz`) to a
//! card or a file with its block map, then reads it back.
//!
//! The order of a flash: [`source::open`] finds and checks the block map and, for a raw
//! image, every range's digest; [`device::check`] refuses a mounted device, the running
//! system's disk and a too-small card (each with its own override); then
//! [`writer::write`] writes only the mapped ranges, partition table last, syncing as it
//! goes, while a second thread reads every written range back and a third reads the
//! image ahead. [`flash`] runs the three steps. A card and a regular file differ only in
//! how writes reach the medium and what the read-back reads ([`Writeback`]). The progress
//! display and the confirmation question belong to the command line; this module never
//! asks.

mod chunk;
pub mod device;
mod error;
pub mod progress;
mod readback;
pub mod source;
pub mod writer;

use std::path::PathBuf;

pub use device::{Device, DeviceChecks, DeviceKind, MountEntry, parse_mountinfo};
pub use error::FlashError;
pub use source::Source;
pub use writer::{FlashReport, HEAD_BYTES, Phase, Writeback};

/// What to flash where.
#[derive(Debug, Clone)]
pub struct FlashOptions {
    /// The image.
    pub image: PathBuf,
    /// Its block map, when not beside it.
    pub bmap: Option<PathBuf>,
    /// The card (block device) or file.
    pub device: PathBuf,
    /// Safety checks and their overrides.
    pub checks: DeviceChecks,
}

/// Checks the image and the target: everything [`flash`] does before writing.
pub fn prepare(options: &FlashOptions) -> Result<(Source, Device), FlashError> {
    let source = source::open(&options.image, options.bmap.as_deref())?;
    let device = device::check(
        &options.device,
        source.bmap.image_size,
        source.data_end(),
        &options.checks,
    )?;
    Ok((source, device))
}

/// Writes a prepared image to its device and reads it back.
pub fn write(
    source: &Source,
    device: &Device,
    progress: &mut dyn FnMut(Phase, u64, u64),
) -> Result<FlashReport, FlashError> {
    writer::write(source, device, progress)
}

/// Checks, writes and reads back in one call (no confirmation asked).
pub fn flash(
    options: &FlashOptions,
    progress: &mut dyn FnMut(Phase, u64, u64),
) -> Result<FlashReport, FlashError> {
    let (source, device) = prepare(options)?;
    writer::write(&source, &device, progress)
}
