//! `isola bench`: one static program from `userland/`, timed side by side
//! in every environment of one run, with medians and ratios in one table.
//!
//! Environments (rows), each running the very same binary:
//! - **Isola, isolation mpk** and **Isola, isolation none**, both under TCG:
//!   `isola run --accel tcg --isolation LEVEL -- PROGRAM ARGS`, run as a
//!   child process of this `isola` (the exact code path a user runs; its
//!   console is captured, not echoed);
//! - **Linux guest**: Debian's cloud kernel booted in the same QEMU
//!   configuration (microvm, TCG `-cpu max`, 256 MiB, one CPU) with a
//!   busybox initramfs whose `/init` runs the program ([`linux_guest`]);
//! - **host**: the program run directly.
//!
//! Each environment runs the program `--runs R` times (one boot per run for
//! the guests) and the row shows the median, the range, and the ratio of
//! its median to the Linux guest's and to the host's. A row that cannot be
//! measured (the kernel cannot run programs yet, a download failed...) is
//! shown as `failed: <reason>` and the others still run.
//!
//! Benchmarks: `syscall` (bench-getpid), `fork` (bench-fork), `pipe`
//! (bench-pipe), `exec` (bench-exec), `futex` (bench-futex), `thread`
//! (bench-thread); another program benchmark is one more [`Benchmark`] entry:
//! the program under `userland/`, how to pass the iteration count, and how
//! to read its result line. `http` ([`http`]) differs: a server in each
//! environment, loaded from the host by [`crate::load`].

pub mod debian;
pub mod http;
pub mod linux_guest;
pub mod memory;
pub mod redis;

use std::fmt::Write as _;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Command as Process, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::cli::Command;
use crate::console::Level;
use crate::error::Error;
use crate::icount;
use crate::kbuild;

/// One benchmark: a program under `target/userland/` and how to read it.
#[derive(Debug)]
pub struct Benchmark {
    /// The word after `isola bench`.
    pub name: &'static str,
    /// What is measured, for the table title.
    pub what: &'static str,
    /// The program's name in `target/userland/`.
    pub program: &'static str,
    /// Iterations per run when `--iterations` is not given.
    pub default_iterations: u64,
    /// The program's arguments for an iteration count.
    pub args: fn(u64) -> Vec<String>,
    /// The figure from one line of the program's output, if it is the
    /// result line.
    pub parse: fn(&str) -> Option<f64>,
    /// Unit of the figure (smaller is better).
    pub unit: &'static str,
    /// Host files the program needs in every environment, each put at its
    /// own path in the guests (the host row uses them where they are).
    pub files: fn() -> Result<Vec<PathBuf>, String>,
}

/// Every benchmark `isola bench` knows.
pub const BENCHMARKS: [Benchmark; 6] = [
    Benchmark {
        name: "syscall",
        what: "raw getpid syscall",
        program: "bench-getpid",
        default_iterations: 1_000_000,
        args: count_arg,
        parse: parse_getpid,
        unit: "ns/call",
        files: no_files,
    },
    Benchmark {
        name: "fork",
        what: "fork + _exit + waitpid",
        program: "bench-fork",
        default_iterations: 1_000,
        args: count_arg,
        parse: parse_fork,
        unit: "us/op",
        files: no_files,
    },
    Benchmark {
        name: "pipe",
        what: "1-byte ping-pong between two processes over two pipes",
        program: "bench-pipe",
        default_iterations: 10_000,
        args: count_arg,
        parse: parse_pipe,
        files: no_files,
        unit: "us/round trip",
    },
    Benchmark {
        name: "exec",
        what: "fork + execve + waitpid of Debian's dynamic /usr/bin/true",
        program: "bench-exec",
        default_iterations: 100,
        args: exec_args,
        parse: parse_exec,
        unit: "us/op",
        files: true_and_its_libraries,
    },
    Benchmark {
        name: "futex",
        what: "futex ping-pong between two threads of one process",
        program: "bench-futex",
        default_iterations: 10_000,
        args: count_arg,
        parse: parse_futex,
        unit: "us/round trip",
        files: no_files,
    },
    Benchmark {
        name: "thread",
        what: "pthread_create + pthread_join",
        program: "bench-thread",
        default_iterations: 1_000,
        args: count_arg,
        parse: parse_thread,
        unit: "us/op",
        files: no_files,
    },
];

fn no_files() -> Result<Vec<PathBuf>, String> {
    Ok(Vec::new())
}

/// The program `isola bench exec` starts.
const DYNAMIC_TRUE: &str = "/usr/bin/true";

fn exec_args(n: u64) -> Vec<String> {
    vec![n.to_string(), DYNAMIC_TRUE.to_string()]
}

/// `/usr/bin/true` of this Debian host (coreutils) with its interpreter and
/// libraries, as `ldd` lists them: the same files in every environment.
fn true_and_its_libraries() -> Result<Vec<PathBuf>, String> {
    let output = Process::new("ldd")
        .arg(DYNAMIC_TRUE)
        .output()
        .map_err(|e| format!("cannot run ldd {DYNAMIC_TRUE}: {e}"))?;
    if !output.status.success() {
        return Err(format!("ldd {DYNAMIC_TRUE} failed: {}", String::from_utf8_lossy(&output.stderr).trim()));
    }
    let mut files = vec![PathBuf::from(DYNAMIC_TRUE)];
    files.extend(parse_ldd(&String::from_utf8_lossy(&output.stdout)));
    Ok(files)
}

