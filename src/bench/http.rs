//! `isola bench http`: one HTTP server, `prefork-httpd -p PORT -w W`
//! (`target/userland/prefork-httpd`), loaded from the host by
//! [`crate::load`] in three environments, one row each:
//!
//! - **Isola** (strict and mpk rows): `isola run --accel tcg --isolation strict|mpk -p H:80 --
//!   prefork-httpd -p 80 -w W`, a child of this isola (the path a user
//!   runs), H a free host port;
//! - **Linux guest**: the same server in Debian's cloud kernel
//!   ([`super::linux_guest`]), same QEMU configuration, same `-netdev user
//!   ... -device virtio-net-device` network, its `/init` loading the
//!   virtio-net modules and configuring eth0 first;
//! - **host**: the server run directly on a free port.
//!
//! Both guests are reached the same way: H is served by isola's forwarder
//! ([`crate::forward`]) in front of slirp's internal forwards, in the
//! `isola run` child for the Isola row and in this process for the Linux
//! guest row.
//!
//! In each: start the server, wait for its `prefork-httpd: listening on`
//! line (`--timeout`, default 300 s: under TCG a boot and the kernel build
//! may come first), then until a first `GET /` is answered (60 s), run the
//! load (N requests, C at a time from the start, a new connection each,
//! each allowed [`REQUEST_TIMEOUT`]), then `GET /quit`
//! and wait for the server (and its VM) to end, killing it after 30 s. A
//! row that fails says why in the table and the others still run; a server
//! that never answers is a row error, never a hang.
//!
//! `--server busybox` puts Debian's busybox `httpd -f` (serving a 1 KiB
//! page from `/www`) in place of prefork-httpd, to check the machinery
//! with a server that exists everywhere; it prints no ready line and has
//! no `/quit`, so it is killed at the end.
//!
//! `--server nginx` runs Debian's nginx from a root `isola rootfs` builds
//! once ([`super::debian`]), the same binary and configuration everywhere,
//! `--workers` its `worker_processes`: Isola strict, mpk and none
//! (`isola run --name N --memory 512 --rootfs DIR -p H:80 /usr/sbin/nginx
//! -g 'daemon off;'`), the Linux guest booted with DIR as its root plus
//! the network (512 MiB as well), and the host (`chroot` into a copy of
//! DIR with the site on H; needs root). Readiness is the first answer; the
//! Isola rows are stopped with SIGQUIT through the control channel, the
//! host's nginx with SIGQUIT to its master, then SIGKILL to its process
//! group, and checked to leave nothing listening; the Linux guest's QEMU
//! is killed. Before the load the guests' memory per worker is taken
//! ([`super::memory`]: `isola ps`, and a probe in the Linux guest's
//! `/init`), and after it the Isola rows' `isola ps` (CPU time per
//! process) goes to stderr.
//!
//! `--server apache2` is the same with Debian's apache2 and mpm_prefork
//! ([`debian::APACHE2`]): `/usr/sbin/apache2 -DFOREGROUND` with
//! apache2ctl's environment in every row, 1024 MiB, SIGTERM to stop it.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::debian::{self, DebianServer, HostRoot, Prepared};
use super::linux_guest::{self, Guest, RootRun, Spec};
use super::memory::{self, Snapshot};
use super::{Env, cell, ensure_program, figure, host_detail, isola_failure, ratio, render_table};
use crate::cli::Command;
use crate::error::Error;
use crate::forward::Forwarding;
use crate::icount;
use crate::kbuild;
use crate::lifeline::die_with_parent;
use crate::load::{self, Figures, LoadOpts, Target};
use crate::qemu::{self, Net, PortForward};

/// Default `--requests`.
pub const DEFAULT_REQUESTS: u64 = 10_000;
/// `--concurrency` with `--count-instructions` when none is given: one
/// request at a time repeats within about 1 % (measured; docs/icount.md).
/// Fifty at a time overflow the listen queue now and then, and a dropped
/// SYN's seconds of retransmission wait put timer ticks and retries into
/// one run's count and not the other's (4-5 % apart).
pub const COUNTED_CONCURRENCY: u32 = 1;

/// Default `--concurrency`.
pub const DEFAULT_CONCURRENCY: u32 = 50;
/// Default `--workers` (prefork-httpd's `-w`, nginx's `worker_processes`).
pub const DEFAULT_WORKERS: u32 = 4;
/// Default `--timeout`: from the start of a row to the server's ready line.
pub const DEFAULT_TIMEOUT_SECS: u64 = 300;
const MAX_REQUESTS: u64 = 10_000_000;
const MAX_CONCURRENCY: u32 = 1024;
const MAX_WORKERS: u32 = 64;
const MAX_TIMEOUT_SECS: u64 = 24 * 60 * 60;

/// The port the server listens on inside the guests.
const GUEST_PORT: u16 = 80;
/// How long a first `GET /` may take to be answered after the ready line.
const ANSWER_WAIT: Duration = Duration::from_secs(60);
/// Limit of one request of the load (connect to close). A healthy run
/// never comes near it: the forwarder ([`crate::forward`]) keeps a burst
/// of C connections off slirp's backlog-1 listeners, so no request waits
/// for the host's SYN retransmits; a request this slow is a failure worth
/// seeing.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// `isola run --timeout` of the Isola row: `--timeout` plus this, for the
/// load itself (the row kills the run when done anyway).
const LOAD_BUDGET_SECS: u64 = 3600;
/// How long the server (and its VM) may take to end after `/quit`.
const QUIT_WAIT: Duration = Duration::from_secs(30);
/// How long the workers may take to show up in `isola ps` after the first
/// answer, and how long they are then left to settle.
const WORKERS_WAIT: Duration = Duration::from_secs(120);
const SETTLE: Duration = Duration::from_secs(2);

/// Which server runs in every environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// `target/userland/prefork-httpd -p PORT -w W`.
    Prefork,
    /// Debian's `busybox httpd -f -p PORT -h DIR`.
    Busybox,
    /// Debian's nginx from its root ([`debian::NGINX`]).
    Nginx,
    /// Debian's apache2 with mpm_prefork from its root ([`debian::APACHE2`]).
    Apache2,
}

/// prefork-httpd prints this once it accepts connections.
pub const PREFORK_READY: &str = "prefork-httpd: listening on";

impl Server {
    /// Every `--server` value.
    pub const ALL: [Server; 4] = [Server::Prefork, Server::Busybox, Server::Nginx, Server::Apache2];

    /// Its `--server` name.
    pub fn name(self) -> &'static str {
        match self {
            Server::Prefork => "prefork",
            Server::Busybox => "busybox",
            Server::Nginx => debian::NGINX.name,
            Server::Apache2 => debian::APACHE2.name,
        }
    }

    /// The Debian package server it is, if it is one.
    pub fn debian(self) -> Option<&'static DebianServer> {
        match self {
            Server::Nginx => Some(&debian::NGINX),
            Server::Apache2 => Some(&debian::APACHE2),
            Server::Prefork | Server::Busybox => None,
        }
    }

    /// The line that says the server accepts connections, if it prints one.
    fn ready_line(self) -> Option<&'static str> {
        match self {
            Server::Prefork => Some(PREFORK_READY),
            Server::Busybox | Server::Nginx | Server::Apache2 => None,
        }
    }

    /// The path that stops the server, if it has one.
    fn quit_path(self) -> Option<&'static str> {
        match self {
            Server::Prefork => Some("/quit"),
            Server::Busybox | Server::Nginx | Server::Apache2 => None,
        }
    }

    /// The table's rows, in order. The Debian servers get an Isola `none`
    /// row too (issue 14 compares mpk and none with Linux).
    pub fn rows(self) -> &'static [Env] {
        match self.debian() {
            Some(_) => &[Env::IsolaStrict, Env::IsolaMpk, Env::IsolaNone, Env::LinuxGuest, Env::Host],
            None => &[Env::IsolaStrict, Env::IsolaMpk, Env::LinuxGuest, Env::Host],
        }
    }


    /// Its arguments: listen on `listen` (`80`, `127.0.0.1:8080`), serve
    /// `docroot` (busybox). A Debian server's are fixed (its configuration
    /// says where it listens).
    pub fn args(self, listen: &str, workers: u32, docroot: &str) -> Vec<String> {
        let v: Vec<&str> = match self {
            Server::Prefork => vec!["-p", listen, "-w"],
            Server::Busybox => vec!["httpd", "-f", "-p", listen, "-h", docroot],
            Server::Nginx => debian::NGINX.args.to_vec(),
            Server::Apache2 => debian::APACHE2.args.to_vec(),
        };
        let mut v: Vec<String> = v.into_iter().map(String::from).collect();
        if self == Server::Prefork {
            v.push(workers.to_string());
        }
        v
    }
}

