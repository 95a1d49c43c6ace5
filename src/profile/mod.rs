//! `isola run --profile[=FILE]`: the guest sampled by the TCG plugin
//! `plugin/profile.c`, then, on the host, its stacks of addresses named
//! ([`symbols`]), folded into the flamegraph.pl format (FILE with the
//! extension `.folded`), drawn as a flame graph (FILE, [`flamegraph`]) and
//! summed up as the functions with the most samples of their own, on
//! stderr. docs/profile.md is the user's side of it.

pub mod flamegraph;
pub mod symbols;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::error::Error;
use symbols::Symbols;

/// The default FILE of a bare `--profile`.
pub const DEFAULT_FILE: &str = "isola-profile.svg";
/// Guest instructions between two samples (a prime: no loop of a round
/// length keeps hitting the same instruction).
pub const PERIOD: u64 = 10_007;
/// How many functions the summary on stderr lists.
const TOP: usize = 10;

/// What the plugin wrote: its header's numbers and the distinct stacks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Raw {
    pub period: u64,
    /// Addresses from here up are the kernel's half.
    pub split: u64,
    pub instructions: u64,
    pub samples: u64,
    /// Every other `KEY VALUE` of the header (what the shadow stack did).
    pub counters: Vec<(String, u64)>,
    /// (samples, addresses outermost first, the sampled one last).
    pub stacks: Vec<(u64, Vec<u64>)>,
}

/// Parse the plugin's output (format in `plugin/profile.c`).
pub fn parse_raw(text: &str) -> Result<Raw, String> {
    let mut lines = text.lines();
    if lines.next() != Some("isola-profile 1") {
        return Err("not a profile of plugin/profile.c (no 'isola-profile 1' line)".into());
    }
    let mut raw = Raw::default();
    let mut in_stacks = false;
    for (number, line) in lines.enumerate() {
        let bad = || format!("line {}: cannot read '{line}'", number + 2);
        if !in_stacks {
            if line == "stacks" {
                in_stacks = true;
                continue;
            }
            let (key, value) = line.split_once(' ').ok_or_else(bad)?;
            let value = if let Some(hex) = value.strip_prefix("0x") {
                u64::from_str_radix(hex, 16)
            } else {
                value.parse::<u64>()
            }
            .map_err(|_| bad())?;
            match key {
                "period" => raw.period = value,
                "split" => raw.split = value,
                "instructions" => raw.instructions = value,
                "samples" => raw.samples = value,
                _ => raw.counters.push((key.to_string(), value)),
            }
            continue;
        }
        let mut words = line.split(' ');
        let count = words.next().and_then(|c| c.parse::<u64>().ok()).ok_or_else(bad)?;
        let addrs = words.map(|w| u64::from_str_radix(w, 16)).collect::<Result<Vec<u64>, _>>().map_err(|_| bad())?;
        if addrs.is_empty() {
            return Err(bad());
        }
        raw.stacks.push((count, addrs));
    }
    if !in_stacks {
        return Err("the profile ends before its stacks (QEMU stopped while writing it?)".into());
    }
    Ok(raw)
}

/// Names addresses: the kernel's symbols first (they also cover its 32-bit
/// boot code in the lower half), then PROGRAM's.
pub struct Symbolizer {
    pub kernel: Symbols,
    pub program: Option<Symbols>,
    pub split: u64,
}

impl Symbolizer {
    /// The folded-stack frame of `addr`: a kernel function with
    /// [`flamegraph::KERNEL_MARK`] after it, a function of PROGRAM, or
    /// `[kernel]`/`[user]` when no symbol covers it.
    pub fn frame(&self, addr: u64) -> String {
        if let Some(name) = self.kernel.lookup(addr) {
            return format!("{name}{}", flamegraph::KERNEL_MARK);
        }
        if addr >= self.split {
            return format!("[kernel]{}", flamegraph::KERNEL_MARK);
        }
        match self.program.as_ref().and_then(|p| p.lookup(addr)) {
            Some(name) => name.to_string(),
            None => "[user]".to_string(),
        }
    }
}

/// The folded stacks of `raw`: each stack named frame by frame, identical
/// named stacks merged, sorted (one `a;b;c COUNT` line each).
pub fn fold(raw: &Raw, names: &Symbolizer) -> BTreeMap<String, u64> {
    let mut folded = BTreeMap::new();
    for (count, addrs) in &raw.stacks {
        let stack = addrs.iter().map(|&a| names.frame(a)).collect::<Vec<_>>().join(";");
        *folded.entry(stack).or_insert(0) += count;
    }
    folded
}

/// `folded` as the text of a `.folded` file.
pub fn folded_text(folded: &BTreeMap<String, u64>) -> String {
    let mut text = String::new();
    for (stack, count) in folded {
        let _ = writeln!(text, "{stack} {count}");
    }
    text
}

/// One function of the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// As in the folded stacks (kernel functions with their mark).
    pub frame: String,
    /// Samples in the function itself (it was the leaf).
    pub self_samples: u64,
    /// Samples with the function anywhere on the stack.
    pub total_samples: u64,
}

