//! Command-line parsing, by hand (no dependency): `isola run`, `isola ktest`,
//! `isola help` (`isola bench` in [`crate::bench`], `isola load` in
//! [`crate::load`]). Produces a [`Command`]; every mistake is an
//! [`Error::Usage`] with a one-line message (exit code 2).
//!
//! `isola run [OPTIONS] [--] [PROGRAM [ARGS...]]`: options come first; the
//! first argument that is not an option (or the one after `--`) is PROGRAM,
//! and everything after it is PROGRAM's argv, as with `env` or `timeout`
//! (`isola run ./busybox ls --help` passes `--help` to ls).

use crate::error::Error;
use crate::qemu::{Net, PortForward};

/// Default `--timeout` for `isola ktest`, in seconds (TCG is slow).
pub const KTEST_TIMEOUT_SECS: u64 = 300;
/// Largest accepted `--timeout`: one day.
const MAX_TIMEOUT_SECS: u64 = 24 * 60 * 60;
/// Default `--memory` for the guest, in MiB.
pub const DEFAULT_MEMORY_MIB: u32 = 256;
/// Accepted `--memory` range, in MiB: below 32 the kernel has no room to
/// work; above 3072 microvm would put RAM past the 32-bit hole.
pub const MIN_MEMORY_MIB: u32 = 32;
pub const MAX_MEMORY_MIB: u32 = 3072;

/// The usage text printed by `isola help` and after a usage error.
pub const USAGE: &str = "\
usage: isola run   [--accel auto|kvm|tcg] [--isolation auto|strict|mpk|none]
                   [--timeout SECS] [--kernel-args STRING] [--trace] [--ps-on-exit]
                   [--verbose] [--rootfs DIR|TAR] [--memory MIB]
                   [--add HOST_PATH:GUEST_PATH]... [--env K=V]...
                   [-p|--publish HOST_PORT:GUEST_PORT]... [--net]
                   [--volume HOST_DIR:GUEST_PATH]... [--name NAME]
                   [--profile[=FILE]] [--count-instructions=FILE]
                   [--] [PROGRAM [ARGS...]]
       isola ps    [--name NAME]
       isola kill  [-SIGNAL | -s SIGNAL] [--name NAME] PID
       isola ktest [--accel auto|kvm|tcg] [--isolation auto|strict|mpk|none]
                   [--timeout SECS] [--stack-overflow]
       isola bench syscall|fork|pipe|exec|futex|thread [--iterations N] [--runs R] [--timeout SECS]
                   [--count-instructions]
       isola bench http [--requests N] [--concurrency C] [--workers W]
                   [--timeout SECS] [--server prefork|busybox|nginx|apache2]
                   [--count-instructions]
       isola bench redis [--requests N] [--concurrency C] [--timeout SECS]
       isola load URL [--requests N] [--concurrency C] [--timeout SECS]
                   [--path-at K:PATH]...
       isola rootfs --packages P1,P2,... -o DIR [--force] [--usr-merge]
       isola syscalls [--markdown]
       isola help | --help | --version

  run     build the kernel if needed, boot it in QEMU (microvm) with the
          kernel's lines on stdout, and exit with the guest's status;
          with PROGRAM (a static x86-64 Linux ELF on the host), pack it into
          an initramfs as /bin/<name>, run it as the first process with ARGS
          and exit with its status (128+N when killed by signal N); its
          stdout and stderr are isola's, the kernel's notices (a kill, a
          refusal, a panic) go to stderr and its log nowhere (--verbose);
          with --rootfs, PROGRAM is a path inside that root (/bin/busybox);
          it runs until it ends, --timeout passes or isola gets SIGINT
          (Ctrl-C) or SIGTERM, which sends SIGTERM to the guest's pid 1 and
          kills the VM if it has not ended 10 s later (or at a second one)
  ps      list the processes of a running VM (pid, ppid, key, state,
          memory, CPU time, command): the one named --name, or the only one
  kill    send SIGNAL (default TERM; a name or number) to process PID of a
          running VM (--name, or the only one)
  ktest   build and boot the in-kernel test suite; exit 0 iff it passed
          (--stack-overflow: the kernel that overflows its stack on purpose)
  bench   time a userland program (syscall: bench-getpid, fork: bench-fork,
          pipe: bench-pipe) on the host,
          inside Isola (TCG, isolation mpk and none) and inside a Linux
          guest in the same QEMU configuration; print medians of R runs
          (default 3) and ratios; --timeout is per boot (default 300);
          http: requests/s and latency of prefork-httpd (W workers, default
          4) under N requests (default 10000), C at a time (default 50);
          --server nginx|apache2: Debian's, from a root built once;
          redis: redis-benchmark -t set,get (N default 20000, C default
          50) against Debian's redis-server, requests/s of SET and GET
          --count-instructions: every QEMU row also boots N and 2N
          iterations (http: requests, prefork only, one at a time
          unless --concurrency is given, with an Isola none row) under an
          instruction-counting plugin and shows
          instructions per operation and their ratio to the Linux
          guest's (docs/icount.md)
  load    send N HTTP/1.0 GETs to URL (default 1000), C at a time (default
          10), one connection each; print requests/s and latency; exit 0
          iff none failed (--path-at K:PATH: request K asks for PATH and may
          fail: counted as an expected failure)
  rootfs  build a guest root (for run --rootfs) in DIR from Debian packages
          and their Depends/Pre-Depends closure (apt-get download, dpkg -x;
          libc6, base-files, base-passwd always), cached by package set in
          ~/.cache/isola/roots; DIR must be missing, empty or made by an
          earlier rootfs unless --force (an unknown package: exit 2);
          --usr-merge: /bin /sbin /lib /lib64 as links into /usr
  syscalls
          every x86-64 Linux system call and what Isola does with it (full,
          partial and what is missing, ENOSYS), then the counts;
          --markdown: as docs/syscalls.md

  --accel auto|kvm|tcg         auto (default): KVM when a probe boot under it
                               works, TCG otherwise
  --isolation auto|strict|mpk|none
                               auto (default): strict when the CPU has PKU;
                               strict: processes in ring 3 in their own
                               domains, PKU required; mpk: in ring 0 (the
                               fast level, stops bugs, not attackers), PKU
                               required (KVM if it offers PKU, else TCG -cpu
                               max); none: run without PKU
  --timeout SECS               kill the guest after SECS seconds
                               (run: no limit by default; ktest: 300)
  --name NAME                  the VM's name for isola ps and isola kill
                               (default vm-PID, isola's pid)
  --kernel-args STRING         appended to the kernel command line
  --trace                      the kernel prints every syscall, one line each
  --ps-on-exit                 list every process (pid, ppid, key, state,
                               memory, program) when the first one exits
  -v, --verbose                with PROGRAM: the kernel's log too (banner,
                               info lines, exit status), on stderr, and
                               which machine isola chose
  --rootfs DIR|TAR             the guest's / : a directory (debootstrap,
                               unpacked docker export) or a tar archive
                               (plain, gzip or zstd); devices in it are
                               skipped; needs PROGRAM, a path inside it
  --memory MIB                 guest memory in MiB, 32 to 3072 (default
                               256); the image must fit with kernel room
  --add HOST_PATH:GUEST_PATH   copy a host file or directory (recursively)
                               into the initramfs at GUEST_PATH (absolute);
                               repeatable, needs PROGRAM; on top of --rootfs
  --env K=V                    set K in PROGRAM's environment (repeatable;
                               defaults PATH=/bin:/sbin:/usr/bin:/usr/sbin,
                               HOME=/, TERM=linux)
  -p, --publish HOST:GUEST     give the guest a network device (virtio-net,
                               QEMU user networking, guest 10.0.2.15) and
                               forward TCP 127.0.0.1:HOST to guest port
                               GUEST (repeatable)
  --net                        the network device without any forward
  --volume HOST_DIR:GUEST_PATH share the host directory HOST_DIR (existing,
                               writable) with the guest at GUEST_PATH
                               (absolute; virtio-9p): what the guest writes
                               there is on the host, durable after fsync;
                               repeatable
  --profile[=FILE]             sample the guest under TCG (a QEMU plugin:
                               one sample every 10007 instructions); when
                               it ends or Ctrl-C stops it, write a flame
                               graph (SVG) to FILE (default
                               isola-profile.svg), its stacks in folded
                               form beside it (extension .folded), and the
                               top functions to stderr (docs/profile.md)
  --count-instructions=FILE    count the guest's instructions under TCG (a
                               QEMU plugin) and write them to FILE when
                               QEMU exits: the whole run's and those from
                               the first to the last user system call
                               (docs/icount.md)

