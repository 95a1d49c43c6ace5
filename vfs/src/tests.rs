//! Host tests: trees from cpio archives, path resolution, every error case,
//! file data, devices, directory listing and `getcwd`.
#![allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

use super::*;
use std::vec;

fn sample_fs() -> Fs {
    let mut w = cpio::Writer::new();
    w.add_dir(".", 0o755);
    w.add_dir("bin", 0o755);
    w.add_file("bin/busybox", 0o755, b"\x7fELF busybox");
    w.add_symlink("bin/sh", "busybox");
    w.add_file("etc/passwd", 0o644, b"root:x:0:0::/root:/bin/sh\n"); // etc/ implied
    w.add_dir("usr/lib", 0o755);
    w.add_symlink("lib", "usr/lib");
    w.add_file("usr/lib/libc.a", 0o644, b"archive");
    w.add_symlink("abs", "/etc");
    w.add_symlink("loop1", "loop2");
    w.add_symlink("loop2", "loop1");
    w.add_symlink("dangling", "nowhere");
    let mut fs = Fs::from_cpio(&w.finish()).unwrap();
    fs.add_standard_devices().unwrap();
    fs
}

fn look(fs: &Fs, path: &str) -> Result<InodeId, Errno> {
    fs.lookup(ROOT, path.as_bytes(), true)
}

fn content(fs: &Fs, path: &str) -> Vec<u8> {
    fs.file_data(look(fs, path).unwrap()).unwrap().to_vec()
}

#[test]
fn new_has_only_root() {
    let fs = Fs::new();
    let meta = fs.metadata(ROOT).unwrap();
    assert_eq!(meta.mode, S_IFDIR | 0o755);
    assert_eq!(meta.kind, NodeKind::Directory);
    assert_eq!(meta.nlink, 2);
    assert_eq!(meta.ino, ROOT);
    let names: Vec<Vec<u8>> = fs
        .read_dir(ROOT)
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, [b".".to_vec(), b"..".to_vec()]);
    assert_eq!(fs.parent_of(ROOT), ROOT);
    assert_eq!(fs.path_of(ROOT).unwrap(), b"/");
}

#[test]
fn tree_from_cpio() {
    let fs = sample_fs();
    assert_eq!(content(&fs, "/bin/busybox"), b"\x7fELF busybox");
    assert_eq!(content(&fs, "/bin/sh"), b"\x7fELF busybox");
    assert_eq!(content(&fs, "/etc/passwd"), b"root:x:0:0::/root:/bin/sh\n");
    let etc = look(&fs, "/etc").unwrap();
    assert_eq!(fs.metadata(etc).unwrap().mode, S_IFDIR | 0o755);
    let busybox = fs.metadata(look(&fs, "/bin/busybox").unwrap()).unwrap();
    assert_eq!(
        (busybox.mode, busybox.size, busybox.nlink),
        (S_IFREG | 0o755, 12, 1)
    );
    let sh = fs.lookup(ROOT, b"/bin/sh", false).unwrap();
    let meta = fs.metadata(sh).unwrap();
    assert_eq!(
        (meta.kind, meta.mode, meta.size),
        (NodeKind::Symlink, S_IFLNK | 0o777, 7)
    );
    assert_eq!(&*fs.readlink(sh).unwrap(), b"busybox");
    // Root: ".", "..", abs, bin, dangling, dev, etc, lib, loop1, loop2, tmp, usr.
    assert_eq!(fs.metadata(ROOT).unwrap().nlink, 2 + 5);
}

#[test]
fn later_entries_replace_earlier() {
    let mut w = cpio::Writer::new();
    w.add_file("a", 0o644, b"first");
    w.add_file("a", 0o600, b"second");
    w.add_dir("d", 0o700);
    w.add_file("d/keep", 0o644, b"k");
    w.add_dir("d", 0o755); // directory over directory keeps the contents
    w.add_dir("x", 0o755);
    w.add_file("x/inner", 0o644, b"i");
    w.add_file("x", 0o644, b"now a file"); // file over a directory tree
    w.add_symlink("s", "a");
    w.add_file("s", 0o644, b"no longer a link");
    let fs = Fs::from_cpio(&w.finish()).unwrap();
    assert_eq!(content(&fs, "a"), b"second");
    assert_eq!(
        fs.metadata(look(&fs, "a").unwrap()).unwrap().mode,
        S_IFREG | 0o600
    );
    assert_eq!(content(&fs, "d/keep"), b"k");
    assert_eq!(
        fs.metadata(look(&fs, "d").unwrap()).unwrap().mode,
        S_IFDIR | 0o755
    );
    assert_eq!(content(&fs, "x"), b"now a file");
    assert_eq!(content(&fs, "s"), b"no longer a link");
    assert_eq!(fs.metadata(ROOT).unwrap().nlink, 3); // only d
    // The replaced tree's inodes are gone.
    assert_eq!(fs.inodes.len(), 1 + 5);
}