/// `isola bench http [--requests N] [--concurrency C] [--workers W]
/// [--timeout SECS] [--server prefork|busybox|nginx|apache2]
/// [--count-instructions]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpOpts {
    pub requests: u64,
    pub concurrency: u32,
    pub workers: u32,
    /// From a row's start to its server's ready line, in seconds.
    pub timeout_secs: u64,
    pub server: Server,
    /// `--count-instructions` (prefork only): every guest row also serves
    /// 2N requests in a second boot, and the table shows instructions per
    /// request ([`crate::icount`]).
    pub count_instructions: bool,
}

impl HttpOpts {
    /// The table's rows, in order: the server's, and with
    /// `--count-instructions` Isola none's too (the issue compares mpk and
    /// none with the Linux guest instruction by instruction).
    pub fn rows(&self) -> Vec<Env> {
        let mut rows = self.server.rows().to_vec();
        if self.count_instructions && !rows.contains(&Env::IsolaNone) {
            let at = rows.iter().position(|&e| e == Env::IsolaMpk).map_or(0, |i| i + 1);
            rows.insert(at, Env::IsolaNone);
        }
        rows
    }

    /// The order the rows are measured in: independent of the kernel first.
    pub fn run_order(&self) -> Vec<Env> {
        let rows = self.rows();
        RUN_ORDER.into_iter().filter(|e| rows.contains(e)).collect()
    }
}

/// The order rows are measured in, when they are in the table.
const RUN_ORDER: [Env; 5] = [Env::Host, Env::LinuxGuest, Env::IsolaStrict, Env::IsolaMpk, Env::IsolaNone];

impl Default for HttpOpts {
    fn default() -> Self {
        HttpOpts {
            requests: DEFAULT_REQUESTS,
            concurrency: DEFAULT_CONCURRENCY,
            workers: DEFAULT_WORKERS,
            timeout_secs: DEFAULT_TIMEOUT_SECS,
            server: Server::Prefork,
            count_instructions: false,
        }
    }
}

/// Parse the arguments after `bench` (`http` itself removed).
pub fn parse(args: &[String]) -> Result<Command, Error> {
    let mut opts = HttpOpts::default();
    let mut concurrency_given = false;
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
            "--concurrency" => {
                opts.concurrency =
                    super::number(name, &value()?, 1, u64::from(MAX_CONCURRENCY))? as u32;
                concurrency_given = true;
            }
            "--workers" => {
                opts.workers = super::number(name, &value()?, 1, u64::from(MAX_WORKERS))? as u32
            }
            "--timeout" => opts.timeout_secs = super::number(name, &value()?, 1, MAX_TIMEOUT_SECS)?,
            "--server" => {
                let wanted = value()?;
                opts.server = Server::ALL.into_iter().find(|s| s.name() == wanted).ok_or_else(|| {
                    Error::usage(format!("--server must be prefork, busybox, nginx or apache2, not '{wanted}'"))
                })?;
            }
            "--count-instructions" => {
                if inline.is_some() {
                    return Err(Error::usage("--count-instructions takes no value"));
                }
                opts.count_instructions = true;
            }
            "--help" | "-h" => return Ok(Command::Help),
            _ if name.starts_with('-') => {
                return Err(Error::usage(format!(
                    "unknown option '{name}' for bench http"
                )));
            }
            word => return Err(Error::usage(format!("unexpected argument '{word}'"))),
        }
    }
    if opts.count_instructions && opts.server != Server::Prefork {
        // The counts are written when QEMU exits by itself, which it does
        // after prefork-httpd's GET /quit; the other servers are stopped.
        return Err(Error::usage(format!(
            "--count-instructions counts prefork-httpd only (it ends itself at GET /quit), not --server {}",
            opts.server.name()
        )));
    }
    if opts.count_instructions && !concurrency_given {
        opts.concurrency = COUNTED_CONCURRENCY;
    }
    Ok(Command::BenchHttp(opts))
}

/// One row: the load's figures, or why there are none.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRow {
    pub env: Env,
    /// What exactly ran there.
    pub detail: String,
    pub result: Result<Figures, String>,
    /// The server's memory before the load (Debian servers, guest rows).
    pub memory: Option<Snapshot>,
}

impl HttpRow {
    fn req_per_s(&self) -> Option<f64> {
        self.result.as_ref().ok().map(Figures::req_per_s)
    }
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| figure(d.as_secs_f64() * 1000.0))
}

/// The result table, in the style of the other benchmarks; with
/// `--count-instructions`, `instructions` holds the instructions per
/// request of the guest rows that have them.
pub fn format_table(opts: &HttpOpts, what: &str, rows: &[HttpRow], instructions: &[(Env, f64)]) -> String {
    let counted = |env| instructions.iter().find(|(e, _)| *e == env).map(|&(_, n)| n);
    let linux_instructions = counted(Env::LinuxGuest);
    let reference = |env| {
        rows.iter()
            .find(|r| r.env == env)
            .and_then(HttpRow::req_per_s)
    };
    let linux = reference(Env::LinuxGuest);
    let host = reference(Env::Host);
    let mut table: Vec<Vec<String>> = vec![
        [
            "environment",
            "req/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "failed",
            "req/s vs Linux guest",
            "req/s vs host",
        ]
        .map(String::from)
        .to_vec(),
    ];
    if opts.count_instructions {
        table[0].extend(["instructions/request", "instructions vs Linux guest"].map(String::from));
    }
    let mut notes = Vec::new();
    for env in opts.rows() {
        let Some(row) = rows.iter().find(|r| r.env == env) else {
            continue;
        };
        let name = cell(&format!("{} ({})", env.short(), row.detail));
        let mut line = match &row.result {
            Ok(f) => {
                if f.failed > 0 {
                    notes.push(format!(
                        "{}: {} of {} requests failed{}",
                        env.short(),
                        f.failed,
                        f.requests,
                        f.errors
                            .first()
                            .map_or(String::new(), |e| format!(" ({})", cell(e)))
                    ));
                }
                let rps = Some(f.req_per_s());
                vec![
                    name,
                    figure(f.req_per_s()),
                    ms(f.p50()),
                    ms(f.p99()),
                    ms(f.max()),
                    f.failed.to_string(),
                    ratio(rps, linux),
                    ratio(rps, host),
                ]
            }
            Err(why) => {
                notes.push(format!("{} failed: {}", env.short(), cell(why)));
                let mut v = vec![name, "failed".into()];
                v.extend(["", "", "", ""].map(String::from));
                v.extend(["-", "-"].map(String::from));
                v
            }
        };
        if opts.count_instructions {
            let n = counted(env).filter(|_| row.result.is_ok());
            line.push(n.map_or("-".to_string(), figure));
            line.push(ratio(n, linux_instructions));
        }
        table.push(line);
    }
    let mut out = format!(
        "http ({what}): {} requests, {} at a time, one connection each\n",
        opts.requests, opts.concurrency
    );
    if opts.count_instructions {
        let _ = writeln!(
            out,
            "instructions/request: (count at {} requests - count at {n}) / {n}, each count from the first to \
             the last user system call of one boot (plugin/icount.c); the figures of the run of {n}, under the plugin",
            2 * opts.requests,
            n = opts.requests
        );
    }
    out.push('\n');
    out.push_str(&render_table(&table));
    if !notes.is_empty() {
        out.push('\n');
        for n in notes {
            let _ = writeln!(out, "{n}");
        }
    }
    out
}

