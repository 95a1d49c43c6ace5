//! `--volume HOST_DIR:GUEST_PATH` (issue 13, item 4, docs/volumes.md):
//! Debian's busybox inside Isola, booted under TCG, writes files and
//! directories into a host directory over virtio-9p, reads what the host
//! put there, renames, removes and chmods; two volumes at once; data
//! fsynced before QEMU is killed with SIGKILL is on the host. Bad specs
//! and bad host directories are one-line usage errors, nothing booted.

mod common;

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Output, TempDir, busybox, isola};

/// `--timeout` of each boot: TCG, and possibly a cold kernel build first.
const TIMEOUT: &str = "600";

/// busybox `sh -c SCRIPT` with the `--volume` options.
fn run_sh(volumes: &[String], script: &str) -> Output {
    let bb = busybox().to_str().unwrap().to_string();
    let mut args = vec!["run", "--accel", "tcg", "--isolation", "strict", "--timeout", TIMEOUT];
    for v in volumes {
        args.push("--volume");
        args.push(v);
    }
    args.extend_from_slice(&[&bb, "sh", "-c", script]);
    isola(&args)
}

fn assert_usage_error(out: &Output, message: &str) {
    assert_eq!(out.code, 2, "{}", out.show());
    assert!(out.stderr.starts_with(&format!("isola: {message}")), "{}", out.show());
    assert_eq!(out.stderr.lines().next().map(|l| l.contains('\n')), Some(false));
    assert!(out.stderr.contains("usage: isola run"), "{}", out.show());
    assert!(!out.stderr.contains("building kernel"), "nothing built or booted: {}", out.show());
    assert!(out.stdout.is_empty(), "{}", out.show());
}

#[test]
fn malformed_volume_specs_are_usage_errors() {
    let dir = TempDir::new("vol-spec");
    let host = dir.path().to_str().unwrap();
    let cases = [
        (host.to_string(), format!("--volume {host}: expected HOST_DIR:GUEST_PATH")),
        (format!("{host}:data"), format!("--volume {host}:data: expected HOST_DIR:GUEST_PATH")),
        (":/data".to_string(), "--volume :/data: HOST_DIR is empty".to_string()),
        (format!("{host}:/"), format!("--volume {host}:/: GUEST_PATH cannot be /")),
        (format!("{host}:/a/../b"), format!("--volume {host}:/a/../b: guest path '/a/../b' contains '..'")),
        (format!("{host}:/a b"), format!("--volume {host}:/a b: GUEST_PATH contains white space")),
    ];
    for (spec, message) in cases {
        let out = isola(&["run", "--volume", &spec, "/bin/true"]);
        assert_usage_error(&out, &message);
    }
    let out = isola(&["run", "--volume", &format!("{host}:/v"), "--volume", &format!("{host}:/v/"), "/bin/true"]);
    assert_usage_error(&out, &format!("--volume {host}:/v: GUEST_PATH /v is already a volume"));
}

#[test]
fn a_missing_or_unwritable_host_dir_is_a_usage_error() {
    let dir = TempDir::new("vol-bad");
    let missing = dir.path().join("missing");
    let file = dir.path().join("file");
    fs::write(&file, "x").unwrap();
    let bb = busybox().to_str().unwrap();
    for (host, why) in [
        (missing.to_str().unwrap(), "No such file or directory"),
        (file.to_str().unwrap(), "is not a directory"),
        // Not writable even by root.
        ("/proc", "is not writable"),
    ] {
        let out = isola(&["run", "--accel", "tcg", "--volume", &format!("{host}:/data"), bb, "true"]);
        assert_usage_error(&out, &format!("--volume {host}:/data: "));
        assert!(out.stderr.lines().next().unwrap().contains(why), "{}", out.show());
    }
}

