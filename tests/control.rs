//! A running VM seen and signalled from the host: `isola ps` and `isola
//! kill` through the control channel, Ctrl-C / SIGTERM to `isola run`
//! stopping the guest cleanly, and no default timeout (docs/control.md).

mod common;
mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{WATCHDOG, busybox, isola, root};
use support::{Background, free_port, ps_rows as rows, userland, wait_answer};

/// A VM name no other test run uses.
fn unique_name(tag: &str) -> String {
    format!("t{}-{tag}", std::process::id())
}

fn signal(pid: u32, name: &str) {
    let sent = Command::new("kill").args([&format!("-{name}"), &pid.to_string()]).status().expect("run kill");
    assert!(sent.success(), "kill -{name} {pid} failed");
}

#[test]
fn ps_lists_and_kill_signals_the_processes_of_a_running_vm() {
    let prefork = userland(&root(), "prefork-httpd");
    let port = free_port();
    let publish = format!("{port}:80");
    let name = unique_name("ps");
    let mut run = Background::start(&[
        "run", "--accel", "tcg", "--isolation", "mpk", "--name", &name, "-p", &publish,
        prefork.to_str().unwrap(), "-p", "80", "-w", "3",
    ]);
    assert!(run.wait_for("prefork-httpd: listening on", WATCHDOG), "no listening line\n{}", run.show());
    wait_answer(&mut run, port, "/", Duration::from_secs(120));

    let ps = isola(&["ps", "--name", &name]);
    assert_eq!(ps.code, 0, "{}", ps.show());
    assert!(ps.stdout.lines().any(|l| l.contains("PID") && l.contains("KEY") && l.contains("COMMAND")), "{}", ps.show());
    let listed = rows(&ps.stdout);
    assert_eq!(listed.len(), 4, "the master and 3 workers:\n{}", ps.stdout);
    let master = listed.iter().find(|r| r.0 == 1).expect("pid 1 listed");
    assert!(master.4.contains("prefork-httpd -p 80 -w 3"), "the whole command line: {}", master.4);
    let mut keys: Vec<u32> = listed.iter().map(|r| r.2).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 4, "every process in a domain of its own:\n{}", ps.stdout);
    let worker = listed.iter().find(|r| r.1 == 1).expect("a worker of pid 1").0;

    // The only VM running (of this user) is found without --name as well
    // when no other test boots one meanwhile; with several, the answer
    // names them.
    let anon = isola(&["ps"]);
    assert!(
        anon.code == 0 && rows(&anon.stdout).len() == 4 || anon.stderr.contains("VMs are running") && anon.stderr.contains(&name),
        "{}",
        anon.show()
    );

    let killed = isola(&["kill", "--name", &name, "-KILL", &worker.to_string()]);
    assert_eq!(killed.code, 0, "{}", killed.show());
    let replaced = format!("worker pid {worker} killed by signal 9, replaced by pid");
    assert!(run.wait_for(&replaced, Duration::from_secs(60)), "the master did not replace the worker\n{}", run.show());
    let after = rows(&isola(&["ps", "--name", &name]).stdout);
    assert!(!after.iter().any(|r| r.0 == worker), "pid {worker} still listed: {after:?}");
    assert_eq!(after.len(), 4, "{after:?}");

    let missing = isola(&["kill", "--name", &name, "4000"]);
    assert_eq!(missing.code, 2, "{}", missing.show());
    assert!(missing.stderr.contains("no such process"), "{}", missing.show());
    let probe = isola(&["kill", "--name", &name, "-0", "1"]);
    assert_eq!(probe.code, 0, "signal 0 checks that pid 1 exists\n{}", probe.show());

    // SIGTERM to the master: it stops its workers and exits 0.
    let term = isola(&["kill", "--name", &name, "1"]);
    assert_eq!(term.code, 0, "{}", term.show());
    let status = run.wait(Duration::from_secs(60));
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{}", run.show());
    let gone = isola(&["ps", "--name", &name]);
    assert_eq!(gone.code, 2, "{}", gone.show());
    assert!(gone.stderr.contains(&format!("no VM named '{name}' is running")), "{}", gone.show());
}

