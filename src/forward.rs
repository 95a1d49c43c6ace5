//! `-p HOST:GUEST` served by isola itself: isola listens on 127.0.0.1:HOST
//! and relays every connection to the guest through [`CHANNELS`] forwards of
//! QEMU's user network (slirp), instead of letting slirp listen on HOST.
//!
//! Why: slirp's host-side listening socket has a backlog of 1 (`ss -ltn`
//! shows `Send-Q 1` on a `hostfwd` port), and slirp accepts from it in
//! QEMU's main loop, at most one connection per listener per loop turn.
//! When many clients connect at once the host kernel's accept queue of that
//! socket overflows and drops their SYNs (`nstat -az TcpExtListenOverflows`
//! counts them): those clients wait for SYN retransmits (1, 3, 7 s...) or
//! time out before the guest ever sees them. Measured with
//! `isola load --requests 10000 --concurrency 50` against
//! `prefork-httpd -w 4` under TCG (kernel 28451aa, each run in a network
//! namespace of its own, so that the counter is the run's alone; 2 runs
//! each): behind a plain `hostfwd`, ListenOverflows grew by 526 and 392,
//! p99 was 1.08 and 1.06 s, max 7.8 and 7.7 s, and 7 requests of the
//! second run timed out (10 s); through this forwarder: 0 and 1, p99 117
//! and 119 ms, max 162 and 335 ms, none failed. The old workaround
//! (starting a load's connections 10 ms apart, 120 s per request) only
//! helped isola's own load generator; curl, wrk or a browser do not ramp.
//!
//! How: for each `-p HOST:GUEST`, [`Forwarding::bind`] binds 127.0.0.1:HOST
//! (std's listener, backlog 128: its error is the `-p ... cannot listen
//! on` error) and picks [`CHANNELS`] free internal ports I1..IK on
//! 127.0.0.1 below the ephemeral range (see [`INTERNAL_PORTS`]); QEMU gets
//! `hostfwd=tcp:127.0.0.1:Ik-:GUEST` for each ([`Forwarding::slirp_net`]),
//! never HOST. [`Forwarding::start`] spawns one acceptor thread per HOST;
//! each client gets a thread that connects to the internal ports round-robin
//! (one counter for the whole process), each try bounded by [`CONNECT_TRY`]
//! and the next port taken on a timeout or a refusal, for at most
//! [`CONNECT_LIMIT`] in all (QEMU may still be starting); then bytes are
//! copied both ways (a second thread for the other direction), TCP_NODELAY
//! on both sockets. An end of stream on one side becomes `shutdown(Write)`
//! on the other (half-close goes through); both sockets close when both
//! directions are done, or at once on an error. A client whose connection
//! could not be made is closed (it reads end of stream). When nothing
//! listens on GUEST in the guest, slirp accepts and then closes at once:
//! that end of stream is relayed as it is, so the client sees what it saw
//! when slirp listened on HOST itself.
//!
//! Spreading the connects over K listeners (and skipping one that does not
//! complete a handshake within [`CONNECT_TRY`]) keeps every slirp listener's
//! queue short; a connect that would have waited a second for a SYN
//! retransmit is retried on the next channel after 250 ms instead.
//!
//! Each connection to slirp is made from a port of 127.0.0.1 that no other
//! socket holds (bound before connecting, [`connect_one`]). slirp gives the
//! guest-side connection the host-side client's port (the guest sees
//! 10.0.2.2:PORT), and a plain `connect` reuses a port that a live
//! connection to another channel holds whenever the address pairs differ:
//! the guest then sees a second SYN on a connection it has open, and one of
//! the two exchanges is lost. A packet capture of the guest's side
//! (`-object filter-dump`) showed 32 such collisions in 10,000 requests
//! before the bind (14 requests timed out at 30 s, others waited for
//! slirp's SYN retransmit, 6 s); none after.
//!
//! The cost: one more user-space hop on the host's loopback for every
//! byte and every connection (one more pair of sockets, a copy per
//! direction, two threads per connection taken from a pool that keeps
//! idle ones for [`IDLE_EXIT`]: spawning two per connection cost three
//! times the CPU). `isola bench http` starts both of its guest rows (the
//! Isola row through `isola run -p`, the Linux guest row through this
//! module directly) behind the same forwarder, so the comparison between
//! the two guest kernels stays fair; only the host row, which runs no QEMU,
//! goes without it.
//!
//! The threads are detached: relays run until their connection ends and
//! everything dies with the isola process. Dropping the [`Forwarder`] that
//! [`Forwarding::start`] returns only stops accepting new clients (and
//! frees HOST). The internal ports are free when picked and bound by QEMU
//! a moment later; another program taking one in between makes QEMU fail
//! at start (`Could not set up host forwarding rule`).

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::error::Error;
use crate::qemu::{Net, PortForward};

