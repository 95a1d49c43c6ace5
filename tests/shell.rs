//! Debian's busybox-static running its shell unmodified inside Isola: fork,
//! exec of `/proc/self/exe` for applets, pipes, subshells, background jobs
//! and `wait`, exit statuses. Booted through the built CLI under TCG with
//! PKU (`--accel tcg --isolation strict`), busybox fetched by
//! `scripts/fetch-busybox` when missing (see tests/programs.rs).

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{Output, TempDir, busybox, isola};

/// `--timeout` of each boot: TCG, many processes, and possibly a cold
/// kernel build before it.
const TIMEOUT: &str = "600";

fn run_busybox(level: &str, options: &[&str], args: &[&str]) -> Output {
    let bb = busybox().to_str().unwrap().to_string();
    let mut all = vec![
        "run",
        "--accel",
        "tcg",
        "--isolation",
        level,
        "--timeout",
        TIMEOUT,
    ];
    all.extend_from_slice(options);
    all.push(&bb);
    all.extend_from_slice(args);
    isola(&all)
}

/// The lines the program printed: its stdout, which holds nothing else.
fn program_lines(out: &Output) -> Vec<&str> {
    out.stdout.lines().collect()
}

/// The issue's command line: pipeline, subshell exit statuses, a background
/// job and `wait`, then `exit 7`.
const ISSUE_COMMAND: &str =
    "echo a | tr a b; for i in 1 2 3; do (exit $i); echo $?; done; sleep 0.1 & wait; exit 7";

fn check_issue_command(level: &str, verbose: bool) {
    let options: &[&str] = if verbose { &["--verbose"] } else { &[] };
    let out = run_busybox(level, options, &["sh", "-c", ISSUE_COMMAND]);
    assert_eq!(out.code, 7, "{}", out.show());
    // The program's output is the program's: exactly its lines on stdout,
    // with --verbose or without (issue 11).
    assert_eq!(out.stdout, "b\n1\n2\n3\n", "{}", out.show());
    assert!(!out.says("KERNEL PANIC"), "{}", out.show());
    if verbose {
        assert!(out.has_err_line("isola: exit status 7"), "{}", out.show());
        assert!(out.stderr.contains(&format!("isolation: {level} | boot: ")), "{}", out.show());
    } else {
        // Nothing from the kernel or from isola: nothing went wrong.
        assert_eq!(out.stderr, "", "{}", out.show());
    }
    // glibc registers rseq at every start and copes with ENOSYS: not a
    // warning, not even a log line (issue 11).
    assert!(!out.says("unimplemented syscall rseq"), "{}", out.show());
}

#[test]
fn the_issues_shell_line_prints_b_1_2_3_and_exits_7() {
    check_issue_command("strict", false);
}

#[test]
fn the_issues_shell_line_without_pku_too() {
    check_issue_command("none", true);
}

/// A script added with `--add`: 200 subshells, 200 pipelines (half of them
/// through an exec'd applet), command substitutions, background jobs; it
/// checks its own results and prints one summary line.
const SCRIPT: &str = r#"#!/bin/sh
i=0
bad=0
while [ $i -lt 200 ]; do
    ( exit $((i % 7)) )
    [ $? -eq $((i % 7)) ] || bad=$((bad + 1))
    if [ $((i % 2)) -eq 0 ]; then
        v=$(echo "x$i" | tr x y)
        [ "$v" = "y$i" ] || bad=$((bad + 1))
    else
        v=$(echo "$i" | { read n; echo $((n * 2)); })
        [ "$v" = "$((i * 2))" ] || bad=$((bad + 1))
    fi
    i=$((i + 1))
done
for j in 1 2 3 4; do (exit $j) & done
wait
n=$(seq 1 50 | grep -c 5)
[ "$n" = 6 ] || bad=$((bad + 1))
echo "loops=$i bad=$bad"
[ $bad -eq 0 ]
"#;

#[test]
fn a_script_with_200_subshells_and_pipelines_completes() {
    let dir = TempDir::new("shell-script");
    let script = dir.path().join("many.sh");
    std::fs::write(&script, SCRIPT).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let add = format!("{}:/many.sh", script.display());
    let out = run_busybox("strict", &["--add", &add], &["sh", "/many.sh"]);
    assert!(out.has_line("loops=200 bad=0"), "{}", out.show());
    assert_eq!(out.code, 0, "{}", out.show());
    assert!(!out.says("isola: exit status"), "{}", out.show());
}

#[test]
fn sh_runs_a_pipeline_of_three_applets() {
    let out = run_busybox(
        "strict",
        &[],
        &["sh", "-c", "echo one two three | tr ' ' '\\n' | wc -l"],
    );
    assert_eq!(out.code, 0, "{}", out.show());
    assert!(
        program_lines(&out).iter().any(|l| l.trim() == "3"),
        "{}",
        out.show()
    );
}

#[test]
fn sh_reports_a_childs_signal_death() {
    // The child kills itself with SIGTERM: the shell sees 128+15.
    let out = run_busybox(
        "strict",
        &[],
        &["sh", "-c", "sh -c 'kill -TERM $$'; echo st=$?"],
    );
    assert_eq!(out.code, 0, "{}", out.show());
    assert!(out.has_line("st=143"), "{}", out.show());
}

/// User and group names come from `/etc/passwd` and `/etc/group` in the
/// image (busybox reads the files itself), for the shell's children too.
#[test]
fn passwd_and_group_lookups_use_the_files_in_the_image() {
    let dir = TempDir::new("etc");
    std::fs::write(dir.path().join("passwd"), "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/false\n")
        .unwrap();
    std::fs::write(dir.path().join("group"), "root:x:0:\nwww:x:33:\n").unwrap();
    std::fs::write(dir.path().join("owned"), "x").unwrap();
    let add = format!("{}:/etc", dir.path().display());
    let out = run_busybox("strict", &["--add", &add], &["sh", "-c", "chown 33:33 /etc/owned && ls -l /etc/owned && id www"]);
    assert_eq!(out.code, 0, "{}", out.show());
    let lines = program_lines(&out);
    assert!(lines.iter().any(|l| l.contains(" www ") && l.ends_with("/etc/owned")), "{}", out.show());
    assert!(lines.contains(&"uid=33(www) gid=33(www) groups=33(www)"), "{}", out.show());
}
