//! The web server settings checked by the servers themselves: the written nginx, apache2 and
//! lighttpd files and the PHP-FPM pool drop-in are put beside the host's packaged
//! configuration (or a fixture that includes them) and tested with `nginx -t`,
//! `apache2ctl configtest`, `lighttpd -tt` and `php-fpm -t`. Each test also breaks the
//! written file once, to prove the checker really read it.

use std::fs;
use std::path::Path;
use std::process::Command;

use pi_imager::node::web::{
    self, APACHE_CONF_LINK, APACHE_CONF_PATH, LIGHTTPD_CONF_LINK, LIGHTTPD_CONF_PATH,
    NGINX_HEADERS_PATH, NGINX_SITE_LINK, NGINX_SITE_PATH, POOL_FILE,
};
use pi_imager::profile::Generation;
use pi_imager::tree::Tree;

use super::node_tree_fixture::{Written, check, export, output, profile, read, run_part, tree};

/// The PHP version of the host's php-fpm package (Debian's `php-fpm` depends on one).
fn php_version() -> String {
    let mut versions: Vec<String> = fs::read_dir("/etc/php")
        .expect("php-fpm is not installed (see .ci/install-deps)")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|v| Path::new(&format!("/etc/php/{v}/fpm/pool.d/www.conf")).exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .expect("php-fpm is not installed (see .ci/install-deps)")
}

/// Runs `web::apply` for `server` with PHP and two headers (one with quotes and a `%`).
fn written(dir: &Path, server: &str) -> (Tree, Written) {
    let php = php_version();
    let profile = profile(
        dir,
        &format!(
            "[system]\nhostname = \"blog-pi3\"\n\n[web]\nserver = \"{server}\"\nphp = \"{php}\"\nphp_max_children = \"auto\"\nheaders = {{ \"X-Served-By\" = \"Raspberry Pi 3\", \"X-Note\" = \"100% \\\"real\\\"\" }}\n"
        ),
    );
    let pool = format!("etc/php/{php}/fpm/pool.d/www.conf");
    let mut root = tree(&[
        (&pool, b"[www]\n", 0o644),
        ("etc/nginx/nginx.conf.dpkg-new", b"", 0o644),
        ("etc/apache2/apache2.conf", b"", 0o644),
        ("etc/lighttpd/lighttpd.conf", b"", 0o644),
    ]);
    let mut boot = tree(&[]);
    let out = run_part(
        &profile,
        Generation::Bookworm,
        &mut root,
        &mut boot,
        |r, _, c, n| web::apply(r, c, n),
    );
    (root, out)
}

fn copy_dir(from: &str, to: &Path) {
    check(Command::new("cp").arg("-a").arg(from).arg(to));
}

#[test]
fn nginx_accepts_the_headers_and_the_php_site() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, out) = written(tmp.path(), "nginx");
    assert!(out.notes.iter().any(|n| n.contains("pm.max_children = 12")));
    let conf = tmp.path().join("nginx");
    export(
        &root,
        NGINX_HEADERS_PATH,
        &conf.join("conf.d/pi-imager-headers.conf"),
    );
    // The link's target, as nginx would read it through sites-enabled/default.
    fs::create_dir_all(conf.join("sites-enabled")).unwrap();
    fs::write(
        conf.join("sites-enabled/default"),
        read(&root, NGINX_SITE_LINK),
    )
    .unwrap();
    assert_eq!(read(&root, NGINX_SITE_LINK), read(&root, NGINX_SITE_PATH));
    fs::copy("/etc/nginx/fastcgi.conf", conf.join("fastcgi.conf"))
        .expect("nginx is not installed (see .ci/install-deps)");
    let c = conf.display();
    fs::write(
        conf.join("nginx.conf"),
        format!(
            "pid {c}/nginx.pid;\nerror_log {c}/error.log;\nevents {{}}\nhttp {{\n\taccess_log off;\n\tinclude {c}/conf.d/*.conf;\n\tinclude {c}/sites-enabled/*;\n}}\n"
        ),
    )
    .unwrap();
    let nginx_t = |conf: &Path| {
        output(
            Command::new("nginx")
                .arg("-t")
                .arg("-p")
                .arg(conf)
                .arg("-c")
                .arg(conf.join("nginx.conf")),
        )
    };
    let ok = nginx_t(&conf);
    assert!(
        ok.status.success(),
        "nginx -t: {}",
        String::from_utf8_lossy(&ok.stderr)
    );
    fs::write(
        conf.join("conf.d/broken.conf"),
        "add_header X \"y\" sometimes;\n",
    )
    .unwrap();
    assert!(
        !nginx_t(&conf).status.success(),
        "nginx -t did not read conf.d"
    );
}

