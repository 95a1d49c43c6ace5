//! Choosing the machine: which accelerator, whether the guest CPU has PKU,
//! and so which isolation level the kernel is told to run at.
//!
//! The decision ([`decide`]) is pure and tested with fake KVM states; the
//! KVM state itself comes from [`probe_kvm`]: can /dev/kvm be opened, and
//! does the main kernel, booted under KVM with `isolation=auto`, reach its
//! `isola: exit status` line (it exits right after the banner while it has no
//! program to run)? The banner then tells whether KVM's CPU has PKU.

use std::time::Duration;

use crate::cli::{AccelChoice, IsolationChoice};
use crate::console::Level;
use crate::error::Error;
use crate::kbuild::{self, Variant};
use crate::qemu::{self, Accel, Boot, End, Machine};

/// How long the KVM probe boot may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// What booting under KVM gives on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvmState {
    /// KVM can't be used here; the reason, for messages.
    Unusable(String),
    /// A probe boot worked; `pku`: the guest CPU offers protection keys.
    Works { pku: bool },
}

/// The resolved plan of a boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub machine: Machine,
    pub level: Level,
    /// One line saying which accelerator was chosen and why (for `auto`).
    pub note: Option<String>,
}

fn plan(accel: Accel, level: Level, note: Option<String>) -> Plan {
    Plan {
        machine: Machine {
            accel,
            pku: level != Level::None,
        },
        level,
        note,
    }
}

impl Plan {
    /// One line for the user: `using TCG -cpu max, isolation mpk (why)`.
    pub fn describe(&self) -> String {
        let mut line = format!(
            "using {}, isolation {}",
            self.machine.describe(),
            self.level
        );
        if let Some(note) = &self.note {
            line.push_str(&format!(" ({note})"));
        }
        line
    }
}

/// Decide accelerator and level. `device` says whether /dev/kvm opens;
/// `probe` boots under KVM and is called only when the answer needs it.
pub fn decide(
    accel: AccelChoice,
    isolation: IsolationChoice,
    device: impl FnOnce() -> Result<(), String>,
    probe: impl FnOnce() -> KvmState,
) -> Result<Plan, Error> {
    let unusable = |why: &str| Error::failure(format!("KVM unusable here: {why}"));
    match accel {
        AccelChoice::Tcg => {
            let level = match isolation {
                IsolationChoice::None => Level::None,
                IsolationChoice::Auto | IsolationChoice::Strict => Level::Strict,
                IsolationChoice::Mpk => Level::Mpk,
            };
            Ok(plan(Accel::Tcg, level, None))
        }
        AccelChoice::Kvm => {
            device().map_err(|why| unusable(&why))?;
            if isolation == IsolationChoice::None {
                return Ok(plan(Accel::Kvm, Level::None, None));
            }
            match probe() {
                KvmState::Unusable(why) => Err(unusable(&why)),
                KvmState::Works { pku: true } => {
                    let level = if isolation == IsolationChoice::Mpk { Level::Mpk } else { Level::Strict };
                    Ok(plan(Accel::Kvm, level, None))
                }
                KvmState::Works { pku: false } => match isolation {
                    IsolationChoice::Mpk | IsolationChoice::Strict => Err(Error::failure(
                        "--isolation mpk and strict need PKU, and KVM's virtual CPU here has none \
                         (use --accel tcg, or --isolation none)",
                    )),
                    _ => Ok(plan(Accel::Kvm, Level::None, None)),
                },
            }
        }
        AccelChoice::Auto => {
            let tcg_level = match isolation {
                IsolationChoice::None => Level::None,
                IsolationChoice::Auto | IsolationChoice::Strict => Level::Strict,
                IsolationChoice::Mpk => Level::Mpk,
            };
            if let Err(why) = device() {
                return Ok(plan(
                    Accel::Tcg,
                    tcg_level,
                    Some(format!("accel auto: {why}")),
                ));
            }
            match probe() {
                KvmState::Unusable(why) => Ok(plan(
                    Accel::Tcg,
                    tcg_level,
                    Some(format!("accel auto: KVM unusable here: {why}")),
                )),
                KvmState::Works { pku } => match (isolation, pku) {
                    (IsolationChoice::Mpk | IsolationChoice::Strict, false) => Ok(plan(
                        Accel::Tcg,
                        tcg_level,
                        Some("accel auto: KVM works but its CPU has no PKU, which this --isolation needs".into()),
                    )),
                    (IsolationChoice::None, _) => {
                        Ok(plan(Accel::Kvm, Level::None, Some("accel auto: a probe boot under KVM worked".into())))
                    }
                    (_, true) => Ok(plan(
                        Accel::Kvm,
                        tcg_level,
                        Some("accel auto: a probe boot under KVM worked; its CPU has PKU".into()),
                    )),
                    (_, false) => Ok(plan(
                        Accel::Kvm,
                        Level::None,
                        Some("accel auto: a probe boot under KVM worked; its CPU has no PKU".into()),
                    )),
                },
            }
        }
    }
}

