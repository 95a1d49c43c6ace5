//! The subcommands: `isola run` and `isola ktest`. Each resolves the
//! machine ([`crate::plan`]), builds the kernel ([`crate::kbuild`]), boots it
//! with the console echoed ([`crate::qemu`]) and turns what the console
//! and QEMU's exit code say into isola's exit code. `isola run PROGRAM`
//! first packs the initramfs ([`crate::initramfs`]); its output is the
//! program's: the kernel's notices on stderr, its log only with `--verbose`.

use std::path::PathBuf;
use std::time::Duration;

use crate::cli::{AccelChoice, BootOpts, KtestOpts, RunOpts};
use crate::console::{self, Level, QEMU_TESTS_PASSED};
use crate::error::Error;
use crate::forward::Forwarding;
use crate::initramfs::{self, TempInitrd};
use crate::kbuild::{self, Variant};
use crate::plan::{self, Plan};
use crate::qemu::{self, Boot, Echo, End, Net, Outcome};

/// The kernel command line: the resolved level, then the user's words.
pub fn kernel_cmdline(level: Level, extra: &str) -> String {
    let extra = extra.trim();
    if extra.is_empty() {
        format!("isolation={level}")
    } else {
        format!("isolation={level} {extra}")
    }
}

/// The words after `isolation=` for `isola run`: `init=` and `trace` when
/// there is a program, then the user's `--kernel-args`.
pub fn run_args(init: Option<&str>, trace: bool, user: &str) -> String {
    let mut words = Vec::new();
    if let Some(init) = init {
        words.push(format!("init={init}"));
    }
    if trace {
        words.push("trace".to_string());
    }
    let user = user.trim();
    if !user.is_empty() {
        words.push(user.to_string());
    }
    words.join(" ")
}

/// What a boot carries besides the kernel.
struct Guest<'a> {
    /// Command-line words after `isolation=`.
    extra_args: &'a str,
    initrd: Option<PathBuf>,
    /// The first program's guest path, when there is one.
    program: Option<&'a str>,
    /// `-p`/`--net`: the network device and its forwards.
    net: Option<Net>,
    /// `--volume`: the shared host directories.
    volumes: Vec<crate::qemu::Volume>,
    /// Guest RAM in MiB.
    memory_mib: u32,
    /// What reaches isola's stdout and stderr.
    echo: Echo,
    /// Say which machine was chosen ("isola: using ..."); a fallback after
    /// a failed boot is always said.
    show_plan: bool,
    /// The control channel's socket (`isola run`).
    control: Option<PathBuf>,
    /// A TCG plugin's `-plugin` argument ([`crate::plugin`]).
    plugin: Option<String>,
    /// QEMU's `-seed` ([`qemu::Boot::seed`]).
    seed: Option<u64>,
}

/// Room the kernel needs beside the image, in MiB: its own image, page
/// tables, heap and the first process.
pub const KERNEL_ROOM_MIB: u64 = 32;

/// Whether an initramfs of `image_bytes` fits in `memory_mib`: the kernel
/// copies every file out of the archive into its file system at boot, so
/// the archive and its copy both need room, plus [`KERNEL_ROOM_MIB`].
pub fn check_image_fits(image_bytes: u64, memory_mib: u32) -> Result<(), Error> {
    let image_mib = image_bytes.div_ceil(1 << 20);
    let needed = 2 * image_mib + KERNEL_ROOM_MIB;
    if needed > u64::from(memory_mib) {
        return Err(Error::input(format!(
            "the image ({image_mib} MiB) does not fit in --memory {memory_mib}: it needs at least \
             {needed} MiB (the image, the kernel's copy of its files, and {KERNEL_ROOM_MIB} MiB of \
             room for the kernel); raise --memory"
        )));
    }
    Ok(())
}

