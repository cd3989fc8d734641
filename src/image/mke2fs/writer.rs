//! Runs `mke2fs -d -` on a range of an image file and feeds it the tree as a tar stream.
//!
//! The tar is written from a thread into the child's standard input while this thread
//! drains its standard error, so neither side can block the other. The filesystem is made
//! in place with `-E offset=`: mke2fs discards (punches holes in) exactly its range of a
//! regular file and writes only the blocks it uses, so the image stays sparse, stale bytes
//! in the range read as zeros, and bytes outside the range are never touched.

use std::io::{BufWriter, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};

use super::debugfs;
use super::error::Mke2fsError;
use super::estimate::estimate_size;
use super::params::Ext4Params;
use super::version::{Version, check_version_of, find_program};
use crate::image::tar::{TarError, TarSummary, write_tar};
use crate::tree::Tree;

/// mke2fs messages that mean the tree did not fit.
const OUT_OF_SPACE: &[&str] = &[
    "Could not allocate block",
    "Could not allocate inode",
    "No free space",
    "too small",
];

/// The pipe buffer between our tar writer and mke2fs.
const PIPE_BUFFER: usize = 1 << 20;

/// What [`write_ext4`] did, and what of the tree the filesystem could not keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ext4Report {
    /// The mke2fs that wrote it.
    pub version: Version,
    /// What went into the tar stream (including the sockets left out).
    pub tar: TarSummary,
    /// Inodes whose sub-second times, times past 2038 or xattrs other than
    /// `security.capability` (which mke2fs leaves out) were put back with debugfs.
    pub restored: u64,
    /// What mke2fs printed on standard error although it succeeded.
    pub warnings: String,
}

/// Formats `size` bytes of `image` starting at byte `offset` as ext4 holding `tree`.
///
/// The image file must already be at least `offset + size` bytes long (a sparse file is
/// best); `size` must be a whole number of blocks. On error the range holds an unusable
/// partial filesystem and the rest of the file is unchanged.
pub fn write_ext4(
    tree: &Tree,
    image: &Path,
    offset: u64,
    size: u64,
    params: &Ext4Params,
) -> Result<Ext4Report, Mke2fsError> {
    params.validate()?;
    let block_size = u64::from(params.block_size);
    if size == 0 || !size.is_multiple_of(block_size) {
        return Err(Mke2fsError::BadParams(format!(
            "the filesystem size {size} is not a positive multiple of the block size {block_size}"
        )));
    }
    let end = offset.checked_add(size).ok_or_else(|| {
        Mke2fsError::BadParams(format!("offset {offset} + size {size} overflows"))
    })?;
    let len = std::fs::metadata(image)
        .map_err(|source| Mke2fsError::File {
            path: image.to_path_buf(),
            source,
        })?
        .len();
    if len < end {
        return Err(Mke2fsError::ImageTooShort {
            path: image.to_path_buf(),
            len,
            end,
        });
    }
    // mke2fs silently skips xattrs without `ext_attr`; refuse rather than lose them.
    if !params.features.iter().any(|f| f == "ext_attr")
        && let Some((path, _, _)) = tree.iter().find(|(_, _, i)| !i.xattrs.is_empty())
    {
        return Err(Mke2fsError::BadParams(format!(
            "{path} has extended attributes but `ext_attr` is not among the features"
        )));
    }
    // Absolute, so that a name starting with `-` is never read as an option.
    let image = &std::path::absolute(image).map_err(|source| Mke2fsError::File {
        path: image.to_path_buf(),
        source,
    })?;
    let program = find_program("mke2fs").ok_or(Mke2fsError::NotFound { program: "mke2fs" })?;
    let version = check_version_of(&program)?;

    let config = write_config(params)?;
    let mut command = Command::new(&program);
    command
        .arg("-F")
        .arg("-q")
        .args(params.args())
        .arg("-E")
        .arg(format!("offset={offset},hash_seed={}", params.hash_seed))
        .arg("-d")
        .arg("-")
        .arg(image)
        .arg((size / block_size).to_string())
        // Nothing from our environment may change the result: only PATH and what we set.
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("MKE2FS_CONFIG", config.path())
        .env("E2FSPROGS_FAKE_TIME", params.epoch.to_string())
        // libarchive converts pax's UTF-8 names to the locale's charset and refuses
        // non-ASCII names under plain C.
        .env("LC_ALL", "C.UTF-8")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let child = command.spawn().map_err(|source| Mke2fsError::Spawn {
        program: program.clone(),
        source,
    })?;
    let (status, stderr, streamed) = feed(child, tree, &program)?;
    drop(config);

    // Our own failure (a content source, a bad name) explains a truncated archive better
    // than whatever mke2fs said about it.
    let streamed = match streamed {
        Err(e) if !e.is_broken_pipe() => return Err(Mke2fsError::Tar(e)),
        other => other,
    };
    let stderr = stderr.trim().to_string();
    if !status.success() {
        if stderr.contains("you need") && stderr.contains("libarchive") {
            return Err(Mke2fsError::NoLibarchive);
        }
        if OUT_OF_SPACE.iter().any(|m| stderr.contains(m)) {
            return Err(Mke2fsError::TooSmall {
                size,
                estimate: estimate_size(tree, params),
                stderr,
            });
        }
        return Err(Mke2fsError::Failed {
            status: status.to_string(),
            stderr,
        });
    }
    let tar = streamed.map_err(|_| Mke2fsError::Failed {
        status: "it exited with success before reading the whole archive".into(),
        stderr: stderr.clone(),
    })?;
    let restored = debugfs::restore(tree, image, offset, params.epoch, params.inode_size)?;
    Ok(Ext4Report {
        version,
        tar,
        restored,
        warnings: stderr,
    })
}

