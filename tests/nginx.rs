//! nginx 1.22 from Debian (`isola rootfs --packages nginx`, cached), its
//! default configuration with one edit (`worker_processes 4`; `daemon off`
//! comes with `-g`), serving /var/www/html through `-p` under TCG: a
//! master and four workers, each in a protection-key domain of its own; a
//! 100 KiB file byte-exact; 10,000 requests 50 at a time three times over,
//! with SIGKILL to one worker (`isola kill`) during the second (the master
//! starts another; only that worker's open connections fail) and SIGHUP to
//! the master during the third (new workers, none failed); SIGQUIT ends it
//! all with status 0. A configuration error is nginx's own message and
//! status. The main job (`scripts/run` without arguments) runs the same
//! server (docs/nginx.md).

mod common;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use common::{Output, TempDir, isola, rootfs_of_packages};
use support::{Background, free_port, http_get, ps_rows, wait_answer};

/// The root, built once per test run (cached by package set after the first).
fn nginx_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let dir = rootfs_of_packages("nginx", "nginx");
        // nginx-common's postinst, as `isola rootfs` reproduces it.
        let site = std::fs::read_link(dir.join("etc/nginx/sites-enabled/default")).expect("no default site link");
        assert_eq!(site, Path::new("/etc/nginx/sites-available/default"));
        assert!(dir.join("var/www/html/index.nginx-debian.html").exists(), "no default page");
        dir
    })
}

/// Debian's nginx.conf with 4 workers (the guest has one CPU: "auto" is 1).
fn four_workers_conf(dir: &TempDir) -> PathBuf {
    let conf = std::fs::read_to_string(nginx_root().join("etc/nginx/nginx.conf")).unwrap();
    assert!(conf.contains("\nworker_processes auto;\n"), "Debian's nginx.conf changed:\n{conf}");
    let path = dir.path().join("nginx.conf");
    std::fs::write(&path, conf.replace("\nworker_processes auto;\n", "\nworker_processes 4;\n")).unwrap();
    path
}

/// `isola ps --name NAME`: (pid, ppid, key) of every process.
fn processes(name: &str) -> Vec<(u32, u32, u32)> {
    let ps = isola(&["ps", "--name", name]);
    assert_eq!(ps.code, 0, "isola ps: {}", ps.show());
    ps_rows(&ps.stdout).into_iter().map(|(pid, ppid, key, _, _)| (pid, ppid, key)).collect()
}

/// The workers (children of pid 1) once there are `count` of them, each in
/// a key of its own and none in the master's.
fn workers(name: &str, count: usize, timeout: Duration) -> Vec<(u32, u32)> {
    let deadline = Instant::now() + timeout;
    loop {
        let all = processes(name);
        let master_key = all.iter().find(|p| p.0 == 1).map(|p| p.2);
        let workers: Vec<(u32, u32)> = all.iter().filter(|p| p.1 == 1).map(|p| (p.0, p.2)).collect();
        let mut keys: Vec<u32> = workers.iter().map(|w| w.1).chain(master_key).collect();
        keys.sort();
        keys.dedup();
        if workers.len() == count && keys.len() == count + 1 {
            return workers;
        }
        assert!(Instant::now() < deadline, "not {count} workers in distinct keys: {all:?}");
        thread::sleep(Duration::from_millis(500));
    }
}

