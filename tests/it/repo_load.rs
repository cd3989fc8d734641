//! Signed repositories built with dpkg-deb, apt-ftparchive and gpg, served on 127.0.0.1 and
//! loaded as a build would: good ones load with the packages apt-ftparchive indexed; every
//! kind of tampering or expiry is refused with a message naming what failed.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pi_imager::apt::rewrite::Rewrites;
use pi_imager::apt::{
    ConfiguredRepository, Keyring, LoadPolicy, LoadedRepository, RepositoryError, RepositorySource,
    base_repositories, fetch_deb, load, profile_repository,
};
use pi_imager::fetch::{FetchError, Fetcher};
use pi_imager::profile::{Fingerprint, Repository, RepositoryKey};
use pi_imager::tree::{Inode, Timestamp, Tree, TreePath};
use sha2::{Digest, Sha256};

use super::apt_gpg::Gpg;
use super::http_fixture::Server;
use super::repo_fixture::{PACKAGES, Repo};

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn source(server: &Server) -> RepositorySource {
    RepositorySource {
        name: "example".to_owned(),
        uri: server.base(),
        suite: "stable".to_owned(),
        components: vec!["main".to_owned()],
        flat: false,
        architectures: Vec::new(),
    }
}

fn fetcher(cache: &tempfile::TempDir) -> Fetcher {
    Fetcher::new(cache.path().to_path_buf(), false).with_retries(2, Duration::from_millis(5))
}

fn keyring(repo: &Repo) -> Keyring {
    Keyring::from_bytes(&repo.key(), "test key").unwrap()
}

/// (name, version, architecture) of every package of the loaded indexes.
fn packages(loaded: &LoadedRepository) -> Vec<(String, String, String)> {
    let mut out: Vec<_> = loaded
        .indexes
        .iter()
        .flat_map(|i| i.index.entries())
        .map(|e| {
            (
                e.control.name.clone(),
                e.control.version.to_string(),
                e.control.architecture.clone(),
            )
        })
        .collect();
    out.sort();
    out
}

fn expected_packages() -> Vec<(String, String, String)> {
    let mut out: Vec<_> = PACKAGES
        .iter()
        .map(|(n, v, a, _)| (n.to_string(), v.to_string(), a.to_string()))
        .collect();
    out.sort();
    out
}

fn load_default(
    repo: &Repo,
    server: &Server,
    cache: &tempfile::TempDir,
    policy: LoadPolicy,
    at: i64,
) -> Result<LoadedRepository, RepositoryError> {
    load(
        &fetcher(cache),
        &source(server),
        &keyring(repo),
        "armhf",
        policy,
        at,
    )
}

#[test]
fn a_good_repository_loads() {
    let repo = Repo::build();
    repo.sign_inrelease(&repo.gpg, &repo.key_fp, &[]);
    let server = Server::start(repo.dir.path());
    let cache = tempfile::tempdir().unwrap();
    let loaded = load_default(&repo, &server, &cache, LoadPolicy::default(), now()).unwrap();
    assert_eq!(packages(&loaded), expected_packages());
    assert_eq!(loaded.signer.signer_fingerprint, repo.key_fp);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let inrelease = std::fs::read(repo.dists().join("InRelease")).unwrap();
    assert_eq!(
        loaded.release_sha256,
        <[u8; 32]>::from(Sha256::digest(&inrelease))
    );
    assert!(loaded.date.is_some());
    assert_eq!(loaded.indexes.len(), 2);
    assert!(
        loaded.indexes[0]
            .url
            .ends_with("main/binary-armhf/Packages.xz")
    );
    assert_eq!(loaded.indexes[1].architecture, "all");
    assert_eq!(server.count("dists/stable/Release"), 0);

    // The .debs the indexes name download and verify.
    let entry = loaded.indexes[0]
        .index
        .entries()
        .iter()
        .find(|e| e.control.name == "hello")
        .unwrap();
    let deb = fetch_deb(
        &fetcher(&cache),
        &server.base(),
        &entry.filename,
        entry.size,
        &entry.sha256,
    )
    .unwrap();
    assert_eq!(
        std::fs::read(deb).unwrap(),
        std::fs::read(repo.dir.path().join(&entry.filename)).unwrap()
    );

    // Offline, from the cache alone, without a single request.
    let before = server.seen().len();
    let offline = Fetcher::new(cache.path().to_path_buf(), true);
    let again = load(
        &offline,
        &source(&server),
        &keyring(&repo),
        "armhf",
        LoadPolicy::default(),
        now(),
    )
    .unwrap();
    assert_eq!(packages(&again), expected_packages());
    assert_eq!(server.seen().len(), before);
}

