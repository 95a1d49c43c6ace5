//! `isola linux-run --rootfs DIR [--memory MIB] [--timeout SECS] [--env K=V]...
//! -- PROGRAM [ARGS...]`: runs one command in the Linux guest of `isola
//! bench` (Debian's cloud kernel, the same QEMU configuration: microvm,
//! TCG `-cpu max`, one CPU) with the directory DIR as its root, so that a
//! program can be compared between Isola (`isola run --rootfs DIR`) and
//! Linux on the same files. The program's output streams to stdout as it
//! comes (stdout and stderr are one console there); isola exits with its
//! status. DIR becomes an initramfs, so the guest needs RAM for it twice
//! (the archive and the unpacked tree): the default is 1024 MiB.
//!
//! A developer's tool (tests/python_suite.rs records its baseline with it),
//! listed in docs/cli.md but not in `isola --help`.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::bench::linux_guest::{self, Guest};
use crate::error::Error;
use crate::qemu::{self, Echo};

/// `isola linux-run`'s options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinuxRunOpts {
    pub rootfs: String,
    pub memory_mib: u32,
    pub timeout_secs: u64,
    pub env: Vec<(String, String)>,
    pub command: Vec<String>,
}

const DEFAULT_MEMORY_MIB: u32 = 1024;
const DEFAULT_TIMEOUT_SECS: u64 = 600;

pub fn parse(args: &[String]) -> Result<crate::cli::Command, Error> {
    let mut opts = LinuxRunOpts {
        rootfs: String::new(),
        memory_mib: DEFAULT_MEMORY_MIB,
        timeout_secs: DEFAULT_TIMEOUT_SECS,
        env: Vec::new(),
        command: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| Error::usage(format!("linux-run: option '{name}' needs a value")))
        };
        match name {
            "--rootfs" => opts.rootfs = value()?,
            "--memory" => opts.memory_mib = crate::cli::parse_memory(&value()?)?,
            "--timeout" => opts.timeout_secs = crate::cli::parse_timeout(&value()?)?,
            "--env" => {
                let pair = value()?;
                let (k, v) = crate::cli::parse_env(&pair)?;
                opts.env.push((k.to_string(), v.to_string()));
            }
            "--" => {
                opts.command = it.by_ref().cloned().collect();
                break;
            }
            _ if name.starts_with('-') => return Err(Error::usage(format!("linux-run: unknown option '{name}'"))),
            _ => {
                opts.command = std::iter::once(arg.clone()).chain(it.by_ref().cloned()).collect();
                break;
            }
        }
    }
    if opts.rootfs.is_empty() {
        return Err(Error::usage("linux-run needs --rootfs DIR"));
    }
    if opts.command.is_empty() {
        return Err(Error::usage("linux-run needs a PROGRAM to run (a path inside the root)"));
    }
    Ok(crate::cli::Command::LinuxRun(opts))
}

/// The status `/init` reported, if it did.
pub fn reported_status(lines: &[String]) -> Option<i32> {
    lines.iter().find_map(|l| l.find(linux_guest::MARKER).and_then(|at| l[at + linux_guest::MARKER.len()..].trim().parse().ok()))
}

pub fn command(opts: &LinuxRunOpts) -> Result<i32, Error> {
    let dir = Path::new(&opts.rootfs);
    if !dir.is_dir() {
        return Err(Error::Input(format!("--rootfs {}: not a directory", opts.rootfs)));
    }
    let repo = crate::kbuild::workspace_root();
    let guest = Guest::prepare_root(&repo, dir, &opts.command, &opts.env).map_err(Error::failure)?;
    let timeout = Duration::from_secs(opts.timeout_secs);
    let mut boot = guest.boot(timeout, None);
    boot.memory_mib = opts.memory_mib;
    // The guest's console carries no Isola framing: it all arrives as the "log".
    boot.echo = Echo { program: true, notices: None, log: Some(qemu::Sink::Stdout) };
    let started = Instant::now();
    let out = qemu::run(&boot)?;
    eprintln!("isola linux-run: {}, {:.1} s", guest.detail(), started.elapsed().as_secs_f64());
    match reported_status(&out.lines) {
        Some(status) => Ok(status),
        None => Err(match linux_guest::check_guest_run(&out.end, &out.lines, timeout) {
            Err(why) if matches!(out.end, qemu::End::TimedOut) => Error::Timeout(why),
            Err(why) => Error::failure(why),
            Ok(()) => Error::failure("the Linux guest reported no status"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_options_then_the_command() {
        let crate::cli::Command::LinuxRun(o) =
            parse(&args(&["--rootfs", "/r", "--memory=512", "--env", "A=1", "--", "/usr/bin/python3", "-m", "test"])).unwrap()
        else {
            panic!("not linux-run")
        };
        assert_eq!((o.rootfs.as_str(), o.memory_mib, o.timeout_secs), ("/r", 512, DEFAULT_TIMEOUT_SECS));
        assert_eq!(o.env, vec![("A".to_string(), "1".to_string())]);
        assert_eq!(o.command, args(&["/usr/bin/python3", "-m", "test"]));
        assert!(parse(&args(&["--", "/bin/sh"])).is_err(), "no root");
        assert!(parse(&args(&["--rootfs", "/r"])).is_err(), "no command");
        assert!(parse(&args(&["--rootfs", "/r", "--bogus", "x"])).is_err());
    }

    #[test]
    fn status_from_the_marker() {
        let lines = args(&["noise", "isola-bench: exit 3", "later"]);
        assert_eq!(reported_status(&lines), Some(3));
        assert_eq!(reported_status(&args(&["nothing"])), None);
    }

    #[test]
    fn init_mounts_and_runs_with_a_clean_environment() {
        let command = args(&["/usr/bin/python3", "-c", "print('a b')"]);
        let env = [("HOME".to_string(), "/root".to_string())];
        let run = linux_guest::RootRun { command: &command, env: &env, net: false, probe: None };
        let script = linux_guest::root_run_script(&run, None);
        assert!(script.starts_with("#!/.isola-linux-run/busybox sh\n"));
        assert!(script.contains("mount -t proc proc /proc"));
        assert!(script.contains("env -i 'PATH=/bin:/sbin:/usr/bin:/usr/sbin' 'TERM=linux' 'HOME=/root' '/usr/bin/python3' '-c' 'print('\\''a b'\\'')'"));
        assert!(script.contains("isola-bench: exit $?"));
        assert!(!script.contains("insmod") && !script.contains(" &\n"), "{script}");
        // With the network and a probe: modules from RUN_DIR, the command in
        // the background, the probe, then the wait for its status.
        let modules = ["virtio_ring".to_string(), "virtio_net".to_string()];
        let run = linux_guest::RootRun { net: true, probe: Some("echo probing"), ..run };
        let script = linux_guest::root_run_script(&run, Some(&modules));
        let at = |needle: &str| script.find(needle).unwrap_or_else(|| panic!("no {needle} in\n{script}"));
        assert!(at("mount -t tmpfs tmpfs /run") < at("/.isola-linux-run/busybox insmod /.isola-linux-run/modules/virtio_ring.ko || "));
        assert!(at("virtio_ring.ko") < at("virtio_net.ko") && at("virtio_net.ko") < at("ip addr add 10.0.2.15/24 dev eth0"));
        assert!(at("echo 'isola-bench: network up'") < at("'/usr/bin/python3'"));
        assert!(at(" 2>&1 &\nserver=$!\nbb=/.isola-linux-run/busybox\necho probing\nwait $server\necho \"isola-bench: exit $?\"\n") > 0);
    }
}
