//! Hostile manifests: what `verify` could not trust is refused with a message naming it,
//! and mutated or random text of any kind gives an error, never a panic.

use pi_imager::manifest::Manifest;
use proptest::prelude::*;

use crate::manifest::fixture;

#[test]
fn parse_refuses_what_verify_could_not_trust() {
    let json = fixture().manifest.to_json();
    let cases = [
        (
            "\"schema\": \"pi-imager-manifest/1\"",
            "\"schema\": \"pi-imager-manifest/2\"",
            "schema",
        ),
        (
            "\"build\": {",
            "\"surprise\": 1, \"build\": {",
            "newer pi-imager",
        ),
        ("\"mode\": \"4755\"", "\"mode\": \"9755\"", "octal"),
        (
            "\"profile\": \"blog.toml\"",
            "\"profile\": \"/home/me/blog.toml\"",
            "plain file name",
        ),
        ("\"id\": \"0b5e1a2c\"", "\"id\": \"0B5E1A2C\"", "disk id"),
        (
            "\"path\": \"/etc/hostname\"",
            "\"path\": \"/etc//hostname\"",
            "path",
        ),
        (
            "\"path\": \"/etc/hostname\"",
            "\"path\": \"/usr/bin/tool\"",
            "sorted",
        ),
    ];
    for (from, to, message) in cases {
        assert!(json.contains(from), "{from}");
        let bad = json.replacen(from, to, 1);
        let error = Manifest::parse(&bad).unwrap_err().to_string();
        assert!(error.contains(message), "{to}: {error}");
    }
    let digest = fixture().manifest.image.sha256.to_hex();
    let error = Manifest::parse(&json.replacen(&digest, &digest.to_uppercase(), 1)).unwrap_err();
    assert!(error.to_string().contains("lowercase"), "{error}");
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(Manifest::parse(&deep).is_err());
}

/// A random JSON value of small depth.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        Just(Value::from(u64::MAX)),
        ".{0,20}".prop_map(Value::String),
        "[0-9a-f]{64}".prop_map(Value::String),
        "/[a-z%]{0,8}(/[a-z]{1,4}){0,2}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,10}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Replaces the `n`th leaf or node (in walk order) of `value` with `with`.
fn replace_nth(value: &mut serde_json::Value, n: &mut usize, with: &serde_json::Value) -> bool {
    if *n == 0 {
        *value = with.clone();
        return true;
    }
    *n -= 1;
    match value {
        serde_json::Value::Array(items) => items.iter_mut().any(|v| replace_nth(v, n, with)),
        serde_json::Value::Object(map) => map.values_mut().any(|v| replace_nth(v, n, with)),
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn mutated_bytes_never_panic(edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut bytes = fixture().manifest.to_json().into_bytes();
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        let text = String::from_utf8_lossy(&bytes);
        let _ = Manifest::parse(&text);
    }

    #[test]
    fn truncated_or_spliced_text_never_panics(cut in any::<prop::sample::Index>(), insert in ".{0,40}") {
        let json = fixture().manifest.to_json();
        let mut at = cut.index(json.len());
        while !json.is_char_boundary(at) {
            at -= 1;
        }
        let _ = Manifest::parse(&json[..at]);
        let _ = Manifest::parse(&format!("{}{insert}{}", &json[..at], &json[at..]));
    }

    #[test]
    fn mutated_values_never_panic(n in 0usize..4000, with in json_value()) {
        let mut value: serde_json::Value =
            serde_json::from_str(&fixture().manifest.to_json()).unwrap();
        let mut n = n;
        replace_nth(&mut value, &mut n, &with);
        let _ = Manifest::parse(&value.to_string());
    }

    #[test]
    fn random_text_never_panics(text in ".{0,200}") {
        let _ = Manifest::parse(&text);
    }
}
