//! What the networking and lifetime tests share: an `isola run` left
//! running in the background (its output read as it comes, killed on drop),
//! free host ports, the QEMU children of a process, and a small HTTP/1.0
//! client on std::net.

#![allow(dead_code)] // each test crate uses its own part of this module

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// A port on 127.0.0.1 that was free a moment ago: bind port 0, read the
/// port the kernel chose, drop the listener.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().unwrap().port()
}

/// `isola ARGS` running in the background; stdout and stderr collected as
/// they come. Killed (SIGKILL) and reaped when dropped.
pub struct Background {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<thread::JoinHandle<()>>,
    status: Option<ExitStatus>,
    args: Vec<String>,
}

impl Background {
    pub fn start(args: &[&str]) -> Background {
        let mut child = Command::new(env!("CARGO_BIN_EXE_isola"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start isola");
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut readers = Vec::new();
        type Stream = Box<dyn Read + Send>;
        let streams: [(Stream, &Arc<Mutex<String>>); 2] = [
            (Box::new(child.stdout.take().unwrap()), &stdout),
            (Box::new(child.stderr.take().unwrap()), &stderr),
        ];
        for (mut stream, sink) in streams {
            let sink = Arc::clone(sink);
            readers.push(thread::spawn(move || {
                let mut buf = [0u8; 4096];
                loop {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => sink
                            .lock()
                            .unwrap()
                            .push_str(&String::from_utf8_lossy(&buf[..n])),
                    }
                }
            }));
        }
        Background {
            child,
            stdout,
            stderr,
            readers,
            status: None,
            args: args.iter().map(|s| s.to_string()).collect(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// Its stderr so far: the kernel's notices (and with `--verbose` its
    /// log, the banner included) besides the program's stderr.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Everything seen so far, for assertion messages.
    pub fn show(&self) -> String {
        format!(
            "isola {:?}\nstatus: {:?}\n--- stdout\n{}--- stderr\n{}",
            self.args,
            self.status,
            self.stdout.lock().unwrap(),
            self.stderr.lock().unwrap()
        )
    }

    /// Its exit status, if it has ended.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().unwrap();
        }
        self.status
    }

    /// Wait until stdout contains `needle`: false if isola ended first or
    /// `timeout` passed.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> bool {
        self.wait_in(Background::stdout, needle, timeout)
    }

    /// [`Background::wait_for`] on stderr (the banner of `run --verbose`).
    pub fn wait_for_err(&mut self, needle: &str, timeout: Duration) -> bool {
        self.wait_in(Background::stderr, needle, timeout)
    }

    fn wait_in(&mut self, stream: fn(&Background) -> String, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if stream(self).contains(needle) {
                return true;
            }
            if self.exited().is_some() {
                // Let the readers catch up with its last words.
                thread::sleep(Duration::from_millis(300));
                return stream(self).contains(needle);
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait for isola to end (then for its output to be read).
    pub fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while self.exited().is_none() {
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(50));
        }
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        self.status
    }

    /// SIGKILL isola (QEMU follows through its parent-death signal).
    pub fn kill(&mut self) {
        if self.exited().is_none() {
            let _ = self.child.kill();
        }
        self.status = Some(self.child.wait().unwrap());
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The pids of the QEMU processes whose parent is `pid`.
pub fn qemu_children(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(child) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so split at ')'.
        let Some((head, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let comm = head.split_once(" (").map_or("", |(_, c)| c);
        let ppid = rest
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        if comm.starts_with("qemu-system") && ppid == Some(pid) {
            found.push(child);
        }
    }
    found
}

/// Is process `pid` still running (neither gone nor a zombie)?
pub fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").and_then(|(_, r)| r.chars().next()))
        .is_some_and(|state| state != 'Z' && state != 'X')
}

/// Wait until `pid` is no longer running; false after `timeout`.
pub fn wait_gone(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while running(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(50));
    }
    true
}

/// A response: status code and body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// `GET path HTTP/1.0` on a new connection to 127.0.0.1:`port`; the whole
/// response, its body checked against its Content-Length when it has one.
pub fn http_get(port: u16, path: &str, timeout: Duration) -> Result<Response, String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(timeout)).unwrap();
    s.set_write_timeout(Some(timeout)).unwrap();
    let request =
        format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    s.write_all(request.as_bytes())
        .map_err(|e| format!("send: {e}"))?;
    let mut bytes = Vec::new();
    s.read_to_end(&mut bytes)
        .map_err(|e| format!("receive (after {} bytes): {e}", bytes.len()))?;
    let at = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no end of headers in {} bytes", bytes.len()))?;
    let head = String::from_utf8_lossy(&bytes[..at]).into_owned();
    let body = bytes[at + 4..].to_vec();
    let status_line = head.lines().next().unwrap_or("");
    let status = status_line
        .strip_prefix("HTTP/1.")
        .and_then(|r| r.get(2..5))
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| format!("bad status line '{status_line}'"))?;
    for line in head.lines().skip(1) {
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                let n: usize = value
                    .trim()
                    .parse()
                    .map_err(|_| format!("bad header '{line}'"))?;
                if n != body.len() {
                    return Err(format!(
                        "body of {} bytes, Content-Length says {n}",
                        body.len()
                    ));
                }
            }
        }
    }
    Ok(Response { status, body })
}

/// GET `path` until it is answered with 200, for at most `timeout`; fails
/// with the last error, or at once when isola ends.
pub fn wait_answer(run: &mut Background, port: u16, path: &str, timeout: Duration) -> Response {
    let deadline = Instant::now() + timeout;
    loop {
        let last = match http_get(port, path, Duration::from_secs(5)) {
            Ok(r) if r.status == 200 => return r,
            Ok(r) => format!("status {}", r.status),
            Err(e) => e,
        };
        if run.exited().is_some() {
            run.wait(Duration::from_secs(5));
            panic!(
                "isola run ended before 127.0.0.1:{port}{path} answered (last try: {last})\n{}",
                run.show()
            );
        }
        if Instant::now() >= deadline {
            panic!(
                "no answer from 127.0.0.1:{port}{path} within {timeout:?} (last try: {last}); \
                 does the kernel have networking yet?\n{}",
                run.show()
            );
        }
        thread::sleep(Duration::from_millis(250));
    }
}

/// A program of `target/userland`, built by `scripts/build-userland` if
/// missing.
pub fn userland(root: &Path, name: &str) -> PathBuf {
    static BUILT: OnceLock<bool> = OnceLock::new();
    let path = root.join("target/userland").join(name);
    let built = *BUILT.get_or_init(|| {
        path.exists()
            || Command::new(root.join("scripts/build-userland"))
                .current_dir(root)
                .stdin(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
    });
    assert!(
        built && path.exists(),
        "{} is missing and scripts/build-userland did not build it (is userland/c/{name}.c there?)",
        path.display()
    );
    path
}

/// The rows of an `isola ps` listing: (pid, ppid, key, state, command).
pub fn ps_rows(listing: &str) -> Vec<(u32, u32, u32, String, String)> {
    listing
        .lines()
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let pid = cols.first()?.parse().ok()?;
            let ppid = cols.get(1)?.parse().ok()?;
            let key = cols.get(2)?.parse().ok()?;
            let command = cols.get(10..)?.join(" ");
            Some((pid, ppid, key, cols.get(3)?.to_string(), command))
        })
        .collect()
}
