//! The checked profile: what the rest of pi-imager reads.
//!
//! A [`Profile`] is built only by validation, and only handed out by shared reference, so
//! every later stage can rely on each value having passed its checks. Fleet overrides are
//! already applied: each [`Node`] carries its effective board, card size, network and
//! headers.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::network::{Ipv4Config, Ipv6Config};
use super::size::Size;
use super::source::{Fingerprint, Sha256Hex, Source};

/// A closed set of values written as keywords in a profile.
pub trait Keyword: Copy + Sized + 'static {
    /// Every keyword, in the order the spec lists them.
    const KEYWORDS: &'static [&'static str];
    /// The keyword as written in a profile.
    fn keyword(self) -> &'static str;
    /// The value a keyword names, if any.
    fn from_keyword(text: &str) -> Option<Self>;
}

macro_rules! keyword_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant),+
        }

        impl Keyword for $name {
            const KEYWORDS: &'static [&'static str] = &[$($text),+];

            fn keyword(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            fn from_keyword(text: &str) -> Option<Self> {
                match text { $($text => Some(Self::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.keyword())
            }
        }
    };
}

keyword_enum!(
    /// A Raspberry Pi model: decides boot rules and the memory budget.
    Board {
        /// Raspberry Pi 2 Model B (1 GiB).
        Pi2 = "pi2",
        /// Raspberry Pi 3 Model B (1 GiB).
        Pi3 = "pi3",
        /// Raspberry Pi 3 Model B+ (1 GiB).
        Pi3Plus = "pi3plus",
        /// Raspberry Pi 4 Model B (1–8 GiB; budgeted as 1 GiB unless told otherwise).
        Pi4 = "pi4",
        /// Raspberry Pi 5 (2–16 GiB; budgeted as 2 GiB).
        Pi5 = "pi5",
        /// Raspberry Pi Zero 2 W (512 MiB).
        Zero2W = "zero2w",
    }
);

impl Board {
    /// Whether the board's boot ROM can boot from a GPT-partitioned card.
    pub fn boots_gpt(self) -> bool {
        matches!(self, Self::Pi4 | Self::Pi5)
    }

    /// The RAM of the smallest model of this board, for memory budgets.
    pub fn ram(self) -> Size {
        match self {
            Self::Zero2W => Size::from_bytes(512 << 20),
            Self::Pi2 | Self::Pi3 | Self::Pi3Plus | Self::Pi4 => Size::from_bytes(1 << 30),
            Self::Pi5 => Size::from_bytes(2 << 30),
        }
    }
}

keyword_enum!(
    /// The card's partition table.
    PartitionTable {
        /// MBR, which every board boots.
        Mbr = "mbr",
        /// GPT, for the Pi 4 and Pi 5 only.
        Gpt = "gpt",
    }
);

keyword_enum!(
    /// Compression of the extra image file written beside the raw `.img`.
    Compression {
        /// Only the raw image.
        None = "none",
        /// `.img.gz`.
        Gz = "gz",
        /// `.img.xz`.
        Xz = "xz",
    }
);

keyword_enum!(
    /// A Raspberry Pi OS (Raspbian) generation, named by its Debian codename.
    Generation {
        /// Debian 8, Raspbian 2015–2017.
        Jessie = "jessie",
        /// Debian 9.
        Stretch = "stretch",
        /// Debian 10.
        Buster = "buster",
        /// Debian 11.
        Bullseye = "bullseye",
        /// Debian 12.
        Bookworm = "bookworm",
        /// Debian 13.
        Trixie = "trixie",
    }
);

keyword_enum!(
    /// Which network configuration system the node's settings are written for.
    Renderer {
        /// The one the base's generation uses.
        Auto = "auto",
        /// dhcpcd (jessie to bullseye).
        Dhcpcd = "dhcpcd",
        /// ifupdown's `/etc/network/interfaces`.
        Ifupdown = "ifupdown",
        /// NetworkManager keyfiles (bookworm, trixie).
        NetworkManager = "networkmanager",
        /// systemd-networkd.
        Networkd = "networkd",
    }
);

keyword_enum!(
    /// The web server package that serves `/var/www`.
    WebServer {
        /// nginx.
        Nginx = "nginx",
        /// Apache httpd.
        Apache2 = "apache2",
        /// lighttpd.
        Lighttpd = "lighttpd",
    }
);

