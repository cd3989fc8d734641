//! One download into one temporary file of the cache: the attempts, the `Range` requests
//! that continue where the last one stopped, and the size and digest checked while the bytes
//! stream in.
//!
//! This module does not name or publish cache files; [`super::cache`] does.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};
use url::Url;

use super::FetchError;
use super::cache::{CHUNK, Expected, Fetcher, hex};
use super::transport::{Failure, Opened};

/// How a download ended without a good file.
pub(super) enum Interrupted {
    /// The bytes so far are sound and worth resuming from.
    Resumable(FetchError),
    /// The bytes so far are wrong or useless.
    Discard(FetchError),
}

/// What the downloaded bytes must be.
#[derive(Clone, Copy)]
pub(super) enum Want<'a> {
    /// A known digest (and perhaps size), checked as the bytes arrive.
    Known(&'a Expected),
    /// Anything up to `max_size` bytes: the digest is learnt from the download and pinned
    /// by the caller.
    Any {
        /// The largest acceptable file.
        max_size: u64,
    },
}

impl Want<'_> {
    /// The exact size, when known.
    fn size(self) -> Option<u64> {
        match self {
            Want::Known(expected) => expected.size,
            Want::Any { .. } => None,
        }
    }

    /// The most bytes accepted.
    fn limit(self) -> Option<u64> {
        match self {
            Want::Known(expected) => expected.size,
            Want::Any { max_size } => Some(max_size),
        }
    }
}

/// One download into one temporary file.
pub(super) struct Download<'a> {
    pub fetcher: &'a Fetcher,
    pub url: &'a Url,
    pub want: Want<'a>,
    pub temp: &'a Path,
}

impl Download<'_> {
    /// Fills the temporary file with the verified contents and returns their digest.
    /// `resumed`: it starts with what an earlier download left, which is trusted only as far
    /// as the final digest agrees.
    pub fn run(&mut self, resumed: bool) -> Result<[u8; 32], Interrupted> {
        let outcome = self.attempts();
        match outcome {
            Err(Interrupted::Discard(
                FetchError::DigestMismatch { .. } | FetchError::SizeMismatch { .. },
            )) if resumed => {
                // The leftover may have been the bad part: once more from the start.
                self.truncate().map_err(Interrupted::Discard)?;
                self.attempts()
            }
            other => other,
        }
    }

    fn truncate(&self) -> Result<(), FetchError> {
        File::create(self.temp)
            .map(drop)
            .map_err(Fetcher::cache_error(self.temp))
    }

    fn attempts(&mut self) -> Result<[u8; 32], Interrupted> {
        let url_text = self.url.as_str();
        let temp = self.temp;
        let cache = Fetcher::cache_error(temp);
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(temp)
            .map_err(|e| Interrupted::Discard(cache(e)))?;
        let (mut hasher, mut have) =
            hash_reader(&mut file).map_err(|e| Interrupted::Discard(cache(e)))?;
        if self.want.limit().is_some_and(|size| have > size) {
            file.set_len(0)
                .map_err(|e| Interrupted::Discard(cache(e)))?;
            (hasher, have) = (Sha256::new(), 0);
        }
        let mut last = String::new();
        let mut attempt = 0;
        loop {
            if self.want.size().is_some_and(|size| have == size) {
                // Everything arrived (or a leftover was complete): nothing more to fetch.
                break;
            }
            attempt += 1;
            if attempt > self.fetcher.attempts {
                return Err(Interrupted::Resumable(FetchError::Transport {
                    url: url_text.to_owned(),
                    reason: last,
                    attempts: self.fetcher.attempts,
                }));
            }
            if attempt > 1 {
                self.fetcher.pause(attempt);
            }
            let Opened {
                mut reader,
                offset,
                total,
            } = match self.fetcher.transport.open(self.url, have) {
                Ok(opened) => opened,
                Err(Failure::Transient(reason)) => {
                    last = reason;
                    continue;
                }
                Err(Failure::RangeRefused) => {
                    last = "the server refused to resume".to_owned();
                    file.set_len(0)
                        .map_err(|e| Interrupted::Discard(cache(e)))?;
                    (hasher, have) = (Sha256::new(), 0);
                    continue;
                }
                Err(Failure::Final(err)) => return Err(Interrupted::Discard(err)),
            };
            if offset != have {
                // The server sends the whole file (no Range support) or another range.
                file.set_len(0)
                    .map_err(|e| Interrupted::Discard(cache(e)))?;
                (hasher, have) = (Sha256::new(), 0);
                if offset != 0 {
                    last = format!("the server sent bytes from {offset}, not from the start");
                    continue;
                }
            }
            let total = total.or(self.want.size());
            let mut buf = vec![0u8; CHUNK];
            let mut broken = false;
            loop {
                let n = match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                    Err(err) => {
                        last = format!("the transfer broke off after {have} bytes: {err}");
                        broken = true;
                        break;
                    }
                };
                let chunk = buf.get(..n).unwrap_or(&[]);
                let next = have.saturating_add(n as u64);
                if let Some(limit) = self.want.limit().filter(|size| next > *size) {
                    return Err(Interrupted::Discard(FetchError::TooLarge {
                        url: url_text.to_owned(),
                        limit,
                    }));
                }
                file.write_all(chunk)
                    .map_err(|e| Interrupted::Discard(cache(e)))?;
                hasher.update(chunk);
                have = next;
                if let Some(progress) = &self.fetcher.progress {
                    progress(url_text, have, total);
                }
            }
            if !broken {
                break;
            }
            file.flush().map_err(|e| Interrupted::Discard(cache(e)))?;
        }
        if let Some(size) = self.want.size().filter(|size| *size != have) {
            return Err(Interrupted::Discard(FetchError::SizeMismatch {
                url: url_text.to_owned(),
                expected: size,
                found: have,
            }));
        }
        let digest: [u8; 32] = hasher.finalize().into();
        if let Want::Known(expected) = self.want
            && digest != expected.sha256
        {
            return Err(Interrupted::Discard(FetchError::DigestMismatch {
                url: url_text.to_owned(),
                expected: hex(&expected.sha256),
                found: hex(&digest),
            }));
        }
        file.sync_all()
            .map_err(|e| Interrupted::Discard(cache(e)))?;
        Ok(digest)
    }
}

pub(super) fn hash_reader(reader: &mut impl Read) -> io::Result<(Sha256, u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            return Ok((hasher, total));
        }
        hasher.update(buf.get(..n).unwrap_or(&[]));
        total = total.saturating_add(n as u64);
    }
}
