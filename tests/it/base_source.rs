//! Fetching base images: a small Raspberry-Pi-OS-shaped image compressed by the real tools
//! (`xz -T0`, `gzip`, `zip`, python's zipfile), fetched from a path, a `file:` URL and the
//! local HTTP server, must unpack to the same bytes (`cmp`) and read as the same trees; wrong
//! digests, damaged archives and offline runs give errors that name what is wrong.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use pi_imager::base::{
    BaseFormat, BaseImage, BaseSourceError, FetchedBase, fetch_base, fetch_base_pinned,
};
use pi_imager::fetch::{FetchError, Fetcher};
use pi_imager::profile::Source;
use sha2::{Digest, Sha256};

use crate::ext4_fixture::{Fixture, build, run};
use crate::http_fixture::Server;
use crate::pi_base::{PiBase, assert_trees_equal, pi_base};

/// A small ext4 root (16 MiB, Jessie-era features) for a base image of 36 MiB.
fn small_root() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        build(
            false,
            &["-t", "ext4", "-b", "4096", "-O", "^metadata_csum,^64bit"],
            "16M",
            2000,
        )
    })
}

/// The base image and its published forms, in one served directory.
struct Published {
    dir: tempfile::TempDir,
    base: PiBase,
}

const FORMATS: [(&str, BaseFormat); 5] = [
    ("base.img", BaseFormat::Img),
    ("base.img.xz", BaseFormat::Xz),
    ("base.img.gz", BaseFormat::Gz),
    ("base.zip", BaseFormat::Zip),
    ("base64.zip", BaseFormat::Zip),
];

fn published() -> &'static Published {
    static P: OnceLock<Published> = OnceLock::new();
    P.get_or_init(|| {
        let base = pi_base(small_root(), 16, 4, 16);
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("base.img");
        run(Command::new("cp")
            .arg("--sparse=always")
            .arg(&base.img)
            .arg(&img));
        run(Command::new("xz").args(["-T0", "-k", "-q"]).arg(&img));
        run(Command::new("gzip").args(["-k", "-q"]).arg(&img));
        run(Command::new("zip")
            .current_dir(dir.path())
            .args(["-q", "base.zip", "base.img"]));
        // `-fz` forces the ZIP64 records that images past 4 GiB need.
        run(Command::new("zip").current_dir(dir.path()).args([
            "-q",
            "-fz",
            "base64.zip",
            "base.img",
        ]));
        Published { dir, base }
    })
}

fn sha256_of(path: &Path) -> [u8; 32] {
    Sha256::digest(std::fs::read(path).unwrap()).into()
}

fn fetcher(cache: &Path, offline: bool) -> Fetcher {
    Fetcher::new(cache.to_path_buf(), offline).with_retries(2, Duration::from_millis(10))
}

fn file_url(path: &Path) -> Source {
    Source::Url(url::Url::from_file_path(path).unwrap())
}

fn http_url(server: &Server, name: &str) -> Source {
    Source::Url(url::Url::parse(&server.url(name)).unwrap())
}

/// Asserts the fetched image is byte for byte the original and reads as the same trees.
fn assert_same_image(fetched: &FetchedBase, original: &BaseImage, what: &str) {
    run(Command::new("cmp")
        .arg(&fetched.image)
        .arg(&published().base.img));
    let image = BaseImage::open(&fetched.image).unwrap();
    assert_trees_equal(&image.boot.tree, &original.boot.tree, what);
    assert_trees_equal(&image.root.tree, &original.root.tree, what);
}

/// Files under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
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