/// Resolve the plan for real: /dev/kvm, and a probe boot of the main kernel
/// under KVM when needed.
pub fn resolve(accel: AccelChoice, isolation: IsolationChoice) -> Result<Plan, Error> {
    let mut build_error = None;
    let plan = decide(
        accel,
        isolation,
        qemu::kvm_device_usable,
        || match probe_kvm() {
            Ok(state) => state,
            Err(e) => {
                build_error = Some(e);
                KvmState::Unusable(String::new())
            }
        },
    );
    // A kernel that doesn't build is not a KVM problem: say so as it is.
    match build_error {
        Some(e) => Err(e),
        None => plan,
    }
}

/// Boot the main kernel under KVM with `isolation=auto` and read the result.
pub fn probe_kvm() -> Result<KvmState, Error> {
    let kernel = kbuild::build(Variant::Kernel)?;
    let boot = Boot {
        kernel,
        initrd: None,
        cmdline: "isolation=auto".into(),
        machine: Machine {
            accel: Accel::Kvm,
            pku: true,
        },
        timeout: Some(PROBE_TIMEOUT),
        memory_mib: crate::cli::DEFAULT_MEMORY_MIB,
        echo: qemu::Echo::OFF,
        net: None,
        volumes: Vec::new(),
        control: None,
        plugin: None,
        seed: None,
    };
    let out = qemu::run(&boot)?;
    Ok(read_probe(&out.end, &out.console, &out.stderr))
}

