//! The build: from a profile (and its lock) to flashable images, their block maps,
//! manifests and `SHA256SUMS`, and the lock that lets any machine build them again.
//!
//! [`build()`] reads as the list of stages, each handing a typed value to the next:
//! profile → inputs (base, server binary, overlays) → base trees → packages (the fleet's
//! shared root, assembled once) → per node: settings, image, block map, compressed image,
//! drive images, manifest → outputs committed atomically → lock. The stages' own logic lives
//! in `fetch`, `base`, `apt`, `node`, `image` and `manifest`; this module only sequences them.

mod digest;
mod ids;
mod lock;
mod output;
mod pipeline;
mod progress;

pub use digest::{inputs_digest, profile_digest, trees_digest};
pub use ids::NodeIds;
pub use lock::{LOCK_VERSION, Lock, LockError, LockedBase, LockedRepository};
pub use output::{OutputError, Outputs, sha256sums};
pub use pipeline::{BuildError, BuildOptions, BuildReport, NodeReport, OutputFile, build, lock};
pub use progress::{Reporter, Style, human_bytes};
