//! The output folder, written atomically: every file of a build is first written into a
//! hidden staging folder beside the outputs, synced, and only when the whole build has
//! succeeded renamed to its final name. A build that fails removes its staging folder; one
//! that is killed leaves only the hidden folder, which the next build removes.
//!
//! Renames within one folder are atomic, so a file at an output's name is always complete.
//! This module knows nothing of what the files hold.

use std::path::{Path, PathBuf};

/// Hidden staging folders are named `<PREFIX><pid>`.
const STAGING_PREFIX: &str = ".pi-imager-partial-";

/// Why the output folder could not be used.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// A file or folder could not be created, synced or renamed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// An output name is not a plain file name.
    #[error("`{name}` is not a plain file name")]
    BadName {
        /// The name.
        name: String,
    },
}

/// An output folder being written.
pub struct Outputs {
    dir: PathBuf,
    staging: PathBuf,
    names: Vec<String>,
    committed: bool,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> OutputError + '_ {
    move |source| OutputError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Outputs {
    /// Opens `dir` (creating it), removes staging folders that killed builds left behind,
    /// and makes this build's own.
    pub fn open(dir: &Path) -> Result<Self, OutputError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        remove_stale(dir)?;
        let staging = dir.join(format!("{STAGING_PREFIX}{}", std::process::id()));
        if staging.exists() {
            std::fs::remove_dir_all(&staging).map_err(io(&staging))?;
        }
        std::fs::create_dir(&staging).map_err(io(&staging))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            staging,
            names: Vec::new(),
            committed: false,
        })
    }

    /// The output folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where to write output `name` now; it moves to `<dir>/<name>` at [`Outputs::commit`].
    pub fn stage(&mut self, name: &str) -> Result<PathBuf, OutputError> {
        let plain = Path::new(name)
            .file_name()
            .is_some_and(|f| f == std::ffi::OsStr::new(name));
        if !plain || name.starts_with('.') {
            return Err(OutputError::BadName {
                name: name.to_owned(),
            });
        }
        if !self.names.iter().any(|n| n == name) {
            self.names.push(name.to_owned());
        }
        Ok(self.staging.join(name))
    }

    /// Syncs every staged file and renames it to its final name, then removes the staging
    /// folder. Returns the final paths, in staging order.
    pub fn commit(mut self) -> Result<Vec<PathBuf>, OutputError> {
        for name in &self.names {
            let staged = self.staging.join(name);
            let file = std::fs::File::open(&staged).map_err(io(&staged))?;
            file.sync_all().map_err(io(&staged))?;
        }
        let mut done = Vec::with_capacity(self.names.len());
        for name in &self.names {
            let staged = self.staging.join(name);
            let target = self.dir.join(name);
            std::fs::rename(&staged, &target).map_err(io(&target))?;
            done.push(target);
        }
        if let Ok(dir) = std::fs::File::open(&self.dir) {
            // Makes the renames durable; a folder that cannot be synced is not an error.
            let _ = dir.sync_all();
        }
        std::fs::remove_dir_all(&self.staging).map_err(io(&self.staging))?;
        self.committed = true;
        Ok(done)
    }
}

impl Drop for Outputs {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort: a failed build must not leave gigabytes of half-written images.
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}

/// Removes staging folders of processes that no longer run.
fn remove_stale(dir: &Path) -> Result<(), OutputError> {
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(STAGING_PREFIX))
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() as i32 && !process_alive(pid) {
            let path = entry.path();
            std::fs::remove_dir_all(&path).map_err(io(&path))?;
        }
    }
    Ok(())
}

fn process_alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks whether the process exists.
    let result = unsafe { libc::kill(pid, 0) };
    result == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// `sha256sum`-compatible text for `(name, digest)` pairs.
pub fn sha256sums(entries: &[(String, [u8; 32])]) -> String {
    entries
        .iter()
        .map(|(name, digest)| format!("{}  {name}\n", crate::fetch::hex(digest)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_files_appear_only_at_commit() {
        let dir = tempfile::tempdir().unwrap();
        let mut out = Outputs::open(dir.path()).unwrap();
        let path = out.stage("a.img").unwrap();
        std::fs::write(&path, b"x").unwrap();
        assert!(!dir.path().join("a.img").exists());
        let done = out.commit().unwrap();
        assert_eq!(done, vec![dir.path().join("a.img")]);
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1);
    }

    #[test]
    fn a_dropped_build_leaves_nothing_and_stale_folders_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut out = Outputs::open(dir.path()).unwrap();
            std::fs::write(out.stage("a.img").unwrap(), b"x").unwrap();
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        // A folder left by a process that is gone (pid 2^22 + 1 is above Linux's maximum).
        let stale = dir.path().join(format!("{STAGING_PREFIX}4194305"));
        std::fs::create_dir(&stale).unwrap();
        let out = Outputs::open(dir.path()).unwrap();
        assert!(!stale.exists());
        drop(out);
    }

    #[test]
    fn names_must_be_plain() {
        let dir = tempfile::tempdir().unwrap();
        let mut out = Outputs::open(dir.path()).unwrap();
        assert!(out.stage("../x").is_err());
        assert!(out.stage(".hidden").is_err());
        assert!(out.stage("a/b").is_err());
    }

    #[test]
    fn sums_read_like_sha256sum() {
        let text = sha256sums(&[("a.img".to_owned(), [0u8; 32])]);
        assert_eq!(text, format!("{}  a.img\n", "0".repeat(64)));
    }
}
