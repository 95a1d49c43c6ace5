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

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::time::Duration;

use crate::qemu::{self, Accel, Boot, End, Machine};

/// The row's description when the guest could not even be prepared.
pub const DETAIL: &str = "Debian cloud kernel, TCG -cpu max";
/// The metapackage that names the current cloud kernel.
const META_PACKAGE: &str = "linux-image-cloud-amd64";
/// Printed by `/init` after the program, with its exit status.
const MARKER: &str = "isola-bench: exit ";

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
    /// Fetch what is missing and write the initramfs for `program ARGS`.
    pub fn prepare(root: &Path, program: &Path, args: &[String]) -> Result<Guest, String> {
        qemu::require_qemu().map_err(|e| e.to_string())?;
        let (kernel, version) = kernel(root)?;
        let busybox = busybox(root)?;
        let name = program
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| format!("{}: no usable file name", program.display()))?;
        let read = |p: &Path| fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()));
        let archive = initramfs(&read(&busybox)?, name, &read(program)?, args);
        let dir = root.join("target/isola/bench");
        fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let initrd = dir.join(format!("linux-guest-{}.cpio", std::process::id()));
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

    /// Boot once; the console lines when `/init` reported exit status 0.
    pub fn run_once(&self, timeout: Duration) -> Result<Vec<String>, String> {
        let boot = Boot {
            kernel: self.kernel.clone(),
            initrd: Some(self.initrd.clone()),
            cmdline: self.cmdline.clone(),
            machine: Machine {
                accel: Accel::Tcg,
                pku: true,
            },
            timeout,
            echo: false,
        };
        let out = qemu::run(&boot).map_err(|e| e.to_string())?;
        check_guest_run(&out.end, &out.lines, timeout)?;
        Ok(out.lines)
    }
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

/// `/init`: run `/bin/NAME ARGS` once, report its status, power off.
pub fn init_script(name: &str, args: &[String]) -> String {
    let mut command = shell_quote(&format!("/bin/{name}"));
    for a in args {
        command.push(' ');
        command.push_str(&shell_quote(a));
    }
    format!(
        "#!/bin/busybox sh\n\
         # Written by `isola bench`: run the benchmark once, report, power off.\n\
         echo 'isola-bench: start'\n\
         {command}\n\
         echo \"{MARKER}$?\"\n\
         /bin/busybox poweroff -f\n"
    )
}

/// The initramfs: busybox, the program, `/init`.
pub fn initramfs(busybox: &[u8], name: &str, program: &[u8], args: &[String]) -> Vec<u8> {
    let mut w = cpio::Writer::new();
    for dir in ["bin", "dev", "proc", "tmp"] {
        w.add_dir(dir, 0o755);
    }
    w.add_file("bin/busybox", 0o755, busybox);
    w.add_symlink("bin/sh", "busybox");
    w.add_file(&format!("bin/{name}"), 0o755, program);
    w.add_file("init", 0o755, init_script(name, args).as_bytes());
    w.finish()
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
    fs::create_dir_all(&cache).map_err(|e| format!("cannot create {}: {e}", cache.display()))?;
    eprintln!("bench: downloading {package} (the Linux guest's kernel)");
    with_apt_update(|| {
        command_output(
            Process::new("apt-get")
                .args(["download", "-qq", &package])
                .current_dir(&cache),
        )
    })?;
    let deb = fs::read_dir(&cache)
        .map_err(|e| format!("cannot list {}: {e}", cache.display()))?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{package}_")) && n.ends_with(".deb"))
        })
        .ok_or_else(|| {
            format!(
                "apt-get download left no {package}_*.deb in {}",
                cache.display()
            )
        })?;
    let unpack = dir.join("unpack");
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
        let s = init_script("bench-getpid", &["1000".into(), "it's".into()]);
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
    fn archive_holds_busybox_program_and_init() {
        let a = initramfs(b"BB", "bench-getpid", b"PROG", &["5".into()]);
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
