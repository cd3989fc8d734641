//! Files of dpkg's administrative directory in the tree: where they are, how the `info/`
//! files of a package are named, and reading and writing them as root-owned files.
//! What goes into them is decided by [`super::database`] and [`super::purge`].

use super::error::DpkgError;
use crate::apt::package::MultiArch;
use crate::apt::status::StatusEntry;
use crate::apt::unpack::InstalledFiles;
use crate::tree::{Content, Inode, Kind, Timestamp, Tree, TreePath};

/// dpkg's administrative directory inside the image.
pub const ADMIN_DIR: &str = "var/lib/dpkg";
/// The largest single info file read (`.list` of the biggest packages are a few MiB).
pub(crate) const MAX_INFO_BYTES: u64 = 64 << 20;

/// `var/lib/dpkg/<rest>` as a tree path.
pub(crate) fn admin_path(rest: &str) -> TreePath {
    let text = if rest.is_empty() {
        ADMIN_DIR.to_owned()
    } else {
        format!("{ADMIN_DIR}/{rest}")
    };
    // The admin directory and the names dpkg uses are fixed, valid paths.
    TreePath::parse(text).unwrap_or_default()
}

/// `var/lib/dpkg/info/<name>`; a name that is not a single file name (a hostile
/// package or control-file name) is refused rather than written elsewhere.
pub(crate) fn info_path(name: &str) -> Result<TreePath, DpkgError> {
    admin_path("info")
        .join(name.as_bytes())
        .map_err(|source| DpkgError::Tree {
            path: format!("/{ADMIN_DIR}/info/{name}"),
            source,
        })
}

/// Reads a regular file of the tree (symlinks followed); `None` when absent.
pub(crate) fn read_file(
    tree: &Tree,
    path: &TreePath,
    limit: u64,
) -> Result<Option<Vec<u8>>, DpkgError> {
    let err = |reason: String| DpkgError::Read {
        path: path.to_string(),
        reason,
    };
    let Ok(inode) = tree.lookup(path) else {
        return Ok(None);
    };
    match &inode.kind {
        Kind::File { size, content } => content
            .read_to_vec(*size, limit)
            .map(Some)
            .map_err(|e| err(e.to_string())),
        _ => Err(err("it is not a regular file".to_owned())),
    }
}

/// Puts a root-owned file at `path` (parent symlinks resolved, missing parents created).
pub(crate) fn write_file(
    tree: &mut Tree,
    path: &TreePath,
    bytes: Vec<u8>,
    mode: u32,
    mtime: Timestamp,
) -> Result<(), DpkgError> {
    let err = |source| DpkgError::Tree {
        path: path.to_string(),
        source,
    };
    let parent = path.parent().unwrap_or_default();
    tree.create_dir_all(&parent, &Inode::dir(0o755, mtime))
        .map_err(err)?;
    let dest = tree.resolve(path, false).map_err(err)?;
    let size = bytes.len() as u64;
    let inode = Inode::new(
        Kind::File {
            size,
            content: Content::inline(bytes),
        },
        mode,
        mtime,
    );
    tree.replace(dest, inode).map_err(err)?;
    Ok(())
}

/// The `info/` name of a package: `name:arch` for Multi-Arch: same, else `name`.
pub(crate) fn info_name(name: &str, arch: &str, multi_arch: MultiArch) -> String {
    if multi_arch == MultiArch::Same {
        format!("{name}:{arch}")
    } else {
        name.to_owned()
    }
}

/// The `info/` name of an installed entry.
pub(crate) fn entry_info_name(entry: &StatusEntry) -> String {
    info_name(
        entry.name(),
        entry.architecture().unwrap_or(""),
        entry.multi_arch(),
    )
}

/// The paths of `info/<info_name>.list` (empty when there is none).
pub(crate) fn list_of(tree: &Tree, info_name: &str) -> Result<Vec<TreePath>, DpkgError> {
    let path = info_path(&format!("{info_name}.list"))?;
    let Some(bytes) = read_file(tree, &path, MAX_INFO_BYTES)? else {
        return Ok(Vec::new());
    };
    InstalledFiles::from_list(&bytes, Vec::new())
        .map(|f| f.files)
        .map_err(|source| DpkgError::BadList {
            file: path.to_string(),
            source,
        })
}

/// Removes every `info/<info_name>.<file>`, returning their names. As in dpkg, the file
/// type is what follows the last dot, so `foo.bar.list` belongs to `foo.bar`.
pub(crate) fn remove_info_files(
    tree: &mut Tree,
    info_name: &str,
) -> Result<Vec<String>, DpkgError> {
    let dir = admin_path("info");
    let Ok(dir) = tree.resolve(&dir, true) else {
        return Ok(Vec::new());
    };
    let doomed: Vec<(TreePath, String)> = tree
        .children(&dir)
        .filter_map(|(path, _)| {
            let name = String::from_utf8_lossy(path.file_name()?).into_owned();
            let (owner, _) = name.rsplit_once('.')?;
            (owner == info_name).then(|| (path.clone(), name))
        })
        .collect();
    let mut names = Vec::new();
    for (path, name) in doomed {
        tree.remove(&path).map_err(|source| DpkgError::Tree {
            path: path.to_string(),
            source,
        })?;
        names.push(name);
    }
    Ok(names)
}
