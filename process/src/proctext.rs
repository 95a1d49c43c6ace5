//! The text of Linux's per-process and CPU pseudo-files, byte for byte:
//! `/proc/PID/maps` lines ([`maps_line`]), `/proc/PID/status`
//! ([`status_text`] from a [`Status`]) and the `flags` of `/proc/cpuinfo`
//! ([`cpu_flags`] from raw CPUID registers). The kernel gathers the values;
//! the layout lives here so that host tests can hold it to Linux's.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

/// One line of `/proc/PID/maps`.
#[derive(Clone, Copy, Debug)]
pub struct MapsEntry<'a> {
    pub start: u64,
    pub end: u64,
    pub read: bool,
    pub write: bool,
    pub exec: bool,
    /// MAP_SHARED (`s`) or private (`p`).
    pub shared: bool,
    /// Offset into the file in bytes (0 for anonymous memory).
    pub offset: u64,
    pub dev_major: u32,
    pub dev_minor: u32,
    pub inode: u64,
    /// File path, `[heap]`, `[stack]`, or empty for anonymous memory.
    pub path: &'a str,
}

/// Width Linux pads the fields to before a path
/// (`25 + sizeof(void *) * 6 - 1` in fs/proc/task_mmu.c).
const MAPS_PATH_COLUMN: usize = 72;

/// The line Linux prints for `e`, newline included. The inode is always
/// followed by one space; with a path, spaces pad to column 72 and one more
/// separates the path (show_vma_header_prefix + seq_pad).
pub fn maps_line(e: &MapsEntry<'_>) -> String {
    let flag = |on: bool, c: char| if on { c } else { '-' };
    let mut line = String::new();
    let _ = write!(
        line,
        "{:08x}-{:08x} {}{}{}{} {:08x} {:02x}:{:02x} {} ",
        e.start,
        e.end,
        flag(e.read, 'r'),
        flag(e.write, 'w'),
        flag(e.exec, 'x'),
        if e.shared { 's' } else { 'p' },
        e.offset,
        e.dev_major,
        e.dev_minor,
        e.inode
    );
    if !e.path.is_empty() {
        while line.len() < MAPS_PATH_COLUMN {
            line.push(' ');
        }
        line.push(' ');
        line.push_str(e.path);
    }
    line.push('\n');
    line
}

/// What `/proc/PID/status` reports, as the kernel knows it.
#[derive(Clone, Debug, Default)]
pub struct Status<'a> {
    pub name: &'a str,
    pub umask: u32,
    /// State letter: R, S, D, T, Z ...
    pub state: char,
    pub pid: u32,
    pub ppid: u32,
    pub pgid: u32,
    pub sid: u32,
    /// Real, effective, saved, filesystem.
    pub uids: [u32; 4],
    pub gids: [u32; 4],
    pub groups: &'a [u32],
    /// Descriptor-table slots (Linux: the allocated fdtable size).
    pub fd_size: u64,
    pub vm_peak_kib: u64,
    pub vm_size_kib: u64,
    pub vm_hwm_kib: u64,
    pub vm_rss_kib: u64,
    pub vm_data_kib: u64,
    pub vm_stk_kib: u64,
    pub vm_exe_kib: u64,
    pub threads: u32,
    pub sigq_queued: u64,
    pub sigq_limit: u64,
    pub sig_pending: u64,
    pub shared_pending: u64,
    pub sig_blocked: u64,
    pub sig_ignored: u64,
    pub sig_caught: u64,
    /// Whether the process holds every capability in its permitted and
    /// effective sets (`Credentials`: all or nothing).
    pub caps_permitted: bool,
    pub caps_effective: bool,
    /// Bitmask of CPUs the process may run on, and their count.
    pub cpus: u32,
    pub voluntary_switches: u64,
    pub nonvoluntary_switches: u64,
}

/// Every capability, CAP_CHOWN (0) to CAP_CHECKPOINT_RESTORE (40), Linux
/// 5.9 on: what root holds and every process's bounding set.
pub const ALL_CAPS: u64 = (1 << 41) - 1;

