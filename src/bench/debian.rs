//! The Debian servers of `isola bench http` (`--server nginx`): the same
//! Debian binary and configuration in every row.
//!
//! - **The root**: `isola rootfs --packages P -o target/isola/bench/NAME-root`
//!   ([`crate::rootfs_build`], packages cached in `~/.cache/isola`), built
//!   once: later runs reuse it when its program is there. Its configuration
//!   gets one edit, the number of workers (`worker_processes W;` for
//!   nginx, `--workers`, 4 by default), rewritten at every run so that the
//!   file is Debian's but for that line.
//! - **Isola rows**: `isola run --rootfs DIR PROGRAM ARGS`; **Linux
//!   guest**: the same DIR as the guest's root ([`super::linux_guest::Guest::prepare_root_run`]).
//! - **Host row** ([`HostRoot`]): a copy of DIR (`cp -a`, so the root
//!   the guests get is never touched: the host's server writes its logs
//!   and pid file there), with a copy of the configuration whose site
//!   listens on 127.0.0.1:PORT (and [::1]:PORT where the host has IPv6
//!   loopback) instead of port 80, run as `chroot COPY PROGRAM -c CONF
//!   ARGS`. chroot needs root.
//!
//! Another server is one more [`DebianServer`] value: its packages, its
//! program and arguments, how to set its worker count, the signal that
//! stops it gracefully, and how to make the host's configuration copy.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};

/// A server from Debian packages, run from a root `isola rootfs` builds.
#[derive(Debug)]
pub struct DebianServer {
    /// `--server NAME`, and the root's directory `target/isola/bench/NAME-root`.
    pub name: &'static str,
    /// `isola rootfs --packages`.
    pub packages: &'static [&'static str],
    /// The program, a path inside the root.
    pub program: &'static str,
    /// Its arguments in every row (the host row adds [`HostConfig::args`] first).
    pub args: &'static [&'static str],
    /// The signal that stops it gracefully, master and workers.
    pub stop_signal: u32,
    /// Its configuration file (relative to the root) and the one edit:
    /// `(text, workers) -> text`.
    pub config: &'static str,
    pub set_workers: fn(&str, u32) -> Result<String, String>,
    /// What `GET /` returns, relative to the root (for the table's title).
    pub page: &'static str,
    /// The package's `changelog.Debian.gz`, whose first line names the version.
    pub changelog: &'static str,
    /// The host row's configuration copy for 127.0.0.1:`port` (and
    /// [::1]:`port` when the bool says the host has IPv6 loopback).
    pub host_config: fn(&Path, u16, bool) -> Result<HostConfig, String>,
    /// Its environment in every row (apache2's, which apache2ctl would set).
    pub env: &'static [(&'static str, &'static str)],
    /// What is done to the root after it is built, at every run (idempotent).
    pub fix_root: fn(&Path) -> Result<(), String>,
    /// Guest RAM of its rows, Isola and Linux alike (MiB).
    pub memory_mib: u32,
}

/// SIGQUIT: nginx's graceful stop.
const SIGQUIT: u32 = 3;

/// nginx 1.22 from Debian bookworm.
pub const NGINX: DebianServer = DebianServer {
    name: "nginx",
    packages: &["nginx"],
    program: "/usr/sbin/nginx",
    args: &["-g", "daemon off;"],
    stop_signal: SIGQUIT,
    config: "etc/nginx/nginx.conf",
    set_workers: nginx_workers,
    page: "var/www/html/index.nginx-debian.html",
    changelog: "usr/share/doc/nginx/changelog.Debian.gz",
    host_config: nginx_host_config,
    env: &[],
    fix_root: |_| Ok(()),
    // What scripts/run gives nginx.
    memory_mib: 512,
};

/// SIGTERM: apache2's stop (its master stops the workers, exits 0).
const SIGTERM: u32 = 15;

/// apache2 2.4 from Debian bookworm with mpm_prefork (docs/apache2.md).
pub const APACHE2: DebianServer = DebianServer {
    name: "apache2",
    packages: &["apache2"],
    program: "/usr/sbin/apache2",
    args: &["-DFOREGROUND"],
    stop_signal: SIGTERM,
    config: "etc/apache2/mods-available/mpm_prefork.conf",
    set_workers: apache2_workers,
    page: "var/www/html/index.html",
    changelog: "usr/share/doc/apache2/changelog.Debian.gz",
    host_config: apache2_host_config,
    env: APACHE2_ENV,
    fix_root: apache2_prefork,
    // The Linux guest unpacks the root (169 MiB: apache2 pulls in perl)
    // into its RAM from an initramfs of the same size: at 512 MiB that
    // fails ("Initramfs unpacking failed: write error").
    memory_mib: 1024,
};

