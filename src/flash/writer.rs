//! Writes an image's mapped ranges to the target while read-back threads check each one
//! and a reader thread reads the image ahead.
//!
//! Order matters on a card: the first MiB (partition table and boot code) is held back
//! and written last, after everything else is on the target and synced, so a flash cut
//! short leaves a card that does not boot rather than one that boots half an image.
//! Unmapped blocks are never written. Reading the image (see `chunk`), writing, and the
//! read-back (see `readback`) run at the same time, joined by a bounded channel of chunks
//! and a shared gate that says how far the read-back may read.
//!
//! How written data reaches the medium depends on the target ([`Writeback`]):
//! - a **block device** (a card) gets `sync_file_range` as it goes, waited for one chunk
//!   behind, so the page cache holds at most two chunks and the rate shown is the card's;
//!   each chunk's pages are dropped once written back, so its read-back reads the card;
//! - a **regular file** gets its writeback started per chunk without waiting, and is read
//!   back through the page cache right after each write: the page cache *is* the file's
//!   content for every later reader, and there is no card behind it to distrust.
//!
//! Both end with `fdatasync` before and after the head. A raw image going to a regular
//! file is copied inside the kernel (`copy_file_range`, past the head), which halves the
//! copies and measured a third of the system time; other file systems fall back to
//! reading and writing. This module does not decide whether the target is safe to
//! overwrite (see `device`).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::sync::mpsc;

use super::chunk::{self, CHUNK, Chunk, POOL};
use super::device::{Device, DeviceKind};
use super::error::FlashError;
use super::readback::{self, CloseOnDrop, Gate, Outcome};
use super::source::Source;
use crate::verify::Target;

/// The partition table area, written last.
pub const HEAD_BYTES: u64 = 1 << 20;

/// What the writer is doing, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Writing mapped ranges (reading back runs alongside).
    Write,
    /// Finishing the read-back once everything is written.
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

/// How written chunks are pushed to the target's medium, chosen by the kind of target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Writeback {
    /// A card: start writeback of each chunk, wait for the previous one and drop its
    /// cached pages, so memory stays bounded and read-back reads the device.
    Card {
        /// The chunk whose writeback was started but not yet waited for.
        pending: Option<(u64, u64)>,
    },
    /// A regular file: start writeback without waiting; read back from the page cache.
    File,
}

impl Writeback {
    /// The policy for a target of `kind`.
    pub fn for_kind(kind: DeviceKind) -> Self {
        match kind {
            DeviceKind::Block => Writeback::Card { pending: None },
            DeviceKind::File => Writeback::File,
        }
    }

    /// Called once `len` bytes were written at `at`; returns the offset below which the
    /// written bytes may now be read back.
    pub fn written(&mut self, file: &File, at: u64, len: u64) -> io::Result<u64> {
        let fd = file.as_raw_fd();
        match self {
            Writeback::File => {
                // Only a head start for the disk while we hash: failure here is harmless,
                // and the final fdatasync reports what matters.
                let _ = sync_range(fd, at, len, libc::SYNC_FILE_RANGE_WRITE);
                Ok(at.saturating_add(len))
            }
            Writeback::Card { pending } => {
                sync_range(fd, at, len, libc::SYNC_FILE_RANGE_WRITE)?;
                let Some((p_at, p_len)) = pending.replace((at, len)) else {
                    return Ok(0);
                };
                sync_range(
                    fd,
                    p_at,
                    p_len,
                    libc::SYNC_FILE_RANGE_WAIT_BEFORE
                        | libc::SYNC_FILE_RANGE_WRITE
                        | libc::SYNC_FILE_RANGE_WAIT_AFTER,
                )?;
                drop_cache(fd, p_at, p_len);
                Ok(p_at.saturating_add(p_len))
            }
        }
    }

    /// Makes everything written so far durable (before the head, and after it); on a
    /// card, also drops the written pages so the read-back reads the device.
    pub fn sync(&mut self, file: &File) -> io::Result<()> {
        file.sync_data()?;
        if let Writeback::Card { pending } = self {
            *pending = None;
            drop_cache(file.as_raw_fd(), 0, 0);
        }
        Ok(())
    }
}