/// The `0-N` list form of `count` CPUs (`0` for one).
pub fn cpu_list(count: u32) -> String {
    let mut s = String::new();
    match count {
        0 | 1 => s.push('0'),
        n => {
            let _ = write!(s, "0-{}", n - 1);
        }
    }
    s
}

fn state_name(state: char) -> &'static str {
    match state {
        'R' => "R (running)",
        'S' => "S (sleeping)",
        'D' => "D (disk sleep)",
        'T' => "T (stopped)",
        't' => "t (tracing stop)",
        'X' => "X (dead)",
        'Z' => "Z (zombie)",
        _ => "S (sleeping)",
    }
}

/// `/proc/PID/status` in Linux 6.x's order and layout (tab after the
/// colon, `%8lu kB` for sizes, 16 hex digits for signal sets). Isola has
/// no capabilities, seccomp, NUMA or namespaces: those lines show what
/// Linux shows for an unprivileged process in the initial namespaces.
pub fn status_text(s: &Status<'_>) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "Name:\t{}", s.name);
    let _ = writeln!(t, "Umask:\t{:04o}", s.umask);
    let _ = writeln!(t, "State:\t{}", state_name(s.state));
    let _ = writeln!(t, "Tgid:\t{}", s.pid);
    let _ = writeln!(t, "Ngid:\t0");
    let _ = writeln!(t, "Pid:\t{}", s.pid);
    let _ = writeln!(t, "PPid:\t{}", s.ppid);
    let _ = writeln!(t, "TracerPid:\t0");
    let [ru, eu, su, fu] = s.uids;
    let _ = writeln!(t, "Uid:\t{ru}\t{eu}\t{su}\t{fu}");
    let [rg, eg, sg, fg] = s.gids;
    let _ = writeln!(t, "Gid:\t{rg}\t{eg}\t{sg}\t{fg}");
    let _ = writeln!(t, "FDSize:\t{}", s.fd_size);
    t.push_str("Groups:\t");
    for g in s.groups {
        let _ = write!(t, "{g} ");
    }
    t.push('\n');
    let _ = writeln!(t, "NStgid:\t{}", s.pid);
    let _ = writeln!(t, "NSpid:\t{}", s.pid);
    let _ = writeln!(t, "NSpgid:\t{}", s.pgid);
    let _ = writeln!(t, "NSsid:\t{}", s.sid);
    let _ = writeln!(t, "Kthread:\t0");
    let kib = |t: &mut String, name: &str, v: u64| {
        let _ = writeln!(t, "{name}:\t{v:>8} kB");
    };
    kib(&mut t, "VmPeak", s.vm_peak_kib);
    kib(&mut t, "VmSize", s.vm_size_kib);
    kib(&mut t, "VmLck", 0);
    kib(&mut t, "VmPin", 0);
    kib(&mut t, "VmHWM", s.vm_hwm_kib);
    kib(&mut t, "VmRSS", s.vm_rss_kib);
    // Every frame a process holds is anonymous memory to Isola's count.
    kib(&mut t, "RssAnon", s.vm_rss_kib);
    kib(&mut t, "RssFile", 0);
    kib(&mut t, "RssShmem", 0);
    kib(&mut t, "VmData", s.vm_data_kib);
    kib(&mut t, "VmStk", s.vm_stk_kib);
    kib(&mut t, "VmExe", s.vm_exe_kib);
    kib(&mut t, "VmLib", 0);
    kib(&mut t, "VmPTE", 0);
    kib(&mut t, "VmSwap", 0);
    kib(&mut t, "HugetlbPages", 0);
    let _ = writeln!(t, "CoreDumping:\t0");
    let _ = writeln!(t, "THP_enabled:\t0");
    let _ = writeln!(t, "untag_mask:\t0xffffffffffffffff");
    let _ = writeln!(t, "Threads:\t{}", s.threads);
    let _ = writeln!(t, "SigQ:\t{}/{}", s.sigq_queued, s.sigq_limit);
    let _ = writeln!(t, "SigPnd:\t{:016x}", s.sig_pending);
    let _ = writeln!(t, "ShdPnd:\t{:016x}", s.shared_pending);
    let _ = writeln!(t, "SigBlk:\t{:016x}", s.sig_blocked);
    let _ = writeln!(t, "SigIgn:\t{:016x}", s.sig_ignored);
    let _ = writeln!(t, "SigCgt:\t{:016x}", s.sig_caught);
    let full = |held: bool| if held { ALL_CAPS } else { 0 };
    let sets = [("CapInh", 0), ("CapPrm", full(s.caps_permitted)), ("CapEff", full(s.caps_effective)), ("CapBnd", ALL_CAPS), ("CapAmb", 0)];
    for (set, bits) in sets {
        let _ = writeln!(t, "{set}:\t{bits:016x}");
    }
    let _ = writeln!(t, "NoNewPrivs:\t0");
    let _ = writeln!(t, "Seccomp:\t0");
    let _ = writeln!(t, "Seccomp_filters:\t0");
    let _ = writeln!(t, "Speculation_Store_Bypass:\tnot vulnerable");
    let _ = writeln!(t, "SpeculationIndirectBranch:\tunknown");
    let mask: u64 = if s.cpus >= 64 { u64::MAX } else { (1u64 << s.cpus.max(1)) - 1 };
    let _ = writeln!(t, "Cpus_allowed:\t{mask:x}");
    let _ = writeln!(t, "Cpus_allowed_list:\t{}", cpu_list(s.cpus));
    let _ = writeln!(t, "Mems_allowed:\t00000001");
    let _ = writeln!(t, "Mems_allowed_list:\t0");
    let _ = writeln!(t, "voluntary_ctxt_switches:\t{}", s.voluntary_switches);
    let _ = writeln!(t, "nonvoluntary_ctxt_switches:\t{}", s.nonvoluntary_switches);
    t
}