/// `isola bench http`: measure the rows, print the table; 0 iff every row
/// was measured without a failed request.
pub fn run(opts: &HttpOpts) -> Result<i32, Error> {
    let root = kbuild::workspace_root();
    let debian = match opts.server.debian() {
        Some(server) => Some(debian::prepare(&root, server, opts.workers).map_err(Error::failure)?),
        None => None,
    };
    let program = match (&debian, opts.server) {
        (Some(d), _) => d.dir.join(d.server.program.trim_start_matches('/')),
        (None, Server::Busybox) => {
            let bb = root.join("target/third-party/busybox");
            if !bb.is_file() {
                return Err(Error::failure(format!(
                    "{} missing: run scripts/fetch-busybox",
                    bb.display()
                )));
            }
            bb
        }
        (None, _) => ensure_program(&root, "prefork-httpd")?,
    };
    let www = Www::create(&root)?;
    let what = match (&debian, opts.server) {
        (Some(d), _) => d.title(opts.workers),
        (None, Server::Busybox) => format!("busybox httpd, GET / of {} bytes", INDEX_BYTES),
        (None, _) => format!("prefork-httpd -w {}, GET /", opts.workers),
    };
    eprintln!(
        "bench: http ({what}), {} requests, {} at a time",
        opts.requests, opts.concurrency
    );
    let ctx = Ctx {
        root: &root,
        program: &program,
        opts,
        www: &www,
        debian: debian.as_ref(),
        count_file: None,
    };
    // --count-instructions: each guest row at N requests, then at 2N.
    let doubled = HttpOpts { requests: 2 * opts.requests, ..opts.clone() };
    let files: Vec<(Env, PathBuf, PathBuf)> = opts
        .run_order()
        .into_iter()
        .map(|env| (env, count_file(&root, env, opts.requests), count_file(&root, env, doubled.requests)))
        .collect();
    let mut rows = Vec::new();
    let mut instructions = Vec::new();
    for (env, file_n, file_2n) in &files {
        let env = *env;
        let started = Instant::now();
        let row = if opts.count_instructions && env != Env::Host {
            let at_n = Ctx { count_file: Some(file_n), ..ctx };
            let at_2n = Ctx { opts: &doubled, count_file: Some(file_2n), ..ctx };
            let (row, per_request) = counted_row(env, &at_n, &at_2n, opts.requests);
            if let Some(n) = per_request {
                instructions.push((env, n));
            }
            row
        } else {
            ctx.row(env)
        };
        match &row.result {
            Ok(f) => eprintln!(
                "bench: {}: {}{} ({:.1} s)",
                env.short(),
                f.summary(),
                instructions
                    .iter()
                    .find(|(e, _)| *e == env)
                    .map_or(String::new(), |(_, n)| format!(", {} instructions/request", figure(*n))),
                started.elapsed().as_secs_f64()
            ),
            Err(why) => eprintln!("bench: {}: failed: {why}", env.short()),
        }
        rows.push(row);
    }
    print!("{}", format_table(opts, &what, &rows, &instructions));
    let snapshots: Vec<(Env, &str, &Snapshot)> = opts
        .rows()
        .iter()
        .filter_map(|env| rows.iter().find(|r| r.env == *env))
        .filter_map(|r| r.memory.as_ref().map(|m| (r.env, r.detail.as_str(), m)))
        .collect();
    if !snapshots.is_empty() {
        println!();
        print!("{}", memory::format_table(opts.workers, &snapshots));
    }
    let clean = rows
        .iter()
        .all(|r| r.result.as_ref().is_ok_and(|f| f.failed == 0));
    Ok(if clean { 0 } else { 1 })
}

/// Size of busybox's page.
const INDEX_BYTES: usize = 1024;

/// The page busybox serves: `INDEX_BYTES` of HTML.
fn index_page() -> Vec<u8> {
    let mut page = b"<!DOCTYPE html>\n<title>isola bench http</title>\n<pre>\n".to_vec();
    let mut i = 0u32;
    while page.len() < INDEX_BYTES - 7 {
        page.extend_from_slice(format!("{i:08x}").as_bytes());
        page.push(if i % 7 == 6 { b'\n' } else { b' ' });
        i += 1;
    }
    page.truncate(INDEX_BYTES - 7);
    page.extend_from_slice(b"\n</pre>");
    page
}

/// busybox's document root on the host (`index.html`), removed on drop.
struct Www {
    dir: PathBuf,
}

impl Www {
    fn create(root: &Path) -> Result<Www, Error> {
        let dir = root.join(format!("target/isola/bench/www-{}", std::process::id()));
        let made = std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(dir.join("index.html"), index_page()));
        made.map_err(|e| Error::failure(format!("cannot write {}: {e}", dir.display())))?;
        Ok(Www { dir })
    }
}

impl Drop for Www {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What every row needs.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    root: &'a Path,
    program: &'a Path,
    opts: &'a HttpOpts,
    www: &'a Www,
    /// The Debian server's root, with `--server nginx`.
    debian: Option<&'a Prepared>,
    /// Where a guest row's instruction counts go (`--count-instructions`).
    count_file: Option<&'a Path>,
}

/// Where a guest row's plugin writes the counts of its run of `requests`.
fn count_file(root: &Path, env: Env, requests: u64) -> PathBuf {
    let slug = env.short().to_lowercase().replace(' ', "-");
    root.join("target/isola/bench").join(format!("icount-http-{}-{slug}-{requests}.txt", std::process::id()))
}

/// A guest row that served `n` requests (`at_n`: the figures the table
/// shows) and then `2n` (`at_2n`), both counted: the row, and its
/// instructions per request when both runs served every request and
/// were counted. Times without counts are not what was asked for: a
/// row without them is a failed row.
fn counted_row(env: Env, at_n: &Ctx<'_>, at_2n: &Ctx<'_>, n: u64) -> (HttpRow, Option<f64>) {
    let mut counts = Vec::new();
    let mut first: Option<HttpRow> = None;
    for ctx in [at_n, at_2n] {
        let file = ctx.count_file.expect("a counted row");
        let _ = std::fs::remove_file(file);
        let row = ctx.row(env);
        let read = icount::read(file);
        let _ = std::fs::remove_file(file);
        let why = match (&row.result, read.as_ref()) {
            (Ok(f), _) if f.failed > 0 => format!("{} of {} requests failed", f.failed, f.requests),
            (Ok(_), Ok(&c)) => {
                counts.push(c);
                first.get_or_insert(row);
                continue;
            }
            (Ok(_), Err(why)) | (Err(why), _) => why.clone(),
        };
        let failed = Err(format!("at {} requests: {why}", ctx.opts.requests));
        let row = first.unwrap_or(row);
        return (HttpRow { result: failed, ..row }, None);
    }
    let row = first.expect("two counted runs");
    match icount::per_op(&counts[0], &counts[1], n) {
        Ok(per_request) => (row, Some(per_request)),
        Err(why) => (HttpRow { result: Err(why), ..row }, None),
    }
}

