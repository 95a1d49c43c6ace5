//! SysV shared memory and semaphores (docs/sysv-ipc.md): the test program
//! `test-sysv-ipc` (userland/c) booted in the real kernel under TCG at
//! strict, mpk and none, with every check passing; at strict and mpk the
//! PKRU checks run too (skipped only without PKU). Its outsider and
//! read-only checks end children with SIGSEGV, which the kernel reports.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use common::{Output, isola, root};

/// `target/userland/test-sysv-ipc`, built by `scripts/build-userland` if missing.
fn program() -> String {
    static BUILT: OnceLock<()> = OnceLock::new();
    let path: PathBuf = root().join("target/userland/test-sysv-ipc");
    BUILT.get_or_init(|| {
        if !path.exists() {
            let status = Command::new(root().join("scripts/build-userland")).status().expect("run scripts/build-userland");
            assert!(status.success(), "scripts/build-userland failed");
        }
    });
    assert!(path.exists(), "{} is missing: run scripts/build-userland", path.display());
    path.to_str().unwrap().to_string()
}

/// The program's summary line: (passed, failed, skipped).
fn summary(out: &Output) -> (u32, u32, u32) {
    let line = out
        .stdout
        .lines()
        .rev()
        .find(|l| l.contains(" passed, ") && l.contains(" failed"))
        .unwrap_or_else(|| panic!("no summary line\n{}", out.show()));
    let numbers: Vec<u32> = line.split(|c: char| !c.is_ascii_digit()).filter_map(|w| w.parse().ok()).collect();
    (numbers[0], numbers[1], numbers.get(2).copied().unwrap_or(0))
}

#[test]
fn sysv_shm_and_semaphores_pass_at_every_level() {
    let program = program();
    for level in ["strict", "mpk", "none"] {
        let out = isola(&["run", "--accel", "tcg", "--isolation", level, "--timeout", "300", &program]);
        assert_eq!(out.code, 0, "{level}: {}", out.show());
        let (passed, failed, skipped) = summary(&out);
        assert_eq!(failed, 0, "{level}: {}", out.show());
        // Only the PKRU checks may skip, and only without PKU.
        let want_skipped = if level == "none" { 1 } else { 0 };
        assert!(passed >= 80 && skipped == want_skipped, "{level}: {passed} passed, {skipped} skipped\n{}", out.show());
        for line in [
            "ok - a process that is not attached touching the segment's address gets SIGSEGV",
            "ok - a removed segment stays usable (and shared) until detached",
            "ok - a semaphore as a mutex: 4 forked children add 300 each to a counter in a segment, exactly",
            "ok - a waiter gets EIDRM when the set is removed",
            "ok - a child killed while holding a SEM_UNDO semaphore wakes the waiting parent",
        ] {
            assert!(out.has_line(line), "{level}: no line {line:?}\n{}", out.show());
        }
        // The outsider's fault is the kernel's notice, on stderr only.
        assert!(out.stderr.contains("killed by SIGSEGV: read at"), "{level}: {}", out.show());
    }
}
