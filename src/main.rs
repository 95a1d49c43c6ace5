//! `isola`, the host CLI of the Isola unikernel: builds the kernel image,
//! boots it in QEMU (microvm) and reports what the guest did.
//!
//! Modules: [`cli`] parses the command line; [`plan`] picks accelerator and
//! isolation level; [`kbuild`] builds a kernel variant and [`image`] post-links
//! it (symbol table); [`initramfs`] packs `isola run PROGRAM`'s archive;
//! [`qemu`] boots it under a timeout (and [`lifeline`] makes QEMU die with
//! isola); [`forward`] serves `-p` host ports in front of QEMU's user
//! network; [`console`] reads the guest's serial lines; [`commands`] turns
//! all that into exit codes ([`error`]). [`bench`] compares Isola with a
//! Linux guest and the host; [`load`] is the HTTP load generator of
//! `isola load` and `isola bench http`; [`rootfs_build`] makes a guest root
//! from Debian packages (`isola rootfs`); [`syscalls`] lists what Isola
//! does with each system call (docs/syscalls.md); [`plugin`] builds the
//! TCG plugins, [`profile`] turns one's samples into a flame graph
//! (`isola run --profile`) and [`icount`] reads another's instruction
//! counts (`--count-instructions`). See docs/cli.md.

// One module may use `unsafe`: lifeline (PR_SET_PDEATHSIG between fork and
// exec, so that QEMU dies with isola); everything else is safe code.
#![deny(unsafe_code)]

mod bench;
mod cli;
mod commands;
mod console;
mod control;
mod error;
mod forward;
mod icount;
mod image;
mod initramfs;
mod kbuild;
mod lifeline;
mod linux_run;
mod load;
mod plan;
mod plugin;
mod profile;
mod qemu;
mod rootfs_build;
mod syscalls;
#[cfg(test)]
mod testelf;

use std::process::ExitCode;

use cli::Command;
use error::Error;

fn main() -> ExitCode {
    let args = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned());
    let result = cli::parse(args).and_then(|command| match command {
        Command::Help => {
            println!("{}", cli::USAGE);
            Ok(0)
        }
        Command::Version => {
            println!("isola {}", env!("CARGO_PKG_VERSION"));
            Ok(0)
        }
        Command::Run(opts) => commands::run(&opts),
        Command::Ktest(opts) => commands::ktest(&opts),
        Command::Bench(opts) => bench::run(&opts),
        Command::BenchHttp(opts) => bench::http::run(&opts),
        Command::BenchRedis(opts) => bench::redis::run(&opts),
        Command::Load(opts) => load::command(&opts),
        Command::Rootfs(opts) => rootfs_build::command(&opts),
        Command::Syscalls(opts) => syscalls::command(&opts),
        Command::LinuxRun(opts) => linux_run::command(&opts),
        Command::Ps(opts) => control::ps(&opts),
        Command::Kill(opts) => control::kill(&opts),
    });
    let code = match result {
        Ok(code) => code,
        Err(Error::Usage(msg)) => {
            eprintln!("isola: {msg}");
            eprintln!("{}", cli::USAGE);
            error::EXIT_USAGE
        }
        Err(e) => {
            eprintln!("isola: {e}");
            e.exit_code()
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(u8::MAX))
}
