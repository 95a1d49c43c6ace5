//! Networking, end to end: `isola run -p HOST:GUEST` boots the real kernel
//! under TCG with a virtio-net device on QEMU's user network, and the test
//! talks to the guest's server from the host over 127.0.0.1 with std::net
//! (and curl, when it is installed), through isola's forwarder on HOST.
//!
//! These need the kernel's virtio-net driver and TCP/IP stack: without
//! them the server's socket calls fail or nothing answers, and the tests
//! fail saying so ("no answer ... does the kernel have networking yet?").

mod common;
mod support;

use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use common::{TempDir, WATCHDOG, busybox, isola, root};
use support::{Background, free_port, http_get, qemu_children, userland, wait_answer, wait_gone};

/// `--timeout` of each boot: long enough for the load test under TCG.
const RUN_TIMEOUT: &str = "900";
/// After the kernel is up, how long the server may take to answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

/// One guest server at a time: the machines have 2 cores, and two TCG
/// guests under load side by side starve each other (connections then
/// time out or are refused for reasons that are not the ones tested).
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `size` bytes that are not all alike (a simple LCG), so that a
/// misplaced or repeated chunk shows.
fn pattern(size: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..size)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 24) as u8
        })
        .collect()
}

/// Wait for the kernel's banner (on stderr: the run has `--verbose`): the
/// kernel is built and booted (a cold build can take minutes, which the
/// 60 s for the server must not cover).
fn wait_for_boot(run: &mut Background) {
    assert!(
        run.wait_for_err("isolation: ", WATCHDOG),
        "the kernel did not boot\n{}",
        run.show()
    );
}

/// Kill `isola run` and check that its QEMU went with it.
fn kill_and_check_qemu(run: &mut Background) {
    let qemus = qemu_children(run.pid());
    run.kill();
    for q in qemus {
        assert!(
            wait_gone(q, Duration::from_secs(10)),
            "QEMU (pid {q}) outlived the killed isola run"
        );
    }
}

#[test]
fn busybox_httpd_serves_files_over_a_forwarded_port() {
    let _serial = one_at_a_time();
    let dir = TempDir::new("www");
    let www = dir.path().join("www");
    std::fs::create_dir(&www).unwrap();
    let index = b"<html><body>hello from busybox httpd inside Isola, 7d1e</body></html>\n".to_vec();
    let text = b"some text\nover two lines\n".to_vec();
    // Large enough for the kernel's sendfile path and many TCP segments.
    let big = pattern(200 * 1024 + 123);
    std::fs::write(www.join("index.html"), &index).unwrap();
    std::fs::write(www.join("some.txt"), &text).unwrap();
    std::fs::write(www.join("big.bin"), &big).unwrap();

    let port = free_port();
    let publish = format!("{port}:80");
    let add = format!("{}:/www", www.display());
    let bb = busybox().to_str().unwrap().to_string();
    let mut run = Background::start(&[
        "run",
        "--accel",
        "tcg",
        "--isolation",
        "strict",
        "--timeout",
        RUN_TIMEOUT,
        // Every syscall line names its process and domain key: the
        // children's keys are checked below (the lines are notices, on
        // stderr; --verbose adds the banner that wait_for_boot waits for).
        "--trace",
        "--verbose",
        "-p",
        &publish,
        "--add",
        &add,
        &bb,
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/www",
    ]);
    wait_for_boot(&mut run);
    let first = wait_answer(&mut run, port, "/", ANSWER_TIMEOUT);
    assert_eq!(first.body, index, "GET /\n{}", run.show());

    let get = |path: &str| {
        http_get(port, path, Duration::from_secs(60)).unwrap_or_else(|e| panic!("GET {path}: {e}"))
    };
    let r = get("/some.txt");
    assert_eq!(
        (r.status, &r.body),
        (200, &text),
        "GET /some.txt\n{}",
        run.show()
    );
    let r = get("/big.bin");
    assert_eq!(r.status, 200, "GET /big.bin\n{}", run.show());
    assert_eq!(
        r.body.len(),
        big.len(),
        "GET /big.bin: length\n{}",
        run.show()
    );
    if let Some(at) = r.body.iter().zip(&big).position(|(a, b)| a != b) {
        panic!(
            "GET /big.bin: first difference at byte {at} of {}\n{}",
            big.len(),
            run.show()
        );
    }
    let r = get("/missing.txt");
    assert_eq!(r.status, 404, "GET /missing.txt\n{}", run.show());

    // A client that is not ours, once, where it is installed.
    match Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "60",
            &format!("http://127.0.0.1:{port}/"),
        ])
        .output()
    {
        Ok(out) => {
            assert!(
                out.status.success(),
                "curl: {}\n{}",
                String::from_utf8_lossy(&out.stderr),
                run.show()
            );
            assert_eq!(out.stdout, index, "curl's body");
        }
        Err(e) => eprintln!("curl not run ({e}): install it with scripts/setup"),
    }

    assert!(
        run.exited().is_none(),
        "isola run ended early\n{}",
        run.show()
    );
    // One child per connection, each in a domain of its own: no child
    // runs with the listening parent's key.
    let domains = process_keys(&run.stderr());
    let parent_key = domains.get(&1).copied();
    let children: Vec<(u32, u32)> = domains.iter().filter(|(pid, _)| **pid != 1).map(|(p, k)| (*p, *k)).collect();
    assert!(
        children.len() >= 4,
        "expected a child per connection, saw processes {domains:?}\n{}",
        run.show()
    );
    assert!(
        parent_key.is_some() && children.iter().all(|(_, key)| Some(*key) != parent_key),
        "a child shares the parent's key: {domains:?}"
    );
    kill_and_check_qemu(&mut run);
}

