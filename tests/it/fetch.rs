//! The download cache against a local HTTP server that counts requests, fails on demand and
//! drops connections: caching, retries, resumption, offline mode and concurrent use.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pi_imager::fetch::{Expected, FetchError, Fetcher};
use sha2::{Digest, Sha256};

use super::http_fixture::Server;

/// Bytes that do not repeat, so a wrongly resumed file cannot pass by accident.
fn payload(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut block: [u8; 32] = Sha256::digest(b"seed").into();
    while out.len() < len {
        out.extend_from_slice(&block);
        block = Sha256::digest(block).into();
    }
    out.truncate(len);
    out
}

fn expected(bytes: &[u8]) -> Expected {
    Expected {
        sha256: Sha256::digest(bytes).into(),
        size: Some(bytes.len() as u64),
    }
}

fn fetcher(cache: &Path) -> Fetcher {
    Fetcher::new(cache.to_path_buf(), false).with_retries(4, Duration::from_millis(10))
}

/// Files under a cache subdirectory (`tmp`, `partial`, `sha256`), recursively.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

struct Setup {
    _served: tempfile::TempDir,
    cache: tempfile::TempDir,
    server: Server,
    body: Vec<u8>,
}

fn setup(len: usize) -> Setup {
    let served = tempfile::tempdir().unwrap();
    let body = payload(len);
    std::fs::write(served.path().join("file.bin"), &body).unwrap();
    let server = Server::start(served.path());
    Setup {
        _served: served,
        cache: tempfile::tempdir().unwrap(),
        server,
        body,
    }
}

#[test]
fn a_cached_file_is_not_fetched_again() {
    let s = setup(10_000);
    let f = fetcher(s.cache.path());
    let url = s.server.url("file.bin");
    let first = f.fetch_verified(&url, &expected(&s.body)).unwrap();
    assert_eq!(std::fs::read(&first).unwrap(), s.body);
    let second = f.fetch_verified(&url, &expected(&s.body)).unwrap();
    assert_eq!(first, second);
    // A new fetcher (another process) re-hashes the file but does not download it.
    let third = fetcher(s.cache.path())
        .fetch_verified(&url, &expected(&s.body))
        .unwrap();
    assert_eq!(first, third);
    assert_eq!(s.server.count("file.bin"), 1);
}

#[test]
fn a_dropped_connection_is_resumed_with_a_range_request() {
    let s = setup(300_000);
    let progress = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&progress);
    let f = fetcher(s.cache.path()).with_progress(Box::new(move |_, have, total| {
        seen.lock().unwrap().push((have, total));
    }));
    s.server.drop_next_after(100_000);
    let path = f
        .fetch_verified(&s.server.url("file.bin"), &expected(&s.body))
        .unwrap();
    assert_eq!(std::fs::read(path).unwrap(), s.body);
    let requests = s.server.seen();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[0].range, None);
    let range = requests[1]
        .range
        .clone()
        .expect("the second request resumes");
    assert_ne!(range, "bytes=0-");
    assert!(range.starts_with("bytes="), "{range}");
    let last = *progress.lock().unwrap().last().unwrap();
    assert_eq!(last, (300_000, Some(300_000)));
}

#[test]
fn an_interrupted_download_is_resumed_by_the_next_process() {
    let s = setup(200_000);
    s.server.drop_next_after(50_000);
    let once =
        Fetcher::new(s.cache.path().to_path_buf(), false).with_retries(1, Duration::from_millis(1));
    let url = s.server.url("file.bin");
    let err = once.fetch_verified(&url, &expected(&s.body)).unwrap_err();
    assert!(matches!(err, FetchError::Transport { .. }), "{err}");
    assert!(err.to_string().contains(&url), "{err}");
    assert_eq!(files_under(&s.cache.path().join("partial")).len(), 1);
    let path = fetcher(s.cache.path())
        .fetch_verified(&url, &expected(&s.body))
        .unwrap();
    assert_eq!(std::fs::read(path).unwrap(), s.body);
    assert_eq!(
        s.server.seen()[1].range.as_deref(),
        Some("bytes=50000-"),
        "the second process continues where the first stopped"
    );
    assert!(files_under(&s.cache.path().join("partial")).is_empty());
    assert!(files_under(&s.cache.path().join("tmp")).is_empty());
}

