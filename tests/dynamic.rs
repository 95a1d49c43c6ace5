//! Debian's dynamically linked programs: `busybox` (package `busybox`, a
//! PIE with `PT_INTERP`) and glibc's `ld.so` and `libc.so.6` (package
//! `libc6`) from a root that `scripts/fetch-dynamic-root` unpacks; `#!`
//! scripts; and the refusals (a missing or broken interpreter, a library
//! holding WRPKRU). Boots the real kernel under TCG at strict, mpk and none.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Output, TempDir, dynamic_root, isola};

const TIMEOUT: &str = "180";
const LEVELS: [&str; 3] = ["strict", "mpk", "none"];

/// `isola run --rootfs ROOT /bin/busybox ARGS...`: the guest's `/` is the
/// root, and PROGRAM a path inside it.
fn run_in_root(level: &str, extra: &[&str], args: &[&str]) -> Output {
    let root_dir = dynamic_root().to_str().unwrap().to_string();
    let mut all = vec!["run", "--accel", "tcg", "--isolation", level, "--timeout", TIMEOUT, "--rootfs", &root_dir];
    all.extend_from_slice(extra);
    all.push("/bin/busybox");
    all.extend_from_slice(args);
    isola(&all)
}

#[test]
fn debian_dynamic_busybox_runs_the_shell_line() {
    for level in LEVELS {
        let out = run_in_root(
            level,
            &[],
            &["sh", "-c", "echo a | tr a b; for i in 1 2 3; do (exit $i); echo $?; done; sleep 0.1 & wait; exit 7"],
        );
        assert_eq!(out.code, 7, "{level}: {}", out.show());
        for line in ["b", "1", "2", "3"] {
            assert!(out.has_line(line), "{level}: no line {line:?}: {}", out.show());
        }
        assert!(!out.says("WRPKRU") && !out.says("refused"), "{level}: {}", out.show());
    }
}

#[test]
fn ld_so_lists_the_libraries_and_maps_them_at_random_bases() {
    let out = run_in_root("strict", &["--env", "LD_TRACE_LOADED_OBJECTS=1"], &[]);
    assert_eq!(out.code, 0, "{}", out.show());
    let libc = out
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x"))
        .unwrap_or_else(|| panic!("no libc line: {}", out.show()));
    assert!(out.stdout.contains("/lib64/ld-linux-x86-64.so.2 (0x"), "{}", out.show());
    // ASLR: a second boot puts libc elsewhere.
    let again = run_in_root("strict", &["--env", "LD_TRACE_LOADED_OBJECTS=1"], &[]);
    let libc_again = again.stdout.lines().find(|l| l.contains("libc.so.6 =>")).unwrap_or_default();
    assert_ne!(libc.trim(), libc_again.trim(), "libc at the same base twice: {}", again.show());
}