/// The files of `ldd` output: `name => /path (addr)` and `/path (addr)`
/// lines; the vDSO (no path) is not a file.
pub fn parse_ldd(output: &str) -> Vec<PathBuf> {
    output
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let path = match line.split_once(" => ") {
                Some((_, rest)) => rest,
                None => line,
            };
            let path = path.split_whitespace().next()?;
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

/// `exec: N execs, X ns/op, Y.Y us/op` (what `bench-exec` prints),
/// anywhere in the line: Y.Y.
pub fn parse_exec(line: &str) -> Option<f64> {
    let rest = &line[line.find("exec: ")? + "exec: ".len()..];
    let (count, rest) = rest.split_once(" execs, ")?;
    count.parse::<u64>().ok().filter(|&n| n > 0)?;
    let (_ns, rest) = rest.split_once(" ns/op, ")?;
    let us = rest.trim_end().strip_suffix(" us/op")?;
    finite_figure(us)
}

fn count_arg(n: u64) -> Vec<String> {
    vec![n.to_string()]
}

/// `getpid: N calls, X.Y ns/call` (what `bench-getpid` prints), anywhere in
/// the line: X.Y.
pub fn parse_getpid(line: &str) -> Option<f64> {
    let rest = &line[line.find("getpid: ")? + "getpid: ".len()..];
    let (calls, rest) = rest.split_once(" calls, ")?;
    calls.parse::<u64>().ok().filter(|&n| n > 0)?;
    let ns = rest.trim_end().strip_suffix(" ns/call")?;
    ns.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
}

/// `fork: N forks, X ns/op, Y.Y us/op` (what `bench-fork` prints),
/// anywhere in the line: Y.Y.
pub fn parse_fork(line: &str) -> Option<f64> {
    let rest = &line[line.find("fork: ")? + "fork: ".len()..];
    let (count, rest) = rest.split_once(" forks, ")?;
    count.parse::<u64>().ok().filter(|&n| n > 0)?;
    let (_ns, rest) = rest.split_once(" ns/op, ")?;
    let us = rest.trim_end().strip_suffix(" us/op")?;
    finite_figure(us)
}

/// `pipe: N round trips, X.Y us/round trip` (what `bench-pipe` prints),
/// anywhere in the line: X.Y.
pub fn parse_pipe(line: &str) -> Option<f64> {
    let rest = &line[line.find("pipe: ")? + "pipe: ".len()..];
    let (count, rest) = rest.split_once(" round trips, ")?;
    count.parse::<u64>().ok().filter(|&n| n > 0)?;
    let us = rest.trim_end().strip_suffix(" us/round trip")?;
    finite_figure(us)
}

/// `futex: N round trips, X.Y us/round trip` (what `bench-futex` prints): X.Y.
pub fn parse_futex(line: &str) -> Option<f64> {
    let rest = &line[line.find("futex: ")? + "futex: ".len()..];
    let (count, rest) = rest.split_once(" round trips, ")?;
    count.parse::<u64>().ok().filter(|&n| n > 0)?;
    finite_figure(rest.trim_end().strip_suffix(" us/round trip")?)
}

/// `thread: N creates, X.Y us/op` (what `bench-thread` prints): X.Y.
pub fn parse_thread(line: &str) -> Option<f64> {
    let rest = &line[line.find("thread: ")? + "thread: ".len()..];
    let (count, rest) = rest.split_once(" creates, ")?;
    count.parse::<u64>().ok().filter(|&n| n > 0)?;
    finite_figure(rest.trim_end().strip_suffix(" us/op")?)
}

fn finite_figure(text: &str) -> Option<f64> {
    text.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
}

/// Default `--runs`.
pub const DEFAULT_RUNS: u32 = 3;
/// Largest `--runs`.
const MAX_RUNS: u32 = 101;
/// Largest `--iterations`.
const MAX_ITERATIONS: u64 = 10_000_000_000;
/// Default `--timeout` of one guest boot, in seconds.
pub const DEFAULT_TIMEOUT_SECS: u64 = 300;
/// Largest `--timeout`.
const MAX_TIMEOUT_SECS: u64 = 24 * 60 * 60;

/// `isola bench NAME [--iterations N] [--runs R] [--timeout SECS]
/// [--count-instructions]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchOpts {
    /// Index into [`BENCHMARKS`].
    pub benchmark: usize,
    /// Iterations per run; `None`: the benchmark's default.
    pub iterations: Option<u64>,
    /// Runs per environment (the row shows their median).
    pub runs: u32,
    /// Timeout of one run (one guest boot), in seconds.
    pub timeout_secs: u64,
    /// `--count-instructions`: every guest row also counts its
    /// instructions per iteration ([`crate::icount`]).
    pub count_instructions: bool,
}

/// The `bench` options that take no value.
const FLAGS: [&str; 3] = ["--help", "-h", "--count-instructions"];

/// Where the benchmark's name stands in the arguments after `bench`: the
/// first word that is neither an option nor an option's value (every
/// `bench` option but [`FLAGS`] takes a value).
fn name_position(args: &[String]) -> Option<usize> {
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        if !arg.starts_with('-') {
            return Some(i);
        }
        let takes_next = !arg.contains('=') && !FLAGS.contains(&arg.as_str());
        i += if takes_next { 2 } else { 1 };
    }
    None
}

