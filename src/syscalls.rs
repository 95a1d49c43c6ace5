//! `isola syscalls [--markdown]`: what Isola does with each x86-64 Linux
//! system call, from the annotations of `syscall::support` (the kernel's
//! table is checked against them when it is built). `--markdown` prints
//! docs/syscalls.md; the tests below fail when that file is out of date or
//! when the kernel's table and the annotations disagree.

use crate::error::Error;

/// The parsed command: Markdown (docs/syscalls.md) or a plain listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyscallsOpts {
    pub markdown: bool,
}

pub fn parse(args: &[String]) -> Result<crate::cli::Command, Error> {
    let mut opts = SyscallsOpts { markdown: false };
    for arg in args {
        match arg.as_str() {
            "--markdown" => opts.markdown = true,
            other => return Err(Error::usage(format!("syscalls: unknown argument '{other}'"))),
        }
    }
    Ok(crate::cli::Command::Syscalls(opts))
}

/// docs/syscalls.md as it should be.
pub fn markdown() -> String {
    let mut text = String::new();
    syscall::support::write_markdown(&mut text).expect("writing to a String cannot fail");
    text
}

/// One line per call: number, name, state, note; then the counts.
pub fn listing() -> String {
    use std::fmt::Write;
    let mut text = String::new();
    for &(number, name) in syscall::nr::ALL {
        let (word, note) = syscall::support::support(number).map_or(("ENOSYS", ""), |s| (s.word(), s.note()));
        let _ = writeln!(text, "{number:>4} {name:<24} {word:<8} {note}");
    }
    let (full, partial, missing) = syscall::support::counts();
    let _ = writeln!(text, "{full} full, {partial} partial, {missing} missing (ENOSYS), of {}", syscall::nr::ALL.len());
    text
}

pub fn command(opts: &SyscallsOpts) -> Result<i32, Error> {
    print!("{}", if opts.markdown { markdown() } else { listing() });
    Ok(0)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;

    fn repo_file(path: &str) -> String {
        let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
        std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
    }

    #[test]
    fn docs_syscalls_md_is_current() {
        let want = markdown();
        let have = repo_file("docs/syscalls.md");
        if have != want {
            let first = have.lines().zip(want.lines()).position(|(a, b)| a != b).unwrap_or(have.lines().count().min(want.lines().count()));
            panic!(
                "docs/syscalls.md is out of date (first difference at line {}): run \
                 `cargo run --release -- syscalls --markdown > docs/syscalls.md`",
                first + 1
            );
        }
    }

    /// The names of the kernel's `syscall_table!` (kernel/src/syscalls/mod.rs).
    fn kernel_table() -> BTreeSet<String> {
        let source = repo_file("kernel/src/syscalls/mod.rs");
        let start = source.find("\nsyscall_table! {").expect("the kernel's syscall_table! invocation");
        let body = &source[start..];
        let end = body.find("\n}").expect("the end of the table");
        body[..end]
            .lines()
            .filter_map(|line| line.trim().split_once("=>").map(|(name, _)| name.trim().to_string()))
            .collect()
    }

    #[test]
    fn syscall_table_and_annotations_agree() {
        let table = kernel_table();
        assert!(table.len() > 100, "parsed only {} entries of the kernel's table", table.len());
        let annotated: BTreeSet<String> = syscall::support::ANNOTATIONS.iter().map(|a| a.1.to_string()).collect();
        let unannotated: Vec<_> = table.difference(&annotated).collect();
        let undispatched: Vec<_> = annotated.difference(&table).collect();
        assert!(unannotated.is_empty(), "dispatched by the kernel but not annotated in syscall/src/support.rs: {unannotated:?}");
        assert!(undispatched.is_empty(), "annotated in syscall/src/support.rs but not dispatched by the kernel: {undispatched:?}");
    }

    #[test]
    fn listing_has_every_call_and_the_counts() {
        let text = listing();
        assert_eq!(text.lines().count(), syscall::nr::ALL.len() + 1);
        assert!(text.lines().next().is_some_and(|l| l.starts_with("   0 read ") && l.contains(" full ")));
        assert!(text.lines().last().is_some_and(|l| l.ends_with(&format!("of {}", syscall::nr::ALL.len()))));
    }

    #[test]
    fn arguments() {
        let args = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(parse(&args(&[])).unwrap(), crate::cli::Command::Syscalls(SyscallsOpts { markdown: false }));
        assert_eq!(parse(&args(&["--markdown"])).unwrap(), crate::cli::Command::Syscalls(SyscallsOpts { markdown: true }));
        assert!(parse(&args(&["--html"])).is_err());
    }
}
