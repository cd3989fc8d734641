//! Copies a stream into a sparse file: 4 KiB blocks of zeros become holes, so an unpacked
//! base image takes on disk only what its filesystems use (a 4 GiB card image holding 1 GiB
//! of files costs about 1 GiB).
//!
//! It neither names, syncs nor renames the file: the caller owns atomicity.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;

/// The unit of holes: the file systems' block size, and the bmap's.
const BLOCK: usize = 4096;
/// How much is read at a time.
const CHUNK: usize = 4 << 20;

/// Why a sparse copy stopped.
#[derive(Debug)]
pub(super) enum CopyError {
    /// The source failed (a corrupt compressed stream shows up here).
    Read(io::Error),
    /// The destination failed (a full disk shows up here).
    Write(io::Error),
    /// The source holds more than the limit.
    TooLarge,
}

/// Copies all of `reader` into the empty `file`, leaving holes for all-zero blocks, and
/// returns the number of bytes copied. Stops with [`CopyError::TooLarge`] as soon as more
/// than `limit` bytes arrive.
pub(super) fn copy_sparse(
    reader: &mut dyn Read,
    file: &File,
    limit: u64,
) -> Result<u64, CopyError> {
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = fill(reader, &mut buf).map_err(CopyError::Read)?;
        if n == 0 {
            break;
        }
        let end = total.checked_add(n as u64).filter(|&end| end <= limit);
        let Some(end) = end else {
            return Err(CopyError::TooLarge);
        };
        let chunk = buf.get(..n).unwrap_or_default();
        let mut run: Option<usize> = None;
        for (index, block) in chunk.chunks(BLOCK).enumerate() {
            let start = index * BLOCK;
            let zero = block.iter().all(|&b| b == 0);
            match (zero, run) {
                (false, None) => run = Some(start),
                (true, Some(from)) => {
                    write_run(file, chunk, from, start, total)?;
                    run = None;
                }
                _ => {}
            }
        }
        if let Some(from) = run {
            write_run(file, chunk, from, n, total)?;
        }
        total = end;
        if n < buf.len() {
            break;
        }
    }
    // Trailing zeros were never written: the length makes them a hole.
    file.set_len(total).map_err(CopyError::Write)?;
    Ok(total)
}

/// Writes `chunk[from..to]` where it belongs in the file, `chunk` starting at `base`.
fn write_run(
    file: &File,
    chunk: &[u8],
    from: usize,
    to: usize,
    base: u64,
) -> Result<(), CopyError> {
    let bytes = chunk.get(from..to).unwrap_or_default();
    file.write_all_at(bytes, base.saturating_add(from as u64))
        .map_err(CopyError::Write)
}

/// Reads until `buf` is full or the stream ends; returns how much was read.
fn fill(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut have = 0;
    while let Some(rest) = buf.get_mut(have..).filter(|rest| !rest.is_empty()) {
        match reader.read(rest) {
            Ok(0) => break,
            Ok(n) => have += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(have)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    #[test]
    fn zero_blocks_become_holes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sparse");
        let mut data = vec![0u8; 3 * CHUNK + 5000];
        data[10] = 1;
        data[CHUNK + 3 * BLOCK] = 2;
        data[3 * CHUNK + 4999] = 3;
        let file = File::create(&path).unwrap();
        let copied = copy_sparse(&mut data.as_slice(), &file, u64::MAX).unwrap();
        assert_eq!(copied, data.len() as u64);
        drop(file);
        assert_eq!(std::fs::read(&path).unwrap(), data);
        // Three data blocks (plus allocation slack), not 12 MiB.
        assert!(std::fs::metadata(&path).unwrap().blocks() * 512 < 1 << 20);
    }

    #[test]
    fn trailing_zeros_and_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sparse");
        let file = File::create(&path).unwrap();
        let data = vec![0u8; 10_000];
        assert_eq!(
            copy_sparse(&mut data.as_slice(), &file, 10_000).unwrap(),
            10_000
        );
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 10_000);
        let file = File::create(&path).unwrap();
        assert!(matches!(
            copy_sparse(&mut data.as_slice(), &file, 9_999),
            Err(CopyError::TooLarge)
        ));
    }
}