#[test]
fn without_inrelease_release_and_release_gpg_are_used() {
    let repo = Repo::build();
    repo.sign_detached(&repo.gpg, &repo.key_fp);
    let server = Server::start(repo.dir.path());
    let cache = tempfile::tempdir().unwrap();
    let loaded = load_default(&repo, &server, &cache, LoadPolicy::default(), now()).unwrap();
    assert_eq!(packages(&loaded), expected_packages());
    assert_eq!(server.count("dists/stable/InRelease"), 1);
    assert_eq!(server.count("dists/stable/Release.gpg"), 1);
    assert_eq!(
        loaded.release_sha256,
        <[u8; 32]>::from(Sha256::digest(repo.release()))
    );
}

#[test]
fn a_tampered_inrelease_is_refused() {
    let repo = Repo::build();
    repo.sign_inrelease(&repo.gpg, &repo.key_fp, &[]);
    let path = repo.dists().join("InRelease");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen("Label: Example", "Label: Exampl3", 1)).unwrap();
    let server = Server::start(repo.dir.path());
    let cache = tempfile::tempdir().unwrap();
    let err = load_default(&repo, &server, &cache, LoadPolicy::default(), now()).unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, RepositoryError::Signature { .. }),
        "{message}"
    );
    assert!(message.contains("repository example"), "{message}");
    assert!(message.contains("InRelease"), "{message}");
    assert!(
        message.contains("does not match the signed text"),
        "{message}"
    );
    assert_eq!(
        server.count("dists/stable/main/binary-armhf/Packages.xz"),
        0
    );
}

#[test]
fn a_signature_by_another_key_is_refused_naming_it() {
    let repo = Repo::build();
    let stranger = Gpg::new();
    let stranger_fp = stranger.gen_key(
        "Stranger <stranger@example.org>",
        "ed25519",
        "sign",
        "never",
        &[],
    );
    repo.sign_inrelease(&stranger, &stranger_fp, &[]);
    let server = Server::start(repo.dir.path());
    let cache = tempfile::tempdir().unwrap();
    let err = load_default(&repo, &server, &cache, LoadPolicy::default(), now()).unwrap_err();
    let message = err.to_string();
    let key_id = &stranger_fp[stranger_fp.len() - 16..];
    assert!(
        message.to_uppercase().contains(key_id),
        "names the key {key_id}: {message}"
    );
    assert!(
        message.contains(&repo.key_fp),
        "names the keyring: {message}"
    );
}

#[test]
fn a_key_expired_at_the_release_date_is_refused() {
    let repo = Repo::build();
    let old = Gpg::new();
    let old_fp = old.gen_key(
        "Old Archive <old@example.org>",
        "ed25519",
        "sign",
        "1y",
        &["--faked-system-time", "20200101T000000!"],
    );
    // Signed while the key was valid; the Release's Date (now) is after it expired.
    repo.sign_inrelease(&old, &old_fp, &["--faked-system-time", "20200601T000000!"]);
    let server = Server::start(repo.dir.path());
    let cache = tempfile::tempdir().unwrap();
    let ring = Keyring::from_bytes(&old.export(&[&old_fp]), "old key").unwrap();
    let err = load(
        &fetcher(&cache),
        &source(&server),
        &ring,
        "armhf",
        LoadPolicy::default(),
        now(),
    )
    .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("expired"), "{message}");
    assert!(
        message.contains("2020") || message.contains("2021"),
        "{message}"
    );
    assert!(message.contains(&old_fp), "{message}");
}

#[test]
fn an_expired_release_is_refused_unless_accepted() {
    let repo = Repo::build();
    repo.write_release(Some(3600));
    repo.sign_inrelease(&repo.gpg, &repo.key_fp, &[]);
    let server = Server::start(repo.dir.path());
    let cache = tempfile::tempdir().unwrap();
    let later = now() + 2 * 86_400;
    let err = load_default(&repo, &server, &cache, LoadPolicy::default(), later).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, RepositoryError::Expired { .. }), "{message}");
    assert!(
        message.contains("Valid-Until") && message.contains("accept_expired"),
        "{message}"
    );
    let accepting = LoadPolicy {
        accept_expired: true,
        allow_weak: false,
        pinned: None,
    };
    let loaded = load_default(&repo, &server, &cache, accepting, later).unwrap();
    assert_eq!(packages(&loaded), expected_packages());
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    assert!(loaded.warnings[0].contains("repository example"));
    assert!(loaded.warnings[0].contains("accept_expired"));
    // Still valid now: no warning.
    let fresh = load_default(&repo, &server, &cache, LoadPolicy::default(), now()).unwrap();
    assert!(fresh.warnings.is_empty());
}

