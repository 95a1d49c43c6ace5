//! Isolation probes from `userland/`, booted in the real kernel: what a
//! process in its own protection-key domain sees when it reaches for the
//! kernel. Under `mpk` each probe gets the exact outcome it checks for;
//! without PKU they report "not applicable: no PKU" and count as skipped.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use common::{Output, isola, root};

/// A program of `target/userland`, built by `scripts/build-userland` if missing.
fn userland(name: &str) -> String {
    static BUILT: OnceLock<()> = OnceLock::new();
    let path: PathBuf = root().join("target/userland").join(name);
    BUILT.get_or_init(|| {
        if !path.exists() {
            let status = Command::new(root().join("scripts/build-userland")).status().expect("run scripts/build-userland");
            assert!(status.success(), "scripts/build-userland failed");
        }
    });
    assert!(path.exists(), "{} is missing: run scripts/build-userland", path.display());
    path.to_str().unwrap().to_string()
}

fn run(level: &str, program: &str) -> Output {
    run_with(level, &[], program)
}

fn run_with(level: &str, options: &[&str], program: &str) -> Output {
    let program = userland(program);
    let mut args = vec!["run", "--accel", "tcg", "--isolation", level, "--timeout", "180"];
    args.extend_from_slice(options);
    args.push(&program);
    isola(&args)
}

/// The program's own summary line: (passed, failed, skipped).
fn summary(out: &Output) -> (u32, u32, u32) {
    let line = out
        .stdout
        .lines()
        .rev()
        .find(|l| l.contains(" passed, ") && l.contains(" failed"))
        .unwrap_or_else(|| panic!("no summary line\n{}", out.show()));
    let numbers: Vec<u32> = line.split(|c: char| !c.is_ascii_digit()).filter_map(|w| w.parse().ok()).collect();
    (numbers[0], numbers[1], numbers.get(2).copied().unwrap_or(0))
}

#[test]
fn reading_kernel_memory_kills_the_process_with_sigsegv() {
    for level in ["strict", "mpk"] {
        let out = run(level, "probe-kernel-read");
        assert_eq!(out.code, 139, "{}", out.show());
        // The kill is a notice: on stderr without --verbose, never in the
        // program's stdout; the kernel's log (exit status) stays hidden.
        let line = out.err_line("isola: pid 1 (probe-kernel-read) killed by SIGSEGV").unwrap_or_else(|| panic!("{}", out.show()));
        if level == "mpk" {
            assert!(line.contains("key 0") && line.contains("PK"), "the fault line names the key and the PK bit: {line}");
        }
        assert!(!out.stdout.contains("killed by") && !out.says("isola: exit status"), "{}", out.show());
        assert!(!out.says("INFO "), "{}", out.show());
    }
}

#[test]
fn kernel_pointers_passed_to_syscalls_are_efault() {
    let out = run("mpk", "probe-efault");
    assert_eq!(out.code, 0, "{}", out.show());
    let (passed, failed, skipped) = summary(&out);
    assert!(passed >= 10 && failed == 0 && skipped == 0, "{}", out.show());
}

#[test]
fn mprotect_and_munmap_of_kernel_ranges_are_refused() {
    let out = run("mpk", "probe-mprotect");
    assert_eq!(out.code, 0, "{}", out.show());
    let (passed, failed, skipped) = summary(&out);
    assert!(passed > 0 && failed == 0 && skipped == 0, "{}", out.show());
}

#[test]
fn a_program_containing_wrpkru_is_refused_with_the_offset() {
    for level in ["mpk", "none"] {
        let out = run(level, "probe-wrpkru");
        assert_eq!(out.code, 126, "{}", out.show());
        let line = out.err_line("isola: cannot execute /bin/probe-wrpkru").unwrap_or_else(|| panic!("{}", out.show()));
        assert!(line.contains("WRPKRU") && line.contains("file offset 0x") && line.contains("ENOEXEC"), "{line}");
    }
}

#[test]
fn without_pku_the_probes_are_skipped_not_passed() {
    for probe in ["probe-efault", "probe-mprotect", "probe-kernel-read"] {
        let out = run("none", probe);
        assert_eq!(out.code, 0, "{}", out.show());
        assert!(out.stdout.contains("not applicable: no PKU"), "{}", out.show());
        let (_, failed, skipped) = summary(&out);
        assert!(failed == 0 && skipped > 0, "{probe}: isolation checks must be counted as skipped\n{}", out.show());
    }
}

