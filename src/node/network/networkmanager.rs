//! NetworkManager, the network configuration of Raspberry Pi OS bookworm and trixie: one
//! keyfile, `/etc/NetworkManager/system-connections/<iface>.nmconnection`, root-owned and
//! mode 0600 (NetworkManager ignores a keyfile others can read).
//!
//! The connection's UUID is derived from the interface name, so two builds write the same
//! bytes. DNS servers go to the section of their address family, as NetworkManager
//! requires; a default route without a static address is written as a `::/0` route, since
//! NetworkManager refuses a `gateway=` without an address. Wi-Fi is not configured: the
//! profile carries no SSID or key.

use std::net::IpAddr;

use sha2::{Digest, Sha256};

use crate::node::edit::{EditError, Editor};
use crate::profile::{Ipv4Config, Ipv6Config, Network};

/// Where NetworkManager reads system connections.
pub const DIR: &str = "/etc/NetworkManager/system-connections";

/// Why the keyfile cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum KeyfileError {
    /// A Wi-Fi interface needs settings the profile does not have.
    #[error(
        "`{interface}` looks like a Wi-Fi interface; pi-imager writes wired connections only (the profile has no SSID or key), so configure an Ethernet interface such as `eth0` or add the connection with an overlay"
    )]
    Wifi {
        /// The interface.
        interface: String,
    },
    /// A DNS server of a family the node has switched off.
    #[error(
        "DNS server {server} is an {family} address but [network] switches {family} off; list resolvers the node can reach"
    )]
    DnsFamilyOff {
        /// The server.
        server: IpAddr,
        /// `IPv4` or `IPv6`.
        family: &'static str,
    },
}

/// The keyfile's path for `network`.
pub fn path(network: &Network) -> String {
    format!("{DIR}/{}.nmconnection", network.interface)
}

/// The keyfile text for `network`.
pub fn keyfile(network: &Network) -> Result<String, KeyfileError> {
    let interface = &network.interface;
    if interface.starts_with("wl") {
        return Err(KeyfileError::Wifi {
            interface: interface.clone(),
        });
    }
    let (dns4, dns6): (Vec<IpAddr>, Vec<IpAddr>) = network.dns.iter().partition(|a| a.is_ipv4());
    if let (Ipv4Config::Off, Some(server)) = (network.ipv4, dns4.first()) {
        return Err(KeyfileError::DnsFamilyOff {
            server: *server,
            family: "IPv4",
        });
    }
    if let (Ipv6Config::Off, Some(server)) = (network.ipv6, dns6.first()) {
        return Err(KeyfileError::DnsFamilyOff {
            server: *server,
            family: "IPv6",
        });
    }
    let mut text = format!(
        "# Written by pi-imager from the profile's [network].\n[connection]\nid={interface}\nuuid={}\ntype=ethernet\ninterface-name={interface}\nautoconnect-priority=100\n\n[ethernet]\n\n[ipv4]\n",
        uuid(interface)
    );
    match network.ipv4 {
        Ipv4Config::Off => text.push_str("method=disabled\n"),
        Ipv4Config::Dhcp => text.push_str("method=auto\n"),
        Ipv4Config::Static(cidr) => {
            text.push_str("method=manual\n");
            let gateway = network
                .gateway4
                .map(|g| format!(",{g}"))
                .unwrap_or_default();
            text.push_str(&format!(
                "address1={}/{}{gateway}\n",
                cidr.address, cidr.prefix
            ));
        }
    }
    dns_lines(&mut text, &dns4, network.ipv4 == Ipv4Config::Dhcp);
    text.push_str("\n[ipv6]\n");
    match network.ipv6 {
        Ipv6Config::Off => text.push_str("method=disabled\n"),
        Ipv6Config::Auto => {
            text.push_str("method=auto\n");
            if let Some(gateway) = network.gateway6 {
                text.push_str(&format!("route1=::/0,{gateway}\n"));
            }
        }
        Ipv6Config::Static(cidr) => {
            text.push_str("method=manual\n");
            let gateway = network
                .gateway6
                .map(|g| format!(",{g}"))
                .unwrap_or_default();
            text.push_str(&format!(
                "address1={}/{}{gateway}\n",
                cidr.address, cidr.prefix
            ));
        }
    }
    dns_lines(&mut text, &dns6, network.ipv6 == Ipv6Config::Auto);
    Ok(text)
}