/// K: slirp forwards (internal host ports) per `-p`.
pub const CHANNELS: usize = 8;
/// Limit of one connect to an internal port before the next one is tried.
pub const CONNECT_TRY: Duration = Duration::from_millis(250);
/// Limit of all the connects for one client.
pub const CONNECT_LIMIT: Duration = Duration::from_secs(30);
/// Pause after a whole round of failed connects (QEMU not listening yet).
const ROUND_PAUSE: Duration = Duration::from_millis(50);
/// Stack of the acceptor and relay threads (a relay holds an 8 KiB buffer).
const THREAD_STACK: usize = 128 * 1024;

/// Where the next client starts its round of internal ports.
static NEXT_CHANNEL: AtomicUsize = AtomicUsize::new(0);

/// What QEMU is told for `forwards`: `channels[i]` (the internal ports of
/// `forwards[i]`), each forwarded by slirp to `forwards[i].guest`. The
/// user's host ports do not appear.
pub fn slirp_forwards(forwards: &[PortForward], channels: &[Vec<u16>]) -> Vec<PortForward> {
    forwards
        .iter()
        .zip(channels)
        .flat_map(|(f, ports)| {
            ports.iter().map(|&host| PortForward {
                host,
                guest: f.guest,
            })
        })
        .collect()
}

/// Where internal ports are picked: below Linux's default ephemeral range
/// (`ip_local_port_range` 32768..=60999), so that no outgoing connection
/// (this forwarder's own connects, a load generator's, a TIME-WAIT left by
/// either) can take one between the pick and QEMU's bind of it.
const INTERNAL_PORTS: std::ops::Range<u16> = 20_000..32_768;

/// `n` distinct ports of 127.0.0.1 outside the ephemeral range that were
/// free a moment ago (a listener could bind them).
fn pick_free_ports(n: usize) -> io::Result<Vec<u16>> {
    let span = u32::from(INTERNAL_PORTS.end - INTERNAL_PORTS.start);
    // Different isola processes start at different places.
    let start = (std::process::id().wrapping_mul(7919) + std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos()))
        % span;
    let mut held = Vec::with_capacity(n);
    for i in 0..span {
        if held.len() == n {
            break;
        }
        let port = INTERNAL_PORTS.start + ((start + i) % span) as u16;
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)) {
            held.push(listener);
        }
    }
    if held.len() < n {
        return Err(io::Error::new(io::ErrorKind::AddrInUse, "no free internal port below 32768"));
    }
    held.iter().map(|l| l.local_addr().map(|a| a.port())).collect()
}

/// Limits of the connects for one client (shorter in the tests).
#[derive(Debug, Clone, Copy)]
struct Limits {
    each: Duration,
    all: Duration,
}

const LIMITS: Limits = Limits {
    each: CONNECT_TRY,
    all: CONNECT_LIMIT,
};

/// One `-p` forward: the user's port, bound, and its internal ports.
#[derive(Debug)]
struct Front {
    forward: PortForward,
    listener: TcpListener,
    channels: Vec<u16>,
}

/// The `-p` forwards of a guest, bound on 127.0.0.1 and not yet served.
#[derive(Debug)]
pub struct Forwarding {
    fronts: Vec<Front>,
}