/// The target of the load: 127.0.0.1:`port`, `GET /`.
fn local_target(port: u16) -> (Target, Vec<SocketAddr>) {
    let target = Target {
        host: "127.0.0.1".into(),
        port,
        path: "/".into(),
        host_header: format!("127.0.0.1:{port}"),
    };
    (target, vec![SocketAddr::from(([127, 0, 0, 1], port))])
}

impl Ctx<'_> {
    /// The row of `env`.
    fn row(&self, env: Env) -> HttpRow {
        match env {
            Env::Host => self.host_row(),
            Env::LinuxGuest => self.linux_guest_row(),
            Env::IsolaStrict => self.isola_row(Env::IsolaStrict, "strict"),
            Env::IsolaMpk => self.isola_row(Env::IsolaMpk, "mpk"),
            Env::IsolaNone => self.isola_row(Env::IsolaNone, "none"),
        }
    }

    /// QEMU's `-plugin` argument when this row counts instructions.
    fn plugin(&self) -> Result<Option<String>, String> {
        self.count_file.map(icount::plugin_arg).transpose().map_err(|e| e.to_string())
    }

    fn ready_timeout(&self) -> Duration {
        Duration::from_secs(self.opts.timeout_secs)
    }

    fn host_row(&self) -> HttpRow {
        let detail = host_detail();
        if let Some(d) = self.debian {
            return HttpRow { env: Env::Host, detail, result: self.host_debian(d), memory: None };
        }
        let result = (|| {
            let port = free_port()?;
            let listen = match self.opts.server {
                Server::Prefork => port.to_string(),
                _ => format!("127.0.0.1:{port}"),
            };
            let mut cmd = Process::new(self.program);
            cmd.args(self.opts.server.args(
                &listen,
                self.opts.workers,
                &self.www.dir.display().to_string(),
            ));
            let name = self
                .program
                .file_name()
                .map_or("server".into(), |n| n.to_string_lossy().into_owned());
            let mut server = Watched::spawn(&name, cmd)?;
            let death = |w: &Watched, status: ExitStatus| {
                format!("{name} exited ({status}): {}", w.last_words(None))
            };
            self.serve_and_load(&mut server, port, &death)
        })();
        HttpRow {
            env: Env::Host,
            detail,
            result,
            memory: None,
        }
    }

    /// The host row of a Debian server: `chroot COPY PROGRAM -c CONF
    /// ARGS` in a copy of the root whose configuration listens on the
    /// host port, in a process group of its own; stopped (and checked
    /// stopped) whatever happens.
    fn host_debian(&self, d: &Prepared) -> Result<Figures, String> {
        if !running_as_root() {
            return Err(format!("not run as root: the host row runs {} with chroot, which needs root", d.server.name));
        }
        let port = free_port()?;
        let ipv6 = TcpListener::bind("[::1]:0").is_ok();
        let copy = HostRoot::create(d, port, ipv6)?;
        let mut cmd = Process::new("chroot");
        cmd.arg(&copy.dir).arg(d.server.program).args(&copy.args);
        cmd.envs(d.env());
        // Its workers too can then be stopped together.
        cmd.process_group(0);
        let what = format!("chroot {} {}", copy.dir.display(), d.server.program);
        let server = Watched::spawn(&what, cmd)?;
        let mut host = HostServer { server, signal: d.server.stop_signal, port, stopped: false };
        let (target, addrs) = local_target(port);
        let name = d.server.name;
        let death = |w: &Watched, status: ExitStatus| format!("{name} exited ({status}): {}", w.last_words(None));
        let deadline = Instant::now() + self.ready_timeout();
        let figures = self
            .wait_answer(&mut host.server, &target, &addrs, None, deadline, &death)
            .map(|()| self.load(&target, &addrs));
        let stopped = host.stop();
        drop(host);
        drop(copy);
        let figures = figures?;
        stopped.map(|()| figures)
    }

    fn linux_guest_row(&self) -> HttpRow {
        if let Some(d) = self.debian {
            return self.linux_guest_debian(d);
        }
        let files = [("/www/index.html".to_string(), index_page())];
        let args = self
            .opts
            .server
            .args(&GUEST_PORT.to_string(), self.opts.workers, "/www");
        let spec = Spec {
            program: self.program,
            args: &args,
            files: if self.opts.server == Server::Busybox {
                &files
            } else {
                &[]
            },
            executables: &[],
            net: true,
        };
        let guest = match Guest::prepare_spec(self.root, &spec) {
            Ok(g) => g,
            Err(why) => {
                return HttpRow {
                    env: Env::LinuxGuest,
                    detail: linux_guest::DETAIL.into(),
                    result: Err(why),
                    memory: None,
                };
            }
        };
        let result = self.boot_linux_guest(&guest, crate::cli::DEFAULT_MEMORY_MIB, |vm, port, death| {
            self.serve_and_load(vm, port, death)
        });
        HttpRow {
            env: Env::LinuxGuest,
            detail: guest.detail(),
            result,
            memory: None,
        }
    }

    /// The Linux guest of a Debian server: its root as the guest's, the
    /// network, and the memory probe, whose end is the ready line.
    fn linux_guest_debian(&self, d: &Prepared) -> HttpRow {
        let command = d.command();
        let env = d.env();
        let probe = memory::linux_probe(self.opts.workers);
        let run = RootRun { command: &command, env: &env, net: true, probe: Some(&probe) };
        let guest = match Guest::prepare_root_run(self.root, &d.dir, &run) {
            Ok(g) => g,
            Err(why) => {
                return HttpRow { env: Env::LinuxGuest, detail: linux_guest::DETAIL.into(), result: Err(why), memory: None };
            }
        };
        let mut snapshot = None;
        let result = self.boot_linux_guest(&guest, d.server.memory_mib, |vm, port, death| {
            let deadline = Instant::now() + self.ready_timeout();
            let (target, addrs) = local_target(port);
            // The probe reports once the workers are up: the load waits
            // for it, so that it does not run beside the load.
            self.wait_answer(vm, &target, &addrs, Some(memory::REPORT_DONE), deadline, death)?;
            snapshot = memory::parse_linux_report(&vm.stdout);
            let figures = self.load(&target, &addrs);
            // SIGTERM: QEMU ends the guest at once but exits cleanly (its
            // plugins, such as an instruction counter, write their output).
            vm.terminate(Duration::from_secs(10));
            Ok(figures)
        });
        HttpRow { env: Env::LinuxGuest, detail: guest.detail(), result, memory: snapshot }
    }

    /// Boot `guest` with `memory_mib` and the row's forwarding, and run
    /// `serve` against it (the QEMU child, the host port, why it died).
    fn boot_linux_guest(
        &self,
        guest: &Guest,
        memory_mib: u32,
        serve: impl FnOnce(&mut Watched, u16, &dyn Fn(&Watched, ExitStatus) -> String) -> Result<Figures, String>,
    ) -> Result<Figures, String> {
        let plugin = self.plugin()?;
        boot_linux_guest(guest, memory_mib, self.ready_timeout(), GUEST_PORT, plugin, serve)
    }

    fn isola_row(&self, env: Env, level: &str) -> HttpRow {
        if let Some(d) = self.debian {
            return self.isola_debian(env, level, d);
        }
        let result = (|| {
            let port = free_port()?;
            let exe =
                std::env::current_exe().map_err(|e| format!("cannot find isola itself: {e}"))?;
            let mut options = match self.opts.server {
                Server::Busybox => vec!["--add".to_string(), format!("{}:/www", self.www.dir.display())],
                _ => vec![],
            };
            if let Some(file) = self.count_file {
                options.push(format!("--count-instructions={}", file.display()));
            }
            let args = self
                .opts
                .server
                .args(&GUEST_PORT.to_string(), self.opts.workers, "/www");
            let mut cmd = Process::new(exe);
            cmd.args(isola_http_args(
                level,
                self.opts.timeout_secs + LOAD_BUDGET_SECS,
                port,
                &options,
                &self.program.display().to_string(),
                &args,
            ));
            let mut run = Watched::spawn("isola run", cmd)?;
            let death = |w: &Watched, status: ExitStatus| {
                isola_failure(status.code(), &w.stdout, &w.stderr)
            };
            self.serve_and_load(&mut run, port, &death)
        })();
        HttpRow {
            env,
            detail: isola_detail(env).into(),
            result,
            memory: None,
        }
    }

    /// An Isola row of a Debian server: `isola run --name N --memory M
    /// --rootfs DIR`; `isola ps` once the workers are up (the memory) and
    /// after the load (to stderr: where the CPU time went); SIGQUIT to pid
    /// 1 at the end.
    fn isola_debian(&self, env: Env, level: &str, d: &Prepared) -> HttpRow {
        let name = format!("bench-{}-{level}", std::process::id());
        let mut snapshot = None;
        let result = (|| {
            let port = free_port()?;
            let exe = std::env::current_exe().map_err(|e| format!("cannot find isola itself: {e}"))?;
            let mut options: Vec<String> = [
                "--name",
                &name,
                "--memory",
                &d.server.memory_mib.to_string(),
                "--rootfs",
                &d.dir.display().to_string(),
            ]
            .map(String::from)
            .to_vec();
            for (k, v) in d.env() {
                options.push("--env".into());
                options.push(format!("{k}={v}"));
            }
            let command = d.command();
            let mut cmd = Process::new(exe);
            cmd.args(isola_http_args(level, self.opts.timeout_secs + LOAD_BUDGET_SECS, port, &options, &command[0], &command[1..]));
            let mut run = Watched::spawn("isola run", cmd)?;
            let death = |w: &Watched, status: ExitStatus| isola_failure(status.code(), &w.stdout, &w.stderr);
            let (target, addrs) = local_target(port);
            let deadline = Instant::now() + self.ready_timeout();
            self.wait_answer(&mut run, &target, &addrs, None, deadline, &death)?;
            snapshot = self.isola_workers_up(&name, &mut run);
            let figures = self.load(&target, &addrs);
            match isola_ps(&name) {
                Ok(lines) => {
                    eprintln!("bench: {}: isola ps after the load:", env.short());
                    for l in lines {
                        eprintln!("bench:   {}", l.strip_prefix("isola: ").unwrap_or(&l));
                    }
                }
                Err(why) => eprintln!("bench: {}: isola ps after the load: {why}", env.short()),
            }
            self.stop_isola(&mut run, &name, d.server.stop_signal);
            Ok(figures)
        })();
        HttpRow { env, detail: isola_detail(env).into(), result, memory: snapshot }
    }

    /// `isola ps` until the run has `--workers` children of pid 1 (or
    /// [`WORKERS_WAIT`] passed), then after [`SETTLE`] once more: the
    /// memory snapshot.
    fn isola_workers_up(&self, name: &str, run: &mut Watched) -> Option<Snapshot> {
        let deadline = Instant::now() + WORKERS_WAIT;
        loop {
            let up = isola_ps(name).ok().and_then(|l| memory::parse_isola_ps(&l)).map_or(0, |s| s.workers().count());
            if up >= self.opts.workers as usize {
                break;
            }
            if Instant::now() >= deadline {
                eprintln!("bench: {name}: {up} of {} workers up after {} s", self.opts.workers, WORKERS_WAIT.as_secs());
                break;
            }
            run.pump(Instant::now() + Duration::from_millis(500));
        }
        run.pump(Instant::now() + SETTLE);
        isola_ps(name).ok().and_then(|l| memory::parse_isola_ps(&l))
    }

    fn stop_isola(&self, run: &mut Watched, name: &str, signal: u32) {
        stop_isola(run, name, signal)
    }

    /// Wait for the server behind 127.0.0.1:`port` to answer, load it
    /// (all C connections from the start), stop it. `death` says why the
    /// watched process ended early.
    fn serve_and_load(
        &self,
        watched: &mut Watched,
        port: u16,
        death: &dyn Fn(&Watched, ExitStatus) -> String,
    ) -> Result<Figures, String> {
        let deadline = Instant::now() + self.ready_timeout();
        let (target, addrs) = local_target(port);
        self.wait_answer(watched, &target, &addrs, self.opts.server.ready_line(), deadline, death)?;
        let figures = self.load(&target, &addrs);
        if let Some(quit) = self.opts.server.quit_path() {
            let _ = load::fetch(
                &addrs,
                &target.host_header,
                quit,
                Duration::from_secs(10),
            );
            if watched.wait_exit(Instant::now() + QUIT_WAIT).is_none() {
                eprintln!(
                    "bench: the server did not end within {} s of GET {quit}: killed",
                    QUIT_WAIT.as_secs()
                );
            }
        }
        watched.kill();
        Ok(figures)
    }

    /// Wait for `ready` on the watched process's stdout (if given) until
    /// `deadline`, then for a first answer to `GET /`: within
    /// [`ANSWER_WAIT`] after a ready line, else until `deadline` (the
    /// answer is then the only sign of life).
    fn wait_answer(
        &self,
        watched: &mut Watched,
        target: &Target,
        addrs: &[SocketAddr],
        ready: Option<&str>,
        deadline: Instant,
        death: &dyn Fn(&Watched, ExitStatus) -> String,
    ) -> Result<(), String> {
        if let Some(line) = ready {
            match watched.wait_line(line, deadline) {
                Ok(()) => {}
                Err(Some(status)) => {
                    return Err(format!("before '{line}': {}", death(watched, status)));
                }
                Err(None) => {
                    return Err(format!(
                        "no '{line}' within {} s (last line: '{}')",
                        self.opts.timeout_secs,
                        watched.last_words(None)
                    ));
                }
            }
        }
        let answer_deadline = match ready {
            Some(_) => Instant::now() + ANSWER_WAIT,
            None => deadline,
        };
        load::wait_until_answered(
            addrs,
            &target.host_header,
            "/",
            answer_deadline,
            Duration::from_secs(5),
            || match watched.exited() {
                Some(status) => Err(death(watched, status)),
                None => Ok(()),
            },
        )
    }

    /// The load itself.
    fn load(&self, target: &Target, addrs: &[SocketAddr]) -> Figures {
        let mut load_opts = LoadOpts::new(target.clone());
        load_opts.requests = self.opts.requests;
        load_opts.concurrency = self.opts.concurrency;
        load_opts.timeout = REQUEST_TIMEOUT;
        load::run(&load_opts, addrs)
    }
}

