//! The Linux-guest row of `isola bench`: Debian's cloud kernel booted in
//! the same QEMU configuration as Isola (the argument list of
//! [`crate::qemu::Boot`]: microvm, TCG `-cpu max`, 256 MiB, one CPU,
//! `-nodefaults -no-reboot`), with an initramfs whose `/init` runs the
//! benchmark program once, prints a marker line and powers off.
//!
//! - **Kernel**: `apt-cache depends linux-image-cloud-amd64` names the
//!   versioned package (the metapackage itself holds no kernel);
//!   `apt-get download` fetches it into `target/third-party/cache/`, `dpkg
//!   -x` unpacks it and `boot/vmlinuz-*` is kept in
//!   `target/third-party/linux-cloud/`. Once there, it is reused without
//!   asking apt again.
//! - **Initramfs**: built in memory with [`cpio::Writer`]: `/bin/busybox`
//!   (Debian's busybox-static, `target/third-party/busybox`, fetched by
//!   `scripts/fetch-busybox` when missing), the program at `/bin/<name>`, and
//!   `/init`, a busybox shell script.
//! - **Command line**: `console=ttyS0 tsc_early_khz=<kHz> quiet panic=-1
//!   rdinit=/init`. Under TCG a stock kernel's TSC calibration sometimes
//!   hangs (QEMU.md), so the TSC frequency is given: TCG's guest TSC runs at
//!   the host's TSC rate, and the host's rate is read from `cpu MHz` in
//!   `/proc/cpuinfo`, which on these machines (flags `constant_tsc` and
//!   `tsc_known_freq`) is the TSC frequency the host kernel itself uses
//!   (it is what `tsc: Detected ... MHz processor` logs, without needing
//!   dmesg rights).
//! - **Network** (`isola bench http`): the guest gets the same `-netdev user
//!   ... -device virtio-net-device` as `isola run -p`. Debian's cloud kernel
//!   has virtio, virtio_ring, virtio_mmio, failover, net_failover and
//!   virtio_net as modules ([`net_modules`]: taken from the same package,
//!   ordered by the `depends=` of their `.modinfo`, since the package ships
//!   no `modules.dep`); `/init` loads them with busybox `insmod` and sets up
//!   `eth0` as 10.0.2.15/24 with the gateway 10.0.2.2. The kernel finds the
//!   virtio-mmio device through ACPI: microvm (ACPI on by default) appends
//!   no `virtio_mmio.device=` to the command line (it does only with
//!   `acpi=off`), and this kernel is built without
//!   `CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES` anyway.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::qemu::{self, Accel, Boot, End, Machine, Net};

/// The row's description when the guest could not even be prepared.
pub const DETAIL: &str = "Debian cloud kernel, TCG -cpu max";
/// The metapackage that names the current cloud kernel.
const META_PACKAGE: &str = "linux-image-cloud-amd64";
/// Printed by `/init` after the program, with its exit status.
pub const MARKER: &str = "isola-bench: exit ";

/// What the guest runs: `/bin/<program name> ARGS`, with extra files in the
/// initramfs, and with the network set up first when `net`.
#[derive(Debug, Clone, Copy)]
pub struct Spec<'a> {
    pub program: &'a Path,
    pub args: &'a [String],
    /// (absolute guest path, content), files of mode 0644.
    pub files: &'a [(String, Vec<u8>)],
    /// The same, of mode 0755 (programs and shared libraries).
    pub executables: &'a [(String, Vec<u8>)],
    /// Load the virtio-net modules and configure eth0 before the program.
    pub net: bool,
}

/// A prepared guest: kernel, initramfs on disk, command line.
#[derive(Debug)]
pub struct Guest {
    kernel: PathBuf,
    /// The kernel's version (`6.1.0-56-cloud-amd64`).
    version: String,
    initrd: PathBuf,
    cmdline: String,
}

impl Drop for Guest {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.initrd);
    }
}

impl Guest {
    /// Fetch what is missing and write the initramfs for `spec`.
    pub fn prepare_spec(root: &Path, spec: &Spec<'_>) -> Result<Guest, String> {
        let program = spec.program;
        qemu::require_qemu().map_err(|e| e.to_string())?;
        let (kernel, version) = kernel(root)?;
        let busybox = busybox(root)?;
        let name = program
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| format!("{}: no usable file name", program.display()))?;
        let read = |p: &Path| fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()));
        let modules = if spec.net {
            net_modules(root, &version)?
        } else {
            Vec::new()
        };
        let contents = Contents {
            busybox: &read(&busybox)?,
            name,
            program: &read(program)?,
            args: spec.args,
            files: spec.files,
            executables: spec.executables,
            modules: spec.net.then_some(&modules[..]),
        };
        let archive = initramfs(&contents);
        let dir = root.join("target/isola/bench");
        fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        // One file per prepared guest: `--count-instructions` prepares two
        // at once (the runs of N and 2N iterations).
        static PREPARED: AtomicU32 = AtomicU32::new(0);
        let seq = PREPARED.fetch_add(1, Ordering::Relaxed);
        let initrd = dir.join(format!("linux-guest-{}-{seq}.cpio", std::process::id()));
        fs::write(&initrd, archive)
            .map_err(|e| format!("cannot write {}: {e}", initrd.display()))?;
        let khz = host_tsc_khz()?;
        Ok(Guest {
            kernel,
            version,
            initrd,
            cmdline: cmdline(khz),
        })
    }

    /// For the table: `Linux 6.1.0-56-cloud-amd64, TCG -cpu max`.
    pub fn detail(&self) -> String {
        format!("Linux {}, TCG -cpu max", self.version)
    }

    /// The QEMU configuration: Isola's ([`Boot::args`]) with this kernel,
    /// initramfs and command line.
    pub fn boot(&self, timeout: Duration, net: Option<Net>) -> Boot {
        Boot {
            kernel: self.kernel.clone(),
            initrd: Some(self.initrd.clone()),
            cmdline: self.cmdline.clone(),
            machine: Machine {
                accel: Accel::Tcg,
                pku: true,
            },
            timeout: Some(timeout),
            memory_mib: crate::cli::DEFAULT_MEMORY_MIB,
            echo: qemu::Echo::OFF,
            net,
            volumes: Vec::new(),
            control: None,
            plugin: None,
            seed: None,
        }
    }

    /// Boot once, with QEMU's `-plugin` argument `plugin` if any (and then
    /// the seed that makes counts repeat, [`crate::icount::SEED`]); the
    /// console lines when `/init` reported exit status 0.
    pub fn run_once(&self, timeout: Duration, plugin: Option<String>) -> Result<Vec<String>, String> {
        let seed = plugin.is_some().then_some(crate::icount::SEED);
        let boot = Boot { plugin, seed, ..self.boot(timeout, None) };
        let out = qemu::run(&boot).map_err(|e| e.to_string())?;
        check_guest_run(&out.end, &out.lines, timeout)?;
        Ok(out.lines)
    }
}