#[test]
fn cpio_metadata_devices_and_root_entry() {
    // A hand-made header: uid/gid/mtime and a device node, and one the
    // file system cannot hold (a FIFO), which is skipped.
    fn header(
        name: &str,
        mode: u32,
        uid: u32,
        mtime: u32,
        rdev: (u32, u32),
        data: &[u8],
    ) -> Vec<u8> {
        let mut out = b"070701".to_vec();
        for f in [
            1,
            mode,
            uid,
            uid,
            1,
            mtime,
            data.len() as u32,
            0,
            0,
            rdev.0,
            rdev.1,
            name.len() as u32 + 1,
            0,
        ] {
            out.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out.extend_from_slice(data);
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out
    }
    let mut archive = header(".", S_IFDIR | 0o700, 0, 5, (0, 0), b"");
    archive.extend(header("dev/console", S_IFCHR | 0o600, 0, 0, (5, 1), b""));
    archive.extend(header("dev/fifo", 0o010_644, 0, 0, (0, 0), b""));
    archive.extend(header("dev/sda", 0o060_660, 0, 0, (8, 0), b""));
    archive.extend(header(
        "home/user/file",
        S_IFREG | 0o640,
        1000,
        1_700_000_000,
        (0, 0),
        b"x",
    ));
    archive.extend(header("TRAILER!!!", 0, 0, 0, (0, 0), b""));
    let fs = Fs::from_cpio(&archive).unwrap();
    let root = fs.metadata(ROOT).unwrap();
    assert_eq!((root.mode, root.mtime, root.atime), (S_IFDIR | 0o700, Timestamp::from_secs(5), Timestamp::from_secs(5)));
    let console = fs.metadata(look(&fs, "/dev/console").unwrap()).unwrap();
    assert_eq!(console.kind, NodeKind::CharDevice(Device::Console));
    assert_eq!(console.rdev, makedev(5, 1));
    assert_eq!(look(&fs, "/dev/fifo"), Err(Errno::ENOENT));
    assert_eq!(look(&fs, "/dev/sda"), Err(Errno::ENOENT));
    let file = fs.metadata(look(&fs, "/home/user/file").unwrap()).unwrap();
    assert_eq!(
        (file.uid, file.gid, file.mtime.secs, file.mode),
        (1000, 1000, 1_700_000_000, S_IFREG | 0o640)
    );
}

#[test]
fn cpio_errors_propagate() {
    assert_eq!(
        Fs::from_cpio(b"070707garbage").unwrap_err(),
        cpio::CpioError::Truncated { offset: 0 }
    );
    let mut bad = vec![b'x'; 200];
    bad[..6].copy_from_slice(b"123456");
    assert_eq!(
        Fs::from_cpio(&bad).unwrap_err(),
        cpio::CpioError::BadMagic { offset: 0 }
    );
    assert!(Fs::from_cpio(&[]).is_ok());
}

#[test]
fn standard_devices() {
    let mut fs = Fs::new();
    fs.add_standard_devices().unwrap();
    let null = look(&fs, "/dev/null").unwrap();
    let zero = look(&fs, "/dev/zero").unwrap();
    let console = look(&fs, "/dev/console").unwrap();
    let meta = fs.metadata(null).unwrap();
    assert_eq!(
        (meta.mode, meta.rdev, meta.size),
        (S_IFCHR | 0o666, makedev(1, 3), 0)
    );
    assert_eq!(fs.metadata(zero).unwrap().rdev, 0x105);
    assert_eq!(fs.metadata(console).unwrap().mode, S_IFCHR | 0o600);
    assert_eq!(fs.metadata(console).unwrap().rdev, 0x501);
    let tmp = look(&fs, "/tmp").unwrap();
    assert_eq!(fs.metadata(tmp).unwrap().mode & 0o7777, 0o1777);
    let ptmx = fs.metadata(look(&fs, "/dev/ptmx").unwrap()).unwrap();
    assert_eq!((ptmx.mode, ptmx.rdev), (S_IFCHR | 0o666, makedev(5, 2)));
    assert_eq!(fs.metadata(look(&fs, "/dev/pts").unwrap()).unwrap().mode, S_IFDIR | 0o755);
    assert_eq!(Device::from_numbers(136, 7), Some(Device::PtySlave(7)));
    assert_eq!(Device::PtySlave(300).rdev(), makedev(136, 300));
    let shm = look(&fs, "/dev/shm").unwrap();
    assert_eq!(fs.metadata(shm).unwrap().mode, S_IFDIR | 0o1777);
    let mut buf = [7u8; 16];
    assert_eq!(fs.read(null, 0, &mut buf), Ok(0));
    assert_eq!(fs.read(zero, 123, &mut buf), Ok(16));
    assert_eq!(buf, [0; 16]);
    assert_eq!(fs.read(console, 0, &mut buf), Ok(0));
    assert_eq!(fs.write(null, 0, b"gone"), Ok(4));
    assert_eq!(fs.write(zero, 9, b"gone"), Ok(4));
    assert_eq!(fs.truncate(null, 0), Ok(()));
    assert_eq!(fs.file_data(null), Err(Errno::EINVAL));
    // Idempotent; replaces a stray file of the same name.
    fs.unlink(look(&fs, "/dev").unwrap(), b"zero").unwrap();
    fs.create_file(look(&fs, "/dev").unwrap(), b"zero", 0o644)
        .unwrap();
    fs.add_standard_devices().unwrap();
    assert_eq!(
        fs.metadata(look(&fs, "/dev/zero").unwrap()).unwrap().kind,
        NodeKind::CharDevice(Device::Zero)
    );
    assert_eq!(look(&fs, "/dev/null"), Ok(null));
    // /dev as a file.
    let mut fs = Fs::new();
    fs.create_file(ROOT, b"dev", 0o644).unwrap();
    assert_eq!(fs.add_standard_devices(), Err(Errno::ENOTDIR));
    assert_eq!(Device::from_numbers(1, 3), Some(Device::Null));
    for device in [Device::Full, Device::Random, Device::Urandom] {
        let (major, minor) = device.numbers();
        assert_eq!(Device::from_numbers(major, minor), Some(device));
    }
    assert_eq!(Device::Urandom.numbers(), (1, 9));
    assert_eq!(Device::Random.numbers(), (1, 8));
    let mut fs = Fs::new();
    fs.add_standard_devices().unwrap();
    let full = look(&fs, "/dev/full").unwrap();
    let mut buf = [1u8; 8];
    assert_eq!(fs.read(full, 0, &mut buf), Ok(8));
    assert_eq!(buf, [0; 8]);
    assert_eq!(fs.write(full, 0, b"x"), Err(Errno::ENOSPC));
    let urandom = look(&fs, "/dev/urandom").unwrap();
    assert_eq!(fs.device(urandom), Some(Device::Urandom));
    assert_eq!(fs.write(urandom, 0, b"seed"), Ok(4));
    assert_eq!(fs.read(urandom, 0, &mut buf), Err(Errno::EINVAL));
    assert_eq!(fs.device(ROOT), None);
    assert_eq!(makedev(0x12345, 0x6789a), 0x0001_2000_6783_459a);
    assert_eq!(makedev(259, 65536), (259 << 8) | (65536 & !0xff) << 12);
}

#[test]
fn path_resolution() {
    let fs = sample_fs();
    let bin = look(&fs, "/bin").unwrap();
    let busybox = look(&fs, "/bin/busybox").unwrap();
    assert_eq!(look(&fs, "/"), Ok(ROOT));
    assert_eq!(look(&fs, "//"), Ok(ROOT));
    assert_eq!(look(&fs, "/.."), Ok(ROOT));
    assert_eq!(look(&fs, "/../../bin/./busybox"), Ok(busybox));
    assert_eq!(look(&fs, "bin//busybox"), Ok(busybox));
    assert_eq!(look(&fs, "/bin/"), Ok(bin));
    assert_eq!(look(&fs, "/etc/../bin/sh"), Ok(busybox));
    assert_eq!(fs.lookup(bin, b"busybox", true), Ok(busybox));
    assert_eq!(fs.lookup(bin, b"./sh", true), Ok(busybox));
    assert_eq!(
        fs.lookup(bin, b"../etc/passwd", true),
        look(&fs, "/etc/passwd")
    );
    assert_eq!(fs.lookup(bin, b"/bin", true), Ok(bin));
    assert_eq!(fs.lookup(bin, b".", true), Ok(bin));
    assert_eq!(fs.lookup(bin, b"..", true), Ok(ROOT));
    // Relative and absolute symlinks, in the middle and at the end.
    assert_eq!(look(&fs, "/lib/libc.a"), look(&fs, "/usr/lib/libc.a"));
    assert_eq!(look(&fs, "/abs/passwd"), look(&fs, "/etc/passwd"));
    assert_eq!(look(&fs, "/lib"), look(&fs, "/usr/lib"));
    let lib_link = fs.lookup(ROOT, b"/lib", false).unwrap();
    assert_eq!(fs.metadata(lib_link).unwrap().kind, NodeKind::Symlink);
    // ".." after a symlink goes to the target's parent, as in Linux.
    assert_eq!(look(&fs, "/lib/.."), look(&fs, "/usr"));
    // Trailing slash follows the final symlink even without follow_last.
    assert_eq!(fs.lookup(ROOT, b"/lib/", false), look(&fs, "/usr/lib"));
    // Dangling symlink: fine unfollowed, ENOENT followed.
    assert!(fs.lookup(ROOT, b"/dangling", false).is_ok());
    assert_eq!(look(&fs, "/dangling"), Err(Errno::ENOENT));
}

#[test]
fn path_errors() {
    let fs = sample_fs();
    let file = look(&fs, "/etc/passwd").unwrap();
    assert_eq!(look(&fs, ""), Err(Errno::EINVAL));
    assert_eq!(look(&fs, "/nope"), Err(Errno::ENOENT));
    assert_eq!(look(&fs, "/nope/x"), Err(Errno::ENOENT));
    assert_eq!(look(&fs, "/etc/passwd/x"), Err(Errno::ENOTDIR));
    assert_eq!(look(&fs, "/etc/passwd/"), Err(Errno::ENOTDIR));
    assert_eq!(look(&fs, "/bin/sh/"), Err(Errno::ENOTDIR));
    assert_eq!(fs.lookup(file, b"x", true), Err(Errno::ENOTDIR));
    assert_eq!(
        fs.lookup(file, b"/etc", true),
        Ok(look(&fs, "/etc").unwrap())
    );
    assert_eq!(fs.lookup(999, b"x", true), Err(Errno::ENOENT));
    assert_eq!(look(&fs, "/loop1"), Err(Errno::ELOOP));
    assert_eq!(look(&fs, "/loop1/x"), Err(Errno::ELOOP));
    assert!(fs.lookup(ROOT, b"/loop1", false).is_ok());
    let long = "a".repeat(256);
    assert_eq!(look(&fs, &format!("/{long}")), Err(Errno::ENAMETOOLONG));
    assert_eq!(
        look(&fs, &format!("/{}", "a".repeat(255))),
        Err(Errno::ENOENT)
    );
    let deep = "./".repeat(2048);
    assert_eq!(look(&fs, &deep), Err(Errno::ENAMETOOLONG));
    assert_eq!(look(&fs, &deep[..4094]), Ok(ROOT));
}

#[test]
fn symlink_limit_is_forty() {
    let mut fs = Fs::new();
    fs.create_file(ROOT, b"l0", 0o644).unwrap();
    for i in 1..=41 {
        fs.symlink(
            ROOT,
            format!("l{i}").as_bytes(),
            format!("l{}", i - 1).as_bytes(),
        )
        .unwrap();
    }
    assert_eq!(look(&fs, "/l40"), look(&fs, "/l0"));
    assert_eq!(look(&fs, "/l41"), Err(Errno::ELOOP));
}

#[test]
fn lookup_parent_cases() {
    let fs = sample_fs();
    let bin = look(&fs, "/bin").unwrap();
    let etc = look(&fs, "/etc").unwrap();
    assert_eq!(fs.lookup_parent(ROOT, b"/bin/new"), Ok((bin, &b"new"[..])));
    assert_eq!(fs.lookup_parent(ROOT, b"/bin/new/"), Ok((bin, &b"new"[..])));
    assert_eq!(
        fs.lookup_parent(ROOT, b"/bin/new//"),
        Ok((bin, &b"new"[..]))
    );
    assert_eq!(fs.lookup_parent(bin, b"new"), Ok((bin, &b"new"[..])));
    assert_eq!(fs.lookup_parent(bin, b"../etc/x"), Ok((etc, &b"x"[..])));
    assert_eq!(fs.lookup_parent(ROOT, b"/abs/x"), Ok((etc, &b"x"[..])));
    assert_eq!(fs.lookup_parent(ROOT, b"/x"), Ok((ROOT, &b"x"[..])));
    assert_eq!(fs.lookup_parent(ROOT, b"/"), Ok((ROOT, &b"."[..])));
    assert_eq!(fs.lookup_parent(ROOT, b"///"), Ok((ROOT, &b"."[..])));
    assert_eq!(fs.lookup_parent(ROOT, b"/bin/."), Ok((bin, &b"."[..])));
    assert_eq!(fs.lookup_parent(ROOT, b"/bin/.."), Ok((bin, &b".."[..])));
    assert_eq!(fs.lookup_parent(ROOT, b""), Err(Errno::EINVAL));
    assert_eq!(fs.lookup_parent(ROOT, b"/nope/x"), Err(Errno::ENOENT));
    assert_eq!(
        fs.lookup_parent(ROOT, b"/etc/passwd/x"),
        Err(Errno::ENOTDIR)
    );
    assert_eq!(fs.lookup_parent(ROOT, b"/loop1/x"), Err(Errno::ELOOP));
    assert_eq!(
        fs.lookup_parent(look(&fs, "/etc/passwd").unwrap(), b"x"),
        Err(Errno::ENOTDIR)
    );
    let long = format!("/bin/{}", "b".repeat(256));
    assert_eq!(
        fs.lookup_parent(ROOT, long.as_bytes()),
        Err(Errno::ENAMETOOLONG)
    );
    assert_eq!(
        fs.lookup_parent(ROOT, "/x".repeat(2048).as_bytes()),
        Err(Errno::ENAMETOOLONG)
    );
}

#[test]
fn create_errors() {
    let mut fs = sample_fs();
    let bin = look(&fs, "/bin").unwrap();
    let file = look(&fs, "/etc/passwd").unwrap();
    assert_eq!(fs.create_file(bin, b"busybox", 0o644), Err(Errno::EEXIST));
    assert_eq!(fs.create_file(bin, b"sh", 0o644), Err(Errno::EEXIST));
    assert_eq!(fs.mkdir(bin, b"busybox", 0o755), Err(Errno::EEXIST));
    assert_eq!(fs.mkdir(bin, b".", 0o755), Err(Errno::EEXIST));
    assert_eq!(fs.mkdir(bin, b"..", 0o755), Err(Errno::EEXIST));
    assert_eq!(fs.create_file(bin, b"a/b", 0o644), Err(Errno::EINVAL));
    assert_eq!(fs.create_file(bin, b"", 0o644), Err(Errno::EINVAL));
    assert_eq!(
        fs.create_file(bin, "n".repeat(256).as_bytes(), 0o644),
        Err(Errno::ENAMETOOLONG)
    );
    assert!(
        fs.create_file(bin, "n".repeat(255).as_bytes(), 0o644)
            .is_ok()
    );
    assert_eq!(fs.create_file(file, b"x", 0o644), Err(Errno::ENOTDIR));
    assert_eq!(fs.mkdir(file, b"x", 0o755), Err(Errno::ENOTDIR));
    assert_eq!(fs.symlink(file, b"x", b"t"), Err(Errno::ENOTDIR));
    assert_eq!(fs.create_file(12345, b"x", 0o644), Err(Errno::ENOENT));
    assert_eq!(fs.symlink(bin, b"empty", b""), Err(Errno::ENOENT));
    assert_eq!(
        fs.symlink(bin, b"long", &[b'a'; 4096]),
        Err(Errno::ENAMETOOLONG)
    );
}

#[test]
fn create_mkdir_symlink() {
    let mut fs = Fs::new();
    let tmp = fs.mkdir(ROOT, b"tmp", 0o1777).unwrap();
    assert_eq!(fs.metadata(tmp).unwrap().mode, S_IFDIR | 0o1777);
    assert_eq!(fs.metadata(ROOT).unwrap().nlink, 3);
    let f = fs.create_file(tmp, b"f", 0o100_644).unwrap(); // type bits ignored
    assert_eq!(fs.metadata(f).unwrap().mode, S_IFREG | 0o644);
    assert_eq!(fs.metadata(f).unwrap().size, 0);
    let s = fs.symlink(ROOT, b"t", b"tmp/f").unwrap();
    assert_eq!(fs.readlink(s).as_deref().map_err(|e| *e), Ok(&b"tmp/f"[..]));
    assert_eq!(fs.readlink(f), Err(Errno::EINVAL));
    assert_eq!(look(&fs, "/t"), Ok(f));
    assert!(f > tmp && s > f, "inode numbers increase");
    fs.set_mode(f, 0o600).unwrap();
    fs.set_owner(f, 1, 2).unwrap();
    fs.set_times(f, None, Some(TimeChange::At(Timestamp::from_secs(42)))).unwrap();
    let meta = fs.metadata(f).unwrap();
    assert_eq!(
        (meta.mode, meta.uid, meta.gid, meta.mtime),
        (S_IFREG | 0o600, 1, 2, Timestamp::from_secs(42))
    );
    assert_eq!(fs.metadata(999), Err(Errno::ENOENT));
}

#[test]
fn read_write_truncate() {
    let mut fs = Fs::new();
    let f = fs.create_file(ROOT, b"f", 0o644).unwrap();
    assert_eq!(fs.write(f, 0, b"hello"), Ok(5));
    assert_eq!(fs.write(f, 3, b"p me"), Ok(4));
    assert_eq!(fs.file_data(f).as_deref().map_err(|e| *e), Ok(&b"help me"[..]));
    // Past the end: the gap reads as zeros.
    assert_eq!(fs.write(f, 10, b"!"), Ok(1));
    assert_eq!(fs.file_data(f).as_deref().map_err(|e| *e), Ok(&b"help me\0\0\0!"[..]));
    assert_eq!(fs.metadata(f).unwrap().size, 11);
    // Empty write past the end does not extend.
    assert_eq!(fs.write(f, 100, b""), Ok(0));
    assert_eq!(fs.metadata(f).unwrap().size, 11);
    let mut buf = [0u8; 4];
    assert_eq!(fs.read(f, 0, &mut buf), Ok(4));
    assert_eq!(&buf, b"help");
    assert_eq!(fs.read(f, 9, &mut buf), Ok(2));
    assert_eq!(&buf[..2], b"\0!");
    assert_eq!(fs.read(f, 11, &mut buf), Ok(0));
    assert_eq!(fs.read(f, u64::MAX, &mut buf), Ok(0));
    assert_eq!(fs.read(f, 0, &mut []), Ok(0));
    fs.truncate(f, 4).unwrap();
    assert_eq!(fs.file_data(f).as_deref().map_err(|e| *e), Ok(&b"help"[..]));
    fs.truncate(f, 6).unwrap();
    assert_eq!(fs.file_data(f).as_deref().map_err(|e| *e), Ok(&b"help\0\0"[..]));
    fs.truncate(f, 0).unwrap();
    assert_eq!(fs.file_data(f).as_deref().map_err(|e| *e), Ok(&b""[..]));
    // Limits.
    assert_eq!(fs.write(f, u64::MAX, b"x"), Err(Errno::EFBIG));
    assert_eq!(fs.write(f, MAX_FILE_SIZE, b"x"), Err(Errno::EFBIG));
    assert_eq!(fs.truncate(f, MAX_FILE_SIZE + 1), Err(Errno::EFBIG));
    // Other kinds.
    let d = fs.mkdir(ROOT, b"d", 0o755).unwrap();
    let s = fs.symlink(ROOT, b"s", b"f").unwrap();
    assert_eq!(fs.read(d, 0, &mut buf), Err(Errno::EISDIR));
    assert_eq!(fs.write(d, 0, b"x"), Err(Errno::EISDIR));
    assert_eq!(fs.truncate(d, 0), Err(Errno::EISDIR));
    assert_eq!(fs.file_data(d), Err(Errno::EISDIR));
    assert_eq!(fs.read(s, 0, &mut buf), Err(Errno::EINVAL));
    assert_eq!(fs.write(s, 0, b"x"), Err(Errno::EINVAL));
    assert_eq!(fs.truncate(s, 0), Err(Errno::EINVAL));
    assert_eq!(fs.file_data(s), Err(Errno::EINVAL));
    assert_eq!(fs.read(999, 0, &mut buf), Err(Errno::ENOENT));
    assert_eq!(fs.write(999, 0, b"x"), Err(Errno::ENOENT));
}

#[test]
fn unlink_and_forget() {
    let mut fs = sample_fs();
    let bin = look(&fs, "/bin").unwrap();
    let busybox = look(&fs, "/bin/busybox").unwrap();
    let sh = fs.lookup(ROOT, b"/bin/sh", false).unwrap();
    fs.unlink(bin, b"sh").unwrap();
    assert!(!fs.exists(sh) || fs.metadata(sh).unwrap().nlink == 0);
    fs.forget_if_unlinked(sh);
    assert!(!fs.exists(sh));
    // An "open" file stays readable after unlink until forgotten.
    fs.unlink(bin, b"busybox").unwrap();
    assert_eq!(look(&fs, "/bin/busybox"), Err(Errno::ENOENT));
    assert_eq!(fs.metadata(busybox).unwrap().nlink, 0);
    assert_eq!(fs.file_data(busybox).as_deref().map_err(|e| *e), Ok(&b"\x7fELF busybox"[..]));
    assert_eq!(fs.write(busybox, 0, b"X"), Ok(1));
    fs.forget_if_unlinked(busybox);
    assert_eq!(fs.metadata(busybox), Err(Errno::ENOENT));
    // Named inodes and the root are never forgotten.
    let passwd = look(&fs, "/etc/passwd").unwrap();
    fs.forget_if_unlinked(passwd);
    fs.forget_if_unlinked(ROOT);
    fs.forget_if_unlinked(4242);
    assert!(fs.exists(passwd) && fs.exists(ROOT));
    // Errors.
    assert_eq!(fs.unlink(bin, b"busybox"), Err(Errno::ENOENT));
    assert_eq!(fs.unlink(ROOT, b"bin"), Err(Errno::EISDIR));
    assert_eq!(fs.unlink(ROOT, b"."), Err(Errno::EISDIR));
    assert_eq!(fs.unlink(ROOT, b".."), Err(Errno::EISDIR));
    assert_eq!(fs.unlink(passwd, b"x"), Err(Errno::ENOTDIR));
    // Unlinking a symlink to a directory removes the link only.
    fs.unlink(ROOT, b"lib").unwrap();
    assert!(look(&fs, "/usr/lib/libc.a").is_ok());
}

#[test]
fn rmdir_cases() {
    let mut fs = sample_fs();
    let usr = look(&fs, "/usr").unwrap();
    let lib = look(&fs, "/usr/lib").unwrap();
    assert_eq!(fs.rmdir(ROOT, b"usr"), Err(Errno::ENOTEMPTY));
    assert_eq!(fs.rmdir(usr, b"."), Err(Errno::EINVAL));
    assert_eq!(fs.rmdir(usr, b".."), Err(Errno::ENOTEMPTY));
    assert_eq!(fs.rmdir(ROOT, b"nope"), Err(Errno::ENOENT));
    assert_eq!(fs.rmdir(ROOT, b"lib"), Err(Errno::ENOTDIR)); // a symlink
    assert_eq!(
        fs.rmdir(look(&fs, "/etc").unwrap(), b"passwd"),
        Err(Errno::ENOTDIR)
    );
    assert_eq!(
        fs.rmdir(look(&fs, "/etc/passwd").unwrap(), b"x"),
        Err(Errno::ENOTDIR)
    );
    assert_eq!(fs.metadata(usr).unwrap().nlink, 3);
    fs.unlink(lib, b"libc.a").unwrap();
    fs.rmdir(usr, b"lib").unwrap();
    assert_eq!(fs.metadata(usr).unwrap().nlink, 2);
    // The removed directory, still someone's cwd: empty, no new entries,
    // no path.
    assert_eq!(fs.metadata(lib).unwrap().nlink, 0);
    assert_eq!(fs.read_dir(lib).unwrap().len(), 2);
    assert_eq!(fs.create_file(lib, b"x", 0o644), Err(Errno::ENOENT));
    assert_eq!(fs.mkdir(lib, b"x", 0o755), Err(Errno::ENOENT));
    assert_eq!(fs.path_of(lib), Err(Errno::ENOENT));
    assert_eq!(fs.lookup(lib, b"..", true), Ok(usr));
    fs.forget_if_unlinked(lib);
    assert!(!fs.exists(lib));
    // The root cannot go: reached through a name only by a crafted call.
    let mut fs = Fs::new();
    if let Body::Dir(d) = &mut fs.inodes.get_mut(&ROOT).unwrap().body {
        d.entries.insert(b"self".to_vec(), ROOT);
    }
    assert_eq!(fs.rmdir(ROOT, b"self"), Err(Errno::EBUSY));
}

#[test]
fn rename_cases() {
    let mut fs = sample_fs();
    let etc = look(&fs, "/etc").unwrap();
    let bin = look(&fs, "/bin").unwrap();
    let passwd = look(&fs, "/etc/passwd").unwrap();
    fs.rename(etc, b"passwd", bin, b"pw").unwrap();
    assert_eq!(look(&fs, "/bin/pw"), Ok(passwd));
    assert_eq!(look(&fs, "/etc/passwd"), Err(Errno::ENOENT));
    // Over an existing file: the old target loses its name.
    let busybox = look(&fs, "/bin/busybox").unwrap();
    fs.rename(bin, b"pw", bin, b"busybox").unwrap();
    assert_eq!(look(&fs, "/bin/busybox"), Ok(passwd));
    assert_eq!(fs.metadata(busybox).unwrap().nlink, 0);
    // Directories: nlink and ".." follow.
    let usr = look(&fs, "/usr").unwrap();
    fs.rename(ROOT, b"usr", etc, b"usr2").unwrap();
    assert_eq!(fs.parent_of(usr), etc);
    assert_eq!(
        fs.path_of(look(&fs, "/etc/usr2/lib").unwrap()).unwrap(),
        b"/etc/usr2/lib"
    );
    assert_eq!(fs.metadata(etc).unwrap().nlink, 3);
    // Errors.
    assert_eq!(fs.rename(ROOT, b"etc", usr, b"x"), Err(Errno::EINVAL)); // into itself
    assert_eq!(
        fs.rename(ROOT, b"etc", bin, b"busybox"),
        Err(Errno::ENOTDIR)
    );
    assert_eq!(fs.rename(bin, b"busybox", ROOT, b"dev"), Err(Errno::EISDIR));
    assert_eq!(fs.rename(ROOT, b"bin", ROOT, b"dev"), Err(Errno::ENOTEMPTY));
    assert_eq!(fs.rename(ROOT, b"nope", ROOT, b"x"), Err(Errno::ENOENT));
    assert_eq!(fs.rename(ROOT, b".", ROOT, b"x"), Err(Errno::EBUSY));
    // Same inode: nothing happens.
    fs.rename(bin, b"busybox", bin, b"busybox").unwrap();
    assert_eq!(look(&fs, "/bin/busybox"), Ok(passwd));
    // Empty directory target is replaced.
    let empty = fs.mkdir(ROOT, b"empty", 0o755).unwrap();
    fs.rename(ROOT, b"bin", ROOT, b"empty").unwrap();
    assert_eq!(look(&fs, "/empty/busybox"), Ok(passwd));
    assert_eq!(fs.metadata(empty).unwrap().nlink, 0);
}

#[test]
fn read_dir_order() {
    let mut fs = Fs::new();
    let d = fs.mkdir(ROOT, b"d", 0o755).unwrap();
    for name in ["zeta", "alpha", "Mid", "beta"] {
        fs.create_file(d, name.as_bytes(), 0o644).unwrap();
    }
    fs.mkdir(d, b"sub", 0o755).unwrap();
    fs.symlink(d, b"link", b"alpha").unwrap();
    let entries = fs.read_dir(d).unwrap();
    let names: Vec<&[u8]> = entries.iter().map(|e| e.name.as_slice()).collect();
    assert_eq!(
        names,
        [
            &b"."[..],
            b"..",
            b"Mid",
            b"alpha",
            b"beta",
            b"link",
            b"sub",
            b"zeta"
        ]
    );
    assert_eq!((entries[0].ino, entries[1].ino), (d, ROOT));
    assert_eq!(entries[5].kind, NodeKind::Symlink);
    assert_eq!(entries[6].kind, NodeKind::Directory);
    assert_eq!(entries[6].kind.dirent_type(), 4);
    assert_eq!(entries[2].kind, NodeKind::File);
    // Stable across calls, and the root's ".." is itself.
    assert_eq!(fs.read_dir(d).unwrap(), entries);
    assert_eq!(fs.read_dir(ROOT).unwrap()[1].ino, ROOT);
    let f = look(&fs, "/d/alpha").unwrap();
    assert_eq!(fs.read_dir(f), Err(Errno::ENOTDIR));
    assert_eq!(fs.read_dir(999), Err(Errno::ENOENT));
}

#[test]
fn path_of_directories() {
    let fs = sample_fs();
    assert_eq!(
        fs.path_of(look(&fs, "/usr/lib").unwrap()).unwrap(),
        b"/usr/lib"
    );
    assert_eq!(fs.path_of(look(&fs, "/lib").unwrap()).unwrap(), b"/usr/lib");
    assert_eq!(fs.path_of(look(&fs, "/bin").unwrap()).unwrap(), b"/bin");
    assert_eq!(
        fs.path_of(look(&fs, "/etc/passwd").unwrap()),
        Err(Errno::ENOTDIR)
    );
    assert_eq!(fs.path_of(999), Err(Errno::ENOENT));
    let lib = look(&fs, "/usr/lib").unwrap();
    assert_eq!(fs.parent_of(lib), look(&fs, "/usr").unwrap());
    assert_eq!(fs.parent_of(look(&fs, "/etc/passwd").unwrap()), ROOT);
    assert_eq!(fs.parent_of(999), ROOT);
}

#[test]
fn hard_links_share_data_and_count_names() {
    let mut fs = sample_fs();
    let passwd = look(&fs, "/etc/passwd").unwrap();
    let etc = look(&fs, "/etc").unwrap();
    fs.link(passwd, ROOT, b"pw").unwrap();
    assert_eq!(look(&fs, "/pw"), Ok(passwd));
    assert_eq!(fs.metadata(passwd).unwrap().nlink, 2);
    fs.write(passwd, 0, b"ROOT").unwrap();
    assert!(content(&fs, "/pw").starts_with(b"ROOT:x"));
    // Taken names, directories, bad names, removed parents.
    assert_eq!(fs.link(passwd, etc, b"passwd"), Err(Errno::EEXIST));
    assert_eq!(fs.link(passwd, ROOT, b"bin"), Err(Errno::EEXIST));
    assert_eq!(fs.link(etc, ROOT, b"etc2"), Err(Errno::EPERM));
    assert_eq!(fs.link(passwd, ROOT, b"."), Err(Errno::EEXIST));
    assert_eq!(fs.link(passwd, passwd, b"x"), Err(Errno::ENOTDIR));
    let gone = fs.mkdir(ROOT, b"gone", 0o755).unwrap();
    fs.rmdir(ROOT, b"gone").unwrap();
    assert_eq!(fs.link(passwd, gone, b"x"), Err(Errno::ENOENT));
    // Unlinking one name keeps the data under the other.
    fs.unlink(etc, b"passwd").unwrap();
    fs.forget_if_unlinked(passwd);
    assert_eq!(fs.metadata(passwd).unwrap().nlink, 1);
    assert!(content(&fs, "/pw").starts_with(b"ROOT:x"));
    fs.unlink(ROOT, b"pw").unwrap();
    assert_eq!(fs.metadata(passwd).unwrap().nlink, 0);
    // A removed inode cannot get a name back.
    assert_eq!(fs.link(passwd, ROOT, b"again"), Err(Errno::ENOENT));
    fs.forget_if_unlinked(passwd);
    assert_eq!(fs.metadata(passwd).map(|m| m.nlink), Err(Errno::ENOENT));
    // Symlinks and devices can be linked too (the link itself, not its target).
    let sh = fs.lookup(ROOT, b"/bin/sh", false).unwrap();
    fs.link(sh, ROOT, b"sh2").unwrap();
    assert_eq!(fs.readlink(fs.lookup(ROOT, b"/sh2", false).unwrap()).as_deref().map_err(|e| *e), Ok(&b"busybox"[..]));
}

#[test]
fn fifos_are_nodes_without_data() {
    let mut fs = sample_fs();
    let id = fs.mkfifo(ROOT, b"fifo", 0o644).unwrap();
    let meta = fs.metadata(id).unwrap();
    assert_eq!((meta.kind, meta.mode, meta.size, meta.nlink), (NodeKind::Fifo, S_IFIFO | 0o644, 0, 1));
    assert_eq!(meta.kind.dirent_type(), 1);
    assert_eq!(fs.mkfifo(ROOT, b"fifo", 0o644), Err(Errno::EEXIST));
    let mut buf = [0u8; 4];
    assert_eq!(fs.read(id, 0, &mut buf), Err(Errno::EINVAL));
    assert_eq!(fs.write(id, 0, b"x"), Err(Errno::EINVAL));
    assert_eq!(fs.truncate(id, 0), Err(Errno::EINVAL));
    fs.link(id, ROOT, b"fifo2").unwrap();
    fs.unlink(ROOT, b"fifo").unwrap();
    assert_eq!(look(&fs, "/fifo2"), Ok(id));
}

#[test]
fn any_path_of_names_files_and_directories() {
    let mut fs = Fs::new();
    let etc = fs.mkdir(ROOT, b"etc", 0o755).unwrap();
    let file = fs.create_file(etc, b"passwd", 0o644).unwrap();
    assert_eq!(fs.any_path_of(file).as_deref(), Some(&b"/etc/passwd"[..]));
    assert_eq!(fs.any_path_of(etc).as_deref(), Some(&b"/etc"[..]));
    assert_eq!(fs.any_path_of(ROOT).as_deref(), Some(&b"/"[..]));
    fs.unlink(etc, b"passwd").unwrap();
    assert_eq!(fs.any_path_of(file), None);
}

#[test]
fn created_and_written_files_take_the_clock_as_mtime() {
    let mut fs = Fs::new();
    fs.set_clock(Timestamp::from_secs(1_700_000_000));
    let dir = fs.mkdir(ROOT, b"d", 0o755).unwrap();
    let file = fs.create_file(dir, b"f", 0o644).unwrap();
    assert_eq!(fs.metadata(file).unwrap().mtime.secs, 1_700_000_000);
    assert_eq!(fs.metadata(dir).unwrap().mtime.secs, 1_700_000_000);
    fs.set_clock(Timestamp::from_secs(1_700_000_100));
    fs.write(file, 0, b"x").unwrap();
    assert_eq!(fs.metadata(file).unwrap().mtime.secs, 1_700_000_100);
    assert_eq!(fs.metadata(dir).unwrap().mtime.secs, 1_700_000_000, "writing a file leaves its directory alone");
    fs.set_clock(Timestamp::from_secs(1_700_000_200));
    fs.truncate(file, 0).unwrap();
    assert_eq!(fs.metadata(file).unwrap().mtime.secs, 1_700_000_200);
}

/// The three times of `id`, as (atime, mtime, ctime) in nanoseconds past
/// a round base, for short asserts.
fn times(fs: &Fs, id: InodeId) -> (u32, u32, u32) {
    let m = fs.metadata(id).unwrap();
    (m.atime.nsecs, m.mtime.nsecs, m.ctime.nsecs)
}

fn at(nsecs: u32) -> Timestamp {
    Timestamp { secs: 1_700_000_000, nsecs }
}

#[test]
fn new_inodes_take_now_for_all_three_times_and_touch_their_directory() {
    let mut fs = Fs::new();
    fs.set_clock(at(1));
    let dir = fs.mkdir(ROOT, b"d", 0o755).unwrap();
    fs.set_clock(at(2));
    let file = fs.create_file(dir, b"f", 0o644).unwrap();
    assert_eq!(times(&fs, file), (2, 2, 2));
    assert_eq!(times(&fs, dir), (1, 2, 2), "a new name changes the directory, not its atime");
    fs.set_clock(at(3));
    fs.symlink(dir, b"l", b"f").unwrap();
    fs.mkfifo(dir, b"p", 0o600).unwrap();
    assert_eq!(times(&fs, dir), (1, 3, 3));
}

#[test]
fn writes_and_truncations_change_mtime_and_ctime_but_empty_writes_nothing() {
    let mut fs = Fs::new();
    fs.set_clock(at(1));
    let file = fs.create_file(ROOT, b"f", 0o644).unwrap();
    fs.set_clock(at(2));
    fs.write(file, 0, b"").unwrap();
    assert_eq!(times(&fs, file), (1, 1, 1));
    fs.write(file, 0, b"abc").unwrap();
    assert_eq!(times(&fs, file), (1, 2, 2));
    fs.set_clock(at(3));
    fs.truncate(file, 3).unwrap();
    assert_eq!(times(&fs, file), (1, 3, 3), "a truncation to the same size counts too (Linux's do_truncate)");
}

#[test]
fn mode_owner_and_names_change_only_ctime() {
    let mut fs = Fs::new();
    fs.set_clock(at(1));
    let dir = fs.mkdir(ROOT, b"d", 0o755).unwrap();
    let other = fs.mkdir(ROOT, b"e", 0o755).unwrap();
    let file = fs.create_file(dir, b"f", 0o644).unwrap();
    fs.set_clock(at(2));
    fs.set_mode(file, 0o600).unwrap();
    assert_eq!(times(&fs, file), (1, 1, 2));
    fs.set_clock(at(3));
    fs.set_owner(file, 0, 0).unwrap();
    assert_eq!(times(&fs, file), (1, 1, 3), "chown to the same ids changes ctime too");
    fs.set_clock(at(4));
    fs.link(file, other, b"g").unwrap();
    assert_eq!((times(&fs, file), times(&fs, other)), ((1, 1, 4), (1, 4, 4)));
    fs.set_clock(at(5));
    fs.rename(other, b"g", dir, b"h").unwrap();
    assert_eq!((times(&fs, file), times(&fs, other), times(&fs, dir)), ((1, 1, 5), (1, 5, 5), (1, 5, 5)));
    fs.set_clock(at(6));
    fs.unlink(dir, b"h").unwrap();
    assert_eq!((times(&fs, file), times(&fs, dir)), ((1, 1, 6), (1, 6, 6)));
    fs.set_clock(at(7));
    let sub = fs.mkdir(dir, b"s", 0o755).unwrap();
    fs.set_clock(at(8));
    fs.rmdir(dir, b"s").unwrap();
    assert_eq!((times(&fs, sub).2, times(&fs, dir)), (8, (1, 8, 8)));
}

#[test]
fn set_times_sets_what_is_given_and_ctime_to_now() {
    let mut fs = Fs::new();
    fs.set_clock(at(1));
    let file = fs.create_file(ROOT, b"f", 0o644).unwrap();
    fs.set_clock(at(9));
    let given = Timestamp { secs: -5, nsecs: 123 };
    fs.set_times(file, Some(TimeChange::At(given)), None).unwrap();
    let m = fs.metadata(file).unwrap();
    assert_eq!((m.atime, m.mtime, m.ctime), (given, at(1), at(9)));
    fs.set_clock(at(10));
    fs.set_times(file, None, Some(TimeChange::Now)).unwrap();
    let m = fs.metadata(file).unwrap();
    assert_eq!((m.atime, m.mtime, m.ctime), (given, at(10), at(10)));
    fs.set_clock(at(11));
    fs.set_times(file, None, None).unwrap();
    assert_eq!(fs.metadata(file).unwrap().ctime, at(10), "both omitted: nothing changes");
    assert_eq!(fs.set_times(999, None, None), Err(Errno::ENOENT));
}

#[test]
fn reads_update_atime_by_the_relatime_rule() {
    let mut fs = Fs::new();
    fs.set_clock(at(1));
    let file = fs.create_file(ROOT, b"f", 0o644).unwrap();
    fs.set_clock(at(2));
    fs.accessed(file);
    assert_eq!(times(&fs, file), (2, 1, 1), "atime not newer than mtime: updated");
    fs.set_clock(at(3));
    fs.accessed(file);
    assert_eq!(times(&fs, file), (2, 1, 1), "atime newer than mtime and ctime: kept");
    fs.write(file, 0, b"x").unwrap();
    fs.set_clock(at(4));
    fs.accessed(file);
    assert_eq!(times(&fs, file), (4, 3, 3), "written since the last read: updated");
    fs.set_clock(Timestamp { secs: 1_700_000_000 + 24 * 3600, nsecs: 4 });
    fs.accessed(file);
    assert_eq!(fs.metadata(file).unwrap().atime.secs, 1_700_000_000 + 24 * 3600, "a day old: updated");
}

/// Files unpacked in place read from the archive until written; a write or
/// truncation gives the file its own bytes and a new generation, and the
/// archive is never touched.
#[test]
fn in_place_files_get_their_own_bytes_when_written() {
    let mut w = cpio::Writer::new();
    w.add_file("lib/libc.so", 0o755, &[7u8; 10_000]);
    w.add_file("etc/motd", 0o644, b"hello\n");
    let archive: &'static [u8] = std::boxed::Box::leak(w.finish().into_boxed_slice());
    let mut fs = Fs::from_cpio_in_place(archive).unwrap();
    let (libc, motd) = (look(&fs, "lib/libc.so").unwrap(), look(&fs, "etc/motd").unwrap());

    let in_place = fs.file_data_in_place(libc).unwrap();
    let offset = in_place.as_ptr() as usize - archive.as_ptr() as usize;
    assert_eq!(offset % cpio::DATA_ALIGN, 0, "the writer puts file data on a page");
    assert_eq!(in_place, &[7u8; 10_000][..]);
    assert_eq!(fs.metadata(libc).unwrap().size, 10_000);
    let mut buf = [0u8; 6];
    assert_eq!(fs.read(motd, 0, &mut buf), Ok(6));
    assert_eq!(&buf, b"hello\n");

    let before = (fs.generation(libc).unwrap(), fs.generation(motd).unwrap());
    assert_ne!(before.0, before.1, "no two inodes share a generation");
    fs.write(libc, 4096, b"XY").unwrap();
    assert!(fs.file_data_in_place(libc).is_none());
    assert_ne!(fs.generation(libc).unwrap(), before.0);
    assert_eq!(&fs.file_data(libc).unwrap()[4095..4099], &[7, b'X', b'Y', 7]);
    assert!(archive.windows(2).all(|w| w != b"XY"), "the archive stays as it was");
    // An empty write changes nothing.
    let now = fs.generation(libc).unwrap();
    fs.write(libc, 0, b"").unwrap();
    assert_eq!(fs.generation(libc).unwrap(), now);

    fs.truncate(motd, 2).unwrap();
    assert!(fs.file_data_in_place(motd).is_none());
    assert_ne!(fs.generation(motd).unwrap(), before.1);
    assert_eq!(&*fs.file_data(motd).unwrap(), b"he");

    // Files created later have their own bytes from the start.
    let new = fs.create_file(ROOT, b"new", 0o644).unwrap();
    assert!(fs.file_data_in_place(new).is_none());
    assert!(fs.generation(new).unwrap() > fs.generation(motd).unwrap());
}

fn user(uid: u32, gid: u32, groups: &[u32]) -> Identity {
    Identity { uid, gid, groups: groups.to_vec(), privileged: false }
}

/// Linux's generic_permission: owner, group (primary or supplementary),
/// others; root reads and writes anything and executes what has an x bit.
#[test]
fn permission_classes() {
    let www = user(33, 33, &[4]);
    let file = NodeKind::File;
    assert!(www.may(file, 0o640, 33, 0, MAY_READ | MAY_WRITE));
    assert!(!www.may(file, 0o440, 33, 0, MAY_WRITE), "the owner class decides, even if others may more");
    assert!(www.may(file, 0o040, 0, 4, MAY_READ), "a supplementary group");
    assert!(!www.may(file, 0o604, 0, 33, MAY_READ), "the group class decides for group members");
    assert!(www.may(file, 0o004, 0, 0, MAY_READ) && !www.may(file, 0o004, 0, 0, MAY_WRITE));
    let root = Identity { privileged: true, ..Identity::default() };
    assert!(root.may(file, 0o000, 33, 33, MAY_READ | MAY_WRITE));
    assert!(!root.may(file, 0o666, 33, 33, MAY_EXEC), "root executes only what has an x bit");
    assert!(root.may(file, 0o100, 33, 33, MAY_EXEC));
    assert!(root.may(NodeKind::Directory, 0o000, 33, 33, MAY_EXEC), "root searches every directory");
}

/// With an identity set, the tree's modes apply: search on every
/// directory of a path, write and search on the parent to create or
/// remove, the sticky bit, chmod/chown by the owner only, and new names
/// owned by the creator (group from a set-group-ID directory).
#[test]
fn an_unprivileged_identity_meets_the_modes() {
    let mut fs = Fs::new();
    let root_dir = fs.mkdir(ROOT, b"root", 0o700).unwrap();
    fs.create_file(root_dir, b"secret", 0o644).unwrap();
    let etc = fs.mkdir(ROOT, b"etc", 0o755).unwrap();
    let passwd = fs.create_file(etc, b"passwd", 0o644).unwrap();
    let tmp = fs.mkdir(ROOT, b"tmp", 0o1777).unwrap();
    let shared = fs.mkdir(ROOT, b"shared", 0o2775).unwrap();
    fs.set_owner(shared, 0, 50).unwrap();
    let root_file = fs.create_file(tmp, b"roots", 0o666).unwrap();

    fs.set_identity(Some(user(33, 33, &[])));
    assert_eq!(look(&fs, "root/secret"), Err(Errno::EACCES), "no search permission on /root");
    assert_eq!(fs.check_access(passwd, MAY_READ), Ok(()));
    assert_eq!(fs.check_access(passwd, MAY_WRITE), Err(Errno::EACCES));
    assert_eq!(fs.create_file(etc, b"evil", 0o644), Err(Errno::EACCES), "no write permission on /etc");
    assert_eq!(fs.unlink(etc, b"passwd"), Err(Errno::EACCES));
    assert_eq!(fs.set_mode(passwd, 0o666), Err(Errno::EPERM));
    assert_eq!(fs.set_owner(passwd, 33, 33), Err(Errno::EPERM));

    let mine = fs.create_file(tmp, b"mine", 0o600).unwrap();
    let meta = fs.metadata(mine).unwrap();
    assert_eq!((meta.uid, meta.gid), (33, 33), "the creator owns what it creates");
    assert_eq!(fs.set_mode(mine, 0o644), Ok(()), "the owner may chmod");
    assert_eq!(fs.unlink(tmp, b"roots"), Err(Errno::EPERM), "sticky /tmp: not the owner");
    assert_eq!(fs.rename(tmp, b"roots", tmp, b"x"), Err(Errno::EPERM));
    assert_eq!(fs.check_access(root_file, MAY_WRITE), Ok(()), "yet writable: mode 0666");

    let in_group = fs.create_file(shared, b"f", 0o644);
    assert_eq!(in_group, Err(Errno::EACCES), "not in the directory's group");
    fs.set_identity(Some(user(33, 33, &[50])));
    let f = fs.create_file(shared, b"f", 0o644).unwrap();
    assert_eq!(fs.metadata(f).unwrap().gid, 50, "a set-group-ID directory gives its group");
    let sub = fs.mkdir(shared, b"sub", 0o755).unwrap();
    assert_eq!(fs.metadata(sub).unwrap().mode & 0o2000, 0o2000, "and its set-group-ID bit to subdirectories");
    assert_eq!(fs.set_owner(f, 33, 33), Ok(()), "the owner may give the file one of its groups");
    assert_eq!(fs.unlink(tmp, b"mine"), Ok(()), "the owner may remove its name from /tmp");

    // Root again (or no identity): everything goes.
    fs.set_identity(Some(Identity { privileged: true, ..Identity::default() }));
    assert!(look(&fs, "root/secret").is_ok());
    assert_eq!(fs.unlink(tmp, b"roots"), Ok(()));
}

#[test]
fn socket_names_are_nodes_without_data() {
    let mut fs = sample_fs();
    let etc = look(&fs, "/etc").unwrap();
    let sock = fs.mksock(etc, b"ctl.sock", 0o755).unwrap();
    let meta = fs.metadata(sock).unwrap();
    assert_eq!((meta.kind, meta.mode, meta.size), (NodeKind::Socket, S_IFSOCK | 0o755, 0));
    assert_eq!(NodeKind::Socket.dirent_type(), 12);
    assert_eq!(look(&fs, "/etc/ctl.sock"), Ok(sock));
    // A name in use (socket or not) is EEXIST; reads and writes EINVAL.
    assert_eq!(fs.mksock(etc, b"ctl.sock", 0o755), Err(Errno::EEXIST));
    assert_eq!(fs.mksock(etc, b"passwd", 0o755), Err(Errno::EEXIST));
    assert_eq!(fs.read(sock, 0, &mut [0u8; 4]), Err(Errno::EINVAL));
    assert_eq!(fs.write(sock, 0, b"x"), Err(Errno::EINVAL));
    fs.unlink(etc, b"ctl.sock").unwrap();
    assert_eq!(look(&fs, "/etc/ctl.sock"), Err(Errno::ENOENT));
}

#[test]
fn a_clock_source_is_read_when_an_mtime_is_due() {
    let mut fs = Fs::new();
    fs.set_clock_source(|| Timestamp { secs: 1_234_567, nsecs: 89 });
    let id = fs.create_file(ROOT, b"f", 0o644).unwrap();
    assert_eq!(fs.metadata(id).unwrap().mtime, Timestamp { secs: 1_234_567, nsecs: 89 });
}

#[test]
fn anonymous_files_have_no_name_and_go_with_their_last_holder() {
    let mut fs = Fs::new();
    fs.set_identity(Some(Identity { uid: 1000, gid: 100, groups: vec![], privileged: false }));
    let id = fs.create_anonymous(b"memfd:buf", 0o777, false).unwrap();
    let meta = fs.metadata(id).unwrap();
    assert_eq!((meta.kind, meta.mode, meta.nlink, meta.uid, meta.gid, meta.size), (NodeKind::File, S_IFREG | 0o777, 0, 1000, 100, 0));
    assert_eq!(fs.anonymous_name(id), Some(&b"memfd:buf"[..]));
    assert_eq!(fs.shown_path(id).as_deref(), Some(&b"/memfd:buf (deleted)"[..]));
    assert_eq!(fs.write(id, 0, b"hello"), Ok(5));
    fs.truncate(id, 4096).unwrap();
    assert_eq!(fs.metadata(id).unwrap().size, 4096);
    assert_eq!(fs.any_path_of(id), None);
    assert_eq!(fs.read_dir(ROOT).unwrap().len(), 2, "no name anywhere");
    fs.forget_if_unlinked(id);
    assert!(!fs.exists(id));
    assert_eq!(fs.anonymous_name(id), None);
}

#[test]
fn seals_forbid_what_they_name() {
    let mut fs = Fs::new();
    let plain = fs.create_file(ROOT, b"f", 0o644).unwrap();
    assert_eq!(fs.seals(plain), Ok(SEAL_SEAL), "a file starts sealed against sealing (tmpfs)");
    assert_eq!(fs.add_seals(plain, SEAL_WRITE), Err(Errno::EPERM));
    assert_eq!(fs.seals(ROOT), Err(Errno::EINVAL), "a directory has no seals");
    let sealed = fs.create_anonymous(b"memfd:s", 0o777, false).unwrap();
    assert_eq!(fs.add_seals(sealed, SEAL_GROW), Err(Errno::EPERM), "without MFD_ALLOW_SEALING");
    let id = fs.create_anonymous(b"memfd:x", 0o777, true).unwrap();
    assert_eq!(fs.seals(id), Ok(0));
    assert_eq!(fs.add_seals(id, 0x20), Err(Errno::EINVAL), "an unknown seal");
    fs.write(id, 0, b"0123456789").unwrap();
    fs.add_seals(id, SEAL_SHRINK).unwrap();
    assert_eq!(fs.truncate(id, 5), Err(Errno::EPERM));
    fs.truncate(id, 20).unwrap();
    fs.add_seals(id, SEAL_GROW).unwrap();
    assert_eq!(fs.truncate(id, 21), Err(Errno::EPERM));
    assert_eq!(fs.write(id, 15, b"abcdef"), Err(Errno::EPERM), "past the end");
    assert_eq!(fs.write(id, 14, b"abcdef"), Ok(6), "up to the end");
    fs.add_seals(id, 0).unwrap();
    let big = fs.create_anonymous(b"memfd:big", 0o777, true).unwrap();
    fs.truncate(big, 8192).unwrap();
    fs.add_seals(big, SEAL_GROW).unwrap();
    assert_eq!(fs.write(big, 4094, b"abcd"), Ok(4), "within the file across a page");
    assert_eq!(fs.write(big, 8190, b"abcd"), Ok(2), "the page that ends within the file, then no more (Linux's page-by-page write)");
    assert_eq!(fs.metadata(big).unwrap().size, 8192);
    fs.truncate(id, 20).unwrap();
    fs.add_seals(id, SEAL_WRITE).unwrap();
    assert_eq!(fs.write(id, 0, b"x"), Err(Errno::EPERM));
    assert_eq!(fs.write(id, 0, b""), Ok(0), "an empty write is no write");
    assert_eq!(fs.write_from_mapping(id, 0, b"y"), Ok(1), "a mapping's write-back is not a write(2)");
    fs.add_seals(id, SEAL_SEAL).unwrap();
    assert_eq!(fs.add_seals(id, 0), Err(Errno::EPERM));
    assert_eq!(fs.seals(id), Ok(SEAL_SEAL | SEAL_SHRINK | SEAL_GROW | SEAL_WRITE));
}