/// Boot `guest` with `memory_mib` (and QEMU's `-plugin` argument
/// `plugin`, if any) behind a forwarder from a free host port to
/// `guest_port`, and run `serve` against it (the QEMU child, the host
/// port, why it died).
pub(super) fn boot_linux_guest<T>(
    guest: &Guest,
    memory_mib: u32,
    timeout: Duration,
    guest_port: u16,
    plugin: Option<String>,
    serve: impl FnOnce(&mut Watched, u16, &dyn Fn(&Watched, ExitStatus) -> String) -> Result<T, String>,
) -> Result<T, String> {
    let port = free_port()?;
    // The same path as `isola run -p port:GUEST`: this process listens
    // on the port and relays to slirp's internal forwards.
    let forwarding = Forwarding::bind(&Net { forwards: vec![PortForward { host: port, guest: guest_port }] })
        .map_err(|e| e.to_string())?;
    let mut boot = guest.boot(timeout, Some(forwarding.slirp_net()));
    boot.memory_mib = memory_mib;
    boot.seed = plugin.is_some().then_some(crate::icount::SEED);
    boot.plugin = plugin;
    let _forwarder = forwarding.start().map_err(|e| e.to_string())?;
    let mut cmd = Process::new(qemu::QEMU);
    cmd.args(boot.args());
    let mut vm = Watched::spawn("QEMU", cmd)?;
    let death = |w: &Watched, status: ExitStatus| {
        format!("the Linux guest ended (QEMU {status}): {}", w.last_words(Some(linux_guest::NETWORK_FAILED)))
    };
    serve(&mut vm, port, &death)
}