/// The CPUID registers `/proc/cpuinfo`'s flags come from.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuidFlags {
    /// Leaf 1 EDX and ECX.
    pub l1_edx: u32,
    pub l1_ecx: u32,
    /// Leaf 7 subleaf 0 EBX, ECX, EDX.
    pub l7_ebx: u32,
    pub l7_ecx: u32,
    pub l7_edx: u32,
    /// Leaf 0x8000_0001 EDX and ECX.
    pub ext_edx: u32,
    pub ext_ecx: u32,
}

/// (bit, Linux's name) of leaf 1 EDX (arch/x86/include/asm/cpufeatures.h word 0).
const L1_EDX: &[(u32, &str)] = &[
    (0, "fpu"), (1, "vme"), (2, "de"), (3, "pse"), (4, "tsc"), (5, "msr"), (6, "pae"), (7, "mce"),
    (8, "cx8"), (9, "apic"), (11, "sep"), (12, "mtrr"), (13, "pge"), (14, "mca"), (15, "cmov"),
    (16, "pat"), (17, "pse36"), (18, "pn"), (19, "clflush"), (21, "dts"), (22, "acpi"), (23, "mmx"),
    (24, "fxsr"), (25, "sse"), (26, "sse2"), (27, "ss"), (28, "ht"), (29, "tm"), (30, "ia64"), (31, "pbe"),
];
/// Leaf 1 ECX (word 4).
const L1_ECX: &[(u32, &str)] = &[
    (0, "pni"), (1, "pclmulqdq"), (2, "dtes64"), (3, "monitor"), (4, "ds_cpl"), (5, "vmx"), (6, "smx"),
    (7, "est"), (8, "tm2"), (9, "ssse3"), (10, "cid"), (11, "sdbg"), (12, "fma"), (13, "cx16"),
    (14, "xtpr"), (15, "pdcm"), (17, "pcid"), (18, "dca"), (19, "sse4_1"), (20, "sse4_2"),
    (21, "x2apic"), (22, "movbe"), (23, "popcnt"), (24, "tsc_deadline_timer"), (25, "aes"),
    (26, "xsave"), (28, "avx"), (29, "f16c"), (30, "rdrand"), (31, "hypervisor"),
];
/// Leaf 0x8000_0001 EDX (word 1; the bits that repeat leaf 1 are not shown).
const EXT_EDX: &[(u32, &str)] = &[
    (11, "syscall"), (19, "mp"), (20, "nx"), (22, "mmxext"), (25, "fxsr_opt"), (26, "pdpe1gb"),
    (27, "rdtscp"), (29, "lm"), (30, "3dnowext"), (31, "3dnow"),
];
/// Leaf 0x8000_0001 ECX (word 6).
const EXT_ECX: &[(u32, &str)] = &[
    (0, "lahf_lm"), (1, "cmp_legacy"), (2, "svm"), (3, "extapic"), (4, "cr8_legacy"), (5, "abm"),
    (6, "sse4a"), (7, "misalignsse"), (8, "3dnowprefetch"), (9, "osvw"), (10, "ibs"), (11, "xop"),
    (12, "skinit"), (13, "wdt"), (15, "lwp"), (16, "fma4"), (17, "tce"), (19, "nodeid_msr"),
    (21, "tbm"), (22, "topoext"), (23, "perfctr_core"), (24, "perfctr_nb"), (26, "bpext"),
    (27, "ptsc"), (28, "perfctr_llc"), (29, "mwaitx"),
];
/// Leaf 7 EBX (word 9).
const L7_EBX: &[(u32, &str)] = &[
    (0, "fsgsbase"), (1, "tsc_adjust"), (2, "sgx"), (3, "bmi1"), (4, "hle"), (5, "avx2"),
    (7, "smep"), (8, "bmi2"), (9, "erms"), (10, "invpcid"), (11, "rtm"), (12, "cqm"), (14, "mpx"),
    (15, "rdt_a"), (16, "avx512f"), (17, "avx512dq"), (18, "rdseed"), (19, "adx"), (20, "smap"),
    (21, "avx512ifma"), (23, "clflushopt"), (24, "clwb"), (25, "intel_pt"), (26, "avx512pf"),
    (27, "avx512er"), (28, "avx512cd"), (29, "sha_ni"), (30, "avx512bw"), (31, "avx512vl"),
];
/// Leaf 7 ECX (word 16).
const L7_ECX: &[(u32, &str)] = &[
    (1, "avx512vbmi"), (2, "umip"), (3, "pku"), (4, "ospke"), (5, "waitpkg"), (6, "avx512_vbmi2"),
    (8, "gfni"), (9, "vaes"), (10, "vpclmulqdq"), (11, "avx512_vnni"), (12, "avx512_bitalg"),
    (13, "tme"), (14, "avx512_vpopcntdq"), (16, "la57"), (22, "rdpid"), (24, "bus_lock_detect"),
    (25, "cldemote"), (27, "movdiri"), (28, "movdir64b"), (29, "enqcmd"), (30, "sgx_lc"),
];
/// Leaf 7 EDX (word 18).
const L7_EDX: &[(u32, &str)] = &[
    (2, "avx512_4vnniw"), (3, "avx512_4fmaps"), (4, "fsrm"), (8, "avx512_vp2intersect"),
    (10, "md_clear"), (14, "serialize"), (16, "tsxldtrk"), (18, "pconfig"), (19, "arch_lbr"),
    (22, "amx_bf16"), (23, "avx512_fp16"), (24, "amx_tile"), (25, "amx_int8"),
    (28, "flush_l1d"), (29, "arch_capabilities"),
];

