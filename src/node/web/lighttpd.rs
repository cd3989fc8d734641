//! lighttpd: the profile's headers through mod_setenv's `setenv.add-response-header` and,
//! with PHP, `.php` handed to PHP-FPM's socket through mod_fastcgi, in
//! `conf-available/90-pi-imager.conf`, enabled by the link `lighty-enable-mod` makes. The
//! package's `15-fastcgi-php.conf` (which spawns php-cgi itself) is not used.

use super::{Editor, Fpm, WebError, quoted};
use std::collections::BTreeMap;

/// pi-imager's lighttpd configuration.
pub const LIGHTTPD_CONF_PATH: &str = "/etc/lighttpd/conf-available/90-pi-imager.conf";
/// The link that enables it.
pub const LIGHTTPD_CONF_LINK: &str = "/etc/lighttpd/conf-enabled/90-pi-imager.conf";

/// The conf's text.
pub fn conf_text(headers: &BTreeMap<String, String>, fpm: Option<&Fpm>) -> String {
    let mut text = String::from("# Written by pi-imager from the profile's [web] settings.\n");
    if !headers.is_empty() {
        let pairs: Vec<String> = headers
            .iter()
            .map(|(n, v)| format!("\t{} => {}", quoted(n), quoted(v)))
            .collect();
        text.push_str(&format!(
            "server.modules += ( \"mod_setenv\" )\nsetenv.add-response-header += (\n{}\n)\n",
            pairs.join(",\n")
        ));
    }
    if let Some(fpm) = fpm {
        text.push_str(&format!(
            "\n# PHP {version} through PHP-FPM.\n\
             server.modules += ( \"mod_fastcgi\" )\n\
             index-file.names += ( \"index.php\" )\n\
             fastcgi.server += ( \".php\" => ((\n\
             \t\"socket\" => {socket},\n\
             \t\"broken-scriptfilename\" => \"enable\"\n\
             )) )\n",
            version = fpm.version,
            socket = quoted(&fpm.socket),
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
    root.write(LIGHTTPD_CONF_PATH, conf_text(headers, fpm), 0o644)?;
    root.symlink(LIGHTTPD_CONF_LINK, "../conf-available/90-pi-imager.conf")?;
    Ok(())
}
