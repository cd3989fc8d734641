//! systemd-networkd: the renderer a profile may pick on stretch and later (jessie's
//! systemd 215 predates the `IPv6AcceptRA=` and `LinkLocalAddressing=` keys written here).
//! One `.network` file, `/etc/systemd/network/10-pi-imager-<iface>.network`, and
//! `systemd-networkd` enabled by its `.wants` links.
//!
//! Resolvers go in `DNS=` and in `/etc/resolv.conf` itself: `DNS=` reaches resolv.conf
//! only through systemd-resolved, which Raspberry Pi OS does not run.

use crate::node::edit::{EditError, Editor};
use crate::profile::{Ipv4Config, Ipv6Config, Network};

const UNIT_DIRS: [&str; 2] = ["/lib/systemd/system", "/usr/lib/systemd/system"];

/// The file written for `network`.
pub fn path(network: &Network) -> String {
    format!(
        "/etc/systemd/network/10-pi-imager-{}.network",
        network.interface
    )
}

/// The `.network` file for the profile's network.
pub fn file(network: &Network) -> String {
    let mut out = format!(
        "# Written by pi-imager from the profile's [network].\n[Match]\nName={}\n\n[Network]\n",
        network.interface
    );
    out.push_str(match network.ipv4 {
        Ipv4Config::Dhcp => "DHCP=ipv4\n",
        Ipv4Config::Off | Ipv4Config::Static(_) => "DHCP=no\n",
    });
    out.push_str(match network.ipv6 {
        Ipv6Config::Off => "LinkLocalAddressing=no\nIPv6AcceptRA=no\n",
        Ipv6Config::Auto => "LinkLocalAddressing=ipv6\nIPv6AcceptRA=yes\n",
        Ipv6Config::Static(_) => "LinkLocalAddressing=ipv6\nIPv6AcceptRA=no\n",
    });
    if let Ipv4Config::Static(cidr) = network.ipv4 {
        out.push_str(&format!("Address={}/{}\n", cidr.address, cidr.prefix));
        if let Some(gateway) = network.gateway4 {
            out.push_str(&format!("Gateway={gateway}\n"));
        }
    }
    if let Ipv6Config::Static(cidr) = network.ipv6 {
        out.push_str(&format!("Address={}/{}\n", cidr.address, cidr.prefix));
    }
    if network.ipv6 != Ipv6Config::Off
        && let Some(gateway) = network.gateway6
    {
        out.push_str(&format!("Gateway={gateway}\n"));
    }
    for server in &network.dns {
        out.push_str(&format!("DNS={server}\n"));
    }
    out
}

/// Writes the `.network` file and `/etc/resolv.conf`, and enables systemd-networkd.
/// Returns false when the image has no systemd-networkd unit.
pub fn apply(root: &mut Editor, network: &Network) -> Result<bool, EditError> {
    let Some(dir) = unit_dir(root, "systemd-networkd.service")? else {
        return Ok(false);
    };
    root.write(&path(network), file(network), 0o644)?;
    root.symlink(
        "/etc/systemd/system/multi-user.target.wants/systemd-networkd.service",
        &format!("{dir}/systemd-networkd.service"),
    )?;
    if root.exists(&format!("{dir}/systemd-networkd.socket"))? {
        root.symlink(
            "/etc/systemd/system/sockets.target.wants/systemd-networkd.socket",
            &format!("{dir}/systemd-networkd.socket"),
        )?;
    }
    if !network.dns.is_empty() {
        let mut text = String::from("# Written by pi-imager from the profile's [network] dns.\n");
        for server in &network.dns {
            text.push_str(&format!("nameserver {server}\n"));
        }
        root.write("/etc/resolv.conf", text, 0o644)?;
    }
    Ok(true)
}

fn unit_dir(root: &Editor, unit: &str) -> Result<Option<&'static str>, EditError> {
    for dir in UNIT_DIRS {
        if root.exists(&format!("{dir}/{unit}"))? {
            return Ok(Some(dir));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Ipv4Cidr, Ipv6Cidr, Renderer};

    #[test]
    fn the_seed_nodes_network_file() {
        let network = Network {
            interface: "eth0".into(),
            ipv4: Ipv4Config::Off,
            gateway4: None,
            ipv6: Ipv6Config::Static(Ipv6Cidr::parse("2001:db8:0:82::3/64").unwrap()),
            gateway6: Some("2001:db8:0:82::1".parse().unwrap()),
            dns: vec!["2001:db8:0:53::64".parse().unwrap()],
            renderer: Renderer::Networkd,
        };
        assert_eq!(
            file(&network),
            "# Written by pi-imager from the profile's [network].\n[Match]\nName=eth0\n\n[Network]\nDHCP=no\nLinkLocalAddressing=ipv6\nIPv6AcceptRA=no\nAddress=2001:db8:0:82::3/64\nGateway=2001:db8:0:82::1\nDNS=2001:db8:0:53::64\n"
        );
        let v4 = Network {
            ipv4: Ipv4Config::Static(Ipv4Cidr::parse("192.0.2.10/24").unwrap()),
            gateway4: Some("192.0.2.1".parse().unwrap()),
            ipv6: Ipv6Config::Off,
            dns: Vec::new(),
            ..network
        };
        assert!(file(&v4).contains("DHCP=no\nLinkLocalAddressing=no\nIPv6AcceptRA=no\nAddress=192.0.2.10/24\nGateway=192.0.2.1\n"));
        assert!(!file(&v4).contains("2001:db8:0:82::1"));
    }
}