/// The checked profile. Fields are read through accessors, so nothing can change them.
#[derive(Debug, Clone)]
pub struct Profile {
    pub(super) path: PathBuf,
    pub(super) image: Image,
    pub(super) base: Base,
    pub(super) repositories: Vec<Repository>,
    pub(super) packages: Packages,
    pub(super) swap: Swap,
    pub(super) mounts: Vec<Mount>,
    pub(super) system: System,
    pub(super) users: Vec<User>,
    pub(super) ssh: Ssh,
    pub(super) web: Option<Web>,
    pub(super) server: Option<Server>,
    pub(super) overlays: Vec<PathBuf>,
    pub(super) nodes: Vec<Node>,
    pub(super) mirrors: Vec<Mirror>,
}

impl Profile {
    /// The profile file, as it was named when loaded.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// `[image]`.
    pub fn image(&self) -> &Image {
        &self.image
    }
    /// `[base]`.
    pub fn base(&self) -> &Base {
        &self.base
    }
    /// `[[repository]]`, in file order.
    pub fn repositories(&self) -> &[Repository] {
        &self.repositories
    }
    /// `[packages]`.
    pub fn packages(&self) -> &Packages {
        &self.packages
    }
    /// `[swap]`.
    pub fn swap(&self) -> &Swap {
        &self.swap
    }
    /// `[[mount]]`, in file order.
    pub fn mounts(&self) -> &[Mount] {
        &self.mounts
    }
    /// `[system]`, less the per-node hostname.
    pub fn system(&self) -> &System {
        &self.system
    }
    /// `[[user]]`, in file order.
    pub fn users(&self) -> &[User] {
        &self.users
    }
    /// `[ssh]`.
    pub fn ssh(&self) -> &Ssh {
        &self.ssh
    }
    /// `[web]`, less the per-node headers.
    pub fn web(&self) -> Option<&Web> {
        self.web.as_ref()
    }
    /// `[server]`.
    pub fn server(&self) -> Option<&Server> {
        self.server.as_ref()
    }
    /// `[files] overlays`, resolved, in the order they are applied.
    pub fn overlays(&self) -> &[PathBuf] {
        &self.overlays
    }
    /// Where the build fetches repositories from instead of their own URIs, longest prefix
    /// first. The image's apt configuration keeps the original URIs.
    pub fn mirrors(&self) -> &[Mirror] {
        &self.mirrors
    }

    /// The nodes to build, with their overrides applied (one named after the image when
    /// the profile has no `[[node]]`).
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }
}

/// `[image]`: what is shared by every node's image file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Output files are named `<name>-<node>.*`.
    pub name: String,
    /// The extra compressed file to write.
    pub compression: Compression,
    /// The boot partition's size; `None` keeps the base's.
    pub boot_size: Option<Size>,
}

/// `[base]`: the Raspberry Pi OS image to start from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base {
    /// Where the image comes from.
    pub source: Source,
    /// Its pinned digest, if the profile gives one (else the lock pins it).
    pub sha256: Option<Sha256Hex>,
    /// Overrides the generation read from the base's os-release.
    pub generation: Option<Generation>,
    /// URL prefixes rewritten in the base's apt sources, longest first.
    pub rewrite_sources: Vec<(String, String)>,
    /// Whether the base's own suites may have an expired `Valid-Until` (with a warning).
    pub accept_expired: bool,
    /// Whether the base's own suites may be signed with algorithms apt now rejects (SHA-1),
    /// as archived Raspbian suites are.
    pub allow_weak_signatures: bool,
}

/// How a repository's signing key is obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepositoryKey {
    /// A key file beside the profile, armored or binary.
    File(PathBuf),
    /// A key fetched at build time, accepted only if it carries this fingerprint.
    Url {
        /// Where to fetch it.
        url: url::Url,
        /// The primary key's fingerprint it must have.
        fingerprint: Fingerprint,
    },
}

/// `[[repository]]`: an extra signed apt repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    /// The name `pkg/<name>` refers to; also names its files in the image.
    pub name: String,
    /// The archive root.
    pub uri: url::Url,
    /// The suite (codename) to use.
    pub suite: String,
    /// Components such as `main`.
    pub components: Vec<String>,
    /// Its signing key.
    pub key: RepositoryKey,
    /// apt pin priority.
    pub priority: i16,
    /// Whether a Release whose `Valid-Until` has passed is accepted (with a warning).
    pub accept_expired: bool,
    /// Whether signatures with algorithms apt now rejects (SHA-1) are accepted.
    pub allow_weak_signatures: bool,
}

/// One entry of `packages.install`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackageRequest {
    /// The package name.
    pub name: String,
    /// The release after `/`, resolved as `apt-get -t <release>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
}

/// `[packages]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Packages {
    /// To install, in file order.
    pub install: Vec<PackageRequest>,
    /// To purge.
    pub remove: Vec<String>,
    /// Whether Recommends are installed too.
    pub recommends: bool,
}

