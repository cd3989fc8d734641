//! The [`Fetcher`]: the digest-addressed download cache, what enters it and how it is found
//! again; the downloads themselves are [`super::download`]'s.
//!
//! Layout below the cache directory:
//! - `sha256/ab/<hex>`: verified files, named by their SHA-256. Written only by renaming a
//!   complete, synced, checked temporary file, so a name always holds the right bytes unless
//!   something outside pi-imager changed it. A cached file is re-hashed the first time each
//!   process uses it (a few milliseconds for an index, well under a second for a large
//!   `.deb`) and replaced if it no longer matches, so a damaged cache heals itself.
//! - `tmp/`: downloads in progress, each under a name no other process uses.
//! - `partial/<hex>.part`: what an interrupted download left; the next download of the same
//!   digest takes it over with an atomic rename and resumes it.
//! - `url/<sha256 of the URL>`: for files verified after download (InRelease), the digest
//!   last stored for that URL, so `--offline` can find them again.
//!
//! This module does not decide what to trust: the digest comes from the caller.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};
use url::Url;

use super::FetchError;
use super::download::{Download, Interrupted, Want, hash_reader};
use super::transport::{Failure, Transport};

/// Called as bytes arrive: the URL, the bytes of the file received so far (counting a
/// resumed prefix), and its total size when known.
pub type Progress = Box<dyn Fn(&str, u64, Option<u64>) + Send + Sync>;

/// What a download must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected {
    /// Its SHA-256.
    pub sha256: [u8; 32],
    /// Its size, when the verified metadata gives it (checked while streaming, so an
    /// endless or oversized answer is cut off early).
    pub size: Option<u64>,
}

/// Downloads into a digest-addressed cache. Shared by threads (`&self` everywhere) and,
/// through the file system, by processes.
pub struct Fetcher {
    cache_dir: PathBuf,
    offline: bool,
    pub(super) transport: Transport,
    pub(super) attempts: u32,
    first_delay: Duration,
    pub(super) progress: Option<Progress>,
    /// Digests whose cache file this process has hashed and found right.
    verified: Mutex<HashSet<[u8; 32]>>,
}

/// Makes temporary names unique among the threads of this process; the process id makes
/// them unique among processes.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

pub(super) const CHUNK: usize = 64 * 1024;
const MAX_DELAY: Duration = Duration::from_secs(30);

impl Fetcher {
    /// A fetcher whose cache is `cache_dir` (created when first written). `offline` serves
    /// only what the cache holds.
    pub fn new(cache_dir: PathBuf, offline: bool) -> Self {
        Fetcher {
            cache_dir,
            offline,
            transport: Transport::new(),
            attempts: 5,
            first_delay: Duration::from_millis(500),
            progress: None,
            verified: Mutex::new(HashSet::new()),
        }
    }

