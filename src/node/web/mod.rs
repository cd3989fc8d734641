//! The web server of `[web]`: the profile's response headers in the server's own
//! configuration, PHP-FPM wired in when `php` is set, and FPM's pool sized for the board.
//!
//! Every file written is one the packages do not own (a `conf.d`/`conf-available` file, a
//! site of pi-imager's, a pool drop-in read after the package's `www.conf`), so package
//! upgrades keep both the package's files and ours. Links enable them, as `a2enconf`,
//! `lighty-enable-mod` and Debian's nginx layout do. This module does not install the
//! server or PHP (the package stage does) and does not write site content.

mod apache2;
mod lighttpd;
mod nginx;
mod php;

pub use apache2::{APACHE_CONF_LINK, APACHE_CONF_PATH};
pub use lighttpd::{LIGHTTPD_CONF_LINK, LIGHTTPD_CONF_PATH};
pub use nginx::{NGINX_HEADERS_PATH, NGINX_SITE_LINK, NGINX_SITE_PATH};
pub use php::{CHILD_BUDGET, Fpm, FpmSizing, OS_RESERVE, POOL_FILE, size_children};

use super::{EditError, Editor, NodeContext};
use crate::profile::WebServer;

/// Why the web server could not be configured.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// A file could not be read or written.
    #[error(transparent)]
    Edit(#[from] EditError),
    /// A header value nginx would expand as a variable.
    #[error(
        "header `{name}`: nginx reads `$` in `{value}` as a variable, and has no escape for it; remove the `$` from the value"
    )]
    NginxVariable {
        /// The header name.
        name: String,
        /// Its value.
        value: String,
    },
    /// The web server is not in the image.
    #[error(
        "[web] server = \"{server}\", but the image has no {dir}; add `{package}` to packages.install"
    )]
    NoServer {
        /// The server.
        server: WebServer,
        /// Its configuration directory.
        dir: &'static str,
        /// The package that provides it.
        package: &'static str,
    },
    /// PHP-FPM of the asked version is not in the image.
    #[error(
        "[web] php = \"{version}\", but the image has no PHP-FPM {version} (no /etc/php/{version}/fpm); add `php{version}-fpm` to packages.install"
    )]
    NoPhp {
        /// The version asked for.
        version: String,
    },
}

/// Writes the web server's headers and PHP wiring; the PHP-FPM sizing goes to `notes`.
pub fn apply(
    root: &mut Editor,
    ctx: &NodeContext,
    notes: &mut Vec<String>,
) -> Result<(), WebError> {
    let Some(web) = ctx.profile.web() else {
        return Ok(());
    };
    let (dir, package) = match web.server {
        WebServer::Nginx => ("/etc/nginx", "nginx-light"),
        WebServer::Apache2 => ("/etc/apache2", "apache2"),
        WebServer::Lighttpd => ("/etc/lighttpd", "lighttpd"),
    };
    // The package's own files may still be `.dpkg-new` (configured at first boot), but its
    // directory is there once it is unpacked.
    if !root.inode(dir)?.is_some_and(|i| i.is_dir()) {
        return Err(WebError::NoServer {
            server: web.server,
            dir,
            package,
        });
    }
    let fpm = match &web.php {
        Some(version) => Some(php::apply(root, ctx, version, web.php_max_children, notes)?),
        None => None,
    };
    let headers = &ctx.node.headers;
    match web.server {
        WebServer::Nginx => nginx::apply(root, headers, fpm.as_ref(), notes),
        WebServer::Apache2 => apache2::apply(root, headers, fpm.as_ref()),
        WebServer::Lighttpd => lighttpd::apply(root, headers, fpm.as_ref()),
    }
}

/// `text` as a double-quoted string with `"` and `\` escaped (the quoting nginx, apache2 and
/// lighttpd share).
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use crate::node::sample_base::{Fixture, jessie};

    #[test]
    fn a_server_the_image_lacks_is_named() {
        let profile = "[web]\nserver = \"apache2\"\nheaders = { \"X-A\" = \"b\" }\n";
        let mut fx = Fixture::with_profile(jessie(), profile);
        let err = fx
            .apply(|root, _, ctx, notes| super::apply(root, ctx, notes).map_err(|e| e.to_string()))
            .unwrap_err();
        assert!(
            err.contains("/etc/apache2") && err.contains("`apache2`"),
            "{err}"
        );
        let profile = "[web]\nserver = \"nginx\"\nphp = \"7.4\"\n";
        let mut fx = Fixture::with_profile(jessie(), profile);
        let err = fx
            .apply(|root, _, ctx, notes| super::apply(root, ctx, notes).map_err(|e| e.to_string()))
            .unwrap_err();
        assert!(err.contains("php7.4-fpm"), "{err}");
    }
}
