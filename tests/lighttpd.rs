//! lighttpd from Debian (`isola rootfs --packages lighttpd,dash`, cached),
//! with its default /etc/lighttpd/lighttpd.conf, serving /var/www/html
//! through `-p`: 2,000 requests, 20 at a time, none failed, at strict, mpk
//! and none;
//! `LD_TRACE_LOADED_OBJECTS=1` lists the libraries that the root's own ld.so
//! lists on the host; lighttpd started as a daemon, fetched over the guest's
//! loopback and stopped with SIGTERM; and, on the host, the unintended
//! WRPKRU of Debian's libnettle and libcrypto through `pkru::rewrite`. Boots
//! the real kernel under TCG.
//!
//! dash is there for /bin/sh: the default configuration runs two
//! `include_shell` scripts (perl, which lighttpd's closure already has).
//! lighttpd writes its log as www-data, into /var/log/lighttpd, which
//! Debian's boot creates for www-data from lighttpd's tmpfiles.d; no boot
//! runs here, and `isola rootfs` makes those directories with their owners
//! itself (checked when the root is built).

mod common;
mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use common::{Output, TempDir, WATCHDOG, isola, root, rootfs_of_packages};
use support::{Background, free_port, http_get, qemu_children, wait_answer, wait_gone};

const PACKAGES: &str = "lighttpd,dash";

/// The root, built once per test run (cached by package set after the first).
fn lighttpd_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let dir = rootfs_of_packages("lighttpd", PACKAGES);
        // tmpfiles.d's directories with their owner, as a Debian boot makes them.
        use std::os::unix::fs::MetadataExt;
        let log = std::fs::metadata(dir.join("var/log/lighttpd")).expect("no /var/log/lighttpd");
        assert_eq!((log.uid(), log.gid(), log.mode() & 0o7777), (33, 33, 0o750), "/var/log/lighttpd");
        dir
    })
}

/// One guest at a time: two TCG guests under load on 2 cores starve each
/// other.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}


fn run(level: &str, extra: &[&str], args: &[&str]) -> Output {
    let dir = lighttpd_root().to_str().unwrap().to_string();
    let mut all = vec!["run", "--accel", "tcg", "--isolation", level, "--timeout", "300", "--memory", "512", "--rootfs", &dir];
    all.extend_from_slice(extra);
    all.extend_from_slice(args);
    isola(&all)
}

/// `NAME => PATH` (or `PATH` alone for ld.so) of each line of an ld.so
/// listing, without the load addresses and without the vDSO.
fn listed_libraries(listing: &str, strip: &str) -> BTreeSet<String> {
    listing
        .lines()
        .filter(|l| l.starts_with('\t'))
        .map(str::trim)
        .filter(|l| !l.starts_with("linux-vdso"))
        .map(|l| {
            let l = l.rsplit_once(" (").map_or(l, |(head, _)| head).replace(strip, "");
            // ld.so run by hand names itself "PATH => PATH"; as the interpreter, "PATH".
            match l.split_once(" => ") {
                Some((name, path)) if name == path => name.to_string(),
                _ => l,
            }
        })
        .collect()
}

#[test]
fn ld_so_lists_lighttpds_libraries_as_on_linux() {
    let _serial = one_at_a_time();
    let dir = lighttpd_root();
    let libs = format!("{0}/usr/lib/x86_64-linux-gnu:{0}/lib/x86_64-linux-gnu", dir.display());
    let host = std::process::Command::new(dir.join("lib64/ld-linux-x86-64.so.2"))
        .args(["--library-path", &libs, "--list"])
        .arg(dir.join("usr/sbin/lighttpd"))
        .output()
        .expect("run the root's ld.so on the host");
    let host_listing = String::from_utf8_lossy(&host.stdout).into_owned();
    assert!(host.status.success(), "host ld.so --list: {host_listing}{}", String::from_utf8_lossy(&host.stderr));
    let want = listed_libraries(&host_listing, dir.to_str().unwrap());
    assert!(want.iter().any(|l| l.starts_with("libnettle.so.8 => /usr/lib/x86_64-linux-gnu/libnettle.so.8")), "{want:?}");

    for level in ["mpk", "none"] {
        // --verbose: the kernel's log (its rewrite lines) on stderr; stdout is ld.so's alone.
        let out = run(level, &["--verbose", "--env", "LD_TRACE_LOADED_OBJECTS=1"], &["/usr/sbin/lighttpd"]);
        assert_eq!(out.code, 0, "{level}: {}", out.show());
        let got = listed_libraries(&out.stdout, "");
        assert_eq!(got, want, "{level}: Isola's listing differs from the host's\n{host_listing}\n{}", out.show());
        // Each unintended WRPKRU of libnettle rewritten, and logged once.
        for offset in ["0x27a71", "0x27dd9"] {
            let line = format!("rewrote unintended WRPKRU (0F 01 EF) in /usr/lib/x86_64-linux-gnu/libnettle.so.8.6 at file offset {offset}: instruction at");
            assert_eq!(out.stderr.matches(&line).count(), 1, "{level}: {line}\n{}", out.show());
        }
        assert!(!out.stderr.contains("refused"), "{level}: {}", out.show());
    }
    // libcrypto.so.3 (through systemd-cryptenroll, the root's one program
    // linked with it) maps too, its call rewritten through padding.
    let out = run("mpk", &["--verbose", "--env", "LD_TRACE_LOADED_OBJECTS=1"], &["/usr/bin/systemd-cryptenroll"]);
    assert_eq!(out.code, 0, "{}", out.show());
    assert!(out.stdout.contains("libcrypto.so.3 => /usr/lib/x86_64-linux-gnu/libcrypto.so.3 (0x"), "{}", out.show());
    assert!(
        out.stderr.contains("rewrote unintended WRPKRU (0F 01 EF) in /usr/lib/x86_64-linux-gnu/libcrypto.so.3 at file offset 0x1de66d: instruction at 0x1de66c [e8, 0f, 01, ef, ff] -> "),
        "{}",
        out.show()
    );
    assert!(!out.stderr.contains("refused"), "{}", out.show());
}