    /// The cache directory used when none is given: `$XDG_CACHE_HOME/pi-imager`, else
    /// `$HOME/.cache/pi-imager`; `None` when neither variable is set.
    pub fn default_cache_dir() -> Option<PathBuf> {
        let from = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
        };
        from("XDG_CACHE_HOME")
            .or_else(|| from("HOME").map(|home| home.join(".cache")))
            .map(|dir| dir.join("pi-imager"))
    }

    /// Sets how many attempts a download gets (at least one) and the wait before the first
    /// retry; each later wait doubles, up to 30 s.
    pub fn with_retries(mut self, attempts: u32, first_delay: Duration) -> Self {
        self.attempts = attempts.max(1);
        self.first_delay = first_delay;
        self
    }

    /// Reports progress to `progress`.
    pub fn with_progress(mut self, progress: Progress) -> Self {
        self.progress = Some(progress);
        self
    }

    /// Whether `url` must come from the cache: offline, everything but `file:` URLs, which
    /// name files on this machine and need no network.
    fn offline_for(&self, url: &Url) -> bool {
        self.offline && url.scheme() != "file"
    }

    /// Whether only the cache is used.
    pub fn is_offline(&self) -> bool {
        self.offline
    }

    /// The cache directory.
    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    /// Where the file with this digest lives in the cache (whether or not it is there).
    pub fn cache_path(&self, sha256: &[u8; 32]) -> PathBuf {
        let hex = hex(sha256);
        self.cache_dir.join("sha256").join(&hex[..2]).join(&hex)
    }

    /// The cache file for `expected`, if the cache holds it with the right contents.
    pub fn cached(&self, expected: &Expected) -> Result<Option<PathBuf>, FetchError> {
        let path = self.cache_path(&expected.sha256);
        if !path.is_file() {
            return Ok(None);
        }
        if self.is_known_good(&expected.sha256) {
            return Ok(Some(path));
        }
        let good = match hash_file(&path) {
            Ok((digest, size)) => {
                digest == expected.sha256 && expected.size.is_none_or(|s| s == size)
            }
            Err(_) => false,
        };
        if good {
            self.mark_good(expected.sha256);
            Ok(Some(path))
        } else {
            // Damaged behind our back: drop it so a new download can take its place.
            fs::remove_file(&path)
                .or_else(ignore_not_found)
                .map_err(|source| FetchError::Cache {
                    path: path.clone(),
                    source,
                })?;
            Ok(None)
        }
    }

    /// The cache file holding `url`'s contents, which must have `expected`'s digest (and
    /// size); downloads it if the cache lacks it.
    pub fn fetch_verified(&self, url: &str, expected: &Expected) -> Result<PathBuf, FetchError> {
        let parsed = parse_url(url)?;
        if let Some(path) = self.cached(expected)? {
            return Ok(path);
        }
        if self.offline_for(&parsed) {
            return Err(FetchError::Offline {
                url: url.to_owned(),
                digest: Some(hex(&expected.sha256)),
            });
        }
        self.download(&parsed, expected)
    }

    /// The contents of `url`, at most `max_size` bytes, for files whose trust is checked
    /// afterwards. Nothing is cached; offline, the copy last stored for this URL with
    /// [`Fetcher::store_verified`] is returned (the caller verifies it again).
    pub fn fetch_unverified(&self, url: &str, max_size: u64) -> Result<Vec<u8>, FetchError> {
        let parsed = parse_url(url)?;
        if self.offline_for(&parsed) {
            return self.offline_by_url(url, max_size);
        }
        let mut last = String::new();
        for attempt in 1..=self.attempts {
            if attempt > 1 {
                self.pause(attempt);
            }
            match self.transport.open(&parsed, 0) {
                Ok(opened) => match read_capped(opened.reader, max_size) {
                    Ok(Some(bytes)) => return Ok(bytes),
                    Ok(None) => {
                        return Err(FetchError::TooLarge {
                            url: url.to_owned(),
                            limit: max_size,
                        });
                    }
                    Err(err) => last = format!("the transfer broke off: {err}"),
                },
                Err(Failure::Transient(reason)) => last = reason,
                Err(Failure::RangeRefused) => last = "the server refused the request".to_owned(),
                Err(Failure::Final(err)) => return Err(err),
            }
        }
        Err(FetchError::Transport {
            url: url.to_owned(),
            reason: last,
            attempts: self.attempts,
        })
    }

    /// Stores bytes the caller has verified, under their digest, and (with `url`) remembers
    /// that they came from `url` so an offline run can find them. Returns the cache file.
    pub fn store_verified(&self, url: Option<&str>, bytes: &[u8]) -> Result<PathBuf, FetchError> {
        let digest: [u8; 32] = Sha256::digest(bytes).into();
        let path = self.cache_path(&digest);
        if !path.is_file() {
            self.write_atomically(&path, bytes)?;
        }
        self.mark_good(digest);
        if let Some(url) = url {
            let index = self.url_index(url);
            self.write_atomically(&index, hex(&digest).as_bytes())?;
        }
        Ok(path)
    }

    /// Downloads `url` (at most `max_size` bytes) into the cache while hashing it, for an
    /// input used for the first time: the caller pins the returned digest so every later
    /// use goes through [`Fetcher::fetch_verified`]. Retries resume within this call; an
    /// interrupted download is not kept, since without a digest nothing could tell a later
    /// resumption that the file on the server is still the same one.
    pub fn fetch_pinning(
        &self,
        url: &str,
        max_size: u64,
    ) -> Result<(PathBuf, [u8; 32]), FetchError> {
        let parsed = parse_url(url)?;
        if self.offline_for(&parsed) {
            return Err(FetchError::Offline {
                url: url.to_owned(),
                digest: None,
            });
        }
        let (temp, file) = self.temp_file("pin")?;
        drop(file);
        let mut download = Download {
            fetcher: self,
            url: &parsed,
            want: Want::Any { max_size },
            temp: &temp,
        };
        match download.run(false) {
            Ok(digest) => {
                let path = self.cache_path(&digest);
                publish(&temp, &path).inspect_err(|_| {
                    let _ = fs::remove_file(&temp);
                })?;
                self.mark_good(digest);
                Ok((path, digest))
            }
            Err(Interrupted::Resumable(err) | Interrupted::Discard(err)) => {
                let _ = fs::remove_file(&temp);
                Err(err)
            }
        }
    }

    fn offline_by_url(&self, url: &str, max_size: u64) -> Result<Vec<u8>, FetchError> {
        let missing = || FetchError::Offline {
            url: url.to_owned(),
            digest: None,
        };
        let Ok(recorded) = fs::read_to_string(self.url_index(url)) else {
            return Err(missing());
        };
        let Some(digest) = parse_hex(recorded.trim()) else {
            return Err(missing());
        };
        let path = self.cache_path(&digest);
        let Ok(file) = File::open(&path) else {
            return Err(missing());
        };
        match read_capped(Box::new(file), max_size) {
            Ok(Some(bytes)) => Ok(bytes),
            Ok(None) => Err(FetchError::TooLarge {
                url: url.to_owned(),
                limit: max_size,
            }),
            Err(source) => Err(FetchError::Cache { path, source }),
        }
    }

    fn url_index(&self, url: &str) -> PathBuf {
        self.cache_dir
            .join("url")
            .join(hex(&Sha256::digest(url.as_bytes()).into()))
    }

    fn is_known_good(&self, digest: &[u8; 32]) -> bool {
        self.verified
            .lock()
            .map(|set| set.contains(digest))
            .unwrap_or(false)
    }

    fn mark_good(&self, digest: [u8; 32]) {
        if let Ok(mut set) = self.verified.lock() {
            set.insert(digest);
        }
    }

    pub(super) fn pause(&self, attempt: u32) {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(2))
            .unwrap_or(u32::MAX);
        let delay = self.first_delay.saturating_mul(factor).min(MAX_DELAY);
        std::thread::sleep(delay);
    }

    pub(super) fn cache_error(path: &Path) -> impl Fn(io::Error) -> FetchError + '_ {
        move |source| FetchError::Cache {
            path: path.to_path_buf(),
            source,
        }
    }

    /// A new file under `tmp/` that no other thread or process uses.
    fn temp_file(&self, stem: &str) -> Result<(PathBuf, File), FetchError> {
        let dir = self.cache_dir.join("tmp");
        fs::create_dir_all(&dir).map_err(Self::cache_error(&dir))?;
        loop {
            let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!("{stem}.{}.{n}", std::process::id()));
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => return Ok((path, file)),
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(source) => return Err(FetchError::Cache { path, source }),
            }
        }
    }

    /// Writes `bytes` beside `path`, syncs, and renames into place.
    fn write_atomically(&self, path: &Path, bytes: &[u8]) -> Result<(), FetchError> {
        let (temp, mut file) = self.temp_file("store")?;
        let result = file
            .write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(Self::cache_error(&temp))
            .and_then(|()| publish(&temp, path));
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result
    }

    fn download(&self, url: &Url, expected: &Expected) -> Result<PathBuf, FetchError> {
        let hex = hex(&expected.sha256);
        let leftover = self.cache_dir.join("partial").join(format!("{hex}.part"));
        let (temp, file) = self.temp_file(&hex)?;
        // Taking over an interrupted download is a rename: only one process can win it.
        let resumed = fs::rename(&leftover, &temp).is_ok();
        drop(file);
        let mut download = Download {
            fetcher: self,
            url,
            want: Want::Known(expected),
            temp: &temp,
        };
        let outcome = download.run(resumed);
        match outcome {
            Ok(_) => {
                let path = self.cache_path(&expected.sha256);
                publish(&temp, &path).inspect_err(|_| {
                    let _ = fs::remove_file(&temp);
                })?;
                self.mark_good(expected.sha256);
                Ok(path)
            }
            Err(Interrupted::Resumable(err)) => {
                // Keep what arrived for the next attempt, in this process or another.
                let kept = fs::metadata(&temp).map(|m| m.len() > 0).unwrap_or(false)
                    && leftover
                        .parent()
                        .is_some_and(|dir| fs::create_dir_all(dir).is_ok())
                    && fs::rename(&temp, &leftover).is_ok();
                if !kept {
                    let _ = fs::remove_file(&temp);
                }
                Err(err)
            }
            Err(Interrupted::Discard(err)) => {
                let _ = fs::remove_file(&temp);
                Err(err)
            }
        }
    }
}

