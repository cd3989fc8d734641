//! Keys and signed Release files made once per test run by real gpg, kept as bytes so the
//! GnuPG home (and its agent) is gone before the tests use them.

use std::sync::OnceLock;

use super::apt_gpg::Gpg;

/// A Release-like body with a dash line (dash-escaped when clearsigned) and trailing newline.
pub const RELEASE: &[u8] = b"Origin: Example\n\
Label: Example\n\
Suite: stable\n\
Codename: example\n\
Date: Thu, 26 Nov 2026 12:00:00 UTC\n\
Architectures: arm64 armhf\n\
Components: main\n\
-----not an armor line, just text starting with dashes\n\
SHA256:\n \
e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0 main/binary-arm64/Packages\n";

/// Everything the signature tests need, as bytes.
pub struct Fixture {
    /// rsa4096 primary that signs.
    pub rsa_fp: String,
    /// ed25519 certification-only primary …
    pub ed_fp: String,
    /// … and its ed25519 signing subkey.
    pub ed_sub_fp: String,
    /// An ed25519 signer that is never in the keyrings under test.
    pub stranger_fp: String,
    /// Binary exports.
    pub rsa_key: Vec<u8>,
    pub ed_key: Vec<u8>,
    pub stranger_key: Vec<u8>,
    /// `gpg --export` of rsa, ed and stranger together.
    pub three_keys: Vec<u8>,
    /// `gpg --armor --export` of rsa and ed together.
    pub two_keys_armored: Vec<u8>,
    /// InRelease signed by the rsa primary.
    pub inrelease_rsa: Vec<u8>,
    /// InRelease signed by the ed subkey.
    pub inrelease_ed: Vec<u8>,
    /// InRelease signed by the stranger and the ed subkey.
    pub inrelease_multi: Vec<u8>,
    /// InRelease signed by the rsa primary with a SHA-1 digest.
    pub inrelease_sha1: Vec<u8>,
    /// The same, signed by the ed25519 subkey with SHA-1.
    pub inrelease_sha1_ed: Vec<u8>,
    /// Release.gpg by the rsa primary, armored; and by the ed subkey, binary.
    pub release_gpg_rsa: Vec<u8>,
    pub release_gpg_ed_binary: Vec<u8>,
    /// A key valid 2020-01-01 .. 2020-12-31, and an InRelease it signed in June 2020.
    pub expired_fp: String,
    pub expired_key: Vec<u8>,
    pub inrelease_expired: Vec<u8>,
    /// A key whose signing subkey was revoked after it signed this InRelease.
    pub revoked_sub_fp: String,
    pub revoked_key: Vec<u8>,
    pub inrelease_revoked: Vec<u8>,
    /// A key whose signing subkey expired at the end of 2020, and an InRelease that subkey
    /// signed in June 2020.
    pub expired_sub_fp: String,
    pub expired_sub_key: Vec<u8>,
    pub inrelease_expired_sub: Vec<u8>,
    /// rsa and ed keys in GnuPG's legacy keyring format, trust packets included.
    pub legacy_keyring: Vec<u8>,
    /// A GnuPG keybox holding keys.
    pub keybox: Vec<u8>,
    /// A primary that signed this InRelease and then lost its signing flag.
    pub certify_only_fp: String,
    pub certify_only_key: Vec<u8>,
    pub inrelease_certify_only: Vec<u8>,
    /// A signing primary revoked after it signed this InRelease.
    pub revoked_primary_fp: String,
    pub revoked_primary_key: Vec<u8>,
    pub inrelease_revoked_primary: Vec<u8>,
    /// A key whose signing subkey's binding signature is SHA-1.
    pub sha1_binding_fp: String,
    pub sha1_binding_key: Vec<u8>,
    pub inrelease_sha1_binding: Vec<u8>,
    /// A signing primary whose self-signature is SHA-1 (like Raspbian's archive key).
    pub sha1_self_fp: String,
    pub sha1_self_key: Vec<u8>,
    pub inrelease_sha1_self: Vec<u8>,
    /// An RSA 1024-bit signing primary.
    pub rsa1024_key: Vec<u8>,
    pub inrelease_rsa1024: Vec<u8>,
}

/// The fixture, built on first use (some seconds of key generation). A failed build is
/// remembered, so the other tests fail at once instead of generating keys again.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Result<Fixture, String>> = OnceLock::new();
    let built = FIXTURE.get_or_init(|| {
        std::panic::catch_unwind(build).map_err(|panic| {
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        })
    });
    match built {
        Ok(fixture) => fixture,
        Err(message) => panic!("the gpg fixture could not be built: {message}"),
    }
}

