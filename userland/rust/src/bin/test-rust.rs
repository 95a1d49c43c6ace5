//! test-rust: what Rust's std needs from the kernel, checked one by one
//! (files, directories, arguments, environment, clocks, a large heap).
//!
//! Output: `ok - <name>` / `not ok - <name>: <why>` / `skip - <name>: <why>`
//! per check, then `N passed, M failed[, K skipped]`; exit 0 iff nothing
//! failed. Works in a fresh directory `test-rust.<pid>` under the current
//! one and removes it at the end. No threads.

use std::fmt::Display;
use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Default)]
struct Tap {
    passed: u32,
    failed: u32,
    skipped: u32,
}

impl Tap {
    fn ok(&mut self, name: &str) {
        self.passed += 1;
        println!("ok - {name}");
    }

    fn not_ok(&mut self, name: &str, why: impl Display) {
        self.failed += 1;
        println!("not ok - {name}: {why}");
    }

    #[allow(dead_code)]
    fn skip(&mut self, name: &str, why: impl Display) {
        self.skipped += 1;
        println!("skip - {name}: {why}");
    }

    /// `ok` if `r` is `Ok(true)`; the error or `why` otherwise.
    fn check<E: Display>(&mut self, name: &str, r: Result<bool, E>, why: impl Display) {
        match r {
            Ok(true) => self.ok(name),
            Ok(false) => self.not_ok(name, why),
            Err(e) => self.not_ok(name, e),
        }
    }

    fn summary(&self) -> String {
        let mut s = format!("{} passed, {} failed", self.passed, self.failed);
        if self.skipped > 0 {
            s.push_str(&format!(", {} skipped", self.skipped));
        }
        s
    }
}

fn files(t: &mut Tap, dir: &Path) {
    let file = dir.join("a.txt");
    t.check(
        "fs::write",
        fs::write(&file, b"hello from std\n").map(|()| true),
        "",
    );
    let read = fs::read_to_string(&file);
    t.check(
        "fs::read_to_string",
        read.as_ref().map(|s| s == "hello from std\n"),
        format_args!("read {read:?}"),
    );
    let meta = fs::metadata(&file);
    t.check(
        "fs::metadata",
        meta.as_ref().map(|m| m.is_file() && m.len() == 15),
        format_args!("{meta:?}"),
    );
    let appended = fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .and_then(|mut f| f.write_all(b"more\n"))
        .and_then(|()| fs::read(&file));
    t.check(
        "OpenOptions append",
        appended.as_ref().map(|b| b == b"hello from std\nmore\n"),
        format_args!("{appended:?}"),
    );
    let seek = fs::File::open(&file).and_then(|mut f| {
        f.seek(SeekFrom::Start(6))?;
        let mut s = String::new();
        f.take(4).read_to_string(&mut s)?;
        Ok(s)
    });
    t.check(
        "File seek + read",
        seek.as_ref().map(|s| s == "from"),
        format_args!("{seek:?}"),
    );

    let sub = dir.join("sub");
    t.check("fs::create_dir", fs::create_dir(&sub).map(|()| true), "");
    let again = fs::create_dir(&sub);
    t.check(
        "fs::create_dir existing -> AlreadyExists",
        Ok::<_, String>(matches!(&again, Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists)),
        format_args!("{again:?}"),
    );
    let _ = fs::write(sub.join("b.txt"), b"b");
    let names = fs::read_dir(dir).and_then(|entries| {
        let mut names = entries
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<Result<Vec<_>, _>>()?;
        names.sort();
        Ok(names)
    });
    t.check(
        "fs::read_dir",
        names.as_ref().map(|n| n == &["a.txt", "sub"]),
        format_args!("{names:?}"),
    );
    let kinds = fs::read_dir(dir).map(|entries| {
        entries.flatten().all(|e| match e.file_type() {
            Ok(ft) => (e.file_name() == "sub") == ft.is_dir(),
            Err(_) => false,
        })
    });
    t.check("DirEntry::file_type", kinds, "wrong file types");

    let removed = fs::remove_file(&file).map(|()| !file.exists());
    t.check("fs::remove_file", removed, "file still there");
    let missing = fs::read(&file);
    t.check(
        "fs::read missing -> NotFound",
        Ok::<_, String>(matches!(&missing, Err(e) if e.kind() == std::io::ErrorKind::NotFound)),
        format_args!("{missing:?}"),
    );
    let _ = fs::remove_file(sub.join("b.txt"));
    let _ = fs::remove_dir(&sub);
}

