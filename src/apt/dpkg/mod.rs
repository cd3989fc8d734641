//! dpkg's database in the image (`/var/lib/dpkg`): read from the tree, updated the way
//! `dpkg --unpack` and `dpkg --purge` update it, and written back so that the node's own
//! dpkg and apt accept it.
//!
//! - [`database`]: [`Database`] — `status`, `diversions`, the native architecture, the
//!   `.list` files (who owns a path), and recording an unpacked package.
//! - [`purge`]: removing an installed package's files, conffiles, records and
//!   enablement links.
//! - [`triggers`]: the trigger interests packages register at unpack.
//!
//! Nothing here runs a maintainer script: the `preinst` steps dpkg would have run are
//! kept as [`PreinstStep`]s for the first-boot unit ([`crate::apt::firstboot`]), which
//! also runs `dpkg --configure -a` on the node.

mod admin_dir;
pub mod database;
pub mod error;
pub mod purge;
pub mod triggers;

pub use admin_dir::ADMIN_DIR;
pub use database::{Database, PreinstStep};
pub use error::DpkgError;
pub use purge::PurgeReport;
