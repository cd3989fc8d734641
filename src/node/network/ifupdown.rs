//! ifupdown, `/etc/network/interfaces`: the renderer a profile may pick on jessie to
//! bullseye, whose images ship it beside dhcpcd. The profile's interface gets its own file,
//! `/etc/network/interfaces.d/pi-imager-<iface>`, with an `inet` and an `inet6` stanza;
//! stanzas of the same interface in `/etc/network/interfaces` (Raspbian's
//! `iface eth0 inet manual`, there for dhcpcd) are commented out so ifup sees one
//! definition, and the main file is made to read `interfaces.d` if it does not.
//!
//! Resolvers go in `dns-nameservers` (read by Debian's resolvconf) and, when the image has
//! no resolvconf hook for ifupdown, in `/etc/resolv.conf` itself.

use crate::node::config_file::rewrite;
use crate::node::edit::{EditError, Editor};
use crate::profile::{Ipv4Config, Ipv6Config, Network};

/// The main interfaces file.
pub const INTERFACES: &str = "/etc/network/interfaces";
/// Debian resolvconf's ifupdown hook, which reads `dns-nameservers`.
const RESOLVCONF_HOOK: &str = "/etc/network/if-up.d/000resolvconf";

/// The file written for `network`.
pub fn path(network: &Network) -> String {
    format!("/etc/network/interfaces.d/pi-imager-{}", network.interface)
}

/// The stanzas for the profile's network.
pub fn stanzas(network: &Network) -> String {
    let iface = &network.interface;
    let mut out = format!("# Written by pi-imager from the profile's [network].\nauto {iface}\n");
    let dns = |family_v4: bool| -> Option<String> {
        let servers: Vec<String> = network
            .dns
            .iter()
            .filter(|a| a.is_ipv4() == family_v4)
            .map(ToString::to_string)
            .collect();
        (!servers.is_empty()).then(|| format!("    dns-nameservers {}\n", servers.join(" ")))
    };
    match network.ipv4 {
        Ipv4Config::Off if network.ipv6 == Ipv6Config::Off => {
            out.push_str(&format!("iface {iface} inet manual\n"));
        }
        Ipv4Config::Off => {}
        Ipv4Config::Dhcp => out.push_str(&format!("iface {iface} inet dhcp\n")),
        Ipv4Config::Static(cidr) => {
            out.push_str(&format!(
                "iface {iface} inet static\n    address {}/{}\n",
                cidr.address, cidr.prefix
            ));
            if let Some(gateway) = network.gateway4 {
                out.push_str(&format!("    gateway {gateway}\n"));
            }
        }
    }
    if network.ipv4 != Ipv4Config::Off {
        if network.ipv6 == Ipv6Config::Off {
            // The kernel would still give the link SLAAC addresses.
            out.push_str(&format!(
                "    pre-up sysctl -q -w net.ipv6.conf.{iface}.disable_ipv6=1\n"
            ));
        }
        out.push_str(&dns(true).unwrap_or_default());
    }
    match network.ipv6 {
        Ipv6Config::Off => {}
        Ipv6Config::Auto => {
            out.push_str(&format!("iface {iface} inet6 auto\n"));
            if let Some(gateway) = network.gateway6 {
                out.push_str(&format!(
                    "    up ip -6 route replace default via {gateway} dev {iface}\n"
                ));
            }
        }
        Ipv6Config::Static(cidr) => {
            out.push_str(&format!(
                "iface {iface} inet6 static\n    address {}/{}\n    accept_ra 0\n    autoconf 0\n",
                cidr.address, cidr.prefix
            ));
            if let Some(gateway) = network.gateway6 {
                out.push_str(&format!("    gateway {gateway}\n"));
            }
        }
    }
    if network.ipv6 != Ipv6Config::Off {
        out.push_str(&dns(false).unwrap_or_default());
    }
    out
}

