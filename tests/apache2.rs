//! apache2 2.4 from Debian (`isola rootfs --packages apache2`, cached) with
//! mpm_prefork, run as `apache2 -DFOREGROUND` with the environment
//! Debian's apache2ctl sets (its envvars file) and two Listen lines (80
//! and 8081, which makes prefork serialize accept with its cross-process
//! mutex), booted under TCG (docs/apache2.md):
//! - both ports serve Debian's default page through `-p`;
//! - 5,000 requests on each port, 10 at a time on each, both at once, none
//!   failed, with `MaxConnectionsPerChild 100`: workers are replaced
//!   during the load (`isola ps` sees new pids, some ninety forks, none
//!   of the first workers left);
//! - a worker killed with `isola kill -SEGV` is replaced, and apache2's
//!   own log says how the child ended;
//! - SIGTERM to the master (`isola kill PID 1`) stops it, status 0;
//! - the same with `Mutex sysvsem default`: the accept mutex is a SysV
//!   semaphore (semget, IPC_SET to www-data, semop with SEM_UNDO);
//! - a configuration error: apache2's own message on stderr and its
//!   status (1) as isola's.
//!
//! `isola rootfs` does what apache2's postinst does (mpm_event, the
//! default modules, conf files and site, the default page; checked here);
//! the test then switches the MPM to prefork as a2dismod/a2enmod would and
//! makes the two edits to Debian's files, the second Listen line and
//! MaxConnectionsPerChild, in its copy of the root. The run and lock
//! directories of envvars, which apache2ctl makes, are made there too;
//! /var/log/apache2 is a volume, so that the test reads apache2's error log.

mod common;
mod support;

use std::collections::BTreeSet;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use common::{TempDir, isola, rootfs_of_packages};
use support::{Background, free_port, http_get, ps_rows, qemu_children, wait_answer, wait_gone};

/// The root, built once per test run (cached by package set after the
/// first), with `isola rootfs`'s apache2 postinst checked, then switched to
/// mpm_prefork and edited in place (the copy is the test's, rebuilt each run).
fn apache_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let root = rootfs_of_packages("apache2", "apache2");
        let etc = root.join("etc/apache2");
        // What apache2's postinst enables, made by isola rootfs.
        for enabled in ["mods-enabled/mpm_event.load", "mods-enabled/dir.load", "mods-enabled/status.conf", "conf-enabled/security.conf", "sites-enabled/000-default.conf"] {
            assert!(std::fs::symlink_metadata(etc.join(enabled)).is_ok(), "isola rootfs did not enable {enabled}");
        }
        let page = std::fs::read_to_string(root.join("var/www/html/index.html")).expect("no /var/www/html/index.html");
        assert!(page.contains("Apache2 Debian Default Page"), "{page}");
        // a2dismod mpm_event; a2enmod mpm_prefork.
        for ext in ["load", "conf"] {
            let _ = std::fs::remove_file(etc.join(format!("mods-enabled/mpm_event.{ext}")));
            symlink(format!("../mods-available/mpm_prefork.{ext}"), etc.join(format!("mods-enabled/mpm_prefork.{ext}"))).unwrap();
        }
        // The two edits: a second Listen line, and workers that end after 100 connections.
        let ports = std::fs::read_to_string(etc.join("ports.conf")).unwrap();
        assert!(ports.lines().any(|l| l == "Listen 80"), "Debian's ports.conf changed: {ports}");
        write(&etc.join("ports.conf"), &ports.replacen("Listen 80\n", "Listen 80\nListen 8081\n", 1));
        let prefork = std::fs::read_to_string(etc.join("mods-available/mpm_prefork.conf")).unwrap();
        let edited: Vec<String> = prefork
            .lines()
            .map(|l| if l.trim_start().starts_with("MaxConnectionsPerChild") { "\tMaxConnectionsPerChild  100".to_string() } else { l.to_string() })
            .collect();
        assert!(edited.iter().any(|l| l.contains("MaxConnectionsPerChild  100")), "{prefork}");
        write(&etc.join("mods-available/mpm_prefork.conf"), &(edited.join("\n") + "\n"));
        // envvars' directories, which apache2ctl makes before it starts apache2.
        for d in ["var/run/apache2", "var/lock/apache2"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        root
    })
}

/// One guest at a time: two TCG guests under load on 2 cores starve each other.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The environment apache2ctl takes from /etc/apache2/envvars.
const ENVVARS: &[&str] = &[
    "APACHE_RUN_USER=www-data",
    "APACHE_RUN_GROUP=www-data",
    "APACHE_PID_FILE=/var/run/apache2/apache2.pid",
    "APACHE_RUN_DIR=/var/run/apache2",
    "APACHE_LOCK_DIR=/var/lock/apache2",
    "APACHE_LOG_DIR=/var/log/apache2",
    "LANG=C",
];