impl Guest {
    /// `isola linux-run`: the whole directory `dir` as the guest's root
    /// (an initramfs of it), with busybox and `/init` under [`RUN_DIR`], to
    /// run `command` with `env` (as `isola run --rootfs DIR` would: the same
    /// default environment, `/` as the working directory).
    pub fn prepare_root(repo: &Path, dir: &Path, command: &[String], env: &[(String, String)]) -> Result<Guest, String> {
        Guest::prepare_root_run(repo, dir, &RootRun { command, env, net: false, probe: None })
    }

    /// [`Guest::prepare_root`] with what `run` adds: the network (the
    /// virtio-net modules under [`RUN_DIR`]`/modules`, eth0 configured as
    /// for the static-program guest) and a probe beside the command.
    pub fn prepare_root_run(repo: &Path, dir: &Path, run: &RootRun<'_>) -> Result<Guest, String> {
        qemu::require_qemu().map_err(|e| e.to_string())?;
        let (kernel, version) = kernel(repo)?;
        let busybox = fs::read(busybox(repo)?).map_err(|e| format!("cannot read busybox: {e}"))?;
        let modules = if run.net { net_modules(repo, &version)? } else { Vec::new() };
        let names: Vec<String> = modules.iter().map(|(n, _)| n.clone()).collect();
        let init = root_run_script(run, run.net.then_some(&names[..]));
        let archive = root_initramfs(dir, &busybox, &init, &modules)?;
        let out = repo.join("target/isola/bench");
        fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
        let initrd = out.join(format!("linux-root-{}.cpio", std::process::id()));
        fs::write(&initrd, archive).map_err(|e| format!("cannot write {}: {e}", initrd.display()))?;
        let cmdline = cmdline(host_tsc_khz()?).replace("rdinit=/init", &format!("rdinit=/{RUN_DIR}/init"));
        Ok(Guest { kernel, version, initrd, cmdline })
    }
}

/// What a root guest runs ([`Guest::prepare_root_run`]).
#[derive(Debug, Clone, Copy)]
pub struct RootRun<'a> {
    pub command: &'a [String],
    pub env: &'a [(String, String)],
    /// Load the virtio-net modules and configure eth0 first.
    pub net: bool,
    /// A shell fragment run while the command runs in the background (its
    /// pid in `$server`), busybox as `$bb`; then `/init` waits for the
    /// command. Without it the command runs in the foreground.
    pub probe: Option<&'a str>,
}

/// Where `isola linux-run` puts busybox and its `/init` in the guest's
/// root, out of the way of the root's own files.
pub const RUN_DIR: &str = ".isola-linux-run";

/// What `isola run` gives a program when `--env` does not say otherwise.
const DEFAULT_ENV: [(&str, &str); 3] = [("PATH", "/bin:/sbin:/usr/bin:/usr/sbin"), ("HOME", "/"), ("TERM", "linux")];

/// `/init` of a root guest (`isola linux-run`, the Debian servers of
/// `isola bench http`): the pseudo file systems a Debian root expects
/// (/proc, /sys, /dev with pts and shm, /tmp and /run in memory), the
/// network when `net` (module names in load order, the files in
/// [`RUN_DIR`]`/modules`), then `run.command` from `/` with only
/// `run.env` (over [`DEFAULT_ENV`]) in its environment (and `run.probe`
/// beside it), its status reported as the benchmarks' is, power off.
pub fn root_run_script(run: &RootRun<'_>, net: Option<&[String]>) -> String {
    let bb = format!("/{RUN_DIR}/busybox");
    let mut vars: Vec<(String, String)> = DEFAULT_ENV.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    for (k, v) in run.env {
        vars.retain(|(old, _)| old != k);
        vars.push((k.clone(), v.clone()));
    }
    let env_words: Vec<String> = vars.iter().map(|(k, v)| shell_quote(&format!("{k}={v}"))).collect();
    let command_words: Vec<String> = run.command.iter().map(|a| shell_quote(a)).collect();
    let mut script = format!("#!{bb} sh\n# Written by `isola linux-run`: run one command in this root, report, power off.\n");
    for (what, fs_type, dir) in [
        ("proc", "proc", "/proc"),
        ("sysfs", "sysfs", "/sys"),
        ("devtmpfs", "devtmpfs", "/dev"),
        ("devpts", "devpts", "/dev/pts"),
        ("tmpfs", "tmpfs", "/dev/shm"),
        ("tmpfs", "tmpfs", "/run"),
    ] {
        script.push_str(&format!("{bb} mkdir -p {dir}; {bb} mount -t {fs_type} {what} {dir}\n"));
    }
    // The loopback interface, which Isola always has.
    script.push_str(&format!("{bb} ip link set lo up\n{bb} mkdir -p /tmp; {bb} chmod 1777 /tmp\ncd /\n"));
    if let Some(modules) = net {
        script.push_str(&network_setup(&bb, &format!("/{RUN_DIR}/modules"), modules));
    }
    script.push_str("echo 'isola-bench: start'\n");
    let command = format!(
        "{bb} env -i {} {} </dev/console >/dev/console 2>&1",
        env_words.join(" "),
        command_words.join(" ")
    );
    match run.probe {
        None => script.push_str(&format!("{command}\n")),
        Some(probe) => {
            script.push_str(&format!("{command} &\nserver=$!\nbb={bb}\n{probe}\n"));
            script.push_str("wait $server\n");
        }
    }
    script.push_str(&format!("echo \"{MARKER}$?\"\n{bb} poweroff -f\n"));
    script
}

