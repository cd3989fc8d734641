//! PHP-FPM for the web server: where the image's FPM of a version keeps its pools and
//! socket, and a pool drop-in that sets the process manager, its `pm.max_children` sized
//! from the board's RAM when the profile says `auto`.
//!
//! The sizing is the one number that decides whether a 1 GiB node survives a traffic peak:
//! `max_children = (board RAM − OS_RESERVE − [server] memory_max) / CHILD_BUDGET`, at least
//! 1, and never more than the FPM service's own `[system] memory_max` allows. The numbers
//! used are returned and printed. This module does not touch the package's `www.conf`.

use super::{EditError, Editor, NodeContext, WebError};
use crate::profile::MaxChildren;

/// Memory kept for the kernel, systemd, journald, sshd, the web server and the page cache
/// it needs: what a Raspberry Pi OS Lite node serving a site uses besides PHP.
pub const OS_RESERVE: u64 = 256 << 20;
/// What one PHP-FPM child of a WordPress-class application holds resident at peak.
pub const CHILD_BUDGET: u64 = 64 << 20;
/// The drop-in's file name: after the package's `www.conf`, so its values win.
pub const POOL_FILE: &str = "zz-pi-imager.conf";

/// The image's PHP-FPM of one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fpm {
    /// Such as `7.0`.
    pub version: String,
    /// The pool directory, such as `/etc/php/7.0/fpm/pool.d`.
    pub pool_dir: String,
    /// The `www` pool's socket, such as `/run/php/php7.0-fpm.sock`.
    pub socket: String,
    /// Its systemd unit, such as `php7.0-fpm.service`.
    pub service: String,
}

/// How `pm.max_children` was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FpmSizing {
    /// The board's RAM in bytes.
    pub ram: u64,
    /// Bytes kept for everything else (`OS_RESERVE` plus the server binary's limit).
    pub reserve: u64,
    /// The FPM service's own `MemoryMax=`, when the profile sets one.
    pub cap: Option<u64>,
    /// Bytes per child.
    pub per_child: u64,
    /// The result.
    pub max_children: u32,
}

/// Sizes FPM for `ram` bytes, with `server_max` bytes for the node's server binary and the
/// FPM service limited to `fpm_max` bytes.
pub fn size_children(ram: u64, server_max: Option<u64>, fpm_max: Option<u64>) -> FpmSizing {
    let reserve = OS_RESERVE.saturating_add(server_max.unwrap_or(0));
    let mut available = ram.saturating_sub(reserve);
    if let Some(cap) = fpm_max {
        available = available.min(cap);
    }
    let children = (available / CHILD_BUDGET).max(1);
    FpmSizing {
        ram,
        reserve,
        cap: fpm_max,
        per_child: CHILD_BUDGET,
        max_children: u32::try_from(children).unwrap_or(u32::MAX),
    }
}

/// The FPM of `version` in the image: Debian's `/etc/php/<v>` layout (stretch on, and
/// the version-named packages of other suites), or jessie's `php5-fpm`.
fn layout(root: &Editor, version: &str) -> Result<Fpm, WebError> {
    if root.inode(&format!("/etc/php/{version}/fpm"))?.is_some() {
        return Ok(Fpm {
            version: version.to_owned(),
            pool_dir: format!("/etc/php/{version}/fpm/pool.d"),
            socket: format!("/run/php/php{version}-fpm.sock"),
            service: format!("php{version}-fpm.service"),
        });
    }
    if version.starts_with('5') && root.inode("/etc/php5/fpm")?.is_some() {
        return Ok(Fpm {
            version: version.to_owned(),
            pool_dir: "/etc/php5/fpm/pool.d".to_owned(),
            socket: "/var/run/php5-fpm.sock".to_owned(),
            service: "php5-fpm.service".to_owned(),
        });
    }
    Err(WebError::NoPhp {
        version: version.to_owned(),
    })
}

/// The pool drop-in's text for `max_children` children.
pub fn pool_text(max_children: u32, why: &str) -> String {
    let n = max_children.max(1);
    // dynamic needs min_spare <= start <= max_spare <= max_children.
    let min_spare = (n / 4).max(1);
    let max_spare = (n / 2).max(min_spare);
    format!(
        "; Written by pi-imager from the profile's [web] php_max_children.\n\
         ; {why}\n\
         ; Read after the package's www.conf, so these values replace its own.\n\
         [www]\n\
         pm = dynamic\n\
         pm.max_children = {n}\n\
         pm.start_servers = {min_spare}\n\
         pm.min_spare_servers = {min_spare}\n\
         pm.max_spare_servers = {max_spare}\n\
         ; A child is replaced after this many requests, so leaks cannot grow it for ever.\n\
         pm.max_requests = 500\n"
    )
}

/// Writes the pool drop-in and returns the FPM it configured.
pub(super) fn apply(
    root: &mut Editor,
    ctx: &NodeContext,
    version: &str,
    max_children: MaxChildren,
    notes: &mut Vec<String>,
) -> Result<Fpm, WebError> {
    let fpm = layout(root, version)?;
    let (n, why) = match max_children {
        MaxChildren::Fixed(n) => (n, format!("pm.max_children = {n} as the profile sets it.")),
        MaxChildren::Auto => {
            let board = ctx.node.board;
            let server_max = ctx
                .profile
                .server()
                .and_then(|s| s.memory_max)
                .map(|s| s.bytes());
            let fpm_max = ctx
                .profile
                .system()
                .memory_max
                .get(&fpm.service)
                .map(|s| s.bytes());
            let s = size_children(board.ram().bytes(), server_max, fpm_max);
            let mib = |b: u64| b >> 20;
            let cap = s
                .cap
                .map(|c| format!(", capped by {}'s MemoryMax of {} MiB", fpm.service, mib(c)))
                .unwrap_or_default();
            let why = format!(
                "PHP-FPM pm.max_children = {}: ({} MiB RAM of a {board} - {} MiB kept for the OS, services and [server]) / {} MiB per child{cap}.",
                s.max_children,
                mib(s.ram),
                mib(s.reserve),
                mib(s.per_child),
            );
            (s.max_children, why)
        }
    };
    notes.push(why.clone());
    let path = format!("{}/{POOL_FILE}", fpm.pool_dir);
    root.write(&path, pool_text(n, &why), 0o644)
        .map_err(|e: EditError| WebError::Edit(e))?;
    Ok(fpm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizing_formula() {
        let gib = 1u64 << 30;
        assert_eq!(size_children(gib, None, None).max_children, 12);
        assert_eq!(size_children(gib, Some(128 << 20), None).max_children, 10);
        assert_eq!(size_children(512 << 20, None, None).max_children, 4);
        assert_eq!(size_children(gib, None, Some(256 << 20)).max_children, 4);
        // Never zero, even when the reserve eats everything.
        assert_eq!(size_children(128 << 20, None, None).max_children, 1);
    }

    #[test]
    fn dynamic_settings_are_consistent() {
        for n in [1, 2, 3, 5, 12, 40] {
            let text = pool_text(n, "test");
            let get = |key: &str| -> u32 {
                text.lines()
                    .find_map(|l| l.strip_prefix(&format!("{key} = ")))
                    .unwrap()
                    .parse()
                    .unwrap()
            };
            let (start, min, max) = (
                get("pm.start_servers"),
                get("pm.min_spare_servers"),
                get("pm.max_spare_servers"),
            );
            assert!(
                min <= start && start <= max && max <= get("pm.max_children"),
                "{n}"
            );
        }
    }
}
