//! Round trips through the `Writer`, an archive made by the host's `cpio`
//! when it is installed, and garbage.
#![allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

use super::*;
use std::process::Command;
use std::string::String;
use std::vec::Vec;

fn collect(archive: &[u8]) -> Result<Vec<Entry<'_>>, CpioError> {
    entries(archive).collect()
}

fn sample() -> Vec<u8> {
    let mut w = Writer::new();
    w.add_dir(".", 0o755);
    w.add_dir("/bin", 0o755);
    w.add_file("bin/hello", 0o4755, b"\x7fELF...");
    w.add_file("etc/motd", 0o644, b"hi\n"); // parent not in the archive
    w.add_file("empty", 0o600, b"");
    w.add_symlink("bin/sh", "hello");
    w.finish()
}

#[test]
fn round_trip() {
    let archive = sample();
    assert_eq!(archive.len() % 4, 0);
    let all = collect(&archive).unwrap();
    let names: Vec<&str> = all.iter().map(|e| e.name).collect();
    assert_eq!(
        names,
        ["", "bin", "bin/hello", "etc/motd", "empty", "bin/sh"]
    );
    assert_eq!(all[0].mode, S_IFDIR | 0o755);
    assert_eq!(all[1].nlink, 2);
    let hello = &all[2];
    assert_eq!(hello.mode, S_IFREG | 0o4755);
    assert_eq!(hello.file_type(), S_IFREG);
    assert_eq!(hello.permissions(), 0o4755);
    assert_eq!(hello.data, b"\x7fELF...");
    assert_eq!(
        (hello.uid, hello.gid, hello.mtime, hello.nlink),
        (0, 0, 0, 1)
    );
    assert_eq!(all[3].data, b"hi\n");
    assert_eq!(all[4].data, b"");
    assert_eq!(all[5].mode, S_IFLNK | 0o777);
    assert_eq!(all[5].data, b"hello");
    let inos: Vec<u32> = all.iter().map(|e| e.ino).collect();
    assert_eq!(inos, [1, 2, 3, 4, 5, 6]);
}

#[test]
fn every_name_and_data_length_aligns() {
    for name_len in 1..12 {
        for data_len in 0..9 {
            let name: String = "n".repeat(name_len);
            let data: Vec<u8> = (0..data_len as u8).collect();
            let mut w = Writer::new();
            w.add_file(&name, 0o644, &data);
            w.add_file("next", 0o644, b"x");
            let archive = w.finish();
            let all = collect(&archive).unwrap();
            assert_eq!(all.len(), 2);
            assert_eq!(all[0].name, name);
            assert_eq!(all[0].data, &data[..]);
            assert_eq!(all[1].data, b"x");
        }
    }
}

#[test]
fn stops_at_trailer_and_tolerates_padding() {
    let mut archive = sample();
    archive.extend_from_slice(&[0; 512]); // block padding, as cpio writes
    assert_eq!(collect(&archive).unwrap().len(), 6);
    let mut archive = sample();
    archive.extend_from_slice(b"garbage after the trailer");
    assert_eq!(collect(&archive).unwrap().len(), 6);
    // Empty input, and an archive with only the trailer.
    assert_eq!(collect(&[]).unwrap().len(), 0);
    assert_eq!(collect(&Writer::new().finish()).unwrap().len(), 0);
}

#[test]
fn missing_trailer_ends_at_end_of_input() {
    let archive = sample();
    let trailer_len = align4(110 + "TRAILER!!!".len() + 1).unwrap();
    let cut = &archive[..archive.len() - trailer_len];
    assert_eq!(collect(cut).unwrap().len(), 6);
}

#[test]
fn strips_prefixes() {
    assert_eq!(strip_prefix("./a/b"), "a/b");
    assert_eq!(strip_prefix("/a"), "a");
    assert_eq!(strip_prefix(".//./a"), "a");
    assert_eq!(strip_prefix("."), "");
    assert_eq!(strip_prefix("./"), "");
    assert_eq!(strip_prefix(".hidden"), ".hidden");
    assert_eq!(strip_prefix("a/./b"), "a/./b");
}

