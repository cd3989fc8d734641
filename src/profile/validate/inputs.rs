//! Validation of what a build reads: `[image]`'s shared keys, `[base]`, `[[repository]]`,
//! `[packages]`, `[server]` and `[files]`.

use std::collections::BTreeSet;

use toml::Spanned;

use super::Ctx;
use crate::profile::model::{
    Base, Compression, Generation, Image, Mirror, PackageRequest, Packages, Repository,
    RepositoryKey, Server,
};
use crate::profile::names::{
    check_account_name, check_file_stem, check_node_path, check_package_name, check_release_name,
    check_unit_name,
};
use crate::profile::raw::{RawProfile, RawRepository};
use crate::profile::size::Size;
use crate::profile::source::{Allowed, Expect, Fingerprint, Sha256Hex, Source};
use crate::profile::suggest::did_you_mean;

/// The smallest FAT32 boot partition `mkfs.vfat` and our writer make.
const MIN_BOOT: u64 = 33 << 20;

pub(super) fn image(ctx: &mut Ctx<'_, '_>, raw: &RawProfile) -> Option<Image> {
    let Some(section) = &raw.image else {
        ctx.missing(
            0..0,
            "image",
            "; add an [image] table with at least `name`, `board` and `card_size`",
        );
        return None;
    };
    let image = section.get_ref();
    let name = match &image.name {
        Some(v) => ctx.parse(v, "image.name", |t| {
            check_file_stem(t, "image name").map(|()| t.to_string())
        }),
        None => {
            ctx.missing(section.span(), "image.name", "; it names the output files");
            None
        }
    };
    let compression = match &image.compression {
        Some(v) => ctx.keyword::<Compression>(v, "image.compression"),
        None => Some(Compression::None),
    };
    let boot_size = ctx.parse_opt(&image.boot_size, "image.boot_size", |t| {
        let size = Size::parse(t)?;
        if size.bytes() < MIN_BOOT {
            return Err(format!(
                "{size} is too small for a FAT32 boot partition; use at least 33MiB"
            ));
        }
        if size.bytes() % (1 << 20) != 0 {
            return Err(format!(
                "{size} is not a whole number of MiB; partitions are aligned to MiB"
            ));
        }
        Ok(size)
    });
    Some(Image {
        name: name?,
        compression: compression?,
        boot_size: match (&image.boot_size, boot_size) {
            (Some(_), None) => return None,
            (_, size) => size,
        },
    })
}

pub(super) fn base(ctx: &mut Ctx<'_, '_>, raw: &RawProfile) -> Option<Base> {
    let Some(section) = &raw.base else {
        ctx.missing(
            0..0,
            "base",
            "; add a [base] table with the Raspberry Pi OS image's `url` or `file`",
        );
        return None;
    };
    let base = section.get_ref();
    let dir = ctx.dir.to_path_buf();
    let source = match (&base.url, &base.file) {
        (Some(url), None) => ctx.parse(url, "base.url", |t| {
            if !t.contains("://") {
                return Err(format!(
                    "`{t}` is not a URL; for a local image use `file = \"{t}\"`"
                ));
            }
            Source::parse(t, &dir, Allowed::AnyUrl, Expect::File)
        }),
        (None, Some(file)) => ctx.parse(file, "base.file", |t| {
            Source::parse(t, &dir, Allowed::AnyUrl, Expect::File)
        }),
        (Some(_), Some(file)) => {
            ctx.error(
                file.span(),
                "base.file",
                "give either `url` or `file`, not both",
            );
            None
        }
        (None, None) => {
            ctx.missing(
                section.span(),
                "base.url",
                " (or `file`): the Raspberry Pi OS image to start from",
            );
            None
        }
    };
    let sha256 = ctx.parse_opt(&base.sha256, "base.sha256", Sha256Hex::parse);
    let generation = match &base.generation {
        Some(v) => Some(ctx.keyword::<Generation>(v, "base.generation")?),
        None => None,
    };
    let mut rewrite_sources = Vec::new();
    if let Some(map) = &base.rewrite_sources {
        for (from, to) in map.get_ref() {
            let key = format!("base.rewrite_sources.\"{}\"", from.get_ref());
            let from_ok = ctx.parse(from, &key, check_archive_url).is_some();
            let to_ok = ctx.parse(to, &key, check_archive_url).is_some();
            if from_ok && to_ok {
                rewrite_sources.push((from.get_ref().clone(), to.get_ref().clone()));
            }
        }
        // Longest prefix first, so a more specific rewrite wins.
        rewrite_sources.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.cmp(b)));
    }
    if base.sha256.is_some() && sha256.is_none() {
        return None;
    }
    Some(Base {
        source: source?,
        sha256,
        generation,
        rewrite_sources,
        accept_expired: base.valid_until.as_ref().is_some_and(|v| !*v.get_ref()),
        allow_weak_signatures: base
            .allow_weak_signatures
            .as_ref()
            .is_some_and(|v| *v.get_ref()),
    })
}