/// Parse the arguments after `bench`.
pub fn parse(args: &[String]) -> Result<Command, Error> {
    if let Some(at) = name_position(args).filter(|&at| args[at] == "http" || args[at] == "redis") {
        let mut rest = args.to_vec();
        let which = rest.remove(at);
        return if which == "http" { http::parse(&rest) } else { redis::parse(&rest) };
    }
    let mut benchmark = None;
    let mut opts = BenchOpts {
        benchmark: 0,
        iterations: None,
        runs: DEFAULT_RUNS,
        timeout_secs: DEFAULT_TIMEOUT_SECS,
        count_instructions: false,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v)),
            _ => (arg.as_str(), None),
        };
        let mut value = || {
            inline
                .map(str::to_string)
                .or_else(|| it.next().cloned())
                .ok_or_else(|| Error::usage(format!("option '{name}' needs a value")))
        };
        match name {
            "--iterations" => {
                opts.iterations = Some(number(name, &value()?, 1, MAX_ITERATIONS)?);
            }
            "--runs" => opts.runs = number(name, &value()?, 1, u64::from(MAX_RUNS))? as u32,
            "--timeout" => opts.timeout_secs = number(name, &value()?, 1, MAX_TIMEOUT_SECS)?,
            "--count-instructions" => {
                if inline.is_some() {
                    return Err(Error::usage("--count-instructions takes no value"));
                }
                opts.count_instructions = true;
            }
            "--help" | "-h" => return Ok(Command::Help),
            _ if name.starts_with('-') => {
                return Err(Error::usage(format!("unknown option '{name}'")));
            }
            word => {
                if benchmark.is_some() {
                    return Err(Error::usage(format!("unexpected argument '{word}'")));
                }
                let index = BENCHMARKS
                    .iter()
                    .position(|b| b.name == word)
                    .ok_or_else(|| {
                        Error::usage(format!(
                            "unknown benchmark '{word}' (known: {}, http, redis)",
                            names().join(", ")
                        ))
                    })?;
                benchmark = Some(index);
            }
        }
    }
    opts.benchmark = benchmark.ok_or_else(|| {
        Error::usage(format!(
            "bench needs a benchmark name ({}, http, redis)",
            names().join(", ")
        ))
    })?;
    Ok(Command::Bench(opts))
}

fn names() -> Vec<&'static str> {
    BENCHMARKS.iter().map(|b| b.name).collect()
}

fn number(name: &str, value: &str, min: u64, max: u64) -> Result<u64, Error> {
    let bad = || {
        Error::usage(format!(
            "{name} must be a whole number from {min} to {max}, not '{value}'"
        ))
    };
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match value.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(bad()),
    }
}

/// Where a row was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Env {
    IsolaStrict,
    IsolaMpk,
    IsolaNone,
    LinuxGuest,
    Host,
}

impl Env {
    /// The order of the table's rows.
    pub const ALL: [Env; 5] = [Env::IsolaStrict, Env::IsolaMpk, Env::IsolaNone, Env::LinuxGuest, Env::Host];

    /// The order the rows are measured in: quick and independent of the
    /// kernel first.
    const RUN_ORDER: [Env; 5] = [Env::Host, Env::LinuxGuest, Env::IsolaStrict, Env::IsolaMpk, Env::IsolaNone];

    fn short(self) -> &'static str {
        match self {
            Env::IsolaStrict => "Isola strict",
            Env::IsolaMpk => "Isola mpk",
            Env::IsolaNone => "Isola none",
            Env::LinuxGuest => "Linux guest",
            Env::Host => "host",
        }
    }
}

/// One row: the figures of every run, or why there are none.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub env: Env,
    /// What exactly ran there (QEMU machine, kernel version).
    pub detail: String,
    pub samples: Result<Vec<f64>, String>,
    /// Instructions per iteration, one figure per run
    /// (`--count-instructions`; empty for the host and without it).
    pub instructions: Vec<f64>,
}

impl Row {
    fn median(&self) -> Option<f64> {
        self.samples.as_ref().ok().and_then(|s| median(s))
    }
}

/// The median (mean of the middle two for an even count).
pub fn median(samples: &[f64]) -> Option<f64> {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// A figure the way the table shows it.
fn figure(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => {
            let r = a / b;
            if r >= 10.0 {
                format!("{r:.1}x")
            } else {
                format!("{r:.2}x")
            }
        }
        _ => "-".to_string(),
    }
}

/// A table cell: one line, no `|`.
fn cell(text: &str) -> String {
    text.lines()
        .next()
        .unwrap_or("")
        .replace('|', "/")
        .trim()
        .to_string()
}