/// The environment apache2ctl takes from /etc/apache2/envvars (the
/// configuration does not parse without it), as tests/apache2.rs passes it.
pub const APACHE2_ENV: &[(&str, &str)] = &[
    ("APACHE_RUN_USER", "www-data"),
    ("APACHE_RUN_GROUP", "www-data"),
    ("APACHE_PID_FILE", "/var/run/apache2/apache2.pid"),
    ("APACHE_RUN_DIR", "/var/run/apache2"),
    ("APACHE_LOCK_DIR", "/var/lock/apache2"),
    ("APACHE_LOG_DIR", "/var/log/apache2"),
    ("LANG", "C"),
];

/// `a2dismod mpm_event; a2enmod mpm_prefork` (isola rootfs enables
/// Debian's default, mpm_event), and the run and lock directories
/// apache2ctl makes before it starts apache2.
fn apache2_prefork(root: &Path) -> Result<(), String> {
    let enabled = root.join("etc/apache2/mods-enabled");
    for ext in ["load", "conf"] {
        let event = enabled.join(format!("mpm_event.{ext}"));
        if std::fs::symlink_metadata(&event).is_ok() {
            std::fs::remove_file(&event).map_err(|e| format!("cannot remove {}: {e}", event.display()))?;
        }
        let prefork = enabled.join(format!("mpm_prefork.{ext}"));
        if std::fs::symlink_metadata(&prefork).is_err() {
            std::os::unix::fs::symlink(format!("../mods-available/mpm_prefork.{ext}"), &prefork)
                .map_err(|e| format!("cannot link {}: {e}", prefork.display()))?;
        }
    }
    for d in ["var/run/apache2", "var/lock/apache2", "var/log/apache2"] {
        let dir = root.join(d);
        // Made only below the root: a symbolic link on the way (Debian's
        // /var/run -> /run) would lead out of it.
        let mut below = root.to_path_buf();
        for part in Path::new(d).components() {
            below.push(part);
            if std::fs::symlink_metadata(&below).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(format!("{} is a symbolic link", below.display()));
            }
        }
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    Ok(())
}

/// mpm_prefork.conf as a fixed pool of `workers` (nginx's
/// `worker_processes`): StartServers, MinSpareServers and
/// MaxRequestWorkers set to `workers`, MaxSpareServers one more (prefork
/// raises it to that itself); MaxConnectionsPerChild stays Debian's.
pub fn apache2_workers(conf: &str, workers: u32) -> Result<String, String> {
    let settings = [
        ("StartServers", workers),
        ("MinSpareServers", workers),
        ("MaxSpareServers", workers + 1),
        ("MaxRequestWorkers", workers),
    ];
    let mut found = [0; 4];
    let lines: Vec<String> = conf
        .split_inclusive('\n')
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            if let [name, _value] = words.as_slice() {
                if let Some(i) = settings.iter().position(|(s, _)| s == name) {
                    found[i] += 1;
                    let indent = &line[..line.len() - line.trim_start().len()];
                    let end = if line.ends_with('\n') { "\n" } else { "" };
                    return format!("{indent}{name} {}{end}", settings[i].1);
                }
            }
            line.to_string()
        })
        .collect();
    for (i, n) in found.iter().enumerate() {
        match n {
            1 => {}
            0 => return Err(format!("no '{} N' line", settings[i].0)),
            n => return Err(format!("{n} '{}' lines", settings[i].0)),
        }
    }
    Ok(lines.concat())
}

/// The host row's apache2 configuration: ports.conf's `Listen 80` and the
/// site's `<VirtualHost *:80>` on 127.0.0.1:PORT (written over the copy's
/// files: the copy is the host row's own). IPv4 only.
fn apache2_host_config(root: &Path, port: u16, _ipv6: bool) -> Result<HostConfig, String> {
    let mut files = Vec::new();
    let ports = root.join("etc/apache2/ports.conf");
    let text = std::fs::read_to_string(&ports).map_err(|e| format!("cannot read {}: {e}", ports.display()))?;
    files.push(("etc/apache2/ports.conf".to_string(), apache2_listen_on(&text, port).map_err(|e| format!("{}: {e}", ports.display()))?));
    let site = inside(root, &root.join("etc/apache2/sites-enabled/000-default.conf"))?;
    let text = std::fs::read_to_string(&site).map_err(|e| format!("cannot read {}: {e}", site.display()))?;
    let rel = site.strip_prefix(root).map_err(|_| format!("{} is outside the root", site.display()))?;
    files.push((rel.display().to_string(), apache2_vhost_on(&text, port).map_err(|e| format!("{}: {e}", site.display()))?));
    Ok(HostConfig { files, args: Vec::new() })
}

