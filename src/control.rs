//! `isola ps` and `isola kill`: the host side of a running VM's control
//! channel, as `docker top` and `docker kill` serve containers.
//!
//! `isola run` gives every VM a name (`--name NAME`, else `vm-PID` with
//! isola's pid) and a Unix socket `DIR/NAME.sock`, on which QEMU serves the
//! guest's second serial port; the kernel answers requests there
//! (`process::control`'s line protocol, kernel/src/control.rs). DIR is
//! `$XDG_RUNTIME_DIR/isola`, else `~/.cache/isola/run`. `isola ps` and
//! `isola kill` take `--name`, or, without it, the only VM running. A socket
//! nobody answers on is a VM that is gone (killed without cleaning up): it
//! is removed when found. docs/control.md has the design.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use process::control::{ReplyLine, Request};

use crate::error::Error;

/// How long a request waits for the kernel's answer (it polls the port
/// once per tick; TCG and a loaded host make that slow at times).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(15);

/// Longest VM name.
const MAX_NAME: usize = 64;

/// `isola ps [--name NAME]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PsOpts {
    pub name: Option<String>,
}

/// `isola kill [-SIGNAL | -s SIGNAL] [--name NAME] PID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KillOpts {
    pub name: Option<String>,
    pub signal: u32,
    pub pid: u32,
}

/// Where the sockets of running VMs are.
pub fn socket_dir() -> PathBuf {
    if let Some(run) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| Path::new(d).is_dir()) {
        return PathBuf::from(run).join("isola");
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".cache/isola/run"),
        None => std::env::temp_dir().join("isola-run"),
    }
}

/// A VM name: a letter or digit, then letters, digits, `.`, `_`, `-`.
pub fn check_name(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::usage(format!(
            "--name '{name}': a VM name is 1 to {MAX_NAME} letters, digits, '.', '_' or '-', starting with a letter or digit"
        )))
    }
}

/// Does a VM answer on `socket`? A refused or missing socket is one that
/// is gone; anything else (even a busy one) counts as alive.
fn alive(socket: &Path) -> bool {
    match UnixStream::connect(socket) {
        Ok(_) => true,
        Err(e) => !matches!(e.kind(), std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound),
    }
}

/// The socket for a new VM called `name` (default `vm-PID`): its
/// directory made, a stale socket of the same name removed, a live one an
/// error.
pub fn claim(name: Option<&str>) -> Result<(String, PathBuf), Error> {
    let name = match name {
        Some(name) => name.to_string(),
        None => format!("vm-{}", std::process::id()),
    };
    check_name(&name)?;
    let dir = socket_dir();
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::failure(format!("cannot create {}: {e}", dir.display())))?;
    let socket = dir.join(format!("{name}.sock"));
    // sun_path holds 108 bytes with its NUL.
    if socket.as_os_str().len() > 107 {
        return Err(Error::failure(format!(
            "the control socket path {} is too long for a Unix socket (set XDG_RUNTIME_DIR to a shorter directory)",
            socket.display()
        )));
    }
    if socket.exists() {
        if alive(&socket) {
            return Err(Error::input(format!(
                "a VM named '{name}' is running already (see isola ps --name {name}); choose another --name"
            )));
        }
        let _ = std::fs::remove_file(&socket);
    }
    Ok((name, socket))
}

/// The names of the VMs running now (stale sockets removed on the way).
pub fn running() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(socket_dir()) else { return Vec::new() };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let path = e.path();
            let name = path.file_name()?.to_str()?.strip_suffix(".sock")?.to_string();
            if alive(&path) {
                Some(name)
            } else {
                let _ = std::fs::remove_file(&path);
                None
            }
        })
        .collect();
    names.sort();
    names
}

/// The socket of VM `name`, or of the only VM running.
pub fn find(name: Option<&str>) -> Result<PathBuf, Error> {
    let dir = socket_dir();
    if let Some(name) = name {
        check_name(name)?;
        let socket = dir.join(format!("{name}.sock"));
        if socket.exists() && alive(&socket) {
            return Ok(socket);
        }
        let _ = std::fs::remove_file(&socket);
        return Err(Error::input(format!("no VM named '{name}' is running")));
    }
    match running().as_slice() {
        [] => Err(Error::input("no VM is running (start one with isola run)")),
        [only] => Ok(dir.join(format!("{only}.sock"))),
        many => Err(Error::input(format!(
            "{} VMs are running ({}): choose one with --name",
            many.len(),
            many.join(", ")
        ))),
    }
}