/// The executable segment of `lib` (from its page-aligned file offset, as
/// ld.so maps it) and that offset.
fn executable_segment(lib: &Path) -> (Vec<u8>, usize) {
    let data = std::fs::read(lib).unwrap_or_else(|e| panic!("{}: {e}", lib.display()));
    let elf = goblin::elf::Elf::parse(&data).unwrap();
    let text = elf
        .program_headers
        .iter()
        .find(|ph| ph.p_type == goblin::elf::program_header::PT_LOAD && ph.is_executable())
        .expect("an executable segment");
    let start = (text.p_offset & !0xfff) as usize;
    (data[start..(text.p_offset + text.p_filesz) as usize].to_vec(), start)
}

#[test]
fn debian_libnettle_and_libcrypto_are_rewritten_on_the_host() {
    let dir = lighttpd_root();
    let (mut code, base) = executable_segment(&dir.join("usr/lib/x86_64-linux-gnu/libnettle.so.8.6"));
    let original = code.clone();
    let rewrites = pkru::rewrite::neutralize(&mut code).expect("libnettle rewritten");
    let found: Vec<(usize, usize, Vec<u8>, Vec<u8>)> =
        rewrites.iter().map(|r| (base + r.wrpkru_at, base + r.at, r.before().to_vec(), r.after().to_vec())).collect();
    assert_eq!(found, [(0x27a71, 0x27a72, vec![0x01, 0xef], vec![0x03, 0xfd]), (0x27dd9, 0x27dda, vec![0x01, 0xef], vec![0x03, 0xfd])]);
    assert_eq!(pkru::scan::find_wrpkru(&code).count(), 0);
    assert_eq!(code.iter().zip(&original).filter(|(a, b)| a != b).count(), 4, "only the two add instructions changed");

    // libcrypto.so.3: the bytes are the displacement of `call ERR_set_mark@plt`
    // at 0x1de66c; the call now goes through a `jmp ERR_set_mark@plt` written
    // over dead padding.
    let (mut code, base) = executable_segment(&dir.join("usr/lib/x86_64-linux-gnu/libcrypto.so.3"));
    let original = code.clone();
    let rewrites = pkru::rewrite::neutralize(&mut code).expect("libcrypto rewritten");
    assert_eq!(rewrites.len(), 1, "{rewrites:?}");
    let r = &rewrites[0];
    assert_eq!((base + r.wrpkru_at, base + r.at, r.how), (0x1de66d, 0x1de66c, pkru::rewrite::How::BranchThroughPadding));
    let t = r.trampoline.expect("a trampoline");
    assert_eq!(base + t.at, 0x1de86a, "the nopw between a jmp and the aligned label 0x1de870");
    assert_eq!(t.before(), [0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00], "nopw 0x0(%rax,%rax,1)");
    let call_rel = i32::from_le_bytes(r.after()[1..5].try_into().unwrap());
    assert_eq!((r.at as i64 + 5 + i64::from(call_rel)) as usize, t.at, "the call goes to the jmp");
    assert_eq!(t.after()[5], 0xcc, "int3 after the jmp, to the end of the nopw");
    let jmp_rel = i32::from_le_bytes(t.after[1..5].try_into().unwrap());
    let old_rel = i32::from_le_bytes(original[r.at + 1..r.at + 5].try_into().unwrap());
    assert_eq!(t.at as i64 + 5 + i64::from(jmp_rel), r.at as i64 + 5 + i64::from(old_rel), "the jmp goes where the call went");
    assert_eq!(pkru::scan::find_wrpkru(&code).count(), 0);
}

