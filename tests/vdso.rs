//! The vDSO as glibc programs see it: `tests/data/vdso.c`, built here with
//! `cc` against the host's glibc (dynamic, run on the Debian root of
//! `scripts/fetch-dynamic-root`, and static), reads every clock without a
//! system call (the kernel's `trace` shows none), in agreement with the
//! system call; keeps its vDSO across fork and gets a new one at exec;
//! sees `[vvar]` and `[vdso]` in /proc/self/maps; dies of SIGSEGV writing
//! them; follows clock_settime and settimeofday. Debian's busybox (static
//! and dynamic) reads the time through it too. Boots the real kernel
//! under TCG at strict, mpk and none.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{Output, busybox, dynamic_root, isola, root};

const TIMEOUT: &str = "180";
const LEVELS: [&str; 3] = ["strict", "mpk", "none"];

/// tests/data/vdso.c built dynamic (`vdso`) and static (`vdso-static`).
fn programs() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = root().join("target/test-vdso");
        std::fs::create_dir_all(&dir).unwrap();
        let source = root().join("tests/data/vdso.c");
        for (name, extra) in [("vdso", None), ("vdso-static", Some("-static"))] {
            let mut cc = Command::new("cc");
            cc.args(["-O2", "-Wall", "-Werror", "-o"]).arg(dir.join(name)).arg(&source);
            cc.args(extra);
            let out = cc.output().expect("cc (gcc) is needed by this test");
            assert!(out.status.success(), "cc {name}: {}", String::from_utf8_lossy(&out.stderr));
        }
        dir
    })
}

/// `isola run` of the test program (`static_link`: the static one) at
/// `level` in the Debian root, `/bin/vdso MODE`.
fn run_vdso(level: &str, static_link: bool, trace: bool, mode: &str) -> Output {
    let name = if static_link { "vdso-static" } else { "vdso" };
    let add = format!("{}:/bin/vdso", programs().join(name).display());
    let root_dir = dynamic_root().to_str().unwrap().to_string();
    let mut args = vec!["run", "--accel", "tcg", "--isolation", level, "--timeout", TIMEOUT, "--rootfs", &root_dir, "--add", &add];
    if trace {
        args.push("--trace");
    }
    args.extend_from_slice(&["/bin/vdso", mode]);
    isola(&args)
}

/// Trace lines (the kernel's, on stderr) of system call `name`.
fn traced<'a>(out: &'a Output, name: &str) -> Vec<&'a str> {
    let call = format!("] {name}(");
    out.stderr.lines().filter(|l| l.contains(&call)).collect()
}

/// The address after `label` on a line of the program's output.
fn address(out: &Output, label: &str) -> u64 {
    let line = out.stdout.lines().find(|l| l.starts_with(label)).unwrap_or_else(|| panic!("no {label:?}: {}", out.show()));
    let hex = line[label.len()..].trim().trim_start_matches("0x");
    u64::from_str_radix(hex, 16).unwrap_or_else(|_| panic!("bad address in {line:?}"))
}

#[test]
fn glibc_reads_every_clock_without_a_system_call() {
    for level in LEVELS {
        for static_link in [false, true] {
            let what = format!("{level}, static {static_link}");
            let out = run_vdso(level, static_link, true, "clocks");
            assert_eq!(out.code, 0, "{what}: {}", out.show());
            assert!(out.has_line("clocks: 0 failures"), "{what}: {}", out.show());
            // 6 clocks x 1001 reads, gettimeofday, time, clock_getres, getcpu
            // in the vDSO; the only clock_gettime calls are the program's 3
            // explicit syscalls and the vDSO's 2 fallbacks.
            let calls = traced(&out, "clock_gettime");
            assert_eq!(calls.len(), 5, "{what}: {calls:#?}");
            assert_eq!(calls.iter().filter(|l| l.contains("(CLOCK_MONOTONIC,")).count(), 2, "{what}: {calls:#?}");
            assert_eq!(calls.iter().filter(|l| l.contains("(CLOCK_REALTIME,")).count(), 1, "{what}: {calls:#?}");
            assert!(calls.iter().any(|l| l.contains("(CLOCK_PROCESS_CPUTIME_ID,")), "{what}: {calls:#?}");
            assert!(calls.iter().any(|l| l.contains("(12345,") && l.ends_with("EINVAL (Invalid argument)")), "{what}: {calls:#?}");
            for name in ["gettimeofday", "time", "clock_getres", "getcpu"] {
                assert!(traced(&out, name).is_empty(), "{what}: {name} entered the kernel: {}", out.show());
            }
        }
    }
}

