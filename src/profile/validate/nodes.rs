//! Validation of what may differ between nodes, and the fleet itself: `[image]`'s board,
//! card size and partition table, `[network]`, `[web] headers`, `[system] hostname`, and
//! each `[[node]]` with its overrides applied.
//!
//! Checks that depend on the combination (a gateway outside the node's prefix, `gpt` on a
//! Pi 3, two nodes with one address) run on each node's effective values, and point at the
//! key that made the combination wrong.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::ops::Range;

use toml::Spanned;

use super::{Ctx, span_of};
use crate::profile::model::{Board, Network, Node, PartitionTable, Renderer};
use crate::profile::names::{
    check_file_stem, check_header_name, check_header_value, check_hostname, check_interface,
};
use crate::profile::network::{Ipv4Config, Ipv6Config, is_unusable};
use crate::profile::raw::{RawNode, RawProfile, Str};
use crate::profile::size::Size;

/// Below this a Raspberry Pi OS Lite root cannot fit next to its boot partition.
const MIN_CARD: u64 = 256 << 20;

/// A value with the place it came from, so combination checks can point at it.
#[derive(Clone)]
struct Located<T> {
    value: T,
    span: Range<usize>,
    key: String,
}

fn located<T>(value: T, from: &Str, key: &str) -> Located<T> {
    Located {
        value,
        span: from.span(),
        key: key.to_string(),
    }
}

/// The fleet-wide defaults, each remembered with its place in the file.
struct Defaults {
    board: Option<Located<Board>>,
    /// Whether `[image]` sets the key at all (a broken value is reported once, not also as
    /// missing).
    board_written: bool,
    card_size: Option<Located<Size>>,
    card_size_written: bool,
    partition_table: Located<PartitionTable>,
    hostname: Option<Located<String>>,
    interface: String,
    ipv4: Located<Ipv4Config>,
    gateway4: Option<Located<std::net::Ipv4Addr>>,
    ipv6: Located<Ipv6Config>,
    gateway6: Option<Located<std::net::Ipv6Addr>>,
    dns: Vec<Located<IpAddr>>,
    renderer: Renderer,
    headers: BTreeMap<String, String>,
    valid: bool,
}

fn card_size(text: &str) -> Result<Size, String> {
    let size = Size::parse(text)?;
    if size.bytes() < MIN_CARD {
        return Err(format!(
            "{size} is too small for a card; use at least 256MiB"
        ));
    }
    Ok(size)
}

fn headers(
    ctx: &mut Ctx<'_, '_>,
    map: &Option<Spanned<BTreeMap<Str, Str>>>,
    prefix: &str,
) -> Option<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut ok = true;
    let mut lower = BTreeSet::new();
    for (name, value) in map.iter().flat_map(|m| m.get_ref()) {
        let key = format!("{prefix}.\"{}\"", name.get_ref());
        ok &= ctx.parse(name, &key, check_header_name).is_some();
        ok &= ctx.parse(value, &key, check_header_value).is_some();
        if !lower.insert(name.get_ref().to_ascii_lowercase()) {
            ctx.error(
                name.span(),
                &key,
                "HTTP header names are case-insensitive: this header is already set",
            );
            ok = false;
        }
        out.insert(name.get_ref().clone(), value.get_ref().clone());
    }
    ok.then_some(out)
}