/// The initramfs of `isola linux-run`: every directory, file and symbolic
/// link under `dir` with its mode and owner (a hard link becomes a copy),
/// plus busybox and `init` under [`RUN_DIR`], and `modules` (name, `.ko`)
/// in [`RUN_DIR`]`/modules`.
pub fn root_initramfs(dir: &Path, busybox: &[u8], init: &str, modules: &[(String, Vec<u8>)]) -> Result<Vec<u8>, String> {
    use std::os::unix::fs::MetadataExt;
    let mut w = cpio::Writer::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(rel) = pending.pop() {
        let full = dir.join(&rel);
        let read = fs::read_dir(&full).map_err(|e| format!("cannot read {}: {e}", full.display()))?;
        let mut entries: Vec<_> = read.filter_map(Result::ok).map(|e| e.file_name()).collect();
        entries.sort();
        for name in entries {
            let rel = rel.join(&name);
            let path = dir.join(&rel);
            let meta = fs::symlink_metadata(&path).map_err(|e| format!("cannot stat {}: {e}", path.display()))?;
            let owner = cpio::Owner { uid: meta.uid(), gid: meta.gid(), mtime: meta.mtime().clamp(0, i64::from(u32::MAX)) as u32 };
            let Some(name) = rel.to_str() else { return Err(format!("{}: not UTF-8", path.display())) };
            let mode = meta.mode() & 0o7777;
            if meta.file_type().is_symlink() {
                let target = fs::read_link(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                w.add_symlink_as(name, &target.to_string_lossy(), owner);
            } else if meta.is_dir() {
                w.add_dir_as(name, mode, owner);
                pending.push(rel);
            } else if meta.is_file() {
                let data = fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                w.add_file_as(name, mode, &data, owner);
            }
        }
    }
    w.add_dir(RUN_DIR, 0o755);
    w.add_file(&format!("{RUN_DIR}/busybox"), 0o755, busybox);
    w.add_file(&format!("{RUN_DIR}/init"), 0o755, init.as_bytes());
    if !modules.is_empty() {
        w.add_dir(&format!("{RUN_DIR}/modules"), 0o755);
    }
    for (name, data) in modules {
        w.add_file(&format!("{RUN_DIR}/modules/{name}.ko"), 0o644, data);
    }
    Ok(w.finish())
}

/// Did the guest run the program to a zero exit status? The marker line
/// decides; how QEMU ended only explains a missing marker.
pub fn check_guest_run(end: &End, lines: &[String], timeout: Duration) -> Result<(), String> {
    let status = lines
        .iter()
        .find_map(|l| l.find(MARKER).map(|at| l[at + MARKER.len()..].trim()));
    match status {
        Some("0") => Ok(()),
        Some(code) => Err(format!(
            "the program exited with status {code} in the Linux guest"
        )),
        None => {
            let last = lines
                .iter()
                .rev()
                .map(|l| l.trim())
                .find(|l| !l.is_empty())
                .unwrap_or("");
            let how = match end {
                End::TimedOut => format!("timed out after {} s", timeout.as_secs()),
                End::KvmFailure(line) => format!("QEMU failed: {line}"),
                End::Stopped(signal) => format!("stopped by {}", crate::qemu::signal_name(*signal)),
                End::Exited(code) => format!(
                    "QEMU exited ({})",
                    code.map_or("signal".to_string(), |c| format!("code {c}"))
                ),
            };
            Err(format!(
                "the Linux guest did not report the program's exit ({how}; last console line: '{last}')"
            ))
        }
    }
}

/// The guest kernel's command line.
pub fn cmdline(tsc_khz: u64) -> String {
    format!("console=ttyS0 tsc_early_khz={tsc_khz} quiet panic=-1 rdinit=/init")
}

/// Single-quote `s` for the shell.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Printed by `/init` once eth0 is configured.
pub const NETWORK_UP: &str = "isola-bench: network up";
/// Printed by `/init` when the network could not be set up (then it powers
/// off), followed by what failed.
pub const NETWORK_FAILED: &str = "isola-bench: network setup failed: ";

/// `/init`: run `/bin/NAME ARGS` once, report its status, power off. With
/// `net` (module names in load order), first load the modules from
/// `/lib/modules/` and configure eth0 as QEMU's user network expects.
pub fn init_script(name: &str, args: &[String], net: Option<&[String]>) -> String {
    let mut command = shell_quote(&format!("/bin/{name}"));
    for a in args {
        command.push(' ');
        command.push_str(&shell_quote(a));
    }
    let mut network = String::new();
    if let Some(modules) = net {
        network.push_str("/bin/busybox mount -t proc proc /proc\n");
        network.push_str("/bin/busybox mount -t sysfs sysfs /sys\n");
        network.push_str(&network_setup("/bin/busybox", "/lib/modules", modules));
    }
    format!(
        "#!/bin/busybox sh\n\
         # Written by `isola bench`: run the benchmark once, report, power off.\n\
         {network}\
         echo 'isola-bench: start'\n\
         {command}\n\
         echo \"{MARKER}$?\"\n\
         /bin/busybox poweroff -f\n"
    )
}

/// Load `modules` (in that order) from `module_dir` with busybox `insmod`,
/// wait for eth0, configure lo and eth0 as QEMU's user network expects,
/// say [`NETWORK_UP`]; at the first failure say [`NETWORK_FAILED`] and
/// what, and power off. `bb` is busybox's path.
fn network_setup(bb: &str, module_dir: &str, modules: &[String]) -> String {
    let fail = |what: &str| {
        format!(
            "{{ echo {}; {bb} poweroff -f; }}",
            shell_quote(&format!("{NETWORK_FAILED}{what}"))
        )
    };
    let mut network = String::new();
    for m in modules {
        network.push_str(&format!(
            "{bb} insmod {module_dir}/{m}.ko || {}\n",
            fail(&format!("insmod {m}"))
        ));
    }
    network.push_str(&format!(
        "i=0; while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do \
         {bb} sleep 0.1; i=$((i + 1)); done\n"
    ));
    network.push_str(&format!(
        "[ -e /sys/class/net/eth0 ] || {}\n",
        fail("no eth0 after loading the modules")
    ));
    for (step, what) in [
        ("ip link set lo up", "ip link set lo up"),
        ("ip link set eth0 up", "ip link set eth0 up"),
        ("ip addr add 10.0.2.15/24 dev eth0", "ip addr add"),
        ("ip route add default via 10.0.2.2", "ip route add"),
    ] {
        network.push_str(&format!("{bb} {step} || {}\n", fail(what)));
    }
    network.push_str(&format!("echo '{NETWORK_UP}'\n"));
    network
}

/// What goes into the initramfs.
pub struct Contents<'a> {
    pub busybox: &'a [u8],
    /// The program's file name (`/bin/<name>`).
    pub name: &'a str,
    pub program: &'a [u8],
    pub args: &'a [String],
    /// Extra files: (absolute guest path, content), mode 0644.
    pub files: &'a [(String, Vec<u8>)],
    /// The same, mode 0755.
    pub executables: &'a [(String, Vec<u8>)],
    /// With the network: (module name, `.ko` content) in load order.
    pub modules: Option<&'a [(String, Vec<u8>)]>,
}