/// Whether `--accel auto` may boot again under TCG after KVM failed
/// mid-run: always when no program runs (a second boot repeats only kernel
/// lines); with a program only if the kernel had not yet printed its banner,
/// so the program never ran. After that the program may have printed output
/// (already on stdout), and running it again would repeat it.
fn may_retry_under_tcg(outcome: &Outcome, program: Option<&str>) -> bool {
    program.is_none() || outcome.console.banner.is_none()
}

/// Resolve the machine, build `variant` and boot it with the console echoed.
fn boot(opts: &BootOpts, variant: Variant, guest: &Guest<'_>) -> Result<(Plan, Outcome), Error> {
    qemu::require_qemu()?;
    let plan = plan::resolve(opts.accel, opts.isolation)?;
    if guest.show_plan {
        eprintln!("isola: {}", plan.describe());
    }
    let kernel = kbuild::build(variant)?;
    let mut boot = Boot {
        kernel,
        initrd: guest.initrd.clone(),
        cmdline: kernel_cmdline(plan.level, guest.extra_args),
        machine: plan.machine,
        timeout: opts.timeout_secs.map(Duration::from_secs),
        memory_mib: guest.memory_mib,
        echo: guest.echo,
        net: guest.net.clone(),
        volumes: guest.volumes.clone(),
        control: guest.control.clone(),
        plugin: guest.plugin.clone(),
        seed: guest.seed,
    };
    let outcome = qemu::run(&boot)?;
    // The probe boot can pass and a later boot still hit an instruction this
    // machine's KVM can't emulate: with --accel auto, fall back to TCG
    // (unless a program may already have run, see may_retry_under_tcg).
    if let (End::KvmFailure(line), AccelChoice::Auto) = (&outcome.end, opts.accel) {
        if !may_retry_under_tcg(&outcome, guest.program) {
            return Err(Error::failure(format!(
                "KVM unusable here: QEMU reported \"{line}\" after the kernel had started {}; \
                 not running it a second time under TCG, which would repeat its output \
                 (use --accel tcg)",
                guest.program.unwrap_or("the program")
            )));
        }
        let plan = plan::decide(
            AccelChoice::Tcg,
            opts.isolation,
            || Ok(()),
            || unreachable!(),
        )?;
        eprintln!("isola: KVM failed during the boot (\"{line}\"); booting again under TCG");
        eprintln!("isola: {}", plan.describe());
        boot.cmdline = kernel_cmdline(plan.level, guest.extra_args);
        boot.machine = plan.machine;
        let outcome = qemu::run(&boot)?;
        return Ok((plan, outcome));
    }
    Ok((plan, outcome))
}

/// Errors common to both commands: timeout and KVM failing mid-run.
fn check_end(outcome: &Outcome, timeout_secs: Option<u64>, what: &str) -> Result<Option<i32>, Error> {
    match &outcome.end {
        End::TimedOut => Err(Error::Timeout(format!(
            "{what} timed out after {} s (QEMU killed; raise --timeout if it needs longer)",
            timeout_secs.unwrap_or(0)
        ))),
        End::Stopped(signal) => Err(Error::Stopped {
            message: format!(
                "{} again or the guest still running {} s after SIGTERM: QEMU killed",
                qemu::signal_name(*signal),
                qemu::STOP_GRACE.as_secs()
            ),
            signal: *signal,
        }),
        End::KvmFailure(line) => Err(Error::failure(format!(
            "KVM unusable here: QEMU reported \"{line}\" and stopped the guest (use --accel tcg)"
        ))),
        End::Exited(code) => Ok(*code),
    }
}

fn describe_code(code: Option<i32>) -> String {
    code.map_or_else(
        || "none (killed by a signal)".to_string(),
        |c| c.to_string(),
    )
}

