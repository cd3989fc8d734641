//! Random small universes: the resolver never panics, and whatever it resolves passes the
//! independent consistency check (every dependency of every package met, no clash).

use pi_imager::apt::resolver::{Origin, Universe, check, resolve};
use pi_imager::apt::{PackagesIndex, StatusFile};
use pi_imager::profile::{PackageRequest, Packages};
use proptest::prelude::*;

const NAMES: [&str; 6] = ["p0", "p1", "p2", "p3", "p4", "p5"];
const VIRTUALS: [&str; 2] = ["v0", "v1"];
const OPS: [&str; 5] = ["<<", "<=", "=", ">=", ">>"];

fn relation() -> impl Strategy<Value = String> {
    (0..8usize, prop::option::of((0..5usize, 1..4u8))).prop_map(|(target, constraint)| {
        let name = NAMES
            .get(target)
            .or_else(|| VIRTUALS.get(target - NAMES.len()))
            .copied()
            .unwrap_or("p0");
        match constraint {
            Some((op, version)) => format!("{name} ({} {version}.0)", OPS[op]),
            None => name.to_owned(),
        }
    })
}

fn field(name: &'static str) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::collection::vec(relation(), 1..3), 0..3).prop_map(move |groups| {
        if groups.is_empty() {
            String::new()
        } else {
            let text: Vec<String> = groups.iter().map(|g| g.join(" | ")).collect();
            format!("{name}: {}\n", text.join(", "))
        }
    })
}

/// One package paragraph (without the index-only fields).
fn paragraph() -> impl Strategy<Value = String> {
    (
        0..NAMES.len(),
        1..4u8,
        field("Depends"),
        field("Pre-Depends"),
        field("Breaks"),
        field("Conflicts"),
        prop::option::of((0..VIRTUALS.len(), prop::option::of(1..4u8))),
        prop::bool::weighted(0.1),
    )
        .prop_map(
            |(name, version, depends, pre, breaks, conflicts, provides, essential)| {
                let mut text = format!(
                    "Package: {}\nVersion: {version}.0\nArchitecture: armhf\n{depends}{pre}{breaks}{conflicts}",
                    NAMES[name]
                );
                if let Some((virtual_name, provided)) = provides {
                    text.push_str(&format!("Provides: {}", VIRTUALS[virtual_name]));
                    if let Some(v) = provided {
                        text.push_str(&format!(" (= {v}.0)"));
                    }
                    text.push('\n');
                }
                if essential {
                    text.push_str("Essential: yes\n");
                }
                text
            },
        )
}

fn index(paragraphs: &[String]) -> PackagesIndex {
    let mut text = String::new();
    for (n, p) in paragraphs.iter().enumerate() {
        text.push_str(p);
        text.push_str(&format!(
            "Filename: pool/p{n}.deb\nSize: 1\nSHA256: {}\n\n",
            "0".repeat(64)
        ));
    }
    PackagesIndex::parse(text, "Packages").expect("generated index parses")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn resolutions_are_consistent(
        old in prop::collection::vec(paragraph(), 0..8),
        new in prop::collection::vec(paragraph(), 0..8),
        installed in prop::collection::vec(paragraph(), 0..5),
        new_priority in prop::sample::select(vec![1, 100, 500, 990, 1001]),
        requests in prop::collection::vec((0..8usize, prop::bool::ANY), 1..4),
        removals in prop::collection::vec(0..NAMES.len(), 0..2),
        recommends in prop::bool::ANY,
    ) {
        let mut status = String::new();
        let mut seen = Vec::new();
        for p in &installed {
            let name = p.lines().next().unwrap_or_default();
            if seen.contains(&name) {
                continue;
            }
            seen.push(name);
            status.push_str(p);
            status.push_str("Status: install ok installed\n\n");
        }
        let status = StatusFile::parse(&status, "status").expect("generated status parses");
        let origins = vec![
            Origin {
                name: "old".to_owned(),
                suite: Some("old".to_owned()),
                codename: None,
                priority: 500,
                indexes: vec![index(&old)],
            },
            Origin {
                name: "new".to_owned(),
                suite: None,
                codename: Some("new".to_owned()),
                priority: new_priority,
                indexes: vec![index(&new)],
            },
        ];
        let universe = Universe::new("armhf", origins, status);
        let packages = Packages {
            install: requests
                .iter()
                .map(|&(n, targeted)| PackageRequest {
                    name: NAMES
                        .get(n)
                        .or_else(|| VIRTUALS.get(n - NAMES.len()))
                        .copied()
                        .unwrap_or("p0")
                        .to_owned(),
                    release: targeted.then(|| "new".to_owned()),
                })
                .collect(),
            remove: removals.iter().map(|&n| NAMES[n].to_owned()).collect(),
            recommends,
        };
        if let Ok(resolution) = resolve(&universe, &packages) {
            let defects = check(&universe, &resolution);
            prop_assert!(defects.is_empty(), "{defects:?} in {resolution:?}");
            let order = resolution.lock();
            prop_assert_eq!(order.len(), resolution.unpack.len());
        }
    }
}
