//! Names a profile gives to things on the node: host, users and groups, packages, units,
//! interfaces, headers, paths. Each check returns a sentence saying what is wrong.
//!
//! The rules are those of the programs that will read the names on the node (RFC 1123 for
//! hostnames, Debian's `adduser` for users, Debian policy for packages, systemd for units),
//! so a name accepted here is never refused by the node.

use std::path::{Component, Path};

/// RFC 1123 host name: dot-separated labels of letters, digits and hyphens, each 1–63
/// characters, not starting or ending with a hyphen; 253 characters at most.
pub fn check_hostname(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 253 {
        return Err(format!(
            "`{name}` is not a host name: it must have 1 to 253 characters"
        ));
    }
    for label in name.split('.') {
        let valid = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !valid {
            return Err(format!(
                "`{name}` is not a host name (RFC 1123): use letters, digits and hyphens, in labels of at most 63 characters that do not start or end with a hyphen"
            ));
        }
    }
    Ok(())
}

/// A user or group name as Debian's `adduser` accepts it by default:
/// `^[a-z_][-a-z0-9_]*$`, at most 32 characters.
pub fn check_account_name(name: &str, what: &str) -> Result<(), String> {
    let mut bytes = name.bytes();
    let valid = name.len() <= 32
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a valid {what} name: use at most 32 lowercase letters, digits, `_` and `-`, starting with a letter or `_`"
        ))
    }
}

/// A Debian package name (policy 5.6.1): lowercase letters, digits, `+`, `-`, `.`, at least
/// two characters, starting with a letter or digit.
pub fn check_package_name(name: &str) -> Result<(), String> {
    let mut bytes = name.bytes();
    let valid = name.len() >= 2
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a Debian package name: use lowercase letters, digits, `+`, `-` and `.`, starting with a letter or digit"
        ))
    }
}

/// A suite, codename or repository name used after `/` in `pkg/release`, or as a suite.
pub fn check_release_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-._~".contains(&b));
    if valid {
        Ok(())
    } else {
        Err(format!("`{name}` is not a release or suite name"))
    }
}

/// A systemd service name, with or without `.service`.
pub fn check_unit_name(name: &str) -> Result<(), String> {
    let stem = name.strip_suffix(".service").unwrap_or(name);
    let valid = !stem.is_empty()
        && name.len() <= 255
        && stem
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":-_.\\@".contains(&b));
    if valid {
        Ok(())
    } else {
        Err(format!("`{name}` is not a systemd service name"))
    }
}

/// A Linux network interface name: 1–15 characters, no `/`, no whitespace, not `.` or `..`.
pub fn check_interface(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'/' && b != b':');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a network interface name: use 1 to 15 characters without `/`, `:` or spaces, such as `eth0`"
        ))
    }
}

/// A name that becomes part of output file names (`image.name`, `node.name`).
pub fn check_file_stem(name: &str, what: &str) -> Result<(), String> {
    let mut bytes = name.bytes();
    let valid = name.len() <= 64
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a valid {what}: it names output files, so use up to 64 lowercase letters, digits, `-` and `_`, starting with a letter or digit"
        ))
    }
}

/// A time zone name as found under `/usr/share/zoneinfo`, such as `Europe/London` or `UTC`.
/// Whether the base image has it is checked when the image is built.
pub fn check_timezone(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && !name.starts_with('/')
        && name.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_+-".contains(&b))
        });
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a time zone name: use a name such as `Europe/London` or `UTC`"
        ))
    }
}

/// A locale such as `en_GB.UTF-8`, `C.UTF-8` or `C`.
pub fn check_locale(name: &str) -> Result<(), String> {
    let (base, charset) = name.split_once('.').unwrap_or((name, ""));
    let (base, _modifier) = base.split_once('@').unwrap_or((base, ""));
    let base_ok = matches!(base, "C" | "POSIX")
        || base.split_once('_').is_some_and(|(lang, territory)| {
            (2..=3).contains(&lang.len())
                && lang.bytes().all(|b| b.is_ascii_lowercase())
                && (2..=3).contains(&territory.len())
                && territory
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        });
    let charset_ok = charset
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if base_ok && charset_ok && !name.contains(char::is_whitespace) {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a locale name: use a name such as `en_GB.UTF-8` or `C.UTF-8`"
        ))
    }
}

