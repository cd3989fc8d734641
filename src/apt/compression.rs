//! The compressions a `.deb` member may use, chosen by the member's name, and a cap on how
//! much a decompressor may produce.
//!
//! dpkg names the compression in the member's suffix (`data.tar.xz`); the same suffixes are
//! accepted here: none, `.gz`, `.xz`, `.zst`, and `.bz2` (dpkg reads bzip2 only for
//! `data.tar`, so a bzip2 `control.tar` is refused as dpkg refuses it). Decoders are limited
//! in memory (xz's dictionary) and every stream in output size ([`CappedReader`]), so a
//! decompression bomb ends in an error rather than an exhausted machine. This module does
//! not know what is inside the streams.

use std::io::{self, Read};

/// The most memory the xz decoder may use. Debian's packages are made with `xz -6`..`-9`
/// (8-64 MiB dictionaries); a header that asks for more is refused.
const XZ_MEMLIMIT: u64 = 256 << 20;

/// A member's compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip (`.gz`).
    Gzip,
    /// xz (`.xz`).
    Xz,
    /// Zstandard (`.zst`).
    Zstd,
    /// bzip2 (`.bz2`), for `data.tar` only.
    Bzip2,
}

impl Compression {
    /// The compression of member `name` if it is `<stem>` followed by a suffix dpkg reads
    /// for that member; `None` when the name is another member or an unknown suffix.
    pub fn for_member(name: &str, stem: &str) -> Option<Self> {
        let suffix = name.strip_prefix(stem)?;
        let found = match suffix {
            "" => Self::None,
            ".gz" => Self::Gzip,
            ".xz" => Self::Xz,
            ".zst" => Self::Zstd,
            ".bz2" if stem == "data.tar" => Self::Bzip2,
            _ => return None,
        };
        Some(found)
    }

    /// A reader of the decompressed bytes of `input`.
    pub fn decoder<'a, R: Read + 'a>(self, input: R) -> io::Result<Box<dyn Read + 'a>> {
        Ok(match self {
            Self::None => Box::new(input),
            Self::Gzip => Box::new(flate2::read::MultiGzDecoder::new(input)),
            Self::Xz => {
                let stream = liblzma::stream::Stream::new_stream_decoder(
                    XZ_MEMLIMIT,
                    liblzma::stream::CONCATENATED,
                )
                .map_err(io::Error::other)?;
                Box::new(liblzma::read::XzDecoder::new_stream(input, stream))
            }
            Self::Zstd => {
                let mut decoder = zstd::stream::read::Decoder::new(input)?;
                // zstd's default window limit (128 MiB) is also what dpkg accepts; set it
                // explicitly so a newer library default cannot raise our memory use.
                decoder.window_log_max(27)?;
                Box::new(decoder)
            }
            Self::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(input)),
        })
    }
}

/// Passes bytes through until more than `cap` have gone by, then fails: the guard against
/// decompression bombs. Also counts, so callers can say how much a stream held.
pub struct CappedReader<R> {
    inner: R,
    cap: u64,
    count: u64,
}

impl<R: Read> CappedReader<R> {
    /// Wraps `inner`, allowing at most `cap` bytes.
    pub fn new(inner: R, cap: u64) -> Self {
        Self {
            inner,
            cap,
            count: 0,
        }
    }

    /// The bytes read so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The cap.
    pub fn cap(&self) -> u64 {
        self.cap
    }
}

/// The error inside the `io::Error` a [`CappedReader`] returns, so callers can tell a
/// decompression bomb from a corrupt stream.
#[derive(Debug, thiserror::Error)]
#[error("decompressed data exceeds the allowed size")]
pub struct CapExceeded;

impl<R: Read> Read for CappedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Read one byte past the cap so that a stream of exactly `cap` bytes passes and a
        // longer one is caught.
        let room = self.cap.saturating_sub(self.count).saturating_add(1);
        let want = usize::try_from(room).unwrap_or(usize::MAX).min(buf.len());
        let n = self.inner.read(&mut buf[..want])?;
        self.count = self.count.saturating_add(n as u64);
        if self.count > self.cap {
            return Err(io::Error::other(CapExceeded));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn suffixes_follow_dpkg() {
        assert_eq!(
            Compression::for_member("data.tar.xz", "data.tar"),
            Some(Compression::Xz)
        );
        assert_eq!(
            Compression::for_member("control.tar", "control.tar"),
            Some(Compression::None)
        );
        assert_eq!(
            Compression::for_member("data.tar.bz2", "data.tar"),
            Some(Compression::Bzip2)
        );
        assert_eq!(
            Compression::for_member("control.tar.bz2", "control.tar"),
            None
        );
        assert_eq!(Compression::for_member("data.tar.lz4", "data.tar"), None);
        assert_eq!(Compression::for_member("data.tarx", "data.tar"), None);
    }

    #[test]
    fn gzip_round_trip_and_cap() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&vec![0u8; 100_000]).unwrap();
        let gz = enc.finish().unwrap();
        let mut out = Vec::new();
        let mut capped =
            CappedReader::new(Compression::Gzip.decoder(gz.as_slice()).unwrap(), 100_000);
        capped.read_to_end(&mut out).unwrap();
        assert_eq!(out.len(), 100_000);
        let mut capped =
            CappedReader::new(Compression::Gzip.decoder(gz.as_slice()).unwrap(), 99_999);
        let err = capped.read_to_end(&mut Vec::new()).unwrap_err();
        assert!(err.get_ref().is_some_and(|e| e.is::<CapExceeded>()));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for c in [
            Compression::Gzip,
            Compression::Xz,
            Compression::Zstd,
            Compression::Bzip2,
        ] {
            let garbage = [0x5au8; 64];
            let result = c
                .decoder(&garbage[..])
                .and_then(|mut r| r.read_to_end(&mut Vec::new()));
            assert!(result.is_err(), "{c:?} accepted garbage");
        }
    }
}
