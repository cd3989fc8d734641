//! The default comparison, for a card that has been running: read both filesystems of the
//! target with our own readers and compare every file and symlink of the manifest, by
//! type, size, permissions, owner, link target and contents. Paths the manifest expects a
//! running node to change are skipped, and so are paths it adds below those rules; every
//! other path the manifest lacks is reported as added. Reader problems are reported
//! beside the findings, and the other filesystem is still checked.
//!
//! It does not compare mapped ranges (see `blocks`).

use std::collections::HashSet;

use super::report::{Checked, FileFinding, FileStatus, FsProblem, escape};
use super::target::Target;
use super::volume::{Node, NodeKind, Volume};
use crate::image::io::ReadAt;
use crate::image::partition;
use crate::manifest::{Filesystem, Manifest, PartitionRole};

/// FAT keeps modification times in two-second steps.
const FAT_TIME_STEP: i64 = 2;

/// What the file comparison found.
pub(crate) struct FileFindings {
    pub(crate) files: Vec<FileFinding>,
    pub(crate) problems: Vec<FsProblem>,
    pub(crate) checked: Checked,
}

/// The partitions of the manifest that hold the two filesystems, with their byte spans.
pub(crate) fn filesystem_spans(manifest: &Manifest) -> Vec<(Filesystem, u64, u64)> {
    manifest
        .partitions
        .iter()
        .filter_map(|p| match p.role {
            PartitionRole::Boot => Some((Filesystem::Boot, p.start, p.size)),
            PartitionRole::Root => Some((Filesystem::Root, p.start, p.size)),
            PartitionRole::Other => None,
        })
        .collect()
}

/// Compares the target's partition table and both filesystems with the manifest.
pub(crate) fn compare(target: &Target, manifest: &Manifest) -> FileFindings {
    let mut out = FileFindings {
        files: Vec::new(),
        problems: table_problems(target, manifest),
        checked: Checked::default(),
    };
    for (filesystem, start, size) in filesystem_spans(manifest) {
        let volume = Volume::read(target, filesystem, start, size);
        out.problems
            .extend(volume.problems.iter().map(|message| FsProblem {
                filesystem: Some(filesystem),
                message: message.clone(),
            }));
        if volume.is_open() {
            compare_volume(manifest, &volume, &mut out);
        }
    }
    out
}

/// The partition table on the target against the manifest's partitions.
fn table_problems(target: &Target, manifest: &Manifest) -> Vec<FsProblem> {
    let problem = |message: String| FsProblem {
        filesystem: None,
        message,
    };
    let table = match partition::read(target) {
        Ok(table) => table,
        Err(e) => return vec![problem(format!("the partition table cannot be read: {e}"))],
    };
    let mut problems = Vec::new();
    for expected in &manifest.partitions {
        match table
            .partitions
            .iter()
            .find(|p| p.number == expected.number)
        {
            None => problems.push(problem(format!(
                "partition {} is missing from the partition table",
                expected.number
            ))),
            Some(found) if found.start != expected.start || found.size != expected.size => {
                problems.push(problem(format!(
                    "partition {} spans {} bytes at {} but the image had {} bytes at {}",
                    expected.number, found.size, found.start, expected.size, expected.start
                )));
            }
            Some(_) => {}
        }
    }
    problems
}

