//! `isola load`: an HTTP load generator with std only (threads and blocking
//! [`TcpStream`]s), also used by `isola bench http`.
//!
//! Every request opens its own TCP connection, sends
//! `GET PATH HTTP/1.0` with `Host:` and `Connection: close`, reads the whole
//! response up to the server's close, and counts as answered when the
//! status line is `HTTP/1.x 200` and, if the response has a
//! `Content-Length`, the body has exactly that many bytes. Requests are
//! numbered 1 to N in the order the C connection threads take them;
//! `--path-at K:PATH` makes request K ask for PATH instead (the tests send
//! `/crash` that way): its failure is *expected* and counted apart.
//! The C connection threads all start at once, as real clients' bursts
//! do (an `isola run -p` port takes such a burst: [`crate::forward`]).
//!
//! The pure parts ([`parse_url`], [`parse_response`], [`percentile`],
//! [`Figures::summary`]) are unit-tested; [`run`] does the I/O and returns
//! [`Figures`].

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::cli::Command;
use crate::error::Error;

/// Default `--requests`.
pub const DEFAULT_REQUESTS: u64 = 1000;
/// Default `--concurrency`.
pub const DEFAULT_CONCURRENCY: u32 = 10;
/// Default `--timeout` of one request, in seconds.
pub const DEFAULT_TIMEOUT_SECS: u64 = 10;
const MAX_REQUESTS: u64 = 100_000_000;
const MAX_CONCURRENCY: u32 = 1024;
const MAX_TIMEOUT_SECS: u64 = 3600;
/// How many failures are described one by one.
pub const ERRORS_SHOWN: usize = 5;
/// A response larger than this is a failure (and is not read further).
const MAX_RESPONSE_BYTES: usize = 256 << 20;

/// Where the requests go: `http://HOST[:PORT][/PATH]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// HOST as given, without brackets (`127.0.0.1`, `localhost`, `::1`).
    pub host: String,
    pub port: u16,
    /// The request path, starting with `/` (query string included).
    pub path: String,
    /// The `Host:` header: the URL's authority as given.
    pub host_header: String,
}

/// Parse `http://HOST[:PORT][/PATH]` (IPv6 hosts in brackets). Only plain
/// `http`; no user info, no fragment.
pub fn parse_url(url: &str) -> Result<Target, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("'{url}' is not an http:// URL"))?;
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(format!("'{url}' has no host"));
    }
    if authority.contains('@') {
        return Err(format!("'{url}': user information is not supported"));
    }
    if path.contains('#') || !valid_path(path) {
        return Err(format!(
            "'{url}': the path must be printable ASCII without spaces or '#'"
        ));
    }
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| format!("'{url}': unclosed '[' in the host"))?;
        match after {
            "" => (host, None),
            _ => (
                host,
                Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| format!("'{url}': bad text after ']'"))?,
                ),
            ),
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(format!("'{url}' has no host"));
    }
    let port = match port {
        None => 80,
        Some(p) => crate::cli::parse_port(p)
            .ok_or_else(|| format!("'{url}': the port must be from 1 to 65535"))?,
    };
    Ok(Target {
        host: host.to_string(),
        port,
        path: path.to_string(),
        host_header: authority.to_string(),
    })
}

/// A request path: starts with `/`, printable ASCII, no space.
fn valid_path(path: &str) -> bool {
    path.starts_with('/') && path.bytes().all(|b| b.is_ascii_graphic())
}

/// The bytes of one request.
pub fn request_bytes(path: &str, host_header: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.0\r\nHost: {host_header}\r\nConnection: close\r\n\r\n").into_bytes()
}

/// What a response says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// `HTTP/1.0 200 OK`.
    pub status_line: String,
    pub status: u16,
    /// Headers as sent (name, value), in order.
    pub headers: Vec<(String, String)>,
    pub content_length: Option<usize>,
    /// Offset of the body in the response bytes.
    pub body_at: usize,
    pub body_len: usize,
}

