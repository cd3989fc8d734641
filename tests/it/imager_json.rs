//! `pi-imager imager-json` and the release scripts on the demo built the way the release
//! workflow builds a fleet: one `build --locked --node N` per node into its own folder
//! (sharing one download cache), then `.ci/release-matrix`, `.ci/release-assets` and the
//! Raspberry Pi Imager repository file checked against the outputs with sha256sum, xz and
//! date, and against the Imager schema's required fields and types.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use super::build::Demo;
use super::golden::root;

const BASE_URL: &str = "https://example.org/releases/v1";

fn tool(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (install it: see .ci/install-deps)"))
}

fn ok(cmd: &mut Command) -> String {
    let output = tool(cmd);
    assert!(
        output.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// What `sha256sum FILE` prints for the file, and its length.
fn sum(path: &Path) -> (String, u64) {
    let line = ok(Command::new("sha256sum").arg(path));
    let digest = line.split_whitespace().next().unwrap().to_owned();
    (digest, std::fs::metadata(path).unwrap().len())
}

fn is_sha256(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|s| s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

fn is_date(value: &Value) -> bool {
    value.as_str().is_some_and(|s| {
        let b = s.as_bytes();
        b.len() == 10
            && b[4] == b'-'
            && b[7] == b'-'
            && b.iter()
                .enumerate()
                .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
    })
}

/// The device tags Raspberry Pi's own repository file uses.
const TAGS: &[&str] = &[
    "pi1-32bit",
    "pi2-32bit",
    "pi3-32bit",
    "pi3-64bit",
    "pi4-32bit",
    "pi4-64bit",
    "pi5-32bit",
    "pi5-64bit",
];

/// The Imager repository schema's required fields and their types (`os_list` entries:
/// name, description, url, release_date, extract_size, extract_sha256,
/// image_download_size, image_download_sha256, devices; `imager.devices`: name, tags),
/// checked the way a JSON-schema validator would, returning every violation.
fn schema_violations(doc: &Value) -> Vec<String> {
    let mut bad = Vec::new();
    let Some(list) = doc["os_list"].as_array() else {
        return vec!["os_list is not an array".into()];
    };
    if list.is_empty() {
        bad.push("os_list is empty".into());
    }
    for (i, entry) in list.iter().enumerate() {
        let Some(object) = entry.as_object() else {
            bad.push(format!("os_list[{i}] is not an object"));
            continue;
        };
        for key in ["name", "description", "url"] {
            if object
                .get(key)
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                bad.push(format!("os_list[{i}].{key} is not a non-empty string"));
            }
        }
        for key in ["extract_size", "image_download_size"] {
            if object
                .get(key)
                .and_then(Value::as_u64)
                .is_none_or(|n| n == 0)
            {
                bad.push(format!("os_list[{i}].{key} is not a positive integer"));
            }
        }
        for key in ["extract_sha256", "image_download_sha256"] {
            if !object.get(key).is_some_and(is_sha256) {
                bad.push(format!("os_list[{i}].{key} is not a SHA-256 digest"));
            }
        }
        if !object.get("release_date").is_some_and(is_date) {
            bad.push(format!("os_list[{i}].release_date is not YYYY-MM-DD"));
        }
        match object.get("devices").and_then(Value::as_array) {
            Some(tags) if !tags.is_empty() => {
                for tag in tags {
                    if !tag.as_str().is_some_and(|t| TAGS.contains(&t)) {
                        bad.push(format!("os_list[{i}].devices has unknown tag {tag}"));
                    }
                }
            }
            _ => bad.push(format!("os_list[{i}].devices is not a non-empty array")),
        }
        for key in object.keys() {
            let known = [
                "name",
                "description",
                "url",
                "icon",
                "website",
                "release_date",
                "extract_size",
                "extract_sha256",
                "image_download_size",
                "image_download_sha256",
                "devices",
                "init_format",
            ];
            if !known.contains(&key.as_str()) {
                bad.push(format!(
                    "os_list[{i}] has a field Imager does not know: {key}"
                ));
            }
        }
    }
    match doc["imager"]["devices"].as_array() {
        Some(devices) => {
            for (i, device) in devices.iter().enumerate() {
                if device["name"].as_str().is_none_or(str::is_empty) {
                    bad.push(format!(
                        "imager.devices[{i}].name is not a non-empty string"
                    ));
                }
                if !device["tags"].as_array().is_some_and(|t| {
                    !t.is_empty()
                        && t.iter()
                            .all(|t| t.as_str().is_some_and(|t| TAGS.contains(&t)))
                }) {
                    bad.push(format!("imager.devices[{i}].tags are not known tags"));
                }
            }
        }
        None => bad.push("imager.devices is not an array".into()),
    }
    bad
}

#[test]
fn schema_check_catches_what_imager_needs() {
    let good = serde_json::json!({
        "imager": {"devices": [{"name": "Raspberry Pi 3", "tags": ["pi3-32bit"]}]},
        "os_list": [{
            "name": "x", "description": "y", "url": "https://example.org/x.img.xz",
            "release_date": "2024-01-02", "extract_size": 1, "extract_sha256": "a".repeat(64),
            "image_download_size": 1, "image_download_sha256": "b".repeat(64),
            "devices": ["pi3-32bit"]
        }]
    });
    assert_eq!(schema_violations(&good), Vec::<String>::new());
    for (key, value) in [
        ("extract_size", serde_json::json!("1")),
        ("extract_sha256", serde_json::json!("A".repeat(64))),
        ("release_date", serde_json::json!("2024-1-2")),
        ("devices", serde_json::json!(["pi3"])),
        ("url", serde_json::json!("")),
    ] {
        let mut doc = good.clone();
        doc["os_list"][0][key] = value;
        assert!(
            schema_violations(&doc).iter().any(|v| v.contains(key)),
            "{key} not caught"
        );
    }
    let mut doc = good.clone();
    doc["os_list"][0]
        .as_object_mut()
        .unwrap()
        .remove("image_download_sha256");
    assert!(!schema_violations(&doc).is_empty());
}

#[test]
fn imager_json_matches_the_fleet_built_one_node_per_job() {
    let demo = Demo::with_lock();
    // The release matrix: every locked profile's nodes, from `check --json`.
    let matrix = ok(Command::new("python3")
        .arg(root().join(".ci/release-matrix"))
        .arg(demo.dir.path())
        .env("PI_IMAGER", env!("CARGO_BIN_EXE_pi-imager")));
    let matrix: Value = serde_json::from_str(&matrix).unwrap();
    let nodes: Vec<&str> = matrix["include"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["name"], "demo");
            e["node"].as_str().unwrap()
        })
        .collect();
    assert_eq!(nodes, ["a", "b"]);

    // One job per node, each with its own output folder and the shared cache.
    for node in &nodes {
        demo.build(&format!("out-{node}"), &["--locked", "--node", node]);
    }
    let dirs: Vec<String> = nodes.iter().map(|n| format!("out-{n}")).collect();
    let mut args = vec!["imager-json".to_owned()];
    args.extend(dirs.iter().cloned());
    args.extend([
        "--base-url".into(),
        BASE_URL.into(),
        "--out".into(),
        "os_list.json".into(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = demo.run(&args);
    assert!(
        run.status.success(),
        "imager-json failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(demo.path("os_list.json")).unwrap()).unwrap();
    assert_eq!(schema_violations(&doc), Vec::<String>::new());

    let list = doc["os_list"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    for (entry, (node, tag)) in list.iter().zip([("a", "pi3-32bit"), ("b", "pi2-32bit")]) {
        let out = demo.path(&format!("out-{node}"));
        let (raw_sha, raw_size) = sum(&out.join(format!("demo-{node}.img")));
        let (xz_sha, xz_size) = sum(&out.join(format!("demo-{node}.img.xz")));
        assert_eq!(entry["name"], format!("demo-{node}"));
        assert_eq!(entry["extract_sha256"], raw_sha.as_str());
        assert_eq!(entry["extract_size"], raw_size);
        assert_eq!(entry["image_download_sha256"], xz_sha.as_str());
        assert_eq!(entry["image_download_size"], xz_size);
        assert_eq!(entry["url"], format!("{BASE_URL}/demo-{node}.img.xz"));
        assert_eq!(entry["devices"], serde_json::json!([tag]));
        // What Imager checks after writing: the decompressed download is the raw image.
        let unpacked = tool(Command::new("sh").arg("-c").arg(format!(
            "xz -dc '{}' | sha256sum",
            out.join(format!("demo-{node}.img.xz")).display()
        )));
        assert!(unpacked.status.success(), "xz -dc failed");
        assert!(String::from_utf8_lossy(&unpacked.stdout).starts_with(&raw_sha));
        // The release date is the build epoch's UTC day, as date(1) says.
        let manifest: Value = serde_json::from_str(
            &std::fs::read_to_string(out.join(format!("demo-{node}.manifest.json"))).unwrap(),
        )
        .unwrap();
        let epoch = manifest["build"]["epoch"].as_i64().unwrap();
        let day = ok(Command::new("date")
            .arg("-u")
            .arg(format!("-d@{epoch}"))
            .arg("+%F"));
        assert_eq!(entry["release_date"], day.trim());
    }
    let devices: Vec<&str> = doc["imager"]["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(devices, ["Raspberry Pi 3", "Raspberry Pi 2"]);

    // Without --base-url the entries point at the files where they are.
    let local = demo.run(&["imager-json", "out-a"]);
    assert!(local.status.success());
    let local: Value = serde_json::from_slice(&local.stdout).unwrap();
    let url = local["os_list"][0]["url"].as_str().unwrap();
    assert!(
        url.starts_with("file:///") && url.ends_with("/out-a/demo-a.img.xz"),
        "{url}"
    );

    // The publish step: one folder of assets, its SHA256SUMS checked by sha256sum.
    ok(Command::new("bash")
        .arg(root().join(".ci/release-assets"))
        .arg("assets")
        .arg(BASE_URL)
        .args(&dirs)
        .current_dir(demo.dir.path())
        .env("PI_IMAGER", env!("CARGO_BIN_EXE_pi-imager")));
    let assets = demo.path("assets");
    ok(Command::new("sha256sum")
        .args(["--check", "--strict", "SHA256SUMS"])
        .current_dir(&assets));
    let sums = std::fs::read_to_string(assets.join("SHA256SUMS")).unwrap();
    let names: Vec<&str> = sums.lines().filter_map(|l| l.split("  ").nth(1)).collect();
    assert_eq!(
        names,
        [
            "demo-a.img.bmap",
            "demo-a.img.xz",
            "demo-a.manifest.json",
            "demo-b.img.bmap",
            "demo-b.img.xz",
            "demo-b.manifest.json",
            "os_list.json"
        ]
    );
    let published: Value =
        serde_json::from_str(&std::fs::read_to_string(assets.join("os_list.json")).unwrap())
            .unwrap();
    assert_eq!(published["os_list"], doc["os_list"]);

    // A second run into the same folder refuses to mix builds.
    let again = tool(
        Command::new("bash")
            .arg(root().join(".ci/release-assets"))
            .arg("assets")
            .arg(BASE_URL)
            .arg("out-a")
            .current_dir(demo.dir.path())
            .env("PI_IMAGER", env!("CARGO_BIN_EXE_pi-imager")),
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("more than one folder"));

    refusals(&demo);
}

/// What imager-json refuses, each with a message naming the cause.
fn refusals(demo: &Demo) {
    let refused = |args: &[&str], needle: &str| {
        let run = demo.run(args);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains(needle),
            "{args:?}: {stderr:?} lacks {needle:?}"
        );
    };
    refused(&["imager-json", "out-a", "out-a"], "named by both");
    refused(&["imager-json", "no-such-dir"], "cannot list no-such-dir");
    std::fs::create_dir(demo.path("empty")).unwrap();
    refused(&["imager-json", "empty"], "no *.manifest.json in empty");
    refused(
        &["imager-json", "out-a", "--base-url", "releases/v1"],
        "not an absolute URL",
    );
    let usage = demo.run(&["imager-json"]);
    assert_eq!(usage.status.code(), Some(2), "no folder is a usage error");

    // A compressed image that is not the one the manifest describes.
    let xz = demo.path("out-b/demo-b.img.xz");
    let mut bytes = std::fs::read(&xz).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&xz, &bytes).unwrap();
    refused(&["imager-json", "out-b"], "does not match its manifest");
    std::fs::remove_file(&xz).unwrap();
    refused(&["imager-json", "out-b"], "no file");

    // A manifest that is not one.
    std::fs::write(demo.path("out-b/demo-b.manifest.json"), "{\"schema\": 1}").unwrap();
    refused(&["imager-json", "out-b"], "is not a usable manifest");
}