impl Forwarding {
    /// Bind every host port of `net` on 127.0.0.1 (in use: bad input, exit
    /// 2, `-p H:G: cannot listen on 127.0.0.1:H: ...`) and pick
    /// [`CHANNELS`] internal ports for each.
    pub fn bind(net: &Net) -> Result<Forwarding, Error> {
        let mut listeners = Vec::new();
        for f in &net.forwards {
            let listener = TcpListener::bind(("127.0.0.1", f.host)).map_err(|e| {
                Error::input(format!(
                    "-p {}:{}: cannot listen on 127.0.0.1:{}: {e}",
                    f.host, f.guest, f.host
                ))
            })?;
            listeners.push(listener);
        }
        let mut ports = pick_free_ports(net.forwards.len() * CHANNELS)
            .map_err(|e| Error::failure(format!("cannot pick free ports on 127.0.0.1: {e}")))?
            .into_iter();
        let fronts = net
            .forwards
            .iter()
            .zip(listeners)
            .map(|(&forward, listener)| Front {
                forward,
                listener,
                channels: ports.by_ref().take(CHANNELS).collect(),
            })
            .collect();
        Ok(Forwarding { fronts })
    }

    /// The network to give QEMU: the same device, with slirp forwarding the
    /// internal ports (never the user's) to the guest ports.
    pub fn slirp_net(&self) -> Net {
        let forwards: Vec<PortForward> = self.fronts.iter().map(|f| f.forward).collect();
        let channels: Vec<Vec<u16>> = self.fronts.iter().map(|f| f.channels.clone()).collect();
        Net {
            forwards: slirp_forwards(&forwards, &channels),
        }
    }

    /// Start accepting on every host port. Call it right before QEMU
    /// starts; a client that comes before slirp listens is held (its
    /// connects retried) for up to [`CONNECT_LIMIT`].
    pub fn start(self) -> Result<Forwarder, Error> {
        let mut forwarder = Forwarder { stops: Vec::new() };
        for front in self.fronts {
            let channels = front
                .channels
                .iter()
                .map(|&p| SocketAddr::from(([127, 0, 0, 1], p)))
                .collect();
            let stop = serve(front.listener, channels, LIMITS).map_err(|e| {
                Error::failure(format!(
                    "-p {}:{}: cannot start the forwarder: {e}",
                    front.forward.host, front.forward.guest
                ))
            })?;
            forwarder.stops.push(stop);
        }
        Ok(forwarder)
    }
}

/// Forwards being served. Dropping it stops accepting new clients and
/// frees the host ports; connections already relayed go on.
#[derive(Debug)]
#[must_use = "dropping the Forwarder stops accepting"]
pub struct Forwarder {
    stops: Vec<Stop>,
}

/// How to stop one acceptor: raise the flag, then wake its `accept`.
#[derive(Debug)]
struct Stop {
    flag: Arc<AtomicBool>,
    addr: SocketAddr,
}