fn defaults(ctx: &mut Ctx<'_, '_>, raw: &RawProfile) -> Defaults {
    let mut valid = true;
    let image = raw.image.as_ref().map(Spanned::get_ref);
    let board = image.and_then(|i| i.board.as_ref()).and_then(|v| {
        let parsed = ctx.keyword::<Board>(v, "image.board");
        valid &= parsed.is_some();
        parsed.map(|b| located(b, v, "image.board"))
    });
    let card_size = image.and_then(|i| i.card_size.as_ref()).and_then(|v| {
        let parsed = ctx.parse(v, "image.card_size", card_size);
        valid &= parsed.is_some();
        parsed.map(|s| located(s, v, "image.card_size"))
    });
    let partition_table = match image.and_then(|i| i.partition_table.as_ref()) {
        Some(v) => {
            let parsed = ctx.keyword::<PartitionTable>(v, "image.partition_table");
            valid &= parsed.is_some();
            located(
                parsed.unwrap_or(PartitionTable::Mbr),
                v,
                "image.partition_table",
            )
        }
        None => Located {
            value: PartitionTable::Mbr,
            span: span_of(&raw.image),
            key: "image.partition_table".into(),
        },
    };
    let hostname = raw
        .system
        .as_ref()
        .and_then(|s| s.get_ref().hostname.as_ref())
        .and_then(|v| {
            let parsed = ctx.parse(v, "system.hostname", |t| {
                check_hostname(t).map(|()| t.to_string())
            });
            valid &= parsed.is_some();
            parsed.map(|h| located(h, v, "system.hostname"))
        });
    let network = raw.network.as_ref().map(Spanned::get_ref);
    let net_span = span_of(&raw.network);
    let interface = match network.and_then(|n| n.interface.as_ref()) {
        Some(v) => ctx
            .parse(v, "network.interface", |t| {
                check_interface(t).map(|()| t.to_string())
            })
            .unwrap_or_else(|| {
                valid = false;
                String::new()
            }),
        None => "eth0".to_string(),
    };
    let ipv4 = match network.and_then(|n| n.ipv4.as_ref()) {
        Some(v) => {
            let parsed = ctx.parse(v, "network.ipv4", Ipv4Config::parse);
            valid &= parsed.is_some();
            located(parsed.unwrap_or(Ipv4Config::Dhcp), v, "network.ipv4")
        }
        None => Located {
            value: Ipv4Config::Dhcp,
            span: net_span.clone(),
            key: "network.ipv4".into(),
        },
    };
    let ipv6 = match network.and_then(|n| n.ipv6.as_ref()) {
        Some(v) => {
            let parsed = ctx.parse(v, "network.ipv6", Ipv6Config::parse);
            valid &= parsed.is_some();
            located(parsed.unwrap_or(Ipv6Config::Auto), v, "network.ipv6")
        }
        None => Located {
            value: Ipv6Config::Auto,
            span: net_span.clone(),
            key: "network.ipv6".into(),
        },
    };
    let gateway4 = network.and_then(|n| n.gateway4.as_ref()).and_then(|v| {
        let parsed = ctx.parse(v, "network.gateway4", parse_gateway);
        valid &= parsed.is_some();
        parsed.map(|g| located(g, v, "network.gateway4"))
    });
    let gateway6 = network.and_then(|n| n.gateway6.as_ref()).and_then(|v| {
        let parsed = ctx.parse(v, "network.gateway6", parse_gateway);
        valid &= parsed.is_some();
        parsed.map(|g| located(g, v, "network.gateway6"))
    });
    let mut dns = Vec::new();
    let dns_list = network.map(|n| &n.dns).unwrap_or(&None);
    for item in ctx.list(dns_list, "network.dns", |ctx, v, key| {
        let parsed = ctx.parse(v, key, |t| {
            let ip: IpAddr = t
                .parse()
                .map_err(|_| format!("`{t}` is not an IP address"))?;
            if is_unusable(ip) {
                return Err(format!("`{t}` cannot be a DNS server"));
            }
            Ok(ip)
        });
        parsed.map(|ip| located(ip, v, key))
    }) {
        dns.push(item);
    }
    if dns_list
        .as_ref()
        .is_some_and(|l| l.get_ref().len() != dns.len())
    {
        valid = false;
    }
    let renderer = match network.and_then(|n| n.renderer.as_ref()) {
        Some(v) => ctx
            .keyword::<Renderer>(v, "network.renderer")
            .unwrap_or_else(|| {
                valid = false;
                Renderer::Auto
            }),
        None => Renderer::Auto,
    };
    let web_headers = raw
        .web
        .as_ref()
        .map(|w| &w.get_ref().headers)
        .unwrap_or(&None);
    let headers = headers(ctx, web_headers, "web.headers").unwrap_or_else(|| {
        valid = false;
        BTreeMap::new()
    });
    Defaults {
        board,
        board_written: image.is_some_and(|i| i.board.is_some()),
        card_size,
        card_size_written: image.is_some_and(|i| i.card_size.is_some()),
        partition_table,
        hostname,
        interface,
        ipv4,
        gateway4,
        ipv6,
        gateway6,
        dns,
        renderer,
        headers,
        valid,
    }
}

