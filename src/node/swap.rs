//! Swap: off unless the profile keeps it, never on the card, zram only when asked.
//!
//! Switching swap off removes fstab's swap lines, dphys-swapfile's enablement (its systemd
//! `.wants` and SysV `rc?.d` links: the apt stage has purged the package when the profile
//! removes it, so either may be found), `/var/swap`, and on trixie sets rpi-swap's
//! `Mechanism=none` in `/etc/rpi/swap.conf.d/`; zram the base set up itself (zram-tools,
//! systemd-zram-generator's default) is switched off too. zram is written for whatever the image has:
//! rpi-swap (`Mechanism=zram` and a zram-generator size), zram-tools'
//! `/etc/default/zramswap`, or systemd-zram-generator; with none of them it is refused.

use super::NodeContext;
use super::config_file::rewrite;
use super::edit::{EditError, Editor};
use super::enablement;
use super::fstab::Fstab;
use crate::profile::{Generation, Size};

/// The drop-in that sets rpi-swap's mechanism.
pub const RPI_SWAP_DROP_IN: &str = "/etc/rpi/swap.conf.d/90-pi-imager.conf";
/// The zram-generator drop-in that sizes rpi-swap's or the generator's zram0.
pub const ZRAM_GENERATOR_DROP_IN: &str = "/etc/systemd/zram-generator.conf.d/90-pi-imager.conf";
/// The generator's main file; in /etc it replaces the packaged default.
pub const ZRAM_GENERATOR_CONF: &str = "/etc/systemd/zram-generator.conf";
/// zram-tools' settings.
pub const ZRAMSWAP_DEFAULTS: &str = "/etc/default/zramswap";

const RPI_SWAP: [&str; 3] = [
    "/etc/rpi/swap.conf",
    "/usr/lib/systemd/system-generators/rpi-swap-generator",
    "/lib/systemd/system-generators/rpi-swap-generator",
];
const ZRAM_GENERATOR: [&str; 2] = [
    "/usr/lib/systemd/system-generators/zram-generator",
    "/lib/systemd/system-generators/zram-generator",
];
const ZRAM_TOOLS: [&str; 2] = ["/usr/sbin/zramswap", "/sbin/zramswap"];

/// Why swap could not be set up as asked.
#[derive(Debug, thiserror::Error)]
pub enum SwapError {
    /// zram was asked for but nothing in the image can set it up.
    #[error(
        "swap.zram = \"{size}\" but the image has neither rpi-swap, zram-tools nor systemd-zram-generator; add `zram-tools` to packages.install or remove swap.zram"
    )]
    NoZram {
        /// The size asked for.
        size: Size,
    },
    /// A file could not be read or written.
    #[error(transparent)]
    Edit(#[from] EditError),
}

/// Switches the base's swap off (unless kept) and sets up zram when asked.
pub fn apply(root: &mut Editor, ctx: &NodeContext) -> Result<(), SwapError> {
    let swap = ctx.profile.swap();
    let rpi_swap = ctx.generation == Generation::Trixie || any_exists(root, &RPI_SWAP)?;
    if !swap.enabled {
        if let Some(text) = root.read_text("/etc/fstab")? {
            let mut fstab = Fstab::parse(&text);
            if fstab.remove(|e| e.fstype == "swap") > 0 {
                rewrite(root, "/etc/fstab", &fstab.render(), 0o644)?;
            }
        }
        enablement::disable(root, "dphys-swapfile.service")?;
        root.remove("/var/swap")?;
    }
    let Some(size) = swap.zram else {
        if !swap.enabled {
            if rpi_swap {
                write_rpi_swap(root, "none")?;
            }
            // zram the base set up on its own is swap too: zram-tools' service, and the
            // generator's packaged default device (an /etc file of the same name replaces
            // the packaged one).
            enablement::disable(root, "zramswap.service")?;
            if any_exists(root, &ZRAM_GENERATOR)? {
                root.write(
                    ZRAM_GENERATOR_CONF,
                    "# Written by pi-imager: no zram swap, as the profile's [swap] says.\n",
                    0o644,
                )?;
            }
        }
        return Ok(());
    };
    let mib = size.bytes().div_ceil(1 << 20).max(1);
    if rpi_swap {
        write_rpi_swap(root, if swap.enabled { "zram+file" } else { "zram" })?;
        write_zram_generator(root, mib)?;
    } else if any_exists(root, &ZRAM_TOOLS)? || root.exists(ZRAMSWAP_DEFAULTS)? {
        let current = root.read_text(ZRAMSWAP_DEFAULTS)?.unwrap_or_default();
        rewrite(
            root,
            ZRAMSWAP_DEFAULTS,
            &zramswap_defaults(&current, mib),
            0o644,
        )?;
    } else if any_exists(root, &ZRAM_GENERATOR)? {
        write_zram_generator(root, mib)?;
    } else {
        return Err(SwapError::NoZram { size });
    }
    Ok(())
}

fn write_rpi_swap(root: &mut Editor, mechanism: &str) -> Result<(), EditError> {
    root.write(
        RPI_SWAP_DROP_IN,
        format!(
            "# Written by pi-imager from the profile's [swap].\n[Main]\nMechanism={mechanism}\n"
        ),
        0o644,
    )
}

fn write_zram_generator(root: &mut Editor, mib: u64) -> Result<(), EditError> {
    root.write(
        ZRAM_GENERATOR_DROP_IN,
        format!(
            "# Written by pi-imager from the profile's swap.zram.\n[zram0]\nzram-size = {mib}\n"
        ),
        0o644,
    )
}

/// zram-tools' settings with `SIZE` (MiB) set and `PERCENT` (which would win) commented out.
pub fn zramswap_defaults(current: &str, mib: u64) -> String {
    let mut out = String::new();
    for line in current.lines() {
        let key = line
            .trim_start()
            .split('=')
            .next()
            .unwrap_or_default()
            .trim();
        if key == "SIZE" {
            continue;
        }
        if key == "PERCENT" {
            out.push('#');
        }
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(&format!(
        "# pi-imager: the profile's swap.zram\nSIZE={mib}\n"
    ));
    out
}

fn any_exists(root: &Editor, paths: &[&str]) -> Result<bool, EditError> {
    for path in paths {
        if root.exists(path)? {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zramswap_size_replaces_percent() {
        let text = zramswap_defaults("# ALGO=lz4\nPERCENT=50\nSIZE=128\nPRIORITY=100\n", 256);
        assert_eq!(
            text,
            "# ALGO=lz4\n#PERCENT=50\nPRIORITY=100\n# pi-imager: the profile's swap.zram\nSIZE=256\n"
        );
    }
}
