//! Debian's own programs from a root that `isola rootfs --packages` builds
//! (bash, coreutils, grep, sed, findutils, tar, python3 and their
//! dependency closure, cached): a bash script with a tar round trip, and a
//! python3 script using fork, pipes, subprocess, signals, sockets, mmap,
//! json and hashlib (OpenSSL's libcrypto included), and python3 reading the
//! clocks through the vDSO (no clock_gettime in the trace). Boots the real
//! kernel under TCG.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{Output, isola, root, rootfs_of_packages};

const PACKAGES: &str = "bash,coreutils,diffutils,grep,sed,findutils,tar,python3";

/// The root, built once per test run (cached by package set after the first).
fn debian_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        rootfs_of_packages("debian", PACKAGES)
    })
}

fn run(level: &str, extra: &[&str], args: &[&str]) -> Output {
    let dir = debian_root().to_str().unwrap().to_string();
    let mut all = vec!["run", "--accel", "tcg", "--isolation", level, "--timeout", "300", "--memory", "512", "--rootfs", &dir];
    all.extend_from_slice(extra);
    all.extend_from_slice(args);
    isola(&all)
}

#[test]
fn bash_with_coreutils_grep_sed_find_and_a_tar_round_trip() {
    let script = "set -e; mkdir -p /tmp/src/a/b; printf 'one\\ntwo\\nthree\\n' > /tmp/src/a/f; seq 1 500 > /tmp/src/a/b/n; \
        ln -s f /tmp/src/a/link; cd /tmp; tar cf src.tar src; mkdir out; tar xf src.tar -C out; \
        diff -r src out/src && echo tar-same; cmp src/a/b/n out/src/a/b/n && echo cmp-same; \
        find /tmp/out -type f | sort; grep -c o /tmp/src/a/f; sed -n 's/two/2/p' /tmp/src/a/f; \
        ls -l /tmp/out/src/a/link | grep -q -- '-> f' && echo link-kept; wc -l < /tmp/src/a/b/n; \
        for i in 1 2 3; do (exit $i) || echo status $?; done; exit 5";
    for level in ["strict", "mpk", "none"] {
        let out = run(level, &[], &["/bin/bash", "-c", script]);
        assert_eq!(out.code, 5, "{level}: {}", out.show());
        for line in ["tar-same", "cmp-same", "/tmp/out/src/a/b/n", "/tmp/out/src/a/f", "2", "link-kept", "500", "status 1", "status 3"] {
            assert!(out.has_line(line), "{level}: no line {line:?}: {}", out.show());
        }
    }
}

#[test]
fn python3_forks_pipes_signals_and_hashes() {
    let add = format!("{}:/t.py", root().join("tests/data/debian-python.py").display());
    for level in ["mpk", "none"] {
        let out = run(level, &["--add", &add], &["/usr/bin/python3", "/t.py"]);
        assert_eq!(out.code, 0, "{level}: {}", out.show());
        for line in [
            "fork child 3",
            "subprocess sub 0",
            "signal True",
            "socket ping",
            "mmap hello 4096",
            "json {\"a\": [1, 2]}",
            "sha256 3a9d5d829175bf5e",
            "openssl sha256 3a9d5d829175bf5e _hashlib",
        ] {
            assert!(out.has_line(line), "{level}: no line {line:?}: {}", out.show());
        }
    }
}

/// The root has the library cache libc-bin would make, and ld.so uses it
/// (LD_DEBUG=libs names it when it looks a library up).
#[test]
fn ld_so_reads_the_library_cache() {
    assert!(debian_root().join("etc/ld.so.cache").is_file(), "no etc/ld.so.cache in the root");
    let out = run("mpk", &[], &["/usr/bin/env", "LD_DEBUG=libs", "/bin/bash", "-c", "echo cached"]);
    assert_eq!(out.code, 0, "{}", out.show());
    assert!(out.has_line("cached"), "{}", out.show());
    assert!(out.show().contains("search cache=/etc/ld.so.cache"), "ld.so did not use the cache: {}", out.show());
}

#[test]
fn python3_reads_the_clocks_through_the_vdso() {
    let script = "import time\n\
a = [time.monotonic() for _ in range(1000)]\n\
assert all(x <= y for x, y in zip(a, a[1:])), 'monotonic went back'\n\
print('wall', round(time.time()), 'ns', time.perf_counter_ns() > 0)\n";
    for level in ["mpk", "none"] {
        let before = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let out = run(level, &["--trace"], &["/usr/bin/python3", "-c", script]);
        assert_eq!(out.code, 0, "{level}: {}", out.show());
        let line = out.stdout.lines().find(|l| l.starts_with("wall ")).unwrap_or_else(|| panic!("{level}: {}", out.show()));
        let wall: u64 = line.split(' ').nth(1).and_then(|w| w.parse().ok()).unwrap_or_else(|| panic!("{level}: {line}"));
        assert!(wall + 2 >= before && line.ends_with("ns True"), "{level}: {line}, host {before}");
        // Python's start-up and 1002 clock reads: glibc answers them all in the vDSO.
        assert!(out.stderr.contains("] exit_group(") && !out.stderr.contains("] clock_gettime("), "{level}: {}", out.show());
    }
}