/// Writes our `mke2fs.conf` to a temporary file that lives as long as the returned value.
fn write_config(params: &Ext4Params) -> Result<tempfile::NamedTempFile, Mke2fsError> {
    use std::io::Write;
    let mut file = tempfile::Builder::new()
        .prefix("pi-imager-mke2fs")
        .suffix(".conf")
        .tempfile()
        .map_err(|source| Mke2fsError::File {
            path: std::env::temp_dir(),
            source,
        })?;
    file.write_all(params.config_text().as_bytes())
        .and_then(|()| file.flush())
        .map_err(|source| Mke2fsError::File {
            path: file.path().to_path_buf(),
            source,
        })?;
    Ok(file)
}

/// Streams the tar into the child while collecting its standard error, then waits for it.
fn feed(
    mut child: Child,
    tree: &Tree,
    program: &Path,
) -> Result<(ExitStatus, String, Result<TarSummary, TarError>), Mke2fsError> {
    let stdin = child.stdin.take();
    let mut stderr_pipe = child.stderr.take();
    let (stderr, streamed) = std::thread::scope(|scope| {
        let writer = scope.spawn(move || match stdin {
            Some(stdin) => {
                let mut out = BufWriter::with_capacity(PIPE_BUFFER, stdin);
                // Dropping `out` closes the pipe, so mke2fs sees the end even on error.
                write_tar(tree, &mut out)
            }
            None => Err(TarError::Write {
                path: "/".into(),
                source: std::io::Error::other("mke2fs has no standard input"),
            }),
        });
        let mut bytes = Vec::new();
        if let Some(pipe) = stderr_pipe.as_mut() {
            // A read error only loses part of the message; the exit status still counts.
            let _ = pipe.read_to_end(&mut bytes);
        }
        let streamed = match writer.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        (String::from_utf8_lossy(&bytes).into_owned(), streamed)
    });
    let status = child.wait().map_err(|source| Mke2fsError::Spawn {
        program: program.to_path_buf(),
        source,
    })?;
    Ok((status, stderr, streamed))
}
