//! Downloads, checked and cached by content digest.
//!
//! A [`Fetcher`] gets `http:`, `https:` (verified against the system trust store) and `file:`
//! URLs. What has a known SHA-256 ([`Fetcher::fetch_verified`]) is streamed into a unique
//! temporary file in the cache, checked for size and digest as it arrives, synced and then
//! renamed to `sha256/<first two hex digits>/<hex>`, so a reader never sees a partial or wrong
//! file and two processes sharing the cache never corrupt it. Interrupted downloads are
//! resumed with HTTP `Range` requests; transient failures (refused or reset connections,
//! timeouts, 5xx, 429) are retried with exponential backoff, other answers are not.
//! What is trusted only after the fact (an `InRelease`, a key with a pinned fingerprint) is
//! fetched into memory with a size cap by [`Fetcher::fetch_unverified`] and enters the cache
//! only when the caller, having verified it, calls [`Fetcher::store_verified`]. An input
//! used for the first time, with no digest yet (a base image the lock does not pin), is
//! downloaded into the cache while hashed by [`Fetcher::fetch_pinning`], and the caller pins
//! the digest it returns.
//!
//! This module knows nothing of apt or OpenPGP and shows no progress itself: a caller that
//! wants a progress bar passes a callback.

mod cache;
mod download;
mod error;
mod transport;

pub use cache::{Expected, Fetcher, Progress, hash_file, hex};
pub use error::FetchError;