/// `isola run`: exit with the guest's status (with PROGRAM: the first
/// process's status, which the kernel reports as the guest's).
pub fn run(opts: &RunOpts) -> Result<i32, Error> {
    // A volume's host directory must be there and writable before
    // anything is built or booted.
    let volumes = crate::cli::check_volumes(&opts.volumes)?;
    // isola listens on the -p host ports itself (a port in use is bad
    // input, before anything is built or booted); QEMU gets internal ports.
    let forwarding = opts
        .network()
        .map(|net| Forwarding::bind(&net))
        .transpose()?;
    let net = forwarding.as_ref().map(Forwarding::slirp_net);
    // Pack the initramfs first: bad input fails before anything is built
    // or booted. The temporary file lives until the end of this function.
    let (init, temp) = match &opts.program {
        Some(program) => {
            let rootfs = opts.rootfs.as_deref().map(std::path::Path::new);
            let archive = initramfs::build(program, rootfs, &opts.adds, &opts.env)?;
            check_image_fits(archive.bytes.len() as u64, opts.memory_mib)?;
            let dir = kbuild::workspace_root().join("target/isola");
            let temp = TempInitrd::write(&dir, &archive.bytes)?;
            (Some(archive.init), Some(temp))
        }
        None => (None, None),
    };
    // --profile: the plugin built and its output chosen before the boot;
    // under TCG whatever --accel auto would pick (the CLI refuses kvm).
    let profile = opts.profile.as_ref().map(|_| crate::profile::Session::start()).transpose()?;
    // --count-instructions: the counting plugin, writing to FILE at exit
    // (the CLI refuses kvm and --profile beside it).
    let counter = opts
        .count_instructions
        .as_ref()
        .map(|file| crate::icount::plugin_arg(std::path::Path::new(file)))
        .transpose()?;
    let mut boot_opts = opts.boot.clone();
    if profile.is_some() || counter.is_some() {
        boot_opts.accel = AccelChoice::Tcg;
    }
    // The VM's name and control socket (`isola ps`, `isola kill`, and the
    // clean stop at SIGINT/SIGTERM), claimed before anything is booted.
    let control = ControlSocket::claim(opts.name.as_deref())?;
    let mut extra_args = run_args(init.as_deref(), opts.trace, &opts.kernel_args);
    extra_args = format!("control {extra_args}");
    for (volume, spec) in volumes.iter().zip(&opts.volumes) {
        extra_args = format!("volume={}:{} {extra_args}", volume.tag, spec.guest);
    }
    if init.is_some() {
        // The wall clock for guests without an RTC (microvm under KVM has none).
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        extra_args = format!("epoch={now} {extra_args}");
        if opts.ps_on_exit {
            extra_args = format!("ps {extra_args}");
        }
    }
    let guest = Guest {
        extra_args: &extra_args,
        initrd: temp.as_ref().map(|t| t.path().to_path_buf()),
        program: init.as_deref(),
        net,
        volumes,
        memory_mib: opts.memory_mib,
        // Without a program the kernel's lines are the output.
        echo: if init.is_some() { Echo::program(opts.verbose) } else { Echo::KERNEL },
        show_plan: init.is_none() || opts.verbose,
        control: Some(control.path.clone()),
        // Counts repeat only if the guest's random choices do.
        seed: counter.is_some().then_some(crate::icount::SEED),
        plugin: profile.as_ref().map(|p| p.plugin_arg.clone()).or(counter),
    };
    // Accepting from here on: a client that comes while the kernel builds
    // or QEMU starts is held until slirp listens (crate::forward).
    let forwarder = forwarding.map(Forwarding::start).transpose()?;
    let (_, outcome) = boot(&boot_opts, Variant::Kernel, &guest)?;
    drop(forwarder);
    drop(temp);
    drop(control);
    if let (Some(session), Some(file)) = (&profile, &opts.profile) {
        // PROGRAM's host file, for its symbols (inside a --rootfs directory,
        // PROGRAM is a guest path).
        let host_program = opts.program.as_ref().map(|p| match &opts.rootfs {
            Some(root) => std::path::Path::new(root).join(p.path.trim_start_matches('/')),
            None => PathBuf::from(&p.path),
        });
        let title = match &opts.program {
            Some(p) => format!("isola run --profile {}", std::iter::once(p.path.as_str()).chain(p.args.iter().map(String::as_str)).collect::<Vec<_>>().join(" ")),
            None => "isola run --profile (the kernel alone)".to_string(),
        };
        // A profile that cannot be made is said, and the guest's status
        // stays isola's.
        if let Err(e) = session.finish(std::path::Path::new(file), host_program.as_deref(), &title) {
            eprintln!("isola: {e}");
        }
    }
    let status = guest_status(&outcome, opts.boot.timeout_secs);
    if let (Some(signal), Ok(code)) = (outcome.stop_signal, &status) {
        eprintln!("isola: stopped at {} (the guest ended with status {code})", qemu::signal_name(signal));
    }
    status
}

