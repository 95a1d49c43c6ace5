//! Command-line parsing, by hand (no dependency): `isola run`, `isola ktest`,
//! `isola help`. Produces a [`Command`]; every mistake is an
//! [`Error::Usage`] with a one-line message (exit code 2).

use crate::error::Error;

/// Default `--timeout` for `isola run`, in seconds.
pub const RUN_TIMEOUT_SECS: u64 = 60;
/// Default `--timeout` for `isola ktest`, in seconds (TCG is slow).
pub const KTEST_TIMEOUT_SECS: u64 = 300;
/// Largest accepted `--timeout`: one day.
const MAX_TIMEOUT_SECS: u64 = 24 * 60 * 60;

/// The usage text printed by `isola help` and after a usage error.
pub const USAGE: &str = "\
usage: isola run   [--accel auto|kvm|tcg] [--isolation auto|mpk|none]
                   [--timeout SECS] [--kernel-args STRING]
       isola ktest [--accel auto|kvm|tcg] [--isolation auto|mpk|none]
                   [--timeout SECS] [--stack-overflow]
       isola help | --help | --version

  run     build the kernel if needed, boot it in QEMU (microvm) with the
          serial console on stdout, and exit with the guest's status
  ktest   build and boot the in-kernel test suite; exit 0 iff it passed
          (--stack-overflow: the kernel that overflows its stack on purpose)

  --accel auto|kvm|tcg         auto (default): KVM when a probe boot under it
                               works, TCG otherwise
  --isolation auto|mpk|none    auto (default): mpk when the CPU has PKU;
                               mpk: PKU required (KVM if it offers PKU, else
                               TCG -cpu max); none: run without PKU
  --timeout SECS               kill the guest after SECS seconds
                               (default 60 for run, 300 for ktest)
  --kernel-args STRING         appended to the kernel command line

exit codes: run exits with the guest's status; ktest with 0 (passed) or 1;
  2 usage error, 124 guest timed out, 125 isola failed (QEMU missing, kernel
  build failed, KVM unusable, guest kernel panic, no exit status)";

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
    Mpk,
    None,
}

/// Options shared by `run` and `ktest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootOpts {
    pub accel: AccelChoice,
    pub isolation: IsolationChoice,
    pub timeout_secs: u64,
}

/// `isola run`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOpts {
    pub boot: BootOpts,
    /// Extra kernel command-line words (after `isolation=...`).
    pub kernel_args: String,
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
        "--timeout" => boot.timeout_secs = parse_timeout(flags.value(name, inline)?)?,
        _ => return Ok(false),
    }
    Ok(true)
}

fn parse_run(args: &[String]) -> Result<Command, Error> {
    let mut opts = RunOpts {
        boot: BootOpts {
            accel: AccelChoice::Auto,
            isolation: IsolationChoice::Auto,
            timeout_secs: RUN_TIMEOUT_SECS,
        },
        kernel_args: String::new(),
    };
    let mut flags = Flags::new(args);
    while let Some(item) = flags.next_item() {
        match item {
            Item::Flag(name, inline) => {
                if boot_flag(&mut opts.boot, &mut flags, name, inline)? {
                    continue;
                }
                match name {
                    "--kernel-args" => {
                        opts.kernel_args = parse_kernel_args(flags.value(name, inline)?)?
                    }
                    "--help" | "-h" => return Ok(Command::Help),
                    _ => return Err(Error::usage(format!("unknown option '{name}'"))),
                }
            }
            Item::Positional(arg) => {
                return Err(Error::usage(format!(
                    "unexpected argument '{arg}' (running a program inside comes in a later version)"
                )));
            }
        }
    }
    Ok(Command::Run(opts))
}

fn parse_ktest(args: &[String]) -> Result<Command, Error> {
    let mut opts = KtestOpts {
        boot: BootOpts {
            accel: AccelChoice::Auto,
            isolation: IsolationChoice::Auto,
            timeout_secs: KTEST_TIMEOUT_SECS,
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
        "mpk" => Ok(IsolationChoice::Mpk),
        "none" => Ok(IsolationChoice::None),
        _ => Err(Error::usage(format!(
            "--isolation must be auto, mpk or none, not '{value}'"
        ))),
    }
}

fn parse_timeout(value: &str) -> Result<u64, Error> {
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

/// The kernel command line is one line of printable text; `isolation=` is
/// the CLI's to set.
fn parse_kernel_args(value: &str) -> Result<String, Error> {
    if value.chars().any(|c| c.is_control()) {
        return Err(Error::usage(
            "--kernel-args must not contain control characters",
        ));
    }
    if value
        .split_whitespace()
        .any(|w| w.starts_with("isolation="))
    {
        return Err(Error::usage(
            "--kernel-args must not set isolation= (use --isolation)",
        ));
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
        assert_eq!(o.boot.timeout_secs, RUN_TIMEOUT_SECS);
        assert_eq!(o.kernel_args, "");
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
        assert_eq!(o.boot.timeout_secs, 5);
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
        assert_eq!(o.boot.timeout_secs, KTEST_TIMEOUT_SECS);
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
        assert!(usage_msg(run(&["--isolation", "strict"])).contains("auto, mpk or none"));
        assert!(usage_msg(run(&["prog"])).contains("unexpected argument 'prog'"));
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
        assert_eq!(run(&["--timeout", "1"]).unwrap().boot.timeout_secs, 1);
        assert_eq!(
            run(&["--timeout", "86400"]).unwrap().boot.timeout_secs,
            86400
        );
    }

    #[test]
    fn usage_names_every_option() {
        for word in [
            "--accel",
            "--isolation",
            "--timeout",
            "--kernel-args",
            "--stack-overflow",
            "ktest",
        ] {
            assert!(USAGE.contains(word), "{word}");
        }
    }
}
