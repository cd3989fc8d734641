//! The reading side of a flash: a thread that cuts the image's mapped ranges into chunks
//! and hands them to the writer through a bounded channel, so reading (and, for a
//! compressed image, decompressing and hashing) runs while the previous chunk is written.
//!
//! Buffers go round: the writer sends each one back once written, so a flash allocates
//! [`POOL`] chunks once, whatever the image's size. A raw image's digests were checked
//! before the first write (see `source`) and are checked again by the read-back, so they
//! are not hashed here; a compressed image can only be checked as it streams, so each
//! range's digest is checked here and a mismatch ends the stream with an error before the
//! partition table is written. This module writes nothing.

use std::io::{self, Read};
use std::sync::mpsc::{Receiver, SyncSender};

use sha2::{Digest, Sha256};

use super::error::FlashError;
use super::source::{Source, span_len};
use crate::image::compress::open_decompressed;
use crate::image::io::{ImageFile, ReadAt};

/// Bytes per chunk: the unit of reading, writing, writeback and read-back.
pub const CHUNK: usize = 4 << 20;

/// Chunk buffers in circulation: one being read, one being written, the rest queued (a
/// compressed image keeps one more to read the gaps between ranges into).
pub const POOL: usize = 4;

/// A piece of one mapped range, `len` bytes to be written at `offset`.
#[derive(Debug)]
pub struct Chunk {
    /// Where it goes on the target (and came from in the image).
    pub offset: u64,
    /// How many bytes.
    pub len: usize,
    /// The bytes, in the first `len` of a `CHUNK`-long buffer; `None` when the writer is
    /// to copy them from the raw image itself (see [`produce`]'s `copy_from`).
    pub buf: Option<Vec<u8>>,
}

impl Chunk {
    /// The chunk's bytes, when it carries them.
    pub fn data(&self) -> Option<&[u8]> {
        self.buf
            .as_ref()
            .map(|b| b.get(..self.len).unwrap_or_default())
    }
}

/// Reads `source`'s mapped ranges in order and sends them as chunks on `out`, taking
/// empty buffers from `free`. With `copy_from`, a raw image's chunks that start at or
/// past that offset are sent without their bytes, for the writer to copy inside the
/// kernel. Stops quietly when the writer hangs up; sends an error and stops when the
/// image cannot be read or a compressed range does not match its digest.
pub fn produce(
    source: &Source,
    copy_from: Option<u64>,
    out: &SyncSender<Result<Chunk, FlashError>>,
    free: &Receiver<Vec<u8>>,
) {
    let result = if source.compressed {
        produce_stream(source, out, free)
    } else {
        produce_raw(source, copy_from.unwrap_or(u64::MAX), out, free)
    };
    if let Err(Stop::Failed(error)) = result {
        // The writer may already have hung up; then nobody needs to hear it.
        let _ = out.send(Err(error));
    }
}

/// Why production stopped early.
enum Stop {
    /// The writer hung up (it failed, or it is done).
    HungUp,
    /// Reading failed.
    Failed(FlashError),
}

fn image_error(source: &Source, e: io::Error) -> Stop {
    Stop::Failed(FlashError::Image {
        path: source.path.clone(),
        source: e,
    })
}

/// Byte spans `[start, end)` of the mapped ranges, in order.
fn spans(source: &Source) -> impl Iterator<Item = (u64, u64)> + '_ {
    let bs = source.bmap.block_size;
    source.bmap.ranges.iter().map(move |r| {
        let start = r.first.saturating_mul(bs);
        (
            start,
            start.saturating_add(span_len(r, bs, source.bmap.image_size)),
        )
    })
}

fn produce_raw(
    source: &Source,
    copy_from: u64,
    out: &SyncSender<Result<Chunk, FlashError>>,
    free: &Receiver<Vec<u8>>,
) -> Result<(), Stop> {
    let image = ImageFile::open(&source.path).map_err(|e| image_error(source, e))?;
    for (start, end) in spans(source) {
        let mut pos = start;
        while pos < end {
            if pos >= copy_from {
                let len = usize::try_from(end - pos).map_or(CHUNK, |n| n.min(CHUNK));
                out.send(Ok(Chunk {
                    offset: pos,
                    len,
                    buf: None,
                }))
                .map_err(|_| Stop::HungUp)?;
                pos = pos.saturating_add(len as u64);
                continue;
            }
            let mut buf = free.recv().map_err(|_| Stop::HungUp)?;
            let len = usize::try_from(end - pos).map_or(buf.len(), |n| n.min(buf.len()));
            if len == 0 {
                return Err(image_error(source, empty_buffer()));
            }
            let data = buf.get_mut(..len).unwrap_or_default();
            image
                .read_exact_at(data, pos)
                .map_err(|e| image_error(source, e))?;
            out.send(Ok(Chunk {
                offset: pos,
                len,
                buf: Some(buf),
            }))
            .map_err(|_| Stop::HungUp)?;
            pos = pos.saturating_add(len as u64);
        }
    }
    Ok(())
}

/// A compressed image is read once, in order: gaps between ranges are read and dropped,
/// and each range is hashed as it goes and checked before the next one is read.
fn produce_stream(
    source: &Source,
    out: &SyncSender<Result<Chunk, FlashError>>,
    free: &Receiver<Vec<u8>>,
) -> Result<(), Stop> {
    let mut reader = open_decompressed(&source.path).map_err(|e| Stop::Failed(e.into()))?;
    // Gaps are read into one pool buffer kept for the purpose; the others go round.
    let mut scratch = free.recv().map_err(|_| Stop::HungUp)?;
    let mut pos = 0u64;
    for (range, (start, end)) in source.bmap.ranges.iter().zip(spans(source)) {
        skip(&mut reader, start.saturating_sub(pos), &mut scratch)
            .map_err(|e| image_error(source, e))?;
        pos = start.max(pos);
        let mut hasher = Sha256::new();
        while pos < end {
            let mut buf = free.recv().map_err(|_| Stop::HungUp)?;
            let len = usize::try_from(end - pos).map_or(buf.len(), |n| n.min(buf.len()));
            if len == 0 {
                return Err(image_error(source, empty_buffer()));
            }
            let data = buf.get_mut(..len).unwrap_or_default();
            reader
                .read_exact(data)
                .map_err(|e| image_error(source, e))?;
            hasher.update(&*data);
            out.send(Ok(Chunk {
                offset: pos,
                len,
                buf: Some(buf),
            }))
            .map_err(|_| Stop::HungUp)?;
            pos = pos.saturating_add(len as u64);
        }
        if <[u8; 32]>::from(hasher.finalize()) != range.sha256 {
            return Err(Stop::Failed(FlashError::SourceDigest {
                first: range.first,
                last: range.last,
            }));
        }
    }
    Ok(())
}

fn skip(reader: &mut dyn Read, mut n: u64, buf: &mut [u8]) -> io::Result<()> {
    if buf.is_empty() {
        return Err(empty_buffer());
    }
    while n > 0 {
        let len = usize::try_from(n).map_or(buf.len(), |n| n.min(buf.len()));
        reader.read_exact(buf.get_mut(..len).unwrap_or_default())?;
        n -= len as u64;
    }
    Ok(())
}

/// A zero-length buffer would never advance; the writer always hands full chunks.
fn empty_buffer() -> io::Error {
    io::Error::other("internal error: an empty chunk buffer was handed to the reader")
}
