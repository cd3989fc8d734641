//! `pi-imager check`: validate a profile and summarise what it would build.
//!
//! The human summary is for reading; the JSON form ([`Report`]) is a stable, versioned
//! contract documented in `docs/check-json.md`: fields are only ever added, and a change in
//! meaning bumps [`REPORT_VERSION`]. Neither form prints a secret: password hashes appear
//! only as "set".

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::profile::{
    Diagnostic, Ipv4Config, Ipv6Config, Loaded, MaxChildren, Mount, Node, PackageRequest, Profile,
    ProfileError, RepositoryKey, Size, Source,
};

/// The version of the JSON report's schema.
pub const REPORT_VERSION: u32 = 1;

/// The JSON report of `check --json`.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Always `pi-imager-check`.
    pub format: &'static str,
    /// [`REPORT_VERSION`].
    pub version: u32,
    /// The profile path as given.
    pub profile: String,
    /// Whether the profile can be built.
    pub valid: bool,
    /// Errors, in file order; empty when valid.
    pub errors: Vec<Diagnostic>,
    /// Warnings, in file order.
    pub warnings: Vec<Diagnostic>,
    /// What the profile builds; absent when invalid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<Summary>,
}

/// What a valid profile builds.
#[derive(Debug, Serialize)]
pub struct Summary {
    image: ImageSummary,
    base: BaseSummary,
    repositories: Vec<RepositorySummary>,
    packages: PackagesSummary,
    swap: SwapSummary,
    users: Vec<UserSummary>,
    ssh: SshSummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    web: Option<WebSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server: Option<ServerSummary>,
    overlays: Vec<String>,
    nodes: Vec<NodeSummary>,
}

#[derive(Debug, Serialize)]
struct ImageSummary {
    name: String,
    compression: String,
    boot_size: Option<Size>,
}

#[derive(Debug, Serialize)]
struct BaseSummary {
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<String>,
    sha256: Option<String>,
    generation: Option<String>,
    rewrite_sources: BTreeMap<String, String>,
    accept_expired: bool,
    allow_weak_signatures: bool,
}