#[test]
fn scripts_run_their_interpreter() {
    let dir = TempDir::new("dynamic-script");
    let script = dir.path().join("greet");
    std::fs::write(&script, "#!/bin/sh -e\necho \"script $0 args $1 $2\"\nexit 3\n").unwrap();
    let nested = dir.path().join("nested");
    std::fs::write(&nested, "#!/bin/greet\n").unwrap();
    let bad = dir.path().join("bad");
    std::fs::write(&bad, "#!\n").unwrap();
    for f in [&script, &nested, &bad] {
        std::fs::set_permissions(f, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    let adds: Vec<String> = [("greet", &script), ("nested", &nested), ("bad", &bad)]
        .iter()
        .map(|(name, path)| format!("{}:/bin/{name}", path.display()))
        .collect();
    let extra = ["--add", &adds[0], "--add", &adds[1], "--add", &adds[2]];
    let out = run_in_root(
        "strict",
        &extra,
        &["sh", "-c", "/bin/greet x y; echo status $?; /bin/nested z; echo nested $?; /bin/bad; echo bad $?"],
    );
    assert!(out.has_line("script /bin/greet args x y"), "{}", out.show());
    assert!(out.has_line("status 3"), "{}", out.show());
    // Linux: /bin/nested z -> /bin/greet /bin/nested z -> /bin/sh -e /bin/greet /bin/nested z
    assert!(out.has_line("script /bin/greet args /bin/nested z"), "{}", out.show());
    assert!(out.has_line("nested 3"), "{}", out.show());
    // execve fails with ENOEXEC (a kernel notice, on stderr); busybox sh
    // then runs the file as a shell script itself, as POSIX asks, so the
    // status is the script's.
    assert!(out.stderr.contains("execve /bin/bad: a #! line that names no interpreter (ENOEXEC)"), "{}", out.show());
    assert!(!out.stdout.contains("ENOEXEC"), "{}", out.show());
    assert!(out.has_line("bad 0"), "{}", out.show());
}

/// A copy of the root's busybox whose PT_INTERP names another path of the
/// same length.
fn busybox_with_interp(dir: &Path, name: &str, interp: &str) -> PathBuf {
    let mut bytes = std::fs::read(dynamic_root().join("bin/busybox")).unwrap();
    let old = b"/lib64/ld-linux-x86-64.so.2\0";
    assert_eq!(interp.len() + 1, old.len());
    let at = bytes.windows(old.len()).position(|w| w == old).expect("PT_INTERP string");
    bytes[at..at + interp.len()].copy_from_slice(interp.as_bytes());
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    path
}

#[test]
fn bad_interpreters_are_refused_and_the_kernel_goes_on() {
    let dir = TempDir::new("dynamic-bad-interp");
    let missing = busybox_with_interp(dir.path(), "missing", "/lib64/ld-gone-x86-64.so.2.");
    let with_text = busybox_with_interp(dir.path(), "text", "/lib64/ld-text-x86-64.so.2.");
    let with_trnc = busybox_with_interp(dir.path(), "trnc", "/lib64/ld-trnc-x86-64.so.2.");
    let text = dir.path().join("text-ld");
    std::fs::write(&text, "not an ELF file\n").unwrap();
    let truncated = dir.path().join("truncated-ld");
    let ld = std::fs::read(dynamic_root().join("lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")).unwrap();
    std::fs::write(&truncated, &ld[..1000]).unwrap();
    for f in [&text, &truncated] {
        std::fs::set_permissions(f, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    let adds = [
        format!("{}:/bin/missing", missing.display()),
        format!("{}:/lib64/ld-text-x86-64.so.2.", text.display()),
        format!("{}:/lib64/ld-trnc-x86-64.so.2.", truncated.display()),
        format!("{}:/bin/text", with_text.display()),
    ];
    let add_trnc = format!("{}:/bin/trnc", with_trnc.display());
    let extra = ["--add", &adds[0], "--add", &adds[1], "--add", &adds[2], "--add", &adds[3], "--add", &add_trnc];
    let out = run_in_root(
        "mpk",
        &extra,
        &["sh", "-c", "/bin/missing true; echo missing $?; /bin/text true; echo text $?; /bin/trnc true; echo trnc $?; echo alive"],
    );
    assert!(out.has_line("missing 127"), "ENOENT: {}", out.show());
    assert!(out.has_line("text 126"), "ELIBBAD: {}", out.show());
    assert!(out.has_line("trnc 126"), "ELIBBAD: {}", out.show());
    assert!(out.has_line("alive"), "{}", out.show());
    assert_eq!(out.code, 0, "{}", out.show());
}

#[test]
fn a_library_holding_wrpkru_is_refused_with_file_and_offset() {
    let dir = TempDir::new("dynamic-wrpkru-lib");
    let d = dir.path();
    std::fs::write(
        d.join("bad.c"),
        "int bad_value(void) { int r; __asm__ volatile(\"mov $1,%%eax; jmp 1f; .byte 0x0f,0x01,0xef; 1: mov %%eax,%0\" : \"=r\"(r) :: \"eax\"); return r; }\n",
    )
    .unwrap();
    std::fs::write(d.join("use.c"), "#include <stdio.h>\nint bad_value(void);\nint main(void) { printf(\"bad %d\\n\", bad_value()); return 0; }\n").unwrap();
    let cc = |args: &[&str]| {
        let out = Command::new("cc").args(args).current_dir(d).output().expect("cc (gcc) is needed by this test");
        assert!(out.status.success(), "cc {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    cc(&["-shared", "-fPIC", "-o", "libbad.so", "bad.c"]);
    cc(&["-o", "usebad", "use.c", "-L.", "-lbad", "-Wl,-rpath,/opt/bad"]);
    let lib = std::fs::read(d.join("libbad.so")).unwrap();
    let offset = lib.windows(3).position(|w| w == [0x0f, 0x01, 0xef]).unwrap();
    let add_lib = format!("{}:/opt/bad/libbad.so", d.join("libbad.so").display());
    let add_use = format!("{}:/bin/usebad", d.join("usebad").display());
    for level in ["mpk", "none"] {
        let out = run_in_root(level, &["--add", &add_lib, "--add", &add_use], &["sh", "-c", "/bin/usebad; echo status $?; echo alive"]);
        // The kernel's refusal (a notice) and ld.so's own message (its
        // stderr) both on isola's stderr; stdout is the shell's alone.
        assert!(
            out.stderr.contains(&format!("refused to map /opt/bad/libbad.so executable: WRPKRU (0F 01 EF) at file offset {offset:#x}")),
            "{level}: {}",
            out.show()
        );
        assert!(out.stderr.contains("libbad.so: failed to map segment from shared object"), "{level}: {}", out.show());
        assert_eq!(out.stdout, "status 127\nalive\n", "{level}: {}", out.show());
        assert!(out.has_line("status 127") && out.has_line("alive"), "{level}: {}", out.show());
        assert!(!out.has_line("bad 1"), "{level}: {}", out.show());
    }
}

/// Another process's /proc/PID/maps and status, as Linux shows them: the
/// libraries a dynamic child mapped with their paths, its name and parent.
#[test]
fn proc_pid_maps_and_status_of_another_process() {
    let script = "sleep 5 & p=$!; sleep 0.3; grep -c 'r-xp .* /lib/x86_64-linux-gnu/libc.so.6' /proc/$p/maps; \
        grep -c ' /bin/busybox$' /proc/$p/maps; grep -E '^(Name|PPid|State):' /proc/$p/status; echo exe=$(readlink /proc/$p/exe); kill $p";
    for level in ["mpk", "none"] {
        let out = run_in_root(level, &[], &["sh", "-c", script]);
        assert_eq!(out.code, 0, "{level}: {}", out.show());
        for line in ["1", "Name:\tsleep", "PPid:\t1", "State:\tS (sleeping)", "exe=/bin/busybox"] {
            assert!(out.has_line(line), "{level}: no line {line:?}: {}", out.show());
        }
        assert!(out.stdout.lines().nth(1).is_some_and(|n| n.parse::<u32>().is_ok_and(|n| n >= 4)), "{level}: {}", out.show());
    }
}