fn parse_gateway<T: std::str::FromStr + Into<IpAddr> + Copy>(text: &str) -> Result<T, String> {
    let ip: T = text.parse().map_err(|_| {
        if text.contains('/') {
            format!("`{text}` is a network; a gateway is one address, without a prefix")
        } else {
            format!("`{text}` is not an address of this family")
        }
    })?;
    if is_unusable(ip.into()) {
        return Err(format!("`{text}` cannot be a gateway"));
    }
    Ok(ip)
}

pub(super) fn nodes(ctx: &mut Ctx<'_, '_>, raw: &RawProfile) -> Option<Vec<Node>> {
    let defaults = defaults(ctx, raw);
    let image_name = raw
        .image
        .as_ref()
        .and_then(|i| i.get_ref().name.as_ref())
        .map(|n| n.get_ref().clone());
    let mut nodes = Vec::new();
    let mut valid = defaults.valid;
    if raw.node.is_empty() {
        let name = image_name.unwrap_or_default();
        let implicit = RawNode {
            name: None,
            board: None,
            hostname: None,
            ipv4: None,
            ipv6: None,
            gateway6: None,
            headers: None,
            card_size: None,
        };
        let span = span_of(&raw.image);
        valid &= node(ctx, &defaults, &implicit, span, "image", name, &mut nodes);
    } else {
        let mut names = BTreeSet::new();
        for (i, section) in raw.node.iter().enumerate() {
            let prefix = format!("node[{i}]");
            let name = match &section.get_ref().name {
                Some(v) => ctx.parse(v, &format!("{prefix}.name"), |t| {
                    check_file_stem(t, "node name").map(|()| t.to_string())
                }),
                None => {
                    ctx.missing(
                        section.span(),
                        &format!("{prefix}.name"),
                        "; it names the node's output files",
                    );
                    None
                }
            };
            let Some(name) = name else {
                valid = false;
                continue;
            };
            if !names.insert(name.clone()) {
                let span = section
                    .get_ref()
                    .name
                    .as_ref()
                    .map_or(section.span(), Spanned::span);
                ctx.error(
                    span,
                    &format!("{prefix}.name"),
                    format!("another node is already named `{name}`"),
                );
                valid = false;
                continue;
            }
            valid &= node(
                ctx,
                &defaults,
                section.get_ref(),
                section.span(),
                &prefix,
                name,
                &mut nodes,
            );
        }
    }
    valid &= fleet_unique(ctx, &nodes);
    valid.then_some(nodes.into_iter().map(|(n, _)| n).collect())
}

type Sited = (Node, NodeSites);

/// Where each of a node's effective values was written.
struct NodeSites {
    hostname: Option<Located<String>>,
    ipv6: Located<Ipv6Config>,
}