/// Every function by self samples, most first (then by name).
pub fn by_self(folded: &BTreeMap<String, u64>) -> Vec<Row> {
    let mut rows: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for (stack, &count) in folded {
        let frames: Vec<&str> = stack.split(';').collect();
        if let Some(leaf) = frames.last() {
            rows.entry(leaf).or_default().0 += count;
        }
        for frame in frames.into_iter().collect::<BTreeSet<_>>() {
            rows.entry(frame).or_default().1 += count;
        }
    }
    let mut rows: Vec<Row> = rows
        .into_iter()
        .map(|(frame, (s, t))| Row { frame: frame.to_string(), self_samples: s, total_samples: t })
        .collect();
    rows.sort_by(|a, b| b.self_samples.cmp(&a.self_samples).then(a.frame.cmp(&b.frame)));
    rows
}

/// The summary printed on stderr after the run.
pub fn summary(raw: &Raw, folded: &BTreeMap<String, u64>, svg: &Path, folded_path: &Path) -> String {
    let total: u64 = folded.values().sum();
    let kernel: u64 = folded
        .iter()
        .filter(|(s, _)| s.rsplit(';').next().is_some_and(|leaf| leaf.ends_with(flamegraph::KERNEL_MARK)))
        .map(|(_, c)| c)
        .sum();
    let percent = |n: u64| if total == 0 { 0.0 } else { 100.0 * n as f64 / total as f64 };
    let mut text = format!(
        "isola: profile: {total} samples, one every {} guest instructions ({:.1}% in the kernel)\n\
         isola: profile: flame graph {}, folded stacks {}\n",
        raw.period,
        percent(kernel),
        svg.display(),
        folded_path.display(),
    );
    let rows = by_self(folded);
    if !rows.is_empty() {
        text.push_str("   self   total  function\n");
    }
    for row in rows.iter().filter(|r| r.self_samples > 0).take(TOP) {
        let (name, kind) = flamegraph::classify(&row.frame);
        let mark = if kind == flamegraph::Kind::Kernel { " [kernel]" } else { "" };
        let _ = writeln!(
            text,
            "{:6.1}% {:6.1}%  {name}{mark}",
            percent(row.self_samples),
            percent(row.total_samples)
        );
    }
    text
}

/// Where the folded stacks of flame graph `svg` go: next to it, extension
/// `.folded`.
pub fn folded_path(svg: &Path) -> PathBuf {
    svg.with_extension("folded")
}

/// A run's profile in the making: the file the plugin writes (removed when
/// this is dropped) and the `-plugin` argument that asks for it.
pub struct Session {
    raw: PathBuf,
    pub plugin_arg: String,
}