exit codes: run exits with the guest's status; ktest with 0 (passed) or 1;
  2 usage error or bad input (PROGRAM, --rootfs or an --add path
  unreadable, the image too big for --memory), 124
  guest timed out, 125 isola failed (QEMU missing, kernel build failed, KVM
  unusable, guest kernel panic, no exit status)";

/// Which accelerator to boot under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccelChoice {
    Auto,
    Kvm,
    Tcg,
}

/// Which isolation level to ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsolationChoice {
    Auto,
    Strict,
    Mpk,
    None,
}

/// Options shared by `run` and `ktest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootOpts {
    pub accel: AccelChoice,
    pub isolation: IsolationChoice,
    /// `--timeout`; `None`: no limit (`isola run`'s default: a server runs
    /// until it is stopped).
    pub timeout_secs: Option<u64>,
}

/// `--add HOST_PATH:GUEST_PATH`: a host file or directory to copy into the
/// initramfs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddSpec {
    /// The host path, as given (relative to the current directory).
    pub host: String,
    /// The guest path: absolute, normalised (no `.`/`..`/empty components,
    /// no trailing `/`; `/` itself is allowed).
    pub guest: String,
}

/// `--volume HOST_DIR:GUEST_PATH`: a host directory the guest mounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeSpec {
    /// The host directory, as given.
    pub host: String,
    /// The guest path: absolute, normalised, not `/`, no white space
    /// (it travels on the kernel command line).
    pub guest: String,
}

/// The program `isola run` runs as the first process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramSpec {
    /// PROGRAM: the host path of a static x86-64 Linux ELF.
    pub path: String,
    /// ARGS: its argv after argv[0].
    pub args: Vec<String>,
}

/// `isola run`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOpts {
    pub boot: BootOpts,
    /// Extra kernel command-line words (after `isolation=...`).
    pub kernel_args: String,
    /// `--trace`: the kernel prints every syscall.
    pub trace: bool,
    /// `--ps-on-exit`: the kernel lists the processes when pid 1 exits.
    pub ps_on_exit: bool,
    /// `--verbose`: with a program, the kernel's log on stderr too.
    pub verbose: bool,
    /// `--rootfs PATH`: a directory or tar archive that becomes `/`.
    pub rootfs: Option<String>,
    /// `--memory MiB`: the guest's RAM.
    pub memory_mib: u32,
    /// `--add`, in command-line order.
    pub adds: Vec<AddSpec>,
    /// `--env K=V`, in command-line order (a later K wins).
    pub env: Vec<(String, String)>,
    /// `-p HOST:GUEST`, in command-line order (host ports distinct).
    pub publish: Vec<PortForward>,
    /// `--net`: the network device even without a forward.
    pub net: bool,
    /// `--volume`, in command-line order (guest paths distinct).
    pub volumes: Vec<VolumeSpec>,
    /// PROGRAM and ARGS; `None`: boot the kernel alone.
    pub program: Option<ProgramSpec>,
    /// `--name NAME`: what `isola ps` and `isola kill` call this VM.
    pub name: Option<String>,
    /// `--profile[=FILE]`: the flame graph's path ([`crate::profile`]).
    pub profile: Option<String>,
    /// `--count-instructions=FILE`: where the instruction counts go
    /// ([`crate::icount`]).
    pub count_instructions: Option<String>,
}