/// Split a complete response (everything up to the server's close) into
/// status, headers and body; `Err` when it is not an HTTP/1.x response or
/// its body disagrees with its Content-Length.
pub fn parse_response(bytes: &[u8]) -> Result<Response, String> {
    if bytes.is_empty() {
        return Err("connection closed without a response".into());
    }
    let (head_len, sep_len) = match find(bytes, b"\r\n\r\n") {
        Some(at) => (at, 4),
        None => match find(bytes, b"\n\n") {
            Some(at) => (at, 2),
            None => {
                return Err(format!(
                    "incomplete response: {} bytes without the end of the headers",
                    bytes.len()
                ));
            }
        },
    };
    let head = std::str::from_utf8(&bytes[..head_len])
        .map_err(|_| "response headers are not UTF-8".to_string())?;
    let mut lines = head.split('\n').map(|l| l.trim_end_matches('\r'));
    let status_line = lines.next().unwrap_or("").to_string();
    let status = parse_status_line(&status_line)
        .ok_or_else(|| format!("not an HTTP/1.x status line: '{}'", shorten(&status_line)))?;
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("malformed header line '{}'", shorten(line)))?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let mut content_length = None;
    for (name, value) in &headers {
        if !name.eq_ignore_ascii_case("content-length") {
            continue;
        }
        let n = value
            .parse::<usize>()
            .map_err(|_| format!("bad Content-Length '{}'", shorten(value)))?;
        if content_length.is_some_and(|m| m != n) {
            return Err("conflicting Content-Length headers".into());
        }
        content_length = Some(n);
    }
    let body_at = head_len + sep_len;
    let body_len = bytes.len() - body_at;
    if let Some(n) = content_length {
        if n != body_len {
            return Err(format!(
                "body of {body_len} bytes, Content-Length says {n} ({status_line})"
            ));
        }
    }
    Ok(Response {
        status_line,
        status,
        headers,
        content_length,
        body_at,
        body_len,
    })
}

/// `HTTP/1.x NNN[ reason]`: NNN.
pub fn parse_status_line(line: &str) -> Option<u16> {
    let rest = line.strip_prefix("HTTP/1.")?;
    let mut chars = rest.chars();
    chars.next().filter(char::is_ascii_digit)?;
    let rest = chars.as_str().strip_prefix(' ')?;
    let code = rest.get(..3)?;
    if !code.bytes().all(|b| b.is_ascii_digit()) || !matches!(rest.get(3..4), None | Some(" ")) {
        return None;
    }
    code.parse().ok()
}

/// A request counts as answered: a well-formed response with status 200.
pub fn check_response(bytes: &[u8]) -> Result<Response, String> {
    let r = parse_response(bytes)?;
    if r.status != 200 {
        return Err(format!(
            "status {} ('{}')",
            r.status,
            shorten(&r.status_line)
        ));
    }
    Ok(r)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn shorten(text: &str) -> String {
    const MAX: usize = 80;
    if text.chars().count() <= MAX {
        text.to_string()
    } else {
        format!("{}...", text.chars().take(MAX).collect::<String>())
    }
}

/// The `p`-th percentile (0 < p <= 100) of sorted values, nearest-rank
/// method: the smallest value with at least p % of the values at or below
/// it. `None` for no values.
pub fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// One GET on a new connection: the whole response, read until the server
/// closes. Every step (connect, write, each read) is bounded by what is
/// left of `timeout`.
pub fn fetch(
    addrs: &[SocketAddr],
    host_header: &str,
    path: &str,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    let deadline = Instant::now() + timeout;
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| format!("timed out after {:.1} s", timeout.as_secs_f64()))
    };
    let mut stream = None;
    let mut last = String::from("no address to connect to");
    for addr in addrs {
        match TcpStream::connect_timeout(addr, left()?) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = format!("connect to {addr}: {}", describe(&e, timeout)),
        }
    }
    let mut stream = stream.ok_or(last)?;
    let _ = stream.set_nodelay(true);
    stream
        .set_write_timeout(Some(left()?))
        .and_then(|()| stream.write_all(&request_bytes(path, host_header)))
        .map_err(|e| format!("send: {}", describe(&e, timeout)))?;
    let mut bytes = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        stream
            .set_read_timeout(Some(left()?))
            .map_err(|e| format!("receive: {e}"))?;
        match stream.read(&mut buf) {
            Ok(0) => return Ok(bytes),
            Ok(n) => {
                bytes.extend_from_slice(&buf[..n]);
                if bytes.len() > MAX_RESPONSE_BYTES {
                    return Err(format!("response larger than {MAX_RESPONSE_BYTES} bytes"));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // A reset after a complete response (the server closed with
            // unread bytes, or aborted the connection once done) loses
            // nothing.
            Err(e) if is_reset(&e) && complete(&bytes) => return Ok(bytes),
            Err(e) => {
                return Err(format!(
                    "receive (after {} bytes): {}",
                    bytes.len(),
                    describe(&e, timeout)
                ));
            }
        }
    }
}

fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
    )
}

/// Does `bytes` hold a response with a Content-Length that is all there?
fn complete(bytes: &[u8]) -> bool {
    parse_response(bytes).is_ok_and(|r| r.content_length.is_some())
}

fn describe(e: &io::Error, timeout: Duration) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".into(),
        io::ErrorKind::ConnectionReset => "connection reset".into(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
            format!("timed out after {:.1} s", timeout.as_secs_f64())
        }
        _ => e.to_string(),
    }
}

/// What to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadOpts {
    /// The URL as given.
    pub url: String,
    pub target: Target,
    /// N: the number of requests.
    pub requests: u64,
    /// C: the number of connections open at once.
    pub concurrency: u32,
    /// Limit of one request (connect to close).
    pub timeout: Duration,
    /// `--path-at K:PATH`: request K (1-based) asks for PATH; sorted by K.
    pub path_at: Vec<(u64, String)>,
}

impl LoadOpts {
    /// Defaults for `target`.
    pub fn new(target: Target) -> LoadOpts {
        LoadOpts {
            url: format!("http://{}{}", target.host_header, target.path),
            target,
            requests: DEFAULT_REQUESTS,
            concurrency: DEFAULT_CONCURRENCY,
            timeout: Duration::from_secs(DEFAULT_TIMEOUT_SECS),
            path_at: Vec::new(),
        }
    }

    /// The path of request `k`, and whether its failure is expected.
    fn path_of(&self, k: u64) -> (&str, bool) {
        match self.path_at.binary_search_by_key(&k, |(at, _)| *at) {
            Ok(i) => (&self.path_at[i].1, true),
            Err(_) => (&self.target.path, false),
        }
    }
}

/// What a load run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    /// Requests sent (N).
    pub requests: u64,
    /// Answered: status 200 and a body matching its Content-Length.
    pub ok: u64,
    /// Failures of ordinary requests.
    pub failed: u64,
    /// Failures of `--path-at` requests.
    pub expected_failures: u64,
    /// From the first connection to the last response.
    pub elapsed: Duration,
    /// Latency (connect to close) of every answered request, sorted.
    pub latencies: Vec<Duration>,
    /// The first [`ERRORS_SHOWN`] failures (by request number):
    /// `request K: why`.
    pub errors: Vec<String>,
}

impl Figures {
    /// Answered requests per second of wall time.
    pub fn req_per_s(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.ok as f64 / secs
        } else {
            0.0
        }
    }

    pub fn p50(&self) -> Option<Duration> {
        percentile(&self.latencies, 50.0)
    }

    pub fn p99(&self) -> Option<Duration> {
        percentile(&self.latencies, 99.0)
    }

    pub fn max(&self) -> Option<Duration> {
        self.latencies.last().copied()
    }

    /// `requests 10000, failed 0, expected-failures 1, 1234.5 req/s,
    /// latency p50 3.1 ms p99 12.0 ms max 40.2 ms`.
    pub fn summary(&self) -> String {
        let ms = |d: Option<Duration>| d.map_or("-".to_string(), |d| format!("{} ms", millis(d)));
        format!(
            "requests {}, failed {}, expected-failures {}, {:.1} req/s, latency p50 {} p99 {} max {}",
            self.requests,
            self.failed,
            self.expected_failures,
            self.req_per_s(),
            ms(self.p50()),
            ms(self.p99()),
            ms(self.max()),
        )
    }
}