/// A Markdown table, columns padded so it reads in a terminal: the first
/// row is the header, the first column text (left-aligned), the others
/// figures (right-aligned). Every row has the header's number of cells.
fn render_table<R: AsRef<[String]>>(table: &[R]) -> String {
    let columns = table.first().map_or(0, |r| r.as_ref().len());
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            table
                .iter()
                .map(|r| r.as_ref()[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (i, row) in table.iter().enumerate() {
        out.push('|');
        for (c, text) in row.as_ref().iter().enumerate() {
            let pad = widths[c] - text.chars().count();
            // Text left, figures right.
            if c == 0 || i == 0 {
                let _ = write!(out, " {text}{} |", " ".repeat(pad));
            } else {
                let _ = write!(out, " {}{text} |", " ".repeat(pad));
            }
        }
        out.push('\n');
        if i == 0 {
            out.push('|');
            for (c, w) in widths.iter().enumerate() {
                let dashes = "-".repeat(w + 1);
                out.push_str(if c == 0 { ":" } else { "" });
                out.push_str(&dashes[usize::from(c == 0)..]);
                out.push_str(if c == 0 { "-|" } else { ":|" });
            }
            out.push('\n');
        }
    }
    out
}

/// The instruction columns of a row (`--count-instructions`): the median
/// per iteration, its ratio to the Linux guest's, and with several runs
/// their range; `-` where nothing was counted (the host).
fn instruction_cells(figures: &[f64], linux: Option<f64>, runs: u32) -> Vec<String> {
    let med = median(figures);
    let mut cells = vec![med.map_or("-".to_string(), figure), ratio(med, linux)];
    if runs > 1 {
        cells.push(match icount::spread_percent(figures) {
            Some(spread) => format!("{spread:.2} %"),
            None => "-".to_string(),
        });
    }
    cells
}

/// The result table (Markdown, columns padded so it reads in a terminal);
/// with `counted`, the instruction columns too.
pub fn format_table(bench: &Benchmark, iterations: u64, runs: u32, counted: bool, rows: &[Row]) -> String {
    let reference = |env| rows.iter().find(|r| r.env == env).and_then(Row::median);
    let linux = reference(Env::LinuxGuest);
    let host = reference(Env::Host);
    let linux_instructions = rows
        .iter()
        .find(|r| r.env == Env::LinuxGuest && r.samples.is_ok())
        .and_then(|r| median(&r.instructions));
    let mut header = vec![
        "environment".to_string(),
        format!("{} (median)", bench.unit),
        "min - max".to_string(),
        "vs Linux guest".to_string(),
        "vs host".to_string(),
    ];
    if counted {
        header.push("instructions/op (median)".to_string());
        header.push("instructions vs Linux guest".to_string());
        if runs > 1 {
            header.push("instructions spread".to_string());
        }
    }
    let columns = header.len();
    let mut table: Vec<Vec<String>> = vec![header];
    let mut failures = Vec::new();
    for env in Env::ALL {
        let Some(row) = rows.iter().find(|r| r.env == env) else {
            continue;
        };
        let name = cell(&format!("{} ({})", env.short(), row.detail));
        let line = match &row.samples {
            Ok(samples) if !samples.is_empty() => {
                let min = samples.iter().copied().fold(f64::INFINITY, f64::min);
                let max = samples.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let med = row.median();
                let mut line = vec![
                    name,
                    med.map(figure).unwrap_or_default(),
                    format!("{} - {}", figure(min), figure(max)),
                    ratio(med, linux),
                    ratio(med, host),
                ];
                if counted {
                    line.extend(instruction_cells(&row.instructions, linux_instructions, runs));
                }
                line
            }
            Ok(_) | Err(_) => {
                let why = match &row.samples {
                    Err(why) => cell(why),
                    Ok(_) => "no runs".to_string(),
                };
                failures.push(format!("{} failed: {why}", env.short()));
                let mut line = vec![name, "failed".into(), String::new(), "-".into(), "-".into()];
                line.resize(columns, "-".into());
                line
            }
        };
        table.push(line);
    }
    let mut out = format!(
        "{} ({}): {iterations} iterations per run, median of {runs} run{}\n",
        bench.name,
        bench.what,
        if runs == 1 { "" } else { "s" }
    );
    if counted {
        let _ = writeln!(
            out,
            "instructions/op: (count at {} - count at {iterations}) / {iterations}, each count from the \
             first to the last user system call of one boot (plugin/icount.c); times measured under the plugin",
            2 * iterations
        );
    }
    out.push('\n');
    out.push_str(&render_table(&table));
    if !failures.is_empty() {
        out.push('\n');
        for f in failures {
            let _ = writeln!(out, "{f}");
        }
    }
    out
}

/// `isola bench NAME`: measure every environment, print the table; exit 0
/// iff every row was measured, 1 otherwise (the table still shows the
/// others).
pub fn run(opts: &BenchOpts) -> Result<i32, Error> {
    let bench = &BENCHMARKS[opts.benchmark];
    let root = kbuild::workspace_root();
    let program = ensure_program(&root, bench.program)?;
    let iterations = opts.iterations.unwrap_or(bench.default_iterations);
    let args = (bench.args)(iterations);
    let files = (bench.files)().map_err(Error::failure)?;
    let timeout = Duration::from_secs(opts.timeout_secs);
    eprintln!(
        "bench: {} ({}), {} {}, {} run(s) per environment",
        bench.name,
        bench.what,
        bench.program,
        args.join(" "),
        opts.runs
    );
    let mut rows = Vec::new();
    let how = How { iterations, files: &files, runs: opts.runs, timeout, count: opts.count_instructions };
    for env in Env::RUN_ORDER {
        let row = measure(env, bench, &root, &program, &how);
        if let Err(why) = &row.samples {
            eprintln!("bench: {}: failed: {why}", env.short());
        }
        rows.push(row);
    }
    print!("{}", format_table(bench, iterations, opts.runs, opts.count_instructions, &rows));
    Ok(if rows.iter().all(|r| r.samples.is_ok()) {
        0
    } else {
        1
    })
}

/// `target/userland/PROGRAM`, built with scripts/build-userland if missing.
fn ensure_program(root: &Path, program: &str) -> Result<PathBuf, Error> {
    let path = root.join("target/userland").join(program);
    if path.is_file() {
        return Ok(path);
    }
    let script = root.join("scripts/build-userland");
    eprintln!(
        "bench: {} missing, running scripts/build-userland",
        path.display()
    );
    let status = Process::new(&script)
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::from(io::stderr()))
        .status()
        .map_err(|e| Error::failure(format!("cannot run {}: {e}", script.display())))?;
    if !status.success() || !path.is_file() {
        return Err(Error::failure(format!(
            "scripts/build-userland failed ({status}); {} not built",
            path.display()
        )));
    }
    Ok(path)
}

/// How every environment is measured.
struct How<'a> {
    /// Iterations of a timed run.
    iterations: u64,
    /// Host files the program needs ([`Benchmark::files`]).
    files: &'a [PathBuf],
    runs: u32,
    /// Of one run (one guest boot).
    timeout: Duration,
    /// `--count-instructions`: every guest run is one of iterations, then
    /// one of twice as many, both counted.
    count: bool,
}

/// Where a guest row's plugin writes the counts of its run of `k`
/// iterations.
fn count_file(root: &Path, env: Env, k: u64) -> PathBuf {
    let slug = env.short().to_lowercase().replace(' ', "-");
    root.join("target/isola/bench").join(format!("icount-{}-{slug}-{k}.txt", std::process::id()))
}