/// A sysctl key such as `vm.min_free_kbytes` or `net/ipv6/conf/all/forwarding`.
pub fn check_sysctl_key(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && !name.starts_with(['.', '/'])
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b))
        && !name.split(['.', '/']).any(|p| p.is_empty() || p == "..");
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a sysctl key: use a key such as `vm.min_free_kbytes`"
        ))
    }
}

/// An HTTP header field name (RFC 9110 token).
pub fn check_header_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if valid {
        Ok(())
    } else {
        Err(format!("`{name}` is not an HTTP header name"))
    }
}

/// An HTTP header value: printable text on one line. Quotes and backslashes are allowed:
/// the web server's config writer escapes them.
pub fn check_header_value(value: &str) -> Result<(), String> {
    if value.chars().any(|c| c.is_control()) {
        Err("a header value must be printable text on one line".to_string())
    } else if value.trim() != value {
        Err("a header value must not start or end with spaces".to_string())
    } else {
        Ok(())
    }
}

/// An absolute path on the node, without `..`, `.` or repeated slashes, and not `/` itself.
pub fn check_node_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!(
            "`{path}` must be an absolute path on the node, starting with `/`"
        ));
    }
    let clean = Path::new(path)
        .components()
        .all(|c| matches!(c, Component::RootDir | Component::Normal(_)))
        && !path.contains("//")
        && !path.contains("/./")
        && !path.ends_with("/.")
        && (path.len() == 1 || !path.ends_with('/'));
    if !clean {
        return Err(format!(
            "`{path}` must be a plain absolute path: no `..`, `.`, repeated or trailing `/`"
        ));
    }
    if path == "/" {
        return Err("`/` is the root filesystem itself; name a directory below it".to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames() {
        assert!(check_hostname("blog-pi3").is_ok());
        assert!(check_hostname("blog-pi3.example.org").is_ok());
        assert!(check_hostname("-blog").is_err());
        assert!(check_hostname("blog_pi3").is_err());
        assert!(check_hostname(&"a".repeat(64)).is_err());
        assert!(check_hostname("a..b").is_err());
    }

    #[test]
    fn accounts_packages_units() {
        assert!(check_account_name("pete", "user").is_ok());
        assert!(check_account_name("www-data", "group").is_ok());
        assert!(check_account_name("Pete", "user").is_err());
        assert!(check_account_name("1pete", "user").is_err());
        assert!(check_package_name("php7.0-fpm").is_ok());
        assert!(check_package_name("libstdc++6").is_ok());
        assert!(check_package_name("PHP").is_err());
        assert!(check_package_name("a").is_err());
        assert!(check_unit_name("php7.0-fpm").is_ok());
        assert!(check_unit_name("getty@tty1.service").is_ok());
        assert!(check_unit_name("bad name").is_err());
    }

    #[test]
    fn system_names() {
        assert!(check_timezone("Europe/London").is_ok());
        assert!(check_timezone("Etc/GMT+1").is_ok());
        assert!(check_timezone("../etc/passwd").is_err());
        assert!(check_locale("en_GB.UTF-8").is_ok());
        assert!(check_locale("C.UTF-8").is_ok());
        assert!(check_locale("de_DE@euro").is_ok());
        assert!(check_locale("english").is_err());
        assert!(check_sysctl_key("vm.min_free_kbytes").is_ok());
        assert!(check_sysctl_key("vm..x").is_err());
        assert!(check_interface("eth0").is_ok());
        assert!(check_interface("enx0123456789abcdef").is_err());
    }

    #[test]
    fn node_paths() {
        assert!(check_node_path("/var/www").is_ok());
        assert!(check_node_path("var/www").is_err());
        assert!(check_node_path("/var/../etc").is_err());
        assert!(check_node_path("/var/www/").is_err());
        assert!(check_node_path("/").is_err());
    }
}
