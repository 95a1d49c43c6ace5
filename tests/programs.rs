//! `isola run PROGRAM`: Linux programs run as Isola's first process, booted
//! through the built CLI under TCG with PKU (so it runs anywhere). The
//! programs are third-party: Debian's `busybox-static`, fetched by
//! `scripts/fetch-busybox` into `target/third-party/busybox` (the tests fetch
//! it when it is missing, and fail, naming the script, when they can't).
//!
//! Every `isola` runs under a watchdog and with its own `--timeout`.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{Output, TempDir, busybox, isola, root};

/// `--timeout` of each boot: TCG, and the first boot builds the kernel.
const TIMEOUT: &str = "180";

/// `isola run --accel tcg --isolation strict --timeout T OPTIONS... BUSYBOX ARGS...`
fn run_busybox(options: &[&str], args: &[&str]) -> Output {
    let bb = busybox().to_str().unwrap().to_string();
    run_program(options, &bb, args)
}

fn run_program(options: &[&str], program: &str, args: &[&str]) -> Output {
    let mut all = vec![
        "run",
        "--accel",
        "tcg",
        "--isolation",
        "strict",
        "--timeout",
        TIMEOUT,
    ];
    all.extend_from_slice(options);
    all.push(program);
    all.extend_from_slice(args);
    let out = isola(&all);
    assert_no_temp_left(&out);
    out
}

/// The temporary initramfs of that run is gone.
fn assert_no_temp_left(out: &Output) {
    let prefix = format!("initrd-{}-", out.pid);
    if let Ok(entries) = std::fs::read_dir(root().join("target/isola")) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            assert!(
                !name.starts_with(&prefix),
                "isola left {name} behind\n{}",
                out.show()
            );
        }
    }
}

/// isola's exit code is the program's, and no kernel log line (banner,
/// `isola: exit status`, INFO) is in the output without `--verbose`.
fn assert_status(out: &Output, code: i32) {
    assert_eq!(out.code, code, "{}", out.show());
    for kernel in ["isola: exit status", "INFO ", "Isola "] {
        assert!(!out.says(kernel), "{kernel:?} printed\n{}", out.show());
    }
}

#[test]
fn busybox_echo_hello() {
    // Exactly the program's bytes: no banner, no kernel line, no \r (the
    // console's \r\n is turned back into \n), nothing on stderr.
    let out = run_busybox(&[], &["echo", "hello"]);
    assert_status(&out, 0);
    assert_eq!(out.stdout, "hello\n", "{}", out.show());
    assert_eq!(out.stderr, "", "{}", out.show());
}

#[test]
fn stdout_and_stderr_are_the_programs_own() {
    // fd 1 to isola's stdout, fd 2 to its stderr; `>&2` is a dup2 of fd 2,
    // which carries stderr along; a last line without a newline stays so.
    let out = run_busybox(
        &[],
        &["sh", "-c", "echo out1; echo err1 >&2; echo out2; echo err2 1>&2; printf tail"],
    );
    assert_status(&out, 0);
    assert_eq!(out.stdout, "out1\nout2\ntail", "{}", out.show());
    assert_eq!(out.stderr, "err1\nerr2\n", "{}", out.show());
}

#[test]
fn a_pipe_of_isola_run_gets_only_the_programs_bytes() {
    // `isola run ... busybox echo hi | od -c`: what the pipe carries is
    // exactly `hi\n`, as from the program on Linux.
    let bb = busybox().to_str().unwrap();
    let isola_bin = env!("CARGO_BIN_EXE_isola");
    let script = format!(
        "'{isola_bin}' run --accel tcg --isolation strict --timeout {TIMEOUT} '{bb}' echo hi | od -An -c"
    );
    let out = std::process::Command::new("sh")
        .args(["-c", &script])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let bytes: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(String::from)
        .collect();
    assert_eq!(bytes, ["h", "i", "\\n"], "{out:?}");
}

#[test]
fn verbose_shows_the_kernel_log_on_stderr() {
    let out = run_busybox(&["--verbose"], &["echo", "hello"]);
    assert_eq!(out.code, 0, "{}", out.show());
    assert_eq!(out.stdout, "hello\n", "{}", out.show());
    // The machine, the banner, the info lines and the exit status.
    assert!(out.stderr.contains("isola: using TCG -cpu max, isolation strict"), "{}", out.show());
    assert!(out.stderr.lines().any(|l| l.starts_with("Isola ") && l.contains("isolation: strict")), "{}", out.show());
    assert!(out.stderr.contains("INFO  isola_kernel: cmdline: isolation=strict"), "{}", out.show());
    assert!(out.has_err_line("isola: exit status 0"), "{}", out.show());
    assert!(!out.stderr.contains('\r'), "{}", out.show());
}