#[test]
fn every_format_from_every_place_unpacks_to_the_original() {
    let published = published();
    let original = BaseImage::open(&published.base.img).unwrap();
    let server = Server::start(published.dir.path());
    for (name, format) in FORMATS {
        let file = published.dir.path().join(name);
        let digest = sha256_of(&file);
        let places = [
            ("path", Source::Path(file.clone())),
            ("file URL", file_url(&file)),
            ("HTTP", http_url(&server, name)),
        ];
        for (place, source) in places {
            let what = format!("{name} from a {place}");
            let cache = tempfile::tempdir().unwrap();
            let fetched = fetch_base(&fetcher(cache.path(), false), &source, None)
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(fetched.format, format, "{what}");
            assert_eq!(fetched.download_sha256, digest, "{what}");
            assert!(fetched.newly_pinned, "{what}");
            assert!(fetched.image.starts_with(cache.path()), "{what}");
            assert_same_image(&fetched, &original, &what);
        }
    }
}

#[test]
fn the_unpacked_image_is_sparse() {
    let published = published();
    let cache = tempfile::tempdir().unwrap();
    let source = Source::Path(published.dir.path().join("base.img.xz"));
    let fetched = fetch_base(&fetcher(cache.path(), false), &source, None).unwrap();
    let meta = std::fs::metadata(&fetched.image).unwrap();
    assert!(
        meta.blocks() * 512 < meta.len() / 2,
        "{} of {} bytes allocated",
        meta.blocks() * 512,
        meta.len()
    );
}

#[test]
fn a_second_call_reuses_the_unpacked_image() {
    let published = published();
    let server = Server::start(published.dir.path());
    let cache = tempfile::tempdir().unwrap();
    let fetcher = fetcher(cache.path(), false);
    let source = http_url(&server, "base.zip");
    let first = fetch_base(&fetcher, &source, None).unwrap();
    assert_eq!(first.image_sha256, sha256_of(&published.base.img));
    let before = std::fs::metadata(&first.image).unwrap();
    let second = fetch_base_pinned(
        &fetcher,
        &source,
        Some(first.download_sha256),
        Some(first.image_sha256),
    )
    .unwrap();
    assert!(!second.newly_pinned);
    assert_eq!(second.image, first.image);
    let after = std::fs::metadata(&second.image).unwrap();
    assert_eq!(
        (after.ino(), after.mtime(), after.mtime_nsec()),
        (before.ino(), before.mtime(), before.mtime_nsec()),
        "the image was unpacked again"
    );
    assert_eq!(server.count("base.zip"), 1, "downloaded again");
    // Another process (a new fetcher) sharing the cache, offline, finds both.
    let offline = fetch_base_pinned(
        &self::fetcher(cache.path(), true),
        &source,
        Some(first.download_sha256),
        Some(first.image_sha256),
    )
    .unwrap();
    assert_eq!(offline.image, first.image);
    assert_eq!(
        std::fs::metadata(&offline.image).unwrap().ino(),
        before.ino()
    );
}

#[test]
fn a_cached_image_is_not_trusted_without_its_pinned_digest() {
    let published = published();
    let cache = tempfile::tempdir().unwrap();
    let fetcher = fetcher(cache.path(), false);
    let source = Source::Path(published.dir.path().join("base.img.xz"));
    let first = fetch_base(&fetcher, &source, None).unwrap();
    let tamper = || {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&first.image)
            .unwrap();
        std::os::unix::fs::FileExt::write_all_at(&file, b"changed in the cache", 4096).unwrap();
    };
    // Whoever can write the cache changes the unpacked image: a build with the lock's
    // digest of it unpacks the verified download again.
    tamper();
    let pinned = fetch_base_pinned(
        &fetcher,
        &source,
        Some(first.download_sha256),
        Some(first.image_sha256),
    )
    .unwrap();
    assert_eq!(pinned.image_sha256, first.image_sha256);
    run(Command::new("cmp")
        .arg(&pinned.image)
        .arg(&published.base.img));
    // Without that digest (a first build), the cache is not trusted either.
    tamper();
    let unpinned = fetch_base(&fetcher, &source, Some(first.download_sha256)).unwrap();
    run(Command::new("cmp")
        .arg(&unpinned.image)
        .arg(&published.base.img));
    // A lock whose unpacked digest is not what the download unpacks to is refused.
    let err = fetch_base_pinned(
        &fetcher,
        &source,
        Some(first.download_sha256),
        Some([7; 32]),
    )
    .unwrap_err();
    assert!(
        matches!(err, BaseSourceError::UnpackedMismatch { .. }),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("base.img.xz")
            && message.contains(&"07".repeat(32))
            && message.contains("pi-imager lock"),
        "{message}"
    );
}