/// ports.conf with its `Listen 80` line on 127.0.0.1:`port`.
pub fn apache2_listen_on(conf: &str, port: u16) -> Result<String, String> {
    let mut n = 0;
    let out: String = conf
        .split_inclusive('\n')
        .map(|line| match line.trim_end() {
            "Listen 80" => {
                n += 1;
                let end = if line.ends_with('\n') { "\n" } else { "" };
                format!("Listen 127.0.0.1:{port}{end}")
            }
            _ => line.to_string(),
        })
        .collect();
    match n {
        1 => Ok(out),
        n => Err(format!("{n} 'Listen 80' lines, expected 1")),
    }
}

/// A site with `<VirtualHost *:80>` on `*:port`.
pub fn apache2_vhost_on(site: &str, port: u16) -> Result<String, String> {
    const VHOST: &str = "<VirtualHost *:80>";
    match site.matches(VHOST).count() {
        1 => Ok(site.replace(VHOST, &format!("<VirtualHost *:{port}>"))),
        n => Err(format!("{n} '{VHOST}' lines, expected 1")),
    }
}

/// What the host row writes into its copy of the root and adds to the
/// program's arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostConfig {
    /// (path relative to the root, content).
    pub files: Vec<(String, String)>,
    /// Before [`DebianServer::args`].
    pub args: Vec<String>,
}

/// A prepared root.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub server: &'static DebianServer,
    pub dir: PathBuf,
    /// The package's version, if its changelog says.
    pub version: Option<String>,
    /// Size of the page `GET /` returns.
    pub page_bytes: u64,
}

impl Prepared {
    /// `nginx 1.22.1-9+deb12u11 from Debian, 4 workers, GET / (615 bytes)`.
    pub fn title(&self, workers: u32) -> String {
        let version = self.version.as_deref().map_or(String::new(), |v| format!(" {v}"));
        format!(
            "{}{version} from Debian, {workers} workers, GET / ({} bytes)",
            self.server.name, self.page_bytes
        )
    }

    /// Its environment (`KEY`, `VALUE`).
    pub fn env(&self) -> Vec<(String, String)> {
        self.server.env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// The program and its arguments, as every guest row runs them.
    pub fn command(&self) -> Vec<String> {
        std::iter::once(self.server.program).chain(self.server.args.iter().copied()).map(String::from).collect()
    }
}

/// The root of `server` under `repo/target/isola/bench/`, built if its
/// program is missing, its configuration set to `workers` workers.
pub fn prepare(repo: &Path, server: &'static DebianServer, workers: u32) -> Result<Prepared, String> {
    let dir = repo.join(format!("target/isola/bench/{}-root", server.name));
    let program = dir.join(server.program.trim_start_matches('/'));
    if !program.is_file() {
        eprintln!("bench: building {} (isola rootfs --packages {})", dir.display(), server.packages.join(","));
        let opts = crate::rootfs_build::RootfsOpts {
            packages: server.packages.iter().map(|p| p.to_string()).collect(),
            out: dir.display().to_string(),
            force: true,
            usr_merge: false,
        };
        crate::rootfs_build::command(&opts).map_err(|e| format!("isola rootfs --packages {}: {e}", server.packages.join(",")))?;
        if !program.is_file() {
            return Err(format!("isola rootfs left no {} in {}", server.program, dir.display()));
        }
    }
    (server.fix_root)(&dir)?;
    let config = dir.join(server.config);
    let text = std::fs::read_to_string(&config).map_err(|e| format!("cannot read {}: {e}", config.display()))?;
    let edited = (server.set_workers)(&text, workers).map_err(|e| format!("{}: {e}", config.display()))?;
    if edited != text {
        std::fs::write(&config, edited).map_err(|e| format!("cannot write {}: {e}", config.display()))?;
    }
    let page = dir.join(server.page);
    let page_bytes = std::fs::metadata(&page).map_err(|e| format!("{}: {e}", page.display()))?.len();
    Ok(Prepared { server, version: version(&dir.join(server.changelog)), dir, page_bytes })
}

/// The version in the first line of a `changelog.Debian.gz`.
pub fn version(changelog: &Path) -> Option<String> {
    let file = std::fs::File::open(changelog).ok()?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(file).take(4096).read_to_string(&mut text).ok()?;
    changelog_version(text.lines().next()?)
}

/// `nginx (1.22.1-9+deb12u11) bookworm-security; urgency=high` -> the
/// version between the parentheses.
pub fn changelog_version(line: &str) -> Option<String> {
    let (_, rest) = line.split_once(" (")?;
    let (version, _) = rest.split_once(')')?;
    (!version.is_empty() && !version.contains(char::is_whitespace)).then(|| version.to_string())
}

/// nginx.conf with its `worker_processes` line set to `workers` (Debian's
/// says `auto`, which is one worker on a guest's single CPU).
pub fn nginx_workers(conf: &str, workers: u32) -> Result<String, String> {
    let mut found = 0;
    let lines: Vec<String> = conf
        .split_inclusive('\n')
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["worker_processes", value] if value.ends_with(';') => {
                    found += 1;
                    let end = if line.ends_with('\n') { "\n" } else { "" };
                    format!("worker_processes {workers};{end}")
                }
                _ => line.to_string(),
            }
        })
        .collect();
    match found {
        1 => Ok(lines.concat()),
        0 => Err("no 'worker_processes ...;' line".into()),
        n => Err(format!("{n} 'worker_processes' lines")),
    }
}