impl Drop for Stop {
    fn drop(&mut self) {
        self.flag.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

/// Accept on `listener` in a thread of its own; relay each client to one
/// of `channels`.
fn serve(listener: TcpListener, channels: Vec<SocketAddr>, limits: Limits) -> io::Result<Stop> {
    let addr = listener.local_addr()?;
    let flag = Arc::new(AtomicBool::new(false));
    let stopped = Arc::clone(&flag);
    let channels: Arc<[SocketAddr]> = channels.into();
    thread::Builder::new()
        .name(format!("forward {}", addr.port()))
        .stack_size(THREAD_STACK)
        .spawn(move || accept_loop(&listener, &channels, limits, &stopped))?;
    Ok(Stop { flag, addr })
}

fn accept_loop(
    listener: &TcpListener,
    channels: &Arc<[SocketAddr]>,
    limits: Limits,
    stopped: &AtomicBool,
) {
    loop {
        let accepted = listener.accept();
        if stopped.load(Ordering::SeqCst) {
            return;
        }
        match accepted {
            Ok((client, _)) => {
                let channels = Arc::clone(channels);
                // If no thread can be had, the job is dropped with the
                // client in it: the client is closed.
                in_thread(Box::new(move || {
                    if let Some(server) = connect_any(&channels, limits) {
                        relay(client, server);
                    }
                }));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // Out of file descriptors or the like: let some close.
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// A connection to one of `channels`: round-robin from the process-wide
/// counter, each try bounded by `limits.each`, all by `limits.all`.
fn connect_any(channels: &[SocketAddr], limits: Limits) -> Option<TcpStream> {
    if channels.is_empty() {
        return None;
    }
    let deadline = Instant::now() + limits.all;
    let mut at = NEXT_CHANNEL.fetch_add(1, Ordering::Relaxed);
    loop {
        for _ in 0..channels.len() {
            let left = deadline
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())?;
            let addr = &channels[at % channels.len()];
            at = at.wrapping_add(1);
            if let Ok(stream) = connect_one(addr, limits.each.min(left)) {
                return Some(stream);
            }
        }
        // Every channel refused (QEMU not listening yet) or timed out.
        thread::sleep(ROUND_PAUSE.min(deadline.saturating_duration_since(Instant::now())));
    }
}

/// One connection to `addr`, from a port of 127.0.0.1 that no other socket
/// holds. slirp gives the guest-side connection the port of the host-side
/// client (the guest sees 10.0.2.2:PORT), and `connect` alone may reuse a
/// port that a live connection to *another* channel holds (only the whole
/// address pair must differ): the guest would then see one connection
/// where there are two, and one of the two exchanges is lost. Binding port
/// 0 before connecting takes a port no socket holds.
fn connect_one(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    socket.bind(&SockAddr::from(SocketAddr::from(([127, 0, 0, 1], 0))))?;
    socket.connect_timeout(&SockAddr::from(*addr), timeout)?;
    Ok(socket.into())
}

/// Copy bytes both ways between `client` and `server` until both
/// directions are done.
fn relay(client: TcpStream, server: TcpStream) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (Ok(client_rx), Ok(server_tx)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    // Without a second thread, the clones are dropped and this returns:
    // both connections close.
    if in_thread(Box::new(move || pump(client_rx, server_tx))) {
        pump(server, client);
    }
}

/// Work for a thread of the pool.
type Job = Box<dyn FnOnce() + Send>;

/// Threads kept for the connections, so that a connection does not spawn
/// two: a thread's stack mapped, guarded and unmapped (with a TLB
/// shootdown on the other CPUs) cost more CPU than relaying a small HTTP
/// exchange. A thread idle for [`IDLE_EXIT`] ends.
struct Pool {
    tx: mpsc::Sender<Job>,
    rx: Mutex<mpsc::Receiver<Job>>,
    /// Threads waiting for a job that no [`in_thread`] has claimed yet.
    /// Invariant: threads waiting = `idle` + jobs sent and not yet taken,
    /// so a claimed job always has a thread ready for it.
    idle: AtomicUsize,
}

/// How long a pool thread waits for a job before it ends.
const IDLE_EXIT: Duration = Duration::from_secs(10);

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let (tx, rx) = mpsc::channel();
        Pool {
            tx,
            rx: Mutex::new(rx),
            idle: AtomicUsize::new(0),
        }
    })
}

/// Take one waiting thread's place (false: none waits).
fn claim(idle: &AtomicUsize) -> bool {
    idle.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

/// Run `job` in a thread of the pool, a new one if none waits; false (the
/// job dropped) if no thread could be made.
fn in_thread(job: Job) -> bool {
    let pool = pool();
    if claim(&pool.idle) {
        // The receiver lives in the pool, which is static: sending works.
        return pool.tx.send(job).is_ok();
    }
    thread::Builder::new()
        .name("forward relay".into())
        .stack_size(THREAD_STACK)
        .spawn(move || {
            job();
            pool_thread(pool);
        })
        .is_ok()
}

fn pool_thread(pool: &'static Pool) {
    loop {
        pool.idle.fetch_add(1, Ordering::SeqCst);
        let job = loop {
            let rx = pool.rx.lock().unwrap_or_else(PoisonError::into_inner);
            match rx.recv_timeout(IDLE_EXIT) {
                Ok(job) => break job,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    drop(rx);
                    // Unclaimed: leave. Claimed: a job is on its way.
                    if claim(&pool.idle) {
                        return;
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        };
        job();
    }
}

/// Copy `from` to `to` until `from` ends, then half-close `to`; on an
/// error, shut both down (which also ends the other direction's copy).
fn pump(mut from: TcpStream, mut to: TcpStream) {
    match io::copy(&mut from, &mut to) {
        Ok(_) => {
            let _ = to.shutdown(Shutdown::Write);
        }
        Err(_) => {
            let _ = from.shutdown(Shutdown::Both);
            let _ = to.shutdown(Shutdown::Both);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::sync::mpsc;

    /// A listener on 127.0.0.1 with slirp's backlog of 1 (`ss -ltn`:
    /// `Send-Q 1`): the kernel queues two connections, drops further SYNs.
    fn backlog_one_listener() -> TcpListener {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        socket
            .bind(&SockAddr::from(SocketAddr::from(([127, 0, 0, 1], 0))))
            .unwrap();
        socket.listen(1).unwrap();
        socket.into()
    }

    /// A fake slirp forward: a backlog-1 listener on 127.0.0.1 that accepts
    /// one connection every `every` and hands each to `handle` in a thread.
    fn slow_listener(every: Duration, handle: fn(TcpStream)) -> SocketAddr {
        let listener = backlog_one_listener();
        let addr = listener.local_addr().unwrap();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                thread::spawn(move || handle(stream));
                thread::sleep(every);
            }
        });
        addr
    }

    /// Echo everything until the peer's end of stream, then close.
    fn echo(mut s: TcpStream) {
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if s.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            }
        }
    }

    /// Read the whole request (to the peer's half-close), then answer.
    fn answer_after_eof(mut s: TcpStream) {
        let mut request = Vec::new();
        if s.read_to_end(&mut request).is_ok() {
            let _ = s.write_all(format!("got {} bytes: ", request.len()).as_bytes());
            let _ = s.write_all(&request);
        }
    }

    /// Accept and close at once (slirp when nothing listens in the guest).
    fn close_at_once(s: TcpStream) {
        drop(s);
    }

    /// A forwarder on a free port of 127.0.0.1 in front of `channels`.
    fn front(channels: Vec<SocketAddr>, limits: Limits) -> (SocketAddr, Stop) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        (addr, serve(listener, channels, limits).unwrap())
    }

    /// A port of 127.0.0.1 where nothing listens.
    fn refused_port() -> SocketAddr {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
    }

    /// A backlog-1 listener that never accepts, its accept queue filled
    /// until a connect times out (its SYNs are dropped from then on). The
    /// streams that filled it are returned to keep them open.
    fn full_listener() -> (SocketAddr, TcpListener, Vec<TcpStream>) {
        let listener = backlog_one_listener();
        let addr = listener.local_addr().unwrap();
        let mut parked = Vec::new();
        for _ in 0..10_000 {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
                Ok(s) => parked.push(s),
                Err(_) => return (addr, listener, parked),
            }
        }
        panic!("10000 connections and the accept queue of {addr} is not full");
    }