impl RunOpts {
    /// The guest's network, when `-p` or `--net` asked for one.
    pub fn network(&self) -> Option<Net> {
        (self.net || !self.publish.is_empty()).then(|| Net {
            forwards: self.publish.clone(),
        })
    }
}

/// `isola ktest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KtestOpts {
    pub boot: BootOpts,
    /// Boot the stack-overflow test kernel instead of the main suite.
    pub stack_overflow: bool,
}

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Run(RunOpts),
    Ktest(KtestOpts),
    Bench(crate::bench::BenchOpts),
    BenchHttp(crate::bench::http::HttpOpts),
    BenchRedis(crate::bench::redis::RedisOpts),
    Load(crate::load::LoadOpts),
    Rootfs(crate::rootfs_build::RootfsOpts),
    Syscalls(crate::syscalls::SyscallsOpts),
    LinuxRun(crate::linux_run::LinuxRunOpts),
    Ps(crate::control::PsOpts),
    Kill(crate::control::KillOpts),
    Help,
    Version,
}

/// Parse the arguments after the program name.
pub fn parse<I, S>(args: I) -> Result<Command, Error>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let args: Vec<String> = args.into_iter().map(Into::into).collect();
    let Some((sub, rest)) = args.split_first() else {
        return Err(Error::usage("missing command"));
    };
    match sub.as_str() {
        "help" | "--help" | "-h" => Ok(Command::Help),
        "version" | "--version" | "-V" => Ok(Command::Version),
        "run" => parse_run(rest),
        "ktest" => parse_ktest(rest),
        "bench" => crate::bench::parse(rest),
        "load" => crate::load::parse(rest),
        "rootfs" => crate::rootfs_build::parse(rest),
        "syscalls" => crate::syscalls::parse(rest),
        "linux-run" => crate::linux_run::parse(rest),
        "ps" => crate::control::parse_ps(rest),
        "kill" => crate::control::parse_kill(rest),
        other if other.starts_with('-') => Err(Error::usage(format!("unknown option '{other}'"))),
        other => Err(Error::usage(format!("unknown command '{other}'"))),
    }
}

/// One `--flag VALUE` / `--flag=VALUE` / `--flag` item of the option list.
struct Flags<'a> {
    args: std::slice::Iter<'a, String>,
}

enum Item<'a> {
    /// `--name` with its inline `=value`, if any.
    Flag(&'a str, Option<&'a str>),
    /// Anything not starting with `-`.
    Positional(&'a str),
}

impl<'a> Flags<'a> {
    fn new(args: &'a [String]) -> Self {
        Flags { args: args.iter() }
    }

    fn next_item(&mut self) -> Option<Item<'a>> {
        let arg = self.args.next()?.as_str();
        if arg.starts_with('-') && arg.len() > 1 {
            Some(match arg.split_once('=') {
                Some((name, value)) if name.starts_with("--") => Item::Flag(name, Some(value)),
                _ => Item::Flag(arg, None),
            })
        } else {
            Some(Item::Positional(arg))
        }
    }

    /// After `--`: the first remaining argument is PROGRAM, the rest its ARGS.
    fn rest(&mut self) -> Option<ProgramSpec> {
        let path = self.args.next()?.clone();
        Some(ProgramSpec {
            path,
            args: self.args.by_ref().cloned().collect(),
        })
    }

    /// The value of `name`: inline or the next argument.
    fn value(&mut self, name: &str, inline: Option<&'a str>) -> Result<&'a str, Error> {
        match inline {
            Some(v) => Ok(v),
            None => self
                .args
                .next()
                .map(String::as_str)
                .ok_or_else(|| Error::usage(format!("option '{name}' needs a value"))),
        }
    }
}

fn no_value(name: &str, inline: Option<&str>) -> Result<(), Error> {
    match inline {
        Some(_) => Err(Error::usage(format!("option '{name}' takes no value"))),
        None => Ok(()),
    }
}

/// Parse a boot option shared by `run` and `ktest`; `Ok(false)` if `name` is
/// not one of them.
fn boot_flag<'a>(
    boot: &mut BootOpts,
    flags: &mut Flags<'a>,
    name: &str,
    inline: Option<&'a str>,
) -> Result<bool, Error> {
    match name {
        "--accel" => boot.accel = parse_accel(flags.value(name, inline)?)?,
        "--isolation" => boot.isolation = parse_isolation(flags.value(name, inline)?)?,
        "--timeout" => boot.timeout_secs = Some(parse_timeout(flags.value(name, inline)?)?),
        _ => return Ok(false),
    }
    Ok(true)
}

