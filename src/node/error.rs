//! [`NodeError`]: why the node stage stopped, wrapping each part's own error so the message
//! is the part's sentence. It adds no knowledge of its own.

use super::boot::BootError;
use super::cloud_init::CloudInitError;
use super::generation::GenerationError;
use super::network::NetworkError;
use super::overlay::OverlayError;
use super::server::ServerError;
use super::ssh::SshError;
use super::storage::StorageError;
use super::swap::SwapError;
use super::system::SystemError;
use super::users::UsersError;
use super::web::WebError;

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
    /// Host name, time zone, locale, sysctl.
    #[error(transparent)]
    System(#[from] SystemError),
    /// Accounts and their keys.
    #[error(transparent)]
    Users(#[from] UsersError),
    /// The SSH server.
    #[error(transparent)]
    Ssh(#[from] SshError),
    /// The web server and PHP-FPM.
    #[error(transparent)]
    Web(#[from] WebError),
    /// The node's server binary and its unit.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// An overlay.
    #[error(transparent)]
    Overlay(#[from] OverlayError),
    /// cloud-init's user-data on the boot partition.
    #[error(transparent)]
    CloudInit(#[from] CloudInitError),
}