/// Run `bench` `how.runs` times in `env`; stop at the first failure.
fn measure(env: Env, bench: &Benchmark, root: &Path, program: &Path, how: &How<'_>) -> Row {
    let mut row = Row {
        env,
        detail: String::new(),
        samples: Ok(Vec::new()),
        instructions: Vec::new(),
    };
    // A run of N iterations, and with --count-instructions (guests only)
    // one of 2N right after it.
    let counted = how.count && env != Env::Host;
    let counts: Vec<u64> = if counted { vec![how.iterations, 2 * how.iterations] } else { vec![how.iterations] };
    if counted {
        let dir = root.join("target/isola/bench");
        if let Err(e) = std::fs::create_dir_all(&dir) {
            row.samples = Err(format!("cannot create {}: {e}", dir.display()));
            return row;
        }
    }
    // Per-environment preparation: the Linux guest needs a kernel and an
    // initramfs (one per iteration count: the count is in its /init)
    // before its first boot.
    let guests = match env {
        Env::LinuxGuest => match guest_files(how.files).and_then(|executables| {
            counts
                .iter()
                .map(|&k| {
                    let args = (bench.args)(k);
                    linux_guest::Guest::prepare_spec(
                        root,
                        &linux_guest::Spec { program, args: &args, files: &[], executables: &executables, net: false },
                    )
                })
                .collect::<Result<Vec<_>, _>>()
        }) {
            Ok(g) => g,
            Err(why) => {
                row.detail = linux_guest::DETAIL.to_string();
                row.samples = Err(why);
                return row;
            }
        },
        _ => Vec::new(),
    };
    row.detail = match (guests.first(), env) {
        (Some(g), _) => g.detail(),
        (None, Env::IsolaStrict | Env::IsolaMpk) => "TCG -cpu max".into(),
        (None, Env::IsolaNone) => "TCG -cpu max,-pku".into(),
        (None, _) => host_detail(),
    };
    let mut samples = Vec::new();
    for i in 1..=how.runs {
        let started = Instant::now();
        let mut value = None;
        let mut windows = Vec::new();
        for (j, &k) in counts.iter().enumerate() {
            let args = (bench.args)(k);
            let file = counted.then(|| count_file(root, env, k));
            if let Some(f) = &file {
                let _ = std::fs::remove_file(f);
            }
            let plugin = || file.as_deref().map(icount::plugin_arg).transpose().map_err(|e| e.to_string());
            let output = match env {
                Env::Host => run_host(program, &args, how.timeout),
                Env::IsolaStrict => run_isola(Level::Strict, program, &args, how.files, how.timeout, file.as_deref()),
                Env::IsolaMpk => run_isola(Level::Mpk, program, &args, how.files, how.timeout, file.as_deref()),
                Env::IsolaNone => run_isola(Level::None, program, &args, how.files, how.timeout, file.as_deref()),
                Env::LinuxGuest => plugin().and_then(|p| guests[j].run_once(how.timeout, p)),
            };
            let figure = output.and_then(|lines| {
                lines.iter().find_map(|l| (bench.parse)(l)).ok_or_else(|| {
                    format!(
                        "no result line in the output (last line: '{}')",
                        lines
                            .iter()
                            .rev()
                            .find(|l| !l.trim().is_empty())
                            .map_or("", |l| l.trim())
                    )
                })
            });
            let window = match &file {
                Some(f) => {
                    let read = icount::read(f);
                    let _ = std::fs::remove_file(f);
                    figure.and_then(|v| read.map(|c| (v, Some(c))))
                }
                None => figure.map(|v| (v, None)),
            };
            match window {
                Ok((v, counts)) => {
                    // The time is the run of N's: the table's iterations.
                    value.get_or_insert(v);
                    windows.extend(counts);
                }
                Err(why) => {
                    row.samples = Err(if counted { format!("at {k} iterations: {why}") } else { why });
                    return row;
                }
            }
        }
        let Some(v) = value else { unreachable!("one run at least") };
        let per_op = match &windows[..] {
            [at_n, at_2n] => match icount::per_op(at_n, at_2n, how.iterations) {
                Ok(p) => Some(p),
                Err(why) => {
                    row.samples = Err(why);
                    return row;
                }
            },
            _ => None,
        };
        eprintln!(
            "bench: {} run {i}/{}: {} {}{} ({:.1} s)",
            env.short(),
            how.runs,
            figure(v),
            bench.unit,
            per_op.map_or(String::new(), |p| format!(", {} instructions/op", figure(p))),
            started.elapsed().as_secs_f64()
        );
        samples.push(v);
        row.instructions.extend(per_op);
    }
    row.samples = Ok(samples);
    row
}

fn host_detail() -> String {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into());
    format!("Linux {release}, native")
}

/// What a child process printed and how it ended.
#[derive(Debug)]
struct Captured {
    status: ExitStatus,
    stdout: Vec<String>,
    stderr: Vec<String>,
}