/// Stop an Isola run gracefully: `signal` to its pid 1 through the
/// control channel, wait [`QUIT_WAIT`], else kill it.
pub(super) fn stop_isola(run: &mut Watched, name: &str, signal: u32) {
    let sent = crate::control::find(Some(name))
        .map_err(|e| e.to_string())
        .and_then(|socket| crate::control::request(&socket, &process::control::Request::Kill { signal, pid: 1 }));
    if let Err(why) = sent {
        eprintln!("bench: {name}: cannot signal pid 1 ({why}): killed");
    } else {
        match run.wait_exit(Instant::now() + QUIT_WAIT) {
            None => eprintln!("bench: {name}: still running {} s after signal {signal}: killed", QUIT_WAIT.as_secs()),
            Some(status) if !status.success() => {
                eprintln!("bench: {name}: isola run ended with {status} after signal {signal}: {}", run.last_words(None))
            }
            Some(_) => {}
        }
    }
    run.kill();
}

/// What an Isola row's QEMU runs.
pub(super) fn isola_detail(env: Env) -> &'static str {
    match env {
        Env::IsolaNone => "TCG -cpu max,-pku",
        _ => "TCG -cpu max",
    }
}

/// `isola ps --name NAME`'s lines, through the control channel.
pub(super) fn isola_ps(name: &str) -> Result<Vec<String>, String> {
    let socket = crate::control::find(Some(name)).map_err(|e| e.to_string())?;
    crate::control::request(&socket, &process::control::Request::Ps)
}

/// Is this process root (chroot needs it)? The effective uid of
/// `/proc/self/status`.
pub(super) fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| effective_uid(&s) == Some(0))
}

/// The effective uid in a `/proc/PID/status` text (`Uid: real effective
/// saved fs`).
pub fn effective_uid(status: &str) -> Option<u32> {
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// The host's Debian server, a child in a process group of its own:
/// [`HostServer::stop`] sends the server's graceful-stop signal to its
/// master, waits, then SIGKILLs whatever is left of the group, and checks
/// that nothing listens on the port any more. Dropping it stops it too.
struct HostServer {
    server: Watched,
    signal: u32,
    port: u16,
    stopped: bool,
}

/// `kill -s SIG -- TARGET` (safe code: the CLI sends no signal itself).
pub(super) fn kill_cmd(signal: &str, target: &str) -> bool {
    Process::new("kill")
        .args(["-s", signal, "--", target])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl HostServer {
    fn stop(&mut self) -> Result<(), String> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        let pid = self.server.child.id();
        let group = format!("-{pid}");
        let mut notes = Vec::new();
        if self.server.exited().is_none() {
            kill_cmd(&self.signal.to_string(), &pid.to_string());
            if self.server.wait_exit(Instant::now() + QUIT_WAIT).is_none() {
                notes.push(format!("its master was still running {} s after signal {}", QUIT_WAIT.as_secs(), self.signal));
            }
        }
        // Workers the master left behind, if any (the group outlives its
        // leader while a member lives).
        if kill_cmd("0", &group) {
            notes.push("workers were left behind".to_string());
            kill_cmd("KILL", &group);
            let deadline = Instant::now() + Duration::from_secs(5);
            while kill_cmd("0", &group) && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(50));
            }
        }
        self.server.kill();
        let listening = TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], self.port)), Duration::from_secs(1)).is_ok();
        if listening {
            notes.push(format!("127.0.0.1:{} still accepts connections", self.port));
        }
        match notes.is_empty() {
            true => Ok(()),
            false if listening => Err(format!("stopping the host's server: {}", notes.join("; "))),
            // Stopped in the end: the figures stand, the log says what happened.
            false => {
                eprintln!("bench: host: {} (killed)", notes.join("; "));
                Ok(())
            }
        }
    }
}

impl Drop for HostServer {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free port on 127.0.0.1: {e}"))
}

/// The `isola run` command line of the Isola row: `options` (already
/// `--flag value` pairs) before `--`, then the program (a host path, or a
/// path in the `--rootfs`) and its arguments.
pub fn isola_http_args(
    level: &str,
    timeout_secs: u64,
    host_port: u16,
    options: &[String],
    program: &str,
    args: &[String],
) -> Vec<String> {
    let mut v: Vec<String> = ["run", "--accel", "tcg", "--isolation", level, "--timeout"]
        .map(String::from)
        .to_vec();
    v.push(timeout_secs.to_string());
    v.push("-p".into());
    v.push(format!("{host_port}:{GUEST_PORT}"));
    v.extend(options.iter().cloned());
    v.push("--".into());
    v.push(program.to_string());
    v.extend(args.iter().cloned());
    v
}

/// A child whose stdout and stderr are read line by line as they come;
/// killed (and reaped) when dropped, and by the kernel when isola dies
/// ([`die_with_parent`]).
pub(super) struct Watched {
    pub child: Child,
    rx: mpsc::Receiver<Event>,
    open_streams: u8,
    pub stdout: Vec<String>,
    pub stderr: Vec<String>,
    /// How many stdout lines [`Watched::wait_line`] has looked at.
    scanned: usize,
}

enum Event {
    Out(String),
    Err(String),
    Closed,
}