fn parse_run(args: &[String]) -> Result<Command, Error> {
    let mut opts = RunOpts {
        boot: BootOpts {
            accel: AccelChoice::Auto,
            isolation: IsolationChoice::Auto,
            timeout_secs: None,
        },
        name: None,
        kernel_args: String::new(),
        trace: false,
        ps_on_exit: false,
        verbose: false,
        rootfs: None,
        memory_mib: DEFAULT_MEMORY_MIB,
        adds: Vec::new(),
        env: Vec::new(),
        publish: Vec::new(),
        net: false,
        volumes: Vec::new(),
        program: None,
        profile: None,
        count_instructions: None,
    };
    let mut flags = Flags::new(args);
    while let Some(item) = flags.next_item() {
        match item {
            Item::Flag("--", None) => {
                if let Some(program) = flags.rest() {
                    opts.program = Some(program);
                }
                break;
            }
            Item::Flag(name, inline) => {
                if boot_flag(&mut opts.boot, &mut flags, name, inline)? {
                    continue;
                }
                match name {
                    "--kernel-args" => {
                        opts.kernel_args = parse_kernel_args(flags.value(name, inline)?)?
                    }
                    "--trace" => {
                        no_value(name, inline)?;
                        opts.trace = true;
                    }
                    "--ps-on-exit" => {
                        no_value(name, inline)?;
                        opts.ps_on_exit = true;
                    }
                    "--name" => {
                        let vm = flags.value(name, inline)?;
                        crate::control::check_name(vm)?;
                        opts.name = Some(vm.to_string());
                    }
                    "--verbose" | "-v" => {
                        no_value(name, inline)?;
                        opts.verbose = true;
                    }
                    "--rootfs" => {
                        let path = flags.value(name, inline)?;
                        if path.is_empty() {
                            return Err(Error::usage("--rootfs needs a non-empty PATH"));
                        }
                        opts.rootfs = Some(path.to_string());
                    }
                    "--memory" => opts.memory_mib = parse_memory(flags.value(name, inline)?)?,
                    "--add" => opts.adds.push(parse_add(flags.value(name, inline)?)?),
                    "--env" => {
                        let (key, value) = parse_env(flags.value(name, inline)?)?;
                        opts.env.push((key.to_string(), value.to_string()));
                    }
                    "-p" | "--publish" => {
                        let forward = parse_publish(name, flags.value(name, inline)?)?;
                        if let Some(earlier) = opts.publish.iter().find(|f| f.host == forward.host)
                        {
                            return Err(Error::usage(format!(
                                "{name} {}:{}: host port {} is already published ({}:{})",
                                forward.host,
                                forward.guest,
                                forward.host,
                                earlier.host,
                                earlier.guest
                            )));
                        }
                        opts.publish.push(forward);
                    }
                    "--net" => {
                        no_value(name, inline)?;
                        opts.net = true;
                    }
                    "--volume" => {
                        let volume = parse_volume(flags.value(name, inline)?)?;
                        if opts.volumes.iter().any(|v| v.guest == volume.guest) {
                            return Err(Error::usage(format!(
                                "--volume {}:{}: GUEST_PATH {} is already a volume",
                                volume.host, volume.guest, volume.guest
                            )));
                        }
                        opts.volumes.push(volume);
                    }
                    // No `--profile FILE`: the next word would be PROGRAM.
                    "--profile" => match inline {
                        None => opts.profile = Some(crate::profile::DEFAULT_FILE.to_string()),
                        Some("") => return Err(Error::usage("--profile= needs a FILE")),
                        Some(file) => opts.profile = Some(file.to_string()),
                    },
                    // `=FILE` only, as --profile: the next word would be PROGRAM.
                    "--count-instructions" => match inline {
                        None | Some("") => return Err(Error::usage("--count-instructions needs =FILE")),
                        Some(file) => opts.count_instructions = Some(file.to_string()),
                    },
                    "--help" | "-h" => return Ok(Command::Help),
                    _ => return Err(Error::usage(format!("unknown option '{name}'"))),
                }
            }
            Item::Positional(program) => {
                opts.program = Some(ProgramSpec {
                    path: program.to_string(),
                    args: flags.args.by_ref().cloned().collect(),
                });
                break;
            }
        }
    }
    if opts.profile.is_some() && opts.boot.accel == AccelChoice::Kvm {
        return Err(Error::usage(
            "--profile needs TCG (QEMU runs its plugins under TCG only): drop --accel kvm",
        ));
    }
    if opts.count_instructions.is_some() && opts.boot.accel == AccelChoice::Kvm {
        return Err(Error::usage(
            "--count-instructions needs TCG (QEMU runs its plugins under TCG only): drop --accel kvm",
        ));
    }
    if opts.count_instructions.is_some() && opts.profile.is_some() {
        return Err(Error::usage("--count-instructions and --profile each need the run's plugin: choose one"));
    }
    if opts.program.is_none() {
        if let Some(root) = &opts.rootfs {
            return Err(Error::usage(format!(
                "--rootfs {root} needs a PROGRAM to run (a path inside the root, e.g. /bin/sh)"
            )));
        }
        if let Some(add) = opts.adds.first() {
            return Err(Error::usage(format!(
                "--add {}:{} needs a PROGRAM to run",
                add.host, add.guest
            )));
        }
        if !opts.env.is_empty() {
            return Err(Error::usage("--env needs a PROGRAM to run"));
        }
    }
    Ok(Command::Run(opts))
}

/// `--add HOST_PATH:GUEST_PATH`, split at the last `:` that is followed by
/// `/` (GUEST_PATH is absolute, so a host path may contain `:`).
fn parse_add(value: &str) -> Result<AddSpec, Error> {
    let bad = |why: &str| Error::usage(format!("--add {value}: {why}"));
    let Some(at) = value.rfind(":/") else {
        return Err(bad(
            "expected HOST_PATH:GUEST_PATH with an absolute GUEST_PATH",
        ));
    };
    let (host, guest) = (&value[..at], &value[at + 1..]);
    if host.is_empty() {
        return Err(bad("HOST_PATH is empty"));
    }
    let guest = normalize_guest_path(guest).map_err(|why| bad(&why))?;
    Ok(AddSpec {
        host: host.to_string(),
        guest,
    })
}