/// `isola load` in the background: 10,000 requests, 50 at a time.
fn start_load(port: u16, path: &str) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_isola"))
        .args(["load", &format!("http://127.0.0.1:{port}{path}"), "--requests", "10000", "--concurrency", "50", "--timeout", "30"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start isola load")
}

/// The load's summary line and its failed count.
fn finish_load(load: std::process::Child) -> (String, u64) {
    let out = load.wait_with_output().expect("isola load");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary = stdout.lines().last().unwrap_or("").to_string();
    let failed = summary
        .strip_prefix("requests 10000, failed ")
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no summary from isola load: {summary}\n{}", String::from_utf8_lossy(&out.stderr)));
    (summary, failed)
}

fn kill(name: &str, signal: &str, pid: u32) -> Output {
    let out = isola(&["kill", "--name", name, signal, &pid.to_string()]);
    assert_eq!(out.code, 0, "isola kill {signal} {pid}: {}", out.show());
    out
}

#[test]
fn nginx_master_and_four_workers_serve_each_in_its_own_domain() {
    let files = TempDir::new("nginx-www");
    let conf = four_workers_conf(&files);
    let big: Vec<u8> = (0..102_400u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    std::fs::write(files.path().join("big.bin"), &big).unwrap();
    let add_conf = format!("{}:/etc/nginx/nginx.conf", conf.display());
    let add_big = format!("{}:/var/www/html/big.bin", files.path().join("big.bin").display());
    let dir = nginx_root().to_str().unwrap().to_string();
    let port = free_port();
    let publish = format!("{port}:80");
    let name = format!("t{}-nginx", std::process::id());
    let mut run = Background::start(&[
        "run", "--accel", "tcg", "--name", &name, "-p", &publish, "--memory", "512", "--rootfs", &dir,
        "--add", &add_conf, "--add", &add_big, "/usr/sbin/nginx", "-g", "daemon off;",
    ]);
    let index = std::fs::read(nginx_root().join("var/www/html/index.nginx-debian.html")).unwrap();
    let first = wait_answer(&mut run, port, "/", Duration::from_secs(180));
    assert_eq!(first.body, index, "GET / is not Debian's default page\n{}", run.show());
    let r = http_get(port, "/big.bin", Duration::from_secs(60)).unwrap_or_else(|e| panic!("GET /big.bin: {e}\n{}", run.show()));
    assert!(r.status == 200 && r.body == big, "GET /big.bin: status {}, {} bytes, not the file's {}", r.status, r.body.len(), big.len());
    assert_eq!(http_get(port, "/missing", Duration::from_secs(30)).map(|r| r.status), Ok(404));

    let before = workers(&name, 4, Duration::from_secs(30));
    // The titles nginx writes over its argv, as ps shows them on Linux.
    let ps = isola(&["ps", "--name", &name]);
    let commands: Vec<(u32, String)> = ps_rows(&ps.stdout).into_iter().map(|(pid, _, _, _, command)| (pid, command)).collect();
    assert!(
        commands.iter().any(|(pid, c)| *pid == 1 && c == "nginx: master process /usr/sbin/nginx -g daemon off;")
            && commands.iter().filter(|(_, c)| c == "nginx: worker process").count() == 4,
        "process titles: {}",
        ps.stdout
    );
    let load = start_load(port, "/");
    let (summary, failed) = finish_load(load);
    assert_eq!(failed, 0, "plain load: {summary}\n{}", run.show());
    eprintln!("nginx, 4 workers: {summary}");

    // SIGKILL to a worker during the load: another takes its place; what
    // fails is at most what that worker had open (50 at a time).
    let load = start_load(port, "/");
    thread::sleep(Duration::from_secs(4));
    let victim = before[0].0;
    kill(&name, "-KILL", victim);
    let (summary, failed) = finish_load(load);
    assert!(failed <= 50, "SIGKILL to worker {victim}: {summary}\n{}", run.show());
    let after = workers(&name, 4, Duration::from_secs(30));
    assert!(!after.iter().any(|w| w.0 == victim), "worker {victim} still listed: {after:?}");
    assert_eq!(after.iter().filter(|w| !before.contains(w)).count(), 1, "one new worker: {before:?} -> {after:?}");
    eprintln!("nginx, a worker killed: {summary}");

    // SIGHUP to the master during the load: it re-reads its configuration
    // and replaces every worker; the old ones finish their requests.
    let load = start_load(port, "/");
    thread::sleep(Duration::from_secs(4));
    kill(&name, "-HUP", 1);
    let (summary, failed) = finish_load(load);
    assert_eq!(failed, 0, "SIGHUP during the load: {summary}\n{}", run.show());
    let reloaded = workers(&name, 4, Duration::from_secs(60));
    assert!(reloaded.iter().all(|w| !after.iter().any(|a| a.0 == w.0)), "SIGHUP kept old workers: {after:?} -> {reloaded:?}");
    eprintln!("nginx, SIGHUP: {summary}");
    assert!(!run.stderr().contains("refused"), "{}", run.show());

    // SIGQUIT: graceful stop of everything; isola ends with nginx's status.
    kill(&name, "-QUIT", 1);
    let status = run.wait(Duration::from_secs(60)).unwrap_or_else(|| panic!("still running 60 s after SIGQUIT\n{}", run.show()));
    assert_eq!(status.code(), Some(0), "{}", run.show());
}

#[test]
fn nginx_configuration_error_is_its_own_message_and_status() {
    let files = TempDir::new("nginx-bad");
    let conf = files.path().join("nginx.conf");
    let default = std::fs::read_to_string(nginx_root().join("etc/nginx/nginx.conf")).unwrap();
    std::fs::write(&conf, format!("no_such_directive on;\n{default}")).unwrap();
    let add = format!("{}:/etc/nginx/nginx.conf", conf.display());
    let dir = nginx_root().to_str().unwrap().to_string();
    let out = isola(&[
        "run", "--accel", "tcg", "--timeout", "300", "--memory", "512", "--rootfs", &dir, "--add", &add, "/usr/sbin/nginx", "-g",
        "daemon off;",
    ]);
    assert_eq!(out.code, 1, "nginx exits 1 on a configuration error: {}", out.show());
    assert!(
        // Debian builds nginx with --error-log-path=stderr: its log line, pid 1.
        out.stderr.contains("[emerg] 1#1: unknown directive \"no_such_directive\" in /etc/nginx/nginx.conf:1"),
        "nginx's own message on isola's stderr: {}",
        out.show()
    );
}
