//! `pi-imager check`: every shipped profile passes, every bad profile fails with its exact
//! messages, and the JSON report is stable.

use std::path::Path;

use crate::golden::{assert_golden, pi_imager, root};

#[test]
fn every_shipped_profile_passes_check() {
    let mut checked = 0;
    for entry in std::fs::read_dir(root().join("profiles")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let rel = format!("profiles/{}", path.file_name().unwrap().to_string_lossy());
            let (code, stdout, stderr) = pi_imager(&["check", &rel]);
            assert_eq!(code, 0, "{rel} failed check:\n{stderr}");
            assert!(stdout.contains(": valid"), "{rel}: {stdout}");
            checked += 1;
        }
    }
    assert!(checked >= 2, "expected the blog profiles, found {checked}");
}

/// Each `tests/data/bad/*.toml` breaks one rule; `*.err` holds what `check` prints.
#[test]
fn bad_profiles_fail_with_their_exact_messages() {
    let dir = root().join("tests/data/bad");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    names.sort();
    assert!(names.len() >= 30, "only {} bad profiles", names.len());
    let mut failures = Vec::new();
    for name in &names {
        let rel = format!("tests/data/bad/{name}");
        let (code, stdout, stderr) = pi_imager(&["check", &rel]);
        assert_eq!(code, 2, "{rel} should exit 2:\n{stdout}{stderr}");
        assert!(stdout.is_empty(), "{rel} printed a summary: {stdout}");
        let golden = Path::new("tests/data/bad").join(name.replace(".toml", ".err"));
        let result = std::panic::catch_unwind(|| assert_golden(&golden, &stderr));
        if let Err(panic) = result {
            failures.push(
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .unwrap_or_else(|| format!("{rel} failed")),
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_bad_profile_message_names_file_line_and_column() {
    for entry in std::fs::read_dir(root().join("tests/data/bad")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "err") {
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(!text.trim().is_empty(), "{} is empty", path.display());
            for line in text.lines() {
                let stem = path.file_stem().unwrap().to_string_lossy();
                let prefix = format!("tests/data/bad/{stem}.toml:");
                assert!(line.starts_with(&prefix), "{}: `{line}`", path.display());
                let mut parts = line[prefix.len()..].splitn(3, ':');
                let line_no: usize = parts.next().unwrap().parse().expect("a line number");
                let col: usize = parts.next().unwrap().parse().expect("a column number");
                assert!(line_no >= 1 && col >= 1, "{line}");
            }
        }
    }
}

#[test]
fn check_json_report_is_stable() {
    let (code, stdout, stderr) = pi_imager(&["check", "--json", "profiles/blog.toml"]);
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("valid JSON");
    assert_eq!(report["format"], "pi-imager-check");
    assert_eq!(report["valid"], true);
    assert_golden(Path::new("tests/data/golden/check-blog.json"), &stdout);
}

#[test]
fn check_json_reports_errors_with_locations() {
    let (code, stdout, _) = pi_imager(&["check", "--json", "tests/data/bad/many-errors.toml"]);
    assert_eq!(code, 2);
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("valid JSON");
    assert_eq!(report["valid"], false);
    assert!(report.get("summary").is_none());
    let errors = report["errors"].as_array().unwrap();
    assert!(errors.len() >= 4, "{errors:?}");
    for error in errors {
        assert!(error["line"].as_u64().unwrap() >= 1);
        assert!(
            error["key"].as_str().is_some_and(|k| !k.is_empty()),
            "{error}"
        );
    }
    assert_golden(
        Path::new("tests/data/golden/check-many-errors.json"),
        &stdout,
    );
}

#[test]
fn missing_profile_is_a_usage_error() {
    let (code, stdout, stderr) = pi_imager(&["check", "profiles/no-such-profile.toml"]);
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert!(
        stderr.starts_with("cannot read profile profiles/no-such-profile.toml:"),
        "{stderr}"
    );
}

#[test]
fn help_text_is_stable() {
    let (code, stdout, _) = pi_imager(&["--help"]);
    assert_eq!(code, 0);
    assert_golden(Path::new("tests/data/golden/help.txt"), &stdout);
}

#[test]
fn check_summary_is_stable() {
    let (code, stdout, stderr) = pi_imager(&["check", "profiles/blog.toml"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.is_empty(), "the blog profile has warnings: {stderr}");
    assert_golden(Path::new("tests/data/golden/check-blog.txt"), &stdout);
}

#[test]
fn warnings_do_not_fail_check() {
    let (code, stdout, stderr) = pi_imager(&["check", "tests/data/warn/swap-on-card.toml"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains(": valid"));
    assert_golden(Path::new("tests/data/warn/swap-on-card.err"), &stderr);
}