/// `--volume HOST_DIR:GUEST_PATH`, split at the last `:` followed by `/`
/// (as `--add`).
fn parse_volume(value: &str) -> Result<VolumeSpec, Error> {
    let bad = |why: &str| Error::usage(format!("--volume {value}: {why}"));
    let Some(at) = value.rfind(":/") else {
        return Err(bad("expected HOST_DIR:GUEST_PATH with an absolute GUEST_PATH"));
    };
    let (host, guest) = (&value[..at], &value[at + 1..]);
    if host.is_empty() {
        return Err(bad("HOST_DIR is empty"));
    }
    if guest.chars().any(char::is_whitespace) {
        return Err(bad("GUEST_PATH contains white space"));
    }
    let guest = normalize_guest_path(guest).map_err(|why| bad(&why))?;
    if guest == "/" {
        return Err(bad("GUEST_PATH cannot be / (the root is the initramfs)"));
    }
    Ok(VolumeSpec { host: host.to_string(), guest })
}

/// The QEMU side of each `--volume`: the host directory made absolute and
/// a mount tag. A HOST_DIR that is missing, not a directory, or not
/// writable and searchable by isola (which QEMU runs as) is a usage error.
pub fn check_volumes(specs: &[VolumeSpec]) -> Result<Vec<crate::qemu::Volume>, Error> {
    specs
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let bad = |why: String| Error::usage(format!("--volume {}:{}: {why}", spec.host, spec.guest));
            let host = std::fs::canonicalize(&spec.host).map_err(|e| bad(format!("HOST_DIR {}: {e}", spec.host)))?;
            if !host.is_dir() {
                return Err(bad(format!("HOST_DIR {} is not a directory", spec.host)));
            }
            // Writable as QEMU will write it: a file made and removed.
            let probe = host.join(format!(".isola-volume-probe-{}", std::process::id()));
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&probe) {
                Ok(_) => {
                    let _ = std::fs::remove_file(&probe);
                }
                Err(e) => return Err(bad(format!("HOST_DIR {} is not writable ({e})", spec.host))),
            }
            Ok(crate::qemu::Volume { host, tag: format!("vol{i}") })
        })
        .collect()
}

/// An absolute guest path without `.`, `..` or empty components, and
/// without a trailing `/` (except `/` itself).
pub fn normalize_guest_path(path: &str) -> Result<String, String> {
    if !path.starts_with('/') {
        return Err(format!("guest path '{path}' is not absolute"));
    }
    if path.contains('\0') {
        return Err("guest path contains a NUL byte".into());
    }
    let mut out = String::new();
    for part in path.split('/').filter(|p| !p.is_empty() && *p != ".") {
        if part == ".." {
            return Err(format!("guest path '{path}' contains '..'"));
        }
        out.push('/');
        out.push_str(part);
    }
    if out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

/// `-p HOST_PORT:GUEST_PORT`: two decimal ports from 1 to 65535.
fn parse_publish(name: &str, value: &str) -> Result<PortForward, Error> {
    let bad = || {
        Error::usage(format!(
            "{name} expects HOST_PORT:GUEST_PORT with ports from 1 to 65535, not '{value}'"
        ))
    };
    let (host, guest) = value.split_once(':').ok_or_else(bad)?;
    Ok(PortForward {
        host: parse_port(host).ok_or_else(bad)?,
        guest: parse_port(guest).ok_or_else(bad)?,
    })
}

/// A TCP port: 1 to 65535, decimal digits only.
pub fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u16>().ok().filter(|&p| p > 0)
}

/// `--env K=V`: K non-empty, split at the first `=`.
pub(crate) fn parse_env(value: &str) -> Result<(&str, &str), Error> {
    match value.split_once('=') {
        Some((key, val)) if !key.is_empty() => Ok((key, val)),
        _ => Err(Error::usage(format!(
            "--env expects K=V with a non-empty K, not '{value}'"
        ))),
    }
}

fn parse_ktest(args: &[String]) -> Result<Command, Error> {
    let mut opts = KtestOpts {
        boot: BootOpts {
            accel: AccelChoice::Auto,
            isolation: IsolationChoice::Auto,
            timeout_secs: Some(KTEST_TIMEOUT_SECS),
        },
        stack_overflow: false,
    };
    let mut flags = Flags::new(args);
    while let Some(item) = flags.next_item() {
        match item {
            Item::Flag(name, inline) => {
                if boot_flag(&mut opts.boot, &mut flags, name, inline)? {
                    continue;
                }
                match name {
                    "--stack-overflow" => {
                        no_value(name, inline)?;
                        opts.stack_overflow = true;
                    }
                    "--help" | "-h" => return Ok(Command::Help),
                    _ => return Err(Error::usage(format!("unknown option '{name}'"))),
                }
            }
            Item::Positional(arg) => {
                return Err(Error::usage(format!("unexpected argument '{arg}'")));
            }
        }
    }
    Ok(Command::Ktest(opts))
}

fn parse_accel(value: &str) -> Result<AccelChoice, Error> {
    match value {
        "auto" => Ok(AccelChoice::Auto),
        "kvm" => Ok(AccelChoice::Kvm),
        "tcg" => Ok(AccelChoice::Tcg),
        _ => Err(Error::usage(format!(
            "--accel must be auto, kvm or tcg, not '{value}'"
        ))),
    }
}

fn parse_isolation(value: &str) -> Result<IsolationChoice, Error> {
    match value {
        "auto" => Ok(IsolationChoice::Auto),
        "strict" => Ok(IsolationChoice::Strict),
        "mpk" => Ok(IsolationChoice::Mpk),
        "none" => Ok(IsolationChoice::None),
        _ => Err(Error::usage(format!(
            "--isolation must be auto, strict, mpk or none, not '{value}'"
        ))),
    }
}

pub(crate) fn parse_timeout(value: &str) -> Result<u64, Error> {
    let bad = || {
        Error::usage(format!(
            "--timeout must be a whole number of seconds from 1 to {MAX_TIMEOUT_SECS}, not '{value}'"
        ))
    };
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match value.parse::<u64>() {
        Ok(secs) if (1..=MAX_TIMEOUT_SECS).contains(&secs) => Ok(secs),
        _ => Err(bad()),
    }
}

