//! Writes an image's mapped ranges to the target, then reads every one back.
//!
//! Order matters on a card: the first MiB (partition table and boot code) is held back
//! and written last, after everything else is on the card, so a flash cut short leaves a
//! card that does not boot rather than one that boots half an image. Writes are pushed to
//! the device as they go (`sync_file_range`, one chunk behind) so the page cache never
//! holds more than two chunks and progress shows the card's real rate. After a final
//! `fdatasync` the target's cached pages are dropped and every written range is read back
//! and compared with the block map's digest. Unmapped blocks are never written. This
//! module does not decide whether the target is safe to overwrite (see `device`).

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::device::{Device, DeviceKind};
use super::error::FlashError;
use super::source::{Source, span_len};
use crate::image::compress::open_decompressed;
use crate::image::io::{ImageFile, ReadAt};
use crate::verify::Target;

/// The partition table area, written last.
pub const HEAD_BYTES: u64 = 1 << 20;

/// Copy buffer and sync unit.
const CHUNK: usize = 8 << 20;

/// What the writer is doing, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Writing mapped ranges.
    Write,
    /// Reading them back.
    ReadBack,
}

/// What a flash did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlashReport {
    /// Bytes written (the mapped data).
    pub bytes_written: u64,
    /// Ranges written and read back.
    pub ranges: usize,
}

/// Where the write loop stands, so syncing can trail one chunk behind.
struct Sink<'a> {
    file: &'a File,
    path: &'a Path,
    /// Held-back bytes below [`HEAD_BYTES`], with their offsets.
    head: Vec<(u64, Vec<u8>)>,
    /// The previous chunk written, waited for when the next one is started.
    pending: Option<(u64, u64)>,
    written: u64,
}

impl Sink<'_> {
    fn error(&self, source: io::Error) -> FlashError {
        FlashError::Device {
            path: self.path.to_path_buf(),
            source,
        }
    }

    /// Writes `data` at `offset`, keeping back what falls in the head.
    fn write(&mut self, data: &[u8], offset: u64) -> Result<(), FlashError> {
        let head_len = HEAD_BYTES.saturating_sub(offset).min(data.len() as u64) as usize;
        let (head, rest) = data.split_at(head_len);
        if !head.is_empty() {
            self.head.push((offset, head.to_vec()));
        }
        if rest.is_empty() {
            return Ok(());
        }
        let at = offset + head_len as u64;
        self.file
            .write_all_at(rest, at)
            .map_err(|e| self.error(e))?;
        self.written += rest.len() as u64;
        let fd = self.file.as_raw_fd();
        let len = rest.len() as u64;
        // Start writeback of this chunk now, and wait for the previous one: dirty pages
        // stay bounded and the rate shown is the card's.
        // SAFETY: plain system calls on a descriptor we own; no memory is passed.
        unsafe {
            libc::sync_file_range(fd, at as i64, len as i64, libc::SYNC_FILE_RANGE_WRITE);
            if let Some((p_at, p_len)) = self.pending {
                libc::sync_file_range(
                    fd,
                    p_at as i64,
                    p_len as i64,
                    libc::SYNC_FILE_RANGE_WAIT_BEFORE
                        | libc::SYNC_FILE_RANGE_WRITE
                        | libc::SYNC_FILE_RANGE_WAIT_AFTER,
                );
            }
        }
        self.pending = Some((at, len));
        Ok(())
    }

    /// Syncs the body, then writes and syncs the head.
    fn finish(&mut self) -> Result<(), FlashError> {
        self.file.sync_data().map_err(|e| self.error(e))?;
        for (offset, bytes) in std::mem::take(&mut self.head) {
            self.file
                .write_all_at(&bytes, offset)
                .map_err(|e| self.error(e))?;
            self.written += bytes.len() as u64;
        }
        self.file.sync_data().map_err(|e| self.error(e))
    }
}

/// Writes `source` to `device` and reads it back. `progress` is called with the phase,
/// bytes done and bytes in total.
pub fn write(
    source: &Source,
    device: &Device,
    progress: &mut dyn FnMut(Phase, u64, u64),
) -> Result<FlashReport, FlashError> {
    let device_error = |source| FlashError::Device {
        path: device.path.clone(),
        source,
    };
    let file = match device.kind {
        DeviceKind::Block => OpenOptions::new().write(true).open(&device.path),
        DeviceKind::File => OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&device.path),
    }
    .map_err(device_error)?;
    if device.kind == DeviceKind::File {
        let len = file.metadata().map_err(device_error)?.len();
        if len < source.bmap.image_size {
            file.set_len(source.bmap.image_size).map_err(device_error)?;
        }
    }
    let total = source.mapped_bytes();
    let mut sink = Sink {
        file: &file,
        path: &device.path,
        head: Vec::new(),
        pending: None,
        written: 0,
    };
    progress(Phase::Write, 0, total);
    if source.compressed {
        write_stream(source, &mut sink, total, progress)?;
    } else {
        write_raw(source, &mut sink, total, progress)?;
    }
    sink.finish()?;
    let written = sink.written;
    // Drop the target's cached pages so the read-back reads the card, not memory.
    // SAFETY: advisory system call on a descriptor we own.
    unsafe {
        libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
    }
    drop(file);
    read_back(source, device, total, progress)?;
    Ok(FlashReport {
        bytes_written: written,
        ranges: source.bmap.ranges.len(),
    })
}

