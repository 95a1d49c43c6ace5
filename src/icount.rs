//! Guest instruction counts from the TCG plugin `plugin/icount.c`: the
//! `-plugin` argument that makes QEMU count ([`plugin_arg`]), the reading
//! of what it wrote ([`Counts`]), and the arithmetic that turns runs of N
//! and 2N iterations into instructions per operation ([`per_op`]).
//! `isola run --count-instructions=FILE` and `isola bench
//! --count-instructions` ([`crate::bench`]) use them; docs/icount.md is the
//! user's side.

use std::path::Path;

use crate::error::Error;

/// What the plugin counted in one QEMU run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Instructions of the whole run.
    pub instructions: u64,
    /// Instructions from the first to the last system call made from the
    /// lower (user) half: the window that leaves out boot and power-off.
    pub window: u64,
    /// System calls made from the lower half (0: no window).
    pub user_syscalls: u64,
}

/// QEMU's `-seed` for every counted boot. Under TCG the guest's RDRAND
/// then comes from a generator seeded with it: Isola's ASLR and Linux's
/// KASLR choose the same layout at every boot, and counts of runs of N and
/// 2N differ only by the work of N iterations (with boot-chosen layouts
/// `fork` varied by 3 to 4 % from boot to boot, docs/icount.md).
pub const SEED: u64 = 1;

/// The first line of the plugin's output.
const MAGIC: &str = "isola-icount 1";

/// QEMU's `-plugin` argument: the plugin built for this CLI, writing its
/// counts to `out` when QEMU exits.
pub fn plugin_arg(out: &Path) -> Result<String, Error> {
    let lib = crate::plugin::library("icount")?;
    // QEMU's option syntax: a comma inside a value is written twice.
    let escape = |p: &Path| p.display().to_string().replace(',', ",,");
    Ok(format!("{},out={}", escape(&lib), escape(out)))
}

/// Parse the plugin's output (format in `plugin/icount.c`).
pub fn parse(text: &str) -> Result<Counts, String> {
    let mut lines = text.lines();
    if lines.next() != Some(MAGIC) {
        return Err(format!("not the output of plugin/icount.c (no '{MAGIC}' line)"));
    }
    let mut counts = Counts::default();
    let mut seen = [false; 3];
    for (number, line) in lines.enumerate() {
        let bad = || format!("line {}: cannot read '{line}'", number + 2);
        let (key, value) = line.split_once(' ').ok_or_else(bad)?;
        let slot = match key {
            "instructions" => (&mut counts.instructions, 0),
            "window_instructions" => (&mut counts.window, 1),
            "user_syscalls" => (&mut counts.user_syscalls, 2),
            // The halves and the split are for people reading the file.
            _ => continue,
        };
        *slot.0 = value.parse::<u64>().map_err(|_| bad())?;
        seen[slot.1] = true;
    }
    if !seen.iter().all(|&s| s) {
        return Err("the counts are incomplete (QEMU stopped while writing them?)".into());
    }
    Ok(counts)
}

/// Read and parse the counts QEMU left in `path`.
pub fn read(path: &Path) -> Result<Counts, String> {
    let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!(
            "no instruction counts in {}: QEMU writes them when it exits, and it was killed",
            path.display()
        ),
        _ => format!("{}: {e}", path.display()),
    })?;
    parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Instructions per operation from the windows of two runs, of `n` and of
/// `2n` operations: what the extra `n` operations cost. Program start,
/// exit and everything else that happens once cancel out.
pub fn per_op(at_n: &Counts, at_2n: &Counts, n: u64) -> Result<f64, String> {
    if n == 0 {
        return Err("no operations to divide by".into());
    }
    for (c, k) in [(at_n, n), (at_2n, 2 * n)] {
        if c.user_syscalls < 2 {
            return Err(format!(
                "the run of {k} made {} system call(s) from user space: no window to count",
                c.user_syscalls
            ));
        }
    }
    if at_2n.window < at_n.window {
        return Err(format!(
            "the run of {} counted fewer instructions ({}) than the run of {n} ({})",
            2 * n,
            at_2n.window,
            at_n.window
        ));
    }
    Ok((at_2n.window - at_n.window) as f64 / n as f64)
}

/// How far apart the figures are: (max - min) / min, in percent.
pub fn spread_percent(figures: &[f64]) -> Option<f64> {
    let min = figures.iter().copied().fold(f64::INFINITY, f64::min);
    let max = figures.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (min.is_finite() && min > 0.0).then(|| (max - min) / min * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "isola-icount 1\ninstructions 5000\nuser 1000\nkernel 4000\n\
                          window_instructions 3000\nwindow_user 900\nwindow_kernel 2100\n\
                          user_syscalls 12\nsplit 0xffff800000000000\n";

    #[test]
    fn reads_the_plugins_output() {
        assert_eq!(parse(OUTPUT).unwrap(), Counts { instructions: 5000, window: 3000, user_syscalls: 12 });
    }

    #[test]
    fn refuses_other_and_cut_output() {
        assert!(parse("isola-profile 1\n").unwrap_err().contains("not the output"));
        assert!(parse("").unwrap_err().contains("not the output"));
        let cut = &OUTPUT[..OUTPUT.find("user_syscalls").unwrap()];
        assert!(parse(cut).unwrap_err().contains("incomplete"));
        let bad = OUTPUT.replace("instructions 5000", "instructions 5x");
        assert!(parse(&bad).unwrap_err().contains("line 2"));
        assert!(parse("isola-icount 1\nnospace\n").unwrap_err().contains("line 2"));
    }

    fn window(window: u64) -> Counts {
        Counts { instructions: window + 100_000, window, user_syscalls: 10 }
    }

    #[test]
    fn per_op_is_the_difference_over_n() {
        assert_eq!(per_op(&window(1_000_000), &window(1_411_000), 1000), Ok(411.0));
        assert_eq!(per_op(&window(10), &window(15), 2), Ok(2.5));
        assert_eq!(per_op(&window(10), &window(10), 2), Ok(0.0));
    }

    #[test]
    fn per_op_refuses_what_cannot_be_a_cost() {
        assert!(per_op(&window(10), &window(20), 0).is_err());
        assert!(per_op(&window(20), &window(10), 5).unwrap_err().contains("fewer"));
        let no_window = Counts { user_syscalls: 1, ..window(10) };
        assert!(per_op(&no_window, &window(20), 5).unwrap_err().contains("run of 5 made 1"));
        assert!(per_op(&window(10), &no_window, 5).unwrap_err().contains("run of 10 made 1"));
    }

    #[test]
    fn spread() {
        assert_eq!(spread_percent(&[100.0, 101.0, 100.5]), Some(1.0));
        assert_eq!(spread_percent(&[7.0]), Some(0.0));
        assert_eq!(spread_percent(&[]), None);
        assert_eq!(spread_percent(&[0.0, 1.0]), None);
    }
}