/// The initramfs: busybox, the program, the extra files, the network
/// modules, `/init`.
pub fn initramfs(c: &Contents<'_>) -> Vec<u8> {
    let mut w = cpio::Writer::new();
    for dir in ["bin", "dev", "proc", "sys", "tmp"] {
        w.add_dir(dir, 0o755);
    }
    w.add_file("bin/busybox", 0o755, c.busybox);
    w.add_symlink("bin/sh", "busybox");
    w.add_file(&format!("bin/{}", c.name), 0o755, c.program);
    // Directories made so far (the fixed ones above included).
    let mut made: Vec<String> = ["bin", "dev", "proc", "sys", "tmp"]
        .map(String::from)
        .to_vec();
    let files = c.files.iter().map(|f| (f, 0o644)).chain(c.executables.iter().map(|f| (f, 0o755)));
    for ((path, data), mode) in files {
        let path = path.trim_start_matches('/');
        add_parents(&mut w, &mut made, path);
        w.add_file(path, mode, data);
    }
    let names: Vec<String> = c
        .modules
        .unwrap_or_default()
        .iter()
        .map(|(n, _)| n.clone())
        .collect();
    for (name, data) in c.modules.unwrap_or_default() {
        let path = format!("lib/modules/{name}.ko");
        add_parents(&mut w, &mut made, &path);
        w.add_file(&path, 0o644, data);
    }
    let init = init_script(c.name, c.args, c.modules.map(|_| &names[..]));
    w.add_file("init", 0o755, init.as_bytes());
    w.finish()
}

/// Add every missing parent directory of `path` (relative), mode 0755.
fn add_parents(w: &mut cpio::Writer, made: &mut Vec<String>, path: &str) {
    let mut end = 0;
    while let Some(slash) = path[end..].find('/') {
        end += slash;
        let dir = &path[..end];
        if !made.iter().any(|d| d == dir) {
            w.add_dir(dir, 0o755);
            made.push(dir.to_string());
        }
        end += 1;
    }
}

/// The TSC frequency in kHz from `/proc/cpuinfo`'s first `cpu MHz` line.
pub fn parse_cpu_mhz(cpuinfo: &str) -> Option<u64> {
    let line = cpuinfo.lines().find(|l| l.starts_with("cpu MHz"))?;
    let mhz = line.split_once(':')?.1.trim();
    let (int, frac) = mhz.split_once('.').unwrap_or((mhz, ""));
    let int: u64 = int.parse().ok()?;
    // kHz = MHz * 1000, from the decimal digits (no float rounding).
    let frac3: String = frac.chars().chain("000".chars()).take(3).collect();
    let frac3: u64 = frac3.parse().ok()?;
    Some(int * 1000 + frac3).filter(|&k| k > 0)
}

