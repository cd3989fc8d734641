//! [`NodeError`]: why the node stage stopped, wrapping each part's own error so the message
//! is the part's sentence. It adds no knowledge of its own.

use super::boot::BootError;
use super::generation::GenerationError;
use super::network::NetworkError;
use super::storage::StorageError;
use super::swap::SwapError;

/// Why a node's settings could not be written.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The base's generation is unknown.
    #[error(transparent)]
    Generation(#[from] GenerationError),
    /// cmdline.txt or the boot and root fstab lines.
    #[error(transparent)]
    Boot(#[from] BootError),
    /// The network configuration.
    #[error(transparent)]
    Network(#[from] NetworkError),
    /// Swap and zram.
    #[error(transparent)]
    Swap(#[from] SwapError),
    /// Mounts of other drives.
    #[error(transparent)]
    Storage(#[from] StorageError),
}