#[test]
fn service_unavailable_is_retried() {
    let s = setup(1000);
    s.server.fail_next(2);
    let path = fetcher(s.cache.path())
        .fetch_verified(&s.server.url("file.bin"), &expected(&s.body))
        .unwrap();
    assert_eq!(std::fs::read(path).unwrap(), s.body);
    assert_eq!(s.server.count("file.bin"), 3);
}

#[test]
fn persistent_failures_give_up_naming_the_url() {
    let s = setup(1000);
    s.server.fail_next(100);
    let url = s.server.url("file.bin");
    let err = fetcher(s.cache.path())
        .fetch_verified(&url, &expected(&s.body))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&url) && err.contains("503") && err.contains("4 attempts"),
        "{err}"
    );
    assert_eq!(s.server.count("file.bin"), 4);
}

#[test]
fn not_found_is_not_retried() {
    let s = setup(10);
    let url = s.server.url("missing.bin");
    let err = fetcher(s.cache.path())
        .fetch_verified(&url, &expected(b"x"))
        .unwrap_err();
    assert!(matches!(err, FetchError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains(&url), "{err}");
    assert_eq!(s.server.count("missing.bin"), 1);
    let err = fetcher(s.cache.path())
        .fetch_unverified(&url, 100)
        .unwrap_err();
    assert!(matches!(err, FetchError::NotFound { .. }), "{err}");
    assert_eq!(s.server.count("missing.bin"), 2);
}

#[test]
fn offline_misses_name_the_url() {
    let s = setup(10);
    let url = s.server.url("file.bin");
    let offline = Fetcher::new(s.cache.path().to_path_buf(), true);
    let err = offline
        .fetch_verified(&url, &expected(&s.body))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!("not in the cache: {url} (sha256 ")),
        "{err}"
    );
    assert!(err.contains("run without --offline once"), "{err}");
    assert!(s.server.seen().is_empty());
    // Once cached, offline works.
    fetcher(s.cache.path())
        .fetch_verified(&url, &expected(&s.body))
        .unwrap();
    offline.fetch_verified(&url, &expected(&s.body)).unwrap();
    assert_eq!(s.server.count("file.bin"), 1);
}

#[test]
fn a_wrong_digest_leaves_nothing_in_the_cache() {
    let s = setup(5000);
    let mut wrong = expected(&s.body);
    wrong.sha256[0] ^= 1;
    let url = s.server.url("file.bin");
    let err = fetcher(s.cache.path())
        .fetch_verified(&url, &wrong)
        .unwrap_err();
    assert!(matches!(err, FetchError::DigestMismatch { .. }), "{err}");
    assert!(err.to_string().contains(&url), "{err}");
    for sub in ["sha256", "tmp", "partial"] {
        assert!(files_under(&s.cache.path().join(sub)).is_empty(), "{sub}");
    }
    // A body longer than promised is cut off.
    let short = Expected {
        sha256: wrong.sha256,
        size: Some(100),
    };
    let err = fetcher(s.cache.path())
        .fetch_verified(&url, &short)
        .unwrap_err();
    assert!(matches!(err, FetchError::TooLarge { .. }), "{err}");
    assert!(files_under(s.cache.path()).is_empty());
}