fn read_probe(end: &End, console: &crate::console::Console, stderr: &[String]) -> KvmState {
    match end {
        End::KvmFailure(line) => KvmState::Unusable(format!("QEMU reported \"{line}\"")),
        End::TimedOut => KvmState::Unusable(format!(
            "a probe boot under KVM did not finish within {} s",
            PROBE_TIMEOUT.as_secs()
        )),
        // Probe boots have no control channel, so catch no signal.
        End::Stopped(_) => KvmState::Unusable("the probe boot was stopped".into()),
        End::Exited(code) => {
            if let Some(panic) = &console.panic {
                return KvmState::Unusable(format!("the kernel panicked under KVM: {panic}"));
            }
            match (console.exit_status, console.banner) {
                (Some(_), Some(banner)) => KvmState::Works {
                    pku: banner.level != Level::None,
                },
                _ => {
                    let detail = stderr
                        .iter()
                        .find(|l| !l.trim().is_empty())
                        .cloned()
                        .unwrap_or_default();
                    KvmState::Unusable(format!(
                        "a probe boot under KVM ended without an exit status (QEMU exit code {}){}{}",
                        code.map_or("none".to_string(), |c| c.to_string()),
                        if detail.is_empty() { "" } else { ": " },
                        detail
                    ))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::Console;

    const OK: fn() -> Result<(), String> = || Ok(());
    const NO_DEVICE: fn() -> Result<(), String> = || Err("/dev/kvm does not exist".into());

    fn never() -> KvmState {
        panic!("probe not expected")
    }

    fn kvm(pku: bool) -> Machine {
        Machine {
            accel: Accel::Kvm,
            pku,
        }
    }

    fn tcg(pku: bool) -> Machine {
        Machine {
            accel: Accel::Tcg,
            pku,
        }
    }

    #[test]
    fn tcg_never_probes() {
        for (iso, level) in [
            (IsolationChoice::Auto, Level::Strict),
            (IsolationChoice::Strict, Level::Strict),
            (IsolationChoice::Mpk, Level::Mpk),
            (IsolationChoice::None, Level::None),
        ] {
            let p = decide(AccelChoice::Tcg, iso, || panic!("no device check"), never).unwrap();
            assert_eq!(
                (p.machine, p.level, p.note),
                (tcg(level != Level::None), level, None)
            );
        }
    }

    #[test]
    fn kvm_explicit() {
        let p = decide(AccelChoice::Kvm, IsolationChoice::None, OK, never).unwrap();
        assert_eq!((p.machine, p.level), (kvm(false), Level::None));
        let works = || KvmState::Works { pku: false };
        let p = decide(AccelChoice::Kvm, IsolationChoice::Auto, OK, works).unwrap();
        assert_eq!((p.machine, p.level), (kvm(false), Level::None));
        let p = decide(AccelChoice::Kvm, IsolationChoice::Auto, OK, || {
            KvmState::Works { pku: true }
        })
        .unwrap();
        assert_eq!((p.machine, p.level), (kvm(true), Level::Strict));
        let e = decide(AccelChoice::Kvm, IsolationChoice::Mpk, OK, works).unwrap_err();
        assert_eq!(e.exit_code(), 125);
        assert!(e.to_string().contains("PKU"), "{e}");
    }

    #[test]
    fn kvm_explicit_but_unusable_is_an_error() {
        let e = decide(AccelChoice::Kvm, IsolationChoice::None, NO_DEVICE, never).unwrap_err();
        assert_eq!(e.to_string(), "KVM unusable here: /dev/kvm does not exist");
        assert_eq!(e.exit_code(), 125);
        let e = decide(AccelChoice::Kvm, IsolationChoice::Auto, OK, || {
            KvmState::Unusable("emulation failure".into())
        })
        .unwrap_err();
        assert_eq!(e.to_string(), "KVM unusable here: emulation failure");
    }

    #[test]
    fn auto_falls_back_to_tcg_and_says_why() {
        let p = decide(AccelChoice::Auto, IsolationChoice::Auto, NO_DEVICE, never).unwrap();
        assert_eq!((p.machine, p.level), (tcg(true), Level::Strict));
        assert_eq!(
            p.describe(),
            "using TCG -cpu max, isolation strict (accel auto: /dev/kvm does not exist)"
        );
        let p = decide(AccelChoice::Auto, IsolationChoice::None, OK, || {
            KvmState::Unusable("hang".into())
        })
        .unwrap();
        assert_eq!((p.machine, p.level), (tcg(false), Level::None));
        assert!(p.note.unwrap().contains("KVM unusable here: hang"));
    }

    #[test]
    fn auto_uses_kvm_when_the_probe_works() {
        let no_pku = || KvmState::Works { pku: false };
        let p = decide(AccelChoice::Auto, IsolationChoice::Auto, OK, no_pku).unwrap();
        assert_eq!((p.machine, p.level), (kvm(false), Level::None));
        assert!(
            p.describe()
                .starts_with("using KVM -cpu host,-arch-capabilities,-pku, isolation none")
        );
        let p = decide(AccelChoice::Auto, IsolationChoice::None, OK, || {
            KvmState::Works { pku: true }
        })
        .unwrap();
        assert_eq!((p.machine, p.level), (kvm(false), Level::None));
        let p = decide(AccelChoice::Auto, IsolationChoice::Mpk, OK, || {
            KvmState::Works { pku: true }
        })
        .unwrap();
        assert_eq!((p.machine, p.level), (kvm(true), Level::Mpk));
        // mpk asked, KVM without PKU: TCG -cpu max.
        let p = decide(AccelChoice::Auto, IsolationChoice::Mpk, OK, no_pku).unwrap();
        assert_eq!((p.machine, p.level), (tcg(true), Level::Mpk));
        assert!(p.note.unwrap().contains("no PKU"));
    }

    fn console(lines: &[&str]) -> Console {
        let mut c = Console::default();
        lines.iter().for_each(|l| c.observe(l));
        c
    }

    #[test]
    fn probe_results() {
        let banner = "Isola 0.1.0 | isolation: none | boot: 3.1 ms";
        let ok = console(&[banner, "isola: exit status 0"]);
        assert_eq!(
            read_probe(&End::Exited(Some(1)), &ok, &[]),
            KvmState::Works { pku: false }
        );
        let mpk = console(&[
            "Isola | isolation: mpk | boot: 1 ms",
            "isola: exit status 0",
        ]);
        assert_eq!(
            read_probe(&End::Exited(Some(1)), &mpk, &[]),
            KvmState::Works { pku: true }
        );
        let failed = read_probe(
            &End::KvmFailure("KVM internal error. Suberror: 1".into()),
            &ok,
            &[],
        );
        assert!(matches!(failed, KvmState::Unusable(why) if why.contains("KVM internal error")));
        assert!(matches!(
            read_probe(&End::TimedOut, &ok, &[]),
            KvmState::Unusable(_)
        ));
        let panicked = console(&[banner, "KERNEL PANIC: #UD", "isola: exit status 0"]);
        assert!(
            matches!(read_probe(&End::Exited(Some(35)), &panicked, &[]), KvmState::Unusable(w) if w.contains("#UD"))
        );
        let silent = read_probe(
            &End::Exited(Some(1)),
            &console(&[]),
            &["qemu: failed to set MSR".into()],
        );
        assert!(
            matches!(silent, KvmState::Unusable(w) if w.contains("exit code 1): qemu: failed to set MSR"))
        );
    }
}