/// Applies `raw`'s overrides to the defaults and checks the result; false when invalid.
fn node(
    ctx: &mut Ctx<'_, '_>,
    defaults: &Defaults,
    raw: &RawNode,
    span: Range<usize>,
    prefix: &str,
    name: String,
    out: &mut Vec<Sited>,
) -> bool {
    let key = |k: &str| {
        if prefix == "image" {
            format!("image.{k}")
        } else {
            format!("{prefix}.{k}")
        }
    };
    let mut valid = true;
    let mut over = |ctx: &mut Ctx<'_, '_>,
                    v: &Option<Str>,
                    k: &str,
                    check: &dyn Fn(&str) -> Result<(), String>|
     -> bool {
        match v {
            Some(v) => {
                let ok = ctx.parse(v, &key(k), check).is_some();
                valid &= ok;
                ok
            }
            None => false,
        }
    };
    let board = match &raw.board {
        Some(v) => ctx
            .keyword::<Board>(v, &key("board"))
            .map(|b| located(b, v, &key("board"))),
        None => defaults.board.clone(),
    };
    if board.is_none() && raw.board.is_none() && !defaults.board_written {
        ctx.missing(
            span.clone(),
            &key("board"),
            ": `pi2`, `pi3`, `pi3plus`, `pi4`, `pi5` or `zero2w` (in [image], or per node)",
        );
    }
    let card = match &raw.card_size {
        Some(v) => ctx
            .parse(v, &key("card_size"), card_size)
            .map(|s| located(s, v, &key("card_size"))),
        None => defaults.card_size.clone(),
    };
    if card.is_none() && raw.card_size.is_none() && !defaults.card_size_written {
        ctx.missing(
            span.clone(),
            &key("card_size"),
            ", such as `8GB` (in [image], or per node)",
        );
    }
    let hostname = match &raw.hostname {
        Some(v) if over(ctx, &raw.hostname, "hostname", &check_hostname) => {
            Some(located(v.get_ref().clone(), v, &key("hostname")))
        }
        Some(_) => None,
        None => defaults.hostname.clone(),
    };
    let ipv4 = match &raw.ipv4 {
        Some(v) => ctx
            .parse(v, &key("ipv4"), Ipv4Config::parse)
            .map(|c| located(c, v, &key("ipv4"))),
        None => Some(defaults.ipv4.clone()),
    };
    let ipv6 = match &raw.ipv6 {
        Some(v) => ctx
            .parse(v, &key("ipv6"), Ipv6Config::parse)
            .map(|c| located(c, v, &key("ipv6"))),
        None => Some(defaults.ipv6.clone()),
    };
    let gateway6 = match &raw.gateway6 {
        Some(v) => ctx
            .parse(v, &key("gateway6"), parse_gateway)
            .map(|g| Some(located(g, v, &key("gateway6")))),
        None => Some(defaults.gateway6.clone()),
    };
    let mut headers = defaults.headers.clone();
    match self::headers(ctx, &raw.headers, &key("headers")) {
        // A node's header replaces the fleet's header of the same name; the others stay.
        Some(own) => {
            headers.retain(|k, _| !own.keys().any(|o| o.eq_ignore_ascii_case(k)));
            headers.extend(own);
        }
        None => valid = false,
    }
    let (Some(board), Some(card), Some(ipv4), Some(ipv6), Some(gateway6)) =
        (board, card, ipv4, ipv6, gateway6)
    else {
        return false;
    };
    if !valid {
        return false;
    }
    if defaults.partition_table.value == PartitionTable::Gpt && !board.value.boots_gpt() {
        let message = format!(
            "`gpt` needs a Pi 4 or Pi 5, whose boot ROM reads GPT; node `{name}` is a {} ({}), so use `mbr`",
            board.value, board.key
        );
        ctx.error(
            defaults.partition_table.span.clone(),
            &defaults.partition_table.key,
            message,
        );
        return false;
    }
    let network_ok = check_network(ctx, defaults, &ipv4, &ipv6, gateway6.as_ref(), &name);
    let hostname_value = hostname
        .as_ref()
        .map_or_else(|| name.clone(), |h| h.value.clone());
    let node = Node {
        name,
        board: board.value,
        hostname: hostname_value,
        card_size: card.value,
        partition_table: defaults.partition_table.value,
        network: Network {
            interface: defaults.interface.clone(),
            ipv4: ipv4.value,
            gateway4: defaults.gateway4.as_ref().map(|g| g.value),
            ipv6: ipv6.value,
            gateway6: gateway6.as_ref().map(|g| g.value),
            dns: defaults.dns.iter().map(|d| d.value).collect(),
            renderer: defaults.renderer,
        },
        headers,
    };
    out.push((node, NodeSites { hostname, ipv6 }));
    network_ok
}