#[test]
fn errors() {
    let archive = sample();
    // Truncated inside the first header, in a name, in data.
    assert_eq!(
        collect(&archive[..50]).unwrap_err(),
        CpioError::Truncated { offset: 0 }
    );
    assert_eq!(
        collect(&archive[..111]).unwrap_err(),
        CpioError::Truncated { offset: 110 }
    );
    // A symlink: its data is not moved to a page boundary as a file's is.
    let mut w = Writer::new();
    w.add_symlink("f", "0123456789");
    let one = w.finish();
    assert_eq!(
        collect(&one[..116]).unwrap_err(),
        CpioError::Truncated { offset: 112 }
    );
    // Bad magic.
    let mut bad = archive.clone();
    bad[5] = b'7';
    assert_eq!(
        collect(&bad).unwrap_err(),
        CpioError::BadMagic { offset: 0 }
    );
    let old_binary = [0xc7u8, 0x71, 0, 0, 0, 0, 0, 0];
    assert_eq!(
        collect(&old_binary).unwrap_err(),
        CpioError::Truncated { offset: 0 }
    );
    let mut odc = archive.clone();
    odc[..6].copy_from_slice(b"070707");
    assert_eq!(
        collect(&odc).unwrap_err(),
        CpioError::BadMagic { offset: 0 }
    );
    // Bad number: the mode field of the first entry.
    let mut bad = archive.clone();
    bad[14 + 3] = b'g';
    assert_eq!(
        collect(&bad).unwrap_err(),
        CpioError::BadNumber { offset: 14 }
    );
    // Bad names: size 0, not NUL-terminated, not UTF-8, inner NUL.
    let set_namesize =
        |a: &mut Vec<u8>, n: u32| a[94..102].copy_from_slice(std::format!("{n:08X}").as_bytes());
    let mut bad = one.clone();
    set_namesize(&mut bad, 0);
    assert_eq!(
        collect(&bad).unwrap_err(),
        CpioError::BadName { offset: 110 }
    );
    let mut bad = one.clone();
    bad[111] = b'x';
    assert_eq!(
        collect(&bad).unwrap_err(),
        CpioError::BadName { offset: 110 }
    );
    let mut bad = one.clone();
    set_namesize(&mut bad, 3);
    bad[110] = 0xff;
    bad[111] = 0;
    bad[112] = 0;
    assert_eq!(
        collect(&bad).unwrap_err(),
        CpioError::BadName { offset: 110 }
    );
    // After an error the iterator ends.
    let mut it = entries(&bad);
    assert!(it.next().unwrap().is_err());
    assert!(it.next().is_none());
    // Lower-case hex is accepted, as GNU cpio reads it.
    let mut lower = one.clone();
    lower[6..110].make_ascii_lowercase();
    assert_eq!(collect(&lower).unwrap()[0].data, b"0123456789");
}

#[test]
fn messages() {
    assert_eq!(
        std::format!("{}", CpioError::BadMagic { offset: 0x20 }),
        "cpio: no newc header (magic 070701) at offset 0x20"
    );
    assert_eq!(
        std::format!("{}", CpioError::Truncated { offset: 4 }),
        "cpio archive truncated at offset 0x4"
    );
}

#[test]
fn garbage_never_panics() {
    let base = sample();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..20_000 {
        let mut a = base.clone();
        for _ in 0..1 + next() % 6 {
            let at = (next() as usize) % a.len();
            a[at] = match next() % 3 {
                0 => b"0123456789ABCDEFfg"[(next() % 18) as usize],
                1 => 0,
                _ => next() as u8,
            };
        }
        if next() % 4 == 0 {
            let len = (next() as usize) % a.len();
            a.truncate(len);
        }
        for entry in entries(&a).flatten() {
            assert!(!entry.name.starts_with('/'));
        }
    }
    // Pure noise and huge sizes.
    let mut huge = Vec::from(&b"070701"[..]);
    huge.extend_from_slice(&b"FFFFFFFF".repeat(13));
    assert!(collect(&huge).is_err());
    for len in 0..300 {
        let noise: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let _ = collect(&noise);
    }
}

