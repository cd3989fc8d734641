//! What `verify` found, for people (a one-line verdict, then the details) and for
//! machines (`--json`, documented in `docs/verify-json.md`). This module only shapes and
//! prints findings; `files` and `blocks` find them.

use std::fmt::Write as _;

use serde::Serialize;

use crate::calendar::format_utc;
use crate::manifest::{EncodedBytes, Filesystem, LockRef, Manifest};

/// The answer, and the process's exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The target matches the manifest (exit 0).
    Matches,
    /// It differs (exit 1).
    Differs,
}

impl Verdict {
    /// The exit code: 0 matches, 1 differs. (2, could not tell, comes from an error.)
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Matches => 0,
            Verdict::Differs => 1,
        }
    }
}

/// Which comparison ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Every file of both filesystems, read with our readers: for a card that has run.
    Files,
    /// Every mapped range's digest: for a fresh card or image.
    Blocks,
}

/// How a file differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    /// In the manifest, not on the target.
    Missing,
    /// Unreadable, or its contents differ while its modification time is still the
    /// build's: the bytes changed without the filesystem being told (bad card, bit rot).
    Damaged,
    /// Changed through the filesystem: contents with a newer modification time, size,
    /// type, permissions, owner or link target.
    Changed,
    /// On the target, not in the manifest, and not a path a running node creates.
    Added,
}

/// One file or symlink that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileFinding {
    /// `boot` or `root`.
    pub filesystem: Filesystem,
    /// The path, escaped as in the manifest.
    pub path: String,
    /// How it differs.
    pub status: FileStatus,
    /// What differs, as short phrases (`"contents"`, `"mode 0644 → 0600"`).
    pub details: Vec<String>,
    /// Whether the manifest expects a running node to change it.
    pub expected_to_change: bool,
}

/// A file whose data lies in a damaged range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RangeFile {
    /// `boot` or `root`.
    pub filesystem: Filesystem,
    /// The path, escaped as in the manifest.
    pub path: String,
    /// Whether its contents differ from the manifest's digest.
    pub differs: bool,
    /// Whether the manifest expects a running node to change it.
    pub expected_to_change: bool,
}

/// A mapped range whose digest differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RangeFinding {
    /// First block.
    pub first: u64,
    /// Last block, inclusive.
    pub last: u64,
    /// Byte offset of the range in the image.
    pub offset: u64,
    /// Its length in bytes.
    pub length: u64,
    /// The partition number it lies in, or null (the partition table, gaps).
    pub partition: Option<u32>,
    /// `boot`, `root`, `other`, or `table` for bytes before the first partition.
    pub area: String,
    /// The files whose data lies in the range and differs from the manifest, then (when
    /// none differs) those whose data merely lies there.
    pub files: Vec<RangeFile>,
}

/// A problem a filesystem reader met.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FsProblem {
    /// `boot`, `root`, or null for the partition table.
    pub filesystem: Option<Filesystem>,
    /// The sentence.
    pub message: String,
}

/// What built the image, from the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Origin {
    /// The profile's file name.
    pub profile: String,
    /// The node.
    pub node: String,
    /// The host name.
    pub hostname: String,
    /// The lock file used.
    pub lock: Option<LockRef>,
    /// The build's epoch, Unix seconds.
    pub epoch: i64,
    /// The image's file name.
    pub image: String,
    /// The pi-imager version that built it.
    pub tool_version: String,
}

impl Origin {
    /// The manifest's build facts.
    pub fn of(manifest: &Manifest) -> Self {
        let b = &manifest.build;
        Origin {
            profile: b.profile.clone(),
            node: b.node.clone(),
            hostname: b.hostname.clone(),
            lock: b.lock.clone(),
            epoch: b.epoch,
            image: manifest.image.name.clone(),
            tool_version: b.tool_version.clone(),
        }
    }

    /// "demo-a (node a of demo.toml) built from demo.lock at epoch 1731974400 (2024-11-19
    /// 00:00:00 UTC)".
    pub fn sentence(&self) -> String {
        let from = match &self.lock {
            Some(lock) => format!("built from {}", lock.name),
            None => "built without a lock".to_string(),
        };
        format!(
            "{} (node {} of {}) {from} at epoch {} ({})",
            self.hostname,
            self.node,
            self.profile,
            self.epoch,
            format_utc(self.epoch)
        )
    }
}

