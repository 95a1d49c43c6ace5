//! `isola rootfs --packages`: a root from Debian packages with apt and
//! dpkg on the host (network once, for the downloads), its cache by package
//! set (a second run needs no apt: it runs with an empty PATH), the
//! refusals (an unknown package, a foreign non-empty -o), and a boot of the
//! result under TCG.

mod common;

use std::path::Path;

use common::{Output, TempDir, isola, isola_with};

/// `isola rootfs ARGS` with its cache in `cache` (and, with `no_path`, no
/// PATH at all: apt and dpkg cannot run).
fn rootfs(cache: &Path, args: &[&str], no_path: bool) -> Output {
    let mut all = vec!["rootfs"];
    all.extend_from_slice(args);
    isola_with(&all, |c| {
        c.env("ISOLA_CACHE", cache);
        if no_path {
            c.env("PATH", "/nonexistent");
        }
    })
}

/// The cache the tests share across runs (so the debs download once);
/// under target/, not the user's home.
fn cache() -> std::path::PathBuf {
    common::root().join("target/test-rootfs-cache")
}

#[test]
fn busybox_root_then_cached_then_boots() {
    let out_dir = TempDir::new("rootfs-pkgs");
    let dir = out_dir.path().join("root");
    let d = dir.to_str().unwrap();
    // The debs stay cached between test runs; the built roots must not, or
    // the first run would not build.
    let _ = std::fs::remove_dir_all(cache().join("roots"));
    let first = rootfs(&cache(), &["--packages", "busybox", "-o", d], false);
    assert_eq!(first.code, 0, "{}", first.show());
    assert!(
        first.stderr.contains("rootfs: resolving"),
        "{}",
        first.show()
    );
    assert!(
        first
            .stderr
            .lines()
            .any(|l| l.starts_with("rootfs: ") && l.ends_with(" packages")),
        "{}",
        first.show()
    );
    assert!(dir.join("bin/busybox").is_file(), "{}", first.show());
    assert!(
        dir.join("lib64/ld-linux-x86-64.so.2").exists(),
        "ld.so does not resolve"
    );
    let passwd = std::fs::read_to_string(dir.join("etc/passwd")).unwrap();
    assert!(
        passwd.lines().any(|l| l.starts_with("www-data:")),
        "{passwd}"
    );
    let group = std::fs::read_to_string(dir.join("etc/group")).unwrap();
    assert!(group.lines().any(|l| l.starts_with("www-data:")), "{group}");
    let list = std::fs::read_to_string(dir.join(".isola-rootfs")).unwrap();
    assert!(list.lines().any(|l| l == "libc6"), "{list}");
    assert!(list.lines().any(|l| l == "busybox"), "{list}");
    use std::os::unix::fs::PermissionsExt;
    let tmp = std::fs::metadata(dir.join("tmp")).unwrap();
    assert_eq!(tmp.permissions().mode() & 0o7777, 0o1777);
    for d in ["var/log", "var/www/html", "run"] {
        assert!(dir.join(d).is_dir(), "{d} missing");
    }

    // Same set again, into the same (isola-made) directory: from the cache,
    // with no PATH, so apt, dpkg and cp cannot have run.
    let start = std::time::Instant::now();
    let second = rootfs(&cache(), &["--packages", "busybox", "-o", d], true);
    assert_eq!(second.code, 0, "{}", second.show());
    assert!(
        second.stderr.contains("rootfs: cached root"),
        "{}",
        second.show()
    );
    assert!(!second.stderr.contains("downloading"), "{}", second.show());
    assert!(
        start.elapsed().as_secs() < 20,
        "second run took {:?}",
        start.elapsed()
    );
    assert!(dir.join("bin/busybox").is_file());

    for level in ["strict", "mpk", "none"] {
        let boot = isola(&[
            "run",
            "--accel",
            "tcg",
            "--isolation",
            level,
            "--timeout",
            "180",
            "--rootfs",
            d,
            "/bin/busybox",
            "echo",
            "hi",
        ]);
        assert_eq!(boot.code, 0, "{level}: {}", boot.show());
        assert!(boot.has_line("hi"), "{level}: {}", boot.show());
    }
}

#[test]
fn unknown_package_is_exit_2_with_one_line() {
    let out_dir = TempDir::new("rootfs-unknown");
    let d = out_dir.path().join("root");
    let out = rootfs(
        &cache(),
        &[
            "--packages",
            "busybox,no-such-package-isola",
            "-o",
            d.to_str().unwrap(),
        ],
        false,
    );
    assert_eq!(out.code, 2, "{}", out.show());
    assert_eq!(
        out.stderr
            .lines()
            .filter(|l| !l.starts_with("rootfs: "))
            .count(),
        1,
        "{}",
        out.show()
    );
    assert!(
        out.stderr
            .contains("unknown package 'no-such-package-isola'"),
        "{}",
        out.show()
    );
    assert!(!d.exists(), "an output directory was made");
}

#[test]
fn foreign_nonempty_output_needs_force() {
    let out_dir = TempDir::new("rootfs-foreign");
    std::fs::write(out_dir.path().join("mine"), "x").unwrap();
    let d = out_dir.path().to_str().unwrap();
    let out = rootfs(&cache(), &["--packages", "busybox", "-o", d], true);
    assert_eq!(out.code, 2, "{}", out.show());
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.show());
    assert!(out.stderr.contains("not empty"), "{}", out.show());
    assert!(std::fs::read_to_string(out_dir.path().join("mine")).unwrap() == "x");

    // --force: the root goes on top, what was there stays. (A cache of its
    // own: the other test clears the shared one's roots while it runs.)
    let own = common::root().join("target/test-rootfs-cache-force");
    let out = rootfs(
        &own,
        &["--packages", "busybox", "--force", "-o", d],
        false,
    );
    assert_eq!(out.code, 0, "{}", out.show());
    assert!(
        out_dir.path().join("bin/busybox").is_file(),
        "{}",
        out.show()
    );
    assert!(std::fs::read_to_string(out_dir.path().join("mine")).unwrap() == "x");
}

#[test]
fn usage_errors() {
    let out = isola(&["rootfs", "-o", "/tmp/x"]);
    assert_eq!(out.code, 2, "{}", out.show());
    assert!(
        out.stderr.starts_with("isola: rootfs needs --packages"),
        "{}",
        out.show()
    );
    let out = isola(&["rootfs", "--packages", "-rf", "-o", "/tmp/x"]);
    assert_eq!(out.code, 2, "{}", out.show());
    assert!(
        out.stderr.contains("not a Debian package name"),
        "{}",
        out.show()
    );
}