fn sync_range(fd: i32, at: u64, len: u64, flags: libc::c_uint) -> io::Result<()> {
    let (Ok(at), Ok(len)) = (i64::try_from(at), i64::try_from(len)) else {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    };
    // SAFETY: a plain system call on a descriptor the caller owns; no memory is passed.
    match unsafe { libc::sync_file_range(fd, at, len, flags) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Drops clean cached pages of `[at, at + len)` (`len` 0: to the end). Advisory: a
/// kernel that keeps them only makes the read-back less strict, never wrong.
fn drop_cache(fd: i32, at: u64, len: u64) {
    let (Ok(at), Ok(len)) = (i64::try_from(at), i64::try_from(len)) else {
        return;
    };
    // SAFETY: an advisory system call on a descriptor the caller owns.
    unsafe {
        libc::posix_fadvise(fd, at, len, libc::POSIX_FADV_DONTNEED);
    }
}

/// The writing side: the target, its writeback policy and the held-back head.
struct Sink<'a> {
    file: &'a File,
    path: &'a Path,
    /// The raw image, for chunks copied inside the kernel (a regular-file target).
    image: Option<(File, &'a Path)>,
    /// Set once the kernel refused to copy between these files: read and write instead.
    copy_by_hand: Option<Vec<u8>>,
    writeback: Writeback,
    /// Held-back bytes below [`HEAD_BYTES`], with their offsets.
    head: Vec<(u64, Vec<u8>)>,
    /// The highest read-back mark sent, so marks never go backwards.
    through: u64,
    written: u64,
}

impl Sink<'_> {
    fn error(&self, source: io::Error) -> FlashError {
        FlashError::Device {
            path: self.path.to_path_buf(),
            source,
        }
    }

    /// Writes `data` at `offset`, keeping back what falls in the head; returns the new
    /// read-back mark.
    fn write(&mut self, data: &[u8], offset: u64) -> Result<u64, FlashError> {
        let head_len = usize::try_from(HEAD_BYTES.saturating_sub(offset))
            .map_or(data.len(), |n| n.min(data.len()));
        let (head, rest) = data.split_at(head_len);
        if !head.is_empty() {
            self.head.push((offset, head.to_vec()));
        }
        if rest.is_empty() {
            return Ok(self.through);
        }
        let at = offset.saturating_add(head_len as u64);
        self.file
            .write_all_at(rest, at)
            .map_err(|e| self.error(e))?;
        self.written = self.written.saturating_add(rest.len() as u64);
        let mark = self
            .writeback
            .written(self.file, at, rest.len() as u64)
            .map_err(|e| self.error(e))?;
        self.through = self.through.max(mark);
        Ok(self.through)
    }

    /// Copies `len` bytes at `offset` from the raw image to the same offset of the target
    /// (never in the head); returns the new read-back mark.
    fn copy(&mut self, offset: u64, len: usize) -> Result<u64, FlashError> {
        let Some((image, image_path)) = &self.image else {
            return Err(self.error(io::Error::other(
                "internal error: a chunk without bytes and no image to copy from",
            )));
        };
        let image_error = |source| FlashError::Image {
            path: image_path.to_path_buf(),
            source,
        };
        let mut done = 0usize;
        while done < len {
            let at = offset.saturating_add(done as u64);
            let rest = len - done;
            if let Some(buf) = &mut self.copy_by_hand {
                let piece = buf.get_mut(..rest.min(CHUNK)).unwrap_or_default();
                image.read_exact_at(piece, at).map_err(image_error)?;
                self.file
                    .write_all_at(piece, at)
                    .map_err(|e| FlashError::Device {
                        path: self.path.to_path_buf(),
                        source: e,
                    })?;
                done += piece.len();
                continue;
            }
            let (Ok(mut from), Ok(mut to)) = (i64::try_from(at), i64::try_from(at)) else {
                return Err(image_error(io::Error::from(io::ErrorKind::InvalidInput)));
            };
            // SAFETY: both descriptors are open files we own; the offsets are locals the
            // call updates, and no buffer of ours is passed.
            let n = unsafe {
                libc::copy_file_range(
                    image.as_raw_fd(),
                    &mut from,
                    self.file.as_raw_fd(),
                    &mut to,
                    rest,
                    0,
                )
            };
            match usize::try_from(n) {
                Ok(0) => {
                    return Err(image_error(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("the image ends before byte {at}"),
                    )));
                }
                Ok(n) => done += n,
                Err(_) => {
                    let e = io::Error::last_os_error();
                    let refused = [libc::EXDEV, libc::EINVAL, libc::ENOSYS, libc::EOPNOTSUPP];
                    if !e.raw_os_error().is_some_and(|c| refused.contains(&c)) {
                        return Err(self.error(e));
                    }
                    // Another file system, or an old kernel: fall back for the rest.
                    self.copy_by_hand = Some(vec![0u8; CHUNK]);
                }
            }
        }
        self.written = self.written.saturating_add(len as u64);
        let mark = self
            .writeback
            .written(self.file, offset, len as u64)
            .map_err(|e| self.error(e))?;
        self.through = self.through.max(mark);
        Ok(self.through)
    }

    /// Syncs the body, then writes and syncs the head.
    fn finish(&mut self) -> Result<(), FlashError> {
        self.writeback.sync(self.file).map_err(|e| self.error(e))?;
        for (offset, bytes) in std::mem::take(&mut self.head) {
            self.file
                .write_all_at(&bytes, offset)
                .map_err(|e| self.error(e))?;
            self.written = self.written.saturating_add(bytes.len() as u64);
        }
        self.writeback.sync(self.file).map_err(|e| self.error(e))
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
    let file = open_target(source, device)?;
    let target = Target::open(&device.path).map_err(device_error)?;
    let total = source.mapped_bytes();
    // A raw image going to a regular file is copied inside the kernel, past the head:
    // one copy of each byte instead of two through a buffer of ours.
    let copy_from = (!source.compressed && device.kind == DeviceKind::File).then_some(HEAD_BYTES);
    let image = match copy_from {
        Some(_) => Some((
            File::open(&source.path).map_err(|e| FlashError::Image {
                path: source.path.clone(),
                source: e,
            })?,
            source.path.as_path(),
        )),
        None => None,
    };
    let mut sink = Sink {
        file: &file,
        path: &device.path,
        image,
        copy_by_hand: None,
        writeback: Writeback::for_kind(device.kind),
        head: Vec::new(),
        through: 0,
        written: 0,
    };
    progress(Phase::Write, 0, total);
    let gate = Gate::new();
    let (outcome, written) = std::thread::scope(|scope| {
        let (chunk_tx, chunk_rx) = mpsc::sync_channel::<Result<Chunk, FlashError>>(POOL);
        let (free_tx, free_rx) = mpsc::channel::<Vec<u8>>();
        let (done_tx, done_rx) = mpsc::channel::<u64>();
        for _ in 0..POOL {
            // The receiver is alive: it is moved into the reader below.
            let _ = free_tx.send(vec![0u8; CHUNK]);
        }
        let reader = scope.spawn(move || chunk::produce(source, copy_from, &chunk_tx, &free_rx));
        let (target, gate) = (&target, &gate);
        let checker =
            scope.spawn(move || readback::run(target, &source.bmap, HEAD_BYTES, gate, &done_tx));
        // Whatever happens below, the read-back must not wait for more.
        let closer = CloseOnDrop(gate);
        let mut checked = 0u64;
        let written = write_chunks(&mut sink, &chunk_rx, &free_tx, gate, &mut |done| {
            checked += done_rx.try_iter().sum::<u64>();
            progress(Phase::Write, done, total);
        });
        // Hanging up stops the reader.
        drop(chunk_rx);
        drop(free_tx);
        let written = written.and_then(|()| {
            sink.finish()?;
            gate.all();
            Ok(sink.written)
        });
        drop(closer);
        if written.is_ok() {
            progress(Phase::ReadBack, checked, total);
            for done in done_rx.iter() {
                checked += done;
                progress(Phase::ReadBack, checked, total);
            }
        }
        let _ = reader.join();
        let outcome = checker.join().unwrap_or_else(|_| {
            Err(io::Error::other(
                "internal error: the read-back thread stopped",
            ))
        });
        (outcome, written)
    });
    let written = written?;
    let outcome = outcome.map_err(device_error)?;
    match outcome {
        Outcome { ref bad, .. } if !bad.is_empty() => {
            let (first, last) = bad.first().copied().unwrap_or_default();
            Err(FlashError::ReadBack {
                path: device.path.clone(),
                count: bad.len(),
                first,
                last,
            })
        }
        Outcome {
            complete: false, ..
        } => Err(device_error(io::Error::other(
            "internal error: the read-back ended before every range was checked",
        ))),
        _ => Ok(FlashReport {
            bytes_written: written,
            ranges: source.bmap.ranges.len(),
        }),
    }
}

/// Opens the target for writing; a file is grown to the image's size (never shrunk, as
/// a card keeps what lies past the image).
fn open_target(source: &Source, device: &Device) -> Result<File, FlashError> {
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
    Ok(file)
}

/// The write loop: takes chunks from the reader, writes them, returns their buffers and
/// tells the read-back how far it may read.
fn write_chunks(
    sink: &mut Sink<'_>,
    chunks: &mpsc::Receiver<Result<Chunk, FlashError>>,
    free: &mpsc::Sender<Vec<u8>>,
    gate: &Gate,
    progress: &mut dyn FnMut(u64),
) -> Result<(), FlashError> {
    let mut done = 0u64;
    for chunk in chunks.iter() {
        let chunk = chunk?;
        let mark = match chunk.data() {
            Some(data) => sink.write(data, chunk.offset)?,
            None => sink.copy(chunk.offset, chunk.len)?,
        };
        gate.through(mark);
        done = done.saturating_add(chunk.len as u64);
        if let Some(buf) = chunk.buf {
            // The reader may have finished and hung up; the buffer is then simply dropped.
            let _ = free.send(buf);
        }
        progress(done);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(len: u64) -> (tempfile::NamedTempFile, File) {
        let named = tempfile::NamedTempFile::new().unwrap();
        let file = OpenOptions::new().write(true).open(named.path()).unwrap();
        file.set_len(len).unwrap();
        (named, file)
    }

    #[test]
    fn a_card_is_read_back_one_chunk_behind_a_file_at_once() {
        let (_named, file) = temp_file(64 << 10);
        let chunk = vec![7u8; 16 << 10];
        let mut card = Writeback::for_kind(DeviceKind::Block);
        let mut plain = Writeback::for_kind(DeviceKind::File);
        for (i, at) in [0u64, 16 << 10, 32 << 10].into_iter().enumerate() {
            file.write_all_at(&chunk, at).unwrap();
            let end = at + chunk.len() as u64;
            let card_mark = card.written(&file, at, chunk.len() as u64).unwrap();
            let file_mark = plain.written(&file, at, chunk.len() as u64).unwrap();
            assert_eq!(file_mark, end, "a file's bytes are readable once written");
            let behind = if i == 0 { 0 } else { at };
            assert_eq!(card_mark, behind, "a card's chunk waits for its writeback");
        }
        card.sync(&file).unwrap();
        assert_eq!(card, Writeback::Card { pending: None });
        plain.sync(&file).unwrap();
        assert_eq!(plain, Writeback::File);
    }

    #[test]
    fn chunks_copied_in_the_kernel_or_by_hand_land_the_same_and_a_short_image_is_an_error() {
        let image = tempfile::NamedTempFile::new().unwrap();
        let bytes: Vec<u8> = (0..3 * CHUNK as u32 / 2).map(|i| (i % 253) as u8).collect();
        std::fs::write(image.path(), &bytes).unwrap();
        for by_hand in [false, true] {
            let (named, file) = temp_file(bytes.len() as u64);
            let mut sink = Sink {
                file: &file,
                path: named.path(),
                image: Some((File::open(image.path()).unwrap(), image.path())),
                copy_by_hand: by_hand.then(|| vec![0u8; CHUNK]),
                writeback: Writeback::File,
                head: Vec::new(),
                through: 0,
                written: 0,
            };
            let len = bytes.len() - 4096;
            assert_eq!(sink.copy(4096, len).unwrap(), bytes.len() as u64);
            assert_eq!(sink.written, len as u64);
            let out = std::fs::read(named.path()).unwrap();
            assert_eq!(&out[4096..], &bytes[4096..], "by hand: {by_hand}");
            assert!(out[..4096].iter().all(|&b| b == 0));
            let past = sink.copy(bytes.len() as u64 - 10, 20);
            assert!(
                matches!(past, Err(FlashError::Image { .. })),
                "by hand: {by_hand}: {past:?}"
            );
        }
    }
}