/// Sends `request` and returns the answer's data lines, or the kernel's
/// error (`ERRNO text`) or why there was no answer.
pub fn request(socket: &Path, request: &Request) -> Result<Vec<String>, String> {
    let mut stream = UnixStream::connect(socket).map_err(|e| format!("cannot connect to {}: {e}", socket.display()))?;
    stream.set_read_timeout(Some(ANSWER_TIMEOUT)).map_err(|e| e.to_string())?;
    stream.write_all(request.encode().as_bytes()).map_err(|e| format!("cannot send the request: {e}"))?;
    let mut lines = Vec::new();
    for line in BufReader::new(stream).lines() {
        let line = line.map_err(|e| match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                format!("the VM did not answer within {} s", ANSWER_TIMEOUT.as_secs())
            }
            _ => format!("reading the answer: {e}"),
        })?;
        match ReplyLine::parse(&line) {
            ReplyLine::Ok => return Ok(lines),
            ReplyLine::Error { errno, text } => return Err(format!("{errno} {text}")),
            ReplyLine::Data(data) => lines.push(data.to_string()),
        }
    }
    Err("the VM ended before answering".into())
}

/// `isola ps`: the running VM's processes.
pub fn ps(opts: &PsOpts) -> Result<i32, Error> {
    let socket = find(opts.name.as_deref())?;
    let lines = request(&socket, &Request::Ps).map_err(Error::failure)?;
    let mut out = std::io::stdout().lock();
    for line in lines {
        // The kernel's heading lines carry its "isola: " prefix; a table of
        // our own does not need it.
        let shown = line.strip_prefix("isola: ").unwrap_or(&line);
        // A reader that went away (`isola ps | head`) ends the listing.
        if writeln!(out, "{shown}").is_err() {
            break;
        }
    }
    Ok(0)
}

/// `isola kill`: one signal to one process of the running VM.
pub fn kill(opts: &KillOpts) -> Result<i32, Error> {
    let socket = find(opts.name.as_deref())?;
    match request(&socket, &Request::Kill { signal: opts.signal, pid: opts.pid }) {
        Ok(_) => Ok(0),
        Err(why) if why.starts_with("ESRCH") => Err(Error::input(format!("kill {}: no such process in the VM", opts.pid))),
        Err(why) => Err(Error::failure(format!("kill {}: {why}", opts.pid))),
    }
}

/// A signal as kill(1) takes it: a number (0 to 64) or a name, with or
/// without `SIG`, in any case (`TERM`, `sigkill`, `RTMIN`).
pub fn parse_signal(text: &str) -> Result<u32, Error> {
    if let Ok(n) = text.parse::<u32>() {
        return match n {
            0..=64 => Ok(n),
            _ => Err(Error::usage(format!("signal {n}: expected a number from 0 to 64"))),
        };
    }
    let upper = text.to_ascii_uppercase();
    let wanted = upper.strip_prefix("SIG").unwrap_or(&upper);
    (1..=64u32)
        .find(|&n| syscall::Signal::new(n).is_some_and(|s| s.name().strip_prefix("SIG") == Some(wanted)))
        .ok_or_else(|| Error::usage(format!("unknown signal '{text}' (try TERM, KILL, HUP, QUIT, INT, USR1 or a number)")))
}

fn parse_pid(text: &str) -> Result<u32, Error> {
    text.parse::<u32>()
        .ok()
        .filter(|&p| p >= 1)
        .ok_or_else(|| Error::usage(format!("'{text}' is not a pid (a number from 1)")))
}

/// `isola ps [--name NAME]`.
pub fn parse_ps(args: &[String]) -> Result<crate::cli::Command, Error> {
    let mut opts = PsOpts { name: None };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.split_once('=') {
            Some(("--name", v)) => opts.name = Some(v.to_string()),
            _ if arg == "--name" => {
                opts.name = Some(it.next().ok_or_else(|| Error::usage("option '--name' needs a value"))?.clone())
            }
            _ if arg.starts_with('-') => return Err(Error::usage(format!("ps: unknown option '{arg}'"))),
            _ => return Err(Error::usage(format!("ps takes no arguments ('{arg}')"))),
        }
    }
    if let Some(name) = &opts.name {
        check_name(name)?;
    }
    Ok(crate::cli::Command::Ps(opts))
}