#[test]
fn an_unpinned_download_survives_a_dropped_connection() {
    let published = published();
    let server = Server::start(published.dir.path());
    server.fail_next(1);
    server.drop_next_after(5000);
    let cache = tempfile::tempdir().unwrap();
    let source = http_url(&server, "base.img.xz");
    let fetcher =
        Fetcher::new(cache.path().to_path_buf(), false).with_retries(4, Duration::from_millis(10));
    let fetched = fetch_base(&fetcher, &source, None).unwrap();
    assert_eq!(
        fetched.download_sha256,
        sha256_of(&published.dir.path().join("base.img.xz"))
    );
    let ranges: Vec<Option<String>> = server.seen().into_iter().map(|s| s.range).collect();
    assert_eq!(
        ranges,
        [None, None, Some("bytes=5000-".to_owned())],
        "a 503, a dropped body, then the rest"
    );
    run(Command::new("cmp")
        .arg(&fetched.image)
        .arg(&published.base.img));
    assert_eq!(
        files_under(&cache.path().join("tmp")),
        Vec::<PathBuf>::new()
    );
}

#[test]
fn two_fetchers_unpacking_at_once_agree() {
    let published = published();
    let cache = tempfile::tempdir().unwrap();
    let source = Source::Path(published.dir.path().join("base.img.gz"));
    let images: Vec<PathBuf> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|_| scope.spawn(|| fetch_base(&fetcher(cache.path(), false), &source, None)))
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap().unwrap().image)
            .collect()
    });
    assert_eq!(images[0], images[1]);
    run(Command::new("cmp").arg(&images[0]).arg(&published.base.img));
    assert_eq!(
        files_under(&cache.path().join("base")),
        vec![images[0].clone()],
        "a temporary file was left behind"
    );
}

#[test]
fn a_tampered_download_is_refused_and_nothing_is_kept() {
    let published = published();
    let good = published.dir.path().join("base.img.xz");
    let pinned = sha256_of(&good);
    let served = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(&good).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    let bad = served.path().join("base.img.xz");
    std::fs::write(&bad, &bytes).unwrap();
    let server = Server::start(served.path());
    let cache = tempfile::tempdir().unwrap();
    let fetcher = fetcher(cache.path(), false);
    let hex = |d: &[u8; 32]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();

    let err = fetch_base(&fetcher, &http_url(&server, "base.img.xz"), Some(pinned)).unwrap_err();
    assert!(
        matches!(
            err,
            BaseSourceError::Fetch(FetchError::DigestMismatch { .. })
        ),
        "{err}"
    );
    let message = err.to_string();
    assert!(message.contains(&server.url("base.img.xz")), "{message}");
    assert!(message.contains(&hex(&pinned)), "{message}");
    assert!(message.contains(&hex(&sha256_of(&bad))), "{message}");

    let err = fetch_base(&fetcher, &Source::Path(bad.clone()), Some(pinned)).unwrap_err();
    assert!(
        matches!(err, BaseSourceError::DigestMismatch { .. }),
        "{err}"
    );
    let message = err.to_string();
    assert!(message.contains(&bad.display().to_string()), "{message}");
    assert!(message.contains(&hex(&pinned)), "{message}");
    assert!(message.contains(&hex(&sha256_of(&bad))), "{message}");

    assert!(!fetcher.cache_path(&pinned).exists());
    assert!(
        !cache
            .path()
            .join("base")
            .join(format!("{}.img", hex(&pinned)))
            .exists()
    );
    assert_eq!(
        files_under(&cache.path().join("tmp")),
        Vec::<PathBuf>::new()
    );
    assert_eq!(
        files_under(&cache.path().join("base")),
        Vec::<PathBuf>::new()
    );
}