/// Linux's names of the features set in `r`, in cpuinfo's order (by
/// feature word: leaf 1 EDX, 0x8000_0001 EDX, leaf 1 ECX, 0x8000_0001 ECX,
/// leaf 7 EBX, ECX, EDX). `ospke` is CPUID's OSPKE bit: set once the kernel
/// has turned CR4.PKE on, as on Linux.
pub fn cpu_flags(r: &CpuidFlags) -> Vec<&'static str> {
    let mut flags = Vec::new();
    for (reg, table) in [
        (r.l1_edx, L1_EDX),
        (r.ext_edx, EXT_EDX),
        (r.l1_ecx, L1_ECX),
        (r.ext_ecx, EXT_ECX),
        (r.l7_ebx, L7_EBX),
        (r.l7_ecx, L7_ECX),
        (r.l7_edx, L7_EDX),
    ] {
        flags.extend(table.iter().filter(|(bit, _)| reg >> bit & 1 != 0).map(|(_, name)| *name));
    }
    flags
}

/// What one `/proc/cpuinfo` block shows, from CPUID.
#[derive(Clone, Debug, Default)]
pub struct CpuInfo<'a> {
    /// Leaf 0's EBX, EDX, ECX as text ("GenuineIntel").
    pub vendor: &'a str,
    /// Leaf 0 EAX (highest standard leaf).
    pub max_leaf: u32,
    /// Leaf 1 EAX (family, model, stepping).
    pub signature: u32,
    /// Leaf 1 EBX bits 15:8 times 8.
    pub clflush_bytes: u32,
    /// The brand string (leaves 0x8000_0002..4), trimmed.
    pub model_name: &'a str,
    /// Leaf 0x8000_0008 EAX bits 7:0 and 15:8.
    pub phys_bits: u32,
    pub virt_bits: u32,
    pub flags: CpuidFlags,
}