/// `/etc/network/interfaces` with the interface's own stanzas commented out and
/// `interfaces.d` sourced.
pub fn main_file(text: &str, interface: &str) -> String {
    let mut out = String::new();
    let mut in_stanza = false;
    let mut sources = false;
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let starts_stanza = matches!(
            words.first(),
            Some(&("iface" | "mapping" | "auto" | "source" | "source-directory"))
        ) || words.first().is_some_and(|w| w.starts_with("allow-"));
        if starts_stanza {
            in_stanza = false;
        }
        match words.as_slice() {
            ["iface", name, ..] if *name == interface => in_stanza = true,
            ["source-directory", dir]
                if dir.trim_end_matches('/') == "/etc/network/interfaces.d" =>
            {
                sources = true;
            }
            ["source", glob] if glob.starts_with("/etc/network/interfaces.d/") => sources = true,
            _ => {}
        }
        let names_it = match words.as_slice() {
            [first, names @ ..] if *first == "auto" || first.starts_with("allow-") => {
                names.contains(&interface)
            }
            _ => false,
        };
        if in_stanza || names_it {
            out.push_str("# pi-imager (see interfaces.d): ");
        }
        out.push_str(line);
        out.push('\n');
    }
    if !sources {
        out.push_str("\nsource-directory /etc/network/interfaces.d\n");
    }
    out
}

/// Writes the interface's file, adjusts the main file, and `/etc/resolv.conf` when no
/// resolvconf reads `dns-nameservers`.
pub fn apply(root: &mut Editor, network: &Network) -> Result<(), EditError> {
    let current = root.read_text(INTERFACES)?.unwrap_or_default();
    rewrite(
        root,
        INTERFACES,
        &main_file(&current, &network.interface),
        0o644,
    )?;
    root.write(&path(network), stanzas(network), 0o644)?;
    if !network.dns.is_empty() && !root.exists(RESOLVCONF_HOOK)? {
        let mut text = String::from("# Written by pi-imager from the profile's [network] dns.\n");
        for server in &network.dns {
            text.push_str(&format!("nameserver {server}\n"));
        }
        root.write("/etc/resolv.conf", text, 0o644)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Ipv4Cidr;

    use super::super::seed_network as seed;

    #[test]
    fn the_seed_nodes_stanza() {
        let mut one_resolver = seed();
        one_resolver.dns.truncate(1);
        assert_eq!(
            stanzas(&one_resolver),
            "# Written by pi-imager from the profile's [network].\nauto eth0\niface eth0 inet6 static\n    address 2001:db8:0:82::3/64\n    accept_ra 0\n    autoconf 0\n    gateway 2001:db8:0:82::1\n    dns-nameservers 2001:db8:0:53::64\n"
        );
        let mut v4 = seed();
        v4.ipv4 = Ipv4Config::Static(Ipv4Cidr::parse("192.0.2.10/24").unwrap());
        v4.ipv6 = Ipv6Config::Off;
        v4.dns = vec!["192.0.2.53".parse().unwrap()];
        let text = stanzas(&v4);
        assert!(text.contains("iface eth0 inet static\n    address 192.0.2.10/24\n    pre-up sysctl -q -w net.ipv6.conf.eth0.disable_ipv6=1\n    dns-nameservers 192.0.2.53\n"), "{text}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]
        #[test]
        fn any_interfaces_file_keeps_its_lines_and_sources_the_directory(text in "[ -~\n]{0,300}") {
            let out = main_file(&text, "eth0");
            proptest::prop_assert!(out.lines().count() >= text.lines().count());
            proptest::prop_assert!(out.contains("/etc/network/interfaces.d"));
        }
    }

    #[test]
    fn raspbians_manual_stanza_is_commented_out() {
        let jessie = "source-directory /etc/network/interfaces.d\n\nauto lo\niface lo inet loopback\n\niface eth0 inet manual\n\nallow-hotplug wlan0\niface wlan0 inet manual\n    wpa-conf /etc/wpa_supplicant/wpa_supplicant.conf\n";
        let out = main_file(jessie, "eth0");
        assert!(out.contains("# pi-imager (see interfaces.d): iface eth0 inet manual\n"));
        assert!(out.contains("\niface wlan0 inet manual\n    wpa-conf"));
        assert_eq!(out.matches("source-directory").count(), 1);
        let bare = main_file("auto eth0\niface eth0 inet dhcp\n    hostname pi\n", "eth0");
        assert_eq!(
            bare,
            "# pi-imager (see interfaces.d): auto eth0\n# pi-imager (see interfaces.d): iface eth0 inet dhcp\n# pi-imager (see interfaces.d):     hostname pi\n\nsource-directory /etc/network/interfaces.d\n"
        );
    }
}