fn build() -> Fixture {
    let gpg = Gpg::new();
    let sha256 = "SHA256";

    let rsa_fp = gpg.gen_key(
        "Archive RSA <rsa@example.org>",
        "rsa4096",
        "sign",
        "never",
        &[],
    );
    let ed_fp = gpg.gen_key(
        "Archive Ed <ed@example.org>",
        "ed25519",
        "cert",
        "never",
        &[],
    );
    let ed_sub_fp = gpg.add_subkey("ed@example.org", "ed25519", "sign", "never", &[]);
    let stranger_fp = gpg.gen_key(
        "Stranger <stranger@example.org>",
        "ed25519",
        "sign",
        "never",
        &[],
    );

    let expired_fp = gpg.gen_key(
        "Old Archive <old@example.org>",
        "ed25519",
        "sign",
        "1y",
        &["--faked-system-time", "20200101T000000!"],
    );
    let inrelease_expired = gpg.clearsign(
        &[&expired_fp],
        sha256,
        RELEASE,
        &["--faked-system-time", "20200601T000000!"],
    );

    gpg.gen_key(
        "Revoked Sub <revoked@example.org>",
        "ed25519",
        "cert",
        "never",
        &[],
    );
    let revoked_sub_fp = gpg.add_subkey("revoked@example.org", "ed25519", "sign", "never", &[]);
    let inrelease_revoked = gpg.clearsign(&[&revoked_sub_fp], sha256, RELEASE, &[]);
    gpg.revoke_first_subkey("revoked@example.org");

    gpg.gen_key(
        "Expired Sub <expiredsub@example.org>",
        "ed25519",
        "cert",
        "never",
        &["--faked-system-time", "20200101T000000!"],
    );
    let expired_sub_fp = gpg.add_subkey(
        "expiredsub@example.org",
        "ed25519",
        "sign",
        "1y",
        &["--faked-system-time", "20200101T000000!"],
    );
    let inrelease_expired_sub = gpg.clearsign(
        &[&expired_sub_fp],
        sha256,
        RELEASE,
        &["--faked-system-time", "20200601T000000!"],
    );

    let certify_only_fp = gpg.gen_key(
        "Certify Only <certonly@example.org>",
        "ed25519",
        "sign",
        "never",
        &[],
    );
    let inrelease_certify_only = gpg.clearsign(&[&certify_only_fp], sha256, RELEASE, &[]);
    // A second apart, so the new self-signature is strictly the newest.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    gpg.make_certify_only("certonly@example.org");

    let revoked_primary_fp = gpg.gen_key(
        "Revoked Primary <revokedprimary@example.org>",
        "ed25519",
        "sign",
        "never",
        &[],
    );
    let inrelease_revoked_primary = gpg.clearsign(&[&revoked_primary_fp], sha256, RELEASE, &[]);
    gpg.revoke_primary(&revoked_primary_fp);

    let sha1_binding_fp = gpg.gen_key(
        "SHA1 Binding <sha1bind@example.org>",
        "rsa2048",
        "cert",
        "never",
        &[],
    );
    let sha1_sub = gpg.add_subkey(
        "sha1bind@example.org",
        "rsa2048",
        "sign",
        "never",
        // gpg 2.2 refuses to make SHA-1 key signatures without this.
        &["--allow-weak-key-signatures", "--cert-digest-algo", "SHA1"],
    );
    let inrelease_sha1_binding = gpg.clearsign(
        &[&sha1_sub],
        sha256,
        RELEASE,
        &["--allow-weak-key-signatures"],
    );

    let sha1_self_fp = gpg.gen_key(
        "SHA1 Self <sha1self@example.org>",
        "rsa2048",
        "sign",
        "never",
        &["--allow-weak-key-signatures", "--cert-digest-algo", "SHA1"],
    );
    let inrelease_sha1_self = gpg.clearsign(
        &[&sha1_self_fp],
        sha256,
        RELEASE,
        &["--allow-weak-key-signatures"],
    );

    let rsa1024_fp = gpg.gen_key(
        "Small RSA <small@example.org>",
        "rsa1024",
        "sign",
        "never",
        &[],
    );
    let inrelease_rsa1024 = gpg.clearsign(&[&rsa1024_fp], sha256, RELEASE, &[]);

    Fixture {
        rsa_key: gpg.export(&[&rsa_fp]),
        ed_key: gpg.export(&[&ed_fp]),
        stranger_key: gpg.export(&[&stranger_fp]),
        three_keys: gpg.export(&[&rsa_fp, &ed_fp, &stranger_fp]),
        two_keys_armored: gpg.export_armored(&[&rsa_fp, &ed_fp]),
        inrelease_rsa: gpg.clearsign(&[&rsa_fp], sha256, RELEASE, &[]),
        inrelease_ed: gpg.clearsign(&[&ed_sub_fp], "SHA512", RELEASE, &[]),
        inrelease_multi: gpg.clearsign(&[&stranger_fp, &ed_sub_fp], sha256, RELEASE, &[]),
        inrelease_sha1: gpg.clearsign(&[&rsa_fp], "SHA1", RELEASE, &[]),
        inrelease_sha1_ed: gpg.clearsign(&[&ed_sub_fp], "SHA1", RELEASE, &[]),
        release_gpg_rsa: gpg.detach_sign(&rsa_fp, sha256, RELEASE, true),
        release_gpg_ed_binary: gpg.detach_sign(&ed_sub_fp, sha256, RELEASE, false),
        expired_key: gpg.export(&[&expired_fp]),
        revoked_key: gpg.export(&["revoked@example.org"]),
        revoked_primary_key: gpg.export(&[&revoked_primary_fp]),
        certify_only_key: gpg.export(&[&certify_only_fp]),
        expired_sub_key: gpg.export(&["expiredsub@example.org"]),
        legacy_keyring: gpg.legacy_keyring(&[&rsa_fp, &ed_fp]),
        keybox: gpg.keybox(),
        sha1_binding_key: gpg.export(&[&sha1_binding_fp]),
        sha1_self_key: gpg.export(&[&sha1_self_fp]),
        rsa1024_key: gpg.export(&[&rsa1024_fp]),
        rsa_fp,
        ed_fp,
        ed_sub_fp,
        stranger_fp,
        inrelease_expired,
        expired_fp,
        revoked_sub_fp,
        inrelease_revoked,
        revoked_primary_fp,
        certify_only_fp,
        inrelease_certify_only,
        expired_sub_fp,
        inrelease_expired_sub,
        inrelease_revoked_primary,
        sha1_binding_fp,
        inrelease_sha1_binding,
        sha1_self_fp,
        inrelease_sha1_self,
        inrelease_rsa1024,
    }
}