/// `[mirrors]`: each key an apt source URI prefix, each value a URL or a local directory.
pub(super) fn mirrors(ctx: &mut Ctx<'_, '_>, raw: &RawProfile) -> Vec<Mirror> {
    let mut out = Vec::new();
    let Some(map) = &raw.mirrors else {
        return out;
    };
    for (from, to) in map.get_ref() {
        let key = format!("mirrors.\"{}\"", from.get_ref());
        let from_ok = ctx.parse(from, &key, check_archive_url).is_some();
        let dir = ctx.dir.to_path_buf();
        let target = ctx.parse(to, &key, |text| {
            Source::parse(text, &dir, Allowed::AnyUrl, Expect::Directory)
        });
        if let (true, Some(target)) = (from_ok, target) {
            out.push(Mirror {
                prefix: from.get_ref().clone(),
                target,
            });
        }
    }
    // Longest prefix first, so a more specific mirror wins.
    out.sort_by(|a, b| {
        b.prefix
            .len()
            .cmp(&a.prefix.len())
            .then(a.prefix.cmp(&b.prefix))
    });
    out
}

fn check_archive_url(text: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(text).map_err(|e| format!("`{text}` is not a valid URL: {e}"))?;
    match url.scheme() {
        "http" | "https" | "file" => Ok(url),
        other => Err(format!(
            "`{other}` URLs are not supported for apt sources; use http, https or file"
        )),
    }
}

pub(super) fn repositories(ctx: &mut Ctx<'_, '_>, raw: &RawProfile) -> Vec<Repository> {
    let mut names = BTreeSet::new();
    let mut out = Vec::new();
    for (i, section) in raw.repository.iter().enumerate() {
        let prefix = format!("repository[{i}]");
        if let Some(repo) = repository(ctx, section, &prefix) {
            if !names.insert(repo.name.clone()) {
                let span = section
                    .get_ref()
                    .name
                    .as_ref()
                    .map_or(section.span(), Spanned::span);
                ctx.error(
                    span,
                    &format!("{prefix}.name"),
                    format!("another repository is already named `{}`", repo.name),
                );
                continue;
            }
            out.push(repo);
        }
    }
    out
}