/// Milliseconds with one decimal.
pub fn millis(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

/// The addresses `target` resolves to.
pub fn resolve(target: &Target) -> Result<Vec<SocketAddr>, String> {
    let addrs: Vec<SocketAddr> = (target.host.as_str(), target.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", target.host))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("{} resolves to no address", target.host));
    }
    Ok(addrs)
}

/// What one connection thread saw.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    failed: u64,
    expected_failures: u64,
    errors: Vec<(u64, String)>,
}

/// Send every request of `opts` to `addrs`, C at a time; return the
/// figures (failures included: nothing here is an error).
pub fn run(opts: &LoadOpts, addrs: &[SocketAddr]) -> Figures {
    let next = AtomicU64::new(1);
    let threads = u64::from(opts.concurrency).min(opts.requests).max(1);
    let start = Instant::now();
    let tallies: Vec<Tally> = thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let next = &next;
                scope.spawn(move || {
                    let mut t = Tally::default();
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        if k > opts.requests {
                            break;
                        }
                        let (path, expected) = opts.path_of(k);
                        let sent = Instant::now();
                        let result = fetch(addrs, &opts.target.host_header, path, opts.timeout)
                            .and_then(|bytes| check_response(&bytes).map(|_| ()));
                        match result {
                            Ok(()) => t.latencies.push(sent.elapsed()),
                            Err(_) if expected => t.expected_failures += 1,
                            Err(why) => {
                                t.failed += 1;
                                if t.errors.len() < ERRORS_SHOWN {
                                    t.errors.push((k, why));
                                }
                            }
                        }
                    }
                    t
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_default())
            .collect()
    });
    let elapsed = start.elapsed();
    let mut figures = Figures {
        requests: opts.requests,
        ok: 0,
        failed: 0,
        expected_failures: 0,
        elapsed,
        latencies: Vec::new(),
        errors: Vec::new(),
    };
    let mut errors = Vec::new();
    for t in tallies {
        figures.failed += t.failed;
        figures.expected_failures += t.expected_failures;
        figures.latencies.extend(t.latencies);
        errors.extend(t.errors);
    }
    figures.ok = figures.latencies.len() as u64;
    figures.latencies.sort();
    errors.sort();
    figures.errors = errors
        .into_iter()
        .take(ERRORS_SHOWN)
        .map(|(k, why)| format!("request {k}: {why}"))
        .collect();
    figures
}

/// GET `path` until one answer is a 200 or `deadline` passes; `alive`
/// is asked between tries and ends the wait early with its error (the
/// server died). Each try is bounded by `per_try`.
pub fn wait_until_answered(
    addrs: &[SocketAddr],
    host_header: &str,
    path: &str,
    deadline: Instant,
    per_try: Duration,
    mut alive: impl FnMut() -> Result<(), String>,
) -> Result<(), String> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let why = match fetch(
            addrs,
            host_header,
            path,
            per_try.min(left).max(Duration::from_millis(100)),
        )
        .and_then(|b| check_response(&b).map(|_| ()))
        {
            Ok(()) => return Ok(()),
            Err(why) => why,
        };
        alive()?;
        if Instant::now() + Duration::from_millis(200) >= deadline {
            return Err(format!("no answer to GET {path} (last try: {why})"));
        }
        thread::sleep(Duration::from_millis(200));
    }
}

