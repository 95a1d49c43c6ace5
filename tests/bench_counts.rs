//! `isola bench NAME --count-instructions`, end to end: every QEMU row
//! (Isola strict, mpk and none, the Linux guest) shows positive
//! instructions per operation and their ratio to the Linux guest's, the
//! host row shows none, and the Isola rows' figures repeat within 1 % from
//! one invocation to the next (docs/icount.md). No time is asserted.

mod common;

use common::isola;

/// The rows that run in QEMU, by the name the table starts them with.
const GUEST_ROWS: [&str; 4] = ["Isola strict", "Isola mpk", "Isola none", "Linux guest"];

/// The cells of one Markdown table line, trimmed.
fn cells(line: &str) -> Vec<String> {
    line.trim().trim_matches('|').split('|').map(|c| c.trim().to_string()).collect()
}

/// `isola bench NAME --iterations N --runs 1 --count-instructions`:
/// (row name, instructions/op) of every QEMU row, after checking the
/// columns a user sees.
fn counted(name: &str, iterations: u64) -> Vec<(&'static str, f64)> {
    let n = iterations.to_string();
    let out = isola(&["bench", name, "--iterations", &n, "--runs", "1", "--count-instructions"]);
    assert_eq!(out.code, 0, "{}", out.show());
    let lines: Vec<&str> = out.stdout.lines().collect();
    let header = lines.iter().find(|l| l.starts_with("| environment")).unwrap_or_else(|| panic!("no table: {}", out.show()));
    let header = cells(header);
    let column = |title: &str| header.iter().position(|h| h == title).unwrap_or_else(|| panic!("no column '{title}': {}", out.show()));
    let (insns, ratio) = (column("instructions/op (median)"), column("instructions vs Linux guest"));
    let row = |prefix: &str| {
        let line = lines.iter().find(|l| l.starts_with(&format!("| {prefix} ("))).unwrap_or_else(|| panic!("no {prefix} row: {}", out.show()));
        cells(line)
    };
    let host = row("host");
    assert_eq!((host[insns].as_str(), host[ratio].as_str()), ("-", "-"), "{}", out.show());
    assert_eq!(row("Linux guest")[ratio], "1.00x", "{}", out.show());
    GUEST_ROWS
        .iter()
        .map(|&env| {
            let r = row(env);
            let figure: f64 = r[insns].parse().unwrap_or_else(|_| panic!("{env}: '{}' is not a figure: {}", r[insns], out.show()));
            assert!(figure > 0.0, "{env}: {figure} instructions/op: {}", out.show());
            assert!(r[ratio].ends_with('x'), "{env}: ratio '{}': {}", r[ratio], out.show());
            (env, figure)
        })
        .collect()
}

/// Two invocations in a row: every Isola row within 1 % of itself.
fn repeats_within_one_percent(name: &str, iterations: u64) {
    let first = counted(name, iterations);
    let second = counted(name, iterations);
    for ((env, a), (_, b)) in first.iter().zip(&second) {
        if env.starts_with("Isola") {
            let spread = (a - b).abs() / a.min(*b);
            assert!(spread <= 0.01, "{name}: {env}: {a} then {b} instructions/op ({:.2} % apart)", spread * 100.0);
        }
    }
    eprintln!("{name} --iterations {iterations}: {first:?} then {second:?}");
}

#[test]
fn syscall_counts_repeat() {
    repeats_within_one_percent("syscall", 20_000);
}

#[test]
fn pipe_counts_repeat() {
    repeats_within_one_percent("pipe", 2_000);
}

#[test]
fn fork_counts_repeat() {
    repeats_within_one_percent("fork", 200);
}