    /// `n` clients at once, each sending its own line and reading it back;
    /// the failures and the slowest exchange.
    fn clients(addr: SocketAddr, n: usize, limit: Duration) -> (Vec<String>, Duration) {
        let (tx, rx) = mpsc::channel();
        let start = std::sync::Barrier::new(n);
        thread::scope(|scope| {
            for i in 0..n {
                let tx = tx.clone();
                let start = &start;
                scope.spawn(move || {
                    start.wait();
                    let began = Instant::now();
                    let result = (|| -> io::Result<()> {
                        let mut s = TcpStream::connect_timeout(&addr, limit)?;
                        s.set_read_timeout(Some(limit))?;
                        let line = format!("client {i} says hello\n");
                        s.write_all(line.as_bytes())?;
                        let mut back = vec![0u8; line.len()];
                        s.read_exact(&mut back)?;
                        if back != line.as_bytes() {
                            return Err(io::Error::other(format!(
                                "echo of '{}'",
                                String::from_utf8_lossy(&back)
                            )));
                        }
                        Ok(())
                    })();
                    let _ = tx.send((i, result.map_err(|e| e.to_string()), began.elapsed()));
                });
            }
        });
        drop(tx);
        let mut failures = Vec::new();
        let mut slowest = Duration::ZERO;
        for (i, result, took) in rx {
            slowest = slowest.max(took);
            if let Err(e) = result {
                failures.push(format!("client {i}: {e}"));
            }
        }
        (failures, slowest)
    }