#[test]
fn the_guest_writes_reads_renames_removes_and_chmods_on_the_host() {
    let dir = TempDir::new("vol-ops");
    let host = dir.path();
    fs::write(host.join("from-host"), "written by the host\n").unwrap();
    fs::create_dir(host.join("host-dir")).unwrap();
    fs::write(host.join("host-dir/inner"), "inner\n").unwrap();
    fs::set_permissions(host.join("host-dir/inner"), fs::Permissions::from_mode(0o751)).unwrap();
    fs::write(host.join("doomed"), "bye\n").unwrap();
    fs::create_dir(host.join("doomed-dir")).unwrap();
    // Bigger than one 9P message (128 KiB): several Treads and Twrites.
    let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 + i / 1000) as u8).collect();
    fs::write(host.join("big"), &big).unwrap();
    let script = "set -e; cd /data
        cat from-host; cat host-dir/inner; stat -c 'inner mode %a' host-dir/inner
        echo hello > new; echo more >> new
        mkdir -p a/b/c; echo deep > a/b/c/file
        mv new renamed; rm doomed; rmdir doomed-dir
        chmod 640 renamed; stat -c 'renamed mode %a size %s' renamed
        ln -s renamed link; readlink link; cat link
        cp big big-copy; cmp big big-copy && echo same
        echo 0123456789 > cut; truncate -s 4 cut
        ls -a | tr '\\n' ' '; echo
        pwd; grep -c ' /data 9p ' /proc/mounts
        test ! -e doomed && echo gone";
    let out = run_sh(&[format!("{}:/data", host.display())], script);
    assert_eq!(out.code, 0, "{}", out.show());
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "written by the host",
            "inner",
            "inner mode 751",
            "renamed mode 640 size 11",
            "renamed",
            "hello",
            "more",
            "same",
            ". .. a big big-copy cut from-host host-dir link renamed ",
            "/data",
            "1",
            "gone",
        ],
        "{}",
        out.show()
    );
    // What the guest did is on the host.
    assert_eq!(fs::read_to_string(host.join("renamed")).unwrap(), "hello\nmore\n");
    assert_eq!(fs::metadata(host.join("renamed")).unwrap().mode() & 0o7777, 0o640);
    assert!(!host.join("new").exists() && !host.join("doomed").exists() && !host.join("doomed-dir").exists());
    assert_eq!(fs::read_to_string(host.join("a/b/c/file")).unwrap(), "deep\n");
    assert!(fs::metadata(host.join("a/b")).unwrap().is_dir());
    assert_eq!(fs::read_link(host.join("link")).unwrap().to_str(), Some("renamed"));
    assert_eq!(fs::read(host.join("big-copy")).unwrap(), big);
    assert_eq!(fs::read(host.join("cut")).unwrap(), b"0123");
}

#[test]
fn two_volumes_and_moves_between_them() {
    let (a, b) = (TempDir::new("vol-a"), TempDir::new("vol-b"));
    fs::write(a.path().join("one"), "1\n").unwrap();
    let script = "set -e; cat /va/one; cp /va/one /vb/copied; mv /va/one /vb/moved
        echo two > /vb/two; ls /va | wc -l; ls /vb | tr '\\n' ' '; echo";
    let out = run_sh(&[format!("{}:/va", a.path().display()), format!("{}:/vb", b.path().display())], script);
    assert_eq!(out.code, 0, "{}", out.show());
    assert_eq!(out.stdout, "1\n0\ncopied moved two \n", "{}", out.show());
    assert!(!a.path().join("one").exists());
    assert_eq!(fs::read_to_string(b.path().join("moved")).unwrap(), "1\n");
    assert_eq!(fs::read_to_string(b.path().join("copied")).unwrap(), "1\n");
    assert_eq!(fs::read_to_string(b.path().join("two")).unwrap(), "two\n");
}

/// The pid of `parent`'s child named `comm`, if any.
fn child_named(parent: u32, comm: &str) -> Option<u32> {
    fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let stat = fs::read_to_string(e.path().join("stat")).ok()?;
        let (name, rest) = stat.split_once(" (")?.1.rsplit_once(") ")?;
        let ppid: u32 = rest.split(' ').nth(1)?.parse().ok()?;
        (ppid == parent && name.starts_with(comm)).then_some(pid)
    })
}