/// Where the host row's configuration copy goes, inside the root's copy.
const NGINX_HOST_DIR: &str = "etc/nginx/isola-bench-host";

/// The host row's nginx configuration: nginx.conf as it is but for the
/// sites it includes, which are copies of `sites-enabled/*` listening on
/// the host port.
fn nginx_host_config(root: &Path, port: u16, ipv6: bool) -> Result<HostConfig, String> {
    let conf_path = root.join(NGINX.config);
    let conf = std::fs::read_to_string(&conf_path).map_err(|e| format!("cannot read {}: {e}", conf_path.display()))?;
    let conf = nginx_redirect_sites(&conf, &format!("/{NGINX_HOST_DIR}/sites-enabled/*"))?;
    let mut files = vec![(format!("{NGINX_HOST_DIR}/nginx.conf"), conf)];
    let enabled = root.join("etc/nginx/sites-enabled");
    let mut names: Vec<_> = std::fs::read_dir(&enabled)
        .map_err(|e| format!("cannot list {}: {e}", enabled.display()))?
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    names.sort();
    for name in names {
        let site = inside(root, &enabled.join(&name))?;
        let text = std::fs::read_to_string(&site).map_err(|e| format!("cannot read {}: {e}", site.display()))?;
        let text = nginx_listen_on(&text, port, ipv6).map_err(|e| format!("{}: {e}", site.display()))?;
        files.push((format!("{NGINX_HOST_DIR}/sites-enabled/{}", name.to_string_lossy()), text));
    }
    if files.len() == 1 {
        return Err(format!("no site in {}", enabled.display()));
    }
    Ok(HostConfig { files, args: vec!["-c".into(), format!("/{NGINX_HOST_DIR}/nginx.conf")] })
}

/// `path` (in `root`) with its symbolic links followed as the chrooted
/// program sees them: an absolute target is taken inside `root`.
fn inside(root: &Path, path: &Path) -> Result<PathBuf, String> {
    let mut path = path.to_path_buf();
    for _ in 0..16 {
        match std::fs::read_link(&path) {
            Ok(target) if target.is_absolute() => path = root.join(target.strip_prefix("/").unwrap_or(&target)),
            Ok(target) => path = path.parent().unwrap_or(root).join(target),
            Err(_) => return Ok(path),
        }
    }
    Err(format!("{}: too many symbolic links", path.display()))
}

/// nginx.conf with `include /etc/nginx/sites-enabled/*;` pointing at `to`.
pub fn nginx_redirect_sites(conf: &str, to: &str) -> Result<String, String> {
    const SITES: &str = "include /etc/nginx/sites-enabled/*;";
    match conf.matches(SITES).count() {
        1 => Ok(conf.replace(SITES, &format!("include {to};"))),
        n => Err(format!("nginx.conf has {n} '{SITES}' lines, expected 1")),
    }
}

