//! What a user of `isola` sees: the built CLI binary boots the real kernel in
//! QEMU (TCG, so it runs anywhere) and its output and exit codes are checked.
//! Every child runs under a host-side watchdog; the first boot of a kernel
//! variant includes building it, hence the generous limit.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Output, isola, isola_with};

/// The banner line on stdout: `isolation: LEVEL` and `boot: <float> ms`.
fn banner(out: &Output) -> (String, f64) {
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains("isolation: ") && l.contains("boot: "))
        .unwrap_or_else(|| panic!("no banner\n{}", out.show()));
    let level = line
        .split("isolation: ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    let ms = line
        .split("boot: ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    let ms: f64 = ms
        .parse()
        .unwrap_or_else(|_| panic!("boot time not a number: {line}"));
    (level.to_string(), ms)
}

fn assert_usage_error(out: &Output, message: &str) {
    assert_eq!(out.code, 2, "{}", out.show());
    assert!(
        out.stderr.starts_with(&format!("isola: {message}")),
        "{}",
        out.show()
    );
    assert!(out.stderr.contains("usage: isola run"), "{}", out.show());
    assert!(out.stdout.is_empty(), "{}", out.show());
}

#[test]
fn help_prints_usage_and_exits_0() {
    for flag in ["help", "--help"] {
        let out = isola(&[flag]);
        assert_eq!(out.code, 0, "{}", out.show());
        assert!(out.stdout.contains("usage: isola run"));
        assert!(out.stdout.contains("--kernel-args"));
    }
}

#[test]
fn unknown_option_is_a_usage_error() {
    assert_usage_error(&isola(&["run", "--foo"]), "unknown option '--foo'");
    assert_usage_error(&isola(&["--foo"]), "unknown option '--foo'");
    assert_usage_error(&isola(&[]), "missing command");
    assert_usage_error(&isola(&["ktest", "--accel", "xen"]), "--accel must be");
}

#[test]
fn bad_timeouts_are_usage_errors() {
    for bad in ["0", "abc", "-5", "1.5"] {
        assert_usage_error(&isola(&["run", "--timeout", bad]), "--timeout must be");
    }
}

#[test]
fn run_under_tcg_with_mpk_prints_the_banner_and_exits_0() {
    let out = isola(&[
        "run",
        "--accel",
        "tcg",
        "--isolation",
        "mpk",
        "--timeout",
        "60",
    ]);
    assert_eq!(out.code, 0, "{}", out.show());
    let (level, boot_ms) = banner(&out);
    assert_eq!(level, "mpk");
    assert!(
        boot_ms > 0.0 && boot_ms < 10_000.0,
        "boot time {boot_ms} ms"
    );
    assert!(
        out.stdout.contains("isola: exit status 0"),
        "{}",
        out.show()
    );
    assert!(
        out.stderr
            .contains("isola: using TCG -cpu max, isolation mpk"),
        "{}",
        out.show()
    );
}

#[test]
fn run_with_isolation_none_says_none() {
    let out = isola(&["run", "--accel", "tcg", "--isolation", "none"]);
    assert_eq!(out.code, 0, "{}", out.show());
    assert_eq!(banner(&out).0, "none");
    assert!(
        out.stderr.contains("TCG -cpu max,-pku, isolation none"),
        "{}",
        out.show()
    );
}

#[test]
fn kernel_args_reach_the_kernel() {
    let marker = "isola.test.marker=7f3a9c";
    let out = isola(&["run", "--accel", "tcg", "--kernel-args", marker]);
    assert_eq!(out.code, 0, "{}", out.show());
    let cmdline = out
        .stdout
        .lines()
        .find(|l| l.contains("cmdline: isolation="))
        .unwrap_or_else(|| panic!("no cmdline: line\n{}", out.show()));
    assert!(cmdline.contains(marker), "{cmdline}");
    // The default level where the CPU has PKU (TCG -cpu max does).
    assert!(cmdline.contains("isolation=strict"), "{cmdline}");
}

#[test]
fn run_under_tcg_with_strict_prints_the_banner_and_exits_0() {
    let out = isola(&["run", "--accel", "tcg", "--isolation", "strict"]);
    assert_eq!(out.code, 0, "{}", out.show());
    assert_eq!(banner(&out).0, "strict");
    assert!(out.stderr.contains("isola: using TCG -cpu max, isolation strict"), "{}", out.show());
}

#[test]
fn stack_overflow_kernel_hits_the_guard_page() {
    let out = isola(&["ktest", "--accel", "tcg", "--stack-overflow"]);
    assert_eq!(out.code, 0, "{}", out.show());
    assert!(
        out.stdout.contains("KERNEL PANIC: kernel stack overflow"),
        "{}",
        out.show()
    );
    assert!(out.stdout.contains("guard_page ... ok"), "{}", out.show());
    let last = out.stdout.lines().last().unwrap_or("");
    assert_eq!(last.trim(), "1 passed, 0 failed", "{}", out.show());
}

#[test]
fn accel_auto_says_which_and_boots() {
    let out = isola(&["run", "--timeout", "60"]);
    assert_eq!(out.code, 0, "{}", out.show());
    assert!(out.stderr.contains("(accel auto: "), "{}", out.show());
    banner(&out);
}

#[test]
fn kvm_either_boots_or_is_reported_unusable() {
    let out = isola(&["run", "--accel", "kvm", "--timeout", "20"]);
    match out.code {
        0 => {
            banner(&out);
        }
        125 => assert!(
            out.stderr.contains("isola: KVM unusable here"),
            "{}",
            out.show()
        ),
        _ => panic!("unexpected exit code\n{}", out.show()),
    }
}

/// A directory holding a fake `qemu-system-x86_64` script.
fn fake_qemu_dir(tag: &str, script: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("isola-cli-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    if !script.is_empty() {
        let qemu = dir.join("qemu-system-x86_64");
        std::fs::write(&qemu, script).unwrap();
        std::fs::set_permissions(&qemu, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir
}

/// How long ago the stand-in QEMU in `dir` started (it touches a file).
fn since_started(dir: &Path) -> Duration {
    let started = dir.join("qemu-system-x86_64.started");
    let mtime = std::fs::metadata(&started)
        .and_then(|m| m.modified())
        .expect("stand-in QEMU never ran");
    mtime.elapsed().unwrap_or_default()
}

fn path_with_first(dir: &Path) -> String {
    let old = std::env::var("PATH").unwrap_or_default();
    format!("{}:{old}", dir.display())
}

#[test]
fn missing_qemu_points_to_setup() {
    let empty = fake_qemu_dir("no-qemu", "");
    let out = isola_with(&["run", "--accel", "tcg"], |c| {
        c.env("PATH", &empty);
    });
    let _ = std::fs::remove_dir_all(&empty);
    assert_eq!(out.code, 125, "{}", out.show());
    assert!(out.stderr.contains("QEMU not found"), "{}", out.show());
    assert!(
        out.stderr.contains("install it with scripts/setup"),
        "{}",
        out.show()
    );
}

#[test]
fn a_guest_that_never_ends_times_out_with_124() {
    // The kernel has no way to hang on request yet, so a stand-in QEMU hangs
    // instead: this checks the host side (timeout, kill, message, code).
    let dir = fake_qemu_dir(
        "hang",
        "#!/bin/sh\ntouch \"$0.started\"\necho 'booting forever'\nexec sleep 600\n",
    );
    let out = isola_with(&["run", "--accel", "tcg", "--timeout", "1"], |c| {
        c.env("PATH", path_with_first(&dir));
    });
    let waited = since_started(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.code, 124, "{}", out.show());
    assert!(out.stderr.contains("timed out after 1 s"), "{}", out.show());
    assert!(out.stdout.contains("booting forever"), "{}", out.show());
    assert!(
        waited < Duration::from_secs(10),
        "QEMU ran {waited:?} for a 1 s timeout"
    );
}

#[test]
fn a_kvm_internal_error_is_caught_at_once() {
    // What the software KVM of these machines does on an instruction it can't
    // emulate: print the error and hang paused. A stand-in QEMU does it here.
    let script = "#!/bin/sh\ntouch \"$0.started\"\necho 'KVM internal error. Suberror: 1' >&2\n\
                  echo 'emulation failure' >&2\nexec sleep 600\n";
    let dir = fake_qemu_dir("kvm-error", script);
    let out = isola_with(&["run", "--accel", "tcg", "--timeout", "300"], |c| {
        c.env("PATH", path_with_first(&dir));
    });
    let waited = since_started(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.code, 125, "{}", out.show());
    assert!(out.stderr.contains("KVM unusable here"), "{}", out.show());
    assert!(
        waited < Duration::from_secs(60),
        "QEMU ran {waited:?}: isola waited for the timeout"
    );
}