/// Checks one node's effective network; errors point at the key that breaks it.
fn check_network(
    ctx: &mut Ctx<'_, '_>,
    defaults: &Defaults,
    ipv4: &Located<Ipv4Config>,
    ipv6: &Located<Ipv6Config>,
    gateway6: Option<&Located<std::net::Ipv6Addr>>,
    node: &str,
) -> bool {
    let mut ok = true;
    let whose = if ipv4.key.starts_with("node") || ipv6.key.starts_with("node") {
        format!(" on node `{node}`")
    } else {
        String::new()
    };
    if ipv4.value == Ipv4Config::Off && ipv6.value == Ipv6Config::Off {
        ctx.error(
            ipv6.span.clone(),
            &ipv6.key,
            format!("both IPv4 and IPv6 are off{whose}: the node would be unreachable"),
        );
        ok = false;
    }
    if let Some(gw) = &defaults.gateway4 {
        match ipv4.value {
            Ipv4Config::Static(cidr) if !cidr.contains(gw.value) => {
                ctx.error(
                    gw.span.clone(),
                    &gw.key,
                    format!("{} is not in the node's network {cidr}{whose}", gw.value),
                );
                ok = false;
            }
            Ipv4Config::Static(_) => {}
            _ => {
                ctx.error(
                    gw.span.clone(),
                    &gw.key,
                    format!(
                        "a gateway needs a static `ipv4` address; ipv4 is `{}`{whose}",
                        ipv4.value
                    ),
                );
                ok = false;
            }
        }
    }
    if let Some(gw) = gateway6 {
        let link_local = gw.value.segments()[0] & 0xffc0 == 0xfe80;
        match ipv6.value {
            Ipv6Config::Off => {
                ctx.error(
                    gw.span.clone(),
                    &gw.key,
                    format!("a gateway needs IPv6; ipv6 is `off`{whose}"),
                );
                ok = false;
            }
            Ipv6Config::Static(cidr) if !link_local && !cidr.contains(gw.value) => {
                ctx.error(
                    gw.span.clone(),
                    &gw.key,
                    format!(
                        "{} is neither in the node's network {cidr} nor link-local{whose}",
                        gw.value
                    ),
                );
                ok = false;
            }
            _ => {}
        }
    }
    for dns in &defaults.dns {
        let unreachable = match dns.value {
            IpAddr::V4(_) => ipv4.value == Ipv4Config::Off,
            IpAddr::V6(_) => ipv6.value == Ipv6Config::Off,
        };
        if unreachable {
            let family = if dns.value.is_ipv4() { "IPv4" } else { "IPv6" };
            ctx.error(dns.span.clone(), &dns.key, format!("{} is an {family} server, but {family} is off{whose}; on an IPv6-only network use DNS64 resolvers", dns.value));
            ok = false;
        }
    }
    ok
}

/// Hostnames and static IPv6 addresses must differ between the nodes of a fleet.
fn fleet_unique(ctx: &mut Ctx<'_, '_>, nodes: &[Sited]) -> bool {
    let mut ok = true;
    let mut hostnames: BTreeMap<&str, &str> = BTreeMap::new();
    let mut addresses: BTreeMap<std::net::Ipv6Addr, &str> = BTreeMap::new();
    for (node, sites) in nodes {
        if let Some(other) = hostnames.insert(&node.hostname, &node.name) {
            let (span, key) = sites
                .hostname
                .as_ref()
                .map_or((0..0, "system.hostname".to_string()), |h| {
                    (h.span.clone(), h.key.clone())
                });
            ctx.error(span, &key, format!("nodes `{other}` and `{}` would both be called `{}`; give each [[node]] its own `hostname`", node.name, node.hostname));
            ok = false;
        }
        if let Ipv6Config::Static(cidr) = node.network.ipv6
            && let Some(other) = addresses.insert(cidr.address, &node.name)
        {
            ctx.error(sites.ipv6.span.clone(), &sites.ipv6.key, format!("nodes `{other}` and `{}` would both have the address {}; give each [[node]] its own `ipv6`", node.name, cidr.address));
            ok = false;
        }
    }
    ok
}
