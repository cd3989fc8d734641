//! The node's network: the profile's `[network]` written for the configuration system the
//! base runs (dhcpcd on jessie to bullseye, NetworkManager keyfiles on bookworm and trixie)
//! or the one the profile names, with the base's IPv6 switches undone when IPv6 is wanted
//! and trixie's cloud-init kept from configuring the interface too.
//!
//! The profile may pick ifupdown (jessie to bullseye ship it) or systemd-networkd
//! (stretch and later) instead. When the profile picks a system other than the base's, the
//! others are told to leave the interface alone.

mod cloud_init;
pub mod dhcpcd;
pub mod ifupdown;
mod ipv6_off;
pub mod networkd;
pub mod networkmanager;

pub use ipv6_off::disables_ipv6;
pub use networkmanager::{KeyfileError, NetworkManagerError};

use super::NodeContext;
use super::edit::{EditError, Editor};
use super::generation::default_renderer;
use crate::profile::{Generation, Ipv4Config, Ipv6Config, Renderer};

/// Why the network could not be configured.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// A renderer pi-imager does not write for this generation.
    #[error(
        "network.renderer = \"{renderer}\" is not supported on {generation} (its systemd predates the settings pi-imager writes); use \"auto\", \"dhcpcd\" or \"ifupdown\""
    )]
    Unsupported {
        /// The renderer asked for.
        renderer: Renderer,
        /// The base's generation.
        generation: Generation,
    },
    /// The renderer's program is not in the image.
    #[error(
        "network.renderer = \"{renderer}\" but the image has no {program}; add `{package}` to packages.install or use renderer \"auto\""
    )]
    Missing {
        /// The renderer.
        renderer: Renderer,
        /// The program looked for.
        program: &'static str,
        /// The package that brings it.
        package: &'static str,
    },
    /// The NetworkManager keyfile could not be written.
    #[error(transparent)]
    NetworkManager(#[from] NetworkManagerError),
    /// A file could not be read or written.
    #[error(transparent)]
    Edit(#[from] EditError),
}

const DHCPCD: [&str; 3] = ["/sbin/dhcpcd", "/sbin/dhcpcd5", "/usr/sbin/dhcpcd"];
const NETWORK_MANAGER: [&str; 1] = ["/usr/sbin/NetworkManager"];
const IFUPDOWN: [&str; 2] = ["/sbin/ifup", "/usr/sbin/ifup"];

/// Writes the profile's network into the trees.
pub fn apply(
    root: &mut Editor,
    boot: &mut Editor,
    ctx: &NodeContext,
    notes: &mut Vec<String>,
) -> Result<(), NetworkError> {
    let network = &ctx.node.network;
    let renderer = match network.renderer {
        Renderer::Auto => default_renderer(ctx.generation),
        other => other,
    };
    let has_dhcpcd = any_exists(root, &DHCPCD)?;
    let has_nm = any_exists(root, &NETWORK_MANAGER)?;
    match renderer {
        Renderer::Dhcpcd => {
            if !has_dhcpcd {
                return Err(NetworkError::Missing {
                    renderer,
                    program: "dhcpcd",
                    package: "dhcpcd5",
                });
            }
            dhcpcd::apply(root, network)?;
            if has_nm {
                networkmanager::unmanage(root, &network.interface, "dhcpcd")?;
            }
        }
        Renderer::NetworkManager => {
            if !has_nm {
                return Err(NetworkError::Missing {
                    renderer,
                    program: "NetworkManager",
                    package: "network-manager",
                });
            }
            networkmanager::apply(root, network)?;
            if has_dhcpcd {
                dhcpcd::deny(root, &network.interface, "NetworkManager")?;
            }
        }
        Renderer::Ifupdown => {
            if !any_exists(root, &IFUPDOWN)? {
                return Err(NetworkError::Missing {
                    renderer,
                    program: "ifup",
                    package: "ifupdown",
                });
            }
            ifupdown::apply(root, network)?;
            // ifupdown's `inet dhcp` runs the image's DHCP client, dhcpcd on Raspbian,
            // which must then not be told to deny the interface.
            if has_dhcpcd && network.ipv4 != Ipv4Config::Dhcp {
                dhcpcd::deny(root, &network.interface, "ifupdown")?;
            }
            if has_nm {
                networkmanager::unmanage(root, &network.interface, "ifupdown")?;
            }
        }
        Renderer::Networkd | Renderer::Auto => {
            // `Auto` never gets here (it was resolved above); it is refused like a
            // networkd on jessie rather than guessed.
            if ctx.generation == Generation::Jessie || renderer == Renderer::Auto {
                return Err(NetworkError::Unsupported {
                    renderer,
                    generation: ctx.generation,
                });
            }
            if !networkd::apply(root, network)? {
                return Err(NetworkError::Missing {
                    renderer,
                    program: "systemd-networkd",
                    package: "systemd-networkd",
                });
            }
            if has_dhcpcd {
                dhcpcd::deny(root, &network.interface, "systemd-networkd")?;
            }
            if has_nm {
                networkmanager::unmanage(root, &network.interface, "systemd-networkd")?;
            }
        }
    }
    if network.ipv6 != Ipv6Config::Off {
        for file in ipv6_off::enable(root)? {
            notes.push(format!("{file}: the base's rule switching IPv6 off is removed, as the profile asks for IPv6"));
        }
    }
    if let Some(note) = cloud_init::apply(root, boot)? {
        notes.push(note);
    }
    Ok(())
}

fn any_exists(root: &Editor, paths: &[&str]) -> Result<bool, EditError> {
    for path in paths {
        if root.exists(path)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The seed's node network (static IPv6, IPv4 off, DNS64), for the renderers' tests.
#[cfg(test)]
pub(crate) fn seed_network() -> crate::profile::Network {
    use crate::profile::{Ipv4Config, Ipv6Cidr, Ipv6Config, Renderer};
    crate::profile::Network {
        interface: "eth0".into(),
        ipv4: Ipv4Config::Off,
        gateway4: None,
        ipv6: Ipv6Config::Static(Ipv6Cidr::parse("2001:db8:0:82::3/64").unwrap()),
        gateway6: Some("2001:db8:0:82::1".parse().unwrap()),
        dns: vec![
            "2001:db8:0:53::64".parse().unwrap(),
            "2001:db8:1:53::64".parse().unwrap(),
        ],
        renderer: Renderer::Auto,
    }
}