/// Renames a complete temporary file to its final name and makes the rename durable. If
/// another process got there first, its file has the same verified bytes: replacing it is
/// harmless.
fn publish(temp: &Path, path: &Path) -> Result<(), FetchError> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(Fetcher::cache_error(dir))?;
    }
    fs::rename(temp, path).map_err(Fetcher::cache_error(path))?;
    if let Some(dir) = path.parent() {
        // Best effort: some file systems cannot sync a directory.
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

fn ignore_not_found(err: io::Error) -> io::Result<()> {
    if err.kind() == io::ErrorKind::NotFound {
        Ok(())
    } else {
        Err(err)
    }
}

fn parse_url(url: &str) -> Result<Url, FetchError> {
    let parsed = Url::parse(url).map_err(|err| FetchError::BadUrl {
        url: url.to_owned(),
        reason: err.to_string(),
    })?;
    match parsed.scheme() {
        "http" | "https" | "file" => Ok(parsed),
        other => Err(FetchError::BadUrl {
            url: url.to_owned(),
            reason: format!("the scheme `{other}:` is not supported (use http, https or file)"),
        }),
    }
}

/// Reads at most `max` bytes; `None` when there is more.
fn read_capped(reader: Box<dyn Read + Send>, max: u64) -> io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    reader.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= max).then_some(bytes))
}