/// A site with its port-80 `listen` directives moved to the host port:
/// `listen 80 ...;` (or `*:80`, `0.0.0.0:80`) becomes `listen
/// 127.0.0.1:PORT ...;`, `listen [::]:80 ...;` becomes `listen
/// [::1]:PORT ...;`, or a comment without `ipv6`. Comments stay as they are.
pub fn nginx_listen_on(site: &str, port: u16, ipv6: bool) -> Result<String, String> {
    let mut v4 = 0;
    let mut out = String::new();
    for line in site.split_inclusive('\n') {
        let body = line.trim_start();
        let indent = &line[..line.len() - body.len()];
        let mut words = body.split_whitespace();
        let rewritten = match (words.next(), words.next()) {
            (Some("listen"), Some(addr)) => {
                let (addr, semicolon) = addr.strip_suffix(';').map_or((addr, ""), |a| (a, ";"));
                let rest: Vec<&str> = words.collect();
                let tail = format!("{semicolon}{}", rest.iter().map(|w| format!(" {w}")).collect::<String>());
                let end = if line.ends_with('\n') { "\n" } else { "" };
                match addr {
                    "80" | "*:80" | "0.0.0.0:80" => {
                        v4 += 1;
                        Some(format!("{indent}listen 127.0.0.1:{port}{tail}{end}"))
                    }
                    "[::]:80" if ipv6 => Some(format!("{indent}listen [::1]:{port}{tail}{end}")),
                    "[::]:80" => Some(format!("{indent}# isola bench: the host has no IPv6 loopback: {}", body)),
                    _ => None,
                }
            }
            _ => None,
        };
        out.push_str(rewritten.as_deref().unwrap_or(line));
    }
    if v4 == 0 {
        return Err("no 'listen 80' directive".into());
    }
    Ok(out)
}

/// The host row's copy of the root with the host configuration in it,
/// removed on drop.
pub struct HostRoot {
    pub dir: PathBuf,
    /// The program's arguments there.
    pub args: Vec<String>,
}