#[test]
fn a_tampered_packages_file_is_refused_naming_it() {
    let repo = Repo::build();
    repo.sign_inrelease(&repo.gpg, &repo.key_fp, &[]);
    let dir = repo.dists().join("main/binary-armhf");
    let text = std::fs::read_to_string(dir.join("Packages")).unwrap();
    std::fs::write(dir.join("Packages"), text.replace("2.1-1", "9.9-9")).unwrap();
    std::fs::remove_file(dir.join("Packages.xz")).unwrap();
    super::repo_fixture::run(&dir, "xz", &["-k", "Packages"]);
    let server = Server::start(repo.dir.path());
    let cache = tempfile::tempdir().unwrap();
    let err = load_default(&repo, &server, &cache, LoadPolicy::default(), now()).unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(
            err,
            RepositoryError::Fetch {
                source: FetchError::DigestMismatch { .. }
                    | FetchError::SizeMismatch { .. }
                    | FetchError::TooLarge { .. },
                ..
            }
        ),
        "{message}"
    );
    assert!(
        message.contains("main/binary-armhf/Packages.xz"),
        "{message}"
    );
    // Only the verified InRelease entered the cache.
    assert_eq!(walk(&cache.path().join("sha256")).len(), 1);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn an_architecture_the_release_lacks_is_named() {
    let repo = Repo::build();
    repo.sign_inrelease(&repo.gpg, &repo.key_fp, &[]);
    let server = Server::start(repo.dir.path());
    let cache = tempfile::tempdir().unwrap();
    let err = load(
        &fetcher(&cache),
        &source(&server),
        &keyring(&repo),
        "arm64",
        LoadPolicy::default(),
        now(),
    )
    .unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, RepositoryError::MissingIndex { .. }),
        "{message}"
    );
    assert!(message.contains("main/binary-arm64"), "{message}");
}

fn profile_repo(server: &Server, fingerprint: &str) -> Repository {
    Repository {
        name: "extra".to_owned(),
        uri: url::Url::parse(&server.base()).unwrap(),
        suite: "stable".to_owned(),
        components: vec!["main".to_owned()],
        key: RepositoryKey::Url {
            url: url::Url::parse(&server.url("keys/archive.asc")).unwrap(),
            fingerprint: Fingerprint::parse(fingerprint).unwrap(),
        },
        priority: 100,
        accept_expired: false,
        allow_weak_signatures: false,
    }
}

#[test]
fn a_key_fetched_by_url_needs_the_pinned_fingerprint() {
    let repo = Repo::build();
    repo.sign_inrelease(&repo.gpg, &repo.key_fp, &[]);
    std::fs::create_dir_all(repo.dir.path().join("keys")).unwrap();
    std::fs::write(
        repo.dir.path().join("keys/archive.asc"),
        repo.gpg.export_armored(&[&repo.key_fp]),
    )
    .unwrap();
    let server = Server::start(repo.dir.path());
    let cache = tempfile::tempdir().unwrap();
    let f = fetcher(&cache);
    let profile_dir = tempfile::tempdir().unwrap();

    let configured: ConfiguredRepository =
        profile_repository(&profile_repo(&server, &repo.key_fp), &f).unwrap();
    assert_eq!(configured.priority, 100);
    let loaded = load(
        &f,
        &configured.source,
        &configured.keyring,
        "armhf",
        configured.policy,
        now(),
    )
    .unwrap();
    assert_eq!(packages(&loaded), expected_packages());

    let other = "0123456789ABCDEF0123456789ABCDEF01234567";
    let err = profile_repository(&profile_repo(&server, other), &f).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, RepositoryError::Keyring { .. }), "{message}");
    assert!(
        message.contains(other) && message.contains(&repo.key_fp),
        "{message}"
    );

    // A key file beside the profile works too.
    std::fs::write(profile_dir.path().join("archive.gpg"), repo.key()).unwrap();
    let mut by_file = profile_repo(&server, &repo.key_fp);
    by_file.key = RepositoryKey::File(profile_dir.path().join("archive.gpg"));
    let configured = profile_repository(&by_file, &f).unwrap();
    assert_eq!(configured.key, repo.key());
    assert_eq!(configured.keyring.fingerprints(), vec![repo.key_fp.clone()]);
}