fn repository(
    ctx: &mut Ctx<'_, '_>,
    section: &Spanned<RawRepository>,
    prefix: &str,
) -> Option<Repository> {
    let repo = section.get_ref();
    let span = section.span();
    let name = match &repo.name {
        Some(v) => ctx.parse(v, &format!("{prefix}.name"), |t| {
            check_file_stem(t, "repository name").map(|()| t.to_string())
        }),
        None => {
            ctx.missing(
                span.clone(),
                &format!("{prefix}.name"),
                "; `pkg/<name>` entries refer to it",
            );
            None
        }
    };
    let uri = match &repo.uri {
        Some(v) => ctx.parse(v, &format!("{prefix}.uri"), check_archive_url),
        None => {
            ctx.missing(
                span.clone(),
                &format!("{prefix}.uri"),
                "; the archive's root URL",
            );
            None
        }
    };
    let suite = match &repo.suite {
        Some(v) => ctx.parse(v, &format!("{prefix}.suite"), |t| {
            t.split('/')
                .try_for_each(check_release_name)
                .map(|()| t.to_string())
        }),
        None => {
            ctx.missing(
                span.clone(),
                &format!("{prefix}.suite"),
                ", such as `stretch`",
            );
            None
        }
    };
    let components = match &repo.components {
        Some(list) if list.get_ref().is_empty() => {
            ctx.error(
                list.span(),
                &format!("{prefix}.components"),
                "list at least one component, such as `main`",
            );
            None
        }
        Some(_) => Some(ctx.list(
            &repo.components,
            &format!("{prefix}.components"),
            |ctx, v, key| ctx.parse(v, key, |t| check_release_name(t).map(|()| t.to_string())),
        )),
        None => {
            ctx.missing(
                span.clone(),
                &format!("{prefix}.components"),
                ", such as `[\"main\"]`",
            );
            None
        }
    };
    let key = match &repo.key {
        Some(v) => repository_key(ctx, v, &format!("{prefix}.key")),
        None => {
            ctx.missing(
                span.clone(),
                &format!("{prefix}.key"),
                ": a key file, or `{ url = \"…\", fingerprint = \"…\" }`; nothing unsigned enters an image",
            );
            None
        }
    };
    let priority = match &repo.priority {
        Some(p) => match i16::try_from(*p.get_ref()) {
            Ok(0) | Err(_) => {
                ctx.error(
                    p.span(),
                    &format!("{prefix}.priority"),
                    format!("{} is not an apt pin priority: use a non-zero number from -32768 to 32767 (base repositories have 500)", p.get_ref()),
                );
                None
            }
            Ok(p) => Some(p),
        },
        None => Some(500),
    };
    Some(Repository {
        name: name?,
        uri: uri?,
        suite: suite?,
        components: components?,
        key: key?,
        priority: priority?,
        accept_expired: repo.valid_until.as_ref().is_some_and(|v| !*v.get_ref()),
        allow_weak_signatures: repo
            .allow_weak_signatures
            .as_ref()
            .is_some_and(|v| *v.get_ref()),
    })
}

fn repository_key(
    ctx: &mut Ctx<'_, '_>,
    value: &Spanned<toml::Value>,
    key: &str,
) -> Option<RepositoryKey> {
    let dir = ctx.dir.to_path_buf();
    match value.get_ref() {
        toml::Value::String(path) => {
            if path.contains("://") {
                ctx.error(
                    value.span(),
                    key,
                    "a key fetched from a URL must be pinned: write `key = { url = \"…\", fingerprint = \"…\" }`",
                );
                return None;
            }
            match Source::parse(path, &dir, Allowed::AnyUrl, Expect::File) {
                Ok(Source::Path(p)) => Some(RepositoryKey::File(p)),
                Ok(Source::Url(_)) => None,
                Err(message) => {
                    ctx.error(value.span(), key, message);
                    None
                }
            }
        }
        toml::Value::Table(table) => {
            let mut ok = true;
            for name in table.keys() {
                if name != "url" && name != "fingerprint" {
                    let hint = did_you_mean(name, ["url", "fingerprint"]);
                    ctx.error(
                        value.span(),
                        &format!("{key}.{name}"),
                        format!("unknown key `{name}`{hint}"),
                    );
                    ok = false;
                }
            }
            let text = |field: &str| table.get(field).and_then(toml::Value::as_str);
            let url = match text("url") {
                Some(u) => match Source::parse(u, &dir, Allowed::AnyUrl, Expect::File) {
                    Ok(Source::Url(url)) => Some(url),
                    Ok(Source::Path(_)) => {
                        ctx.error(value.span(), &format!("{key}.url"), format!("`{u}` is not a URL; for a key file beside the profile write `key = \"{u}\"`"));
                        None
                    }
                    Err(message) => {
                        ctx.error(value.span(), &format!("{key}.url"), message);
                        None
                    }
                },
                None => {
                    ctx.missing(
                        value.span(),
                        &format!("{key}.url"),
                        ": where to fetch the key",
                    );
                    None
                }
            };
            let fingerprint = match text("fingerprint") {
                Some(f) => Fingerprint::parse(f)
                    .map_err(|m| ctx.error(value.span(), &format!("{key}.fingerprint"), m))
                    .ok(),
                None => {
                    ctx.missing(
                        value.span(),
                        &format!("{key}.fingerprint"),
                        ": a fetched key is accepted only if it has the fingerprint the profile pins",
                    );
                    None
                }
            };
            match (url, fingerprint, ok) {
                (Some(url), Some(fingerprint), true) => {
                    Some(RepositoryKey::Url { url, fingerprint })
                }
                _ => None,
            }
        }
        other => {
            ctx.error(
                value.span(),
                key,
                format!("expected a key file path or `{{ url = \"…\", fingerprint = \"…\" }}`, found {}", other.type_str()),
            );
            None
        }
    }
}

