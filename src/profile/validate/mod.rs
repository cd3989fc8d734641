//! From [`RawProfile`] to [`Profile`]: every key checked, every problem reported.
//!
//! Validation runs over the whole file even after a problem, so one run of `check` lists all
//! of them. Each section has its own file; they share the small [`Ctx`] helper that turns a
//! check's message into a located diagnostic. Nothing here reads the network or the base
//! image: what can only be known from them is checked when building.

mod inputs;
mod nodes;
mod system;

use std::ops::Range;
use std::path::Path;

use toml::Spanned;

use super::diagnostic::Diagnostics;
use super::model::{Keyword, Profile};
use super::raw::{RawProfile, Str};
use super::suggest::{did_you_mean, one_of};

/// Validation state: where diagnostics go, and the folder relative paths start from.
pub(super) struct Ctx<'d, 's> {
    diags: &'d mut Diagnostics<'s>,
    dir: &'d Path,
}

impl Ctx<'_, '_> {
    fn error(&mut self, span: Range<usize>, key: &str, message: impl Into<String>) {
        self.diags.error(span, key, message);
    }

    fn warning(&mut self, span: Range<usize>, key: &str, message: impl Into<String>) {
        self.diags.warning(span, key, message);
    }

    /// Reports a required key that is absent from the table at `span`.
    fn missing(&mut self, span: Range<usize>, key: &str, hint: &str) {
        self.error(span, key, format!("`{}` is required{hint}", leaf(key)));
    }

    /// Runs `check` on a string value; its error becomes a diagnostic at the value.
    fn parse<T>(
        &mut self,
        value: &Str,
        key: &str,
        check: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        match check(value.get_ref()) {
            Ok(parsed) => Some(parsed),
            Err(message) => {
                self.error(value.span(), key, message);
                None
            }
        }
    }

    /// Like [`Ctx::parse`] for an optional value.
    fn parse_opt<T>(
        &mut self,
        value: &Option<Str>,
        key: &str,
        check: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        value.as_ref().and_then(|v| self.parse(v, key, check))
    }

    /// A keyword from a closed set, with "did you mean" for near misses.
    fn keyword<K: Keyword>(&mut self, value: &Str, key: &str) -> Option<K> {
        self.parse(value, key, |text| {
            K::from_keyword(text).ok_or_else(|| {
                let hint = did_you_mean(text, K::KEYWORDS.iter().copied());
                if hint.is_empty() {
                    format!("`{text}` is not one of {}", one_of(K::KEYWORDS))
                } else {
                    format!("`{text}` is not one of {}{hint}", one_of(K::KEYWORDS))
                }
            })
        })
    }

    /// Checks each element of a string list, reporting duplicates.
    fn list<T>(
        &mut self,
        values: &Option<Spanned<Vec<Str>>>,
        key: &str,
        mut check: impl FnMut(&mut Self, &Str, &str) -> Option<T>,
    ) -> Vec<T> {
        let Some(values) = values else {
            return Vec::new();
        };
        let mut seen: Vec<&str> = Vec::new();
        let mut out = Vec::new();
        for (i, value) in values.get_ref().iter().enumerate() {
            let item_key = format!("{key}[{i}]");
            if seen.contains(&value.get_ref().as_str()) {
                self.error(
                    value.span(),
                    &item_key,
                    format!("`{}` is listed twice", value.get_ref()),
                );
                continue;
            }
            seen.push(value.get_ref());
            if let Some(parsed) = check(self, value, &item_key) {
                out.push(parsed);
            }
        }
        out
    }
}

/// The last segment of a key path: `name` for `node[1].name`.
fn leaf(key: &str) -> &str {
    key.rsplit('.').next().unwrap_or(key)
}

/// The span of an optional section, or of the whole file when it is absent.
fn span_of<T>(section: &Option<Spanned<T>>) -> Range<usize> {
    section.as_ref().map_or(0..0, Spanned::span)
}

/// Checks every key of `raw`. Returns the profile when no error was found; the diagnostics
/// (errors and warnings) are in `diags` either way.
pub fn validate(raw: &RawProfile, path: &Path, diags: &mut Diagnostics<'_>) -> Option<Profile> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let mut ctx = Ctx { diags, dir };
    let image = inputs::image(&mut ctx, raw);
    let base = inputs::base(&mut ctx, raw);
    let repositories = inputs::repositories(&mut ctx, raw);
    let packages = inputs::packages(&mut ctx, raw, &repositories);
    let swap = system::swap(&mut ctx, raw);
    let mounts = system::mounts(&mut ctx, raw);
    let system = system::system(&mut ctx, raw);
    let users = system::users(&mut ctx, raw);
    let ssh = system::ssh(&mut ctx, raw, &users);
    let web = system::web(&mut ctx, raw, &packages);
    let server = inputs::server(&mut ctx, raw);
    let overlays = inputs::overlays(&mut ctx, raw);
    let nodes = nodes::nodes(&mut ctx, raw);
    let mirrors = inputs::mirrors(&mut ctx, raw);
    if ctx.diags.has_errors() {
        return None;
    }
    Some(Profile {
        path: path.to_path_buf(),
        image: image?,
        base: base?,
        repositories,
        packages,
        swap,
        mounts,
        system,
        users,
        ssh,
        web,
        server,
        overlays,
        nodes: nodes?,
        mirrors,
    })
}