fn env(t: &mut Tap) {
    let args: Vec<String> = std::env::args().collect();
    t.check(
        "env::args",
        Ok::<_, String>(!args.is_empty() && args[0].contains("test-rust")),
        format_args!("{args:?}"),
    );
    let vars: Vec<(String, String)> = std::env::vars().collect();
    t.check(
        "env::vars",
        Ok::<_, String>(vars.iter().all(|(k, _)| !k.is_empty() && !k.contains('='))),
        format_args!("{} variables, one malformed", vars.len()),
    );
    // SAFETY: set_var is unsafe in edition 2024 because another thread could
    // read the environment at the same time; this program has no threads.
    unsafe { std::env::set_var("ISOLA_TEST_RUST", "42") };
    let v = std::env::var("ISOLA_TEST_RUST");
    t.check(
        "env::set_var / var",
        v.as_ref().map(|v| v == "42"),
        format_args!("{v:?}"),
    );
    let cwd = std::env::current_dir();
    t.check(
        "env::current_dir",
        cwd.as_ref().map(|p| p.is_absolute()),
        format_args!("{cwd:?}"),
    );
}

fn time(t: &mut Tap) {
    let start = Instant::now();
    let mut later = Instant::now();
    for _ in 0..10_000_000 {
        later = Instant::now();
        if later > start {
            break;
        }
    }
    t.check(
        "Instant::now increases",
        Ok::<_, String>(later > start),
        "the clock never moved",
    );
    let before = Instant::now();
    std::thread::sleep(Duration::from_millis(10));
    let slept = before.elapsed();
    t.check(
        "thread::sleep 10 ms",
        Ok::<_, String>(slept >= Duration::from_millis(10)),
        format_args!("slept {slept:?}"),
    );
    let now = SystemTime::now().duration_since(UNIX_EPOCH);
    t.check(
        "SystemTime plausible",
        now.as_ref()
            .map(|d| d.as_secs() > 1_577_836_800 && d.as_secs() < 4_102_444_800),
        format_args!("{now:?}"),
    );
}

fn heap(t: &mut Tap) {
    const LEN: usize = 10 << 20;
    let mut v: Vec<u8> = Vec::with_capacity(LEN);
    for i in 0..LEN {
        v.push((i % 251) as u8);
    }
    let sum: u64 = v.iter().map(|&b| u64::from(b)).sum();
    let want: u64 = (0..LEN).map(|i| (i % 251) as u64).sum();
    t.check(
        "Vec of 10 MiB",
        Ok::<_, String>(v.len() == LEN && sum == want),
        format_args!("sum {sum}, want {want}"),
    );
    drop(v);
    // Many small allocations, freed in a different order.
    let mut boxes: Vec<Box<[u64]>> = (0..10_000u64)
        .map(|i| vec![i; (i % 64 + 1) as usize].into_boxed_slice())
        .collect();
    boxes.retain(|b| b[0] % 2 == 0);
    let good = boxes.iter().all(|b| b.iter().all(|&x| x == b[0]));
    t.check(
        "many small allocations",
        Ok::<_, String>(good && boxes.len() == 5_000),
        "corrupted",
    );
}

/// std::process::Command: runs this program again as a child (through
/// /proc/self/exe) that echoes its argument and exits with a chosen status.
fn processes(t: &mut Tap) {
    let me = match std::env::current_exe() {
        Ok(path) => path,
        Err(e) => return t.not_ok("current_exe", e),
    };
    let out = std::process::Command::new(&me).args(["--child", "echo"]).output();
    t.check(
        "Command::output captures a child's stdout",
        out.as_ref().map(|o| o.stdout == b"echo\n" && o.status.success()),
        format!("{out:?}"),
    );
    let status = std::process::Command::new(&me).args(["--child", "exit"]).status();
    t.check("Command::status sees the child's exit status", status.as_ref().map(|s| s.code() == Some(3)), format!("{status:?}"));
    let missing = std::process::Command::new("/no/such/program").status();
    t.check("spawning a missing program is an error", Ok::<bool, String>(missing.is_err()), format!("{missing:?}"));
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        return match args.get(2).map(String::as_str) {
            Some("exit") => ExitCode::from(3),
            Some(word) => {
                println!("{word}");
                ExitCode::SUCCESS
            }
            None => ExitCode::FAILURE,
        };
    }
    let mut t = Tap::default();
    let dir = std::env::current_dir()
        .unwrap_or_else(|_| "/".into())
        .join(format!("test-rust.{}", std::process::id()));
    match fs::create_dir(&dir) {
        Ok(()) => {
            files(&mut t, &dir);
            let _ = fs::remove_dir(&dir);
        }
        Err(e) => t.not_ok("create the work directory", e),
    }
    env(&mut t);
    time(&mut t);
    heap(&mut t);
    processes(&mut t);
    println!("{}", t.summary());
    if t.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