fn host_tsc_khz() -> Result<u64, String> {
    let info = fs::read_to_string("/proc/cpuinfo")
        .map_err(|e| format!("cannot read /proc/cpuinfo: {e}"))?;
    parse_cpu_mhz(&info).ok_or_else(|| "no 'cpu MHz' line in /proc/cpuinfo".to_string())
}

/// The versioned kernel package that `apt-cache depends` says the
/// metapackage depends on.
pub fn parse_depends(output: &str) -> Option<String> {
    output.lines().find_map(|l| {
        let pkg = l.trim().strip_prefix("Depends:")?.trim();
        let pkg = pkg.trim_start_matches('<').trim_end_matches('>');
        (pkg.starts_with("linux-image-") && pkg.ends_with("-cloud-amd64")).then(|| pkg.to_string())
    })
}

fn command_output(cmd: &mut Process) -> Result<String, String> {
    let what = format!("{cmd:?}").replace('"', "");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        return Err(format!("{what} failed ({}): {last}", out.status));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Run `f`; if it fails, `apt-get update` once and run it again.
fn with_apt_update<T>(f: impl Fn() -> Result<T, String>) -> Result<T, String> {
    f().or_else(|first| {
        eprintln!("bench: {first}; running apt-get update and trying again");
        command_output(Process::new("apt-get").args(["update", "-qq"]))
            .map_err(|e| format!("{first} (and {e})"))?;
        f()
    })
}

/// `vmlinuz-<version>` in `dir`, if there is one.
fn cached_kernel(dir: &Path) -> Option<(PathBuf, String)> {
    let mut found: Vec<(PathBuf, String)> = fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let version = name.strip_prefix("vmlinuz-")?.to_string();
            Some((e.path(), version))
        })
        .collect();
    found.sort();
    found.pop()
}

/// The cloud kernel: cached, or downloaded and unpacked now.
fn kernel(root: &Path) -> Result<(PathBuf, String), String> {
    let dir = root.join("target/third-party/linux-cloud");
    if let Some(found) = cached_kernel(&dir) {
        return Ok(found);
    }
    let package = with_apt_update(|| {
        let out = command_output(Process::new("apt-cache").args(["depends", META_PACKAGE]))?;
        parse_depends(&out).ok_or_else(|| {
            format!("apt-cache depends {META_PACKAGE} names no linux-image-*-cloud-amd64")
        })
    })?;
    let cache = root.join("target/third-party/cache");
    eprintln!("bench: downloading {package} (the Linux guest's kernel)");
    let deb = download_deb(&package, &cache)?;
    let unpack = dir.join(format!("unpack-{}", std::process::id()));
    let _ = fs::remove_dir_all(&unpack);
    fs::create_dir_all(&unpack).map_err(|e| format!("cannot create {}: {e}", unpack.display()))?;
    command_output(Process::new("dpkg").arg("-x").arg(&deb).arg(&unpack))?;
    let (image, version) = cached_kernel(&unpack.join("boot"))
        .ok_or_else(|| format!("{} holds no boot/vmlinuz-*", deb.display()))?;
    let kept = dir.join(format!("vmlinuz-{version}"));
    fs::rename(&image, &kept)
        .map_err(|e| format!("cannot move the kernel to {}: {e}", kept.display()))?;
    let _ = fs::remove_dir_all(&unpack);
    Ok((kept, version))
}

/// The modules the network needs; their dependencies are added.
const NET_MODULES: [&str; 2] = ["virtio_mmio", "virtio_net"];

/// The names in `depends=` of a module's `.modinfo` section (NUL-separated
/// `key=value` strings).
pub fn parse_modinfo_depends(modinfo: &[u8]) -> Vec<String> {
    modinfo
        .split(|&b| b == 0)
        .filter_map(|entry| entry.strip_prefix(b"depends="))
        .flat_map(|deps| deps.split(|&b| b == b','))
        .filter(|d| !d.is_empty())
        .map(|d| String::from_utf8_lossy(d).into_owned())
        .collect()
}

/// `wanted` and everything they depend on, each after its dependencies
/// (the order `insmod` needs). `depends(name)` gives a module's direct
/// dependencies. A cycle is an error.
pub fn load_order(
    wanted: &[&str],
    mut depends: impl FnMut(&str) -> Result<Vec<String>, String>,
) -> Result<Vec<String>, String> {
    fn visit(
        name: &str,
        depends: &mut dyn FnMut(&str) -> Result<Vec<String>, String>,
        on_path: &mut Vec<String>,
        order: &mut Vec<String>,
    ) -> Result<(), String> {
        if order.iter().any(|n| n == name) {
            return Ok(());
        }
        if on_path.iter().any(|n| n == name) {
            return Err(format!(
                "module dependency cycle: {} -> {name}",
                on_path.join(" -> ")
            ));
        }
        on_path.push(name.to_string());
        for dep in depends(name)? {
            visit(&dep, depends, on_path, order)?;
        }
        on_path.pop();
        order.push(name.to_string());
        Ok(())
    }
    let mut order = Vec::new();
    for name in wanted {
        visit(name, &mut depends, &mut Vec::new(), &mut order)?;
    }
    Ok(order)
}

/// Module names use `_` where file names may use `-`.
fn module_name(file_stem: &str) -> String {
    file_stem.replace('-', "_")
}