#[test]
fn nginx_accepts_them_in_debians_own_configuration() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, _) = written(tmp.path(), "nginx");
    assert!(
        Path::new("/etc/nginx/nginx.conf").exists(),
        "nginx is not installed (see .ci/install-deps)"
    );
    let conf = tmp.path().join("nginx");
    copy_dir("/etc/nginx", &conf);
    let main = conf.join("nginx.conf");
    let text = fs::read_to_string(&main)
        .unwrap()
        .replace("/etc/nginx/", &format!("{}/", conf.display()));
    fs::write(&main, text).unwrap();
    export(
        &root,
        NGINX_HEADERS_PATH,
        &conf.join("conf.d/pi-imager-headers.conf"),
    );
    // pi-imager's site takes the package's default link; both listen as default_server, so
    // a leftover default site would make nginx -t fail.
    let _ = fs::remove_file(conf.join("sites-enabled/default"));
    fs::write(
        conf.join("sites-enabled/default"),
        read(&root, NGINX_SITE_PATH),
    )
    .unwrap();
    let ok = output(Command::new("nginx").arg("-t").arg("-c").arg(&main));
    assert!(
        ok.status.success(),
        "nginx -t: {}",
        String::from_utf8_lossy(&ok.stderr)
    );
    fs::copy(
        conf.join("sites-available/default"),
        conf.join("sites-enabled/package-default"),
    )
    .unwrap();
    let both = output(Command::new("nginx").arg("-t").arg("-c").arg(&main));
    assert!(
        String::from_utf8_lossy(&both.stderr).contains("duplicate default server"),
        "two default servers were accepted: {}",
        String::from_utf8_lossy(&both.stderr)
    );
}

#[test]
fn apache2_configtest_accepts_the_conf_and_module_links() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, _) = written(tmp.path(), "apache2");
    let conf = tmp.path().join("apache2");
    assert!(
        Path::new("/etc/apache2/apache2.conf").exists(),
        "apache2 is not installed (see .ci/install-deps)"
    );
    copy_dir("/etc/apache2", &conf);
    let rel = |p: &str| conf.join(p.trim_start_matches("/etc/apache2/"));
    export(&root, APACHE_CONF_PATH, &rel(APACHE_CONF_PATH));
    export(&root, APACHE_CONF_LINK, &rel(APACHE_CONF_LINK));
    for module in [
        "headers.load",
        "proxy.load",
        "proxy.conf",
        "proxy_fcgi.load",
    ] {
        let link = format!("/etc/apache2/mods-enabled/{module}");
        export(&root, &link, &rel(&link));
    }
    let configtest = || {
        output(
            Command::new("apache2ctl")
                .arg("configtest")
                .env("APACHE_CONFDIR", &conf),
        )
    };
    let ok = configtest();
    assert!(
        ok.status.success(),
        "apache2ctl configtest: {}",
        String::from_utf8_lossy(&ok.stderr)
    );
    // Without the module links mod_headers' directive is unknown: the links are read.
    fs::remove_file(rel("/etc/apache2/mods-enabled/headers.load")).unwrap();
    assert!(
        !configtest().status.success(),
        "apache2 did not read the conf"
    );
}

#[test]
fn lighttpd_accepts_the_conf() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, _) = written(tmp.path(), "lighttpd");
    let conf = tmp.path().join("lighttpd");
    assert!(
        Path::new("/etc/lighttpd/lighttpd.conf").exists(),
        "lighttpd is not installed (see .ci/install-deps)"
    );
    copy_dir("/etc/lighttpd", &conf);
    let main = conf.join("lighttpd.conf");
    let text = fs::read_to_string(&main)
        .unwrap()
        .replace("\"/etc/lighttpd/", &format!("\"{}/", conf.display()));
    fs::write(&main, text).unwrap();
    let rel = |p: &str| conf.join(p.trim_start_matches("/etc/lighttpd/"));
    export(&root, LIGHTTPD_CONF_PATH, &rel(LIGHTTPD_CONF_PATH));
    export(&root, LIGHTTPD_CONF_LINK, &rel(LIGHTTPD_CONF_LINK));
    let test = || output(Command::new("lighttpd").arg("-tt").arg("-f").arg(&main));
    let ok = test();
    assert!(
        ok.status.success(),
        "lighttpd -tt: {}{}",
        String::from_utf8_lossy(&ok.stdout),
        String::from_utf8_lossy(&ok.stderr)
    );
    fs::write(
        rel(LIGHTTPD_CONF_PATH),
        "setenv.add-response-header += ( \"X\" => )\n",
    )
    .unwrap();
    assert!(!test().status.success(), "lighttpd did not read the conf");
}

#[test]
fn php_fpm_accepts_the_pool_drop_in() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, _) = written(tmp.path(), "nginx");
    let conf = tmp.path().join("fpm");
    let php = php_version();
    let packaged = format!("/etc/php/{php}/fpm/pool.d/www.conf");
    fs::create_dir_all(conf.join("pool.d")).unwrap();
    fs::copy(&packaged, conf.join("pool.d/www.conf"))
        .expect("php-fpm is not installed (see .ci/install-deps)");
    let ours = format!("/etc/php/{php}/fpm/pool.d/{POOL_FILE}");
    export(&root, &ours, &conf.join("pool.d").join(POOL_FILE));
    let c = conf.display();
    fs::write(
        conf.join("php-fpm.conf"),
        format!("[global]\npid = {c}/php-fpm.pid\nerror_log = {c}/php-fpm.log\ninclude = {c}/pool.d/*.conf\n"),
    )
    .unwrap();
    let test = || {
        output(
            Command::new(format!("php-fpm{php}"))
                .arg("-t")
                .arg("-y")
                .arg(conf.join("php-fpm.conf")),
        )
    };
    let ok = test();
    assert!(
        ok.status.success(),
        "php-fpm -t: {}{}",
        String::from_utf8_lossy(&ok.stdout),
        String::from_utf8_lossy(&ok.stderr)
    );
    // More spare servers than children must be refused: the drop-in is really read.
    let pool = conf.join("pool.d").join(POOL_FILE);
    let text = fs::read_to_string(&pool).unwrap() + "pm.max_spare_servers = 99\n";
    fs::write(&pool, text).unwrap();
    assert!(!test().status.success(), "php-fpm did not read the drop-in");
}
