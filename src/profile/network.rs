//! Addresses as a profile writes them: `2001:db8::3/64`, `192.0.2.10/24`, `auto`, `off`.
//!
//! These types only parse and check addresses; how a Raspberry Pi OS generation configures
//! them (dhcpcd, NetworkManager) is the `node` stage's business.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;

/// An IPv4 address with its prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Cidr {
    /// The node's address.
    pub address: Ipv4Addr,
    /// The prefix length, 0–32.
    pub prefix: u8,
}

/// An IPv6 address with its prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Cidr {
    /// The node's address.
    pub address: Ipv6Addr,
    /// The prefix length, 0–128.
    pub prefix: u8,
}

/// How the node gets its IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv4Config {
    /// No IPv4 at all (`noipv4`, `method=disabled`).
    Off,
    /// DHCP.
    Dhcp,
    /// A fixed address.
    Static(Ipv4Cidr),
}

/// How the node gets its IPv6 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv6Config {
    /// IPv6 switched off.
    Off,
    /// Stateless autoconfiguration from router advertisements.
    Auto,
    /// A fixed address.
    Static(Ipv6Cidr),
}

fn split_prefix(text: &str, family: &str, max: u8) -> Result<(String, u8), String> {
    let Some((address, prefix)) = text.split_once('/') else {
        return Err(format!(
            "`{text}` has no prefix length; write the {family} address with its prefix, such as `{}`",
            if family == "IPv6" {
                "2001:db8::3/64"
            } else {
                "192.0.2.10/24"
            }
        ));
    };
    let prefix: u8 = prefix
        .parse()
        .ok()
        .filter(|p| *p <= max)
        .ok_or_else(|| format!("`/{prefix}` is not an {family} prefix length (0–{max})"))?;
    Ok((address.to_string(), prefix))
}

impl Ipv4Cidr {
    /// Parses `192.0.2.10/24`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (address, prefix) = split_prefix(text, "IPv4", 32)?;
        let address: Ipv4Addr = address
            .parse()
            .map_err(|_| format!("`{address}` is not an IPv4 address"))?;
        Ok(Self { address, prefix })
    }

    /// True when `other` lies in this address's network.
    pub fn contains(&self, other: Ipv4Addr) -> bool {
        let mask = u32::MAX
            .checked_shl(32 - u32::from(self.prefix))
            .unwrap_or(0);
        u32::from(self.address) & mask == u32::from(other) & mask
    }
}

impl Ipv6Cidr {
    /// Parses `2001:db8::3/64`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (address, prefix) = split_prefix(text, "IPv6", 128)?;
        let address: Ipv6Addr = address
            .parse()
            .map_err(|_| format!("`{address}` is not an IPv6 address"))?;
        Ok(Self { address, prefix })
    }

    /// True when `other` lies in this address's network.
    pub fn contains(&self, other: Ipv6Addr) -> bool {
        let mask = u128::MAX
            .checked_shl(128 - u32::from(self.prefix))
            .unwrap_or(0);
        u128::from(self.address) & mask == u128::from(other) & mask
    }
}

impl Ipv4Config {
    /// Parses `off`, `dhcp` or an address with prefix.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "off" => Ok(Self::Off),
            "dhcp" => Ok(Self::Dhcp),
            _ if text.contains(['.', '/']) => Ipv4Cidr::parse(text).map(Self::Static),
            _ => Err(format!(
                "`{text}` is not an IPv4 setting; use `dhcp`, `off` or an address with prefix such as `192.0.2.10/24`{}",
                super::suggest::did_you_mean(text, ["dhcp", "off"])
            )),
        }
    }
}

impl Ipv6Config {
    /// Parses `off`, `auto` or an address with prefix.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "off" => Ok(Self::Off),
            "auto" => Ok(Self::Auto),
            _ if text.contains(':') => Ipv6Cidr::parse(text).map(Self::Static),
            _ => Err(format!(
                "`{text}` is not an IPv6 setting; use `auto`, `off` or an address with prefix such as `2001:db8::3/64`{}",
                super::suggest::did_you_mean(text, ["auto", "off"])
            )),
        }
    }
}

/// True for addresses a node cannot be given or route through.
pub fn is_unusable(address: IpAddr) -> bool {
    address.is_unspecified() || address.is_multicast() || address.is_loopback()
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

impl fmt::Display for Ipv6Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

impl fmt::Display for Ipv4Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Off => f.write_str("off"),
            Self::Dhcp => f.write_str("dhcp"),
            Self::Static(cidr) => cidr.fmt(f),
        }
    }
}

impl fmt::Display for Ipv6Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Off => f.write_str("off"),
            Self::Auto => f.write_str("auto"),
            Self::Static(cidr) => cidr.fmt(f),
        }
    }
}

macro_rules! serialize_as_display {
    ($($t:ty),*) => {$(
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    )*};
}
serialize_as_display!(Ipv4Cidr, Ipv6Cidr, Ipv4Config, Ipv6Config);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_settings() {
        assert_eq!(Ipv6Config::parse("auto"), Ok(Ipv6Config::Auto));
        let Ok(Ipv6Config::Static(cidr)) = Ipv6Config::parse("2001:db8:0:82::3/64") else {
            panic!("static address not parsed");
        };
        assert_eq!(cidr.prefix, 64);
        assert!(cidr.contains("2001:db8:0:82::1".parse().unwrap()));
        assert!(!cidr.contains("2001:db8:0:83::1".parse().unwrap()));
        let Ok(Ipv4Config::Static(v4)) = Ipv4Config::parse("192.0.2.10/24") else {
            panic!("static IPv4 not parsed");
        };
        assert!(v4.contains("192.0.2.1".parse().unwrap()));
        assert!(!v4.contains("192.0.3.1".parse().unwrap()));
        assert!(
            Ipv4Cidr::parse("192.0.2.10/0")
                .unwrap()
                .contains("203.0.113.1".parse().unwrap())
        );
    }

    #[test]
    fn refusals_explain() {
        assert!(
            Ipv6Config::parse("2001:db8::3")
                .unwrap_err()
                .contains("no prefix length")
        );
        assert!(
            Ipv6Config::parse("2001:db8::3/129")
                .unwrap_err()
                .contains("0–128")
        );
        assert!(
            Ipv6Config::parse("2001:db8::zz/64")
                .unwrap_err()
                .contains("not an IPv6 address")
        );
        assert!(
            Ipv6Config::parse("atuo")
                .unwrap_err()
                .contains("did you mean `auto`")
        );
        assert!(
            Ipv4Config::parse("dchp")
                .unwrap_err()
                .contains("did you mean `dhcp`")
        );
        assert!(
            Ipv4Config::parse("192.0.2.300/24")
                .unwrap_err()
                .contains("not an IPv4")
        );
    }
}
