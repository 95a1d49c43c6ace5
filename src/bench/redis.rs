//! `isola bench redis`: Debian's redis-server from a root `isola rootfs
//! --packages redis-server` builds once (`target/isola/bench/redis-root`),
//! loaded from the host by `redis-benchmark -t set,get` (Debian's
//! redis-tools on the host, `scripts/setup`; else the root's own, run on
//! the host through `chroot`), in the rows of `isola bench http --server
//! nginx`:
//!
//! - **Isola** strict, mpk and none: `isola run --name N --memory 1024
//!   --rootfs DIR -p H:6379 /usr/bin/redis-server CONF`;
//! - **Linux guest**: Debian's cloud kernel booted with DIR as its root,
//!   the same QEMU networking behind the same forwarder
//!   ([`super::http::boot_linux_guest`]), 1024 MiB as well;
//! - **host**: `chroot DIR /usr/bin/redis-server CONF --bind 127.0.0.1
//!   --port P` on a free port (needs root).
//!
//! CONF ([`CONFIG`], written into the root at every run) is what
//! tests/redis.rs gives redis (bind, port, protected-mode off since the
//! forwarded connections come from slirp's side, in the foreground, log
//! to stdout) with persistence off: no RDB save rules and no AOF, so that
//! no BGSAVE fork lands in the middle of the load.
//!
//! A row: start the server, wait until it answers PING (`--timeout`),
//! run `redis-benchmark -h 127.0.0.1 -p H -t set,get -n N -c C --csv`
//! (killed after [`LOAD_LIMIT`]: a row error, never a hang), read its
//! CSV ([`parse_csv`]), stop the server (SIGTERM to pid 1 through the
//! control channel for Isola, SIGTERM to QEMU for the Linux guest, SIGTERM
//! then SIGKILL on the host).

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command as Process, ExitStatus};
use std::time::{Duration, Instant};

use super::http::{self, Watched};
use super::linux_guest::{self, Guest, RootRun};
use super::{Env, cell, figure, host_detail, isola_failure, ratio, render_table};
use crate::cli::Command;
use crate::error::Error;
use crate::kbuild;

/// Default `--requests` (each of SET and GET).
pub const DEFAULT_REQUESTS: u64 = 20_000;
/// Default `--concurrency` (redis-benchmark's `-c`).
pub const DEFAULT_CONCURRENCY: u32 = 50;
/// Default `--timeout`: from a row's start to the first PONG.
pub const DEFAULT_TIMEOUT_SECS: u64 = 300;
const MAX_REQUESTS: u64 = 10_000_000;
const MAX_CONCURRENCY: u32 = 1024;
const MAX_TIMEOUT_SECS: u64 = 24 * 60 * 60;

/// redis's port inside the guests.
const GUEST_PORT: u16 = 6379;
/// Guest RAM of every guest row (the Linux guest unpacks the 118 MiB
/// root into it: 512 MiB is not enough for roots this size).
const MEMORY_MIB: u32 = 1024;
/// How long redis-benchmark may run.
const LOAD_LIMIT: Duration = Duration::from_secs(1800);
/// `isola run --timeout` of an Isola row: `--timeout` plus this.
const LOAD_BUDGET_SECS: u64 = 3600;
/// How long a server may take to end after SIGTERM.
const STOP_WAIT: Duration = Duration::from_secs(30);
/// SIGTERM: redis-server's shutdown (nothing to save here).
const SIGTERM: u32 = 15;

/// The root's packages, its directory under `target/isola/bench`, the
/// server, the configuration file in the root.
const PACKAGES: &[&str] = &["redis-server"];
const ROOT_NAME: &str = "redis";
const SERVER: &str = "/usr/bin/redis-server";
const ROOT_BENCHMARK: &str = "/usr/bin/redis-benchmark";
const CONFIG_PATH: &str = "etc/redis/isola-bench.conf";
const CHANGELOG: &str = "usr/share/doc/redis-server/changelog.Debian.gz";

/// The server's configuration in every row (the host row adds `--bind
/// 127.0.0.1 --port P` on the command line).
pub const CONFIG: &str = "# isola bench redis: tests/redis.rs's configuration, persistence off.\n\
bind 0.0.0.0\nport 6379\n\
# The guests' forwarded connections come from slirp's side, not from loopback.\n\
protected-mode no\ndaemonize no\nsupervised no\nlogfile \"\"\n\
dir /tmp\nsave \"\"\nappendonly no\n";

