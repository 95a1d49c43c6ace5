//! What the host integration tests share: running the built `isola` under a
//! watchdog, and the third-party programs they run inside Isola.

#![allow(dead_code)] // each test crate uses its own part of this module

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

/// Upper bound for one `isola` invocation, a cold kernel build included.
pub const WATCHDOG: Duration = Duration::from_secs(900);

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// The pid `isola` ran as (to find its temporary files).
    pub pid: u32,
}

impl Output {
    pub fn show(&self) -> String {
        format!(
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    /// Does stdout hold exactly this line?
    pub fn has_line(&self, line: &str) -> bool {
        self.stdout.lines().any(|l| l == line)
    }

    /// Does stderr hold exactly this line? (The kernel's notices, and with
    /// `isola run --verbose` its log, are there.)
    pub fn has_err_line(&self, line: &str) -> bool {
        self.stderr.lines().any(|l| l == line)
    }

    /// The first stderr line starting with `prefix`.
    pub fn err_line(&self, prefix: &str) -> Option<&str> {
        self.stderr.lines().find(|l| l.starts_with(prefix))
    }

    /// Did either stream say `text`? (For what must appear nowhere.)
    pub fn says(&self, text: &str) -> bool {
        self.stdout.contains(text) || self.stderr.contains(text)
    }
}

pub fn isola(args: &[&str]) -> Output {
    isola_with(args, |_| {})
}

/// Run the CLI with `args`, after `setup` adjusts the command; killed and
/// failed if it outlives [`WATCHDOG`].
pub fn isola_with(args: &[&str], setup: impl FnOnce(&mut Command)) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_isola"));
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    setup(&mut cmd);
    let mut child = cmd.spawn().expect("start isola");
    let pid = child.id();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_reader = thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        String::from_utf8_lossy(&s).into_owned()
    });
    let err_reader = thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        String::from_utf8_lossy(&s).into_owned()
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > WATCHDOG {
            let _ = child.kill();
            let _ = child.wait();
            panic!("isola {args:?} still running after {WATCHDOG:?}: killed");
        }
        thread::sleep(Duration::from_millis(20));
    };
    Output {
        code: status.code().unwrap_or(-1),
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
        pid,
    }
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Debian's static busybox at `target/third-party/busybox`: fetched with
/// `scripts/fetch-busybox` if missing; a test that needs it fails (never
/// passes silently) when it still is.
pub fn busybox() -> &'static Path {
    static BUSYBOX: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let found = BUSYBOX.get_or_init(|| {
        let path = root().join("target/third-party/busybox");
        if !path.is_file() {
            let fetched = Command::new(root().join("scripts/fetch-busybox"))
                .current_dir(root())
                .stdin(Stdio::null())
                .output();
            if let Ok(out) = &fetched {
                eprintln!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "{} is missing and scripts/fetch-busybox did not fetch it: \
                 run scripts/fetch-busybox (it needs apt-get and network access)",
                path.display()
            ))
        }
    });
    match found {
        Ok(path) => path,
        Err(why) => panic!("{why}"),
    }
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "isola-test-{}-{tag}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The unpacked Debian root of `scripts/fetch-dynamic-root` (busybox,
/// libc6 and busybox's applet links), fetched once per test run.
pub fn dynamic_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let out = Command::new(root().join("scripts/fetch-dynamic-root"))
            .current_dir(root())
            .stdin(Stdio::null())
            .output()
            .expect("run scripts/fetch-dynamic-root");
        let path = root().join("target/third-party/dynamic-root");
        assert!(
            out.status.success() && path.join(".complete").is_file(),
            "scripts/fetch-dynamic-root failed (it needs apt-get and network access once):\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        path
    })
}

/// `isola rootfs --packages PACKAGES --force -o target/test-NAME-root`, its
/// .debs cached in `target/test-rootfs-cache-NAME` (the caller keeps the
/// path in a OnceLock, to build once per test run).
pub fn rootfs_of_packages(name: &str, packages: &str) -> PathBuf {
    let dir = root().join(format!("target/test-{name}-root"));
    let out = isola_with(&["rootfs", "--packages", packages, "--force", "-o", dir.to_str().unwrap()], |c| {
        c.env("ISOLA_CACHE", root().join(format!("target/test-rootfs-cache-{name}")));
    });
    assert_eq!(out.code, 0, "isola rootfs --packages {packages}: {}", out.show());
    dir
}