    #[test]
    fn fifty_clients_at_once_through_slow_listeners() {
        let channels: Vec<SocketAddr> = (0..CHANNELS)
            .map(|_| slow_listener(Duration::from_millis(5), echo))
            .collect();
        let (addr, _stop) = front(channels, LIMITS);
        let (failures, slowest) = clients(addr, 50, Duration::from_secs(10));
        assert!(failures.is_empty(), "{failures:?}");
        assert!(slowest < Duration::from_secs(5), "slowest: {slowest:?}");
    }

    #[test]
    fn refused_and_full_channels_are_skipped() {
        let (full, _full_listener, _parked) = full_listener();
        let good = slow_listener(Duration::from_millis(5), echo);
        let channels = vec![refused_port(), full, good, full];
        let (addr, _stop) = front(channels, LIMITS);
        let (failures, slowest) = clients(addr, 20, Duration::from_secs(10));
        assert!(failures.is_empty(), "{failures:?}");
        // At worst two timed-out tries before the good channel.
        assert!(slowest < Duration::from_secs(3), "slowest: {slowest:?}");
    }

    #[test]
    fn half_close_is_relayed_both_ways() {
        let (addr, _stop) = front(
            vec![slow_listener(Duration::ZERO, answer_after_eof)],
            LIMITS,
        );
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"the request").unwrap();
        // The server answers only once it has read our end of stream.
        s.shutdown(Shutdown::Write).unwrap();
        let mut answer = Vec::new();
        s.read_to_end(&mut answer).unwrap();
        assert_eq!(answer, b"got 11 bytes: the request");
    }

    #[test]
    fn a_large_transfer_arrives_whole() {
        let (addr, _stop) = front(vec![slow_listener(Duration::ZERO, echo)], LIMITS);
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut reader = s.try_clone().unwrap();
        let sent = data.clone();
        let writer = thread::spawn(move || {
            s.write_all(&sent).unwrap();
            s.shutdown(Shutdown::Write).unwrap();
        });
        let mut back = Vec::new();
        reader.read_to_end(&mut back).unwrap();
        writer.join().unwrap();
        assert!(back == data, "{} bytes back of {}", back.len(), data.len());
    }

    #[test]
    fn a_guest_port_without_listener_reads_as_end_of_stream() {
        let (addr, _stop) = front(vec![slow_listener(Duration::ZERO, close_at_once)], LIMITS);
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut got = Vec::new();
        // A reset is as good as an end of stream here: nothing arrives.
        let _ = s.read_to_end(&mut got);
        assert!(got.is_empty());
    }

    #[test]
    fn a_client_nobody_takes_is_closed_after_the_limit() {
        let limits = Limits {
            each: Duration::from_millis(50),
            all: Duration::from_millis(600),
        };
        let (addr, _stop) = front(vec![refused_port(), refused_port()], limits);
        let start = Instant::now();
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got);
        assert!(got.is_empty());
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(500) && took < Duration::from_secs(5),
            "{took:?}"
        );
    }

    #[test]
    fn a_client_that_comes_early_waits_for_the_channel() {
        // QEMU is still starting: nothing listens on the channel yet.
        let slot = TcpListener::bind("127.0.0.1:0").unwrap();
        let channel = slot.local_addr().unwrap();
        drop(slot);
        let (addr, _stop) = front(vec![channel], LIMITS);
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"early\n").unwrap();
        thread::sleep(Duration::from_millis(300));
        let listener = TcpListener::bind(channel).unwrap();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                thread::spawn(move || echo(stream));
            }
        });
        let mut back = [0u8; 6];
        s.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"early\n");
    }

    #[test]
    fn bind_picks_internal_ports_and_holds_the_users_port() {
        let user = refused_port().port();
        let other = refused_port().port();
        let net = Net {
            forwards: vec![
                PortForward {
                    host: user,
                    guest: 80,
                },
                PortForward {
                    host: other,
                    guest: 22,
                },
            ],
        };
        let forwarding = Forwarding::bind(&net).unwrap();
        // The user's ports are isola's now.
        assert!(TcpListener::bind(("127.0.0.1", user)).is_err());
        let e = Forwarding::bind(&net).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(
            e.to_string().starts_with(&format!(
                "-p {user}:80: cannot listen on 127.0.0.1:{user}: "
            )),
            "{e}"
        );
        // QEMU gets K internal ports per forward, all distinct, none the user's.
        let slirp = forwarding.slirp_net().forwards;
        assert_eq!(slirp.len(), 2 * CHANNELS);
        assert!(slirp[..CHANNELS].iter().all(|f| f.guest == 80));
        assert!(slirp[CHANNELS..].iter().all(|f| f.guest == 22));
        let mut ports: Vec<u16> = slirp.iter().map(|f| f.host).collect();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 2 * CHANNELS);
        assert!(!ports.contains(&user) && !ports.contains(&other));
        // Served, then stopped: the user's port is free again.
        let forwarder = forwarding.start().unwrap();
        drop(forwarder);
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpListener::bind(("127.0.0.1", user)).is_err() {
            assert!(Instant::now() < deadline, "port {user} still held");
            thread::sleep(Duration::from_millis(20));
        }
        // --net alone: nothing bound, nothing forwarded.
        let none = Forwarding::bind(&Net::default()).unwrap();
        assert_eq!(none.slirp_net(), Net::default());
    }

    /// `n` jobs in the pool that each wait until all `n` run at once: a
    /// job queued behind a busy thread would never start.
    fn all_at_once(n: usize) {
        let met = Arc::new((Mutex::new(0usize), std::sync::Condvar::new()));
        let (tx, rx) = mpsc::channel();
        for _ in 0..n {
            let met = Arc::clone(&met);
            let tx = tx.clone();
            assert!(in_thread(Box::new(move || {
                let (count, cv) = &*met;
                let mut c = count.lock().unwrap();
                *c += 1;
                cv.notify_all();
                let (c, timeout) = cv
                    .wait_timeout_while(c, Duration::from_secs(10), |c| *c < n)
                    .unwrap();
                drop(c);
                let _ = tx.send(!timeout.timed_out());
            })));
        }
        for _ in 0..n {
            let met = rx.recv_timeout(Duration::from_secs(20)).unwrap();
            assert!(met, "a job of {n} did not get a thread of its own");
        }
    }

    #[test]
    fn pool_threads_are_reused_and_never_shared() {
        all_at_once(20);
        // The 20 are idle now: taken again, plus 10 new ones.
        all_at_once(30);
        all_at_once(5);
    }

    /// The soft limit of open files (`/proc/self/limits`).
    fn open_files_limit() -> usize {
        std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|limits| {
                let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
                line.split_whitespace().nth(3)?.parse().ok()
            })
            .unwrap_or(1024)
    }

    #[test]
    fn live_connections_to_different_channels_never_share_a_source_port() {
        // slirp gives the guest the host-side client's port: two live
        // connections from one port would be one connection for the guest.
        let channels: Vec<SocketAddr> = (0..CHANNELS)
            .map(|_| {
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = listener.local_addr().unwrap();
                thread::spawn(move || {
                    // Accepted and kept open, as slirp keeps its side.
                    let mut held = Vec::new();
                    for s in listener.incoming() {
                        held.push(s);
                    }
                });
                addr
            })
            .collect();
        // Two descriptors per connection, within this process's limit.
        let rounds = (open_files_limit().saturating_sub(256) / (2 * CHANNELS)).min(400);
        let mut held = Vec::new();
        let mut ports = std::collections::HashSet::new();
        for _ in 0..rounds {
            for addr in &channels {
                let s = connect_one(addr, Duration::from_secs(5)).unwrap();
                let port = s.local_addr().unwrap().port();
                assert!(ports.insert(port), "port {port} used twice");
                held.push(s);
            }
        }
    }

    #[test]
    fn slirp_forwards_carry_the_internal_ports() {
        let forwards = [
            PortForward {
                host: 8080,
                guest: 80,
            },
            PortForward {
                host: 2222,
                guest: 22,
            },
        ];
        let got = slirp_forwards(&forwards, &[vec![40001, 40002], vec![40003]]);
        let pairs: Vec<(u16, u16)> = got.iter().map(|f| (f.host, f.guest)).collect();
        assert_eq!(pairs, [(40001, 80), (40002, 80), (40003, 22)]);
    }
}