#[test]
fn lighttpd_daemonizes_serves_loopback_and_stops_on_sigterm() {
    let script = format!("{}:/t.sh", root().join("tests/data/lighttpd-daemon.sh").display());
    for level in ["mpk", "none"] {
        let _serial = one_at_a_time();
        let out = run(level, &["--add", &script], &["/bin/sh", "/t.sh"]);
        assert_eq!(out.code, 0, "{level}: {}", out.show());
        for line in [
            "config ok",
            "daemon started 0",
            "pid file names the daemon",
            "http: HTTP/1.0 200 OK",
            "http: Server: lighttpd/1.4.69",
            "http: <html>served over loopback inside Isola</html>",
            "sent SIGTERM",
            "daemon gone",
        ] {
            assert!(out.has_line(line), "{level}: no line {line:?}: {}", out.show());
        }
        // The error log (opened as root, written as www-data) has the start
        // and the stop, with the sender's uid and pid from the siginfo.
        assert!(out.stdout.lines().any(|l| l.starts_with("log: ") && l.ends_with("server started (lighttpd/1.4.69)")), "{level}: {}", out.show());
        assert!(out.stdout.lines().any(|l| l.starts_with("log: ") && l.ends_with("server stopped by UID = 0 PID = 1")), "{level}: {}", out.show());
    }
}

#[test]
fn lighttpd_serves_var_www_html_over_a_forwarded_port() {
    let www = TempDir::new("lighttpd-www");
    let index = b"<html><body>lighttpd from Debian inside Isola, 5c2a</body></html>\n".to_vec();
    // Large enough for many TCP segments and lighttpd's sendfile path.
    let big: Vec<u8> = (0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    std::fs::write(www.path().join("index.html"), &index).unwrap();
    std::fs::write(www.path().join("big.bin"), &big).unwrap();
    let add_index = format!("{}:/var/www/html/index.html", www.path().join("index.html").display());
    let add_big = format!("{}:/var/www/html/big.bin", www.path().join("big.bin").display());
    let dir = lighttpd_root().to_str().unwrap().to_string();

    for level in ["strict", "mpk", "none"] {
        let _serial = one_at_a_time();
        let port = free_port();
        let publish = format!("{port}:80");
        let mut run = Background::start(&[
            "run", "--accel", "tcg", "--isolation", level, "--timeout", "900", "--memory", "512", "--rootfs", &dir, "-p", &publish,
            "--verbose", "--add", &add_index, "--add", &add_big, "/usr/sbin/lighttpd",
            "-D", "-f", "/etc/lighttpd/lighttpd.conf",
        ]);
        assert!(run.wait_for_err("isolation: ", WATCHDOG), "{level}: the kernel did not boot\n{}", run.show());
        let first = wait_answer(&mut run, port, "/", Duration::from_secs(120));
        assert_eq!(first.body, index, "{level}: GET /\n{}", run.show());
        let r = http_get(port, "/big.bin", Duration::from_secs(60)).unwrap_or_else(|e| panic!("{level}: GET /big.bin: {e}\n{}", run.show()));
        assert_eq!(r.status, 200, "{level}: GET /big.bin\n{}", run.show());
        assert!(r.body == big, "{level}: GET /big.bin: {} bytes, not the file's {}", r.body.len(), big.len());
        let r = http_get(port, "/missing.html", Duration::from_secs(60)).unwrap_or_else(|e| panic!("{level}: {e}"));
        assert_eq!(r.status, 404, "{level}: GET /missing.html\n{}", run.show());

        let url = format!("http://127.0.0.1:{port}/");
        let load = isola(&["load", &url, "--requests", "2000", "--concurrency", "20", "--timeout", "30"]);
        let summary = load.stdout.lines().last().unwrap_or("").to_string();
        assert!(
            load.code == 0 && summary.starts_with("requests 2000, failed 0, "),
            "{level}: the load failed: {summary}\n{}\nthe server:\n{}",
            load.show(),
            run.show()
        );
        eprintln!("{level}: {summary}");
        assert!(run.exited().is_none(), "{level}: isola run ended early\n{}", run.show());
        assert!(!run.stderr().contains("refused"), "{level}: {}", run.show());
        let qemus = qemu_children(run.pid());
        run.kill();
        for q in qemus {
            assert!(wait_gone(q, Duration::from_secs(10)), "QEMU (pid {q}) outlived the killed isola run");
        }
    }
}
