//! Python's own regression tests in Isola against the Linux guest (issue
//! 13): the modules of [`MODULES`] run in Isola with the root of
//! `isola rootfs --packages python3,libpython3.11-testsuite`, one
//! `python3 -m test MODULE` at a time (tests/data/python_suite.py), and
//! every module that passes in the Linux guest of `isola bench` with the
//! same root (recorded in tests/data/python_suite_linux.txt by
//! `scripts/python-suite linux`) must pass in Isola.
//!
//! The whole list takes about a quarter of an hour under TCG
//! (docs/python-tests.md has the times), too much of CI's budget: it is
//! ignored by default (`cargo test --release --test python_suite --
//! --ignored` runs it), and CI runs [`QUICK`], the modules that take
//! seconds, on every run.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

/// The modules issue 13 names, in its order.
const MODULES: [&str; 15] = [
    "test_threading",
    "test_thread",
    "test_threading_local",
    "test_os",
    "test_subprocess",
    "test_signal",
    "test_select",
    "test_selectors",
    "test_socket",
    "test_mmap",
    "test_fcntl",
    "test_fork1",
    "test_wait4",
    "test_queue",
    "test_concurrent_futures",
];

/// The modules CI runs every time: those of [`MODULES`] that pass on Linux
/// in a few seconds each (threads, thread-local data, select, mmap, fcntl,
/// fork from a threaded process, wait4).
const QUICK: [&str; 7] = ["test_thread", "test_threading_local", "test_select", "test_mmap", "test_fcntl", "test_fork1", "test_wait4"];

/// One module's time limit inside the guest, seconds.
const MODULE_TIMEOUT_SECS: u64 = 1200;
/// The whole run's (the VM's, and this test's watchdog a minute later).
const RUN_TIMEOUT_SECS: u64 = 3600;

/// The per-module results of a driver's output: `python-suite: MODULE RESULT SECONDS`.
fn results(output: &str) -> BTreeMap<String, String> {
    output
        .lines()
        .filter_map(|l| l.strip_prefix("python-suite: "))
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            Some((words.next()?.to_string(), words.next()?.to_string()))
        })
        .filter(|(module, _)| module.starts_with("test_"))
        .collect()
}

/// The Linux guest's results, as recorded.
fn baseline() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(common::root().join("tests/data/python_suite_linux.txt")).expect("baseline");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            Some((words.next()?.to_string(), words.next()?.to_string()))
        })
        .collect()
}

fn python_root() -> &'static std::path::Path {
    static ROOT: OnceLock<std::path::PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| common::rootfs_of_packages("python", "python3,libpython3.11-testsuite"))
}

/// `isola run` of the driver, with a watchdog past the VM's own timeout
/// (the shared helper's is shorter than this run).
fn run_in_isola(modules: &[&str]) -> String {
    let driver = std::fs::read_to_string(common::root().join("tests/data/python_suite.py")).unwrap();
    let timeout = MODULE_TIMEOUT_SECS.to_string();
    let vm_timeout = RUN_TIMEOUT_SECS.to_string();
    let mut args = vec!["run", "--accel", "tcg", "--memory", "1024", "--timeout", &vm_timeout, "--rootfs"];
    args.push(python_root().to_str().unwrap());
    args.extend(["--", "/usr/bin/python3", "-c", &driver, &timeout]);
    args.extend(modules);
    let mut child = Command::new(env!("CARGO_BIN_EXE_isola"))
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start isola");
    let mut out = child.stdout.take().unwrap();
    let reader = thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        String::from_utf8_lossy(&s).into_owned()
    });
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(RUN_TIMEOUT_SECS + 60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("isola run of the Python suite still running after {RUN_TIMEOUT_SECS} s: killed");
        }
        thread::sleep(Duration::from_millis(100));
    }
    reader.join().unwrap()
}

#[test]
fn results_and_baseline_parse() {
    let out = "noise\npython-suite: test_os FAILURE 9.6\npython-suite: test_mmap SUCCESS 1.0\npython-suite: done\n";
    let got = results(out);
    assert_eq!(got.len(), 2);
    assert_eq!(got["test_os"], "FAILURE");
    let base = baseline();
    assert_eq!(base.len(), MODULES.len(), "the baseline has a line per module");
    assert!(MODULES.iter().all(|m| base.contains_key(*m)));
}

/// Every module of `modules` that passes in the Linux guest passes in Isola.
fn compare_with_linux(modules: &[&str]) {
    let base = baseline();
    let output = run_in_isola(modules);
    let got = results(&output);
    let pass = |r: &BTreeMap<String, String>| modules.iter().filter(|m| r.get(**m).is_some_and(|v| v == "SUCCESS")).count();
    eprintln!("Linux guest: {} of {} modules pass", pass(&base), modules.len());
    eprintln!("Isola: {} of {} modules pass", pass(&got), modules.len());
    let regressions: Vec<String> = modules
        .iter()
        .filter(|m| base[**m] == "SUCCESS")
        .filter(|m| got.get(**m).is_none_or(|r| r != "SUCCESS"))
        .map(|m| format!("{m}: {}", got.get(*m).map_or("no result", String::as_str)))
        .collect();
    assert!(regressions.is_empty(), "passing on Linux, not in Isola: {regressions:?}\n{output}");
}

#[test]
fn quick_modules_pass_in_isola_as_in_the_linux_guest() {
    assert!(QUICK.iter().all(|m| MODULES.contains(m)));
    assert!(QUICK.iter().all(|m| baseline()[*m] == "SUCCESS"), "QUICK holds only modules that pass on Linux");
    compare_with_linux(&QUICK);
}

#[test]
#[ignore = "about 15 minutes under TCG (docs/python-tests.md); CI runs QUICK"]
fn every_module_passing_on_linux_passes_in_isola() {
    compare_with_linux(&MODULES);
}