/// pid -> protection key, from `--trace` lines `[pid N key K] call(...)`.
fn process_keys(console: &str) -> std::collections::BTreeMap<u32, u32> {
    let mut keys = std::collections::BTreeMap::new();
    for line in console.lines() {
        let Some(rest) = line.trim_start().strip_prefix("[pid ") else { continue };
        let mut words = rest.split_whitespace();
        let pid = words.next().and_then(|w| w.parse().ok());
        let key = match (words.next(), words.next()) {
            (Some("key"), Some(k)) => k.trim_end_matches(']').parse().ok(),
            _ => None,
        };
        if let (Some(pid), Some(key)) = (pid, key) {
            keys.insert(pid, key);
        }
    }
    keys
}

#[test]
fn prefork_httpd_survives_a_crashed_worker_and_quits() {
    let _serial = one_at_a_time();
    let prefork = userland(&root(), "prefork-httpd");
    let port = free_port();
    let publish = format!("{port}:80");
    let mut run = Background::start(&[
        "run",
        "--accel",
        "tcg",
        "--isolation",
        "strict",
        "--timeout",
        RUN_TIMEOUT,
        "-p",
        &publish,
        prefork.to_str().unwrap(),
        "-p",
        "80",
        "-w",
        "4",
    ]);
    assert!(
        run.wait_for("prefork-httpd: listening on", WATCHDOG),
        "no 'prefork-httpd: listening on' line\n{}",
        run.show()
    );
    wait_answer(&mut run, port, "/", ANSWER_TIMEOUT);

    // 10,000 requests, 50 at a time from the very start (as curl, wrk or a
    // browser would), one connection each; request 5000 kills the worker
    // that takes it. isola listens on the port itself and spreads the
    // connections over several slirp forwards (src/forward.rs), so none
    // waits for a SYN retransmit: 30 s per request is far more than a
    // healthy run needs.
    let url = format!("http://127.0.0.1:{port}/");
    let load = isola(&[
        "load",
        &url,
        "--requests",
        "10000",
        "--concurrency",
        "50",
        "--timeout",
        "30",
        "--path-at",
        "5000:/crash",
    ]);
    let summary = load.stdout.lines().last().unwrap_or("").to_string();
    assert!(
        load.code == 0 && summary.starts_with("requests 10000, failed 0, "),
        "the load failed: {}\n{}\nthe server:\n{}",
        summary,
        load.show(),
        run.show()
    );
    assert!(
        summary.contains(", expected-failures 1, "),
        "GET /crash was answered: {summary}\n{}",
        run.show()
    );
    assert!(
        run.wait_for(
            "killed by signal 9, replaced by pid",
            Duration::from_secs(30)
        ),
        "the master did not report the crashed worker\n{}",
        run.show()
    );

    // /quit stops the master; the guest's first process exits 0.
    let _ = http_get(port, "/quit", Duration::from_secs(30));
    let status = run.wait(Duration::from_secs(120));
    assert!(
        status.is_some(),
        "isola run still running 120 s after GET /quit\n{}",
        run.show()
    );
    assert_eq!(status.unwrap().code(), Some(0), "{}", run.show());
    assert!(
        run.stdout().contains("prefork-httpd: stopped"),
        "{}",
        run.show()
    );
}

#[test]
fn net_without_forwards_boots_and_runs_the_program() {
    let _serial = one_at_a_time();
    let bb = busybox().to_str().unwrap().to_string();
    let out = isola(&[
        "run",
        "--accel",
        "tcg",
        "--isolation",
        "strict",
        "--timeout",
        "180",
        "--net",
        &bb,
        "echo",
        "net",
    ]);
    assert_eq!(out.code, 0, "{}", out.show());
    // The network device's log lines (eth0 ...) are not the program's output.
    assert_eq!(out.stdout, "net\n", "{}", out.show());
}

#[test]
fn a_host_port_in_use_is_refused_before_booting() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let bb = busybox().to_str().unwrap().to_string();
    let out = isola(&[
        "run",
        "--accel",
        "tcg",
        "-p",
        &format!("{port}:80"),
        &bb,
        "true",
    ]);
    assert_eq!(out.code, 2, "{}", out.show());
    assert!(
        out.stderr.starts_with(&format!(
            "isola: -p {port}:80: cannot listen on 127.0.0.1:{port}"
        )),
        "{}",
        out.show()
    );
    assert!(out.stdout.is_empty(), "{}", out.show());
}

#[test]
fn bad_publish_values_are_usage_errors() {
    for bad in ["80", "0:80", "80:65536", "x:80", "8080:80:1"] {
        let out = isola(&["run", "-p", bad, "prog"]);
        assert_eq!(out.code, 2, "{}", out.show());
        let first = out.stderr.lines().next().unwrap_or("");
        assert_eq!(
            first,
            format!(
                "isola: -p expects HOST_PORT:GUEST_PORT with ports from 1 to 65535, not '{bad}'"
            ),
            "{}",
            out.show()
        );
        assert!(out.stderr.contains("usage: isola run"), "{}", out.show());
    }
    let out = isola(&["run", "-p", "8080:80", "--publish", "8080:81", "prog"]);
    assert_eq!(out.code, 2, "{}", out.show());
    assert!(
        out.stderr
            .starts_with("isola: --publish 8080:81: host port 8080 is already published (8080:80)"),
        "{}",
        out.show()
    );
}