/// Debian and Raspbian codenames and suite names a `pkg/release` entry may name without a
/// `[[repository]]`: the base's own suites are only known once the base is read, so the build
/// checks them again against its sources.
const BASE_SUITES: &[&str] = &[
    "wheezy",
    "jessie",
    "stretch",
    "buster",
    "bullseye",
    "bookworm",
    "trixie",
    "forky",
    "duke",
    "sid",
    "oldoldstable",
    "oldstable",
    "stable",
    "testing",
    "unstable",
    "experimental",
];

fn is_base_suite(release: &str) -> bool {
    let stem = [
        "-backports",
        "-updates",
        "-security",
        "-proposed-updates",
        "-backports-sloppy",
    ]
    .iter()
    .find_map(|suffix| release.strip_suffix(suffix))
    .unwrap_or(release);
    BASE_SUITES.contains(&stem)
}

pub(super) fn packages(
    ctx: &mut Ctx<'_, '_>,
    raw: &RawProfile,
    repositories: &[Repository],
) -> Packages {
    let Some(section) = &raw.packages else {
        return Packages::default();
    };
    let packages = section.get_ref();
    let mut known: Vec<&str> = repositories.iter().map(|r| r.name.as_str()).collect();
    known.extend(repositories.iter().map(|r| r.suite.as_str()));
    let raw_names: BTreeSet<&str> = raw
        .repository
        .iter()
        .filter_map(|r| r.get_ref().name.as_ref().map(|n| n.get_ref().as_str()))
        .collect();
    let mut installed_names = BTreeSet::new();
    let install = ctx.list(&packages.install, "packages.install", |ctx, v, key| {
        let request = ctx.parse(v, key, |text| {
            let (name, release) = match text.split_once('/') {
                Some((name, release)) => (name, Some(release)),
                None => (text, None),
            };
            if let Some((n, _)) = name.split_once('=') {
                return Err(format!(
                    "`{text}` pins a version; name the package (`{n}`): versions are pinned in the lock file"
                ));
            }
            check_package_name(name)?;
            if let Some(release) = release {
                check_release_name(release)?;
                let listed = known.contains(&release) || raw_names.contains(release);
                if !listed && !is_base_suite(release) {
                    let hint = did_you_mean(release, known.iter().copied().chain(BASE_SUITES.iter().copied()));
                    return Err(format!(
                        "`{release}` names no [[repository]] and no Debian suite{hint}"
                    ));
                }
            }
            Ok(PackageRequest {
                name: name.to_string(),
                release: release.map(str::to_string),
            })
        })?;
        if !installed_names.insert(request.name.clone()) {
            ctx.error(v.span(), key, format!("`{}` is requested twice", request.name));
            return None;
        }
        Some(request)
    });
    let remove = ctx.list(&packages.remove, "packages.remove", |ctx, v, key| {
        let name = ctx.parse(v, key, |t| check_package_name(t).map(|()| t.to_string()))?;
        if installed_names.contains(&name) {
            ctx.error(
                v.span(),
                key,
                format!("`{name}` is both installed and removed"),
            );
            return None;
        }
        Some(name)
    });
    Packages {
        install,
        remove,
        recommends: packages.recommends.as_ref().is_some_and(|v| *v.get_ref()),
    }
}