#[test]
fn ps_and_kill_refuse_bad_input_with_one_line() {
    let cases: [&[&str]; 6] = [
        &["ps", "--name", "no-such-vm-anywhere"],
        &["kill", "--name", "no-such-vm-anywhere", "1"],
        &["kill", "-NOSUCHSIG", "1"],
        &["kill"],
        &["ps", "--bogus"],
        &["run", "--name", "../escape", "/bin/true"],
    ];
    for args in cases {
        let out = isola(args);
        assert_eq!(out.code, 2, "{args:?}\n{}", out.show());
        let first = out.stderr.lines().next().unwrap_or("");
        assert!(first.starts_with("isola: "), "{args:?}\n{}", out.show());
    }
}

#[test]
fn a_second_vm_cannot_take_a_running_vms_name() {
    let bb = busybox().to_str().unwrap().to_string();
    let name = unique_name("dup");
    let mut first = Background::start(&["run", "--accel", "tcg", "--isolation", "none", "--name", &name, "--verbose", &bb, "sleep", "600"]);
    assert!(first.wait_for_err("isolation: ", WATCHDOG), "{}", first.show());
    let second = isola(&["run", "--accel", "tcg", "--name", &name, &bb, "true"]);
    assert_eq!(second.code, 2, "{}", second.show());
    assert!(second.stderr.contains(&format!("a VM named '{name}' is running already")), "{}", second.show());
    first.kill();
}

/// `isola run` of `busybox sh -c SCRIPT`, booted, then `signal` to isola.
fn start_and_signal(script: &str, name: &str, sig: &str) -> Background {
    let bb = busybox().to_str().unwrap().to_string();
    let mut run = Background::start(&["run", "--accel", "tcg", "--isolation", "strict", "--name", name, &bb, "sh", "-c", script]);
    assert!(run.wait_for("ready", WATCHDOG), "the guest did not start\n{}", run.show());
    signal(run.pid(), sig);
    run
}

#[test]
fn ctrl_c_stops_the_guest_cleanly_with_its_status() {
    let mut run = start_and_signal("echo ready; exec sleep 600", &unique_name("int"), "INT");
    let status = run.wait(Duration::from_secs(60));
    assert!(status.is_some(), "isola still running after SIGINT\n{}", run.show());
    // sleep (pid 1) died of the SIGTERM it was sent: 128 + 15.
    assert_eq!(status.unwrap().code(), Some(143), "{}", run.show());
    assert!(run.stderr().contains("isola: SIGINT: stopping the guest (SIGTERM to its pid 1"), "{}", run.show());
    assert!(run.stderr().contains("isola: stopped at SIGINT (the guest ended with status 143)"), "{}", run.show());
}

#[test]
fn a_guest_that_ignores_sigterm_is_killed_at_the_second_signal() {
    let mut run = start_and_signal("trap '' TERM; echo ready; sleep 600", &unique_name("term"), "TERM");
    assert!(run.wait_for_err("stopping the guest", Duration::from_secs(30)), "{}", run.show());
    // Still running: its shell ignores SIGTERM.
    std::thread::sleep(Duration::from_secs(2));
    assert!(run.exited().is_none(), "the guest ended although it ignores SIGTERM\n{}", run.show());
    let start = Instant::now();
    signal(run.pid(), "TERM");
    let status = run.wait(Duration::from_secs(30));
    assert!(status.is_some(), "isola still running after a second SIGTERM\n{}", run.show());
    assert!(start.elapsed() < Duration::from_secs(10), "{:?}", start.elapsed());
    assert_eq!(status.unwrap().code(), Some(128 + 15), "{}", run.show());
    assert!(run.stderr().contains("QEMU killed"), "{}", run.show());
}

#[test]
fn a_guest_runs_past_the_old_60_s_limit_without_a_timeout() {
    let bb = busybox().to_str().unwrap().to_string();
    let start = Instant::now();
    let out = isola(&["run", "--accel", "tcg", "--isolation", "none", &bb, "sh", "-c", "sleep 65; echo woke"]);
    assert_eq!(out.code, 0, "{}", out.show());
    assert!(out.stdout.contains("woke"), "{}", out.show());
    assert!(start.elapsed() >= Duration::from_secs(65));
}