fn base_tree(files: &[(&str, Vec<u8>)]) -> Tree {
    let ts = Timestamp::from_secs(1_600_000_000);
    let mut tree = Tree::new(Inode::dir(0o755, ts));
    for (path, bytes) in files {
        let path = TreePath::parse(path).unwrap();
        tree.create_dir_all(&path.parent().unwrap(), &Inode::dir(0o755, ts))
            .unwrap();
        tree.insert(path, Inode::file(bytes.clone(), 0o644, ts))
            .unwrap();
    }
    tree
}

#[test]
fn the_base_images_sources_load_with_its_own_keys() {
    let repo = Repo::build();
    repo.sign_inrelease(&repo.gpg, &repo.key_fp, &[]);
    let server = Server::start(repo.dir.path());
    let cache = tempfile::tempdir().unwrap();
    let tree = base_tree(&[
        (
            "/etc/apt/sources.list",
            b"# the archive\ndeb http://old.example.org/debian stable main\ndeb-src http://old.example.org/debian stable main\n".to_vec(),
        ),
        ("/etc/apt/trusted.gpg.d/archive.gpg", repo.key()),
        ("/etc/apt/trusted.gpg.d/ignored.txt", b"not a key".to_vec()),
        (
            "/etc/apt/sources.list.d/extra.sources",
            format!(
                "Types: deb\nURIs: {}\nSuites: stable\nComponents: main\nSigned-By: /usr/share/keyrings/extra.gpg\n",
                server.base()
            )
            .into_bytes(),
        ),
        ("/usr/share/keyrings/extra.gpg", repo.key()),
    ]);
    let rewrites = Rewrites::new([("http://old.example.org/debian", server.base().as_str())]);
    let repos = base_repositories(&tree, &rewrites).unwrap();
    assert_eq!(repos.len(), 2);
    assert_eq!(
        repos[0].source.name,
        format!(
            "base: {} stable (/etc/apt/sources.list, line 2)",
            server.base()
        )
    );
    assert!(repos[1].source.name.contains("extra.sources, line 1"));
    for configured in &repos {
        assert_eq!(configured.priority, 500);
        assert_eq!(configured.keyring.fingerprints(), vec![repo.key_fp.clone()]);
        let loaded = load(
            &fetcher(&cache),
            &configured.source,
            &configured.keyring,
            "armhf",
            configured.policy,
            now(),
        )
        .unwrap();
        assert_eq!(packages(&loaded), expected_packages());
    }

    // A Signed-By file missing from the image is named.
    let broken = base_tree(&[(
        "/etc/apt/sources.list",
        b"deb [signed-by=/usr/share/keyrings/none.gpg] http://example.org/debian stable main\n"
            .to_vec(),
    )]);
    let err = base_repositories(&broken, &Rewrites::default()).unwrap_err();
    assert!(
        err.to_string().contains("/usr/share/keyrings/none.gpg"),
        "{err}"
    );
}

#[test]
fn the_base_keyring_without_the_signer_refuses() {
    let repo = Repo::build();
    repo.sign_inrelease(&repo.gpg, &repo.key_fp, &[]);
    let server = Server::start(repo.dir.path());
    let cache = tempfile::tempdir().unwrap();
    let tree = base_tree(&[(
        "/etc/apt/sources.list",
        format!("deb {} stable main\n", server.base()).into_bytes(),
    )]);
    let repos = base_repositories(&tree, &Rewrites::default()).unwrap();
    let configured = &repos[0];
    assert!(configured.keyring.is_empty());
    let err = load(
        &fetcher(&cache),
        &configured.source,
        &configured.keyring,
        "armhf",
        configured.policy,
        now(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("/etc/apt/sources.list, line 1"), "{err}");
}

#[test]
fn a_trusted_source_is_refused() {
    let tree = base_tree(&[(
        "/etc/apt/sources.list",
        b"deb http://example.org/debian stable main\ndeb [trusted=yes] http://example.org/local ./\n"
            .to_vec(),
    )]);
    let err = base_repositories(&tree, &Rewrites::default()).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, RepositoryError::Trusted { .. }), "{message}");
    assert!(
        message.contains("/etc/apt/sources.list, line 2"),
        "{message}"
    );
    assert!(message.contains("http://example.org/local"), "{message}");
}