fn dns_lines(text: &mut String, servers: &[IpAddr], automatic: bool) {
    if servers.is_empty() {
        return;
    }
    let list: String = servers.iter().map(|s| format!("{s};")).collect();
    text.push_str(&format!("dns={list}\n"));
    if automatic {
        // The profile's resolvers replace the ones DHCP or router advertisements offer.
        text.push_str("ignore-auto-dns=true\n");
    }
}

/// A stable UUID (version 4 layout) for the interface's connection.
fn uuid(interface: &str) -> String {
    let digest = Sha256::digest(format!("pi-imager nmconnection {interface}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Writes the keyfile, root-owned, mode 0600.
pub fn apply(root: &mut Editor, network: &Network) -> Result<(), NetworkManagerError> {
    let text = keyfile(network)?;
    root.mkdir(DIR, 0o755, 0, 0)?;
    root.write(&path(network), text, 0o600)?;
    Ok(())
}

/// Tells NetworkManager to leave `interface` to another manager.
pub fn unmanage(root: &mut Editor, interface: &str, manager: &str) -> Result<(), EditError> {
    root.write(
        "/etc/NetworkManager/conf.d/90-pi-imager-unmanaged.conf",
        format!("# Written by pi-imager: {interface} is configured by {manager}.\n[keyfile]\nunmanaged-devices=interface-name:{interface}\n"),
        0o644,
    )
}

/// Why NetworkManager's configuration could not be written.
#[derive(Debug, thiserror::Error)]
pub enum NetworkManagerError {
    /// The profile's network cannot be a keyfile.
    #[error(transparent)]
    Keyfile(#[from] KeyfileError),
    /// The file could not be written.
    #[error(transparent)]
    Edit(#[from] EditError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Ipv4Cidr;

    use super::super::seed_network as seed;

    #[test]
    fn the_seed_nodes_keyfile() {
        let text = keyfile(&seed()).unwrap();
        assert!(text.contains("[ipv4]\nmethod=disabled\n\n[ipv6]\nmethod=manual\naddress1=2001:db8:0:82::3/64,2001:db8:0:82::1\ndns=2001:db8:0:53::64;2001:db8:1:53::64;\n"), "{text}");
        assert_eq!(text, keyfile(&seed()).unwrap());
        assert!(text.contains(&format!("uuid={}\n", uuid("eth0"))));
        assert_eq!(uuid("eth0").len(), 36);
        assert_eq!(uuid("eth0").as_bytes()[14], b'4');
    }

    #[test]
    fn auto_with_gateway_is_a_route_and_dhcp_dns_is_ignored() {
        let mut net = seed();
        net.ipv6 = Ipv6Config::Auto;
        net.ipv4 = Ipv4Config::Static(Ipv4Cidr::parse("192.0.2.10/24").unwrap());
        net.gateway4 = Some("192.0.2.1".parse().unwrap());
        net.dns.push("192.0.2.53".parse().unwrap());
        let text = keyfile(&net).unwrap();
        assert!(
            text.contains("method=manual\naddress1=192.0.2.10/24,192.0.2.1\ndns=192.0.2.53;\n")
        );
        assert!(text.contains("method=auto\nroute1=::/0,2001:db8:0:82::1\ndns=2001:db8:0:53::64;2001:db8:1:53::64;\nignore-auto-dns=true\n"));
    }

    #[test]
    fn refusals_name_what_to_change() {
        let mut net = seed();
        net.dns.push("192.0.2.53".parse().unwrap());
        let message = keyfile(&net).unwrap_err().to_string();
        assert!(
            message.contains("192.0.2.53 is an IPv4 address"),
            "{message}"
        );
        let mut wifi = seed();
        wifi.interface = "wlan0".into();
        assert!(keyfile(&wifi).unwrap_err().to_string().contains("Wi-Fi"));
    }
}