/// The virtio-net modules of kernel `version`, in load order, as (name,
/// uncompressed `.ko`). Cached in `target/third-party/linux-cloud/
/// modules-<version>/` (the `.ko` files and `order`, one name a line); the
/// first time, taken from the kernel's package (in `target/third-party/
/// cache/`, downloaded again if it is gone). Built-in modules
/// (`modules.builtin`) are skipped.
pub fn net_modules(root: &Path, version: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    let dir = root.join(format!("target/third-party/linux-cloud/modules-{version}"));
    if let Ok(order) = fs::read_to_string(dir.join("order")) {
        let read: Result<Vec<_>, String> = order
            .lines()
            .filter(|l| !l.is_empty())
            .map(|name| {
                let path = dir.join(format!("{name}.ko"));
                fs::read(&path)
                    .map(|data| (name.to_string(), data))
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))
            })
            .collect();
        if let Ok(modules) = read {
            return Ok(modules);
        }
    }
    let package = format!("linux-image-{version}");
    let cache = root.join("target/third-party/cache");
    let deb = match find_deb(&cache, &package) {
        Some(deb) => deb,
        None => {
            eprintln!("bench: downloading {package} (the Linux guest's network modules)");
            download_deb(&package, &cache)?
        }
    };
    // Each bench unpacks and writes its own copy, then renames it into
    // place: benches run at once (the tests start several) never read or
    // write each other's half-made files.
    let pid = std::process::id();
    let unpack = root.join(format!("target/third-party/linux-cloud/unpack-modules-{pid}"));
    let made = dir.with_extension(format!("tmp-{pid}"));
    let _ = fs::remove_dir_all(&unpack);
    let _ = fs::remove_dir_all(&made);
    fs::create_dir_all(&unpack).map_err(|e| format!("cannot create {}: {e}", unpack.display()))?;
    let result = extract_modules(&deb, &unpack, version, &made);
    let _ = fs::remove_dir_all(&unpack);
    let modules = result?;
    if fs::rename(&made, &dir).is_err() {
        // Another bench put its copy there first: the same modules.
        let _ = fs::remove_dir_all(&made);
    }
    Ok(modules)
}

/// The cached `PACKAGE_*.deb` of `cache`, if any.
fn find_deb(cache: &Path, package: &str) -> Option<PathBuf> {
    fs::read_dir(cache).ok()?.flatten().map(|e| e.path()).find(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(&format!("{package}_")) && n.ends_with(".deb"))
    })
}

/// `apt-get download PACKAGE` into a directory of this process's own,
/// then renamed into `cache` (atomic: a bench running beside this one
/// sees the whole file or none).
fn download_deb(package: &str, cache: &Path) -> Result<PathBuf, String> {
    let own = cache.join(format!(".download-{}", std::process::id()));
    let _ = fs::remove_dir_all(&own);
    fs::create_dir_all(&own).map_err(|e| format!("cannot create {}: {e}", own.display()))?;
    let fetched = with_apt_update(|| {
        command_output(Process::new("apt-get").args(["download", "-qq", package]).current_dir(&own))
    })
    .and_then(|_| {
        find_deb(&own, package)
            .ok_or_else(|| format!("apt-get download left no {package}_*.deb in {}", own.display()))
    });
    let kept = fetched.and_then(|deb| {
        let kept = cache.join(deb.file_name().unwrap_or_default());
        fs::rename(&deb, &kept).map_err(|e| format!("cannot move {} to {}: {e}", deb.display(), kept.display()))?;
        Ok(kept)
    });
    let _ = fs::remove_dir_all(&own);
    kept
}

/// Unpack `deb` into `unpack`, pick the network modules and their
/// dependencies, write them (uncompressed) and `order` into `dir`.
fn extract_modules(
    deb: &Path,
    unpack: &Path,
    version: &str,
    dir: &Path,
) -> Result<Vec<(String, Vec<u8>)>, String> {
    command_output(Process::new("dpkg").arg("-x").arg(deb).arg(unpack))?;
    let tree = unpack.join(format!("lib/modules/{version}"));
    if !tree.is_dir() {
        return Err(format!("{} holds no lib/modules/{version}", deb.display()));
    }
    // Every module file of the package, by module name.
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    let mut stack = vec![tree.clone()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).map_err(|e| format!("cannot list {}: {e}", d.display()))? {
            let path = entry.map_err(|e| e.to_string())?.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
                if let Some((stem, _)) = name.split_once(".ko") {
                    files.push((module_name(stem), path.clone()));
                }
            }
        }
    }
    let builtin: Vec<String> = fs::read_to_string(tree.join("modules.builtin"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.rsplit('/').next()?.strip_suffix(".ko").map(module_name))
        .collect();
    let mut contents: Vec<(String, Vec<u8>)> = Vec::new();
    let order = load_order(&NET_MODULES, |name| {
        if let Some((_, path)) = files.iter().find(|(n, _)| n == name) {
            let data = module_bytes(path)?;
            let deps = modinfo_depends(&data).map_err(|e| format!("{}: {e}", path.display()))?;
            contents.push((name.to_string(), data));
            Ok(deps)
        } else if builtin.iter().any(|b| b == name) {
            Ok(Vec::new())
        } else {
            Err(format!(
                "module {name} is neither in {} nor built into the kernel",
                deb.display()
            ))
        }
    })?;
    let modules: Vec<(String, Vec<u8>)> = order
        .iter()
        .filter_map(|name| contents.iter().find(|(n, _)| n == name).cloned())
        .collect();
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    for (name, data) in &modules {
        let path = dir.join(format!("{name}.ko"));
        fs::write(&path, data).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    let names: String = modules.iter().map(|(n, _)| format!("{n}\n")).collect();
    // `order` last: its presence says the cache is complete.
    fs::write(dir.join("order"), names)
        .map_err(|e| format!("cannot write {}: {e}", dir.join("order").display()))?;
    Ok(modules)
}

/// A module file's ELF bytes: `.ko` as is, `.ko.xz` / `.ko.zst` / `.ko.gz`
/// decompressed with `xz` / `zstd` / `gzip`.
fn module_bytes(path: &Path) -> Result<Vec<u8>, String> {
    let name = path.to_string_lossy();
    let tool = if name.ends_with(".ko") {
        return fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()));
    } else if name.ends_with(".ko.xz") {
        "xz"
    } else if name.ends_with(".ko.zst") {
        "zstd"
    } else if name.ends_with(".ko.gz") {
        "gzip"
    } else {
        return Err(format!("{}: unknown module compression", path.display()));
    };
    let out = Process::new(tool)
        .arg("-dc")
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {tool} to decompress {}: {e}", path.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{tool} -dc {} failed ({})",
            path.display(),
            out.status
        ));
    }
    Ok(out.stdout)
}

