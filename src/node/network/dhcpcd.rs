//! dhcpcd, the network configuration of Raspbian jessie to bullseye: an `interface` block
//! appended to `/etc/dhcpcd.conf`, and an exit hook for the static IPv6 default route.
//!
//! dhcpcd has no static IPv6 router option (`static routers=` is IPv4 only, and with
//! `noipv6rs` no router advertisement brings one), so the gateway is added by
//! `/etc/dhcpcd.exit-hook`, the hook dhcpcd-run-hooks(8) reserves for the administrator,
//! sourced on every event. The rest of the file is kept as the base has it.

use crate::node::config_file::rewrite;
use crate::node::edit::{EditError, Editor};
use crate::profile::{Ipv4Config, Ipv6Config, Network};

/// The file dhcpcd reads.
pub const CONF: &str = "/etc/dhcpcd.conf";
/// The administrator's hook, sourced by dhcpcd-run-hooks after the system hooks.
pub const EXIT_HOOK: &str = "/etc/dhcpcd.exit-hook";

const BEGIN: &str = "# pi-imager: the profile's [network]";

/// The `interface` block for the profile's network.
pub fn block(network: &Network) -> String {
    let mut lines = vec![
        format!("{BEGIN} for {}", network.interface),
        format!("interface {}", network.interface),
    ];
    match network.ipv4 {
        Ipv4Config::Off => lines.push("noipv4".into()),
        Ipv4Config::Dhcp => {}
        Ipv4Config::Static(cidr) => {
            lines.push(format!(
                "static ip_address={}/{}",
                cidr.address, cidr.prefix
            ));
            if let Some(gateway) = network.gateway4 {
                lines.push(format!("static routers={gateway}"));
            }
        }
    }
    match network.ipv6 {
        Ipv6Config::Off => lines.push("noipv6".into()),
        Ipv6Config::Auto => {}
        Ipv6Config::Static(cidr) => {
            // A fixed address on a server: no SLAAC address or router-advertised route
            // beside it, so the node answers on the address its DNS names.
            lines.push("noipv6rs".into());
            lines.push(format!(
                "static ip6_address={}/{}",
                cidr.address, cidr.prefix
            ));
        }
    }
    if !network.dns.is_empty() {
        let servers: Vec<String> = network.dns.iter().map(ToString::to_string).collect();
        lines.push(format!("static domain_name_servers={}", servers.join(" ")));
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// The exit-hook section that adds the IPv6 default route, when there is a gateway and
/// IPv6 is on.
pub fn exit_hook(network: &Network) -> Option<String> {
    let gateway = network.gateway6?;
    if network.ipv6 == Ipv6Config::Off {
        return None;
    }
    let interface = &network.interface;
    Some(format!(
        "{BEGIN}: the IPv6 default route, which dhcpcd cannot set statically.
if [ \"$interface\" = \"{interface}\" ]; then
\tcase \"$reason\" in
\tPREINIT|NOCARRIER*|STOP*|DEPARTED|EXPIRE*|FAIL|STOPPED) ;;
\t*) ip -6 route replace default via {gateway} dev {interface} 2>/dev/null || : ;;
\tesac
fi
"
    ))
}

/// Appends the block to dhcpcd.conf and writes the exit hook when there is an IPv6
/// gateway.
pub fn apply(root: &mut Editor, network: &Network) -> Result<(), EditError> {
    let current = root.read_text(CONF)?.unwrap_or_default();
    let text = append(&current, &block(network));
    rewrite(root, CONF, &text, 0o644)?;
    if let Some(hook) = exit_hook(network) {
        let current = root.read_text(EXIT_HOOK)?.unwrap_or_default();
        rewrite(root, EXIT_HOOK, &append(&current, &hook), 0o644)?;
    }
    Ok(())
}

/// Tells dhcpcd to leave `interface` alone (another manager configures it).
pub fn deny(root: &mut Editor, interface: &str, manager: &str) -> Result<(), EditError> {
    let Some(current) = root.read_text(CONF)? else {
        return Ok(());
    };
    let line =
        format!("{BEGIN}: {interface} is configured by {manager}\ndenyinterfaces {interface}\n");
    rewrite(root, CONF, &append(&current, &line), 0o644)?;
    Ok(())
}

fn append(current: &str, section: &str) -> String {
    let mut text = current.to_owned();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    if !text.is_empty() {
        text.push('\n');
    }
    text.push_str(section);
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Ipv4Cidr;

    use super::super::seed_network as seed;

    #[test]
    fn the_seed_nodes_block() {
        assert_eq!(
            block(&seed()),
            "# pi-imager: the profile's [network] for eth0\ninterface eth0\nnoipv4\nnoipv6rs\nstatic ip6_address=2001:db8:0:82::3/64\nstatic domain_name_servers=2001:db8:0:53::64 2001:db8:1:53::64\n"
        );
        let hook = exit_hook(&seed()).unwrap();
        assert!(hook.contains("ip -6 route replace default via 2001:db8:0:82::1 dev eth0"));
    }

    #[test]
    fn static_ipv4_and_no_ipv6() {
        let mut net = seed();
        net.ipv4 = Ipv4Config::Static(Ipv4Cidr::parse("192.0.2.10/24").unwrap());
        net.gateway4 = Some("192.0.2.1".parse().unwrap());
        net.ipv6 = Ipv6Config::Off;
        net.dns.clear();
        let text = block(&net);
        assert!(
            text.contains("static ip_address=192.0.2.10/24\nstatic routers=192.0.2.1\nnoipv6\n")
        );
        assert!(exit_hook(&net).is_none());
    }

    #[test]
    fn append_separates_sections() {
        assert_eq!(append("a", "b\n"), "a\n\nb\n");
        assert_eq!(append("", "b\n"), "b\n");
    }
}