#[test]
fn unverified_fetches_are_capped_and_not_cached() {
    let s = setup(5000);
    let f = fetcher(s.cache.path());
    let url = s.server.url("file.bin");
    assert_eq!(f.fetch_unverified(&url, 5000).unwrap(), s.body);
    assert!(files_under(s.cache.path()).is_empty());
    let err = f.fetch_unverified(&url, 4999).unwrap_err();
    assert!(matches!(err, FetchError::TooLarge { .. }), "{err}");
    let stored = f.store_verified(Some(&url), &s.body).unwrap();
    assert_eq!(stored, f.cache_path(&expected(&s.body).sha256));
}

#[test]
fn concurrent_fetches_share_one_good_file() {
    let s = setup(2_000_000);
    let url = s.server.url("file.bin");
    let want = expected(&s.body);
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|_| scope.spawn(|| fetcher(s.cache.path()).fetch_verified(&url, &want)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for result in &results {
        let path = result.as_ref().unwrap();
        assert_eq!(std::fs::read(path).unwrap(), s.body);
    }
    let cached = files_under(&s.cache.path().join("sha256"));
    assert_eq!(cached.len(), 1, "{cached:?}");
    assert!(files_under(&s.cache.path().join("tmp")).is_empty());
}

#[test]
fn file_urls_are_fetched_and_verified() {
    let s = setup(3000);
    let source = s.cache.path().join("source.bin");
    std::fs::write(&source, &s.body).unwrap();
    let url = url::Url::from_file_path(&source).unwrap();
    let path = fetcher(s.cache.path())
        .fetch_verified(url.as_str(), &expected(&s.body))
        .unwrap();
    assert_eq!(std::fs::read(path).unwrap(), s.body);
    let missing = url::Url::from_file_path(s.cache.path().join("nope")).unwrap();
    let err = fetcher(s.cache.path())
        .fetch_verified(missing.as_str(), &expected(b"absent"))
        .unwrap_err();
    assert!(matches!(err, FetchError::NotFound { .. }), "{err}");
}

#[test]
fn a_server_without_range_support_sends_everything_again() {
    let s = setup(200_000);
    s.server.ignore_ranges();
    s.server.drop_next_after(80_000);
    let path = fetcher(s.cache.path())
        .fetch_verified(&s.server.url("file.bin"), &expected(&s.body))
        .unwrap();
    assert_eq!(std::fs::read(path).unwrap(), s.body);
    let seen = s.server.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].range.as_deref(), Some("bytes=80000-"));
}

#[test]
fn a_corrupt_leftover_is_discarded_and_fetched_whole() {
    let s = setup(100_000);
    let want = expected(&s.body);
    let f = fetcher(s.cache.path());
    let hex: String = want.sha256.iter().map(|b| format!("{b:02x}")).collect();
    let partial = s.cache.path().join("partial");
    std::fs::create_dir_all(&partial).unwrap();
    std::fs::write(partial.join(format!("{hex}.part")), vec![0u8; 30_000]).unwrap();
    let path = f.fetch_verified(&s.server.url("file.bin"), &want).unwrap();
    assert_eq!(std::fs::read(path).unwrap(), s.body);
    let seen = s.server.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].range.as_deref(), Some("bytes=30000-"));
    assert_eq!(seen[1].range, None);
    assert!(files_under(&partial).is_empty());
    assert!(files_under(&s.cache.path().join("tmp")).is_empty());
}

/// Opt-in (`PI_IMAGER_LIVE_HTTPS_URL=https://… cargo test -- --ignored live_https`): an
/// HTTPS download through the system trust store, which is what a network that re-signs TLS
/// needs.
#[test]
#[ignore = "needs the network and PI_IMAGER_LIVE_HTTPS_URL"]
fn live_https_uses_the_system_trust_store() {
    let url = std::env::var("PI_IMAGER_LIVE_HTTPS_URL")
        .expect("set PI_IMAGER_LIVE_HTTPS_URL to an https address this machine can reach");
    let cache = tempfile::tempdir().unwrap();
    let body = fetcher(cache.path())
        .fetch_unverified(&url, 16 * 1024 * 1024)
        .unwrap();
    assert!(!body.is_empty());
}