impl HostRoot {
    /// Copy `prepared`'s root and write the configuration for `port`.
    pub fn create(prepared: &Prepared, port: u16, ipv6: bool) -> Result<HostRoot, String> {
        let name = prepared.dir.file_name().and_then(|n| n.to_str()).unwrap_or("root");
        let dir = prepared.dir.with_file_name(format!("{name}-host-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let out = Process::new("cp")
            .arg("-a")
            .arg(&prepared.dir)
            .arg(&dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run cp: {e}"))?;
        // From here on, drop removes the copy.
        let copy = HostRoot { dir, args: Vec::new() };
        if !out.status.success() {
            return Err(format!("cp -a {} failed: {}", prepared.dir.display(), String::from_utf8_lossy(&out.stderr).trim()));
        }
        let config = (prepared.server.host_config)(&copy.dir, port, ipv6)?;
        for (rel, text) in &config.files {
            let path = copy.dir.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
            }
            std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        let mut copy = copy;
        copy.args = config.args.iter().cloned().chain(prepared.server.args.iter().map(|a| a.to_string())).collect();
        Ok(copy)
    }
}

impl Drop for HostRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN_CONF: &str = "user www-data;\nworker_processes auto;\npid /run/nginx.pid;\n\
        events {\n\tworker_connections 768;\n\t# multi_accept on;\n}\nhttp {\n\
        \tinclude /etc/nginx/conf.d/*.conf;\n\tinclude /etc/nginx/sites-enabled/*;\n}\n";

    const DEBIAN_SITE: &str = "server {\n\tlisten 80 default_server;\n\tlisten [::]:80 default_server;\n\
        \t# listen 443 ssl default_server;\n\troot /var/www/html;\n}\n";

    #[test]
    fn workers_is_the_only_edit() {
        let four = nginx_workers(DEBIAN_CONF, 4).unwrap();
        assert_eq!(four, DEBIAN_CONF.replace("worker_processes auto;", "worker_processes 4;"));
        // Idempotent, and from any earlier count.
        assert_eq!(nginx_workers(&four, 4).unwrap(), four);
        assert_eq!(nginx_workers(&four, 64).unwrap(), DEBIAN_CONF.replace("auto;", "64;"));
        assert!(nginx_workers("events {}\n", 4).unwrap_err().contains("no 'worker_processes"));
        assert!(nginx_workers("worker_processes 1;\nworker_processes 2;\n", 4).unwrap_err().contains("2 'worker_processes' lines"));
    }

    #[test]
    fn host_site_listens_on_the_host_port() {
        let site = nginx_listen_on(DEBIAN_SITE, 18080, true).unwrap();
        assert_eq!(
            site,
            "server {\n\tlisten 127.0.0.1:18080 default_server;\n\tlisten [::1]:18080 default_server;\n\
             \t# listen 443 ssl default_server;\n\troot /var/www/html;\n}\n"
        );
        let site = nginx_listen_on(DEBIAN_SITE, 18080, false).unwrap();
        assert!(site.contains("\n\t# isola bench: the host has no IPv6 loopback: listen [::]:80 default_server;\n"), "{site}");
        assert!(!site.lines().any(|l| l.trim_start().starts_with("listen [")), "{site}");
        assert_eq!(nginx_listen_on("listen 80;", 1, true).unwrap(), "listen 127.0.0.1:1;");
        assert!(nginx_listen_on("server { listen 8080; }\n", 1, true).is_err());
        let conf = nginx_redirect_sites(DEBIAN_CONF, "/etc/nginx/isola-bench-host/sites-enabled/*").unwrap();
        assert!(conf.contains("\tinclude /etc/nginx/isola-bench-host/sites-enabled/*;\n"), "{conf}");
        assert!(conf.contains("include /etc/nginx/conf.d/*.conf;"), "{conf}");
        assert!(nginx_redirect_sites("http {}\n", "/x").is_err());
    }

    const PREFORK_CONF: &str = "# prefork MPM\n<IfModule mpm_prefork_module>\n\tStartServers\t\t\t 5\n\
        \tMinSpareServers\t\t  5\n\tMaxSpareServers\t\t 10\n\tMaxRequestWorkers\t  150\n\
        \tMaxConnectionsPerChild   0\n</IfModule>\n";

    #[test]
    fn apache2_fixed_pool_of_workers() {
        let four = apache2_workers(PREFORK_CONF, 4).unwrap();
        assert_eq!(
            four,
            "# prefork MPM\n<IfModule mpm_prefork_module>\n\tStartServers 4\n\tMinSpareServers 4\n\
             \tMaxSpareServers 5\n\tMaxRequestWorkers 4\n\tMaxConnectionsPerChild   0\n</IfModule>\n"
        );
        assert_eq!(apache2_workers(&four, 4).unwrap(), four);
        assert!(apache2_workers(&four, 64).unwrap().contains("\tMaxRequestWorkers 64\n"));
        assert!(apache2_workers("StartServers 5\n", 4).unwrap_err().contains("no 'MinSpareServers N' line"));
        let twice = format!("{PREFORK_CONF}StartServers 2\n");
        assert!(apache2_workers(&twice, 4).unwrap_err().contains("2 'StartServers' lines"));
    }

    #[test]
    fn apache2_host_listens_on_the_host_port() {
        let ports = "Listen 80\n\n<IfModule ssl_module>\n\tListen 443\n</IfModule>\n";
        assert_eq!(apache2_listen_on(ports, 18080).unwrap(), ports.replace("Listen 80\n", "Listen 127.0.0.1:18080\n"));
        assert!(apache2_listen_on("Listen 8080\n", 1).is_err());
        let site = "<VirtualHost *:80>\n\tDocumentRoot /var/www/html\n</VirtualHost>\n";
        assert_eq!(apache2_vhost_on(site, 18080).unwrap(), site.replace("*:80>", "*:18080>"));
        assert!(apache2_vhost_on("", 1).is_err());
    }

    #[test]
    fn version_from_the_changelog() {
        assert_eq!(changelog_version("nginx (1.22.1-9+deb12u11) bookworm-security; urgency=high").as_deref(), Some("1.22.1-9+deb12u11"));
        assert_eq!(changelog_version("nginx 1.22"), None);
        assert_eq!(changelog_version("x () y"), None);
    }

    #[test]
    fn command_and_title() {
        let p = Prepared { server: &NGINX, dir: "/r".into(), version: Some("1.22.1-9".into()), page_bytes: 615 };
        assert_eq!(p.command(), ["/usr/sbin/nginx", "-g", "daemon off;"]);
        assert_eq!(p.title(4), "nginx 1.22.1-9 from Debian, 4 workers, GET / (615 bytes)");
    }
}