/// `isola bench redis [--requests N] [--concurrency C] [--timeout SECS]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisOpts {
    pub requests: u64,
    pub concurrency: u32,
    pub timeout_secs: u64,
}

impl Default for RedisOpts {
    fn default() -> Self {
        RedisOpts { requests: DEFAULT_REQUESTS, concurrency: DEFAULT_CONCURRENCY, timeout_secs: DEFAULT_TIMEOUT_SECS }
    }
}

/// Parse the arguments after `bench` (`redis` itself removed).
pub fn parse(args: &[String]) -> Result<Command, Error> {
    let mut opts = RedisOpts::default();
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
            "--requests" => opts.requests = super::number(name, &value()?, 1, MAX_REQUESTS)?,
            "--concurrency" => opts.concurrency = super::number(name, &value()?, 1, u64::from(MAX_CONCURRENCY))? as u32,
            "--timeout" => opts.timeout_secs = super::number(name, &value()?, 1, MAX_TIMEOUT_SECS)?,
            "--help" | "-h" => return Ok(Command::Help),
            _ if name.starts_with('-') => return Err(Error::usage(format!("unknown option '{name}' for bench redis"))),
            word => return Err(Error::usage(format!("unexpected argument '{word}'"))),
        }
    }
    Ok(Command::BenchRedis(opts))
}

/// One test of redis-benchmark's CSV: `"SET","21367.52","2.227",...`.
#[derive(Debug, Clone, PartialEq)]
pub struct TestFigures {
    pub test: String,
    pub rps: f64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// redis-benchmark's `--csv` output: a header line (`"test","rps",
/// "avg_latency_ms",...,"p99_latency_ms",...`, redis 7) and one line per
/// test; without a header (redis 6) the lines are `"TEST","RPS"`. Other
/// lines (warnings) are skipped; no test line is an error.
pub fn parse_csv(text: &str) -> Result<Vec<TestFigures>, String> {
    let fields = |line: &str| -> Vec<String> { line.trim().split(',').map(|f| f.trim().trim_matches('"').to_string()).collect() };
    let mut columns: Option<Vec<String>> = None;
    let mut out = Vec::new();
    for line in text.lines() {
        let f = fields(line);
        if f.first().is_some_and(|c| c == "test") {
            columns = Some(f);
            continue;
        }
        let at = |name: &str, default: Option<usize>| columns.as_ref().map_or(default, |c| c.iter().position(|x| x == name));
        let get = |i: Option<usize>| i.and_then(|i| f.get(i)).and_then(|v| v.parse::<f64>().ok());
        let (Some(test), Some(rps)) = (at("test", Some(0)).and_then(|i| f.get(i)), get(at("rps", Some(1)))) else {
            continue;
        };
        if test.is_empty() || !test.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || " _-()".contains(c)) {
            continue;
        }
        out.push(TestFigures { test: test.clone(), rps, p50_ms: get(at("p50_latency_ms", None)), p99_ms: get(at("p99_latency_ms", None)) });
    }
    if out.is_empty() {
        return Err(format!("no test line in redis-benchmark's output: '{}'", text.lines().last().unwrap_or("").trim()));
    }
    Ok(out)
}

/// One row: SET's and GET's figures, or why there are none.
#[derive(Debug, Clone, PartialEq)]
pub struct RedisRow {
    pub env: Env,
    pub detail: String,
    pub result: Result<Vec<TestFigures>, String>,
}

impl RedisRow {
    fn test(&self, name: &str) -> Option<&TestFigures> {
        self.result.as_ref().ok()?.iter().find(|t| t.test == name)
    }
}

/// The rows, in the table's order, and the order they are measured in.
const ROWS: [Env; 5] = [Env::IsolaStrict, Env::IsolaMpk, Env::IsolaNone, Env::LinuxGuest, Env::Host];
const RUN_ORDER: [Env; 5] = [Env::Host, Env::LinuxGuest, Env::IsolaStrict, Env::IsolaMpk, Env::IsolaNone];

