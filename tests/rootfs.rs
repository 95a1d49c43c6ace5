//! `isola run --rootfs PATH` and `--memory MiB` through the built CLI,
//! booting the real kernel under TCG: a directory root holding Debian's
//! static busybox, the same root as .tar, .tar.gz and .tar.zst (told apart
//! by magic bytes: the archives are named without their suffix too),
//! `--add` on top of a root, bad roots refused before booting, and the
//! memory the guest gets.

mod common;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use common::{Output, TempDir, busybox, isola};

/// `--timeout` of each boot: TCG, and possibly a cold kernel build first.
const TIMEOUT: &str = "600";

/// A root: /bin/busybox, /bin/sh -> busybox, /etc/motd, and (when this
/// runs as root) a /dev/null device node, which isola must skip.
fn make_root(dir: &Path) -> PathBuf {
    let root = dir.join("root");
    fs::create_dir_all(root.join("bin")).unwrap();
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::create_dir_all(root.join("dev")).unwrap();
    fs::copy(busybox(), root.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", root.join("bin/sh")).unwrap();
    fs::write(root.join("etc/motd"), "from the root\n").unwrap();
    // A debootstrap root has device nodes; only root can make one here.
    let _ = std::process::Command::new("mknod")
        .arg(root.join("dev/null"))
        .args(["c", "1", "3"])
        .status();
    root
}

/// The root as a tar stream: its tree (symlinks kept), plus `bin/ash` as a
/// hard link to `bin/busybox`.
fn tar_bytes(root: &Path) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    for dir in ["bin", "etc"] {
        builder.append_dir_all(dir, root.join(dir)).unwrap();
    }
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::Link);
    header.set_size(0);
    header.set_mode(0o755);
    builder
        .append_link(&mut header, "bin/ash", "bin/busybox")
        .unwrap();
    builder.into_inner().unwrap()
}

fn run_root(options: &[&str], program: &[&str]) -> Output {
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
    all.extend_from_slice(program);
    isola(&all)
}

fn assert_hi(out: &Output) {
    assert_eq!(out.code, 0, "{}", out.show());
    assert!(out.has_line("hi"), "{}", out.show());
    // The kernel's lines are not the program's output.
    assert!(!out.stdout.contains("isola: exit status"), "{}", out.show());
}

#[test]
fn directory_root_runs_busybox_from_inside() {
    let tmp = TempDir::new("rootfs-dir");
    let root = make_root(tmp.path());
    let out = run_root(
        &["--rootfs", root.to_str().unwrap()],
        &["/bin/busybox", "sh", "-c", "echo hi; cat /etc/motd"],
    );
    assert_hi(&out);
    assert!(out.has_line("from the root"), "{}", out.show());
}

#[test]
fn tar_roots_plain_gzip_zstd() {
    let tmp = TempDir::new("rootfs-tar");
    let root = make_root(tmp.path());
    let plain = tar_bytes(&root);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&plain).unwrap();
    let gz = gz.finish().unwrap();
    let zst = zstd::encode_all(&plain[..], 3).unwrap();
    // The suffix says nothing: "root.data" holds the zstd stream.
    for (name, bytes) in [
        ("root.tar", &plain),
        ("root.tar.gz", &gz),
        ("root.data", &zst),
    ] {
        let path = tmp.path().join(name);
        fs::write(&path, bytes).unwrap();
        // /bin/ash is the archive's hard link to busybox: an applet by name.
        let out = run_root(
            &["--rootfs", path.to_str().unwrap()],
            &["/bin/ash", "-c", "echo hi; cat /etc/motd"],
        );
        assert_hi(&out);
        assert!(out.has_line("from the root"), "{name}: {}", out.show());
    }
}

#[test]
fn add_layers_on_top_of_the_root() {
    let tmp = TempDir::new("rootfs-add");
    let root = make_root(tmp.path());
    let motd = tmp.path().join("motd");
    fs::write(&motd, "from --add\n").unwrap();
    let add = format!("{}:/etc/motd", motd.display());
    let out = run_root(
        &["--rootfs", root.to_str().unwrap(), "--add", &add],
        &["/bin/sh", "-c", "echo hi; cat /etc/motd"],
    );
    assert_hi(&out);
    assert!(out.has_line("from --add"), "{}", out.show());
    assert!(!out.has_line("from the root"), "{}", out.show());
}

