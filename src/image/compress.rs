//! Compressed image outputs and compressed inputs: writes a raw (sparse) image as `.xz`
//! (liblzma's multi-threaded encoder, preset 6, CRC64) or `.gz` (deterministic header),
//! hashing the compressed bytes as they are written, and opens `.xz`, `.gz` or raw files
//! for reading by their magic bytes. It does not rename outputs into place, fsync them or
//! decide file names: the caller owns atomicity.
//!
//! Reproducibility: the multi-threaded xz encoder cuts the input into blocks of a fixed
//! size (3 × the dictionary, 24 MiB at preset 6) that depends only on the preset, never on
//! the thread count, and each block is compressed independently. The output is therefore
//! the same bytes whatever `threads` is (checked by the tests for 1, 2 and 4 threads), and
//! equal to `xz -T2 -6` (checked against the system's xz). The gzip header carries no file
//! name and mtime 0, so the same input always gives the same `.gz`.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::GzBuilder;
use liblzma::stream::{Check, MtStreamBuilder};
use sha2::{Digest, Sha256};

/// Chunk size for streaming the raw image: large enough that syscalls and the encoder's
/// per-call overhead vanish, small enough to keep memory flat.
const CHUNK: usize = 4 << 20;

/// The xz preset: `xz -6`, the default, what the published images use.
const XZ_PRESET: u32 = 6;

/// Memory the multi-threaded xz decoder may use before it falls back to fewer threads.
/// A preset-6 block needs about 24 MiB of buffer per thread; this allows many threads
/// while keeping the tool well under its memory budget.
const XZ_DECODE_MEMLIMIT: u64 = 256 << 20;

const XZ_MAGIC: [u8; 6] = [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00];
const GZ_MAGIC: [u8; 2] = [0x1F, 0x8B];

/// Which compressed format to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `.xz`: LZMA2 preset 6, CRC64, multi-threaded.
    Xz,
    /// `.gz`: deflate level 6, no file name, mtime 0.
    Gz,
}

/// What [`compress`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompressReport {
    /// Bytes of raw image read (holes count as the zeros they read as).
    pub bytes_in: u64,
    /// Bytes of compressed output written.
    pub bytes_out: u64,
    /// SHA-256 of the compressed output.
    pub sha256_out: [u8; 32],
}

/// Errors while compressing an image or opening a compressed one.
#[derive(Debug, thiserror::Error)]
pub enum CompressError {
    /// The input image could not be opened or read.
    #[error("cannot read the image {path}: {source}")]
    Read {
        /// The image.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
    /// The output could not be created or written (a full disk shows up here).
    #[error("cannot write the compressed image {path}: {source}")]
    Write {
        /// The output file.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
    /// liblzma refused the encoder or decoder settings (for example too little memory
    /// for the requested threads).
    #[error("cannot set up xz for {path} with {threads} threads: {source}")]
    XzSetup {
        /// The file being compressed or opened.
        path: PathBuf,
        /// Threads asked for.
        threads: u32,
        /// liblzma's reason.
        source: liblzma::stream::Error,
    },
}

/// Compresses the raw image at `image` into `out` as `kind`, using `threads` encoder
/// threads for xz (gzip is single-threaded). The same input gives the same bytes.
pub fn compress(
    image: &Path,
    out: &Path,
    kind: Kind,
    threads: u32,
) -> Result<CompressReport, CompressError> {
    let read_err = |source| CompressError::Read {
        path: image.to_path_buf(),
        source,
    };
    let write_err = |source| CompressError::Write {
        path: out.to_path_buf(),
        source,
    };
    let mut input = File::open(image).map_err(read_err)?;
    let file = File::create(out).map_err(write_err)?;
    let sink = HashingWriter::new(BufWriter::with_capacity(1 << 20, file));
    let (bytes_in, sink) = match kind {
        Kind::Xz => {
            let stream = MtStreamBuilder::new()
                .preset(XZ_PRESET)
                .check(Check::Crc64)
                .threads(threads.max(1))
                .encoder()
                .map_err(|source| CompressError::XzSetup {
                    path: image.to_path_buf(),
                    threads,
                    source,
                })?;
            let mut enc = liblzma::write::XzEncoder::new_stream(sink, stream);
            let n = pump(&mut input, &mut enc, image, out)?;
            (n, enc.finish().map_err(write_err)?)
        }
        Kind::Gz => {
            let mut enc = GzBuilder::new().mtime(0).write(sink, Compression::new(6));
            let n = pump(&mut input, &mut enc, image, out)?;
            (n, enc.finish().map_err(write_err)?)
        }
    };
    let (mut buffered, hasher, bytes_out) = sink.into_parts();
    buffered.flush().map_err(write_err)?;
    Ok(CompressReport {
        bytes_in,
        bytes_out,
        sha256_out: hasher.finalize().into(),
    })
}

/// Copies the whole input into the encoder in [`CHUNK`]s, telling read and write errors
/// apart so the message names the right file.
fn pump(
    input: &mut File,
    enc: &mut dyn Write,
    image: &Path,
    out: &Path,
) -> Result<u64, CompressError> {
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(CompressError::Read {
                    path: image.to_path_buf(),
                    source,
                });
            }
        };
        let chunk = buf.get(..n).unwrap_or_default();
        enc.write_all(chunk)
            .map_err(|source| CompressError::Write {
                path: out.to_path_buf(),
                source,
            })?;
        total = total.saturating_add(n as u64);
    }
}