/// Writes `text` to `path`, making its directory.
fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// `extra` conf files (name, text) for conf-enabled, laid over the root
/// with `--add DIR:/`.
fn overlay(extra: &[(&str, &str)]) -> TempDir {
    let dir = TempDir::new("apache2-overlay");
    std::fs::create_dir_all(dir.path().join("etc/apache2/conf-enabled")).unwrap();
    for (name, text) in extra {
        write(&dir.path().join("etc/apache2/conf-enabled").join(name), text);
    }
    dir
}

/// `isola run ... apache2 -DFOREGROUND`, left running; its overlay and log
/// volume are kept with it.
struct Apache {
    run: Background,
    name: String,
    ports: [u16; 2],
    logs: TempDir,
    _overlay: TempDir,
}

impl Apache {
    fn start(level: &str, extra: &[(&str, &str)]) -> Apache {
        let overlay = overlay(extra);
        let logs = TempDir::new("apache2-logs");
        let ports = [free_port(), free_port()];
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let name = format!("apache2-test-{}-{}", std::process::id(), N.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let root = apache_root().to_str().unwrap().to_string();
        let add = format!("{}:/", overlay.path().display());
        let volume = format!("{}:/var/log/apache2", logs.path().display());
        let (p80, p8081) = (format!("{}:80", ports[0]), format!("{}:8081", ports[1]));
        let mut args = vec![
            "run", "--accel", "tcg", "--isolation", level, "--timeout", "1200", "--memory", "512", "--name", &name, "--rootfs", &root,
            "--add", &add, "--volume", &volume, "-p", &p80, "-p", &p8081,
        ];
        for e in ENVVARS {
            args.extend(["--env", e]);
        }
        args.extend(["/usr/sbin/apache2", "-DFOREGROUND"]);
        let run = Background::start(&args);
        let mut apache = Apache { run, name, ports, logs, _overlay: overlay };
        for port in apache.ports {
            let page = wait_answer(&mut apache.run, port, "/", Duration::from_secs(300));
            let text = String::from_utf8_lossy(&page.body);
            assert!(text.contains("Apache2 Debian Default Page"), "port {port}: {text}");
        }
        apache
    }

    /// apache2's error log so far.
    fn error_log(&self) -> String {
        std::fs::read_to_string(self.logs.path().join("error.log")).unwrap_or_default()
    }

    fn show(&self) -> String {
        format!("{}\n--- error.log\n{}", self.run.show(), self.error_log())
    }

    /// The live workers (`isola ps --name NAME`): the master's children
    /// that have not ended.
    fn workers(&self) -> BTreeSet<u32> {
        let out = isola(&["ps", "--name", &self.name]);
        assert_eq!(out.code, 0, "isola ps: {}", out.show());
        let rows = ps_rows(&out.stdout);
        rows.into_iter().filter(|(_, ppid, _, state, _)| *ppid == 1 && state != "zombie").map(|(pid, ..)| pid).collect()
    }

    /// SIGTERM to the master: apache2 stops its workers and exits 0,
    /// which is isola's status; QEMU goes with it.
    fn stop(mut self) {
        let out = isola(&["kill", "--name", &self.name, "1"]);
        assert_eq!(out.code, 0, "isola kill 1: {}", out.show());
        let status = self.run.wait(Duration::from_secs(120));
        assert_eq!(status.and_then(|s| s.code()), Some(0), "SIGTERM to the master\n{}", self.show());
        assert!(self.error_log().contains("caught SIGTERM, shutting down"), "{}", self.show());
        for q in qemu_children(self.run.pid()) {
            assert!(wait_gone(q, Duration::from_secs(10)), "QEMU (pid {q}) outlived isola run");
        }
    }
}

/// `isola load` of `requests` GETs of / on `port`, `concurrency` at a
/// time: its summary line, after checking that none failed.
fn load(port: u16, requests: u32, concurrency: u32) -> Result<String, String> {
    let url = format!("http://127.0.0.1:{port}/");
    let (n, c) = (requests.to_string(), concurrency.to_string());
    let out = isola(&["load", &url, "--requests", &n, "--concurrency", &c, "--timeout", "60"]);
    let summary = out.stdout.lines().last().unwrap_or("").to_string();
    if out.code == 0 && summary.starts_with(&format!("requests {requests}, failed 0, ")) {
        Ok(summary)
    } else {
        Err(format!("port {port}: {summary}\n{}", out.show()))
    }
}

/// Both ports loaded at once, `requests` each; the worker pids `isola ps`
/// saw while the load ran.
fn load_both(apache: &Apache, requests: u32) -> BTreeSet<u32> {
    let loads: Vec<_> = apache.ports.iter().map(|&port| thread::spawn(move || load(port, requests, 10))).collect();
    let mut seen = BTreeSet::new();
    while loads.iter().any(|l| !l.is_finished()) {
        seen.extend(apache.workers());
        thread::sleep(Duration::from_secs(2));
    }
    for l in loads {
        match l.join().unwrap() {
            Ok(summary) => eprintln!("{summary}"),
            Err(e) => panic!("the load failed: {e}\nthe server:\n{}", apache.show()),
        }
    }
    seen.extend(apache.workers());
    seen
}

#[test]
fn apache2_prefork_serves_two_ports_replaces_workers_and_stops() {
    let _serial = one_at_a_time();
    let apache = Apache::start("strict", &[]);
    let before = apache.workers();
    assert!(before.len() >= 5, "StartServers 5: {before:?}\n{}", apache.show());

    // A worker killed by SIGSEGV is replaced: at the start there are
    // StartServers (5) idle workers, MinSpareServers, so prefork forks one.
    let workers = before.clone();
    let victim = *workers.iter().next().unwrap();
    let pid = victim.to_string();
    let out = isola(&["kill", "--name", &apache.name, "-SEGV", &pid]);
    assert_eq!(out.code, 0, "isola kill -SEGV {victim}: {}", out.show());
    let deadline = Instant::now() + Duration::from_secs(60);
    let line = format!("child pid {victim} exit signal Segmentation fault (11)");
    loop {
        let now = apache.workers();
        if !now.contains(&victim) && now.len() >= 5 && now.iter().any(|p| !workers.contains(p)) && apache.error_log().contains(&line) {
            break;
        }
        assert!(Instant::now() < deadline, "worker {victim} not replaced: {workers:?} then {now:?}\n{}", apache.show());
        thread::sleep(Duration::from_millis(500));
    }
    for port in apache.ports {
        let r = http_get(port, "/", Duration::from_secs(30)).unwrap_or_else(|e| panic!("port {port} after the SIGSEGV: {e}"));
        assert_eq!(r.status, 200, "port {port} after the SIGSEGV");
    }

    let started = Instant::now();
    let seen = load_both(&apache, 5000);
    eprintln!("10,000 requests in {:.1} s", started.elapsed().as_secs_f64());
    // Each worker ends after 100 connections: 10,000 connections over a
    // dozen workers need some ninety forks (about 10 would do without the
    // limit), and no worker of the start is left.
    let newest = *seen.iter().max().unwrap();
    let after = apache.workers();
    assert!(newest > 80, "workers replaced: the newest pid seen is {newest} ({} workers seen)\n{}", seen.len(), apache.show());
    assert!(after.iter().all(|pid| !before.contains(pid)), "workers of the start still there: {before:?}, {after:?}");
    assert!(apache.run.stderr().lines().all(|l| !l.contains("killed by")), "{}", apache.show());

    apache.stop();
}

#[test]
fn apache2_with_a_sysv_semaphore_as_its_accept_mutex() {
    let _serial = one_at_a_time();
    let apache = Apache::start("mpk", &[("zz-isola-mutex.conf", "Mutex sysvsem default\n")]);
    let seen = load_both(&apache, 1000);
    assert!(seen.len() > 5, "workers replaced: {seen:?}\n{}", apache.show());
    apache.stop();
}

#[test]
fn a_configuration_error_is_apache2s_message_and_status() {
    let _serial = one_at_a_time();
    let overlay = overlay(&[("zz-broken.conf", "ThisIsNotADirective on\n")]);
    let root = apache_root().to_str().unwrap().to_string();
    let add = format!("{}:/", overlay.path().display());
    let mut args = vec!["run", "--accel", "tcg", "--timeout", "600", "--memory", "512", "--rootfs", &root, "--add", &add];
    for e in ENVVARS {
        args.extend(["--env", e]);
    }
    args.extend(["/usr/sbin/apache2", "-DFOREGROUND"]);
    let out = isola(&args);
    assert_eq!(out.code, 1, "{}", out.show());
    assert!(out.stderr.contains("AH00526: Syntax error on line 1 of /etc/apache2/conf-enabled/zz-broken.conf:"), "{}", out.show());
    assert!(out.stderr.contains("Invalid command 'ThisIsNotADirective', perhaps misspelled"), "{}", out.show());
}
