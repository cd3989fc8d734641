//! The profile as written: serde structures that mirror the TOML file key for key.
//!
//! Every table denies unknown keys, every leaf keeps its span so later errors can point at
//! the exact line and column, and every key is optional here: whether a key is required is
//! decided in validation, so one missing key does not hide the other errors in the file.
//! Nothing outside the `profile` module sees these types.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// A string value with its place in the file.
pub type Str = Spanned<String>;

/// The whole profile file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProfile {
    pub image: Option<Spanned<RawImage>>,
    pub base: Option<Spanned<RawBase>>,
    #[serde(default)]
    pub repository: Vec<Spanned<RawRepository>>,
    pub packages: Option<Spanned<RawPackages>>,
    pub network: Option<Spanned<RawNetwork>>,
    pub swap: Option<Spanned<RawSwap>>,
    #[serde(default)]
    pub mount: Vec<Spanned<RawMount>>,
    pub system: Option<Spanned<RawSystem>>,
    #[serde(default)]
    pub user: Vec<Spanned<RawUser>>,
    pub ssh: Option<Spanned<RawSsh>>,
    pub web: Option<Spanned<RawWeb>>,
    pub server: Option<Spanned<RawServer>>,
    pub files: Option<Spanned<RawFiles>>,
    #[serde(default)]
    pub node: Vec<Spanned<RawNode>>,
    /// `[mirrors]`: URI prefix → where the build fetches it from instead.
    pub mirrors: Option<Spanned<BTreeMap<Str, Str>>>,
}

/// `[image]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawImage {
    pub name: Option<Str>,
    pub board: Option<Str>,
    pub card_size: Option<Str>,
    pub boot_size: Option<Str>,
    pub partition_table: Option<Str>,
    pub compression: Option<Str>,
}

/// `[base]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBase {
    pub url: Option<Str>,
    pub file: Option<Str>,
    pub sha256: Option<Str>,
    pub generation: Option<Str>,
    pub rewrite_sources: Option<Spanned<BTreeMap<Str, Str>>>,
    pub valid_until: Option<Spanned<bool>>,
    pub allow_weak_signatures: Option<Spanned<bool>>,
}

/// `[[repository]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRepository {
    pub name: Option<Str>,
    pub uri: Option<Str>,
    pub suite: Option<Str>,
    pub components: Option<Spanned<Vec<Str>>>,
    /// A key file path, or `{ url = "…", fingerprint = "…" }`: checked by hand in validation
    /// so that each form gets its own error messages.
    pub key: Option<Spanned<toml::Value>>,
    pub priority: Option<Spanned<i64>>,
    pub valid_until: Option<Spanned<bool>>,
    pub allow_weak_signatures: Option<Spanned<bool>>,
}

/// `[packages]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPackages {
    pub install: Option<Spanned<Vec<Str>>>,
    pub remove: Option<Spanned<Vec<Str>>>,
    pub recommends: Option<Spanned<bool>>,
}

/// `[network]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNetwork {
    pub interface: Option<Str>,
    pub ipv4: Option<Str>,
    pub gateway4: Option<Str>,
    pub ipv6: Option<Str>,
    pub gateway6: Option<Str>,
    pub dns: Option<Spanned<Vec<Str>>>,
    pub renderer: Option<Str>,
}

/// `[swap]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSwap {
    pub enabled: Option<Spanned<bool>>,
    pub zram: Option<Str>,
}

/// `[[mount]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMount {
    pub path: Option<Str>,
    pub device: Option<Str>,
    pub fstype: Option<Str>,
    pub options: Option<Spanned<Vec<Str>>>,
    pub required_by: Option<Spanned<Vec<Str>>>,
    pub image: Option<Spanned<RawMountImage>>,
}

/// `[mount.image]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMountImage {
    pub size: Option<Str>,
    pub content: Option<Str>,
}

/// `[system]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSystem {
    pub hostname: Option<Str>,
    pub timezone: Option<Str>,
    pub locale: Option<Str>,
    /// Values may be strings or integers.
    pub sysctl: Option<Spanned<BTreeMap<Str, Spanned<toml::Value>>>>,
    pub memory_max: Option<Spanned<BTreeMap<Str, Str>>>,
}

/// `[[user]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUser {
    pub name: Option<Str>,
    pub groups: Option<Spanned<Vec<Str>>>,
    pub ssh_keys: Option<Spanned<Vec<Str>>>,
    pub password_hash: Option<Str>,
    /// A plain password is refused with its own message rather than "unknown key".
    pub password: Option<Str>,
}

/// `[ssh]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSsh {
    pub enabled: Option<Spanned<bool>>,
    pub password_auth: Option<Spanned<bool>>,
}

/// `[web]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWeb {
    pub server: Option<Str>,
    pub php: Option<Str>,
    /// `"auto"` or a positive integer.
    pub php_max_children: Option<Spanned<toml::Value>>,
    pub headers: Option<Spanned<BTreeMap<Str, Str>>>,
}

/// `[server]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub source: Option<Str>,
    pub sha256: Option<Str>,
    pub path: Option<Str>,
    pub args: Option<Spanned<Vec<Str>>>,
    pub user: Option<Str>,
    pub memory_max: Option<Str>,
}

/// `[files]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFiles {
    pub overlays: Option<Spanned<Vec<Str>>>,
}

/// `[[node]]`: only the keys a node may override.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNode {
    pub name: Option<Str>,
    pub board: Option<Str>,
    pub hostname: Option<Str>,
    pub ipv4: Option<Str>,
    pub ipv6: Option<Str>,
    pub gateway6: Option<Str>,
    pub headers: Option<Spanned<BTreeMap<Str, Str>>>,
    pub card_size: Option<Str>,
}

/// The keys a `[[node]]` may set, in the order the spec lists them.
pub const NODE_KEYS: &[&str] = &[
    "name",
    "board",
    "hostname",
    "ipv4",
    "ipv6",
    "gateway6",
    "headers",
    "card_size",
];