#[test]
fn the_kernel_stays_alive_after_a_domain_fault() {
    // The fault kills pid 1, and the kernel still reports its status and
    // leaves cleanly (no KERNEL PANIC); its log, with --verbose, on stderr.
    let out = run_with("mpk", &["--verbose"], "probe-kernel-read");
    assert!(!out.says("KERNEL PANIC"), "{}", out.show());
    assert!(out.has_err_line("isola: exit status 139"), "{}", out.show());
    assert!(out.stderr.contains("INFO  isola_kernel: cmdline: "), "{}", out.show());
    assert!(!out.stdout.contains("isola"), "{}", out.show());
}

// ---- processes: fork, signals, sigreturn ---------------------------------

#[test]
fn a_thousand_children_reading_kernel_memory_all_die_of_sigsegv() {
    let out = run("mpk", "probe-fork-segv");
    assert_eq!(out.code, 0, "{}", out.show());
    assert!(
        out.has_line("ok - 1000 children reading kernel memory all die of SIGSEGV"),
        "{}",
        out.show()
    );
    assert!(out.has_line("ok - the kernel's free memory returns to its starting figure"), "{}", out.show());
    let (passed, failed, skipped) = summary(&out);
    assert!(passed == 4 && failed == 0 && skipped == 0, "{}", out.show());
    assert!(!out.says("KERNEL PANIC"), "{}", out.show());
}

#[test]
fn pkru_forged_in_a_signal_frame_is_not_restored() {
    // Two checks in children, then the probe reads kernel memory itself
    // after its own forged sigreturn: it must die of SIGSEGV.
    let out = run("mpk", "probe-sigreturn-pkru");
    assert_eq!(out.code, 139, "{}", out.show());
    let (passed, failed, skipped) = summary(&out);
    assert!(passed == 2 && failed == 0 && skipped == 0, "{}", out.show());
    assert!(out.err_line("isola: pid 1 (probe-sigreturn-pkru) killed by SIGSEGV").is_some(), "{}", out.show());
}

#[test]
fn without_pku_the_process_probes_are_skipped_not_passed() {
    for probe in ["probe-fork-segv", "probe-sigreturn-pkru"] {
        let out = run("none", probe);
        assert_eq!(out.code, 0, "{}", out.show());
        assert!(out.stdout.contains("not applicable: no PKU"), "{}", out.show());
        let (passed, failed, skipped) = summary(&out);
        assert!(
            passed == 0 && failed == 0 && skipped > 0,
            "{probe}: isolation checks must be counted as skipped\n{}",
            out.show()
        );
    }
}

#[test]
fn a_domain_fault_reaches_a_sigsegv_handler_with_segv_pkuerr() {
    let out = run("mpk", "test-signals");
    assert!(
        out.has_line("ok - a domain fault: SIGSEGV handler sees SEGV_PKUERR, si_addr and si_pkey 0"),
        "{}",
        out.show()
    );
}

// ---- the gate: jumps onto every WRPKRU, software interrupts ---------------

/// Every WRPKRU in the kernel image that `isola run` boots, and the tops of
/// the IST stacks of the interrupt and NMI slots (7 and 2), from the image's
/// symbols.
fn kernel_wrpkrus() -> (Vec<u64>, u64, u64, Vec<u64>) {
    // `isola run` builds the image if it is missing or stale.
    let warm = run("none", "hello-c");
    assert_eq!(warm.code, 0, "{}", warm.show());
    let bytes = std::fs::read(root().join("target/isola/kernel.elf")).expect("read target/isola/kernel.elf");
    let elf = goblin::elf::Elf::parse(&bytes).expect("parse the kernel image");
    let mut wrpkrus = Vec::new();
    for header in elf.program_headers.iter().filter(|h| h.p_type == goblin::elf::program_header::PT_LOAD && h.is_executable()) {
        let start = header.p_offset as usize;
        let code = &bytes[start..start + header.p_filesz as usize];
        wrpkrus.extend(pkru::scan::find_wrpkru(code).map(|at| header.p_vaddr + at as u64));
    }
    let symbol = |suffix: &str| {
        elf.syms
            .iter()
            .find(|s| {
                let name = elf.strtab.get_at(s.st_name).unwrap_or("");
                format!("{:#}", rustc_demangle::demangle(name)).ends_with(suffix)
            })
            .map(|s| s.st_value)
            .unwrap_or_else(|| panic!("the image names no {suffix}"))
    };
    let ist = symbol("gdt::IST_STACKS");
    let tables = vec![symbol("idt::IDT"), symbol("gdt::GDT"), symbol("gdt::TSS")];
    const IST_STACK_SIZE: u64 = 16 * 1024;
    (wrpkrus, ist + 7 * IST_STACK_SIZE, ist + 2 * IST_STACK_SIZE, tables)
}

