//! Puts back, with `debugfs -w`, what `mke2fs -d` 1.47 leaves out of a tar stream:
//! sub-second times and every xattr but `security.capability`.
//!
//! mke2fs sets an inode's times through whole seconds, and its tar reader
//! (`misc/create_inode_libarchive.c`) copies only `security.capability`. Both are in the
//! archive; this module writes a debugfs command script that sets the time fields raw
//! (`mtime_lo`: low 32 bits of the seconds, which mke2fs clamps past 2038; `mtime_hi`:
//! nanoseconds and epoch bits) and the missing xattrs by path, and runs it on the
//! filesystem range. It never creates or removes inodes.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use super::error::Mke2fsError;
use super::version::find_program;
use crate::tree::{Kind, Timestamp, Tree, TreePath};

/// The only xattr e2fsprogs 1.47's tar reader copies into the filesystem.
pub(super) const KEPT_XATTR: &[u8] = b"security.capability";

/// A debugfs script and the files holding the xattr values it reads.
pub(super) struct Plan {
    /// The commands, one per line.
    script: Vec<u8>,
    /// Holds the script and one file per xattr value (values may be binary).
    dir: tempfile::TempDir,
    /// Inodes the script changes.
    pub restored: u64,
    /// Paths debugfs cannot name (a newline in the path), left as mke2fs wrote them.
    pub not_restored: Vec<TreePath>,
}

/// The `i_*time_extra` field: nanoseconds above two epoch bits that extend the 32-bit
/// seconds (times before 1901 or after 2038).
fn time_extra(t: Timestamp) -> u32 {
    let low = i64::from(t.secs as i32);
    let epoch = ((t.secs.wrapping_sub(low)) >> 32) as u32 & 3;
    (t.nanos.min(999_999_999) << 2) | epoch
}