#[test]
fn a_weak_signature_needs_the_opt_in_and_is_warned_about() {
    let repo = Repo::build();
    // An RSA key: SHA-1 signatures are what old archives made with them.
    let rsa = Gpg::new();
    let rsa_fp = rsa.gen_key("Old RSA <rsa@example.org>", "rsa2048", "sign", "never", &[]);
    repo.sign_inrelease_digest(&rsa, &rsa_fp, "SHA1", &[]);
    let ring = Keyring::from_bytes(&rsa.export(&[&rsa_fp]), "rsa key").unwrap();
    let server = Server::start(repo.dir.path());
    let cache = tempfile::tempdir().unwrap();
    let load_with = |policy| {
        load(
            &fetcher(&cache),
            &source(&server),
            &ring,
            "armhf",
            policy,
            now(),
        )
    };
    let err = load_with(LoadPolicy::default()).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, RepositoryError::Weak { .. }), "{message}");
    assert!(
        message.contains("allow_weak_signatures = true"),
        "{message}"
    );
    let allowing = LoadPolicy {
        accept_expired: false,
        allow_weak: true,
        pinned: None,
    };
    let loaded = load_with(allowing).unwrap();
    assert_eq!(packages(&loaded), expected_packages());
    assert!(!loaded.warnings.is_empty());
    assert!(
        loaded
            .warnings
            .iter()
            .all(|w| w.contains("repository example") && w.contains("allow_weak_signatures")),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn a_flat_repository_loads() {
    let repo = Repo::build();
    let root = repo.dir.path();
    let flat = root.join("flat");
    std::fs::create_dir_all(&flat).unwrap();
    let index = super::repo_fixture::run(root, "apt-ftparchive", &["packages", "pool"]);
    std::fs::write(flat.join("Packages"), index).unwrap();
    super::repo_fixture::run(&flat, "xz", &["-k", "Packages"]);
    let release = super::repo_fixture::run(root, "apt-ftparchive", &["release", "flat"]);
    let signed = repo.gpg.clearsign(&[&repo.key_fp], "SHA512", &release, &[]);
    std::fs::write(flat.join("InRelease"), signed).unwrap();
    let server = Server::start(root);
    let cache = tempfile::tempdir().unwrap();
    let flat_source = RepositorySource {
        name: "flat".to_owned(),
        uri: server.base(),
        suite: "flat/".to_owned(),
        components: Vec::new(),
        flat: true,
        architectures: Vec::new(),
    };
    let loaded = load(
        &fetcher(&cache),
        &flat_source,
        &keyring(&repo),
        "armhf",
        LoadPolicy::default(),
        now(),
    )
    .unwrap();
    assert_eq!(packages(&loaded), expected_packages());
    assert_eq!(loaded.indexes.len(), 1);
    assert!(loaded.indexes[0].url.ends_with("/flat/Packages.xz"));
}

#[test]
fn a_release_for_another_suite_is_warned_about() {
    let repo = Repo::build();
    repo.sign_inrelease(&repo.gpg, &repo.key_fp, &[]);
    std::os::unix::fs::symlink("stable", repo.dir.path().join("dists/other")).unwrap();
    let server = Server::start(repo.dir.path());
    let cache = tempfile::tempdir().unwrap();
    let mut other = source(&server);
    other.suite = "other".to_owned();
    let loaded = load(
        &fetcher(&cache),
        &other,
        &keyring(&repo),
        "armhf",
        LoadPolicy::default(),
        now(),
    )
    .unwrap();
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    assert!(
        loaded.warnings[0].contains("asked for suite `other`")
            && loaded.warnings[0].contains("`stable`"),
        "{}",
        loaded.warnings[0]
    );
}

#[test]
fn a_source_restricted_to_another_architecture_gives_nothing() {
    let repo = Repo::build();
    repo.sign_inrelease(&repo.gpg, &repo.key_fp, &[]);
    let server = Server::start(repo.dir.path());
    let cache = tempfile::tempdir().unwrap();
    let tree = base_tree(&[
        (
            "/etc/apt/sources.list",
            format!("deb [arch=arm64] {} stable main\n", server.base()).into_bytes(),
        ),
        ("/etc/apt/trusted.gpg", repo.key()),
    ]);
    let repos = base_repositories(&tree, &Rewrites::default()).unwrap();
    assert_eq!(repos[0].source.architectures, vec!["arm64".to_owned()]);
    let loaded = load(
        &fetcher(&cache),
        &repos[0].source,
        &repos[0].keyring,
        "armhf",
        LoadPolicy::default(),
        now(),
    )
    .unwrap();
    assert!(loaded.indexes.is_empty());
}