#[test]
fn a_corrupt_stream_fails_and_leaves_no_image() {
    let published = published();
    let dir = tempfile::tempdir().unwrap();
    for name in ["base.img.xz", "base.img.gz", "base.zip"] {
        let mut bytes = std::fs::read(published.dir.path().join(name)).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x40;
        let bad = dir.path().join(name);
        std::fs::write(&bad, &bytes).unwrap();
        let cache = tempfile::tempdir().unwrap();
        let err = fetch_base(
            &fetcher(cache.path(), false),
            &Source::Path(bad.clone()),
            None,
        )
        .unwrap_err();
        assert!(
            matches!(err, BaseSourceError::Unpack { .. }),
            "{name}: {err}"
        );
        assert!(
            err.to_string().contains(&bad.display().to_string()),
            "{err}"
        );
        assert_eq!(
            files_under(&cache.path().join("base")),
            Vec::<PathBuf>::new(),
            "{name}: something was left in the cache"
        );
    }
}

#[test]
fn a_zip_with_two_images_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("two.zip");
    run(Command::new("python3")
        .arg("-c")
        .arg(
            "import sys, zipfile\n\
             with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:\n\
             \x20   z.writestr('README.txt', 'hello')\n\
             \x20   z.writestr('a.img', b'\\0' * 4096)\n\
             \x20   z.writestr('sub/b.IMG', b'\\1' * 4096)\n",
        )
        .arg(&zip));
    let cache = tempfile::tempdir().unwrap();
    let err = fetch_base(&fetcher(cache.path(), false), &Source::Path(zip), None).unwrap_err();
    assert!(
        matches!(err, BaseSourceError::ZipImages { images: 2, .. }),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("holds 2 .img files") && message.contains("README.txt, a.img, sub/b.IMG"),
        "{message}"
    );
}

#[test]
fn offline_with_a_cold_cache_names_what_is_missing() {
    let published = published();
    let file = published.dir.path().join("base.img.xz");
    let pinned = sha256_of(&file);
    let cache = tempfile::tempdir().unwrap();
    let offline = fetcher(cache.path(), true);
    let url = "http://example.org/images/base.img.xz";
    let source = Source::Url(url::Url::parse(url).unwrap());

    let err = fetch_base(&offline, &source, Some(pinned)).unwrap_err();
    assert!(
        matches!(err, BaseSourceError::Fetch(FetchError::Offline { .. })),
        "{err}"
    );
    let hex: String = pinned.iter().map(|b| format!("{b:02x}")).collect();
    assert!(
        err.to_string().contains(url) && err.to_string().contains(&hex),
        "{err}"
    );

    let err = fetch_base(&offline, &source, None).unwrap_err();
    assert!(matches!(err, BaseSourceError::NeedsPin { .. }), "{err}");
    assert!(
        err.to_string().contains(url) && err.to_string().contains("no sha256 is pinned"),
        "{err}"
    );

    // A local file needs no network: it is hashed and pinned even offline.
    let fetched = fetch_base(&offline, &Source::Path(file), None).unwrap();
    assert_eq!(fetched.download_sha256, pinned);
}

#[test]
fn a_name_that_promises_compression_must_be_kept() {
    let published = published();
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("base.img.xz");
    std::fs::write(&fake, b"<html>Not here any more</html>").unwrap();
    let cache = tempfile::tempdir().unwrap();
    let err = fetch_base(&fetcher(cache.path(), false), &file_url(&fake), None).unwrap_err();
    assert!(
        matches!(
            err,
            BaseSourceError::Misnamed {
                claimed: BaseFormat::Xz,
                found: BaseFormat::Img,
                ..
            }
        ),
        "{err}"
    );
    // The bytes decide, whatever the name: an xz stream named `.img` is unpacked.
    let renamed = dir.path().join("base.img");
    std::fs::copy(published.dir.path().join("base.img.xz"), &renamed).unwrap();
    let fetched = fetch_base(&fetcher(cache.path(), false), &Source::Path(renamed), None).unwrap();
    assert_eq!(fetched.format, BaseFormat::Xz);
}