#[derive(Debug, Serialize)]
struct RepositorySummary {
    name: String,
    uri: String,
    suite: String,
    components: Vec<String>,
    priority: i16,
    key: KeySummary,
    accept_expired: bool,
    allow_weak_signatures: bool,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum KeySummary {
    File { file: String },
    Url { url: String, fingerprint: String },
}

#[derive(Debug, Serialize)]
struct PackagesSummary {
    install: Vec<PackageRequest>,
    remove: Vec<String>,
    recommends: bool,
}

#[derive(Debug, Serialize)]
struct SwapSummary {
    enabled: bool,
    zram: Option<Size>,
}

#[derive(Debug, Serialize)]
struct UserSummary {
    name: String,
    groups: Vec<String>,
    ssh_keys: usize,
    password: bool,
}

#[derive(Debug, Serialize)]
struct SshSummary {
    enabled: bool,
    password_auth: bool,
}

#[derive(Debug, Serialize)]
struct WebSummary {
    server: String,
    php: Option<String>,
    php_max_children: String,
}

#[derive(Debug, Serialize)]
struct ServerSummary {
    source: String,
    sha256: Option<String>,
    path: String,
    args: Vec<String>,
    user: String,
    memory_max: Option<Size>,
    unit: String,
}

#[derive(Debug, Serialize)]
struct NodeSummary {
    name: String,
    board: String,
    hostname: String,
    card_size: Size,
    partition_table: String,
    network: NetworkSummary,
    mounts: Vec<MountSummary>,
    headers: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
struct NetworkSummary {
    interface: String,
    renderer: String,
    ipv4: Ipv4Config,
    gateway4: Option<String>,
    ipv6: Ipv6Config,
    gateway6: Option<String>,
    dns: Vec<String>,
}

#[derive(Debug, Serialize)]
struct MountSummary {
    path: String,
    device: String,
    fstype: String,
    options: Vec<String>,
    required_by: Vec<String>,
    image: Option<MountImageSummary>,
}

#[derive(Debug, Serialize)]
struct MountImageSummary {
    size: Size,
    content: Option<String>,
}

fn path_text(p: &Path) -> String {
    p.display().to_string()
}

impl Summary {
    /// Summarises a valid profile.
    pub fn of(profile: &Profile) -> Self {
        let base = profile.base();
        let (url, file) = match &base.source {
            Source::Url(u) => (Some(u.to_string()), None),
            Source::Path(p) => (None, Some(path_text(p))),
        };
        Summary {
            image: ImageSummary {
                name: profile.image().name.clone(),
                compression: profile.image().compression.to_string(),
                boot_size: profile.image().boot_size,
            },
            base: BaseSummary {
                url,
                file,
                sha256: base.sha256.as_ref().map(|d| d.as_str().to_string()),
                generation: base.generation.map(|g| g.to_string()),
                rewrite_sources: base.rewrite_sources.iter().cloned().collect(),
                accept_expired: base.accept_expired,
                allow_weak_signatures: base.allow_weak_signatures,
            },
            repositories: profile
                .repositories()
                .iter()
                .map(|r| RepositorySummary {
                    name: r.name.clone(),
                    uri: r.uri.to_string(),
                    suite: r.suite.clone(),
                    components: r.components.clone(),
                    priority: r.priority,
                    key: match &r.key {
                        RepositoryKey::File(p) => KeySummary::File { file: path_text(p) },
                        RepositoryKey::Url { url, fingerprint } => KeySummary::Url {
                            url: url.to_string(),
                            fingerprint: fingerprint.as_str().to_string(),
                        },
                    },
                    accept_expired: r.accept_expired,
                    allow_weak_signatures: r.allow_weak_signatures,
                })
                .collect(),
            packages: PackagesSummary {
                install: profile.packages().install.clone(),
                remove: profile.packages().remove.clone(),
                recommends: profile.packages().recommends,
            },
            swap: SwapSummary {
                enabled: profile.swap().enabled,
                zram: profile.swap().zram,
            },
            users: profile
                .users()
                .iter()
                .map(|u| UserSummary {
                    name: u.name.clone(),
                    groups: u.groups.clone(),
                    ssh_keys: u.ssh_keys.len(),
                    password: u.password_hash.is_some(),
                })
                .collect(),
            ssh: SshSummary {
                enabled: profile.ssh().enabled,
                password_auth: profile.ssh().password_auth,
            },
            web: profile.web().map(|w| WebSummary {
                server: w.server.to_string(),
                php: w.php.clone(),
                php_max_children: match w.php_max_children {
                    MaxChildren::Auto => "auto".to_string(),
                    MaxChildren::Fixed(n) => n.to_string(),
                },
            }),
            server: profile.server().map(|s| ServerSummary {
                source: s.source.to_string(),
                sha256: s.sha256.as_ref().map(|d| d.as_str().to_string()),
                path: s.path.clone(),
                args: s.args.clone(),
                user: s.user.clone(),
                memory_max: s.memory_max,
                unit: s.unit.clone(),
            }),
            overlays: profile.overlays().iter().map(|p| path_text(p)).collect(),
            nodes: profile
                .nodes()
                .iter()
                .map(|n| node_summary(n, profile.mounts()))
                .collect(),
        }
    }
}

fn node_summary(node: &Node, mounts: &[Mount]) -> NodeSummary {
    let net = &node.network;
    NodeSummary {
        name: node.name.clone(),
        board: node.board.to_string(),
        hostname: node.hostname.clone(),
        card_size: node.card_size,
        partition_table: node.partition_table.to_string(),
        network: NetworkSummary {
            interface: net.interface.clone(),
            renderer: net.renderer.to_string(),
            ipv4: net.ipv4,
            gateway4: net.gateway4.map(|g| g.to_string()),
            ipv6: net.ipv6,
            gateway6: net.gateway6.map(|g| g.to_string()),
            dns: net.dns.iter().map(ToString::to_string).collect(),
        },
        mounts: mounts
            .iter()
            .map(|m| MountSummary {
                path: m.path.clone(),
                device: m.device.to_string(),
                fstype: m.fstype.clone(),
                options: m.options.clone(),
                required_by: m.required_by.clone(),
                image: m.image.as_ref().map(|i| MountImageSummary {
                    size: i.size,
                    content: i.content.as_deref().map(path_text),
                }),
            })
            .collect(),
        headers: node.headers.clone(),
    }
}

/// The JSON report for the outcome of loading `path`.
pub fn report(path: &Path, outcome: &Result<Loaded, ProfileError>) -> Report {
    let mut report = Report {
        format: "pi-imager-check",
        version: REPORT_VERSION,
        profile: path_text(path),
        valid: false,
        errors: Vec::new(),
        warnings: Vec::new(),
        summary: None,
    };
    match outcome {
        Ok(loaded) => {
            report.valid = true;
            report.warnings = loaded.warnings.clone();
            report.summary = Some(Summary::of(&loaded.profile));
        }
        Err(ProfileError::Invalid { diagnostics, .. }) => {
            let (errors, warnings) = diagnostics
                .iter()
                .cloned()
                .partition(|d| d.severity == crate::profile::Severity::Error);
            report.errors = errors;
            report.warnings = warnings;
        }
        Err(error @ ProfileError::Read { .. }) => report.errors.push(Diagnostic {
            severity: crate::profile::Severity::Error,
            line: 0,
            column: 0,
            key: String::new(),
            message: error.to_string(),
        }),
    }
    report
}

/// The human summary of a valid profile.
pub fn human(loaded: &Loaded) -> String {
    let profile = &loaded.profile;
    let mut out = String::new();
    let nodes = profile.nodes();
    let plural = if nodes.len() == 1 { "" } else { "s" };
    let _ = writeln!(
        out,
        "{}: valid, {} node{plural} of image `{}`",
        profile.path().display(),
        nodes.len(),
        profile.image().name
    );
    let base = profile.base();
    let pin = match &base.sha256 {
        Some(d) => format!("sha256 {}", d.as_str()),
        None => "sha256 pinned in the lock on first build".to_string(),
    };
    let _ = writeln!(out, "base: {} ({pin})", base.source);
    for (from, to) in &base.rewrite_sources {
        let _ = writeln!(out, "  sources: {from} -> {to}");
    }
    for r in profile.repositories() {
        let key = match &r.key {
            RepositoryKey::File(p) => format!("key {}", p.display()),
            RepositoryKey::Url { url, fingerprint } => {
                format!("key {} from {url}", fingerprint.as_str())
            }
        };
        let _ = writeln!(
            out,
            "repository {}: {} {} {} (priority {}, {key})",
            r.name,
            r.uri,
            r.suite,
            r.components.join(" "),
            r.priority
        );
    }
    let packages = profile.packages();
    if !packages.install.is_empty() {
        let names: Vec<String> = packages
            .install
            .iter()
            .map(|p| match &p.release {
                Some(release) => format!("{} (from {release})", p.name),
                None => p.name.clone(),
            })
            .collect();
        let _ = writeln!(out, "install: {}", names.join(", "));
    }
    if !packages.remove.is_empty() {
        let _ = writeln!(out, "remove: {}", packages.remove.join(", "));
    }
    let swap = profile.swap();
    let _ = writeln!(
        out,
        "swap: {}{}",
        if swap.enabled {
            "kept as in the base"
        } else {
            "off"
        },
        swap.zram.map(|z| format!(", zram {z}")).unwrap_or_default()
    );
    for user in profile.users() {
        let _ = writeln!(
            out,
            "user {}: groups {}, {} SSH key(s), password {}",
            user.name,
            if user.groups.is_empty() {
                "-".to_string()
            } else {
                user.groups.join(",")
            },
            user.ssh_keys.len(),
            if user.password_hash.is_some() {
                "set"
            } else {
                "locked"
            }
        );
    }
    let ssh = profile.ssh();
    let _ = writeln!(
        out,
        "ssh: {}",
        match (ssh.enabled, ssh.password_auth) {
            (false, _) => "off",
            (true, true) => "on, password login allowed",
            (true, false) => "on, keys only",
        }
    );
    if let Some(web) = profile.web() {
        let php = match (&web.php, web.php_max_children) {
            (None, _) => String::new(),
            (Some(v), MaxChildren::Auto) => {
                format!(" with PHP {v} FPM (max children sized from RAM)")
            }
            (Some(v), MaxChildren::Fixed(n)) => format!(" with PHP {v} FPM ({n} children)"),
        };
        let _ = writeln!(out, "web: {}{php}", web.server);
    }
    if let Some(server) = profile.server() {
        let _ = writeln!(
            out,
            "server: {} runs {} as {}{}",
            server.unit,
            server.path,
            server.user,
            server
                .memory_max
                .map(|m| format!(", MemoryMax={m}"))
                .unwrap_or_default()
        );
    }
    for overlay in profile.overlays() {
        let _ = writeln!(out, "overlay: {}", overlay.display());
    }
    for node in nodes {
        let net = &node.network;
        let _ = writeln!(
            out,
            "node {}: {}, {} card, {}, hostname {}",
            node.name, node.board, node.card_size, node.partition_table, node.hostname
        );
        let mut network = format!("  network {}: ipv4 {}", net.interface, net.ipv4);
        if let Some(gw) = net.gateway4 {
            let _ = write!(network, " via {gw}");
        }
        let _ = write!(network, ", ipv6 {}", net.ipv6);
        if let Some(gw) = net.gateway6 {
            let _ = write!(network, " via {gw}");
        }
        if !net.dns.is_empty() {
            let dns: Vec<String> = net.dns.iter().map(ToString::to_string).collect();
            let _ = write!(network, ", dns {}", dns.join(" "));
        }
        let _ = writeln!(out, "{network}");
        for m in profile.mounts() {
            let mut line = format!("  mount {} <- {} ({}", m.path, m.device, m.fstype);
            for o in &m.options {
                let _ = write!(line, ",{o}");
            }
            line.push(')');
            if !m.required_by.is_empty() {
                let _ = write!(line, ", required by {}", m.required_by.join(" "));
            }
            if let Some(image) = &m.image {
                let _ = write!(line, ", drive image {}", image.size);
            }
            let _ = writeln!(out, "{line}");
        }
        for (name, value) in &node.headers {
            let _ = writeln!(out, "  header {name}: {value}");
        }
    }
    out
}
