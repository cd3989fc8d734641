//! The node stage: the profile's per-node settings (boot files, network, swap, storage,
//! system, users, SSH, web server, the server binary, overlays) written into the trees the
//! way the base's Raspberry Pi OS generation expects them.
//!
//! It takes the fleet's shared root (base + packages) cloned for one node, and the boot
//! partition's tree, and changes both. It knows Raspberry Pi OS and Debian conventions; it
//! does not fetch, resolve packages or write any image bytes. Every path it writes or
//! changes is returned, so the manifest can list it.

#[cfg(test)]
mod bases;
pub mod boot;
pub mod cloud_init;
mod config_file;
mod edit;
mod enablement;
mod error;
pub mod fstab;
pub mod generation;
#[cfg(test)]
mod generations;
pub mod network;
pub mod overlay;
#[cfg(test)]
mod sample_base;
pub mod server;
pub mod ssh;
pub mod storage;
pub mod swap;
pub mod system;
pub mod users;
pub mod web;

pub use boot::BootError;
pub use edit::{EditError, Editor, MAX_READ};
pub use error::NodeError;
pub use generation::GenerationError;
pub use network::NetworkError;
pub use storage::{StorageError, drive_tree};
pub use swap::SwapError;

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::profile::{Generation, Node, Profile};
use crate::tree::{Timestamp, Tree, TreePath};

/// The ids the image writer will give the card, which boot files and fstab must name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskIds {
    /// The boot partition as fstab names it, such as `PARTUUID=1a2b3c4d-01`.
    pub boot: String,
    /// The root partition as cmdline.txt and fstab name it, such as `PARTUUID=1a2b3c4d-02`.
    pub root: String,
}

/// Everything the node stage reads besides the trees.
#[derive(Debug, Clone, Copy)]
pub struct NodeContext<'a> {
    /// The checked profile.
    pub profile: &'a Profile,
    /// The node being built (the profile's settings with its overrides applied).
    pub node: &'a Node,
    /// The base's generation (detected, or the profile's override).
    pub generation: Generation,
    /// The card's partition ids.
    pub ids: &'a DiskIds,
    /// The time every written file gets (the lock's epoch).
    pub mtime: Timestamp,
}

/// What the node stage wrote.
#[derive(Debug, Clone, Default)]
pub struct NodeOutcome {
    /// Paths of the root filesystem written, changed or removed.
    pub root: BTreeSet<TreePath>,
    /// Paths of the boot filesystem written, changed or removed.
    pub boot: BTreeSet<TreePath>,
    /// Decisions worth printing at build time and recording in the manifest, one sentence
    /// each (such as the PHP-FPM sizing).
    pub notes: Vec<String>,
}

/// What the node stage takes besides the trees and the context.
#[derive(Debug, Clone, Default)]
pub struct NodeInputs {
    /// The node's server binary (`[server] source`), already fetched and verified.
    pub server_binary: Option<PathBuf>,
}

/// Writes every setting of `ctx.node` into the root and boot trees, in order: boot files,
/// network, swap, storage, then (from the system parts) system, users, SSH, cloud-init's
/// user-data, web server, server binary, and overlays last so an overlay can override anything. Returns every
/// path written and the notes worth printing.
pub fn apply(
    root: &mut Tree,
    boot: &mut Tree,
    ctx: &NodeContext,
    inputs: &NodeInputs,
) -> Result<NodeOutcome, NodeError> {
    let mut outcome = NodeOutcome::default();
    let NodeOutcome {
        root: root_changed,
        boot: boot_changed,
        notes,
    } = &mut outcome;
    let mut root = Editor::new(root, root_changed, ctx.mtime);
    let mut boot = Editor::new(boot, boot_changed, ctx.mtime);
    boot::apply(&mut root, &mut boot, ctx)?;
    network::apply(&mut root, &mut boot, ctx, notes)?;
    swap::apply(&mut root, ctx)?;
    storage::apply(&mut root, ctx)?;
    system::apply(&mut root, ctx)?;
    users::apply(&mut root, ctx)?;
    ssh::apply(&mut root, &mut boot, ctx)?;
    if let Some(note) = cloud_init::apply(&mut boot, ctx)? {
        notes.push(note);
    }
    web::apply(&mut root, ctx, notes)?;
    server::apply(&mut root, ctx, inputs.server_binary.as_deref())?;
    overlay::apply(&mut root, ctx)?;
    Ok(outcome)
}