/// (family, model, stepping) as Linux decodes leaf 1 EAX
/// (arch/x86/lib/cpu.c: the extended family adds when the base is 0xf,
/// the extended model prefixes when the family is 6 or more).
pub fn cpu_signature(eax: u32) -> (u32, u32, u32) {
    let base_family = eax >> 8 & 0xf;
    let family = if base_family == 0xf { base_family + (eax >> 20 & 0xff) } else { base_family };
    let mut model = eax >> 4 & 0xf;
    if family >= 6 {
        model |= (eax >> 16 & 0xf) << 4;
    }
    (family, model, eax & 0xf)
}

/// One processor's block of `/proc/cpuinfo`, blank line included, with
/// Linux's keys and tab alignment for the fields Isola knows.
pub fn cpuinfo_block(processor: u32, c: &CpuInfo<'_>) -> String {
    let (family, model, stepping) = cpu_signature(c.signature);
    let mut t = String::new();
    let _ = writeln!(t, "processor\t: {processor}");
    let _ = writeln!(t, "vendor_id\t: {}", c.vendor);
    let _ = writeln!(t, "cpu family\t: {family}");
    let _ = writeln!(t, "model\t\t: {model}");
    let _ = writeln!(t, "model name\t: {}", c.model_name);
    let _ = writeln!(t, "stepping\t: {stepping}");
    let _ = writeln!(t, "physical id\t: 0");
    let _ = writeln!(t, "siblings\t: 1");
    let _ = writeln!(t, "core id\t\t: {processor}");
    let _ = writeln!(t, "cpu cores\t: 1");
    let fpu = if c.flags.l1_edx & 1 != 0 { "yes" } else { "no" };
    let _ = writeln!(t, "fpu\t\t: {fpu}");
    let _ = writeln!(t, "fpu_exception\t: {fpu}");
    let _ = writeln!(t, "cpuid level\t: {}", c.max_leaf);
    let _ = writeln!(t, "wp\t\t: yes");
    t.push_str("flags\t\t:");
    for flag in cpu_flags(&c.flags) {
        t.push(' ');
        t.push_str(flag);
    }
    t.push('\n');
    let _ = writeln!(t, "clflush size\t: {}", c.clflush_bytes);
    let _ = writeln!(t, "cache_alignment\t: {}", c.clflush_bytes);
    let _ = writeln!(t, "address sizes\t: {} bits physical, {} bits virtual", c.phys_bits, c.virt_bits);
    t.push_str("power management:\n\n");
    t
}