#[test]
fn no_jump_onto_any_kernel_wrpkru_returns_with_other_rights_and_the_descriptor_tables_are_read_only() {
    jump_ins("mpk");
}

#[test]
fn at_strict_the_gate_escapes_stay_blocked() {
    // A ring-3 process cannot even fetch kernel code or write the IST and
    // descriptor pages (U/S=0): every attempt dies.
    jump_ins("strict");
}

fn jump_ins(level: &str) {
    let (wrpkrus, interrupt_top, nmi_top, tables) = kernel_wrpkrus();
    // The gate's entry, return, interrupt entry and abort, and the two
    // kernel-only loads: if the image grows another, it is tested too.
    assert!(wrpkrus.len() >= 4, "WRPKRUs found: {wrpkrus:x?}");
    let mut args: Vec<String> = ["run", "--accel", "tcg", "--isolation", level, "--timeout", "300"].map(String::from).to_vec();
    args.push(userland("probe-gate-jumps"));
    args.extend(["-r", "100", "-i", &format!("{interrupt_top:#x}"), "-n", &format!("{nmi_top:#x}")].map(String::from));
    for table in &tables {
        args.extend(["-w".to_string(), format!("{table:#x}")]);
    }
    args.extend(wrpkrus.iter().map(|a| format!("{a:#x}")));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = isola(&args);
    assert_eq!(out.code, 0, "{}", out.show());
    assert!(!out.says("ESCAPED") && !out.says("KERNEL PANIC"), "{}", out.show());
    let (passed, failed, skipped) = summary(&out);
    // Six ways per WRPKRU, a write per descriptor table, and the parent's own line.
    assert!(passed as usize == wrpkrus.len() * 6 + tables.len() + 1 && failed == 0 && skipped == 0, "{}", out.show());
}

#[test]
fn software_interrupts_and_split_wrpkru_kill_or_refuse_only_the_caller() {
    for level in ["strict", "mpk", "none"] {
        let out = run(level, "probe-int-n");
        assert_eq!(out.code, 0, "{}", out.show());
        assert!(!out.says("KERNEL PANIC"), "{}", out.show());
        let (passed, failed, skipped) = summary(&out);
        assert!(passed == 16 && failed == 0 && skipped == 0, "{level}: {}", out.show());
        // In ring 0 every gate takes `int n` and the kernel tells; in ring 3
        // the CPU refuses it first (#GP).
        let why = if level == "strict" { "general protection fault at rip 0x4" } else { "software interrupt int 0x8 at rip 0x4" };
        assert!(out.stderr.contains(why), "the kill line says why: {}", out.show());
    }
}

#[test]
fn at_strict_privileged_instructions_kill_only_the_process() {
    let out = run("strict", "probe-privileged");
    assert_eq!(out.code, 0, "{}", out.show());
    assert!(!out.says("KERNEL PANIC"), "{}", out.show());
    let (passed, failed, skipped) = summary(&out);
    assert!(passed == 22 && failed == 0 && skipped == 0, "{}", out.show());
    // At mpk they would run (ring 0): the probe must say so, not pass.
    let out = run("mpk", "probe-privileged");
    let (passed, failed, skipped) = summary(&out);
    assert!(passed == 1 && failed == 0 && skipped == 21, "{}", out.show());
}

#[test]
fn hostile_times_counts_and_fd_limits_get_linux_answers_and_the_kernel_lives() {
    // alarm(1 << 40) and setitimer(2^62 s) panicked the kernel before the
    // checked conversions (issue 9); every check is also run on the host.
    let out = run("mpk", "probe-hostile-args");
    assert_eq!(out.code, 0, "{}", out.show());
    assert!(!out.says("KERNEL PANIC"), "{}", out.show());
    let (passed, failed, skipped) = summary(&out);
    assert!(passed >= 120 && failed == 0 && skipped == 0, "{}", out.show());
    assert!(out.has_line("ok - kernel alive after all of it"), "{}", out.show());
}
