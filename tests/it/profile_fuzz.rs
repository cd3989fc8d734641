//! Property tests: no input, however broken, panics the profile parser; every failure is
//! a list of located diagnostics.

use std::path::Path;

use pi_imager::profile::{self, ProfileError};
use proptest::prelude::*;

/// Keys from every table of the profile format, plus some near misses, so generated
/// documents reach deep into validation instead of stopping at the first unknown key.
const KEYS: &[&str] = &[
    "image",
    "base",
    "repository",
    "packages",
    "network",
    "swap",
    "mount",
    "system",
    "user",
    "ssh",
    "web",
    "server",
    "files",
    "node",
    "name",
    "board",
    "card_size",
    "boot_size",
    "partition_table",
    "compression",
    "url",
    "file",
    "sha256",
    "generation",
    "rewrite_sources",
    "uri",
    "suite",
    "components",
    "key",
    "fingerprint",
    "priority",
    "valid_until",
    "install",
    "remove",
    "recommends",
    "interface",
    "ipv4",
    "gateway4",
    "ipv6",
    "gateway6",
    "dns",
    "renderer",
    "enabled",
    "zram",
    "path",
    "device",
    "fstype",
    "options",
    "required_by",
    "size",
    "content",
    "hostname",
    "timezone",
    "locale",
    "sysctl",
    "memory_max",
    "groups",
    "ssh_keys",
    "password_hash",
    "password",
    "password_auth",
    "server",
    "php",
    "php_max_children",
    "headers",
    "source",
    "args",
    "overlays",
    "boad",
];

const WORDS: &[&str] = &[
    "pi3",
    "pi4",
    "gpt",
    "mbr",
    "xz",
    "8GB",
    "512MiB",
    "0",
    "auto",
    "off",
    "dhcp",
    "2001:db8::3/64",
    "2001:db8::1",
    "192.0.2.1",
    "192.0.2.10/24",
    "LABEL=www",
    "ext4",
    "/var/www",
    "nginx",
    "php7.0-fpm/stretch",
    "https://example.org/x.img",
    "profiles",
    "ssh-ed25519 AAAA",
    "$6$x$y",
    "Europe/London",
    "en_GB.UTF-8",
    "",
    "é",
    "../..",
    "\u{0}",
];

fn value() -> impl Strategy<Value = toml::Value> {
    let leaf = prop_oneof![
        prop::sample::select(WORDS).prop_map(|w| toml::Value::String(w.to_string())),
        any::<String>().prop_map(toml::Value::String),
        any::<i64>().prop_map(toml::Value::Integer),
        any::<bool>().prop_map(toml::Value::Boolean),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(toml::Value::Array),
            prop::collection::btree_map(prop::sample::select(KEYS), inner, 0..6).prop_map(|m| {
                toml::Value::Table(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

fn document() -> impl Strategy<Value = String> {
    prop::collection::btree_map(prop::sample::select(KEYS), value(), 0..10).prop_map(|m| {
        let table: toml::Table = m.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        toml::to_string(&table).unwrap_or_default()
    })
}

/// A failure must be an `Invalid` with at least one error, each located in the text.
fn assert_well_formed(result: Result<profile::Loaded, ProfileError>, text: &str) {
    match result {
        Ok(_) => {}
        Err(ProfileError::Invalid { diagnostics, .. }) => {
            assert!(
                diagnostics
                    .iter()
                    .any(|d| d.severity == profile::Severity::Error),
                "invalid without an error: {diagnostics:?}"
            );
            let lines = text.lines().count().max(1) + 1;
            for d in diagnostics {
                assert!(
                    d.line >= 1 && d.line <= lines,
                    "{d:?} outside {lines} lines"
                );
                assert!(!d.message.is_empty());
            }
        }
        Err(other) => panic!("unexpected error kind: {other}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        assert_well_formed(profile::parse(&text, Path::new("fuzz.toml")), &text);
    }

    #[test]
    fn arbitrary_documents_never_panic(text in document()) {
        assert_well_formed(profile::parse(&text, Path::new("profiles/fuzz.toml")), &text);
    }

    #[test]
    fn mutated_blog_profile_never_panics(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)
    ) {
        let mut bytes = include_bytes!("../../profiles/blog.toml").to_vec();
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        let text = String::from_utf8_lossy(&bytes);
        assert_well_formed(profile::parse(&text, Path::new("profiles/blog.toml")), &text);
    }
}