/// `--memory MiB`: a whole number from [`MIN_MEMORY_MIB`] to [`MAX_MEMORY_MIB`].
pub(crate) fn parse_memory(value: &str) -> Result<u32, Error> {
    let bad = || {
        Error::usage(format!(
            "--memory must be a whole number of MiB from {MIN_MEMORY_MIB} to {MAX_MEMORY_MIB}, not '{value}'"
        ))
    };
    if value.is_empty() || value.len() > 6 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match value.parse::<u32>() {
        Ok(mib) if (MIN_MEMORY_MIB..=MAX_MEMORY_MIB).contains(&mib) => Ok(mib),
        _ => Err(bad()),
    }
}

/// The kernel command line is one line of printable text; `isolation=`,
/// `init=` and `trace` are the CLI's to set.
fn parse_kernel_args(value: &str) -> Result<String, Error> {
    if value.chars().any(|c| c.is_control()) {
        return Err(Error::usage(
            "--kernel-args must not contain control characters",
        ));
    }
    for word in value.split_whitespace() {
        if word.starts_with("isolation=") {
            return Err(Error::usage(
                "--kernel-args must not set isolation= (use --isolation)",
            ));
        }
        if word.starts_with("init=") {
            return Err(Error::usage(
                "--kernel-args must not set init= (name the PROGRAM after the options)",
            ));
        }
        if word == "trace" {
            return Err(Error::usage(
                "--kernel-args must not say trace (use --trace)",
            ));
        }
    }
    Ok(value.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<RunOpts, Error> {
        let mut all = vec!["run"];
        all.extend_from_slice(args);
        match parse(all)? {
            Command::Run(opts) => Ok(opts),
            other => panic!("expected run, got {other:?}"),
        }
    }

    fn ktest(args: &[&str]) -> Result<KtestOpts, Error> {
        let mut all = vec!["ktest"];
        all.extend_from_slice(args);
        match parse(all)? {
            Command::Ktest(opts) => Ok(opts),
            other => panic!("expected ktest, got {other:?}"),
        }
    }

    fn usage_msg(r: Result<impl std::fmt::Debug, Error>) -> String {
        match r {
            Err(Error::Usage(msg)) => msg,
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn run_defaults() {
        let o = run(&[]).unwrap();
        assert_eq!(o.boot.accel, AccelChoice::Auto);
        assert_eq!(o.boot.isolation, IsolationChoice::Auto);
        assert_eq!(o.boot.timeout_secs, None, "a server runs until it is stopped");
        assert_eq!(o.name, None);
        assert_eq!(o.kernel_args, "");
        assert!(!o.trace);
        assert!(!o.verbose);
        assert!(o.adds.is_empty() && o.env.is_empty());
        assert_eq!(o.program, None);
    }

    #[test]
    fn verbose_is_a_run_flag() {
        for flag in ["--verbose", "-v"] {
            let o = run(&[flag, "./prog", "-v"]).unwrap();
            assert!(o.verbose);
            assert_eq!(o.program, program("./prog", &["-v"]));
        }
        assert!(!run(&["./prog", "--verbose"]).unwrap().verbose);
        assert!(usage_msg(run(&["--verbose=1"])).contains("takes no value"));
        assert!(usage_msg(ktest(&["--verbose"])).contains("unknown option"));
    }

    fn program(path: &str, args: &[&str]) -> Option<ProgramSpec> {
        Some(ProgramSpec {
            path: path.into(),
            args: args.iter().map(|s| s.to_string()).collect(),
        })
    }

    #[test]
    fn run_program_and_its_args() {
        let o = run(&["./busybox", "echo", "hello"]).unwrap();
        assert_eq!(o.program, program("./busybox", &["echo", "hello"]));
        let o = run(&["--accel", "tcg", "./busybox"]).unwrap();
        assert_eq!(o.program, program("./busybox", &[]));
        assert_eq!(o.boot.accel, AccelChoice::Tcg);
    }

    #[test]
    fn options_after_program_belong_to_it() {
        let o = run(&["./busybox", "ls", "--help"]).unwrap();
        assert_eq!(o.program, program("./busybox", &["ls", "--help"]));
        let o = run(&[
            "--trace", "./prog", "--accel", "kvm", "--trace", "--", "-h", "--add", "x",
        ])
        .unwrap();
        assert_eq!(o.boot.accel, AccelChoice::Auto);
        assert!(o.trace);
        assert!(o.adds.is_empty());
        assert_eq!(
            o.program,
            program(
                "./prog",
                &["--accel", "kvm", "--trace", "--", "-h", "--add", "x"]
            )
        );
    }

    #[test]
    fn double_dash_ends_the_options() {
        let o = run(&["--", "-weird-name", "--help"]).unwrap();
        assert_eq!(o.program, program("-weird-name", &["--help"]));
        assert_eq!(run(&["--"]).unwrap().program, None);
        assert!(usage_msg(run(&["--=x"])).contains("unknown option"));
    }

    #[test]
    fn add_env_and_trace() {
        let o = run(&[
            "--add",
            "./data:/data",
            "--add=/tmp/a:b/file.txt:/etc//x/./y/",
            "--env",
            "FOO=bar",
            "--env=EMPTY=",
            "--env",
            "EQ=a=b",
            "--trace",
            "prog",
        ])
        .unwrap();
        assert_eq!(
            o.adds,
            [
                AddSpec {
                    host: "./data".into(),
                    guest: "/data".into()
                },
                AddSpec {
                    host: "/tmp/a:b/file.txt".into(),
                    guest: "/etc/x/y".into()
                },
            ]
        );
        assert_eq!(
            o.env,
            [
                ("FOO".to_string(), "bar".to_string()),
                ("EMPTY".to_string(), String::new()),
                ("EQ".to_string(), "a=b".to_string()),
            ]
        );
        assert!(o.trace);
        let o = run(&["--add", "rootfs:/", "prog"]).unwrap();
        assert_eq!(o.adds[0].guest, "/");
    }

    #[test]
    fn bad_add_env_trace() {
        for bad in ["data", "data:rel/path", ":/data", "x:/a/../b"] {
            let msg = usage_msg(run(&["--add", bad, "prog"]));
            assert!(msg.starts_with(&format!("--add {bad}: ")), "{msg}");
        }
        assert!(usage_msg(run(&["--add", "x:/y"])).contains("needs a PROGRAM"));
        assert!(usage_msg(run(&["--env", "A=1"])).contains("needs a PROGRAM"));
        for bad in ["FOO", "=x", ""] {
            assert!(
                usage_msg(run(&["--env", bad, "prog"])).contains("--env expects K=V"),
                "{bad}"
            );
        }
        assert!(usage_msg(run(&["--trace=1"])).contains("takes no value"));
        assert!(usage_msg(run(&["--kernel-args", "init=/x"])).contains("init="));
        assert!(usage_msg(run(&["--kernel-args", "a trace"])).contains("--trace"));
        assert!(usage_msg(ktest(&["--trace"])).contains("unknown option"));
        assert!(usage_msg(ktest(&["prog"])).contains("unexpected argument 'prog'"));
    }

    #[test]
    fn publish_and_net() {
        let o = run(&["prog"]).unwrap();
        assert_eq!(o.network(), None);
        let o = run(&[
            "-p",
            "8080:80",
            "--publish",
            "2222:22",
            "--publish=1:65535",
            "-p",
            "9000:80",
            "prog",
            "-p",
            "1:2",
        ])
        .unwrap();
        let fw = |host, guest| PortForward { host, guest };
        assert_eq!(
            o.publish,
            [fw(8080, 80), fw(2222, 22), fw(1, 65535), fw(9000, 80)]
        );
        assert_eq!(o.program, program("prog", &["-p", "1:2"]));
        assert_eq!(o.network().unwrap().forwards, o.publish);
        let o = run(&["--net"]).unwrap();
        assert_eq!(o.network(), Some(Net::default()));
        let o = run(&["--net", "-p", "80:80"]).unwrap();
        assert_eq!(o.network().unwrap().forwards, [fw(80, 80)]);
    }

    #[test]
    fn bad_publish() {
        for bad in [
            "80",
            "0:80",
            "80:0",
            "65536:80",
            "80:65536",
            ":80",
            "80:",
            "a:80",
            "+80:80",
            "80:80:80",
            "-1:80",
            "080000:80",
            "",
            " 80:80",
        ] {
            let msg = usage_msg(run(&["-p", bad, "prog"]));
            assert_eq!(
                msg,
                format!("-p expects HOST_PORT:GUEST_PORT with ports from 1 to 65535, not '{bad}'")
            );
        }
        assert!(usage_msg(run(&["--publish=x"])).starts_with("--publish expects"));
        assert!(usage_msg(run(&["-p"])).contains("needs a value"));
        assert_eq!(
            usage_msg(run(&["-p", "8080:80", "--publish", "8080:81"])),
            "--publish 8080:81: host port 8080 is already published (8080:80)"
        );
        assert!(usage_msg(run(&["--net=1"])).contains("takes no value"));
        // Two host ports to one guest port are fine.
        assert_eq!(run(&["-p", "1:80", "-p", "2:80"]).unwrap().publish.len(), 2);
        assert_eq!(parse_port("00080"), Some(80));
        assert_eq!(parse_port("65535"), Some(65535));
        assert_eq!(parse_port("000000"), None);
    }

    #[test]
    fn guest_paths() {
        assert_eq!(normalize_guest_path("/").unwrap(), "/");
        assert_eq!(normalize_guest_path("//").unwrap(), "/");
        assert_eq!(normalize_guest_path("/a/./b//c/").unwrap(), "/a/b/c");
        assert!(normalize_guest_path("a").is_err());
        assert!(normalize_guest_path("/a/..").is_err());
    }

    #[test]
    fn run_all_options_both_spellings() {
        let o = run(&[
            "--accel",
            "tcg",
            "--isolation=none",
            "--timeout",
            "5",
            "--kernel-args=a b=c",
        ])
        .unwrap();
        assert_eq!(o.boot.accel, AccelChoice::Tcg);
        assert_eq!(o.boot.isolation, IsolationChoice::None);
        assert_eq!(o.boot.timeout_secs, Some(5));
        assert_eq!(o.kernel_args, "a b=c");
        let o = run(&[
            "--accel=kvm",
            "--isolation",
            "mpk",
            "--kernel-args",
            "--looks-like-a-flag",
        ])
        .unwrap();
        assert_eq!(o.boot.accel, AccelChoice::Kvm);
        assert_eq!(o.boot.isolation, IsolationChoice::Mpk);
        assert_eq!(o.kernel_args, "--looks-like-a-flag");
    }

    #[test]
    fn rootfs_and_memory() {
        let o = run(&["--rootfs", "root.tar", "--memory=512", "/bin/busybox", "sh"]).unwrap();
        assert_eq!(o.rootfs.as_deref(), Some("root.tar"));
        assert_eq!(o.memory_mib, 512);
        assert_eq!(o.program, program("/bin/busybox", &["sh"]));
        assert_eq!(run(&[]).unwrap().memory_mib, DEFAULT_MEMORY_MIB);
        assert!(usage_msg(run(&["--rootfs", "r"])).contains("needs a PROGRAM"));
        assert!(usage_msg(run(&["--rootfs=", "p"])).contains("non-empty"));
        for bad in ["", "0", "31", "3073", "-1", "+64", "1.5", "256M", "9999999999"] {
            assert!(
                usage_msg(run(&["--memory", bad])).starts_with("--memory must be"),
                "'{bad}' accepted"
            );
        }
        assert_eq!(run(&["--memory", "32"]).unwrap().memory_mib, 32);
        assert_eq!(run(&["--memory", "3072"]).unwrap().memory_mib, 3072);
    }

    #[test]
    fn later_option_wins() {
        assert_eq!(
            run(&["--accel", "kvm", "--accel", "tcg"])
                .unwrap()
                .boot
                .accel,
            AccelChoice::Tcg
        );
    }

    #[test]
    fn ktest_options() {
        let o = ktest(&[]).unwrap();
        assert_eq!(o.boot.timeout_secs, Some(KTEST_TIMEOUT_SECS));
        assert!(!o.stack_overflow);
        let o = ktest(&["--stack-overflow", "--accel", "tcg", "--isolation", "mpk"]).unwrap();
        assert!(o.stack_overflow);
        assert_eq!(o.boot.isolation, IsolationChoice::Mpk);
        assert!(usage_msg(ktest(&["--stack-overflow=yes"])).contains("takes no value"));
        assert!(
            usage_msg(ktest(&["--kernel-args", "x"])).contains("unknown option '--kernel-args'")
        );
    }

    #[test]
    fn help_and_version() {
        for h in ["help", "--help", "-h"] {
            assert_eq!(parse([h]).unwrap(), Command::Help);
        }
        assert_eq!(parse(["run", "--help"]).unwrap(), Command::Help);
        assert_eq!(parse(["--version"]).unwrap(), Command::Version);
    }

    #[test]
    fn usage_errors() {
        assert_eq!(usage_msg(parse(Vec::<String>::new())), "missing command");
        assert_eq!(usage_msg(parse(["--foo"])), "unknown option '--foo'");
        assert_eq!(usage_msg(parse(["frob"])), "unknown command 'frob'");
        assert_eq!(usage_msg(run(&["--foo"])), "unknown option '--foo'");
        assert_eq!(usage_msg(run(&["--foo=1"])), "unknown option '--foo'");
        assert!(usage_msg(run(&["--accel"])).contains("needs a value"));
        assert!(usage_msg(run(&["--accel", "xen"])).contains("auto, kvm or tcg"));
        assert!(usage_msg(run(&["--isolation", "ring3"])).contains("auto, strict, mpk or none"));
        assert!(usage_msg(run(&["--kernel-args", "isolation=none"])).contains("--isolation"));
        assert!(usage_msg(run(&["--kernel-args", "a\nb"])).contains("control"));
    }

    #[test]
    fn timeouts() {
        for bad in [
            "0",
            "",
            "-1",
            "+3",
            "1.5",
            "abc",
            "99999999999999999999999",
            "86401",
        ] {
            assert!(
                usage_msg(run(&["--timeout", bad])).contains("--timeout"),
                "'{bad}' accepted"
            );
        }
        assert_eq!(run(&["--timeout", "1"]).unwrap().boot.timeout_secs, Some(1));
        assert_eq!(
            run(&["--timeout", "86400"]).unwrap().boot.timeout_secs,
            Some(86400)
        );
        assert_eq!(run(&["--name", "web"]).unwrap().name.as_deref(), Some("web"));
        assert!(usage_msg(run(&["--name", "a/b"])).contains("--name"));
    }

    #[test]
    fn profile() {
        assert_eq!(run(&["prog"]).unwrap().profile, None);
        let o = run(&["--profile", "prog", "--profile"]).unwrap();
        assert_eq!(o.profile.as_deref(), Some("isola-profile.svg"));
        assert_eq!(o.program, program("prog", &["--profile"]));
        let o = run(&["--profile=out/p.svg", "--accel", "tcg", "prog"]).unwrap();
        assert_eq!(o.profile.as_deref(), Some("out/p.svg"));
        assert!(usage_msg(run(&["--profile=", "prog"])).contains("needs a FILE"));
        for args in [&["--profile", "--accel", "kvm"][..], &["--accel=kvm", "--profile=x.svg"]] {
            assert_eq!(
                usage_msg(run(args)),
                "--profile needs TCG (QEMU runs its plugins under TCG only): drop --accel kvm"
            );
        }
        assert!(run(&["--profile", "--accel", "auto"]).is_ok());
    }

    #[test]
    fn count_instructions() {
        assert_eq!(run(&["prog"]).unwrap().count_instructions, None);
        let o = run(&["--count-instructions=/tmp/c.txt", "prog", "--count-instructions=x"]).unwrap();
        assert_eq!(o.count_instructions.as_deref(), Some("/tmp/c.txt"));
        assert_eq!(o.program, program("prog", &["--count-instructions=x"]));
        for args in [&["--count-instructions", "prog"][..], &["--count-instructions=", "prog"]] {
            assert_eq!(usage_msg(run(args)), "--count-instructions needs =FILE");
        }
        assert!(usage_msg(run(&["--accel=kvm", "--count-instructions=c"])).contains("needs TCG"));
        assert!(usage_msg(run(&["--profile", "--count-instructions=c"])).contains("choose one"));
    }

    #[test]
    fn usage_names_every_option() {
        for word in [
            "--accel",
            "--isolation",
            "--timeout",
            "--kernel-args",
            "--stack-overflow",
            "--trace",
            "--add",
            "--rootfs",
            "--memory",
            "--env",
            "--publish",
            "--net",
            "PROGRAM",
            "ktest",
            "bench http",
            "isola load URL",
            "--path-at",
            "--profile[=FILE]",
            "--count-instructions=FILE",
        ] {
            assert!(USAGE.contains(word), "{word}");
        }
    }
}
