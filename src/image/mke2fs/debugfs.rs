//! Puts back, with `debugfs -w`, what `mke2fs -d` 1.47 leaves out of a tar stream:
//! sub-second times, seconds past 2038, and every xattr but `security.capability`.
//!
//! mke2fs sets an inode's times through the small inode (whole seconds, clamped to
//! 2^31 - 1), and its tar reader (`misc/create_inode_libarchive.c`) copies only
//! `security.capability`. All of it is in the archive. This module finds the inode number
//! of each path that needs more (see [`listing`](super::listing)), then runs one debugfs
//! script that sets the time fields raw (`mtime_lo`: low 32 bits of the seconds;
//! `mtime_hi`: nanoseconds above two epoch bits) and the missing xattrs. It never creates
//! or removes inodes.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::error::Mke2fsError;
use super::listing::{Listing, parse_listings, resolve};
use super::version::find_program;
use crate::tree::{Kind, Timestamp, Tree, TreePath};

/// The only xattr e2fsprogs 1.47's tar reader copies into the filesystem.
const KEPT_XATTR: &[u8] = b"security.capability";

/// What one inode needs beyond what mke2fs wrote.
struct Fix<'a> {
    /// The first path of the inode.
    path: &'a TreePath,
    /// Raw `(lo, hi)` time fields, when the time needs more than 32-bit seconds.
    time: Option<(u32, u32)>,
    /// Xattrs mke2fs left out, as (name, value).
    xattrs: Vec<(&'a [u8], &'a [u8])>,
}

/// The `i_*time_extra` field: nanoseconds above two epoch bits that extend the 32-bit
/// seconds (times before 1901 or after 2038).
fn time_extra(t: Timestamp) -> u32 {
    let low = i64::from(t.secs as i32);
    let epoch = ((t.secs.wrapping_sub(low)) >> 32) as u32 & 3;
    (t.nanos.min(999_999_999) << 2) | epoch
}

/// The inodes of `tree` that need fixing, by their first path. Without `extra_times`
/// (128-byte inodes have no extra time fields) only xattrs are fixed.
fn fixes(tree: &Tree, extra_times: bool) -> Vec<Fix<'_>> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (path, id, inode) in tree.iter() {
        // Sockets never reach the filesystem (tar cannot hold them).
        if !seen.insert(id) || matches!(inode.kind, Kind::Socket) {
            continue;
        }
        let extra = if extra_times {
            time_extra(inode.mtime)
        } else {
            0
        };
        let xattrs: Vec<(&[u8], &[u8])> = inode
            .xattrs
            .iter()
            .filter(|(name, _)| name.as_slice() != KEPT_XATTR)
            .map(|(n, v)| (n.as_slice(), v.as_slice()))
            .collect();
        if extra == 0 && xattrs.is_empty() {
            continue;
        }
        out.push(Fix {
            path,
            time: (extra != 0).then_some((inode.mtime.secs as u32, extra)),
            xattrs,
        });
    }
    out
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

/// Runs debugfs scripts on one filesystem inside an image file.
struct Session {
    program: PathBuf,
    /// Holds scripts, xattr values and the link to the image.
    dir: tempfile::TempDir,
    /// `<link>?offset=<offset>`.
    device: OsString,
    epoch: i64,
    scripts: u32,
}

