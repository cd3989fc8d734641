//! Debian version order checked against real `dpkg --compare-versions`.
//!
//! Generated versions are sorted with our order, then dpkg checks every adjacent pair (plus
//! a set of random pairs): if dpkg agrees that each neighbour is `lt` or `eq` exactly where
//! we say so, it agrees with our order on every pair of the list, by transitivity.

use std::cmp::Ordering;
use std::fmt::Write as _;
use std::process::Command;

use pi_imager::apt::Version;

/// A small deterministic generator, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Versions mixing what makes dpkg's order subtle: tildes, letters against symbols,
/// leading zeros, epochs, revisions with `+b1` and `~bpo` suffixes.
fn generate(rng: &mut Rng) -> String {
    const PIECES: &[&str] = &[
        "0",
        "1",
        "2",
        "9",
        "10",
        "010",
        "00",
        "123",
        ".",
        ".",
        "+",
        "~",
        "~~",
        "a",
        "b",
        "z",
        "A",
        "Z",
        "rc",
        "beta",
        "deb9u1",
        "+dfsg",
        "~rc1",
        "+b1",
        "really",
        "+git20190101",
    ];
    let mut text = String::new();
    if rng.below(6) == 0 {
        let _ = write!(text, "{}:", rng.below(3));
    }
    text.push_str(rng.pick(&["0", "1", "2", "7", "10", "01"]));
    for _ in 0..rng.below(5) {
        text.push_str(rng.pick(PIECES));
    }
    if rng.below(4) == 0 {
        // A hyphen in the upstream part, allowed because a revision follows.
        text.push('-');
        text.push_str(rng.pick(&["1", "2", "rc1"]));
    }
    if rng.below(3) != 0 {
        text.push('-');
        text.push_str(rng.pick(&["0", "1", "2", "10", "a"]));
        for _ in 0..rng.below(3) {
            text.push_str(rng.pick(PIECES));
        }
    }
    text
}

/// Asks dpkg about every pair in one shell run; answers `lt`, `eq` or `gt` per pair.
fn dpkg_relations(pairs: &[(String, String)]) -> Vec<String> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let list = dir.path().join("pairs");
    let text: String = pairs.iter().map(|(a, b)| format!("{a} {b}\n")).collect();
    std::fs::write(&list, text).expect("write pairs");
    let script = r#"while read a b; do
  if dpkg --compare-versions "$a" lt "$b"; then echo lt
  elif dpkg --compare-versions "$a" eq "$b"; then echo eq
  else echo gt; fi
done < "$1""#;
    let output = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .arg(&list)
        .output()
        .expect("sh must be installed");
    assert!(output.status.success(), "the dpkg loop failed: {output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("not found"),
        "dpkg is needed for this test: {stderr}"
    );
    assert!(
        stderr.is_empty(),
        "dpkg complained about a generated version: {stderr}"
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn word(ordering: Ordering) -> &'static str {
    match ordering {
        Ordering::Less => "lt",
        Ordering::Equal => "eq",
        Ordering::Greater => "gt",
    }
}

#[test]
fn order_matches_dpkg_on_generated_versions() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut versions: Vec<Version> = (0..1200)
        .map(|_| {
            let text = generate(&mut rng);
            Version::parse(&text).unwrap_or_else(|e| panic!("generated `{text}`: {e}"))
        })
        .collect();
    versions.sort();
    let mut pairs: Vec<(String, String)> = versions
        .windows(2)
        .map(|w| (w[0].to_string(), w[1].to_string()))
        .collect();
    let mut expected: Vec<&str> = versions.windows(2).map(|w| word(w[0].cmp(&w[1]))).collect();
    for _ in 0..600 {
        let a = &versions[rng.below(versions.len())];
        let b = &versions[rng.below(versions.len())];
        pairs.push((a.to_string(), b.to_string()));
        expected.push(word(a.cmp(b)));
    }
    for (a, b, ours) in [
        ("1.0~rc1", "1.0", "lt"),
        ("1:0.1", "2.0", "gt"),
        ("1.0-1", "1.0-1+b1", "lt"),
        ("7.0.33-0+deb9u1", "7.0.33-0+deb9u10", "lt"),
        ("2.19-18+deb8u10", "2.24-11+deb9u4", "lt"),
        ("1.0", "1.0-0", "eq"),
        ("1.0a", "1.0+", "lt"),
        ("1.0~~", "1.0~", "lt"),
    ] {
        let (va, vb) = (Version::parse(a).unwrap(), Version::parse(b).unwrap());
        assert_eq!(word(va.cmp(&vb)), ours, "{a} vs {b}");
        pairs.push((a.into(), b.into()));
        expected.push(ours);
    }
    let answers = dpkg_relations(&pairs);
    assert_eq!(answers.len(), pairs.len(), "dpkg answered every pair");
    let disagreements: Vec<String> = pairs
        .iter()
        .zip(&expected)
        .zip(&answers)
        .filter(|((_, ours), theirs)| *ours != theirs)
        .map(|(((a, b), ours), theirs)| format!("{a} vs {b}: we say {ours}, dpkg says {theirs}"))
        .collect();
    assert!(disagreements.is_empty(), "{disagreements:#?}");
}