fn compare_volume(manifest: &Manifest, volume: &Volume<'_>, out: &mut FileFindings) {
    let filesystem = volume.filesystem;
    let mut listed: HashSet<Vec<u8>> = HashSet::new();
    let finding = |path: &[u8], status, details: Vec<String>, expected: bool| FileFinding {
        filesystem,
        path: escape(path),
        status,
        details,
        expected_to_change: expected,
    };
    for entry in manifest.files.iter().filter(|f| f.filesystem == filesystem) {
        let path = entry.path.0.to_bytes();
        listed.insert(path.clone());
        if entry.expected_to_change || manifest.expects_change(filesystem, &path) {
            out.checked.ignored += 1;
            continue;
        }
        out.checked.files += 1;
        let Some(node) = volume.nodes.get(&path) else {
            out.files
                .push(finding(&path, FileStatus::Missing, Vec::new(), false));
            continue;
        };
        if node.kind != NodeKind::File {
            let details = vec![format!("now {}", kind_name(&node.kind))];
            out.files
                .push(finding(&path, FileStatus::Changed, details, false));
            continue;
        }
        let mut details = attribute_changes(node, entry.mode, entry.uid, entry.gid);
        if node.size != entry.size {
            details.push(format!("size {} → {}", entry.size, node.size));
        }
        let status = match volume.digest(node) {
            Err(why) => {
                details.push(format!("unreadable: {why}"));
                Some(FileStatus::Damaged)
            }
            Ok(sum) if sum != entry.sha256.0 => {
                details.insert(0, "contents".to_string());
                if node.size == entry.size && !modified_since(node, manifest, filesystem) {
                    Some(FileStatus::Damaged)
                } else {
                    Some(FileStatus::Changed)
                }
            }
            Ok(_) if !details.is_empty() => Some(FileStatus::Changed),
            Ok(_) => None,
        };
        if let Some(status) = status {
            out.files.push(finding(&path, status, details, false));
        }
    }
    for link in manifest
        .symlinks
        .iter()
        .filter(|s| s.filesystem == filesystem)
    {
        let path = link.path.0.to_bytes();
        listed.insert(path.clone());
        if link.expected_to_change || manifest.expects_change(filesystem, &path) {
            out.checked.ignored += 1;
            continue;
        }
        out.checked.files += 1;
        let Some(node) = volume.nodes.get(&path) else {
            out.files
                .push(finding(&path, FileStatus::Missing, Vec::new(), false));
            continue;
        };
        let mut details = Vec::new();
        match &node.kind {
            NodeKind::Symlink(target) if *target == link.target.0 => {}
            NodeKind::Symlink(target) => details.push(format!(
                "target {} → {}",
                escape(&link.target.0),
                escape(target)
            )),
            other => details.push(format!("now {}", kind_name(other))),
        }
        if node.uid != link.uid || node.gid != link.gid {
            details.push(format!(
                "owner {}:{} → {}:{}",
                link.uid, link.gid, node.uid, node.gid
            ));
        }
        if !details.is_empty() {
            out.files
                .push(finding(&path, FileStatus::Changed, details, false));
        }
    }
    for (path, node) in &volume.nodes {
        let listable = matches!(node.kind, NodeKind::File | NodeKind::Symlink(_));
        if listable && !listed.contains(path) && !manifest.expects_change(filesystem, path) {
            out.files.push(finding(
                path,
                FileStatus::Added,
                vec![kind_name(&node.kind).to_string()],
                false,
            ));
        }
    }
}

/// Permission and owner differences, as phrases.
fn attribute_changes(node: &Node, mode: u32, uid: u32, gid: u32) -> Vec<String> {
    let mut details = Vec::new();
    if node.mode != mode & 0o7777 {
        details.push(format!("mode {:04o} → {:04o}", mode & 0o7777, node.mode));
    }
    if node.uid != uid || node.gid != gid {
        details.push(format!("owner {uid}:{gid} → {}:{}", node.uid, node.gid));
    }
    details
}

/// Whether the file was written through its filesystem after the build: the build sets
/// every timestamp to its epoch, so a later one means someone saved the file.
fn modified_since(node: &Node, manifest: &Manifest, filesystem: Filesystem) -> bool {
    let slack = match filesystem {
        Filesystem::Boot => FAT_TIME_STEP,
        Filesystem::Root => 0,
    };
    node.mtime > manifest.build.epoch.saturating_add(slack)
}

fn kind_name(kind: &NodeKind) -> &'static str {
    match kind {
        NodeKind::File => "a regular file",
        NodeKind::Symlink(_) => "a symbolic link",
        NodeKind::Directory => "a directory",
        NodeKind::Other(name) => name,
    }
}

/// Whether `target` is at least as long as the image.
pub(crate) fn long_enough(target: &Target, manifest: &Manifest) -> bool {
    target.size() >= manifest.image.size
}