/// Parse the arguments after `load`.
pub fn parse(args: &[String]) -> Result<Command, Error> {
    let mut url = None;
    let mut requests = DEFAULT_REQUESTS;
    let mut concurrency = DEFAULT_CONCURRENCY;
    let mut timeout_secs = DEFAULT_TIMEOUT_SECS;
    let mut path_at: Vec<(u64, String)> = Vec::new();
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
            "--requests" => requests = number(name, &value()?, 1, MAX_REQUESTS)?,
            "--concurrency" => {
                concurrency = number(name, &value()?, 1, u64::from(MAX_CONCURRENCY))? as u32
            }
            "--timeout" => timeout_secs = number(name, &value()?, 1, MAX_TIMEOUT_SECS)?,
            "--path-at" => {
                let v = value()?;
                let (k, path) = parse_path_at(&v)?;
                if path_at.iter().any(|(at, _)| *at == k) {
                    return Err(Error::usage(format!(
                        "--path-at {v}: request {k} already has a path"
                    )));
                }
                path_at.push((k, path));
            }
            "--help" | "-h" => return Ok(Command::Help),
            _ if name.starts_with('-') => {
                return Err(Error::usage(format!("unknown option '{name}'")));
            }
            _ if url.is_some() => {
                return Err(Error::usage(format!("unexpected argument '{arg}'")));
            }
            _ => url = Some(arg.clone()),
        }
    }
    let url = url.ok_or_else(|| Error::usage("load needs a URL (http://HOST:PORT/PATH)"))?;
    let target = parse_url(&url).map_err(Error::usage)?;
    if let Some((k, _)) = path_at.iter().find(|(k, _)| *k > requests) {
        return Err(Error::usage(format!(
            "--path-at {k}:...: there are only {requests} requests"
        )));
    }
    path_at.sort();
    Ok(Command::Load(LoadOpts {
        url,
        target,
        requests,
        concurrency,
        timeout: Duration::from_secs(timeout_secs),
        path_at,
    }))
}