impl Watched {
    /// Spawn `cmd` (from the calling thread: see [`die_with_parent`]).
    pub fn spawn(what: &str, mut cmd: Process) -> Result<Watched, String> {
        die_with_parent(&mut cmd);
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {what}: {e}"))?;
        let (tx, rx) = mpsc::channel();
        let out = child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>);
        let err = child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>);
        for (stream, is_out) in [(out, true), (err, false)] {
            let tx = tx.clone();
            thread::spawn(move || {
                if let Some(stream) = stream {
                    let mut reader = BufReader::new(stream);
                    let mut buf = Vec::new();
                    while reader.read_until(b'\n', &mut buf).is_ok_and(|n| n > 0) {
                        let line = String::from_utf8_lossy(&buf)
                            .trim_end_matches(['\n', '\r'])
                            .to_string();
                        buf.clear();
                        let event = if is_out {
                            Event::Out(line)
                        } else {
                            Event::Err(line)
                        };
                        if tx.send(event).is_err() {
                            return;
                        }
                    }
                }
                let _ = tx.send(Event::Closed);
            });
        }
        Ok(Watched {
            child,
            rx,
            open_streams: 2,
            stdout: Vec::new(),
            stderr: Vec::new(),
            scanned: 0,
        })
    }

    /// Take what arrives until `until` (or until both streams closed).
    pub fn pump(&mut self, until: Instant) {
        while self.open_streams > 0 {
            let left = until.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(Event::Out(l)) => self.stdout.push(l),
                Ok(Event::Err(l)) => self.stderr.push(l),
                Ok(Event::Closed) => self.open_streams -= 1,
                Err(_) => return,
            }
        }
    }

    /// Its exit status, if it has ended (its last output collected).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        let status = self.child.try_wait().ok().flatten()?;
        self.pump(Instant::now() + Duration::from_millis(500));
        Some(status)
    }

    /// Wait until a stdout line contains `needle`: `Err(Some(status))` if
    /// the child ended first, `Err(None)` at `deadline`.
    pub fn wait_line(&mut self, needle: &str, deadline: Instant) -> Result<(), Option<ExitStatus>> {
        loop {
            if self.stdout[self.scanned..]
                .iter()
                .any(|l| l.contains(needle))
            {
                return Ok(());
            }
            self.scanned = self.stdout.len();
            if let Some(status) = self.exited() {
                if self.stdout[self.scanned..]
                    .iter()
                    .any(|l| l.contains(needle))
                {
                    return Ok(());
                }
                return Err(Some(status));
            }
            if Instant::now() >= deadline {
                return Err(None);
            }
            self.pump((Instant::now() + Duration::from_millis(50)).min(deadline));
        }
    }

    /// Wait for the child to end until `deadline`.
    pub fn wait_exit(&mut self, deadline: Instant) -> Option<ExitStatus> {
        loop {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            self.pump((Instant::now() + Duration::from_millis(50)).min(deadline));
        }
    }

    /// SIGTERM, then [`Watched::kill`] if it has not ended within `grace`.
    pub fn terminate(&mut self, grace: Duration) {
        if self.exited().is_none() && kill_cmd("TERM", &self.child.id().to_string()) {
            let _ = self.wait_exit(Instant::now() + grace);
        }
        self.kill();
    }

    pub fn kill(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }

    /// The first stdout line containing `marker` if any, else the last
    /// non-empty line of stderr or stdout.
    pub fn last_words(&self, marker: Option<&str>) -> String {
        if let Some(line) = marker.and_then(|m| self.stdout.iter().find(|l| l.contains(m))) {
            return line.trim().to_string();
        }
        self.stderr
            .iter()
            .chain(self.stdout.iter())
            .rev()
            .map(|l| l.trim())
            .find(|l| !l.is_empty())
            .unwrap_or("")
            .to_string()
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_args(args: &[&str]) -> Result<HttpOpts, Error> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        match super::super::parse(&args)? {
            Command::BenchHttp(o) => Ok(o),
            other => panic!("expected bench http, got {other:?}"),
        }
    }

    fn usage(args: &[&str]) -> String {
        match parse_args(args) {
            Err(Error::Usage(m)) => m,
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn options() {
        assert_eq!(parse_args(&["http"]).unwrap(), HttpOpts::default());
        let o = parse_args(&[
            "--requests",
            "500",
            "http",
            "--concurrency=8",
            "--workers",
            "2",
            "--timeout",
            "9",
            "--server",
            "busybox",
        ])
        .unwrap();
        assert_eq!(
            o,
            HttpOpts {
                requests: 500,
                concurrency: 8,
                workers: 2,
                timeout_secs: 9,
                server: Server::Busybox,
                count_instructions: false,
            }
        );
        assert!(parse_args(&["http", "--count-instructions"]).unwrap().count_instructions);
        assert_eq!(parse_args(&["http", "--count-instructions"]).unwrap().concurrency, COUNTED_CONCURRENCY);
        assert_eq!(parse_args(&["http", "--count-instructions", "--concurrency", "8"]).unwrap().concurrency, 8);
        assert_eq!(parse_args(&["http", "--concurrency=8", "--count-instructions"]).unwrap().concurrency, 8);
        assert_eq!(parse_args(&["http"]).unwrap().concurrency, DEFAULT_CONCURRENCY);
        assert!(parse_args(&["--count-instructions", "http"]).unwrap().count_instructions);
        assert!(usage(&["http", "--count-instructions=1"]).contains("takes no value"));
        assert!(usage(&["http", "--count-instructions", "--server", "nginx"]).contains("prefork-httpd only"));
        assert!(usage(&["http", "--runs", "3"]).contains("unknown option '--runs' for bench http"));
        assert!(usage(&["http", "--workers", "0"]).contains("--workers must be"));
        assert!(usage(&["http", "--server", "lighttpd"]).contains("prefork, busybox, nginx or apache2, not 'lighttpd'"));
        assert_eq!(parse_args(&["http", "--server=nginx"]).unwrap().server, Server::Nginx);
        assert_eq!(parse_args(&["http", "--server", "apache2"]).unwrap().server, Server::Apache2);
        assert_eq!(Server::Apache2.args("80", 4, "/www"), ["-DFOREGROUND"]);
        assert_eq!(Server::Apache2.rows().len(), 5);
        assert!(usage(&["http", "extra"]).contains("unexpected argument 'extra'"));
        assert!(usage(&["http", "--requests"]).contains("needs a value"));
    }

    #[test]
    fn rows_per_server() {
        assert_eq!(Server::Prefork.rows(), [Env::IsolaStrict, Env::IsolaMpk, Env::LinuxGuest, Env::Host]);
        assert_eq!(Server::Nginx.rows(), [Env::IsolaStrict, Env::IsolaMpk, Env::IsolaNone, Env::LinuxGuest, Env::Host]);
        let opts = |server| HttpOpts { server, ..HttpOpts::default() };
        assert_eq!(opts(Server::Busybox).run_order(), [Env::Host, Env::LinuxGuest, Env::IsolaStrict, Env::IsolaMpk]);
        assert_eq!(
            opts(Server::Nginx).run_order(),
            [Env::Host, Env::LinuxGuest, Env::IsolaStrict, Env::IsolaMpk, Env::IsolaNone]
        );
        // Counting adds Isola none to prefork's rows, after mpk.
        let counted = HttpOpts { count_instructions: true, ..HttpOpts::default() };
        assert_eq!(counted.rows(), [Env::IsolaStrict, Env::IsolaMpk, Env::IsolaNone, Env::LinuxGuest, Env::Host]);
        assert_eq!(counted.run_order(), [Env::Host, Env::LinuxGuest, Env::IsolaStrict, Env::IsolaMpk, Env::IsolaNone]);
        assert_eq!(HttpOpts::default().rows(), Server::Prefork.rows());
        assert_eq!(Server::Nginx.debian().map(|d| d.program), Some("/usr/sbin/nginx"));
        assert!(Server::Prefork.debian().is_none() && Server::Busybox.debian().is_none());
        assert_eq!((Server::Nginx.ready_line(), Server::Nginx.quit_path()), (None, None));
        assert_eq!(isola_detail(Env::IsolaNone), "TCG -cpu max,-pku");
        assert_eq!(isola_detail(Env::IsolaStrict), "TCG -cpu max");
    }

    #[test]
    fn root_from_proc_status() {
        let status = "Name:\tisola\nUmask:\t0022\nUid:\t1000\t0\t0\t0\nGid:\t1000\t1000\t1000\t1000\n";
        assert_eq!(effective_uid(status), Some(0));
        assert_eq!(effective_uid("Uid:\t0\t1000\t1000\t1000\n"), Some(1000));
        assert_eq!(effective_uid("Name: x\n"), None);
    }

    #[test]
    fn nginx_isola_command_line() {
        let command = ["/usr/sbin/nginx", "-g", "daemon off;"].map(String::from);
        let options = ["--name", "bench-7-mpk", "--memory", "512", "--rootfs", "/w/target/isola/bench/nginx-root"].map(String::from);
        let args = isola_http_args("none", 3900, 18080, &options, &command[0], &command[1..]);
        match crate::cli::parse(args).unwrap() {
            Command::Run(o) => {
                assert_eq!(o.memory_mib, 512);
                assert_eq!(o.name.as_deref(), Some("bench-7-mpk"));
                assert_eq!(o.rootfs.as_deref(), Some("/w/target/isola/bench/nginx-root"));
                let p = o.program.unwrap();
                assert_eq!(p.args, ["-g", "daemon off;"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn server_arguments() {
        assert_eq!(
            Server::Prefork.args("80", 4, "/www"),
            ["-p", "80", "-w", "4"]
        );
        assert_eq!(
            Server::Busybox.args("127.0.0.1:8080", 4, "/w"),
            ["httpd", "-f", "-p", "127.0.0.1:8080", "-h", "/w"]
        );
        assert_eq!(index_page().len(), INDEX_BYTES);
        assert!(index_page().ends_with(b"</pre>"));
    }

    #[test]
    fn isola_row_command_line_is_one_isola_run_accepts() {
        let args = isola_http_args(
            "mpk",
            3900,
            18080,
            &["--add".into(), "/tmp/www:/www".into()],
            "/w/target/userland/prefork-httpd",
            &Server::Prefork.args("80", 4, "/www"),
        );
        assert_eq!(
            args.join(" "),
            "run --accel tcg --isolation mpk --timeout 3900 -p 18080:80 --add /tmp/www:/www \
             -- /w/target/userland/prefork-httpd -p 80 -w 4"
        );
        match crate::cli::parse(args).unwrap() {
            Command::Run(o) => {
                assert_eq!(
                    o.publish,
                    [PortForward {
                        host: 18080,
                        guest: 80
                    }]
                );
                assert_eq!(o.adds.len(), 1);
                let p = o.program.unwrap();
                assert_eq!(p.args, ["-p", "80", "-w", "4"]);
            }
            other => panic!("{other:?}"),
        }
    }

    fn figures(rps: f64, failed: u64) -> Figures {
        Figures {
            requests: 1000,
            ok: 1000 - failed,
            failed,
            expected_failures: 0,
            elapsed: Duration::from_secs_f64((1000 - failed) as f64 / rps),
            latencies: vec![
                Duration::from_micros(2500),
                Duration::from_micros(3000),
                Duration::from_micros(150_000),
            ],
            errors: (0..failed.min(1))
                .map(|_| "request 7: connection reset".into())
                .collect(),
        }
    }

    #[test]
    fn table() {
        let rows = [
            HttpRow {
                env: Env::Host,
                detail: "h".into(),
                result: Ok(figures(10000.0, 0)),
                memory: None,
            },
            HttpRow {
                env: Env::LinuxGuest,
                detail: "l".into(),
                result: Ok(figures(500.0, 0)),
                memory: None,
            },
            HttpRow {
                env: Env::IsolaMpk,
                detail: "i".into(),
                result: Ok(figures(250.0, 1)),
                memory: None,
            },
        ];
        let t = format_table(&HttpOpts::default(), "w", &rows, &[]);
        let lines: Vec<String> = t
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        assert_eq!(
            lines[0],
            "http (w): 10000 requests, 50 at a time, one connection each"
        );
        assert_eq!(
            lines[2],
            "| environment | req/s | p50 ms | p99 ms | max ms | failed | req/s vs Linux guest | req/s vs host |"
        );
        assert_eq!(
            lines[4],
            "| Isola mpk (i) | 250 | 3.0 | 150 | 150 | 1 | 0.50x | 0.03x |"
        );
        assert_eq!(
            lines[5],
            "| Linux guest (l) | 500 | 3.0 | 150 | 150 | 0 | 1.00x | 0.05x |"
        );
        assert_eq!(
            lines[6],
            "| host (h) | 10000 | 3.0 | 150 | 150 | 0 | 20.0x | 1.00x |"
        );
        assert_eq!(
            lines[8],
            "Isola mpk: 1 of 1000 requests failed (request 7: connection reset)"
        );
        let rows = [HttpRow {
            env: Env::IsolaMpk,
            detail: "i".into(),
            result: Err("before 'prefork-httpd: listening on': isola run exited 1: x".into()),
            memory: None,
        }];
        let t = format_table(&HttpOpts::default(), "w", &rows, &[]);
        assert!(t.contains("| Isola mpk (i) | failed |"), "{t}");
        assert!(
            t.ends_with(
                "Isola mpk failed: before 'prefork-httpd: listening on': isola run exited 1: x\n"
            ),
            "{t}"
        );
        // Every table line has the same width.
        let widths: Vec<usize> = t
            .lines()
            .skip(2)
            .take(3)
            .map(|l| l.chars().count())
            .collect();
        assert!(widths.iter().all(|&w| w == widths[0]), "{t}");
    }

    #[test]
    fn table_with_instruction_counts() {
        let row = |env, rps| HttpRow { env, detail: "d".into(), result: Ok(figures(rps, 0)), memory: None };
        let rows = [
            row(Env::Host, 10000.0),
            row(Env::LinuxGuest, 500.0),
            row(Env::IsolaMpk, 250.0),
            HttpRow { result: Err("at 200 requests: no window".into()), ..row(Env::IsolaNone, 1.0) },
        ];
        let opts = HttpOpts { requests: 100, count_instructions: true, ..HttpOpts::default() };
        let t = format_table(&opts, "w", &rows, &[(Env::LinuxGuest, 200_000.0), (Env::IsolaMpk, 50_000.0)]);
        let lines: Vec<String> = t.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
        assert!(lines[1].starts_with("instructions/request: (count at 200 requests - count at 100) / 100"), "{t}");
        assert!(lines[3].ends_with("| instructions/request | instructions vs Linux guest |"), "{t}");
        assert!(lines[5].ends_with("| 0.50x | 0.03x | 50000 | 0.25x |"), "{t}");
        assert!(lines[6].starts_with("| Isola none (d) | failed |") && lines[6].ends_with("| - | - |"), "{t}");
        assert!(lines[7].ends_with("| 200000 | 1.00x |"), "{t}");
        assert!(lines[8].ends_with("| 20.0x | 1.00x | - | - |"), "{t}");
    }

    #[test]
    fn watched_child_lines_and_death() {
        let mut cmd = Process::new("sh");
        cmd.args(["-c", "echo starting; echo oops >&2; sleep 0.2; echo 'prefork-httpd: listening on :1'; sleep 30"]);
        let mut w = Watched::spawn("sh", cmd).unwrap();
        w.wait_line(PREFORK_READY, Instant::now() + Duration::from_secs(10))
            .unwrap();
        assert_eq!(w.stdout[0], "starting");
        assert!(w.exited().is_none());
        w.kill();
        assert!(w.exited().is_some());
        let mut cmd = Process::new("sh");
        cmd.args(["-c", "echo 'some words'; exit 3"]);
        let mut w = Watched::spawn("sh", cmd).unwrap();
        let status = w
            .wait_line(PREFORK_READY, Instant::now() + Duration::from_secs(10))
            .unwrap_err()
            .expect("exited");
        assert_eq!(status.code(), Some(3));
        assert_eq!(w.last_words(None), "some words");
        let mut cmd = Process::new("sleep");
        cmd.arg("30");
        let mut w = Watched::spawn("sleep", cmd).unwrap();
        let start = Instant::now();
        assert_eq!(
            w.wait_line(PREFORK_READY, Instant::now() + Duration::from_millis(300)),
            Err(None)
        );
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}