/// Run `cmd` to completion with its output captured; kill it after
/// `timeout`.
fn run_captured(mut cmd: Process, timeout: Duration) -> Result<Captured, String> {
    let what = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {what}: {e}"))?;
    let reader = |stream: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut s) = stream {
                let _ = s.read_to_end(&mut bytes);
            }
            String::from_utf8_lossy(&bytes)
                .lines()
                .map(|l| l.trim_end_matches('\r').to_string())
                .collect::<Vec<_>>()
        })
    };
    let out = reader(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let err = reader(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{what} timed out after {} s", timeout.as_secs()));
            }
            Err(e) => return Err(format!("waiting for {what}: {e}")),
        }
    };
    Ok(Captured {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

fn run_host(program: &Path, args: &[String], timeout: Duration) -> Result<Vec<String>, String> {
    let mut cmd = Process::new(program);
    cmd.args(args);
    let c = run_captured(cmd, timeout)?;
    if !c.status.success() {
        return Err(format!(
            "{} {}: {}",
            program.display(),
            c.status,
            c.stderr.last().map_or("", String::as_str)
        ));
    }
    Ok(c.stdout)
}

/// The `isola run` command line for one Isola row.
pub fn isola_run_args(
    level: Level,
    timeout: Duration,
    program: &Path,
    args: &[String],
) -> Vec<String> {
    let mut v: Vec<String> = [
        "run",
        "--accel",
        "tcg",
        "--isolation",
        level.as_str(),
        "--timeout",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push(timeout.as_secs().max(1).to_string());
    v.push("--".into());
    v.push(program.display().to_string());
    v.extend(args.iter().cloned());
    v
}

/// Why an `isola run` child failed, in one line: its exit code and the
/// last thing isola said about it (or the guest's last line).
pub fn isola_failure(code: Option<i32>, stdout: &[String], stderr: &[String]) -> String {
    let code = code.map_or("killed by a signal".to_string(), |c| format!("exited {c}"));
    let said = stderr
        .iter()
        .rev()
        .find_map(|l| l.trim().strip_prefix("isola: "))
        .or_else(|| {
            stdout
                .iter()
                .rev()
                .map(|l| l.trim())
                .find(|l| !l.is_empty())
        });
    match said {
        Some(line) => format!("isola run {code}: {line}"),
        None => format!("isola run {code} without a word"),
    }
}

/// The files a benchmark needs, read for the Linux guest's initramfs.
fn guest_files(files: &[PathBuf]) -> Result<Vec<(String, Vec<u8>)>, String> {
    files
        .iter()
        .map(|path| {
            let data = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            Ok((path.display().to_string(), data))
        })
        .collect()
}

/// One Isola row's run: `isola run`, counting instructions into
/// `count_file` when given.
fn run_isola(
    level: Level,
    program: &Path,
    args: &[String],
    files: &[PathBuf],
    timeout: Duration,
    count_file: Option<&Path>,
) -> Result<Vec<String>, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find isola itself: {e}"))?;
    let mut cmd = Process::new(exe);
    let mut run_args = isola_run_args(level, timeout, program, args);
    if let Some(file) = count_file {
        run_args.insert(1, format!("--count-instructions={}", file.display()));
    }
    // Each file at its own path: `--add HOST:GUEST` before the program.
    for file in files.iter().rev() {
        let at = run_args.iter().position(|a| a == "--").unwrap_or(run_args.len());
        run_args.insert(at, format!("{}:{}", file.display(), file.display()));
        run_args.insert(at, "--add".into());
    }
    cmd.args(run_args);
    // isola run enforces `timeout` on the guest; this one only guards
    // against isola itself hanging (the kernel build included).
    let c = run_captured(cmd, timeout + Duration::from_secs(600))?;
    if c.status.code() != Some(0) {
        return Err(isola_failure(c.status.code(), &c.stdout, &c.stderr));
    }
    Ok(c.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_args(args: &[&str]) -> Result<BenchOpts, Error> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        match parse(&args)? {
            Command::Bench(o) => Ok(o),
            other => panic!("expected bench, got {other:?}"),
        }
    }

    fn usage(args: &[&str]) -> String {
        match parse_args(args) {
            Err(Error::Usage(m)) => m,
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn futex_and_thread_lines() {
        assert_eq!(parse_futex("futex: 100 round trips, 12.500 us/round trip"), Some(12.5));
        assert_eq!(parse_futex("futex: 0 round trips, 1.0 us/round trip"), None);
        assert_eq!(parse_thread("thread: 10 creates, 30.250 us/op\r"), Some(30.25));
        assert_eq!(parse_thread("thread: 10 creates, 30 ns/op"), None);
    }

    #[test]
    fn getpid_lines() {
        assert_eq!(
            parse_getpid("getpid: 1000000 calls, 125.8 ns/call"),
            Some(125.8)
        );
        assert_eq!(parse_getpid("getpid: 5 calls, 3 ns/call\r"), Some(3.0));
        assert_eq!(
            parse_getpid("[1.2] x getpid: 10 calls, 0.5 ns/call"),
            Some(0.5)
        );
        for bad in [
            "",
            "getpid: 0 calls, 1.0 ns/call",
            "getpid: x calls, 1.0 ns/call",
            "getpid: 10 calls, nan ns/call",
            "getpid: 10 calls, -1 ns/call",
            "getpid: 10 calls, 1.0 us/call",
            "hello from C",
        ] {
            assert_eq!(parse_getpid(bad), None, "{bad}");
        }
    }

    #[test]
    fn exec_lines_and_ldd_output() {
        assert_eq!(parse_exec("exec: 100 execs, 812345 ns/op, 812.3 us/op"), Some(812.3));
        assert_eq!(parse_exec("exec: 0 execs, 1 ns/op, 0.0 us/op"), None);
        assert_eq!(parse_exec("exec: 100 forks, 1 ns/op, 0.0 us/op"), None);
        let ldd = "\tlinux-vdso.so.1 (0x00007ffd)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n";
        assert_eq!(
            parse_ldd(ldd),
            vec![PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"), PathBuf::from("/lib64/ld-linux-x86-64.so.2")]
        );
        let exec = parse_args(&["exec", "--iterations", "7"]).unwrap();
        assert_eq!(BENCHMARKS[exec.benchmark].program, "bench-exec");
        assert_eq!((BENCHMARKS[exec.benchmark].args)(7), vec!["7".to_string(), "/usr/bin/true".to_string()]);
    }

    #[test]
    fn fork_and_pipe_lines() {
        assert_eq!(
            parse_fork("fork: 1000 forks, 94477 ns/op, 94.5 us/op"),
            Some(94.5)
        );
        assert_eq!(
            parse_fork("[3.1] fork: 10 forks, 1270000 ns/op, 1270.0 us/op\r"),
            Some(1270.0)
        );
        assert_eq!(
            parse_pipe("pipe: 10000 round trips, 45.36 us/round trip"),
            Some(45.36)
        );
        assert_eq!(
            parse_pipe("x pipe: 5 round trips, 114.00 us/round trip\r"),
            Some(114.0)
        );
        for bad in [
            "",
            "fork: 0 forks, 1 ns/op, 0.0 us/op",
            "fork: 10 forks, 1 ns/op, nan us/op",
            "fork: 10 forks, 1 ns/op, -3 us/op",
            "fork: 10 forks, 1.0 us/op",
            "getpid: 10 calls, 1.0 ns/call",
        ] {
            assert_eq!(parse_fork(bad), None, "{bad}");
        }
        for bad in [
            "",
            "pipe: 0 round trips, 1.0 us/round trip",
            "pipe: 10 round trips, 1.0 ns/round trip",
            "pipe: x round trips, 1.0 us/round trip",
            "fork: 10 forks, 1 ns/op, 1.0 us/op",
        ] {
            assert_eq!(parse_pipe(bad), None, "{bad}");
        }
        let fork = parse_args(&["fork"]).unwrap();
        assert_eq!(BENCHMARKS[fork.benchmark].program, "bench-fork");
        let pipe = parse_args(&["pipe", "--iterations", "50"]).unwrap();
        assert_eq!(BENCHMARKS[pipe.benchmark].program, "bench-pipe");
        assert_eq!(pipe.iterations, Some(50));
        for b in BENCHMARKS.iter().filter(|b| b.name != "exec") {
            assert_eq!((b.args)(7), ["7"]);
        }
    }

    #[test]
    fn options() {
        let o = parse_args(&["syscall"]).unwrap();
        assert_eq!(
            o,
            BenchOpts {
                benchmark: 0,
                iterations: None,
                runs: 3,
                timeout_secs: DEFAULT_TIMEOUT_SECS,
                count_instructions: false,
            }
        );
        let o = parse_args(&["--count-instructions", "pipe", "--iterations", "5"]).unwrap();
        assert!(o.count_instructions);
        assert_eq!((BENCHMARKS[o.benchmark].name, o.iterations), ("pipe", Some(5)));
        assert!(parse_args(&["fork", "--count-instructions"]).unwrap().count_instructions);
        // Before the name it takes no value: `http` is still the benchmark.
        assert!(matches!(
            parse(&["--count-instructions".to_string(), "http".to_string()]),
            Ok(Command::BenchHttp(h)) if h.count_instructions
        ));
        let o = parse_args(&[
            "--runs=5",
            "syscall",
            "--iterations",
            "1000",
            "--timeout",
            "9",
        ])
        .unwrap();
        assert_eq!((o.runs, o.iterations, o.timeout_secs), (5, Some(1000), 9));
        assert_eq!(
            parse(&["syscall".to_string(), "--help".to_string()]).unwrap(),
            Command::Help
        );
    }

    #[test]
    fn option_errors() {
        assert!(usage(&[]).contains("needs a benchmark name (syscall, fork, pipe, exec, futex, thread, http, redis)"));
        assert!(
            usage(&["spawn"])
                .contains("unknown benchmark 'spawn' (known: syscall, fork, pipe, exec, futex, thread, http, redis)")
        );
        // http's options are not the others'.
        assert!(usage(&["syscall", "--requests", "5"]).contains("unknown option '--requests'"));
        assert!(usage(&["syscall", "syscall"]).contains("unexpected argument"));
        assert!(usage(&["syscall", "--runs"]).contains("needs a value"));
        assert!(usage(&["syscall", "--runs", "0"]).contains("--runs must be"));
        assert!(usage(&["syscall", "--runs", "102"]).contains("--runs must be"));
        assert!(usage(&["syscall", "--iterations", "1e6"]).contains("--iterations"));
        assert!(usage(&["syscall", "--iterations=-1"]).contains("--iterations"));
        assert!(usage(&["syscall", "--frob"]).contains("unknown option '--frob'"));
        assert!(usage(&["syscall", "--count-instructions=yes"]).contains("takes no value"));
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0]), Some(3.0));
        assert_eq!(median(&[5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
    }

    fn squash(s: &str) -> String {
        s.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    fn row(env: Env, samples: Result<Vec<f64>, String>) -> Row {
        Row {
            env,
            detail: "d".into(),
            samples,
            instructions: Vec::new(),
        }
    }

    #[test]
    fn table() {
        let rows = [
            row(Env::Host, Ok(vec![130.0, 120.0, 125.0])),
            row(Env::LinuxGuest, Ok(vec![600.0, 700.0, 650.0])),
            row(Env::IsolaMpk, Ok(vec![6500.0, 6600.0, 6400.0])),
            row(
                Env::IsolaNone,
                Err("isola run exited 125: no | exit status\nsecond line".into()),
            ),
        ];
        let t = format_table(&BENCHMARKS[0], 1000, 3, false, &rows);
        let lines: Vec<&str> = t.lines().collect();
        let squashed: Vec<String> = lines.iter().map(|l| squash(l)).collect();
        assert_eq!(
            lines[0],
            "syscall (raw getpid syscall): 1000 iterations per run, median of 3 runs"
        );
        assert!(lines[2].starts_with("| environment "), "{t}");
        assert!(lines[3].starts_with("|:---"), "{t}");
        assert!(lines[3].ends_with(":|"), "{t}");
        // Rows in table order: Isola mpk, Isola none, Linux guest, host.
        assert_eq!(
            squashed[4],
            "| Isola mpk (d) | 6500 | 6400 - 6600 | 10.0x | 52.0x |"
        );
        assert_eq!(squashed[5], "| Isola none (d) | failed | | - | - |");
        assert_eq!(
            squashed[6],
            "| Linux guest (d) | 650 | 600 - 700 | 1.00x | 5.20x |"
        );
        assert_eq!(
            squashed[7],
            "| host (d) | 125 | 120 - 130 | 0.19x | 1.00x |"
        );
        // The reasons follow the table, one line each.
        assert_eq!(lines[8], "");
        assert_eq!(
            lines[9],
            "Isola none failed: isola run exited 125: no / exit status"
        );
        assert_eq!(lines.len(), 10, "{t}");
        // Every line of the table has the same width.
        let widths: Vec<usize> = lines[2..8].iter().map(|l| l.chars().count()).collect();
        assert!(widths.iter().all(|&w| w == widths[0]), "{t}");
    }

    #[test]
    fn table_with_instruction_counts() {
        let counted = |env, instructions: Vec<f64>| Row { instructions, ..row(env, Ok(vec![600.0, 700.0])) };
        let rows = [
            row(Env::Host, Ok(vec![120.0, 130.0])),
            counted(Env::LinuxGuest, vec![310.0, 316.0]),
            counted(Env::IsolaMpk, vec![427.0, 426.0]),
            row(Env::IsolaNone, Err("at 20 iterations: no window".into())),
        ];
        let t = format_table(&BENCHMARKS[0], 10, 2, true, &rows);
        let lines: Vec<String> = t.lines().map(squash).collect();
        assert_eq!(
            lines[1],
            "instructions/op: (count at 20 - count at 10) / 10, each count from the first to the last user \
             system call of one boot (plugin/icount.c); times measured under the plugin"
        );
        assert!(
            lines[3].ends_with("| instructions/op (median) | instructions vs Linux guest | instructions spread |"),
            "{t}"
        );
        assert!(lines[5].starts_with("| Isola mpk (d) | 650 |"), "{t}");
        assert!(lines[5].ends_with("| 426 | 1.36x | 0.23 % |"), "{t}");
        assert_eq!(lines[6], "| Isola none (d) | failed | | - | - | - | - | - |");
        assert!(lines[7].ends_with("| 313 | 1.00x | 1.94 % |"), "{t}");
        assert!(lines[8].ends_with("| - | - | - |"), "{t}");
        let widths: Vec<usize> = t.lines().skip(3).take(6).map(|l| l.chars().count()).collect();
        assert!(widths.iter().all(|&w| w == widths[0]), "{t}");
        // One run: no spread column.
        let t = format_table(&BENCHMARKS[0], 10, 1, true, &rows[..2]);
        assert!(squash(t.lines().nth(3).unwrap()).ends_with("| instructions vs Linux guest |"), "{t}");
    }

    #[test]
    fn count_files_are_per_row_and_count() {
        let a = count_file(Path::new("/w"), Env::IsolaMpk, 10);
        assert!(a.starts_with("/w/target/isola/bench"));
        assert!(a.display().to_string().ends_with("-isola-mpk-10.txt"), "{}", a.display());
        assert_ne!(a, count_file(Path::new("/w"), Env::IsolaMpk, 20));
        assert_ne!(a, count_file(Path::new("/w"), Env::IsolaNone, 10));
    }

    #[test]
    fn table_without_references() {
        let rows = [
            row(Env::Host, Err("x".into())),
            row(Env::IsolaMpk, Ok(vec![5.25])),
        ];
        let t = format_table(&BENCHMARKS[0], 10, 1, false, &rows);
        assert!(
            t.lines().next().unwrap().ends_with("median of 1 run"),
            "{t}"
        );
        assert!(
            squash(&t).contains("| Isola mpk (d) | 5.2 | 5.2 - 5.2 | - | - |"),
            "{t}"
        );
        assert!(t.ends_with("\nhost failed: x\n"), "{t}");
        assert!(!t.contains("Linux guest ("), "{t}");
    }

    #[test]
    fn isola_command_line_is_one_isola_run_accepts() {
        let args = isola_run_args(
            Level::Mpk,
            Duration::from_secs(120),
            Path::new("/w/target/userland/bench-getpid"),
            &["1000".to_string()],
        );
        assert_eq!(
            args.join(" "),
            "run --accel tcg --isolation mpk --timeout 120 -- /w/target/userland/bench-getpid 1000"
        );
        match crate::cli::parse(args).unwrap() {
            Command::Run(o) => {
                let p = o.program.expect("a program");
                assert_eq!(p.path, "/w/target/userland/bench-getpid");
                assert_eq!(p.args, ["1000"]);
                assert_eq!(o.boot.timeout_secs, Some(120));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn isola_failures_in_one_line() {
        let out = ["Isola 0.1 | isolation: mpk | boot: 5 ms".to_string()];
        let err = [
            "isola: using TCG -cpu max, isolation mpk".to_string(),
            "isola: the guest ended without an exit status (QEMU exit code 1)".to_string(),
        ];
        assert_eq!(
            isola_failure(Some(125), &out, &err),
            "isola run exited 125: the guest ended without an exit status (QEMU exit code 1)"
        );
        assert_eq!(
            isola_failure(Some(139), &out, &[]),
            "isola run exited 139: Isola 0.1 | isolation: mpk | boot: 5 ms"
        );
        assert_eq!(
            isola_failure(None, &[], &[]),
            "isola run killed by a signal without a word"
        );
    }

    #[test]
    fn captured_host_program() {
        let mut cmd = Process::new("sh");
        cmd.args(["-c", "echo one; echo two >&2; exit 3"]);
        let c = run_captured(cmd, Duration::from_secs(20)).unwrap();
        assert_eq!(c.status.code(), Some(3));
        assert_eq!(c.stdout, ["one"]);
        assert_eq!(c.stderr, ["two"]);
        let mut cmd = Process::new("sleep");
        cmd.arg("30");
        let start = Instant::now();
        let e = run_captured(cmd, Duration::from_millis(300)).unwrap_err();
        assert!(e.contains("timed out"), "{e}");
        assert!(start.elapsed() < Duration::from_secs(10));
    }
}