/// SHA-256 and length of a file, streamed.
pub fn hash_file(path: &Path) -> io::Result<([u8; 32], u64)> {
    let (hasher, size) = hash_reader(&mut File::open(path)?)?;
    Ok((hasher.finalize().into(), size))
}

/// Lowercase hex, as `sha256sum` writes it.
pub fn hex(bytes: &[u8; 32]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

fn parse_hex(text: &str) -> Option<[u8; 32]> {
    crate::apt::release::parse_sha256(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expected(bytes: &[u8]) -> Expected {
        Expected {
            sha256: Sha256::digest(bytes).into(),
            size: Some(bytes.len() as u64),
        }
    }

    #[test]
    fn file_urls_are_cached_by_digest() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("source");
        fs::write(&source, b"hello").unwrap();
        let url = Url::from_file_path(&source).unwrap();
        let fetcher = Fetcher::new(dir.path().join("cache"), false);
        let path = fetcher
            .fetch_verified(url.as_str(), &expected(b"hello"))
            .unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"hello");
        assert!(path.ends_with(hex(&expected(b"hello").sha256)));
        fs::remove_file(&source).unwrap();
        let again = fetcher
            .fetch_verified(url.as_str(), &expected(b"hello"))
            .unwrap();
        assert_eq!(again, path);
    }

    #[test]
    fn a_damaged_cache_entry_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("source");
        fs::write(&source, b"hello").unwrap();
        let url = Url::from_file_path(&source).unwrap();
        let want = expected(b"hello");
        let fetcher = Fetcher::new(dir.path().join("cache"), false);
        let path = fetcher.cache_path(&want.sha256);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, b"jello").unwrap();
        let got = fetcher.fetch_verified(url.as_str(), &want).unwrap();
        assert_eq!(fs::read(got).unwrap(), b"hello");
    }

    #[test]
    fn wrong_contents_leave_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("source");
        fs::write(&source, b"hellO").unwrap();
        let url = Url::from_file_path(&source).unwrap();
        let cache = dir.path().join("cache");
        let fetcher = Fetcher::new(cache.clone(), false);
        let err = fetcher
            .fetch_verified(url.as_str(), &expected(b"hello"))
            .unwrap_err();
        assert!(matches!(err, FetchError::DigestMismatch { .. }), "{err}");
        assert!(!fetcher.cache_path(&expected(b"hello").sha256).exists());
        assert_eq!(fs::read_dir(cache.join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn offline_names_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let fetcher = Fetcher::new(dir.path().to_path_buf(), true);
        let err = fetcher
            .fetch_verified("http://example.org/a.deb", &expected(b"x"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not in the cache: http://example.org/a.deb (sha256 "),
            "{err}"
        );
        assert!(err.contains("--offline"), "{err}");
    }

    #[test]
    fn stored_metadata_is_found_offline_by_url() {
        let dir = tempfile::tempdir().unwrap();
        let online = Fetcher::new(dir.path().to_path_buf(), false);
        online
            .store_verified(Some("http://example.org/InRelease"), b"signed")
            .unwrap();
        let offline = Fetcher::new(dir.path().to_path_buf(), true);
        assert_eq!(
            offline
                .fetch_unverified("http://example.org/InRelease", 100)
                .unwrap(),
            b"signed"
        );
        assert!(matches!(
            offline.fetch_unverified("http://example.org/Release", 100),
            Err(FetchError::Offline { .. })
        ));
    }

    #[test]
    fn pinning_downloads_learn_the_digest() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("source");
        fs::write(&source, b"hello").unwrap();
        let url = Url::from_file_path(&source).unwrap();
        let cache = dir.path().join("cache");
        let fetcher = Fetcher::new(cache.clone(), false);
        let (path, digest) = fetcher.fetch_pinning(url.as_str(), 5).unwrap();
        assert_eq!(digest, expected(b"hello").sha256);
        assert_eq!(path, fetcher.cache_path(&digest));
        assert_eq!(fs::read(&path).unwrap(), b"hello");
        let err = fetcher.fetch_pinning(url.as_str(), 4).unwrap_err();
        assert!(
            matches!(err, FetchError::TooLarge { limit: 4, .. }),
            "{err}"
        );
        assert_eq!(fs::read_dir(cache.join("tmp")).unwrap().count(), 0);
        let offline = Fetcher::new(cache, true);
        // A file: URL needs no network, so offline still reads it; anything else is refused.
        assert_eq!(offline.fetch_pinning(url.as_str(), 5).unwrap().1, digest);
        assert!(matches!(
            offline.fetch_pinning("http://192.0.2.1/base.img", 5),
            Err(FetchError::Offline { digest: None, .. })
        ));
    }

    #[test]
    fn unsupported_schemes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let fetcher = Fetcher::new(dir.path().to_path_buf(), false);
        let err = fetcher
            .fetch_unverified("ftp://example.org/x", 10)
            .unwrap_err();
        assert!(matches!(err, FetchError::BadUrl { .. }), "{err}");
    }
}