/// A random (version 4, RFC 9562) UUID in its 36-character text form,
/// as `/proc/sys/kernel/random/uuid` gives: the version and variant bits
/// are forced, the other 122 bits come from `bytes`.
pub fn uuid_text(mut bytes: [u8; 16]) -> String {
    bytes[6] = bytes[6] & 0x0f | 0x40;
    bytes[8] = bytes[8] & 0x3f | 0x80;
    let mut t = String::new();
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            t.push('-');
        }
        let _ = write!(t, "{b:02x}");
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_lines_match_linux() {
        // Lines copied from Linux 6.18's /proc/self/maps of cat.
        let file = MapsEntry {
            start: 0x5640_884d_a000,
            end: 0x5640_884d_c000,
            read: true,
            write: false,
            exec: false,
            shared: false,
            offset: 0,
            dev_major: 0xfe,
            dev_minor: 0,
            inode: 247030,
            path: "/usr/bin/cat",
        };
        assert_eq!(
            maps_line(&file),
            "5640884da000-5640884dc000 r--p 00000000 fe:00 247030                     /usr/bin/cat\n"
        );
        let text = MapsEntry { offset: 0x2000, exec: true, ..file };
        assert_eq!(
            maps_line(&text),
            "5640884da000-5640884dc000 r-xp 00002000 fe:00 247030                     /usr/bin/cat\n"
        );
        let anon = MapsEntry {
            start: 0x7f5c_1234_5000,
            end: 0x7f5c_1234_7000,
            write: true,
            dev_major: 0,
            inode: 0,
            path: "",
            ..file
        };
        assert_eq!(maps_line(&anon), "7f5c12345000-7f5c12347000 rw-p 00000000 00:00 0 \n");
        let stack = MapsEntry { path: "[stack]", ..anon };
        assert_eq!(
            maps_line(&stack),
            "7f5c12345000-7f5c12347000 rw-p 00000000 00:00 0                          [stack]\n"
        );
        // Short (static non-PIE) addresses keep 8 digits.
        let low = MapsEntry { start: 0x40_0000, end: 0x40_1000, path: "[heap]", ..anon };
        let line = maps_line(&low);
        assert!(line.starts_with("00400000-00401000 rw-p 00000000 00:00 0 "));
        assert_eq!(line.find("[heap]"), Some(73));
        let shared = MapsEntry { shared: true, ..anon };
        assert!(maps_line(&shared).contains(" rw-s "));
    }

    #[test]
    fn status_matches_linux_layout() {
        let groups = [4, 24];
        let s = Status {
            name: "cat",
            umask: 0o22,
            state: 'R',
            pid: 7,
            ppid: 1,
            pgid: 7,
            sid: 1,
            uids: [1000, 1000, 1000, 1000],
            gids: [33, 33, 33, 33],
            groups: &groups,
            fd_size: 64,
            vm_peak_kib: 5752,
            vm_size_kib: 3060,
            vm_rss_kib: 1764,
            threads: 1,
            sigq_limit: 63519,
            sig_blocked: 1 << 9,
            sig_caught: 0x4000_0000_0000_0001,
            caps_permitted: true,
            caps_effective: false,
            cpus: 1,
            ..Status::default()
        };
        let text = status_text(&s);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Name:\tcat");
        assert_eq!(lines[1], "Umask:\t0022");
        assert_eq!(lines[2], "State:\tR (running)");
        assert_eq!(lines[3], "Tgid:\t7");
        assert_eq!(lines[5], "Pid:\t7");
        assert_eq!(lines[6], "PPid:\t1");
        assert!(lines.contains(&"Uid:\t1000\t1000\t1000\t1000"));
        assert!(lines.contains(&"Gid:\t33\t33\t33\t33"));
        assert!(lines.contains(&"Groups:\t4 24 "));
        assert!(lines.contains(&"VmPeak:\t    5752 kB"));
        assert!(lines.contains(&"VmSize:\t    3060 kB"));
        assert!(lines.contains(&"VmRSS:\t    1764 kB"));
        assert!(lines.contains(&"Threads:\t1"));
        assert!(lines.contains(&"SigQ:\t0/63519"));
        assert!(lines.contains(&"SigBlk:\t0000000000000200"));
        assert!(lines.contains(&"SigCgt:\t4000000000000001"));
        assert!(lines.contains(&"Cpus_allowed:\t1"));
        assert!(lines.contains(&"CapPrm:\t000001ffffffffff"), "a full permitted set");
        assert!(lines.contains(&"CapEff:\t0000000000000000"), "an empty effective set");
        assert!(lines.contains(&"CapBnd:\t000001ffffffffff") && lines.contains(&"CapInh:\t0000000000000000"));
        assert!(lines.contains(&"Cpus_allowed_list:\t0"));
        assert_eq!(lines.last(), Some(&"nonvoluntary_ctxt_switches:\t0"));
        // Linux's order of the keys (6.18, the host's status of cat).
        let keys: Vec<&str> = lines.iter().map(|l| l.split(':').next().unwrap()).collect();
        let linux = "Name Umask State Tgid Ngid Pid PPid TracerPid Uid Gid FDSize Groups NStgid NSpid NSpgid NSsid Kthread VmPeak VmSize VmLck VmPin VmHWM VmRSS RssAnon RssFile RssShmem VmData VmStk VmExe VmLib VmPTE VmSwap HugetlbPages CoreDumping THP_enabled untag_mask Threads SigQ SigPnd ShdPnd SigBlk SigIgn SigCgt CapInh CapPrm CapEff CapBnd CapAmb NoNewPrivs Seccomp Seccomp_filters Speculation_Store_Bypass SpeculationIndirectBranch Cpus_allowed Cpus_allowed_list Mems_allowed Mems_allowed_list voluntary_ctxt_switches nonvoluntary_ctxt_switches";
        assert_eq!(keys, linux.split(' ').collect::<Vec<_>>());
        assert_eq!(state_name('Z'), "Z (zombie)");
        assert_eq!(cpu_list(4), "0-3");
    }

    #[test]
    fn cpu_signatures() {
        // AMD EPYC (family 25 model 17 stepping 1): 0x00a10f11.
        assert_eq!(cpu_signature(0x00a1_0f11), (25, 17, 1));
        // Intel Skylake-SP (family 6 model 85 stepping 4): 0x00050654.
        assert_eq!(cpu_signature(0x0005_0654), (6, 85, 4));
        // Family 5: no extended model.
        assert_eq!(cpu_signature(0x0005_0543), (5, 4, 3));
        let block = cpuinfo_block(
            0,
            &CpuInfo {
                vendor: "AuthenticAMD",
                max_leaf: 28,
                signature: 0x00a1_0f11,
                clflush_bytes: 64,
                model_name: "AMD EPYC",
                phys_bits: 48,
                virt_bits: 48,
                flags: CpuidFlags { l1_edx: 1, l7_ecx: 1 << 3, ..CpuidFlags::default() },
            },
        );
        let lines: Vec<&str> = block.lines().collect();
        assert_eq!(lines[0], "processor\t: 0");
        assert_eq!(lines[1], "vendor_id\t: AuthenticAMD");
        assert_eq!(lines[2], "cpu family\t: 25");
        assert_eq!(lines[3], "model\t\t: 17");
        assert_eq!(lines[4], "model name\t: AMD EPYC");
        assert!(lines.contains(&"flags\t\t: fpu pku"));
        assert!(lines.contains(&"address sizes\t: 48 bits physical, 48 bits virtual"));
        assert!(block.ends_with("power management:\n\n"));
    }

    #[test]
    fn uuids() {
        let u = uuid_text([0xff; 16]);
        assert_eq!(u, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        assert_eq!(uuid_text([0; 16]), "00000000-0000-4000-8000-000000000000");
    }

    #[test]
    fn cpu_flag_names() {
        let r = CpuidFlags {
            l1_edx: 1 | 1 << 25 | 1 << 26,
            l1_ecx: 1 << 31,
            l7_ecx: 1 << 3 | 1 << 4,
            ext_edx: 1 << 29,
            ..CpuidFlags::default()
        };
        assert_eq!(cpu_flags(&r), ["fpu", "sse", "sse2", "lm", "hypervisor", "pku", "ospke"]);
        assert!(cpu_flags(&CpuidFlags::default()).is_empty());
        // Every table is sorted by bit with no bit named twice.
        for table in [L1_EDX, L1_ECX, EXT_EDX, EXT_ECX, L7_EBX, L7_ECX, L7_EDX] {
            assert!(table.windows(2).all(|w| w[0].0 < w[1].0));
            assert!(table.iter().all(|(bit, _)| *bit < 32));
        }
    }
}