/// The result table, in the style of the other benchmarks.
pub fn format_table(opts: &RedisOpts, what: &str, rows: &[RedisRow]) -> String {
    let linux = rows.iter().find(|r| r.env == Env::LinuxGuest);
    let reference = |test: &str| linux.and_then(|r| r.test(test)).map(|t| t.rps);
    let mut table: Vec<Vec<String>> = vec![
        ["environment", "SET req/s", "SET p50 ms", "SET p99 ms", "GET req/s", "GET p50 ms", "GET p99 ms", "SET vs Linux guest", "GET vs Linux guest"]
            .map(String::from)
            .to_vec(),
    ];
    let ms = |v: Option<f64>| v.map_or("-".to_string(), figure);
    let mut notes = Vec::new();
    for env in ROWS {
        let Some(row) = rows.iter().find(|r| r.env == env) else { continue };
        let mut line = vec![cell(&format!("{} ({})", env.short(), row.detail))];
        match &row.result {
            Ok(_) => {
                for test in ["SET", "GET"] {
                    match row.test(test) {
                        Some(t) => line.extend([figure(t.rps), ms(t.p50_ms), ms(t.p99_ms)]),
                        None => line.extend(["-", "-", "-"].map(String::from)),
                    }
                }
                for test in ["SET", "GET"] {
                    line.push(ratio(row.test(test).map(|t| t.rps), reference(test)));
                }
            }
            Err(why) => {
                notes.push(format!("{} failed: {}", env.short(), cell(why)));
                line.push("failed".into());
                line.extend(["", "", "", "", ""].map(String::from));
                line.extend(["-", "-"].map(String::from));
            }
        }
        table.push(line);
    }
    let mut out = format!(
        "redis ({what}): redis-benchmark -t set,get -n {} -c {} from the host\n\n",
        opts.requests, opts.concurrency
    );
    out.push_str(&render_table(&table));
    if !notes.is_empty() {
        out.push('\n');
        for n in notes {
            let _ = writeln!(out, "{n}");
        }
    }
    out
}

/// The root, built once (its server missing means not built), with
/// [`CONFIG`] written into it.
fn prepare(repo: &Path) -> Result<PathBuf, String> {
    let dir = repo.join(format!("target/isola/bench/{ROOT_NAME}-root"));
    if !dir.join(SERVER.trim_start_matches('/')).is_file() {
        eprintln!("bench: building {} (isola rootfs --packages {})", dir.display(), PACKAGES.join(","));
        let opts = crate::rootfs_build::RootfsOpts {
            packages: PACKAGES.iter().map(|p| p.to_string()).collect(),
            out: dir.display().to_string(),
            force: true,
            usr_merge: false,
        };
        crate::rootfs_build::command(&opts).map_err(|e| format!("isola rootfs --packages {}: {e}", PACKAGES.join(",")))?;
        if !dir.join(SERVER.trim_start_matches('/')).is_file() {
            return Err(format!("isola rootfs left no {SERVER} in {}", dir.display()));
        }
    }
    let conf = dir.join(CONFIG_PATH);
    if let Some(parent) = conf.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    std::fs::write(&conf, CONFIG).map_err(|e| format!("cannot write {}: {e}", conf.display()))?;
    Ok(dir)
}

/// The load generator: the host's redis-benchmark, else the root's
/// through chroot (as root).
#[derive(Debug, Clone)]
enum Load {
    Host(PathBuf),
    Chroot(PathBuf),
}