#[test]
fn a_forked_child_keeps_the_vdso_and_exec_maps_a_new_one() {
    for level in LEVELS {
        for static_link in [false, true] {
            let what = format!("{level}, static {static_link}");
            let out = run_vdso(level, static_link, false, "fork");
            assert_eq!(out.code, 0, "{what}: {}", out.show());
            assert_eq!(address(&out, "parent vdso"), address(&out, "child vdso"), "{what}: {}", out.show());
            assert!(out.has_line("child exited 0") && out.stdout.contains("clocks ok"), "{what}: {}", out.show());

            // exec: /proc/self/exe again, in "maps" mode (maps, then clocks).
            let out = run_vdso(level, static_link, false, "exec");
            assert_eq!(out.code, 0, "{what}: {}", out.show());
            assert!(out.has_line("maps: 0 failures"), "{what}: {}", out.show());
            let (before, after) = (address(&out, "before exec vdso"), address(&out, "vdso"));
            assert_ne!(before, after, "{what}: the same vDSO address after exec: {}", out.show());
            let vvar = out.stdout.lines().find(|l| l.ends_with("[vvar]")).unwrap_or_else(|| panic!("{what}: {}", out.show()));
            let vdso = out.stdout.lines().find(|l| l.ends_with("[vdso]")).unwrap_or_else(|| panic!("{what}: {}", out.show()));
            assert_eq!(&vvar[..73], format!("{:x}-{after:x} r--p 00000000 00:00 0{:26}", after - 4096, ""), "{what}");
            assert!(vdso.starts_with(&format!("{after:x}-")) && vdso.contains(" r-xp 00000000 00:00 0 "), "{what}: {vdso}");
        }
    }
}

#[test]
fn writing_the_vdso_or_its_data_page_is_sigsegv() {
    for level in LEVELS {
        let out = run_vdso(level, false, false, "write");
        assert_eq!(out.code, 0, "{level}: {}", out.show());
        assert_eq!(out.stdout.matches("child killed by signal 11").count(), 2, "{level}: {}", out.show());
        assert!(!out.stdout.contains("wrote the"), "{level}: {}", out.show());
        assert!(out.has_line("write: 0 failures"), "{level}: {}", out.show());
    }
}

#[test]
fn clock_settime_and_settimeofday_move_the_vdso_s_realtime() {
    for level in LEVELS {
        for static_link in [false, true] {
            let out = run_vdso(level, static_link, true, "settime");
            assert_eq!(out.code, 0, "{level}: {}", out.show());
            assert!(out.has_line("settime: 0 failures") && out.has_line("child exited 0"), "{level}: {}", out.show());
            assert_eq!(traced(&out, "clock_settime").iter().filter(|l| l.ends_with(") = 0")).count(), 2, "{level}: {}", out.show());
            assert_eq!(traced(&out, "settimeofday").len(), 3, "{level}: {}", out.show());
            assert_eq!(traced(&out, "clock_settime").iter().filter(|l| l.ends_with("EPERM (Operation not permitted)")).count(), 1, "{level}");
        }
    }
}

#[test]
fn debian_busybox_reads_the_time_through_the_vdso() {
    let host_now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let static_bb = busybox().to_str().unwrap().to_string();
    let root_dir = dynamic_root().to_str().unwrap().to_string();
    for level in ["mpk", "none"] {
        for dynamic in [false, true] {
            let mut args = vec!["run", "--accel", "tcg", "--isolation", level, "--timeout", TIMEOUT, "--trace"];
            if dynamic {
                args.extend_from_slice(&["--rootfs", &root_dir, "/bin/busybox"]);
            } else {
                args.push(&static_bb);
            }
            args.extend_from_slice(&["sh", "-c", "date +%s; sleep 0.1; date +%s"]);
            let before = host_now();
            let out = isola(&args);
            let after = host_now();
            let what = format!("{level}, dynamic {dynamic}");
            assert_eq!(out.code, 0, "{what}: {}", out.show());
            let stamps: Vec<u64> = out.stdout.lines().filter_map(|l| l.trim().parse().ok()).collect();
            assert_eq!(stamps.len(), 2, "{what}: {}", out.show());
            assert!(stamps[0] + 1 >= before && stamps[1] <= after + 1 && stamps[0] <= stamps[1], "{what}: {stamps:?} not in {before}..{after}");
            assert!(!traced(&out, "exit_group").is_empty(), "{what}: no trace: {}", out.show());
            for name in ["clock_gettime", "gettimeofday", "time"] {
                assert!(traced(&out, name).is_empty(), "{what}: {name} entered the kernel: {}", out.show());
            }
        }
    }
}
