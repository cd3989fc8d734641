//! Why a download failed. Every variant names the URL (or the cache path) concerned.

use std::path::PathBuf;

/// A download that could not be completed or was refused.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The text is not a URL, or names a scheme we do not fetch.
    #[error("cannot download `{url}`: {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The server (or the file system, for `file:`) says there is nothing at this URL.
    #[error("cannot download {url}: not found (404); check the address")]
    NotFound {
        /// The URL.
        url: String,
    },
    /// The server refused with a status that retrying will not change.
    #[error("cannot download {url}: the server answered HTTP {status}")]
    Status {
        /// The URL.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// The transfer kept failing with transient errors.
    #[error("cannot download {url}: {reason} (gave up after {attempts} attempt{})", if *attempts == 1 { "" } else { "s" })]
    Transport {
        /// The URL.
        url: String,
        /// The last failure.
        reason: String,
        /// How many attempts were made.
        attempts: u32,
    },
    /// More bytes arrived than expected or allowed.
    #[error(
        "{url} is larger than the {limit} bytes expected; refusing the rest (the file changed on the server, or it is not what it should be)"
    )]
    TooLarge {
        /// The URL.
        url: String,
        /// The limit.
        limit: u64,
    },
    /// The download ended with a different size than the verified metadata promised.
    #[error("{url} has {found} bytes, but {expected} were expected; it was discarded")]
    SizeMismatch {
        /// The URL.
        url: String,
        /// The promised size.
        expected: u64,
        /// What arrived.
        found: u64,
    },
    /// The download's digest differs from the verified one.
    #[error(
        "{url} has sha256 {found}, not the expected {expected}; the file was tampered with or changed, so it was discarded"
    )]
    DigestMismatch {
        /// The URL.
        url: String,
        /// The expected digest (hex).
        expected: String,
        /// The digest of what arrived (hex).
        found: String,
    },
    /// Offline and not cached.
    #[error("not in the cache: {url}{}; run without --offline once", digest.as_ref().map(|d| format!(" (sha256 {d})")).unwrap_or_default())]
    Offline {
        /// The URL.
        url: String,
        /// The digest looked for, when known.
        digest: Option<String>,
    },
    /// A `file:` URL that cannot be read.
    #[error("cannot read {} (from {url}): {source}", path.display())]
    File {
        /// The URL.
        url: String,
        /// The local path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The cache directory cannot be read or written.
    #[error("cannot use the download cache at {}: {source}", path.display())]
    Cache {
        /// The path in the cache.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}
