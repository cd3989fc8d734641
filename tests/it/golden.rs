//! Golden files for user-visible text. `UPDATE_GOLDEN=1 cargo test` rewrites them; the
//! diff then shows in review what changed for users.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The crate's root folder, where the tests run.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the pi-imager binary from the crate root; returns (exit code, stdout, stderr).
pub fn pi_imager(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_pi-imager"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("the pi-imager binary runs");
    let filter = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes).replace(&root().display().to_string(), "[ROOT]")
    };
    (
        output.status.code().unwrap_or(-1),
        filter(&output.stdout),
        filter(&output.stderr),
    )
}

/// Compares `actual` with the golden file at `path` (relative to the crate root).
pub fn assert_golden(path: &Path, actual: &str) {
    let full = root().join(path);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&full, actual).expect("golden file written");
        return;
    }
    let expected = std::fs::read_to_string(&full).unwrap_or_else(|_| {
        panic!(
            "golden file {} is missing; run with UPDATE_GOLDEN=1 to create it",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{} differs from the output:\n--- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}