/// `isola kill [-SIGNAL | -s SIGNAL | --signal SIGNAL] [--name NAME] PID`
/// (SIGTERM by default, as kill(1)).
pub fn parse_kill(args: &[String]) -> Result<crate::cli::Command, Error> {
    let mut name = None;
    let mut signal = None;
    let mut pid = None;
    let mut it = args.iter();
    let value = |flag: &str, it: &mut std::slice::Iter<'_, String>| {
        it.next().cloned().ok_or_else(|| Error::usage(format!("option '{flag}' needs a value")))
    };
    while let Some(arg) = it.next() {
        let text = arg.as_str();
        if let Some(v) = text.strip_prefix("--name=") {
            name = Some(v.to_string());
        } else if text == "--name" {
            name = Some(value(text, &mut it)?);
        } else if let Some(v) = text.strip_prefix("--signal=") {
            signal = Some(parse_signal(v)?);
        } else if text == "-s" || text == "--signal" {
            signal = Some(parse_signal(&value(text, &mut it)?)?);
        } else if text == "--" {
            if let Some(p) = it.next() {
                pid = Some(parse_pid(p)?);
            }
            break;
        } else if let Some(sig) = text.strip_prefix('-').filter(|s| !s.is_empty() && !s.starts_with('-')) {
            signal = Some(parse_signal(sig)?);
        } else if text.starts_with('-') {
            return Err(Error::usage(format!("kill: unknown option '{text}'")));
        } else if pid.is_none() {
            pid = Some(parse_pid(text)?);
        } else {
            return Err(Error::usage("kill takes one PID"));
        }
    }
    if it.next().is_some() {
        return Err(Error::usage("kill takes one PID"));
    }
    if let Some(name) = &name {
        check_name(name)?;
    }
    let pid = pid.ok_or_else(|| Error::usage("kill needs a PID (see isola ps)"))?;
    Ok(crate::cli::Command::Kill(KillOpts { name, signal: signal.unwrap_or(15), pid }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Command;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn kill_opts(list: &[&str]) -> Result<KillOpts, Error> {
        match parse_kill(&args(list))? {
            Command::Kill(o) => Ok(o),
            _ => unreachable!(),
        }
    }

    #[test]
    fn signals_are_read_as_kill_reads_them() {
        assert_eq!(parse_signal("TERM").unwrap(), 15);
        assert_eq!(parse_signal("sigkill").unwrap(), 9);
        assert_eq!(parse_signal("HUP").unwrap(), 1);
        assert_eq!(parse_signal("RTMIN").unwrap(), 32);
        assert_eq!(parse_signal("0").unwrap(), 0);
        assert_eq!(parse_signal("64").unwrap(), 64);
        assert!(parse_signal("65").is_err());
        assert!(parse_signal("BOGUS").is_err());
        assert!(parse_signal("").is_err());
    }

    #[test]
    fn kill_takes_its_signal_in_every_spelling_and_one_pid() {
        let o = kill_opts(&["7"]).unwrap();
        assert_eq!((o.signal, o.pid, o.name), (15, 7, None));
        assert_eq!(kill_opts(&["-9", "7"]).unwrap().signal, 9);
        assert_eq!(kill_opts(&["-KILL", "7"]).unwrap().signal, 9);
        assert_eq!(kill_opts(&["-s", "HUP", "7"]).unwrap().signal, 1);
        assert_eq!(kill_opts(&["--signal=QUIT", "7"]).unwrap().signal, 3);
        let o = kill_opts(&["--name", "web", "-USR1", "12"]).unwrap();
        assert_eq!((o.signal, o.pid, o.name.as_deref()), (10, 12, Some("web")));
        assert!(kill_opts(&[]).is_err());
        assert!(kill_opts(&["-9"]).is_err());
        assert!(kill_opts(&["1", "2"]).is_err());
        assert!(kill_opts(&["0"]).is_err());
        assert!(kill_opts(&["x"]).is_err());
        assert!(kill_opts(&["-NOPE", "1"]).is_err());
        assert!(kill_opts(&["--frob", "1"]).is_err());
        assert!(kill_opts(&["--name", "../x", "1"]).is_err());
    }

    #[test]
    fn ps_takes_only_a_name() {
        assert_eq!(parse_ps(&args(&[])).ok(), Some(Command::Ps(PsOpts { name: None })));
        assert!(matches!(parse_ps(&args(&["--name=web"])), Ok(Command::Ps(PsOpts { name: Some(n) })) if n == "web"));
        assert!(parse_ps(&args(&["--name"])).is_err());
        assert!(parse_ps(&args(&["extra"])).is_err());
        assert!(parse_ps(&args(&["-a"])).is_err());
    }

    #[test]
    fn names_are_plain_words() {
        for good in ["web", "vm-123", "a.b_c-d", "9"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "-x", ".x", "a/b", "a b", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
