//! nginx: the profile's headers as `add_header … always;` in `conf.d` (the `http` level, so
//! every site inherits them), and, with PHP, a site of pi-imager's that passes `.php` to
//! PHP-FPM.
//!
//! The site takes the place of the package's default site by taking its *link*:
//! `sites-enabled/default` points at `sites-available/pi-imager`. The package's own
//! `sites-available/default` is left untouched, and nginx-common's postinst, which recreates
//! `sites-enabled/default` on a first configuration when it is missing, finds it present.
//! This module does not check the configuration (the tests run `nginx -t` on it).

use super::{Editor, Fpm, WebError, quoted};
use crate::apt::status::StatusFile;
use crate::apt::version::Version;
use std::collections::BTreeMap;

/// The headers file (read by Debian's `nginx.conf` in the `http` block).
pub const NGINX_HEADERS_PATH: &str = "/etc/nginx/conf.d/pi-imager-headers.conf";
/// pi-imager's site.
pub const NGINX_SITE_PATH: &str = "/etc/nginx/sites-available/pi-imager";
/// The link that enables it, in place of the package's default site.
pub const NGINX_SITE_LINK: &str = "/etc/nginx/sites-enabled/default";

/// `add_header`'s `always` parameter (headers on error responses too) came in nginx 1.7.5;
/// jessie's 1.6.2 refuses it.
const ALWAYS_SINCE: &str = "1.7.5";

/// The headers file's text.
pub fn headers_text(headers: &BTreeMap<String, String>, always: bool) -> Result<String, WebError> {
    let mut text = String::from(
        "# Written by pi-imager from the profile's [web] headers.\n\
         # A server or location with add_header lines of its own does not inherit these.\n",
    );
    for (name, value) in headers {
        if value.contains('$') {
            return Err(WebError::NginxVariable {
                name: name.clone(),
                value: value.clone(),
            });
        }
        let always = if always { " always" } else { "" };
        text.push_str(&format!("add_header {name} {}{always};\n", quoted(value)));
    }
    Ok(text)
}

/// pi-imager's site: Debian's default document root, PHP passed to `fpm`.
pub fn site_text(fpm: &Fpm) -> String {
    format!(
        "# Written by pi-imager: the node's site, PHP {version} through PHP-FPM.\n\
         # Enabled by the sites-enabled/default link in place of the package's default site.\n\
         server {{\n\
         \tlisten 80 default_server;\n\
         \tlisten [::]:80 default_server;\n\
         \tserver_name _;\n\
         \troot /var/www/html;\n\
         \tindex index.php index.html index.htm;\n\
         \n\
         \tlocation / {{\n\
         \t\ttry_files $uri $uri/ =404;\n\
         \t}}\n\
         \n\
         \tlocation ~ \\.php$ {{\n\
         \t\tfastcgi_split_path_info ^(.+?\\.php)(/.*)$;\n\
         \t\t# A request for a .php file that does not exist never reaches PHP.\n\
         \t\ttry_files $fastcgi_script_name =404;\n\
         \t\tset $path_info $fastcgi_path_info;\n\
         \t\tfastcgi_param PATH_INFO $path_info;\n\
         \t\tfastcgi_index index.php;\n\
         \t\tinclude fastcgi.conf;\n\
         \t\tfastcgi_pass unix:{socket};\n\
         \t}}\n\
         }}\n",
        version = fpm.version,
        socket = fpm.socket,
    )
}

/// The version of nginx in the image's dpkg database, if any.
fn installed_version(root: &Editor) -> Result<Option<Version>, WebError> {
    let Some(text) = root.read_text("/var/lib/dpkg/status")? else {
        return Ok(None);
    };
    let Ok(status) = StatusFile::parse(&text, "/var/lib/dpkg/status") else {
        return Ok(None);
    };
    Ok([
        "nginx-common",
        "nginx",
        "nginx-light",
        "nginx-core",
        "nginx-full",
    ]
    .iter()
    .find_map(|name| status.find(name, None)?.version().cloned()))
}

pub(super) fn apply(
    root: &mut Editor,
    headers: &BTreeMap<String, String>,
    fpm: Option<&Fpm>,
    notes: &mut Vec<String>,
) -> Result<(), WebError> {
    if !headers.is_empty() {
        let always = match (installed_version(root)?, Version::parse(ALWAYS_SINCE)) {
            (Some(installed), Ok(since)) if installed < since => {
                notes.push(format!(
                    "nginx {installed} predates `add_header … always` ({ALWAYS_SINCE}): the headers are sent on successful responses only."
                ));
                false
            }
            _ => true,
        };
        root.write(NGINX_HEADERS_PATH, headers_text(headers, always)?, 0o644)?;
    }
    if let Some(fpm) = fpm {
        root.write(NGINX_SITE_PATH, site_text(fpm), 0o644)?;
        root.symlink(NGINX_SITE_LINK, NGINX_SITE_PATH)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::sample_base::{Fixture, bookworm, jessie};
    use crate::node::web;

    #[test]
    fn bookworm_headers_always_and_php_site() {
        let mut fx = Fixture::new(bookworm());
        fx.apply(|root, _boot, ctx, notes| web::apply(root, ctx, notes).map_err(|e| e.to_string()))
            .unwrap();
        let headers = fx.text(NGINX_HEADERS_PATH);
        assert!(headers.contains("add_header X-Clacks-Overhead \"GNU Terry Pratchett\" always;\n"));
        assert!(
            fx.text(NGINX_SITE_PATH)
                .contains("fastcgi_pass unix:/run/php/php8.2-fpm.sock;")
        );
        assert_eq!(fx.link(NGINX_SITE_LINK), NGINX_SITE_PATH);
        assert_eq!(fx.text("/etc/nginx/sites-available/default"), "server {}\n");
        let pool = fx.text("/etc/php/8.2/fpm/pool.d/zz-pi-imager.conf");
        assert!(pool.contains("pm.max_children = 12\n"), "{pool}");
        assert!(fx.notes.iter().any(|n| n.contains("pm.max_children = 12")));
    }

    #[test]
    fn jessie_nginx_has_no_always_and_php5_layout() {
        let profile = "[web]\nserver = \"nginx\"\nphp = \"5.6\"\nheaders = { \"X-A\" = \"b\" }\n";
        let mut fx = Fixture::with_profile(jessie(), profile);
        fx.apply(|root, _boot, ctx, notes| web::apply(root, ctx, notes).map_err(|e| e.to_string()))
            .unwrap();
        assert_eq!(
            fx.text(NGINX_HEADERS_PATH).lines().last(),
            Some("add_header X-A \"b\";")
        );
        assert!(
            fx.text(NGINX_SITE_PATH)
                .contains("unix:/var/run/php5-fpm.sock;")
        );
        assert!(fx.exists("/etc/php5/fpm/pool.d/zz-pi-imager.conf"));
        assert!(fx.notes.iter().any(|n| n.contains("predates")));
    }

    #[test]
    fn dollar_in_a_value_is_refused() {
        let mut h = BTreeMap::new();
        h.insert("X-A".to_owned(), "costs $5".to_owned());
        assert!(matches!(
            headers_text(&h, true),
            Err(WebError::NginxVariable { .. })
        ));
        h.insert("X-A".to_owned(), "say \"hi\" \\o/".to_owned());
        assert!(
            headers_text(&h, true)
                .unwrap()
                .contains(r#""say \"hi\" \\o/" always;"#)
        );
    }
}