impl Load {
    fn find(root: &Path) -> Result<Load, String> {
        let on_path = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).map(|d| d.join("redis-benchmark")).find(|f| f.is_file()))
            .unwrap_or(None);
        if let Some(exe) = on_path {
            return Ok(Load::Host(exe));
        }
        if http::running_as_root() && root.join(ROOT_BENCHMARK.trim_start_matches('/')).is_file() {
            return Ok(Load::Chroot(root.to_path_buf()));
        }
        Err("no redis-benchmark: run scripts/setup (Debian's redis-tools), or run as root to use the root's".into())
    }

    fn describe(&self) -> String {
        match self {
            Load::Host(exe) => exe.display().to_string(),
            Load::Chroot(root) => format!("chroot {} {ROOT_BENCHMARK}", root.display()),
        }
    }

    /// `redis-benchmark -h 127.0.0.1 -p PORT -t set,get -n N -c C --csv`,
    /// killed after [`LOAD_LIMIT`].
    fn run(&self, opts: &RedisOpts, port: u16) -> Result<Vec<TestFigures>, String> {
        let mut cmd = match self {
            Load::Host(exe) => Process::new(exe),
            Load::Chroot(root) => {
                let mut c = Process::new("chroot");
                c.arg(root).arg(ROOT_BENCHMARK);
                c
            }
        };
        cmd.args(benchmark_args(opts, port));
        let mut w = Watched::spawn("redis-benchmark", cmd)?;
        let status = w.wait_exit(Instant::now() + LOAD_LIMIT);
        let out = w.stdout.join("\n");
        match status {
            None => {
                w.kill();
                Err(format!("redis-benchmark still running after {} s: killed", LOAD_LIMIT.as_secs()))
            }
            Some(s) if !s.success() => Err(format!("redis-benchmark exited ({s}): {}", w.last_words(None))),
            Some(_) => parse_csv(&out),
        }
    }
}

/// redis-benchmark's arguments.
pub fn benchmark_args(opts: &RedisOpts, port: u16) -> Vec<String> {
    let (p, n, c) = (port.to_string(), opts.requests.to_string(), opts.concurrency.to_string());
    ["-h", "127.0.0.1", "-p", &p, "-t", "set,get", "-n", &n, "-c", &c, "--csv"].map(String::from).to_vec()
}

/// Does the server on 127.0.0.1:`port` answer PING with +PONG?
fn pong(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)), Duration::from_secs(2)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if s.write_all(b"*1\r\n$4\r\nPING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

/// Wait until the server answers PING, or `watched` ends, or `deadline`.
fn wait_pong(watched: &mut Watched, port: u16, deadline: Instant, death: &dyn Fn(&Watched, ExitStatus) -> String) -> Result<(), String> {
    loop {
        if pong(port) {
            return Ok(());
        }
        if let Some(status) = watched.exited() {
            return Err(death(watched, status));
        }
        if Instant::now() >= deadline {
            return Err(format!("no PONG within the timeout (last line: '{}')", watched.last_words(None)));
        }
        watched.pump(Instant::now() + Duration::from_millis(500));
    }
}

struct Ctx<'a> {
    opts: &'a RedisOpts,
    repo: &'a Path,
    root: &'a Path,
    load: &'a Load,
}

impl Ctx<'_> {
    fn deadline(&self) -> Instant {
        Instant::now() + Duration::from_secs(self.opts.timeout_secs)
    }

    fn command(&self) -> Vec<String> {
        vec![SERVER.to_string(), format!("/{CONFIG_PATH}")]
    }

    fn host(&self) -> Result<Vec<TestFigures>, String> {
        if !http::running_as_root() {
            return Err("not run as root: the host row runs redis-server with chroot, which needs root".into());
        }
        let port = http::free_port()?;
        let mut cmd = Process::new("chroot");
        cmd.arg(self.root).args(self.command()).args(["--bind", "127.0.0.1", "--port", &port.to_string()]);
        let mut server = Watched::spawn("chroot redis-server", cmd)?;
        let death = |w: &Watched, s: ExitStatus| format!("redis-server exited ({s}): {}", w.last_words(None));
        let result = wait_pong(&mut server, port, self.deadline(), &death).and_then(|()| self.load.run(self.opts, port));
        server.terminate(STOP_WAIT);
        if pong(port) {
            return Err(format!("127.0.0.1:{port} still answers after redis-server was stopped"));
        }
        result
    }

    fn linux_guest(&self) -> (String, Result<Vec<TestFigures>, String>) {
        let command = self.command();
        let run = RootRun { command: &command, env: &[], net: true, probe: None };
        let guest = match Guest::prepare_root_run(self.repo, self.root, &run) {
            Ok(g) => g,
            Err(why) => return (linux_guest::DETAIL.into(), Err(why)),
        };
        let timeout = Duration::from_secs(self.opts.timeout_secs + LOAD_BUDGET_SECS);
        let result = http::boot_linux_guest(&guest, MEMORY_MIB, timeout, GUEST_PORT, None, |vm, port, death| {
            wait_pong(vm, port, self.deadline(), death)?;
            let figures = self.load.run(self.opts, port);
            vm.terminate(Duration::from_secs(10));
            figures
        });
        (guest.detail(), result)
    }

    fn isola(&self, level: &str) -> Result<Vec<TestFigures>, String> {
        let name = format!("bench-redis-{}-{level}", std::process::id());
        let port = http::free_port()?;
        let exe = std::env::current_exe().map_err(|e| format!("cannot find isola itself: {e}"))?;
        let mut args: Vec<String> = ["run", "--accel", "tcg", "--isolation", level, "--timeout"].map(String::from).to_vec();
        args.push((self.opts.timeout_secs + LOAD_BUDGET_SECS).to_string());
        args.extend(["--name".into(), name.clone(), "--memory".into(), MEMORY_MIB.to_string()]);
        args.extend(["--rootfs".into(), self.root.display().to_string(), "-p".into(), format!("{port}:{GUEST_PORT}"), "--".into()]);
        args.extend(self.command());
        let mut cmd = Process::new(exe);
        cmd.args(args);
        let mut run = Watched::spawn("isola run", cmd)?;
        let death = |w: &Watched, s: ExitStatus| isola_failure(s.code(), &w.stdout, &w.stderr);
        wait_pong(&mut run, port, self.deadline(), &death)?;
        let figures = self.load.run(self.opts, port);
        match http::isola_ps(&name) {
            Ok(lines) => {
                eprintln!("bench: isola {level}: isola ps after the load:");
                for l in lines {
                    eprintln!("bench:   {}", l.strip_prefix("isola: ").unwrap_or(&l));
                }
            }
            Err(why) => eprintln!("bench: isola {level}: isola ps after the load: {why}"),
        }
        http::stop_isola(&mut run, &name, SIGTERM);
        figures
    }
}