impl Session {
    /// Build the plugin if needed and choose where it writes.
    pub fn start() -> Result<Session, Error> {
        let lib = crate::plugin::library("profile")?;
        let dir = crate::kbuild::workspace_root().join("target/isola");
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::failure(format!("cannot create {}: {e}", dir.display())))?;
        let raw = dir.join(format!("profile-{}.raw", std::process::id()));
        let _ = std::fs::remove_file(&raw);
        // QEMU's option syntax: a comma inside a value is written twice.
        let escape = |p: &Path| p.display().to_string().replace(',', ",,");
        let plugin_arg = format!("{},out={},period={PERIOD}", escape(&lib), escape(&raw));
        Ok(Session { raw, plugin_arg })
    }

    /// After the run: name the stacks, write `svg` and its `.folded`, and
    /// print the summary. `program` is PROGRAM's host file, if any.
    pub fn finish(&self, svg: &Path, program: Option<&Path>, title: &str) -> Result<(), Error> {
        let fail = |what: String| Error::failure(format!("--profile: {what}"));
        let text = std::fs::read_to_string(&self.raw).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => fail(
                "no profile: QEMU writes it when it exits, and it was killed (--timeout, or the \
                 guest outlived the stop grace); stop the guest with Ctrl-C or `timeout -s INT` instead"
                    .into(),
            ),
            _ => fail(format!("{}: {e}", self.raw.display())),
        })?;
        let raw = parse_raw(&text).map_err(|e| fail(format!("{}: {e}", self.raw.display())))?;
        let root = crate::kbuild::workspace_root();
        let elf = crate::kbuild::image_path(&root, crate::kbuild::Variant::Kernel);
        let bytes = std::fs::read(&elf).map_err(|e| fail(format!("{}: {e}", elf.display())))?;
        let kernel = Symbols::from_elf(&bytes).map_err(|e| fail(format!("{}: {e}", elf.display())))?;
        let program = program.and_then(|p| std::fs::read(p).ok()).and_then(|b| Symbols::for_program(&b));
        let names = Symbolizer { kernel, program, split: raw.split };
        let folded = fold(&raw, &names);
        let folded_file = folded_path(svg);
        let subtitle = format!(
            "{} samples, one every {} guest instructions; width: share of samples, x order: by name, not time",
            folded.values().sum::<u64>(),
            raw.period
        );
        let picture = flamegraph::svg(&folded_text(&folded), title, &subtitle);
        for (path, content) in [(svg, &picture), (folded_file.as_path(), &folded_text(&folded))] {
            std::fs::write(path, content).map_err(|e| fail(format!("cannot write {}: {e}", path.display())))?;
        }
        eprint!("{}", summary(&raw, &folded, svg, &folded_file));
        Ok(())
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.raw);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use symbols::RawSymbol;

    const RAW: &str = "isola-profile 1\nperiod 10007\nsplit 0xffff800000000000\ninstructions 123\n\
                       samples 6\ncalls 5\nstacks\n3 401000 ffffffff80001000 ffffffff80002004\n\
                       2 401000 ffffffff80001000 ffffffff80002010\n1 401008\n";

    fn names() -> Symbolizer {
        let sym = |start, size, name: &str| RawSymbol { start, size, section_end: u64::MAX, name: name.into() };
        Symbolizer {
            kernel: Symbols::new(vec![
                sym(0x10_0000, 0x100, "pvh_start32"),
                sym(0xffff_ffff_8000_1000, 0x100, "isola_gate_syscall_common"),
                sym(0xffff_ffff_8000_2000, 0x100, "_ZN12isola_kernel8syscalls4read17h0123456789abcdefE"),
            ]),
            program: Some(Symbols::new(vec![sym(0x40_1000, 0x8, "serve")])),
            split: 0xffff_8000_0000_0000,
        }
    }

    #[test]
    fn the_plugins_output_is_read() {
        let raw = parse_raw(RAW).unwrap();
        assert_eq!(raw.period, 10007);
        assert_eq!(raw.split, 0xffff_8000_0000_0000);
        assert_eq!((raw.instructions, raw.samples), (123, 6));
        assert_eq!(raw.counters, [("calls".to_string(), 5)]);
        assert_eq!(raw.stacks.len(), 3);
        assert_eq!(raw.stacks[2], (1, vec![0x401008]));
        assert!(parse_raw("hello\n").is_err());
        assert!(parse_raw("isola-profile 1\nperiod 1\n").unwrap_err().contains("ends before"));
        assert!(parse_raw("isola-profile 1\nstacks\n1 zz\n").unwrap_err().contains("line 3"));
        assert!(parse_raw("isola-profile 1\nstacks\n1\n").is_err());
    }

    #[test]
    fn addresses_are_named() {
        let n = names();
        assert_eq!(n.frame(0x10_0010), "pvh_start32_[k]", "boot code is the kernel's");
        assert_eq!(n.frame(0xffff_ffff_8000_2004), "isola_kernel::syscalls::read_[k]");
        assert_eq!(n.frame(0xffff_ffff_9000_0000), "[kernel]_[k]");
        assert_eq!(n.frame(0x40_1004), "serve");
        assert_eq!(n.frame(0x40_1008), "[user]", "past serve's size");
        let stripped = Symbolizer { program: None, ..names() };
        assert_eq!(stripped.frame(0x40_1004), "[user]");
    }

    #[test]
    fn stacks_fold_and_merge() {
        let raw = parse_raw(RAW).unwrap();
        let folded = fold(&raw, &names());
        // Two address stacks end in the same function: one line.
        assert_eq!(
            folded_text(&folded),
            "[user] 1\nserve;isola_gate_syscall_common_[k];isola_kernel::syscalls::read_[k] 5\n"
        );
        let rows = by_self(&folded);
        assert_eq!(rows[0], Row { frame: "isola_kernel::syscalls::read_[k]".into(), self_samples: 5, total_samples: 5 });
        assert_eq!(rows[1].frame, "[user]");
        let serve = rows.iter().find(|r| r.frame == "serve").unwrap();
        assert_eq!((serve.self_samples, serve.total_samples), (0, 5));
    }

    #[test]
    fn a_function_counts_once_per_stack_in_total() {
        let mut folded = BTreeMap::new();
        folded.insert("f;g;f".to_string(), 4);
        let rows = by_self(&folded);
        let f = rows.iter().find(|r| r.frame == "f").unwrap();
        assert_eq!((f.self_samples, f.total_samples), (4, 4), "recursion is not counted twice");
    }

    #[test]
    fn the_summary() {
        let raw = parse_raw(RAW).unwrap();
        let folded = fold(&raw, &names());
        let text = summary(&raw, &folded, Path::new("p.svg"), Path::new("p.folded"));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "isola: profile: 6 samples, one every 10007 guest instructions (83.3% in the kernel)");
        assert_eq!(lines[1], "isola: profile: flame graph p.svg, folded stacks p.folded");
        assert_eq!(lines[3], "  83.3%   83.3%  isola_kernel::syscalls::read [kernel]");
        assert_eq!(lines[4], "  16.7%   16.7%  [user]");
        assert_eq!(folded_path(Path::new("out/x.svg")), Path::new("out/x.folded"));
        assert_eq!(folded_path(Path::new("prof")), Path::new("prof.folded"));
    }
}
