//! apt source lists: what we read from a list, what our writers produce and what our prefix
//! rewrite leaves behind are each compared with what real apt understands, through
//! `apt-get indextargets` (which lists the indexes apt would fetch, without any network).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use pi_imager::apt::Rewrites;
use pi_imager::apt::deb822::{self, Options};
use pi_imager::apt::sources::{self, SignedBy, SourceEntry, SourcesFormat};

const NATIVE: &str = "armhf";

const LIST: &str = "\
# The image's main list
deb http://mirrordirector.example.org/raspbian/ jessie main contrib non-free rpi
#deb-src http://archive.example.org/raspbian/ jessie main contrib non-free rpi
deb-src http://archive.example.org/raspbian/ jessie main
deb  [arch=armhf,arm64 signed-by=/usr/share/keyrings/extra.gpg]   http://mirrordirector.example.org/raspbian  stretch  main   # PHP 7
deb [trusted=yes] http://flat.example.org/repo ./
";

const SOURCES: &str = "\
Types: deb deb-src
URIs: http://deb.example.org/debian
# a comment inside the value
 http://mirrordirector.example.org/raspbian/debian
Suites: bookworm bookworm-updates
Components: main non-free-firmware
Architectures: armhf arm64
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://off.example.org/debian
Suites: sid
Components: main
Enabled: no

Types: deb-src
URIs: http://src.example.org/debian
Suites: sid
Components: main
";

/// (repository URI without its final `/`, suite, architecture, component) per index.
type Target = (String, String, String, String);

/// The `Packages` indexes apt would fetch for a list file and a parts directory.
fn apt_targets(dir: &Path) -> BTreeSet<Target> {
    for sub in ["lists/partial", "cache", "parts"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let option = |name: &str, value: &Path| format!("-o{name}={}", value.display());
    let output = Command::new("apt-get")
        .arg(option("Dir::Etc::SourceList", &dir.join("sources.list")))
        .arg(option("Dir::Etc::SourceParts", &dir.join("parts")))
        .arg(option("Dir::State::Lists", &dir.join("lists")))
        .arg(option("Dir::Cache", &dir.join("cache")))
        .arg(format!("-oAPT::Architecture={NATIVE}"))
        .args(["indextargets", "--no-release-info", "Created-By: Packages"])
        .output()
        .expect("apt-get is needed for this test (install apt)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "apt-get indextargets failed: {stderr}"
    );
    assert!(stderr.is_empty(), "apt warned: {stderr}");
    let paragraphs = deb822::parse_all(&stdout, "apt-get indextargets", Options::STRICT).unwrap();
    paragraphs
        .iter()
        .filter(|p| p.get("Target-Of") == Some("deb"))
        .map(|p| {
            let field = |name| p.get(name).unwrap_or("").to_owned();
            let uri = field("Repo-URI").trim_end_matches('/').to_owned();
            (
                uri,
                field("Release"),
                field("Architecture"),
                field("Component"),
            )
        })
        // apt adds `all` on its own for every suite; it is not in any list.
        .filter(|target| target.2 != "all")
        .collect()
}

/// The same indexes, as our entries describe them.
fn our_targets(entries: &[SourceEntry]) -> BTreeSet<Target> {
    let mut targets = BTreeSet::new();
    for entry in entries {
        let uri = entry.uri.trim_end_matches('/').to_owned();
        if entry.flat {
            targets.insert((uri, entry.suite.clone(), String::new(), String::new()));
            continue;
        }
        let native = [NATIVE.to_owned()];
        let arches = if entry.architectures.is_empty() {
            &native[..]
        } else {
            &entry.architectures[..]
        };
        for arch in arches {
            for component in &entry.components {
                targets.insert((
                    uri.clone(),
                    entry.suite.clone(),
                    arch.clone(),
                    component.clone(),
                ));
            }
        }
    }
    targets
}

fn write_lists(dir: &Path, list: &str, sources: &str) {
    std::fs::create_dir_all(dir.join("parts")).unwrap();
    std::fs::write(dir.join("sources.list"), list).unwrap();
    std::fs::write(dir.join("parts").join("image.sources"), sources).unwrap();
}

fn parse_both(list: &str, sources: &str) -> Vec<SourceEntry> {
    let mut entries = sources::parse(list, "sources.list", SourcesFormat::OneLine).unwrap();
    entries.extend(sources::parse(sources, "image.sources", SourcesFormat::Deb822).unwrap());
    entries
}

#[test]
fn our_reading_matches_apt() {
    let dir = tempfile::tempdir().unwrap();
    write_lists(dir.path(), LIST, SOURCES);
    let entries = parse_both(LIST, SOURCES);
    assert_eq!(entries.len(), 7);
    assert_eq!(our_targets(&entries), apt_targets(dir.path()));
}

#[test]
fn rewritten_lists_match_apt() {
    let rewrites = Rewrites::new([(
        "http://mirrordirector.example.org/raspbian",
        "http://legacy.example.org/raspbian",
    )]);
    let list = rewrites
        .apply_to_text(LIST, "sources.list", SourcesFormat::OneLine)
        .unwrap();
    let sources = rewrites
        .apply_to_text(SOURCES, "image.sources", SourcesFormat::Deb822)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_lists(dir.path(), &list, &sources);
    let mut expected = parse_both(LIST, SOURCES);
    rewrites.apply_to(&mut expected);
    let apt = apt_targets(dir.path());
    assert_eq!(our_targets(&expected), apt);
    assert!(
        apt.iter().all(|t| !t.0.contains("mirrordirector")),
        "{apt:?}"
    );
    // Everything but the URIs is left as it was, comments included.
    assert_eq!(
        list.replace("legacy.example.org", "mirrordirector.example.org"),
        LIST
    );
    assert_eq!(
        sources.replace("legacy.example.org", "mirrordirector.example.org"),
        SOURCES
    );
}

#[test]
fn written_entries_match_apt() {
    let entries = vec![
        SourceEntry {
            uri: "http://legacy.example.org/raspbian".into(),
            suite: "stretch".into(),
            components: vec!["main".into(), "contrib".into()],
            signed_by: Some(SignedBy::Path("/etc/apt/keyrings/stretch.asc".into())),
            architectures: vec!["armhf".into()],
            trusted: false,
            flat: false,
            origin_file: "profile".into(),
            line: 0,
        },
        SourceEntry {
            uri: "http://flat.example.org/repo".into(),
            suite: "./".into(),
            components: Vec::new(),
            signed_by: None,
            architectures: Vec::new(),
            trusted: true,
            flat: true,
            origin_file: "profile".into(),
            line: 0,
        },
    ];
    let list: String = entries.iter().map(|e| e.to_one_line().unwrap()).collect();
    let sources: Vec<String> = entries.iter().map(SourceEntry::to_deb822).collect();
    let ours = our_targets(&entries);
    // Each form on its own, so apt does not warn about the same index listed twice.
    let one_line = tempfile::tempdir().unwrap();
    write_lists(one_line.path(), &list, "");
    assert_eq!(apt_targets(one_line.path()), ours);
    let deb822 = tempfile::tempdir().unwrap();
    write_lists(deb822.path(), "", &sources.join("\n"));
    assert_eq!(apt_targets(deb822.path()), ours);
    let reread = parse_both(&list, "");
    assert_eq!(reread.len(), 2);
    assert_eq!(our_targets(&reread), ours);
    let reread = parse_both("", &sources.join("\n"));
    assert_eq!(our_targets(&reread), ours);
}