/// `isola bench redis`: measure the rows, print the table; 0 iff every
/// row was measured.
pub fn run(opts: &RedisOpts) -> Result<i32, Error> {
    let repo = kbuild::workspace_root();
    let root = prepare(&repo).map_err(Error::failure)?;
    let load = Load::find(&root).map_err(Error::failure)?;
    let version = super::debian::version(&root.join(CHANGELOG)).map_or(String::new(), |v| format!(" {v}"));
    let what = format!("redis-server{version} from Debian, persistence off");
    eprintln!("bench: redis ({what}), {} requests of each of SET and GET, {} clients, by {}", opts.requests, opts.concurrency, load.describe());
    let ctx = Ctx { opts, repo: &repo, root: &root, load: &load };
    let mut rows = Vec::new();
    for env in RUN_ORDER {
        let started = Instant::now();
        let (detail, result) = match env {
            Env::Host => (host_detail(), ctx.host()),
            Env::LinuxGuest => ctx.linux_guest(),
            Env::IsolaStrict => (http::isola_detail(env).into(), ctx.isola("strict")),
            Env::IsolaMpk => (http::isola_detail(env).into(), ctx.isola("mpk")),
            Env::IsolaNone => (http::isola_detail(env).into(), ctx.isola("none")),
        };
        match &result {
            Ok(tests) => {
                let f: Vec<String> = tests.iter().map(|t| format!("{} {:.0} req/s", t.test, t.rps)).collect();
                eprintln!("bench: {}: {} ({:.1} s)", env.short(), f.join(", "), started.elapsed().as_secs_f64());
            }
            Err(why) => eprintln!("bench: {}: failed: {why}", env.short()),
        }
        rows.push(RedisRow { env, detail, result });
    }
    print!("{}", format_table(opts, &what, &rows));
    Ok(if rows.iter().all(|r| r.result.is_ok()) { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_args(args: &[&str]) -> Result<RedisOpts, Error> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        match super::super::parse(&args)? {
            Command::BenchRedis(o) => Ok(o),
            other => panic!("expected bench redis, got {other:?}"),
        }
    }

    #[test]
    fn options() {
        assert_eq!(parse_args(&["redis"]).unwrap(), RedisOpts::default());
        let o = parse_args(&["--requests", "500", "redis", "--concurrency=8", "--timeout", "9"]).unwrap();
        assert_eq!(o, RedisOpts { requests: 500, concurrency: 8, timeout_secs: 9 });
        let usage = |a: &[&str]| match parse_args(a) {
            Err(Error::Usage(m)) => m,
            other => panic!("{other:?}"),
        };
        assert!(usage(&["redis", "--workers", "3"]).contains("unknown option '--workers' for bench redis"));
        assert!(usage(&["redis", "--requests", "0"]).contains("--requests must be"));
        assert!(usage(&["redis", "x"]).contains("unexpected argument 'x'"));
        assert_eq!(
            benchmark_args(&o, 16379).join(" "),
            "-h 127.0.0.1 -p 16379 -t set,get -n 500 -c 8 --csv"
        );
    }

    /// redis-benchmark 7.0.15's `--csv` output, as it prints it.
    const CSV7: &str = "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"\n\
\"SET\",\"84033.61\",\"0.316\",\"0.104\",\"0.303\",\"0.479\",\"0.599\",\"1.311\"\n\
\"GET\",\"90090.09\",\"0.293\",\"0.096\",\"0.287\",\"0.423\",\"0.527\",\"0.871\"\n";

    #[test]
    fn csv_of_redis_7() {
        let t = parse_csv(CSV7).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0], TestFigures { test: "SET".into(), rps: 84033.61, p50_ms: Some(0.303), p99_ms: Some(0.599) });
        assert_eq!(t[1].test, "GET");
        assert_eq!(t[1].rps, 90090.09);
        assert_eq!(t[1].p99_ms, Some(0.527));
    }

    #[test]
    fn csv_of_redis_6_and_noise() {
        let t = parse_csv("WARNING: could not fetch server CONFIG\n\"SET\",\"1234.50\"\n\"GET\",\"2000.00\"\n").unwrap();
        assert_eq!(t, [
            TestFigures { test: "SET".into(), rps: 1234.5, p50_ms: None, p99_ms: None },
            TestFigures { test: "GET".into(), rps: 2000.0, p50_ms: None, p99_ms: None },
        ]);
        assert!(parse_csv("").unwrap_err().contains("no test line"));
        assert!(parse_csv("Could not connect to Redis at 127.0.0.1:1: Connection refused\n").unwrap_err().contains("Connection refused"));
        // A header without rps: no figures.
        assert!(parse_csv("\"test\",\"x\"\n\"SET\",\"1\"\n").is_err());
    }

    #[test]
    fn table() {
        let figs = |set: f64, get: f64| Ok(vec![
            TestFigures { test: "SET".into(), rps: set, p50_ms: Some(1.5), p99_ms: Some(4.0) },
            TestFigures { test: "GET".into(), rps: get, p50_ms: None, p99_ms: None },
        ]);
        let rows = [
            RedisRow { env: Env::Host, detail: "h".into(), result: figs(80000.0, 90000.0) },
            RedisRow { env: Env::LinuxGuest, detail: "l".into(), result: figs(2000.0, 2500.0) },
            RedisRow { env: Env::IsolaMpk, detail: "i".into(), result: figs(3000.0, 5000.0) },
            RedisRow { env: Env::IsolaNone, detail: "n".into(), result: Err("no PONG".into()) },
        ];
        let t = format_table(&RedisOpts::default(), "w", &rows);
        let lines: Vec<String> = t.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
        assert_eq!(lines[0], "redis (w): redis-benchmark -t set,get -n 20000 -c 50 from the host");
        assert_eq!(lines[4], "| Isola mpk (i) | 3000 | 1.5 | 4.0 | 5000 | - | - | 1.50x | 2.00x |");
        assert_eq!(lines[5], "| Isola none (n) | failed | | | | | | - | - |");
        assert_eq!(lines[6], "| Linux guest (l) | 2000 | 1.5 | 4.0 | 2500 | - | - | 1.00x | 1.00x |");
        assert_eq!(lines[7], "| host (h) | 80000 | 1.5 | 4.0 | 90000 | - | - | 40.0x | 36.0x |");
        assert_eq!(lines[9], "Isola none failed: no PONG");
    }

    #[test]
    fn config_is_what_the_rows_need() {
        for line in ["bind 0.0.0.0", "port 6379", "protected-mode no", "daemonize no", "save \"\"", "appendonly no"] {
            assert!(CONFIG.lines().any(|l| l == line), "{line}");
        }
    }
}