pub(super) fn server(ctx: &mut Ctx<'_, '_>, raw: &RawProfile) -> Option<Server> {
    let section = raw.server.as_ref()?;
    let server = section.get_ref();
    let dir = ctx.dir.to_path_buf();
    let source = match &server.source {
        Some(v) => ctx.parse(v, "server.source", |t| {
            Source::parse(t, &dir, Allowed::SecureUrl, Expect::File)
        }),
        None => {
            ctx.missing(
                section.span(),
                "server.source",
                ": the binary's path or https URL",
            );
            None
        }
    };
    let sha256 = ctx.parse_opt(&server.sha256, "server.sha256", Sha256Hex::parse);
    if matches!(source, Some(Source::Url(_))) && server.sha256.is_none() {
        ctx.missing(
            section.span(),
            "server.sha256",
            " for a binary fetched from a URL",
        );
    }
    let default_name = source.as_ref().and_then(|s| match s {
        Source::Url(url) => url.path_segments()?.next_back().map(str::to_string),
        Source::Path(p) => p.file_name().map(|n| n.to_string_lossy().into_owned()),
    });
    let path = match &server.path {
        Some(v) => ctx.parse(v, "server.path", |t| {
            check_node_path(t).map(|()| t.to_string())
        }),
        None => default_name.as_ref().map(|n| format!("/usr/local/bin/{n}")),
    };
    let unit = path.as_ref().and_then(|p| {
        let name = p.rsplit('/').next().unwrap_or(p);
        match check_unit_name(name) {
            Ok(()) => Some(format!("{name}.service")),
            Err(message) => {
                let span = server.path.as_ref().map_or(section.span(), Spanned::span);
                ctx.error(
                    span,
                    "server.path",
                    format!("the binary's file name names its unit: {message}"),
                );
                None
            }
        }
    });
    let args = ctx.list_allow_duplicates(&server.args, "server.args");
    let user = match &server.user {
        Some(v) => ctx.parse(v, "server.user", |t| {
            check_account_name(t, "user").map(|()| t.to_string())
        }),
        None => Some("nobody".to_string()),
    };
    let memory_max = ctx.parse_opt(&server.memory_max, "server.memory_max", Size::parse);
    if server.sha256.is_some() && sha256.is_none()
        || server.memory_max.is_some() && memory_max.is_none()
    {
        return None;
    }
    Some(Server {
        source: source?,
        sha256,
        path: path?,
        args: args?,
        user: user?,
        memory_max,
        unit: unit?,
    })
}

impl Ctx<'_, '_> {
    /// A list of free-form strings (arguments) in which repeats are legitimate; only control
    /// characters that would break a unit file are refused.
    fn list_allow_duplicates(
        &mut self,
        values: &Option<Spanned<Vec<crate::profile::raw::Str>>>,
        key: &str,
    ) -> Option<Vec<String>> {
        let mut ok = true;
        let mut out = Vec::new();
        for (i, v) in values.iter().flat_map(|v| v.get_ref().iter()).enumerate() {
            if v.get_ref().chars().any(char::is_control) {
                self.error(
                    v.span(),
                    &format!("{key}[{i}]"),
                    "must be one line of printable text",
                );
                ok = false;
            }
            out.push(v.get_ref().clone());
        }
        ok.then_some(out)
    }
}

pub(super) fn overlays(ctx: &mut Ctx<'_, '_>, raw: &RawProfile) -> Vec<std::path::PathBuf> {
    let Some(section) = &raw.files else {
        return Vec::new();
    };
    let dir = ctx.dir.to_path_buf();
    ctx.list(
        &section.get_ref().overlays,
        "files.overlays",
        |ctx, v, key| match ctx.parse(v, key, |t| {
            if t.contains("://") {
                return Err("an overlay is a directory beside the profile, not a URL".to_string());
            }
            Source::parse(t, &dir, Allowed::AnyUrl, Expect::Directory)
        })? {
            Source::Path(p) => Some(p),
            Source::Url(_) => None,
        },
    )
}
