//! apache2: the profile's headers as `Header always set` and, with PHP, `.php` handed to
//! PHP-FPM through mod_proxy_fcgi, in `conf-available/pi-imager.conf`; the conf and the
//! modules it needs (headers, proxy, proxy_fcgi) enabled by the links `a2enconf` and
//! `a2enmod` would make. The package's files, and its default site, are left as they are.

use super::{Editor, Fpm, WebError, quoted};
use std::collections::BTreeMap;

/// pi-imager's apache2 configuration.
pub const APACHE_CONF_PATH: &str = "/etc/apache2/conf-available/pi-imager.conf";
/// The link that enables it.
pub const APACHE_CONF_LINK: &str = "/etc/apache2/conf-enabled/pi-imager.conf";

/// mod_headers reads `%` in a value as a format specifier (`%t`, `%{VAR}e`); `%%` is a
/// literal one.
fn header_value(value: &str) -> String {
    quoted(&value.replace('%', "%%"))
}

/// The conf's text.
pub fn conf_text(headers: &BTreeMap<String, String>, fpm: Option<&Fpm>) -> String {
    let mut text = String::from("# Written by pi-imager from the profile's [web] settings.\n");
    for (name, value) in headers {
        text.push_str(&format!(
            "Header always set {} {}\n",
            quoted(name),
            header_value(value)
        ));
    }
    if let Some(fpm) = fpm {
        text.push_str(&format!(
            "\n# PHP {version} through PHP-FPM.\n\
             <FilesMatch \".+\\.php$\">\n\
             \tSetHandler \"proxy:unix:{socket}|fcgi://localhost\"\n\
             </FilesMatch>\n\
             DirectoryIndex index.php index.html\n",
            version = fpm.version,
            socket = fpm.socket,
        ));
    }
    text
}

pub(super) fn apply(
    root: &mut Editor,
    headers: &BTreeMap<String, String>,
    fpm: Option<&Fpm>,
) -> Result<(), WebError> {
    if headers.is_empty() && fpm.is_none() {
        return Ok(());
    }
    root.write(APACHE_CONF_PATH, conf_text(headers, fpm), 0o644)?;
    root.symlink(APACHE_CONF_LINK, "../conf-available/pi-imager.conf")?;
    let mut modules = vec!["headers.load"];
    if fpm.is_some() {
        modules.extend(["proxy.load", "proxy.conf", "proxy_fcgi.load"]);
    }
    for file in modules {
        root.symlink(
            &format!("/etc/apache2/mods-enabled/{file}"),
            &format!("../mods-available/{file}"),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_is_literal_and_php_is_proxied() {
        let mut h = BTreeMap::new();
        h.insert("X-A".to_owned(), "100% \"pi\"".to_owned());
        let fpm = Fpm {
            version: "7.0".into(),
            pool_dir: String::new(),
            socket: "/run/php/php7.0-fpm.sock".into(),
            service: String::new(),
        };
        let text = conf_text(&h, Some(&fpm));
        assert!(
            text.contains("Header always set \"X-A\" \"100%% \\\"pi\\\"\"\n"),
            "{text}"
        );
        assert!(
            text.contains("SetHandler \"proxy:unix:/run/php/php7.0-fpm.sock|fcgi://localhost\"")
        );
    }
}