#[test]
fn busybox_runs_without_pku_too() {
    let bb = busybox().to_str().unwrap().to_string();
    let out = isola(&[
        "run",
        "--accel",
        "tcg",
        "--isolation",
        "none",
        "--timeout",
        TIMEOUT,
        "--verbose",
        &bb,
        "echo",
        "no keys",
    ]);
    assert_no_temp_left(&out);
    assert_eq!(out.code, 0, "{}", out.show());
    assert_eq!(out.stdout, "no keys\n", "{}", out.show());
    assert!(
        out.stderr.lines().any(|l| l.contains("isolation: none")),
        "{}",
        out.show()
    );
}

#[test]
fn options_after_program_are_its_own() {
    // `-e` would be an unknown option for isola: it must reach echo.
    let out = run_busybox(&[], &["echo", "-e", "a\\tb"]);
    assert_status(&out, 0);
    assert!(out.has_line("a\tb"), "{}", out.show());
}

#[test]
fn busybox_ls_l_lists_the_root() {
    let out = run_busybox(&[], &["ls", "-l", "/"]);
    assert_status(&out, 0);
    let bin = out
        .stdout
        .lines()
        .find(|l| l.split_whitespace().last() == Some("bin"))
        .unwrap_or_else(|| panic!("no 'bin' in ls -l /\n{}", out.show()));
    assert!(bin.starts_with('d'), "bin is not a directory: {bin}");
}

#[test]
fn busybox_cats_a_file_added_with_add() {
    let dir = TempDir::new("greeting");
    let file = dir.path().join("greeting.txt");
    let text = "greetings from the host, 5f2c\nsecond line";
    std::fs::write(&file, text).unwrap();
    let add = format!("{}:/data/greeting.txt", file.display());
    let out = run_busybox(&["--add", &add], &["cat", "/data/greeting.txt"]);
    assert_status(&out, 0);
    assert!(
        out.has_line("greetings from the host, 5f2c"),
        "{}",
        out.show()
    );
    assert!(out.stdout.contains("second line"), "{}", out.show());
}