/// One line on stderr, exit 2, and no boot (no banner anywhere).
fn assert_refused(out: &Output, wanted: &str) {
    assert_eq!(out.code, 2, "{}", out.show());
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", out.show());
    assert!(lines[0].contains(wanted), "{}", out.show());
    assert!(!out.says("Isola "), "{}", out.show());
}

#[test]
fn bad_roots_are_one_line_and_exit_2() {
    let tmp = TempDir::new("rootfs-bad");
    let missing = tmp.path().join("missing");
    let out = run_root(&["--rootfs", missing.to_str().unwrap()], &["/bin/sh"]);
    assert_refused(&out, "no such file or directory");
    let text = tmp.path().join("notes.txt");
    fs::write(&text, "not a tar archive\n".repeat(100)).unwrap();
    let out = run_root(&["--rootfs", text.to_str().unwrap()], &["/bin/sh"]);
    assert_refused(&out, "neither a directory nor a tar archive");
    let root = make_root(tmp.path());
    let out = run_root(&["--rootfs", root.to_str().unwrap()], &["/usr/bin/nothing"]);
    assert_refused(&out, "/usr/bin/nothing does not exist in --rootfs");
}

#[test]
fn memory_512_boots_and_too_little_is_refused() {
    let tmp = TempDir::new("rootfs-mem");
    let root = make_root(tmp.path());
    let out = run_root(
        &["--rootfs", root.to_str().unwrap(), "--memory", "512", "--verbose"],
        &["/bin/busybox", "sh", "-c", "echo hi"],
    );
    assert_eq!(out.code, 0, "{}", out.show());
    assert_eq!(out.stdout, "hi\n", "{}", out.show());
    // The banner is the kernel's log: on stderr, with --verbose.
    assert!(out.stderr.contains("memory: 511 MiB"), "{}", out.show());
    // A 40 MiB file makes the image need more than 64 MiB.
    fs::write(root.join("big"), vec![0x5a; 40 << 20]).unwrap();
    let out = run_root(
        &["--rootfs", root.to_str().unwrap(), "--memory", "64"],
        &["/bin/busybox", "true"],
    );
    assert_refused(&out, "does not fit in --memory 64");
    assert!(out.stderr.contains("room for the kernel"), "{}", out.show());
    // A bad value is a usage error: one line, then the usage text.
    let out = run_root(&["--memory", "lots"], &[]);
    assert_eq!(out.code, 2, "{}", out.show());
    assert!(
        out.stderr.lines().next().unwrap_or("").contains("--memory must be"),
        "{}",
        out.show()
    );
}

/// A root keeps its files' owners and mtimes, from a directory and from a
/// tar (as `docker export` archives carry them): the permission checks then
/// see the owners a server's files really have.
#[test]
fn roots_keep_owners_and_mtimes() {
    let tmp = TempDir::new("rootfs-owners");
    let root = make_root(tmp.path());
    let logs = root.join("var/log/www");
    fs::create_dir_all(&logs).unwrap();
    fs::write(logs.join("access.log"), "old\n").unwrap();
    // As root (the project's machine), chown works; else the check is moot.
    let chowned = std::process::Command::new("chown")
        .args(["-R", "33:33"])
        .arg(&logs)
        .status()
        .is_ok_and(|s| s.success());
    let stamp = std::process::Command::new("touch").args(["-d", "2020-01-02 03:04:05 UTC"]).arg(root.join("etc/motd")).status();
    assert!(stamp.is_ok_and(|s| s.success()));
    let script = "stat -c '%u:%g %n' /var/log/www /var/log/www/access.log /etc/motd; date -u -r /etc/motd +%Y-%m-%d";
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    for dir in ["bin", "etc", "var"] {
        builder.append_dir_all(dir, root.join(dir)).unwrap();
    }
    let tar_path = tmp.path().join("root.tar");
    fs::write(&tar_path, builder.into_inner().unwrap()).unwrap();
    for rootfs in [root.clone(), tar_path] {
        let out = run_root(&["--rootfs", rootfs.to_str().unwrap()], &["/bin/busybox", "sh", "-c", script]);
        assert_eq!(out.code, 0, "{}", out.show());
        if chowned {
            assert!(out.has_line("33:33 /var/log/www"), "{}", out.show());
            assert!(out.has_line("33:33 /var/log/www/access.log"), "{}", out.show());
        }
        assert!(out.has_line("0:0 /etc/motd"), "{}", out.show());
        assert!(out.has_line("2020-01-02"), "mtime kept: {}", out.show());
    }
}