/// The control socket of one `isola run`, removed when the run ends
/// (QEMU leaves it behind when killed).
struct ControlSocket {
    path: PathBuf,
}

impl ControlSocket {
    fn claim(name: Option<&str>) -> Result<ControlSocket, Error> {
        let (_, path) = crate::control::claim(name)?;
        Ok(ControlSocket { path })
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The guest's exit status, or why there is none.
pub fn guest_status(outcome: &Outcome, timeout_secs: Option<u64>) -> Result<i32, Error> {
    let code = check_end(outcome, timeout_secs, "the guest")?;
    let console = &outcome.console;
    if let Some(panic) = &console.panic {
        return Err(Error::failure(format!("guest kernel panicked ({panic})")));
    }
    match console.exit_status {
        Some(status) => {
            let expected = console::qemu_code_for_status(status);
            if code == Some(expected) {
                Ok(i32::from(status))
            } else {
                Err(Error::failure(format!(
                    "the guest printed 'isola: exit status {status}' but QEMU exited with code {} (expected {expected})",
                    describe_code(code)
                )))
            }
        }
        None => {
            let qemu_said = outcome.stderr.iter().find(|l| !l.trim().is_empty());
            Err(Error::failure(match qemu_said {
                Some(line) => format!(
                    "the guest ended without an exit status (QEMU exit code {}): {line}",
                    describe_code(code)
                ),
                None => format!(
                    "the guest ended without an exit status (QEMU exit code {})",
                    describe_code(code)
                ),
            }))
        }
    }
}

/// `isola ktest`: 0 iff the suite passed, else 1.
pub fn ktest(opts: &KtestOpts) -> Result<i32, Error> {
    let variant = if opts.stack_overflow {
        Variant::KtestStackOverflow
    } else {
        Variant::Ktest
    };
    let guest = Guest {
        extra_args: "",
        initrd: None,
        program: None,
        net: None,
        volumes: Vec::new(),
        memory_mib: crate::cli::DEFAULT_MEMORY_MIB,
        echo: Echo::KERNEL,
        show_plan: true,
        control: None,
        plugin: None,
        seed: None,
    };
    let (plan, outcome) = boot(&opts.boot, variant, &guest)?;
    let problems = ktest_problems(&outcome, &plan, opts)?;
    if !problems.is_empty() {
        eprintln!(
            "isola: ktest ({}) failed: {}",
            variant.name(),
            problems.join("; ")
        );
    }
    // The kernel's summary is the last line isola prints, whatever followed it.
    if let Some(summary) = outcome.console.summary {
        let last = outcome.lines.last().and_then(|l| console::parse_summary(l));
        if !problems.is_empty() || last != Some(summary) {
            println!("{summary}");
        }
    }
    Ok(if problems.is_empty() { 0 } else { 1 })
}

/// Why a test kernel's run does not count as passed (empty: it passed).
fn ktest_problems(outcome: &Outcome, plan: &Plan, opts: &KtestOpts) -> Result<Vec<String>, Error> {
    let code = check_end(outcome, opts.boot.timeout_secs, "the test kernel")?;
    let console = &outcome.console;
    let mut problems = Vec::new();
    // The stack-overflow kernel panics on purpose and still reports a pass.
    if let (Some(panic), false) = (&console.panic, opts.stack_overflow) {
        problems.push(format!("kernel panicked ({panic})"));
    }
    match console.summary {
        None => problems.push("no summary line ('N passed, M failed')".into()),
        Some(s) if s.failed > 0 => problems.push(format!("{} test(s) failed", s.failed)),
        Some(s) if s.passed == 0 => problems.push("no test passed".into()),
        Some(_) => {}
    }
    if code != Some(QEMU_TESTS_PASSED) {
        problems.push(format!(
            "QEMU exit code {} (a passing suite exits with {QEMU_TESTS_PASSED})",
            describe_code(code)
        ));
    }
    if let Some(banner) = console.banner {
        if banner.level != plan.level {
            problems.push(format!(
                "asked for isolation {} but the kernel ran at {}",
                plan.level, banner.level
            ));
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::IsolationChoice;
    use crate::console::Console;

    #[test]
    fn image_fits_with_room_for_the_kernel() {
        assert!(check_image_fits(0, 32).is_ok());
        assert!(check_image_fits(112 << 20, 256).is_ok());
        let e = check_image_fits((112 << 20) + 1, 256).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let m = e.to_string();
        assert!(m.contains("the image (113 MiB) does not fit in --memory 256"), "{m}");
        assert!(m.contains("needs at least 258 MiB") && !m.contains('\n'), "{m}");
    }
    use crate::qemu::{Accel, Machine};

    fn outcome(end: End, lines: &[&str]) -> Outcome {
        let mut console = Console::default();
        lines.iter().for_each(|l| console.observe(l));
        Outcome {
            end,
            console,
            lines: lines.iter().map(|s| s.to_string()).collect(),
            stderr: vec![],
            stop_signal: None,
        }
    }

    #[test]
    fn cmdline() {
        assert_eq!(kernel_cmdline(Level::Mpk, ""), "isolation=mpk");
        assert_eq!(
            kernel_cmdline(Level::None, " a=b c "),
            "isolation=none a=b c"
        );
    }

    #[test]
    fn run_cmdline_words() {
        assert_eq!(run_args(None, false, ""), "");
        assert_eq!(run_args(None, true, " x "), "trace x");
        assert_eq!(
            run_args(Some("/bin/busybox"), true, "log=debug"),
            "init=/bin/busybox trace log=debug"
        );
        assert_eq!(
            kernel_cmdline(Level::Mpk, &run_args(Some("/bin/busybox"), false, "")),
            "isolation=mpk init=/bin/busybox"
        );
    }

    #[test]
    fn kvm_fallback_never_reruns_a_started_program() {
        let banner = "Isola 0.1.0 | isolation: none | boot: 3.1 ms";
        let kvm = || End::KvmFailure("KVM internal error. Suberror: 1".into());
        let early = outcome(kvm(), &["booting"]);
        let late = outcome(kvm(), &[banner, "hello"]);
        assert!(may_retry_under_tcg(&early, None));
        assert!(may_retry_under_tcg(&late, None));
        assert!(may_retry_under_tcg(&early, Some("/bin/busybox")));
        assert!(!may_retry_under_tcg(&late, Some("/bin/busybox")));
    }

    #[test]
    fn run_exit_statuses() {
        let ok = outcome(End::Exited(Some(7)), &["banner", "isola: exit status 3"]);
        assert_eq!(guest_status(&ok, Some(5)).unwrap(), 3);
        let big = outcome(
            End::Exited(Some(((200 & 0x7f) << 1) | 1)),
            &["isola: exit status 200"],
        );
        assert_eq!(guest_status(&big, Some(5)).unwrap(), 200);
        let mismatch = outcome(End::Exited(Some(1)), &["isola: exit status 3"]);
        assert!(
            guest_status(&mismatch, Some(5))
                .unwrap_err()
                .to_string()
                .contains("expected 7")
        );
        let silent = outcome(End::Exited(Some(1)), &["banner"]);
        let e = guest_status(&silent, Some(5)).unwrap_err();
        assert_eq!(e.exit_code(), 125);
        assert!(e.to_string().contains("without an exit status"), "{e}");
        let panicked = outcome(
            End::Exited(Some(35)),
            &["KERNEL PANIC: at x.rs:1", "isola: exit status 0"],
        );
        let e = guest_status(&panicked, Some(5)).unwrap_err();
        assert!(e.to_string().starts_with("guest kernel panicked"), "{e}");
        assert_eq!(e.exit_code(), 125);
        let e = guest_status(&outcome(End::TimedOut, &[]), Some(5)).unwrap_err();
        assert_eq!(e.exit_code(), 124);
        assert!(e.to_string().contains("timed out after 5 s"), "{e}");
        let e = guest_status(
            &outcome(
                End::KvmFailure("KVM internal error. Suberror: 1".into()),
                &[],
            ),
            Some(5),
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("KVM unusable here"), "{e}");
        assert_eq!(e.exit_code(), 125);
    }

    fn ktest_opts(stack_overflow: bool) -> KtestOpts {
        KtestOpts {
            boot: BootOpts {
                accel: AccelChoice::Tcg,
                isolation: IsolationChoice::Mpk,
                timeout_secs: Some(9),
            },
            stack_overflow,
        }
    }

    const PLAN: Plan = Plan {
        machine: Machine {
            accel: Accel::Tcg,
            pku: true,
        },
        level: Level::Mpk,
        note: None,
    };

    #[test]
    fn ktest_verdicts() {
        let opts = ktest_opts(false);
        let pass = outcome(
            End::Exited(Some(33)),
            &["test a ... ok", "1 passed, 0 failed"],
        );
        assert!(ktest_problems(&pass, &PLAN, &opts).unwrap().is_empty());
        let failed = outcome(
            End::Exited(Some(35)),
            &["test a ... FAILED: x", "0 passed, 1 failed"],
        );
        assert_eq!(ktest_problems(&failed, &PLAN, &opts).unwrap().len(), 2);
        let lying = outcome(End::Exited(Some(35)), &["1 passed, 0 failed"]);
        assert_eq!(ktest_problems(&lying, &PLAN, &opts).unwrap().len(), 1);
        let panicked = outcome(End::Exited(Some(35)), &["KERNEL PANIC: x"]);
        let p = ktest_problems(&panicked, &PLAN, &opts).unwrap();
        assert!(p[0].starts_with("kernel panicked"), "{p:?}");
        let wrong_level = outcome(
            End::Exited(Some(33)),
            &["Isola | isolation: none | boot: 1 ms", "1 passed, 0 failed"],
        );
        assert_eq!(ktest_problems(&wrong_level, &PLAN, &opts).unwrap().len(), 1);
        assert_eq!(
            ktest_problems(&outcome(End::TimedOut, &[]), &PLAN, &opts)
                .unwrap_err()
                .exit_code(),
            124
        );
    }

    #[test]
    fn stack_overflow_kernel_panics_on_purpose() {
        let lines = [
            "KERNEL PANIC: kernel stack overflow",
            "test kernel_stack_overflow_hits_guard_page ... ok",
            "1 passed, 0 failed",
        ];
        let out = outcome(End::Exited(Some(33)), &lines);
        assert!(
            ktest_problems(&out, &PLAN, &ktest_opts(true))
                .unwrap()
                .is_empty()
        );
        assert!(
            !ktest_problems(&out, &PLAN, &ktest_opts(false))
                .unwrap()
                .is_empty()
        );
    }
}