#[test]
fn add_copies_a_whole_directory() {
    let dir = TempDir::new("tree");
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("sub/deeper")).unwrap();
    std::fs::write(tree.join("sub/deeper/note.txt"), "deep note 91ab\n").unwrap();
    std::fs::write(tree.join("run.sh"), "echo from-script-77\n").unwrap();
    std::fs::set_permissions(tree.join("run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("sub/deeper/note.txt", tree.join("note-link")).unwrap();
    let add = format!("{}:/srv", tree.display());
    let out = run_busybox(
        &["--add", &add],
        &["cat", "/srv/sub/deeper/note.txt", "/srv/note-link"],
    );
    assert_status(&out, 0);
    let notes = out
        .stdout
        .lines()
        .filter(|l| *l == "deep note 91ab")
        .count();
    assert_eq!(notes, 2, "{}", out.show());
    let out = run_busybox(&["--add", &add], &["ls", "-l", "/srv"]);
    assert_status(&out, 0);
    let line = |suffix: &str| {
        out.stdout
            .lines()
            .find(|l| l.ends_with(suffix))
            .unwrap_or_else(|| panic!("no {suffix} in ls -l /srv\n{}", out.show()))
            .to_string()
    };
    assert!(line(" run.sh").starts_with("-rwxr-xr-x"), "{}", out.show());
    assert!(line(" sub").starts_with('d'), "{}", out.show());
    assert!(
        line(" note-link -> sub/deeper/note.txt").starts_with('l'),
        "{}",
        out.show()
    );
}

#[test]
fn sh_exit_status_is_isolas() {
    let out = run_busybox(&[], &["sh", "-c", "exit 3"]);
    assert_status(&out, 3);
}

#[test]
fn env_reaches_the_program() {
    let out = run_busybox(&["--env", "FOO=bar", "--env", "HOME=/root"], &["env"]);
    assert_status(&out, 0);
    for line in [
        "FOO=bar",
        "HOME=/root",
        "PATH=/bin:/sbin:/usr/bin:/usr/sbin",
        "TERM=linux",
    ] {
        assert!(out.has_line(line), "no {line}\n{}", out.show());
    }
    assert!(!out.has_line("HOME=/"), "{}", out.show());
}

#[test]
fn trace_prints_every_syscall() {
    let out = run_busybox(&["--trace"], &["echo", "hi"]);
    assert_status(&out, 0);
    assert!(out.has_line("hi"), "{}", out.show());
    // The trace asked for is shown, on stderr as strace's is.
    assert_eq!(out.stdout, "hi\n", "{}", out.show());
    assert!(
        out.stderr.lines().any(|l| l.contains("write(1, ")),
        "no write(1, ...) traced\n{}",
        out.show()
    );
    assert!(
        out.stderr.lines().any(|l| l.contains("exit_group(0)")),
        "no exit_group(0) traced\n{}",
        out.show()
    );
}

#[test]
fn a_file_that_is_not_an_elf_exits_126() {
    let dir = TempDir::new("garbage");
    let garbage = dir.path().join("garbage");
    std::fs::write(&garbage, "this is not an ELF file, just text\n").unwrap();
    std::fs::set_permissions(&garbage, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = run_program(&[], garbage.to_str().unwrap(), &[]);
    assert_status(&out, 126);
    // A refusal is a notice: on stderr without --verbose.
    let line = out
        .err_line("isola: cannot execute /bin/garbage")
        .unwrap_or_else(|| panic!("no 'cannot execute' line\n{}", out.show()));
    assert!(out.stdout.is_empty(), "{}", out.show());
    let reason = line.to_lowercase();
    assert!(
        reason.contains("enoexec")
            || reason.contains("not an elf")
            || reason.contains("exec format"),
        "{line}"
    );
}

#[test]
fn a_program_killed_by_a_signal_exits_128_plus_it() {
    let out = run_busybox(&[], &["sh", "-c", "kill -9 $$"]);
    assert_status(&out, 137);
}

#[test]
fn a_program_that_never_ends_times_out_and_leaves_nothing() {
    let bb = busybox().to_str().unwrap().to_string();
    let out = isola(&[
        "run",
        "--accel",
        "tcg",
        "--isolation",
        "strict",
        "--timeout",
        "20",
        &bb,
        "sh",
        "-c",
        "while :; do :; done",
    ]);
    assert_no_temp_left(&out);
    // 20 s may not even cover a cold kernel build: then isola still says
    // "timed out" with 124, which is all this checks.
    assert_eq!(out.code, 124, "{}", out.show());
    assert!(
        out.stderr.contains("timed out after 20 s"),
        "{}",
        out.show()
    );
}

// ---- bad input: one line, exit 2, nothing booted -------------------------

fn assert_input_error(out: &Output, message: &str) {
    assert_eq!(out.code, 2, "{}", out.show());
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", out.show());
    assert!(lines[0].starts_with("isola: "), "{}", out.show());
    assert!(lines[0].contains(message), "{}", out.show());
    assert!(out.stdout.is_empty(), "{}", out.show());
    assert_no_temp_left(out);
}

#[test]
fn a_missing_program_is_named() {
    let out = isola(&["run", "--accel", "tcg", "/nonexistent/prog-3c1", "x"]);
    assert_input_error(&out, "/nonexistent/prog-3c1: no such file or directory");
}

#[test]
fn a_directory_is_not_a_program() {
    let dir = TempDir::new("dir-prog");
    let out = isola(&["run", "--accel", "tcg", dir.path().to_str().unwrap()]);
    assert_input_error(&out, "is not a regular file");
}

#[test]
fn a_missing_add_source_is_named() {
    let dir = TempDir::new("missing-add");
    let prog = dir.path().join("prog");
    std::fs::write(&prog, "x").unwrap();
    let out = isola(&[
        "run",
        "--accel",
        "tcg",
        "--add",
        "/nonexistent/data-77:/data",
        prog.to_str().unwrap(),
    ]);
    assert_input_error(
        &out,
        "--add /nonexistent/data-77: no such file or directory",
    );
}

#[test]
fn a_socket_in_an_added_tree_is_refused() {
    use std::os::unix::net::UnixListener;
    let dir = TempDir::new("socket-add");
    let prog = dir.path().join("prog");
    std::fs::write(&prog, "x").unwrap();
    std::fs::create_dir(dir.path().join("tree")).unwrap();
    let _sock = UnixListener::bind(dir.path().join("tree/sock")).unwrap();
    let add = format!("{}:/t", dir.path().join("tree").display());
    let out = isola(&[
        "run",
        "--accel",
        "tcg",
        "--add",
        &add,
        prog.to_str().unwrap(),
    ]);
    assert_input_error(&out, "is a socket");
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
fn bad_run_flags_are_usage_errors() {
    assert_usage_error(
        &isola(&["run", "--add", "nocolon", "prog"]),
        "--add nocolon: ",
    );
    assert_usage_error(&isola(&["run", "--add", "x:rel", "prog"]), "--add x:rel: ");
    assert_usage_error(
        &isola(&["run", "--env", "NOEQUALS", "prog"]),
        "--env expects K=V",
    );
    assert_usage_error(&isola(&["run", "--env", "A=1"]), "--env needs a PROGRAM");
    assert_usage_error(
        &isola(&["run", "--trace=yes", "prog"]),
        "option '--trace' takes no value",
    );
    assert_usage_error(
        &isola(&["run", "--frob", "prog"]),
        "unknown option '--frob'",
    );
    assert_usage_error(
        &isola(&["run", "--verbose=yes", "prog"]),
        "option '--verbose' takes no value",
    );
}

#[test]
fn fetch_busybox_is_idempotent_and_leaves_a_static_elf() {
    let bb = busybox();
    let out = std::process::Command::new(root().join("scripts/fetch-busybox"))
        .current_dir(root())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().last(), Some("target/third-party/busybox"));
    let bytes = std::fs::read(bb).unwrap();
    assert_eq!(&bytes[..4], b"\x7fELF");
    assert_eq!(bytes[4], 2, "not ELF64");
    assert_eq!(u16::from_le_bytes([bytes[18], bytes[19]]), 62, "not x86-64");
    assert!(Path::new(bb).metadata().unwrap().permissions().mode() & 0o111 != 0);
}
