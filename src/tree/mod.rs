//! The root filesystem as a value: paths, inodes (owner, mode, times, xattrs) and content
//! sources.
//!
//! Stages change the tree; only the `image` stage turns it into bytes. The tree never
//! touches the host filesystem: symlinks resolve inside it, content is read from its source
//! only when the image is written, and nothing needs root to hold any owner or device.

mod entry;
mod error;
mod path;
mod root;

pub use entry::{Content, Extent, Inode, Kind, Timestamp};
pub use error::TreeError;
pub use path::{TreePath, check_name};
pub use root::{InodeId, Tree};