/// Quotes a word for debugfs' command parser: inside double quotes a `""` is one quote.
fn quote(word: &[u8]) -> Vec<u8> {
    let mut out = vec![b'"'];
    for &b in word {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
    out
}

/// Builds the script for `tree`, writing xattr values into a new temporary directory.
pub(super) fn plan(tree: &Tree) -> Result<Plan, Mke2fsError> {
    let dir = tempfile::Builder::new()
        .prefix("pi-imager-debugfs")
        .tempdir()
        .map_err(|source| Mke2fsError::File {
            path: std::env::temp_dir(),
            source,
        })?;
    let mut plan = Plan {
        script: Vec::new(),
        dir,
        restored: 0,
        not_restored: Vec::new(),
    };
    let mut seen = std::collections::HashSet::new();
    let mut values = 0u64;
    for (path, id, inode) in tree.iter() {
        // Sockets never reach the filesystem (tar cannot hold them).
        if !seen.insert(id) || matches!(inode.kind, Kind::Socket) {
            continue;
        }
        let extra_xattrs: Vec<_> = inode
            .xattrs
            .iter()
            .filter(|(name, _)| name.as_slice() != KEPT_XATTR)
            .collect();
        // mke2fs writes the small inode only, so neither nanoseconds nor the epoch bits
        // of times past 2038 survive it.
        let extra = time_extra(inode.mtime);
        if extra == 0 && extra_xattrs.is_empty() {
            continue;
        }
        let bytes = path.to_bytes();
        if bytes.contains(&b'\n') || bytes.contains(&b'\r') {
            plan.not_restored.push(path.clone());
            continue;
        }
        let target = quote(&bytes);
        if extra != 0 {
            // mke2fs also clamps seconds past 2038 to 2^31 - 1: set both halves raw.
            let low = inode.mtime.secs as u32;
            // The tar gave atime and ctime the same value as mtime.
            for time in ["mtime", "atime", "ctime"] {
                for (half, value) in [("lo", low), ("hi", extra)] {
                    plan.script.extend_from_slice(b"set_inode_field ");
                    plan.script.extend_from_slice(&target);
                    let mut tail = String::new();
                    let _ = writeln!(tail, " {time}_{half} 0x{value:08x}");
                    plan.script.extend_from_slice(tail.as_bytes());
                }
            }
        }
        for (name, value) in extra_xattrs {
            values += 1;
            let file = plan.dir.path().join(format!("value-{values}"));
            std::fs::write(&file, value).map_err(|source| Mke2fsError::File {
                path: file.clone(),
                source,
            })?;
            plan.script.extend_from_slice(b"ea_set -f ");
            plan.script
                .extend_from_slice(&quote(file.as_os_str().as_encoded_bytes()));
            plan.script.push(b' ');
            plan.script.extend_from_slice(&target);
            plan.script.push(b' ');
            plan.script.extend_from_slice(&quote(name));
            plan.script.push(b'\n');
        }
        plan.restored += 1;
    }
    Ok(plan)
}

/// Runs the script on the filesystem at `offset` in `image` with the clock at `epoch`.
pub(super) fn apply(plan: &Plan, image: &Path, offset: u64, epoch: i64) -> Result<(), Mke2fsError> {
    if plan.script.is_empty() {
        return Ok(());
    }
    let program = find_program("debugfs").ok_or(Mke2fsError::NotFound { program: "debugfs" })?;
    let script = plan.dir.path().join("script");
    std::fs::write(&script, &plan.script).map_err(|source| Mke2fsError::File {
        path: script.clone(),
        source,
    })?;
    // e2fsprogs reads `?` in a device name as the start of options: reach the image
    // through a link whose name we choose.
    let link = plan.dir.path().join("image");
    let absolute = std::path::absolute(image).map_err(|source| Mke2fsError::File {
        path: image.to_path_buf(),
        source,
    })?;
    std::os::unix::fs::symlink(&absolute, &link).map_err(|source| Mke2fsError::File {
        path: link.clone(),
        source,
    })?;
    let mut device = OsString::from(link.as_os_str());
    device.push(format!("?offset={offset}"));
    let output = Command::new(&program)
        .arg("-w")
        .arg("-f")
        .arg(&script)
        .arg(&device)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("E2FSPROGS_FAKE_TIME", epoch.to_string())
        .env("LC_ALL", "C.UTF-8")
        .stdin(Stdio::null())
        .output()
        .map_err(|source| Mke2fsError::Spawn {
            program: program.clone(),
            source,
        })?;
    // debugfs exits 0 even when a command fails; its errors are the lines on standard
    // error other than its banner.
    let stderr = String::from_utf8_lossy(&output.stderr);
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("debugfs "))
        .collect();
    if !output.status.success() || !errors.is_empty() {
        return Err(Mke2fsError::Debugfs {
            status: output.status.to_string(),
            stderr: errors.join("\n"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Inode;

    #[test]
    fn extra_time_holds_nanoseconds_and_epoch_bits() {
        assert_eq!(time_extra(Timestamp { secs: 5, nanos: 1 }), 4);
        // 2038-01-19T03:14:08Z is 2^31: the first second needing an epoch bit.
        assert_eq!(time_extra(Timestamp::from_secs(1 << 31)), 1);
        assert_eq!(time_extra(Timestamp::from_secs(-1)), 0);
    }

    #[test]
    fn script_quotes_paths_and_skips_unnameable_ones() {
        let t = Timestamp { secs: 7, nanos: 9 };
        let mut tree = Tree::new(Inode::dir(0o755, Timestamp::default()));
        let mut file = Inode::file("", 0o644, t);
        file.xattrs.insert(b"user.x".to_vec(), b"\0".to_vec());
        file.xattrs.insert(KEPT_XATTR.to_vec(), b"cap".to_vec());
        tree.insert(TreePath::parse("a \"b\"").unwrap(), file)
            .unwrap();
        tree.insert(
            TreePath::parse("sock").unwrap(),
            Inode::new(Kind::Socket, 0o755, t),
        )
        .unwrap();
        tree.insert(
            TreePath::parse("new\nline").unwrap(),
            Inode::file("", 0o644, t),
        )
        .unwrap();
        let plan = plan(&tree).unwrap();
        let script = String::from_utf8_lossy(&plan.script);
        assert!(
            script.contains("set_inode_field \"/a \"\"b\"\"\" mtime_hi 0x00000024\n"),
            "{script}"
        );
        assert!(script.contains("\"/a \"\"b\"\"\" \"user.x\"\n"), "{script}");
        assert!(!script.contains("security.capability"), "{script}");
        assert_eq!(plan.restored, 1);
        assert_eq!(
            plan.not_restored,
            vec![TreePath::parse("new\nline").unwrap()]
        );
    }
}