/// Counts of what was compared.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Checked {
    /// Mapped ranges compared.
    pub ranges: u64,
    /// Files and symlinks compared.
    pub files: u64,
    /// Manifest paths skipped because a running node changes them.
    pub ignored: u64,
}

/// The result of `verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// `matches` or `differs`.
    pub verdict: Verdict,
    /// `files` or `blocks`.
    pub mode: Mode,
    /// The target as given.
    pub target: String,
    /// What built the image.
    pub origin: Origin,
    /// What was compared.
    pub checked: Checked,
    /// Ranges whose digest differs (`blocks` mode).
    pub ranges: Vec<RangeFinding>,
    /// Files and symlinks that differ (`files` mode).
    pub files: Vec<FileFinding>,
    /// Problems the filesystem readers met.
    pub filesystem_errors: Vec<FsProblem>,
}

impl Report {
    /// Sets the verdict from the findings.
    pub(crate) fn decide(&mut self) {
        let differs =
            !self.ranges.is_empty() || !self.files.is_empty() || !self.filesystem_errors.is_empty();
        self.verdict = if differs {
            Verdict::Differs
        } else {
            Verdict::Matches
        };
    }

    /// The pretty JSON text with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// The human text: a one-line verdict, then one line per finding.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let what = match self.mode {
            Mode::Files => format!("{} files and symlinks", self.checked.files),
            Mode::Blocks => format!("{} mapped ranges", self.checked.ranges),
        };
        let _ = match self.verdict {
            Verdict::Matches => writeln!(
                out,
                "matches: {} is {}; {what} checked",
                self.target,
                self.origin.sentence()
            ),
            Verdict::Differs => writeln!(
                out,
                "differs: {} is {}; {}",
                self.target,
                self.origin.sentence(),
                self.summary()
            ),
        };
        for p in &self.filesystem_errors {
            let fs = p.filesystem.map_or("table", fs_name);
            let _ = writeln!(out, "  filesystem error ({fs}): {}", p.message);
        }
        for r in &self.ranges {
            let part = r
                .partition
                .map_or(String::new(), |n| format!(" partition {n}"));
            let _ = writeln!(
                out,
                "  range {}-{} (bytes {}..{}) differs:{part} ({})",
                r.first,
                r.last,
                r.offset,
                r.offset.saturating_add(r.length),
                r.area
            );
            for f in &r.files {
                let state = if f.differs { "differs" } else { "lies here" };
                let expected = if f.expected_to_change {
                    " (expected to change on a running node)"
                } else {
                    ""
                };
                let _ = writeln!(
                    out,
                    "    {}:{} {state}{expected}",
                    fs_name(f.filesystem),
                    f.path
                );
            }
        }
        for f in &self.files {
            let status = match f.status {
                FileStatus::Missing => "missing",
                FileStatus::Damaged => "damaged",
                FileStatus::Changed => "changed",
                FileStatus::Added => "added",
            };
            let details = if f.details.is_empty() {
                String::new()
            } else {
                format!(" ({})", f.details.join(", "))
            };
            let _ = writeln!(
                out,
                "  {status}: {}:{}{details}",
                fs_name(f.filesystem),
                f.path
            );
        }
        if self.checked.ignored > 0 {
            let _ = writeln!(
                out,
                "  {} paths a running node changes by itself were not compared",
                self.checked.ignored
            );
        }
        out
    }

    fn summary(&self) -> String {
        let mut parts = Vec::new();
        let count =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        if !self.filesystem_errors.is_empty() {
            parts.push(count(
                self.filesystem_errors.len(),
                "filesystem error",
                "filesystem errors",
            ));
        }
        if !self.ranges.is_empty() {
            parts.push(count(self.ranges.len(), "range differs", "ranges differ"));
        }
        for (status, one, many) in [
            (FileStatus::Missing, "file missing", "files missing"),
            (FileStatus::Damaged, "file damaged", "files damaged"),
            (FileStatus::Changed, "file changed", "files changed"),
            (FileStatus::Added, "file added", "files added"),
        ] {
            let n = self.files.iter().filter(|f| f.status == status).count();
            if n > 0 {
                parts.push(count(n, one, many));
            }
        }
        parts.join(", ")
    }
}

/// A path or link target in the manifest's escaped spelling.
pub(crate) fn escape(bytes: &[u8]) -> String {
    serde_json::to_value(EncodedBytes(bytes.to_vec()))
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn fs_name(fs: Filesystem) -> &'static str {
    match fs {
        Filesystem::Boot => "boot",
        Filesystem::Root => "root",
    }
}