/// `[swap]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Swap {
    /// Keep the base's swap arrangement; false switches every form of it off.
    pub enabled: bool,
    /// Compressed swap in RAM, never on the card.
    pub zram: Option<Size>,
}

/// How fstab names a device.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Device {
    /// `LABEL=…`
    Label(String),
    /// `UUID=…`
    Uuid(String),
    /// `PARTUUID=…`
    PartUuid(String),
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Label(l) => write!(f, "LABEL={l}"),
            Self::Uuid(u) => write!(f, "UUID={u}"),
            Self::PartUuid(p) => write!(f, "PARTUUID={p}"),
        }
    }
}

/// `[mount.image]`: the drive's own image to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountImage {
    /// The drive image's size.
    pub size: Size,
    /// A directory copied into it.
    pub content: Option<PathBuf>,
}

/// `[[mount]]`: a filesystem on another drive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Where it is mounted on the node.
    pub path: String,
    /// The device, as fstab names it.
    pub device: Device,
    /// Its filesystem type.
    pub fstype: String,
    /// Mount options added to `defaults`.
    pub options: Vec<String>,
    /// Services that must not start without it, as `<name>.service`.
    pub required_by: Vec<String>,
    /// The drive's image, when asked for.
    pub image: Option<MountImage>,
}

/// `[system]`: settings shared by every node.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct System {
    /// `Area/City`; `None` keeps the base's.
    pub timezone: Option<String>,
    /// Such as `en_GB.UTF-8`; `None` keeps the base's.
    pub locale: Option<String>,
    /// Kernel parameters for `/etc/sysctl.d/`.
    pub sysctl: BTreeMap<String, String>,
    /// `MemoryMax=` drop-ins, per service (`<name>.service`).
    pub memory_max: BTreeMap<String, Size>,
}

/// `[[user]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The login name.
    pub name: String,
    /// Supplementary groups.
    pub groups: Vec<String>,
    /// `authorized_keys` lines.
    pub ssh_keys: Vec<String>,
    /// A crypt(5) hash; `None` locks password login for the user.
    pub password_hash: Option<String>,
}

/// `[ssh]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ssh {
    /// Start sshd at boot.
    pub enabled: bool,
    /// Allow password logins.
    pub password_auth: bool,
}

/// `php_max_children`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxChildren {
    /// Sized from the board's RAM.
    Auto,
    /// A fixed number.
    Fixed(u32),
}

/// `[web]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Web {
    /// The server that serves `/var/www`.
    pub server: WebServer,
    /// The PHP version to wire in through FPM, such as `7.0`.
    pub php: Option<String>,
    /// FPM's `pm.max_children`.
    pub php_max_children: MaxChildren,
}

/// `[server]`: the node's own server binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// Where the binary comes from.
    pub source: Source,
    /// Its digest (required for a URL).
    pub sha256: Option<Sha256Hex>,
    /// Where it is installed on the node.
    pub path: String,
    /// Its command-line arguments.
    pub args: Vec<String>,
    /// The account it runs as.
    pub user: String,
    /// Its `MemoryMax=`.
    pub memory_max: Option<Size>,
    /// The systemd unit, `<name>.service`.
    pub unit: String,
}

/// `[network]` with a node's overrides applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    /// The interface configured, such as `eth0`.
    pub interface: String,
    /// IPv4 setting.
    pub ipv4: Ipv4Config,
    /// IPv4 default gateway.
    pub gateway4: Option<Ipv4Addr>,
    /// IPv6 setting.
    pub ipv6: Ipv6Config,
    /// IPv6 default gateway.
    pub gateway6: Option<Ipv6Addr>,
    /// Resolvers, in order.
    pub dns: Vec<IpAddr>,
    /// Which configuration system to write for.
    pub renderer: Renderer,
}

/// A `[mirrors]` entry: repositories whose URI starts with `prefix` are fetched from
/// `target` during the build. Safe because every file fetched is checked against signed
/// metadata; it changes where bytes come from, never which bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    /// The URI prefix as the sources name it.
    pub prefix: String,
    /// Where to fetch instead: a URL, or a local directory beside the profile.
    pub target: Source,
}

/// One node of the fleet, with its overrides applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Output files are named `<image>-<node>.*`.
    pub name: String,
    /// Its board.
    pub board: Board,
    /// Its host name.
    pub hostname: String,
    /// Its card size; the root partition fills it.
    pub card_size: Size,
    /// Its partition table.
    pub partition_table: PartitionTable,
    /// Its network.
    pub network: Network,
    /// Its web server's response headers.
    pub headers: BTreeMap<String, String>,
}