#[test]
fn reads_archive_made_by_host_cpio() {
    let dir = std::env::temp_dir().join(std::format!("isola-cpio-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("root/etc")).unwrap();
    std::fs::write(dir.join("root/etc/hostname"), b"isola\n").unwrap();
    std::fs::write(dir.join("root/odd-size"), vec![7u8; 1027]).unwrap();
    std::os::unix::fs::symlink("etc/hostname", dir.join("root/link")).unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg("cd root && printf '.\\netc\\netc/hostname\\nodd-size\\nlink\\n' | cpio -o -H newc --quiet > ../a.cpio")
        .current_dir(&dir)
        .output();
    let archive = match out {
        Ok(out) if out.status.success() => std::fs::read(dir.join("a.cpio")).unwrap(),
        Ok(out) => {
            std::println!(
                "skipped: host cpio failed (not installed?): {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let _ = std::fs::remove_dir_all(&dir);
            return;
        }
        Err(err) => {
            std::println!("skipped: cannot run sh: {err}");
            return;
        }
    };
    let _ = std::fs::remove_dir_all(&dir);
    let all = collect(&archive).unwrap();
    let names: Vec<&str> = all.iter().map(|e| e.name).collect();
    assert_eq!(names, ["", "etc", "etc/hostname", "odd-size", "link"]);
    assert_eq!(all[1].file_type(), S_IFDIR);
    assert_eq!(all[2].data, b"isola\n");
    assert_eq!(all[2].file_type(), S_IFREG);
    assert_eq!(all[3].data.len(), 1027);
    assert_eq!(all[4].file_type(), S_IFLNK);
    assert_eq!(all[4].data, b"etc/hostname");
}

/// Regular files' data starts on a page of the archive, whatever the names
/// and sizes before them, and the archive still reads back the same.
#[test]
fn file_data_is_page_aligned() {
    let mut writer = Writer::new();
    let mut expected = Vec::new();
    for i in 0..300usize {
        // Names of every length up to long ones, so that the padding alone
        // sometimes cannot reach the next page and a filler is needed.
        let name = alloc::format!("d/{}{}", "n".repeat(i * 13 % 4000), i);
        let data = alloc::vec![i as u8; i * 37 % 5000 + 1];
        writer.add_file(&name, 0o644, &data);
        writer.add_symlink(&alloc::format!("l{i}"), "x");
        expected.push((name, data));
    }
    writer.add_file("empty", 0o600, b"");
    let archive = writer.finish();
    let files: Vec<Entry<'_>> = collect(&archive).unwrap().into_iter().filter(|e| e.file_type() == S_IFREG).collect();
    assert_eq!(files.len(), expected.len() + 1);
    for (entry, (name, data)) in files.iter().zip(&expected) {
        assert_eq!(entry.name, name);
        assert_eq!(entry.data, &data[..]);
        let offset = entry.data.as_ptr() as usize - archive.as_ptr() as usize;
        assert_eq!(offset % DATA_ALIGN, 0, "{name} at {offset:#x}");
    }
    // Linux's unpacker refuses names longer than PATH_MAX.
    let mut at = 0;
    while at + HEADER_LEN <= archive.len() && &archive[at..at + 6] == MAGIC_NEWC {
        let field = |i: usize| usize::from_str_radix(core::str::from_utf8(&archive[at + 6 + i * 8..at + 14 + i * 8]).unwrap(), 16).unwrap();
        let (filesize, namesize) = (field(6), field(11));
        assert!(namesize <= 4096);
        at = (at + HEADER_LEN + namesize).next_multiple_of(4);
        at = (at + filesize).next_multiple_of(4);
    }
}

#[test]
fn names_may_be_padded_with_nuls_but_nothing_after() {
    let mut archive = Vec::new();
    let entry = |name: &[u8], out: &mut Vec<u8>| {
        out.extend_from_slice(b"070701");
        for field in [1u32, 0o100644, 0, 0, 1, 0, 2, 0, 0, 0, 0, name.len() as u32, 0] {
            out.extend_from_slice(alloc::format!("{field:08X}").as_bytes());
        }
        out.extend_from_slice(name);
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out.extend_from_slice(b"hi\0\0");
    };
    entry(b"a\0\0\0\0\0", &mut archive);
    assert_eq!(collect(&archive).unwrap()[0].name, "a");
    assert_eq!(collect(&archive).unwrap()[0].data, b"hi");
    let mut bad = Vec::new();
    entry(b"a\0b\0", &mut bad);
    assert!(matches!(collect(&bad), Err(CpioError::BadName { .. })));
}

#[test]
fn owners_and_mtimes_are_kept() {
    let mut w = Writer::new();
    let www = Owner { uid: 33, gid: 33, mtime: 1_700_000_000 };
    w.add_dir_as("var/log/lighttpd", 0o750, www);
    w.add_file_as("var/log/lighttpd/error.log", 0o640, b"x", www);
    w.add_symlink_as("var/log/link", "lighttpd", Owner { uid: 1, gid: 2, mtime: 3 });
    w.add_file("etc/passwd", 0o644, b"root");
    let archive = w.finish();
    let all = collect(&archive).unwrap();
    let find = |name: &str| *all.iter().find(|e| e.name == name).unwrap();
    let log = find("var/log/lighttpd/error.log");
    assert_eq!((log.uid, log.gid, log.mtime), (33, 33, 1_700_000_000));
    assert_eq!((find("var/log/lighttpd").uid, find("var/log/link").gid), (33, 2));
    assert_eq!((find("etc/passwd").uid, find("etc/passwd").mtime), (0, 0), "plain add_* stays root's");
}