#[test]
fn fsynced_records_survive_a_sigkill_of_qemu() {
    let dir = TempDir::new("vol-kill");
    let bb = busybox().to_str().unwrap().to_string();
    // Each record is appended, fsynced (busybox `sync FILE` is fsync(2)),
    // and only then acknowledged on stdout; the guest never ends.
    let script = "i=1; while :; do echo \"record $i $(seq -s, 1 20)\" >> /data/log; sync /data/log; echo acked $i; i=$((i+1)); done";
    let mut child = Command::new(env!("CARGO_BIN_EXE_isola"))
        .args(["run", "--accel", "tcg", "--isolation", "strict", "--timeout", TIMEOUT])
        .arg("--volume")
        .arg(format!("{}:/data", dir.path().display()))
        .args([bb.as_str(), "sh", "-c", script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let isola_pid = child.id();
    let mut acked = 0u32;
    let start = Instant::now();
    // A moment that depends on the run: after 5 to 12 acknowledgements.
    let stop_after = 5 + (std::process::id() % 8);
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("acked ") {
            acked = n.parse().unwrap();
        }
        if acked >= stop_after || start.elapsed() > Duration::from_secs(600) {
            break;
        }
    }
    let qemu = child_named(isola_pid, "qemu-system").expect("QEMU runs under isola");
    Command::new("kill").args(["-KILL", &qemu.to_string()]).status().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "isola reports the killed guest as a failure");
    assert!(acked >= stop_after, "only {acked} records acknowledged");
    let log = fs::read_to_string(dir.path().join("log")).unwrap();
    let records: Vec<&str> = log.lines().collect();
    let list = (1..=20).map(|i| i.to_string()).collect::<Vec<_>>().join(",");
    for i in 1..=acked {
        assert_eq!(records.get(i as usize - 1).copied(), Some(format!("record {i} {list}").as_str()), "record {i} of {acked} acknowledged:\n{log}");
    }
}

#[test]
fn what_the_host_changes_meanwhile_the_guest_sees_at_once() {
    let dir = TempDir::new("vol-live");
    fs::write(dir.path().join("f"), "old\n").unwrap();
    let bb = busybox().to_str().unwrap().to_string();
    // The guest reads f, then waits for the host's flag and reads f again:
    // nothing of f may be served from a cache.
    let script = "cat /data/f; ls -1 /data; echo waiting; while [ ! -e /data/flag ]; do sleep 0.05; done; cat /data/f; ls -1 /data; stat -c %s /data/f";
    let mut child = Command::new(env!("CARGO_BIN_EXE_isola"))
        .args(["run", "--accel", "tcg", "--isolation", "strict", "--timeout", TIMEOUT])
        .arg("--volume")
        .arg(format!("{}:/data", dir.path().display()))
        .args([bb.as_str(), "sh", "-c", script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines().map(Result::unwrap);
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let waiting = line == "waiting";
        seen.push(line);
        if waiting {
            break;
        }
    }
    fs::write(dir.path().join("f"), "new and longer\n").unwrap();
    fs::write(dir.path().join("g"), "").unwrap();
    fs::write(dir.path().join("flag"), "").unwrap();
    seen.extend(lines);
    assert!(child.wait().unwrap().success());
    assert_eq!(seen, ["old", "f", "waiting", "new and longer", "f", "flag", "g", "15"]);
}

#[test]
fn a_program_on_a_volume_runs() {
    let dir = TempDir::new("vol-exec");
    fs::copy(busybox(), dir.path().join("busybox")).unwrap();
    // Loaded and mapped from the host's file (read whole over 9P, copied
    // into the guest's pages), twice: each exec reads it again.
    let out = run_sh(&[format!("{}:/apps", dir.path().display())], "/apps/busybox echo from-the-volume; /apps/busybox sh -c 'echo again'");
    assert_eq!(out.code, 0, "{}", out.show());
    assert_eq!(out.stdout, "from-the-volume\nagain\n", "{}", out.show());
}