fn write_raw(
    source: &Source,
    sink: &mut Sink<'_>,
    total: u64,
    progress: &mut dyn FnMut(Phase, u64, u64),
) -> Result<(), FlashError> {
    let image_error = |e| FlashError::Image {
        path: source.path.clone(),
        source: e,
    };
    let image = ImageFile::open(&source.path).map_err(image_error)?;
    let bs = source.bmap.block_size;
    let mut buf = vec![0u8; CHUNK];
    let mut done = 0u64;
    for range in &source.bmap.ranges {
        let start = range.first.saturating_mul(bs);
        let end = start.saturating_add(span_len(range, bs, source.bmap.image_size));
        let mut pos = start;
        while pos < end {
            let len = (end - pos).min(CHUNK as u64) as usize;
            let chunk = buf.get_mut(..len).unwrap_or_default();
            image.read_exact_at(chunk, pos).map_err(image_error)?;
            sink.write(chunk, pos)?;
            pos += len as u64;
            done += len as u64;
            progress(Phase::Write, done, total);
        }
    }
    Ok(())
}

/// A compressed image is read once, in order: gaps between ranges are read and dropped,
/// each range is hashed as it is written and checked before the next.
fn write_stream(
    source: &Source,
    sink: &mut Sink<'_>,
    total: u64,
    progress: &mut dyn FnMut(Phase, u64, u64),
) -> Result<(), FlashError> {
    let image_error = |e| FlashError::Image {
        path: source.path.clone(),
        source: e,
    };
    let mut reader = open_decompressed(&source.path)?;
    let bs = source.bmap.block_size;
    let mut buf = vec![0u8; CHUNK];
    let mut pos = 0u64;
    let mut done = 0u64;
    for range in &source.bmap.ranges {
        let start = range.first.saturating_mul(bs);
        let end = start.saturating_add(span_len(range, bs, source.bmap.image_size));
        skip(&mut reader, start.saturating_sub(pos), &mut buf).map_err(image_error)?;
        pos = start;
        let mut hasher = Sha256::new();
        while pos < end {
            let len = (end - pos).min(CHUNK as u64) as usize;
            let chunk = buf.get_mut(..len).unwrap_or_default();
            reader.read_exact(chunk).map_err(image_error)?;
            hasher.update(&*chunk);
            sink.write(chunk, pos)?;
            pos += len as u64;
            done += len as u64;
            progress(Phase::Write, done, total);
        }
        if <[u8; 32]>::from(hasher.finalize()) != range.sha256 {
            return Err(FlashError::SourceDigest {
                first: range.first,
                last: range.last,
            });
        }
    }
    Ok(())
}

fn skip(reader: &mut dyn Read, mut n: u64, buf: &mut [u8]) -> io::Result<()> {
    while n > 0 {
        let len = n.min(buf.len() as u64) as usize;
        reader.read_exact(buf.get_mut(..len).unwrap_or_default())?;
        n -= len as u64;
    }
    Ok(())
}

fn read_back(
    source: &Source,
    device: &Device,
    total: u64,
    progress: &mut dyn FnMut(Phase, u64, u64),
) -> Result<(), FlashError> {
    let target = Target::open(&device.path).map_err(|e| FlashError::Device {
        path: device.path.clone(),
        source: e,
    })?;
    progress(Phase::ReadBack, 0, total);
    let bs = source.bmap.block_size;
    let mut buf = vec![0u8; CHUNK];
    let mut done = 0u64;
    let mut bad = Vec::new();
    for range in &source.bmap.ranges {
        let start = range.first.saturating_mul(bs);
        let end = start.saturating_add(span_len(range, bs, source.bmap.image_size));
        let mut hasher = Sha256::new();
        let mut pos = start;
        while pos < end {
            let len = (end - pos).min(CHUNK as u64) as usize;
            let chunk = buf.get_mut(..len).unwrap_or_default();
            target
                .read_exact_at(chunk, pos)
                .map_err(|e| FlashError::Device {
                    path: device.path.clone(),
                    source: e,
                })?;
            hasher.update(&*chunk);
            pos += len as u64;
            done += len as u64;
            progress(Phase::ReadBack, done, total);
        }
        if <[u8; 32]>::from(hasher.finalize()) != range.sha256 {
            bad.push((range.first, range.last));
        }
    }
    match bad.first() {
        Some(&(first, last)) => Err(FlashError::ReadBack {
            path: device.path.clone(),
            count: bad.len(),
            first,
            last,
        }),
        None => Ok(()),
    }
}