impl Session {
    fn open(image: &Path, offset: u64, epoch: i64) -> Result<Self, Mke2fsError> {
        let program =
            find_program("debugfs").ok_or(Mke2fsError::NotFound { program: "debugfs" })?;
        let file_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Mke2fsError::File { path, source }
        };
        let dir = tempfile::Builder::new()
            .prefix("pi-imager-debugfs")
            .tempdir()
            .map_err(file_err(&std::env::temp_dir()))?;
        // e2fsprogs reads `?` in a device name as the start of options: reach the image
        // through a link whose name we choose.
        let link = dir.path().join("image");
        let absolute = std::path::absolute(image).map_err(file_err(image))?;
        std::os::unix::fs::symlink(&absolute, &link).map_err(file_err(&link))?;
        let mut device = OsString::from(link.as_os_str());
        device.push(format!("?offset={offset}"));
        Ok(Self {
            program,
            dir,
            device,
            epoch,
            scripts: 0,
        })
    }

    /// Runs `script` and returns what debugfs printed on standard output.
    fn run(&mut self, script: &[u8], write: bool) -> Result<Vec<u8>, Mke2fsError> {
        self.scripts += 1;
        let path = self.dir.path().join(format!("script-{}", self.scripts));
        std::fs::write(&path, script).map_err(|source| Mke2fsError::File {
            path: path.clone(),
            source,
        })?;
        let mut command = Command::new(&self.program);
        if write {
            command.arg("-w");
        }
        let output = command
            .arg("-f")
            .arg(&path)
            .arg(&self.device)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("E2FSPROGS_FAKE_TIME", self.epoch.to_string())
            .env("LC_ALL", "C.UTF-8")
            .stdin(Stdio::null())
            .output()
            .map_err(|source| Mke2fsError::Spawn {
                program: self.program.clone(),
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
        Ok(output.stdout)
    }

    /// Lists directories by inode number.
    fn list(&mut self, inos: &[u32]) -> Result<Vec<Listing>, Mke2fsError> {
        let mut script = String::new();
        for ino in inos {
            let _ = writeln!(script, "ls -p <{ino}>");
        }
        Ok(parse_listings(&self.run(script.as_bytes(), false)?))
    }
}

/// Puts back what mke2fs left out of `tree` in the filesystem at `offset` in `image`, with
/// the clock at `epoch`. Returns the number of inodes changed. With 128-byte inodes
/// (`inode_size` below 160) times stay whole seconds before 2038: there is nowhere else to
/// put them.
pub(super) fn restore(
    tree: &Tree,
    image: &Path,
    offset: u64,
    epoch: i64,
    inode_size: u32,
) -> Result<u64, Mke2fsError> {
    let fixes = fixes(tree, inode_size >= 160);
    if fixes.is_empty() {
        return Ok(0);
    }
    let mut session = Session::open(image, offset, epoch)?;
    let wanted: HashSet<&TreePath> = fixes.iter().map(|f| f.path).collect();
    let numbers = resolve(&wanted, |inos| session.list(inos))?;
    let mut script = Vec::new();
    let mut values = 0u32;
    for fix in &fixes {
        let ino = numbers.get(fix.path).ok_or_else(|| Mke2fsError::Debugfs {
            status: "lookup".into(),
            stderr: format!("{} is not in the new filesystem", fix.path),
        })?;
        let target = format!("<{ino}>");
        if let Some((low, extra)) = fix.time {
            // The tar gave atime and ctime the same value as mtime.
            for time in ["mtime", "atime", "ctime"] {
                let lines = format!(
                    "set_inode_field {target} {time}_lo 0x{low:08x}\n\
                     set_inode_field {target} {time}_hi 0x{extra:08x}\n"
                );
                script.extend_from_slice(lines.as_bytes());
            }
        }
        for (name, value) in &fix.xattrs {
            values += 1;
            let file = session.dir.path().join(format!("value-{values}"));
            std::fs::write(&file, value).map_err(|source| Mke2fsError::File {
                path: file.clone(),
                source,
            })?;
            script.extend_from_slice(b"ea_set -f ");
            script.extend_from_slice(&quote(file.as_os_str().as_encoded_bytes()));
            script.extend_from_slice(format!(" {target} ").as_bytes());
            script.extend_from_slice(&quote(name));
            script.push(b'\n');
        }
    }
    session.run(&script, true)?;
    Ok(fixes.len() as u64)
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
    fn only_inodes_mke2fs_cannot_finish_need_fixes() {
        let t = Timestamp { secs: 7, nanos: 9 };
        let whole = Timestamp::from_secs(7);
        let mut tree = Tree::new(Inode::dir(0o755, whole));
        let mut file = Inode::file("", 0o644, whole);
        file.xattrs.insert(b"user.x".to_vec(), b"\0".to_vec());
        file.xattrs.insert(KEPT_XATTR.to_vec(), b"cap".to_vec());
        tree.insert(TreePath::parse("a \"b\"").unwrap(), file)
            .unwrap();
        let mut capable = Inode::file("", 0o644, whole);
        capable.xattrs.insert(KEPT_XATTR.to_vec(), b"cap".to_vec());
        tree.insert(TreePath::parse("cap").unwrap(), capable)
            .unwrap();
        tree.insert(
            TreePath::parse("sock").unwrap(),
            Inode::new(Kind::Socket, 0o755, t),
        )
        .unwrap();
        tree.insert(TreePath::parse("nanos").unwrap(), Inode::file("", 0o644, t))
            .unwrap();
        tree.link(
            &TreePath::parse("nanos").unwrap(),
            TreePath::parse("nanos2").unwrap(),
        )
        .unwrap();
        let fixes = fixes(&tree, true);
        assert_eq!(super::fixes(&tree, false).len(), 1);
        let shown: Vec<String> = fixes.iter().map(|f| f.path.to_string()).collect();
        assert_eq!(shown, ["/a \"b\"", "/nanos"]);
        assert_eq!(fixes[0].xattrs, vec![(&b"user.x"[..], &b"\0"[..])]);
        assert_eq!(fixes[1].time, Some((7, 9 << 2)));
        assert_eq!(quote(b"a \"b\""), b"\"a \"\"b\"\"\"");
    }
}