/// The `depends=` of a module's ELF `.modinfo` section.
fn modinfo_depends(elf: &[u8]) -> Result<Vec<String>, String> {
    let parsed = goblin::elf::Elf::parse(elf).map_err(|e| format!("not an ELF module: {e}"))?;
    let section = parsed
        .section_headers
        .iter()
        .find(|sh| parsed.shdr_strtab.get_at(sh.sh_name) == Some(".modinfo"))
        .ok_or("no .modinfo section")?;
    let start = section.sh_offset as usize;
    let bytes = start
        .checked_add(section.sh_size as usize)
        .and_then(|end| elf.get(start..end))
        .ok_or(".modinfo lies outside the file")?;
    Ok(parse_modinfo_depends(bytes))
}

/// Debian's static busybox, fetched with scripts/fetch-busybox if missing.
fn busybox(root: &Path) -> Result<PathBuf, String> {
    let path = root.join("target/third-party/busybox");
    if path.is_file() {
        return Ok(path);
    }
    let script = root.join("scripts/fetch-busybox");
    eprintln!(
        "bench: {} missing, running scripts/fetch-busybox",
        path.display()
    );
    let status = Process::new(&script)
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::io::stderr()))
        .status()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if status.success() && path.is_file() {
        Ok(path)
    } else {
        Err(format!("scripts/fetch-busybox failed ({status})"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depends() {
        let out = "linux-image-cloud-amd64\n  Depends: linux-image-6.1.0-56-cloud-amd64\n";
        assert_eq!(
            parse_depends(out).as_deref(),
            Some("linux-image-6.1.0-56-cloud-amd64")
        );
        let virtual_dep = "x\n  Depends: <linux-image-6.1.0-9-cloud-amd64>\n";
        assert_eq!(
            parse_depends(virtual_dep).as_deref(),
            Some("linux-image-6.1.0-9-cloud-amd64")
        );
        assert_eq!(parse_depends("x\n  Depends: libc6\n"), None);
        assert_eq!(parse_depends(""), None);
    }

    #[test]
    fn cpu_mhz() {
        let info = "processor\t: 0\nmodel name\t: Intel\ncpu MHz\t\t: 2299.998\ncache size\t: 1 KB\n\
                    processor\t: 1\ncpu MHz\t\t: 1000.000\n";
        assert_eq!(parse_cpu_mhz(info), Some(2_299_998));
        assert_eq!(parse_cpu_mhz("cpu MHz : 3000\n"), Some(3_000_000));
        assert_eq!(parse_cpu_mhz("cpu MHz : 2100.5\n"), Some(2_100_500));
        assert_eq!(parse_cpu_mhz("cpu MHz : 2100.12345\n"), Some(2_100_123));
        assert_eq!(parse_cpu_mhz("cpu MHz : fast\n"), None);
        assert_eq!(parse_cpu_mhz("cpu MHz : 0.000\n"), None);
        assert_eq!(parse_cpu_mhz("bogomips : 4600\n"), None);
        assert_eq!(
            cmdline(2_299_998),
            "console=ttyS0 tsc_early_khz=2299998 quiet panic=-1 rdinit=/init"
        );
    }

    #[test]
    fn init_runs_the_program_once_and_powers_off() {
        let s = init_script("bench-getpid", &["1000".into(), "it's".into()], None);
        assert!(!s.contains("insmod") && !s.contains("eth0"), "{s}");
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines[0], "#!/bin/busybox sh");
        assert!(
            lines.contains(&"'/bin/bench-getpid' '1000' 'it'\\''s'"),
            "{s}"
        );
        assert!(lines.contains(&"echo \"isola-bench: exit $?\""), "{s}");
        assert_eq!(lines.last(), Some(&"/bin/busybox poweroff -f"));
    }

    #[test]
    fn init_sets_up_the_network_first() {
        let modules = ["virtio_ring".to_string(), "virtio_net".to_string()];
        let s = init_script("httpd", &["-p".into(), "80".into()], Some(&modules));
        let lines: Vec<&str> = s.lines().collect();
        let at = |prefix: &str| {
            lines
                .iter()
                .position(|l| l.starts_with(prefix))
                .unwrap_or_else(|| panic!("no line starting with {prefix}\n{s}"))
        };
        let ring = at("/bin/busybox insmod /lib/modules/virtio_ring.ko || ");
        let net = at("/bin/busybox insmod /lib/modules/virtio_net.ko || ");
        assert!(ring < net);
        assert!(
            lines[net].ends_with(
                "{ echo 'isola-bench: network setup failed: insmod virtio_net'; /bin/busybox poweroff -f; }"
            ),
            "{s}"
        );
        let up = at("/bin/busybox ip link set eth0 up");
        assert!(net < up && up < at("/bin/busybox ip addr add 10.0.2.15/24 dev eth0"));
        assert!(at("/bin/busybox ip link set lo up") < at("echo 'isola-bench: network up'"));
        assert!(
            at("/bin/busybox ip route add default via 10.0.2.2") < at("echo 'isola-bench: start'")
        );
        assert!(at("echo 'isola-bench: network up'") < at("'/bin/httpd' '-p' '80'"));
        assert_eq!(lines.last(), Some(&"/bin/busybox poweroff -f"));
    }

    #[test]
    fn module_dependencies() {
        let info = b"license=GPL\0depends=virtio_ring,virtio,net_failover\0intree=Y\0";
        assert_eq!(
            parse_modinfo_depends(info),
            ["virtio_ring", "virtio", "net_failover"]
        );
        assert!(parse_modinfo_depends(b"depends=\0name=failover\0").is_empty());
        // The cloud kernel's graph (from its .modinfo sections).
        let graph = |name: &str| -> Result<Vec<String>, String> {
            let deps: &[&str] = match name {
                "virtio_net" => &["virtio_ring", "virtio", "net_failover"],
                "virtio_mmio" => &["virtio", "virtio_ring"],
                "virtio" => &["virtio_ring"],
                "net_failover" => &["failover"],
                "virtio_ring" | "failover" => &[],
                other => return Err(format!("no {other}")),
            };
            Ok(deps.iter().map(|d| d.to_string()).collect())
        };
        assert_eq!(
            load_order(&NET_MODULES, graph).unwrap(),
            [
                "virtio_ring",
                "virtio",
                "virtio_mmio",
                "failover",
                "net_failover",
                "virtio_net"
            ]
        );
        let cycle = |name: &str| -> Result<Vec<String>, String> {
            Ok(vec![if name == "a" { "b" } else { "a" }.to_string()])
        };
        assert!(
            load_order(&["a"], cycle)
                .unwrap_err()
                .contains("cycle: a -> b -> a")
        );
        assert_eq!(load_order(&["x"], graph).unwrap_err(), "no x");
        assert_eq!(module_name("virtio-rng"), "virtio_rng");
    }

    #[test]
    fn archive_holds_busybox_program_and_init() {
        let contents = |files, modules| Contents {
            busybox: b"BB",
            name: "bench-getpid",
            program: b"PROG",
            args: &[],
            files,
            executables: &[],
            modules,
        };
        let files = [("/www/sub/index.html".to_string(), b"<p>hi</p>".to_vec())];
        let modules = [("virtio_net".to_string(), b"KO".to_vec())];
        let a = initramfs(&contents(&files, Some(&modules)));
        let entries: Vec<cpio::Entry<'_>> = cpio::entries(&a).map(|e| e.unwrap()).collect();
        let find = |name: &str| {
            entries
                .iter()
                .find(|e| e.name == name)
                .unwrap_or_else(|| panic!("{name}"))
        };
        assert_eq!(find("www").mode, cpio::S_IFDIR | 0o755);
        assert_eq!(find("www/sub").mode, cpio::S_IFDIR | 0o755);
        assert_eq!(find("www/sub/index.html").data, b"<p>hi</p>");
        assert_eq!(find("www/sub/index.html").mode, cpio::S_IFREG | 0o644);
        assert_eq!(find("lib/modules/virtio_net.ko").data, b"KO");
        assert_eq!(find("sys").mode, cpio::S_IFDIR | 0o755);
        assert!(
            std::str::from_utf8(find("init").data)
                .unwrap()
                .contains("insmod /lib/modules/virtio_net.ko")
        );
        // Each directory once.
        assert_eq!(
            entries.iter().filter(|e| e.name == "lib/modules").count(),
            1
        );
        let a = initramfs(&Contents {
            args: &["5".into()],
            ..contents(&[], None)
        });
        let entries: Vec<cpio::Entry<'_>> = cpio::entries(&a).map(|e| e.unwrap()).collect();
        let find = |name: &str| {
            entries
                .iter()
                .find(|e| e.name == name)
                .unwrap_or_else(|| panic!("{name}"))
        };
        assert_eq!(find("bin/busybox").data, b"BB");
        assert_eq!(find("bin/busybox").mode, cpio::S_IFREG | 0o755);
        assert_eq!(find("bin/bench-getpid").data, b"PROG");
        assert_eq!(find("bin/sh").data, b"busybox");
        assert_eq!(find("dev").mode, cpio::S_IFDIR | 0o755);
        let init = find("init");
        assert_eq!(init.mode, cpio::S_IFREG | 0o755);
        assert!(
            std::str::from_utf8(init.data)
                .unwrap()
                .contains("'/bin/bench-getpid' '5'")
        );
    }

    #[test]
    fn guest_verdicts() {
        let t = Duration::from_secs(7);
        let lines = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let ok = lines(&[
            "isola-bench: start",
            "getpid: 1 calls, 5.0 ns/call",
            "isola-bench: exit 0",
            "[ 2.8] reboot: Power down",
        ]);
        assert_eq!(check_guest_run(&End::Exited(Some(0)), &ok, t), Ok(()));
        // Killed after the marker (poweroff hung): the figure still counts.
        assert_eq!(check_guest_run(&End::TimedOut, &ok, t), Ok(()));
        let failed = lines(&["isola-bench: exit 2"]);
        assert_eq!(
            check_guest_run(&End::Exited(Some(0)), &failed, t).unwrap_err(),
            "the program exited with status 2 in the Linux guest"
        );
        let hung = lines(&["[ 0.5] PCI: Fatal", ""]);
        let e = check_guest_run(&End::TimedOut, &hung, t).unwrap_err();
        assert!(
            e.contains("timed out after 7 s; last console line: '[ 0.5] PCI: Fatal'"),
            "{e}"
        );
        let e = check_guest_run(&End::Exited(Some(1)), &[], t).unwrap_err();
        assert!(e.contains("QEMU exited (code 1)"), "{e}");
    }
}