/// `--path-at K:PATH`.
fn parse_path_at(value: &str) -> Result<(u64, String), Error> {
    let bad = |why: &str| Error::usage(format!("--path-at {value}: {why}"));
    let (k, path) = value
        .split_once(':')
        .ok_or_else(|| bad("expected K:PATH (request number, path)"))?;
    let k = number("--path-at", k, 1, MAX_REQUESTS)
        .map_err(|_| bad("K must be a request number from 1"))?;
    if !valid_path(path) {
        return Err(bad(
            "PATH must start with '/' and be printable ASCII without spaces",
        ));
    }
    Ok((k, path.to_string()))
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

/// `isola load`: run, print the failures and the summary line; 0 iff no
/// ordinary request failed, 1 otherwise.
pub fn command(opts: &LoadOpts) -> Result<i32, Error> {
    let addrs = resolve(&opts.target).map_err(Error::input)?;
    let figures = run(opts, &addrs);
    for e in &figures.errors {
        eprintln!("isola: load: {e}");
    }
    if figures.failed > figures.errors.len() as u64 {
        eprintln!(
            "isola: load: ... and {} more failures",
            figures.failed - figures.errors.len() as u64
        );
    }
    println!("{}", figures.summary());
    Ok(if figures.failed == 0 { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    fn target(host: &str, port: u16, path: &str, header: &str) -> Target {
        Target {
            host: host.into(),
            port,
            path: path.into(),
            host_header: header.into(),
        }
    }

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("http://127.0.0.1:8080/").unwrap(),
            target("127.0.0.1", 8080, "/", "127.0.0.1:8080")
        );
        assert_eq!(
            parse_url("http://localhost").unwrap(),
            target("localhost", 80, "/", "localhost")
        );
        assert_eq!(
            parse_url("http://[::1]:81/a/b?x=1").unwrap(),
            target("::1", 81, "/a/b?x=1", "[::1]:81")
        );
        assert_eq!(parse_url("http://[::1]").unwrap().port, 80);
        for bad in [
            "https://x/",
            "127.0.0.1:80",
            "http://",
            "http:///x",
            "http://:80/",
            "http://h:0/",
            "http://h:65536/",
            "http://h:x/",
            "http://u@h/",
            "http://h/a b",
            "http://h/#f",
            "http://[::1/",
            "http://[::1]x/",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn request_is_http_1_0_with_close() {
        assert_eq!(
            request_bytes("/x", "h:1"),
            b"GET /x HTTP/1.0\r\nHost: h:1\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn responses() {
        let r =
            check_response(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\nX: y\r\n\r\nhello").unwrap();
        assert_eq!((r.status, r.body_len, r.content_length), (200, 5, Some(5)));
        assert_eq!(r.headers[1], ("X".to_string(), "y".to_string()));
        assert_eq!(r.body_at, 44);
        // No Content-Length: the body is whatever came before the close.
        let r = check_response(b"HTTP/1.1 200 Fine\r\n\r\nabc").unwrap();
        assert_eq!((r.body_len, r.content_length), (3, None));
        // Bare \n line ends, no reason phrase.
        let r = check_response(b"HTTP/1.0 200\ncontent-length: 0\n\n").unwrap();
        assert_eq!(r.body_len, 0);
        let err = |b: &[u8]| check_response(b).unwrap_err();
        assert_eq!(err(b""), "connection closed without a response");
        assert!(err(b"HTTP/1.0 200 OK\r\n").contains("incomplete response"));
        assert!(err(b"HTTP/1.0 404 Not Found\r\n\r\n").starts_with("status 404"));
        assert!(err(b"HTTP/2 200\r\n\r\n").contains("not an HTTP/1.x status line"));
        assert!(err(b"HTTP/1.0 20 OK\r\n\r\n").contains("status line"));
        assert!(err(b"HTTP/1.0 2000 OK\r\n\r\n").contains("status line"));
        assert!(err(b"ICY 200 OK\r\n\r\n").contains("status line"));
        assert_eq!(
            err(b"HTTP/1.0 200 OK\r\nContent-Length: 10\r\n\r\nshort"),
            "body of 5 bytes, Content-Length says 10 (HTTP/1.0 200 OK)"
        );
        assert!(err(b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nlong").contains("body of 4"));
        assert!(
            err(b"HTTP/1.0 200 OK\r\nContent-Length: x\r\n\r\n").contains("bad Content-Length")
        );
        assert!(
            err(b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx")
                .contains("conflicting")
        );
        assert!(err(b"HTTP/1.0 200 OK\r\nno colon\r\n\r\n").contains("malformed header"));
        // A 404 still parses (the tests compare its status).
        assert_eq!(
            parse_response(b"HTTP/1.0 404 Not Found\r\n\r\n")
                .unwrap()
                .status,
            404
        );
    }

    #[test]
    fn percentiles() {
        let ms = |v: &[u64]| {
            v.iter()
                .map(|&m| Duration::from_millis(m))
                .collect::<Vec<_>>()
        };
        assert_eq!(percentile(&[], 50.0), None);
        let one = ms(&[7]);
        assert_eq!(percentile(&one, 50.0), Some(Duration::from_millis(7)));
        assert_eq!(percentile(&one, 99.0), Some(Duration::from_millis(7)));
        let hundred: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&hundred, 50.0), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&hundred, 99.0), Some(Duration::from_millis(99)));
        assert_eq!(
            percentile(&hundred, 100.0),
            Some(Duration::from_millis(100))
        );
        assert_eq!(percentile(&hundred, 0.1), Some(Duration::from_millis(1)));
        let four = ms(&[1, 2, 3, 4]);
        assert_eq!(percentile(&four, 50.0), Some(Duration::from_millis(2)));
        assert_eq!(percentile(&four, 99.0), Some(Duration::from_millis(4)));
    }

    #[test]
    fn summary_line() {
        let f = Figures {
            requests: 10000,
            ok: 9999,
            failed: 0,
            expected_failures: 1,
            elapsed: Duration::from_secs_f64(9999.0 / 1234.5),
            latencies: vec![
                Duration::from_micros(3100),
                Duration::from_micros(12_000),
                Duration::from_micros(40_000),
            ],
            errors: vec![],
        };
        assert_eq!(
            f.summary(),
            "requests 10000, failed 0, expected-failures 1, 1234.5 req/s, \
             latency p50 12.0 ms p99 40.0 ms max 40.0 ms"
        );
        let none = Figures {
            requests: 3,
            ok: 0,
            failed: 3,
            expected_failures: 0,
            elapsed: Duration::ZERO,
            latencies: vec![],
            errors: vec![],
        };
        assert_eq!(
            none.summary(),
            "requests 3, failed 3, expected-failures 0, 0.0 req/s, latency p50 - p99 - max -"
        );
    }

    fn load(args: &[&str]) -> Result<LoadOpts, Error> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        match parse(&args)? {
            Command::Load(o) => Ok(o),
            other => panic!("{other:?}"),
        }
    }

    fn usage(args: &[&str]) -> String {
        match load(args) {
            Err(Error::Usage(m)) => m,
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn options() {
        let o = load(&["http://127.0.0.1:8080/"]).unwrap();
        assert_eq!(o.requests, DEFAULT_REQUESTS);
        assert_eq!(o.concurrency, DEFAULT_CONCURRENCY);
        assert_eq!(o.timeout, Duration::from_secs(DEFAULT_TIMEOUT_SECS));
        assert!(o.path_at.is_empty());
        let o = load(&[
            "--requests",
            "10000",
            "http://h:1/x",
            "--concurrency=50",
            "--timeout",
            "3",
            "--path-at",
            "5000:/crash",
            "--path-at=7:/a?b",
        ])
        .unwrap();
        assert_eq!((o.requests, o.concurrency), (10000, 50));
        assert_eq!(o.timeout, Duration::from_secs(3));
        assert_eq!(
            o.path_at,
            [(7, "/a?b".to_string()), (5000, "/crash".to_string())]
        );
        assert_eq!(o.path_of(7), ("/a?b", true));
        assert_eq!(o.path_of(5000), ("/crash", true));
        assert_eq!(o.path_of(1), ("/x", false));
        assert_eq!(o.url, "http://h:1/x");
    }

    #[test]
    fn option_errors() {
        assert!(usage(&[]).contains("needs a URL"));
        assert!(usage(&["ftp://x/"]).contains("not an http:// URL"));
        assert!(usage(&["http://a/", "http://b/"]).contains("unexpected argument"));
        assert!(usage(&["http://a/", "--requests", "0"]).contains("--requests must be"));
        assert!(usage(&["http://a/", "--concurrency", "1025"]).contains("--concurrency"));
        assert!(usage(&["http://a/", "--timeout"]).contains("needs a value"));
        assert!(usage(&["http://a/", "--frob"]).contains("unknown option '--frob'"));
        assert!(usage(&["http://a/", "--path-at", "5"]).contains("expected K:PATH"));
        assert!(usage(&["http://a/", "--path-at", "0:/x"]).contains("K must be"));
        assert!(usage(&["http://a/", "--path-at", "1:x"]).contains("PATH must"));
        assert!(usage(&["http://a/", "--path-at", "1:/a b"]).contains("PATH must"));
        assert!(
            usage(&["http://a/", "--path-at", "1:/a", "--path-at", "1:/b"])
                .contains("already has a path")
        );
        assert!(
            usage(&["http://a/", "--requests", "10", "--path-at", "11:/x"])
                .contains("only 10 requests")
        );
    }

    /// A tiny HTTP server on 127.0.0.1: answers each connection with
    /// `respond(request line)` then closes; stops when dropped.
    struct Server {
        port: u16,
        stop: Arc<AtomicBool>,
        thread: Option<thread::JoinHandle<()>>,
    }

    impl Server {
        fn start(respond: fn(&str) -> Option<Vec<u8>>) -> Server {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.set_nonblocking(true).unwrap();
            let port = listener.local_addr().unwrap().port();
            let stop = Arc::new(AtomicBool::new(false));
            let flag = stop.clone();
            let thread = thread::spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    let (mut s, _) = match listener.accept() {
                        Ok(c) => c,
                        Err(_) => {
                            thread::sleep(Duration::from_millis(1));
                            continue;
                        }
                    };
                    s.set_nonblocking(false).unwrap();
                    thread::spawn(move || {
                        let mut req = Vec::new();
                        let mut buf = [0u8; 1024];
                        while find(&req, b"\r\n\r\n").is_none() {
                            match s.read(&mut buf) {
                                Ok(0) | Err(_) => return,
                                Ok(n) => req.extend_from_slice(&buf[..n]),
                            }
                        }
                        let text = String::from_utf8_lossy(&req).into_owned();
                        assert!(text.contains("\r\nConnection: close\r\n"), "{text}");
                        let line = text.lines().next().unwrap_or("").to_string();
                        if let Some(resp) = respond(&line) {
                            let _ = s.write_all(&resp);
                        }
                    });
                }
            });
            Server {
                port,
                stop,
                thread: Some(thread),
            }
        }

        fn opts(&self, path: &str) -> LoadOpts {
            LoadOpts::new(parse_url(&format!("http://127.0.0.1:{}{path}", self.port)).unwrap())
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::Relaxed);
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    fn hello(line: &str) -> Option<Vec<u8>> {
        match line {
            "GET / HTTP/1.0" => Some(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello".to_vec()),
            "GET /crash HTTP/1.0" => None,
            "GET /short HTTP/1.0" => {
                Some(b"HTTP/1.0 200 OK\r\nContent-Length: 9\r\n\r\nhello".to_vec())
            }
            _ => Some(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec()),
        }
    }

    #[test]
    fn load_against_a_local_server() {
        let server = Server::start(hello);
        let mut opts = server.opts("/");
        opts.requests = 200;
        opts.concurrency = 8;
        opts.path_at = vec![(100, "/crash".into())];
        let addrs = resolve(&opts.target).unwrap();
        let f = run(&opts, &addrs);
        assert_eq!(
            (f.requests, f.ok, f.failed, f.expected_failures),
            (200, 199, 0, 1),
            "{f:?}"
        );
        assert_eq!(f.latencies.len(), 199);
        assert!(f.p50() <= f.p99() && f.p99() <= f.max());
        assert!(f.req_per_s() > 0.0);
        assert!(f.errors.is_empty());
        // A body shorter than its Content-Length and a 404 are failures.
        let mut opts = server.opts("/short");
        opts.requests = 7;
        opts.concurrency = 3;
        opts.path_at = vec![(2, "/missing".into())];
        let f = run(&opts, &addrs);
        assert_eq!((f.ok, f.failed, f.expected_failures), (0, 6, 1), "{f:?}");
        assert_eq!(f.errors.len(), ERRORS_SHOWN);
        assert!(
            f.errors[0].starts_with("request 1: body of 5 bytes"),
            "{:?}",
            f.errors
        );
        assert!(f.errors[1].starts_with("request 3: "), "{:?}", f.errors);
        // wait_until_answered: at once for /, never for /missing.
        let soon = Instant::now() + Duration::from_secs(5);
        wait_until_answered(&addrs, "x", "/", soon, Duration::from_secs(1), || Ok(())).unwrap();
        let e = wait_until_answered(
            &addrs,
            "x",
            "/missing",
            Instant::now() + Duration::from_millis(500),
            Duration::from_secs(1),
            || Ok(()),
        )
        .unwrap_err();
        assert!(e.contains("status 404"), "{e}");
        let e = wait_until_answered(
            &addrs,
            "x",
            "/missing",
            soon,
            Duration::from_secs(1),
            || Err("server died".into()),
        )
        .unwrap_err();
        assert_eq!(e, "server died");
    }

    #[test]
    fn refused_connections_are_failures() {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let mut opts = LoadOpts::new(parse_url(&format!("http://127.0.0.1:{port}/")).unwrap());
        opts.requests = 3;
        opts.concurrency = 2;
        let f = run(&opts, &resolve(&opts.target).unwrap());
        assert_eq!((f.ok, f.failed), (0, 3));
        assert!(f.errors[0].contains("connection refused"), "{:?}", f.errors);
    }

    #[test]
    fn a_silent_server_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let addrs = [SocketAddr::from(([127, 0, 0, 1], port))];
        let start = Instant::now();
        let e = fetch(&addrs, "x", "/", Duration::from_millis(300)).unwrap_err();
        assert!(e.contains("timed out"), "{e}");
        assert!(start.elapsed() < Duration::from_secs(5));
        drop(listener);
    }
}