/// A writer that hashes and counts everything passing through, so the output's digest
/// costs no second read.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashingWriter<W> {
    fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    fn into_parts(self) -> (W, Sha256, u64) {
        (self.inner, self.hasher, self.count)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        let written = buf.get(..n).unwrap_or(buf);
        self.hasher.update(written);
        self.count = self.count.saturating_add(n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Opens `path` for reading its decompressed content: `.xz` (multi-threaded decoder) and
/// `.gz` (concatenated members allowed) are recognised by their magic bytes, anything
/// else is read as is. Read errors from the returned reader name the file.
pub fn open_decompressed(path: &Path) -> Result<Box<dyn Read + Send>, CompressError> {
    let read_err = |source| CompressError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(read_err)?;
    let mut magic = [0u8; 6];
    let mut have = 0;
    while have < magic.len() {
        let rest = magic.get_mut(have..).unwrap_or_default();
        match file.read(rest) {
            Ok(0) => break,
            Ok(n) => have += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(read_err(e)),
        }
    }
    file.seek(SeekFrom::Start(0)).map_err(read_err)?;
    let head = magic.get(..have).unwrap_or_default();
    let buffered = BufReader::with_capacity(1 << 20, file);
    let inner: Box<dyn Read + Send> = if head == XZ_MAGIC {
        let threads = std::thread::available_parallelism()
            .map(|n| u32::try_from(n.get()).unwrap_or(1))
            .unwrap_or(1);
        let stream = MtStreamBuilder::new()
            .threads(threads)
            .memlimit_threading(XZ_DECODE_MEMLIMIT)
            .memlimit_stop(u64::MAX)
            .decoder()
            .map_err(|source| CompressError::XzSetup {
                path: path.to_path_buf(),
                threads,
                source,
            })?;
        Box::new(liblzma::read::XzDecoder::new_stream(buffered, stream))
    } else if head.starts_with(&GZ_MAGIC) {
        Box::new(flate2::read::MultiGzDecoder::new(buffered))
    } else {
        Box::new(buffered)
    };
    Ok(Box::new(NamedReader {
        inner,
        path: path.to_path_buf(),
    }))
}

/// Adds the file name to read errors: a corrupt `.xz` deep inside a build must say which
/// file is at fault.
struct NamedReader {
    inner: Box<dyn Read + Send>,
    path: PathBuf,
}

impl Read for NamedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "{}: {e} (the file is truncated or corrupt)",
                    self.path.display()
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashing_writer_counts_and_hashes() {
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(b"abc").unwrap();
        let (inner, hasher, count) = w.into_parts();
        assert_eq!(inner, b"abc");
        assert_eq!(count, 3);
        assert_eq!(
            hasher.finalize().as_slice(),
            Sha256::digest(b"abc").as_slice()
        );
    }

    #[test]
    fn raw_and_tiny_files_open_as_is() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tiny");
        std::fs::write(&p, [0x1F]).unwrap();
        let mut out = Vec::new();
        open_decompressed(&p)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, [0x1F]);
    }
}
