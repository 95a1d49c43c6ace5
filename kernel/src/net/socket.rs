//! The INET sockets processes hold: TCP and UDP over the stack, with
//! Linux's states, options and errors. One object per open file
//! description, shared across dup and fork, so a listener inherited by many
//! processes hands each waiting connection to exactly one `accept`.
//! AF_INET6 sockets are the same objects seen through IPv4-mapped
//! addresses: this host has no IPv6 address (Linux with `disable_ipv6`),
//! so `[::]` without IPV6_V6ONLY is a dual-stack wildcard that serves IPv4,
//! and with it a binding no connection reaches (docs/network.md).

use alloc::vec::Vec;

use process::ports::{Families, Proto};
use smoltcp::socket::tcp;
use smoltcp::wire::{IpAddress, IpEndpoint, Ipv4Address};
use syscall::Errno;
use syscall::net::*;

use super::{Handle, Stack, to_sockaddr};

/// poll(2) bits a socket reports.
pub const POLLIN: u32 = 0x1;
pub const POLLOUT: u32 = 0x4;
pub const POLLERR: u32 = 0x8;
pub const POLLHUP: u32 = 0x10;
pub const POLLRDHUP: u32 = 0x2000;

/// Linux's default buffer sizes as getsockopt reports them.
const DEFAULT_RCVBUF: i32 = 131_072;
const DEFAULT_SNDBUF: i32 = 16_384;

#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub reuse_addr: bool,
    pub reuse_port: bool,
    pub keepalive: bool,
    pub nodelay: bool,
    /// TCP_CORK: hold partial segments (nginx's `tcp_nopush`).
    pub cork: bool,
    pub broadcast: bool,
    pub rcvbuf: i32,
    pub sndbuf: i32,
    /// SO_LINGER: `Some(seconds)` when on.
    pub linger: Option<i32>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            reuse_addr: false,
            reuse_port: false,
            keepalive: false,
            nodelay: false,
            cork: false,
            broadcast: false,
            rcvbuf: DEFAULT_RCVBUF,
            sndbuf: DEFAULT_SNDBUF,
            linger: None,
        }
    }
}

enum State {
    /// TCP, neither listening nor connected.
    Fresh,
    Listening(u64),
    Connecting(Handle),
    Connected(Handle),
    /// UDP: one smoltcp socket per interface it is bound on.
    Udp { handles: Vec<Handle>, peer: Option<SockAddrIn> },
}

/// The address family a socket was made with: how it reads and reports
/// addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Inet,
    /// AF_INET6, with its IPV6_V6ONLY option.
    Inet6 { v6only: bool },
}

pub struct Socket {
    id: u64,
    pub proto: Proto,
    pub family: Family,
    /// Bound to `[::]` with IPV6_V6ONLY: no IPv4 packet reaches it.
    ipv6_only: bool,
    /// The bound address (registered in the port table when `owns_port`).
    local: Option<SockAddrIn>,
    owns_port: bool,
    state: State,
    pub opts: Options,
    shut_rd: bool,
    shut_wr: bool,
    /// SO_ERROR: an asynchronous error not yet reported.
    error: Option<Errno>,
    /// The connection's end was seen: the peer's FIN, or its reset (which
    /// became `error` once).
    reset_seen: bool,
}

/// What a send or receive did: `None` means it would block.
pub type Progress<T> = Result<Option<T>, Errno>;

impl Socket {
    pub fn new(proto: Proto, family: Family) -> Socket {
        let id = super::with(Stack::new_id);
        let state = match proto {
            Proto::Tcp => State::Fresh,
            Proto::Udp => State::Udp { handles: Vec::new(), peer: None },
        };
        Socket {
            id,
            proto,
            family,
            ipv6_only: false,
            local: None,
            owns_port: false,
            state,
            opts: Options::default(),
            shut_rd: false,
            shut_wr: false,
            error: None,
            reset_seen: false,
        }
    }

    /// A destination (connect, sendto) in the caller's family, as the IPv4
    /// address it names. An IPv6 socket reaches only v4-mapped addresses,
    /// and none under IPV6_V6ONLY: ENETUNREACH as Linux without an IPv6 route.
    pub fn destination(&self, raw: &[u8]) -> Result<SockAddrIn, Errno> {
        match self.family {
            Family::Inet => SockAddrIn::decode(raw),
            Family::Inet6 { v6only } => {
                let addr = SockAddrIn6::decode(raw)?;
                match addr.kind() {
                    Inet6Addr::Mapped(v4) if !v6only => Ok(SockAddrIn { addr: v4, port: addr.port }),
                    _ => Err(Errno::ENETUNREACH),
                }
            }
        }
    }

    /// A local address to bind in the caller's family, with the families
    /// its port is taken in. `[::]` is dual stack unless IPV6_V6ONLY; a
    /// v4-mapped address under IPV6_V6ONLY is EINVAL and an IPv6 address
    /// of its own is EADDRNOTAVAIL (this host has none), as `inet6_bind`.
    fn bind_address(&self, raw: &[u8]) -> Result<(SockAddrIn, Families), Errno> {
        match self.family {
            Family::Inet => Ok((SockAddrIn::decode(raw)?, Families::Ipv4)),
            Family::Inet6 { v6only } => {
                let addr = SockAddrIn6::decode(raw)?;
                let port = addr.port;
                match addr.kind() {
                    Inet6Addr::Any => Ok((SockAddrIn { addr: [0; 4], port }, if v6only { Families::Ipv6 } else { Families::Both })),
                    Inet6Addr::Mapped(_) if v6only => Err(Errno::EINVAL),
                    Inet6Addr::Mapped(v4) => Ok((SockAddrIn { addr: v4, port }, Families::Ipv4)),
                    Inet6Addr::Native => Err(Errno::EADDRNOTAVAIL),
                }
            }
        }
    }

    /// The families a socket bound implicitly (connect, listen, sendto
    /// before bind) takes its port in.
    fn wildcard_families(&self) -> Families {
        match self.family {
            Family::Inet => Families::Ipv4,
            Family::Inet6 { v6only: true } => Families::Ipv6,
            Family::Inet6 { v6only: false } => Families::Both,
        }
    }

    /// An address as this socket's family reports it (getsockname,
    /// accept, recvfrom).
    pub fn name(&self, addr: SockAddrIn) -> Vec<u8> {
        match self.family {
            Family::Inet => addr.to_bytes().to_vec(),
            Family::Inet6 { .. } => SockAddrIn6::mapped(addr).to_bytes().to_vec(),
        }
    }

    /// What a caller that cannot go on waits for: its own connection (and
    /// `want`, WANT_* bits, registered with the stack), or any network change.
    pub fn wait_reason(&self, want: u8) -> crate::proc::BlockOn {
        match self.state {
            State::Connected(h) | State::Connecting(h) => {
                let want = if matches!(self.state, State::Connecting(_)) { want | super::WANT_CONNECT } else { want };
                super::with(|st| st.wait_for(self.id, h, want));
                crate::proc::BlockOn::Socket(self.id)
            }
            State::Listening(pool) => crate::proc::BlockOn::Accept(pool),
            _ => crate::proc::BlockOn::Net,
        }
    }

    /// The listener id acceptors wait on, when listening.
    pub fn listener(&self) -> Option<u64> {
        match self.state {
            State::Listening(pool) => Some(pool),
            _ => None,
        }
    }

    pub fn is_listening(&self) -> bool {
        matches!(self.state, State::Listening(_))
    }

    fn register(&mut self, st: &mut Stack, addr: SockAddrIn, families: Families) -> Result<SockAddrIn, Errno> {
        st.ifaces_for_local(addr.addr)?;
        let port = st.ports.bind_families(self.proto, addr.addr, families, addr.port, self.id, self.opts.reuse_port)?;
        let local = SockAddrIn { addr: addr.addr, port };
        self.local = Some(local);
        self.owns_port = true;
        self.ipv6_only = families == Families::Ipv6;
        Ok(local)
    }

    fn bind_udp(&mut self, st: &mut Stack, local: SockAddrIn) -> Result<(), Errno> {
        if self.ipv6_only {
            return Ok(());
        }
        let State::Udp { handles, .. } = &mut self.state else { return Ok(()) };
        for iface in st.ifaces_for_local(local.addr)? {
            if !crate::mm::heap_room_for_user(super::UDP_SOCKET_BYTES) {
                return Err(Errno::ENOMEM);
            }
            let h = st.new_udp(iface);
            st.udp(h).bind(super::listen_endpoint(local)).map_err(|_| Errno::EINVAL)?;
            handles.push(h);
        }
        Ok(())
    }

    /// bind(2) of the address bytes the caller passed.
    pub fn bind(&mut self, raw: &[u8]) -> Result<(), Errno> {
        let (addr, families) = self.bind_address(raw)?;
        if self.local.is_some() {
            return Err(Errno::EINVAL);
        }
        super::with(|st| {
            let local = self.register(st, addr, families)?;
            self.bind_udp(st, local)
        })
    }

    /// Binds to an ephemeral port on any address if not bound yet.
    fn autobind(&mut self, st: &mut Stack) -> Result<SockAddrIn, Errno> {
        match self.local {
            Some(local) => Ok(local),
            None => {
                let local = self.register(st, SockAddrIn::ANY, self.wildcard_families())?;
                self.bind_udp(st, local)?;
                Ok(local)
            }
        }
    }

    pub fn listen(&mut self, backlog: i32) -> Result<(), Errno> {
        let backlog = backlog.max(0) as usize;
        let result = super::with(|st| match self.state {
            State::Fresh => {
                let local = self.autobind(st)?;
                let pool = st.add_pool(local, backlog, !self.ipv6_only)?;
                self.state = State::Listening(pool);
                Ok(())
            }
            State::Listening(pool) => st.resize_pool(pool, backlog),
            State::Connecting(_) | State::Connected(_) => Err(Errno::EINVAL),
            State::Udp { .. } => Err(Errno::EOPNOTSUPP),
        });
        super::poll_soon();
        result
    }

    /// A waiting connection as a new socket, with the peer's address.
    pub fn accept(&mut self) -> Progress<(Socket, SockAddrIn)> {
        let State::Listening(pool) = self.state else { return Err(Errno::EINVAL) };
        let taken = super::with(|st| {
            let h = st.pool_take(pool)?;
            if st.pool_ready(pool) {
                // More are waiting: the next acceptor, if any, takes one.
                crate::proc::sched::wake_some(crate::proc::BlockOn::Accept(pool), 1);
            }
            let id = st.new_id();
            let socket = st.tcp(h);
            let peer = socket.remote_endpoint().map(to_sockaddr).unwrap_or_default();
            let local = socket.local_endpoint().map(to_sockaddr);
            Some((h, id, peer, local))
        });
        let Some((h, id, peer, local)) = taken else { return Ok(None) };
        let mut opts = self.opts;
        opts.reuse_port = false;
        let socket = Socket {
            id,
            proto: Proto::Tcp,
            family: self.family,
            ipv6_only: false,
            local,
            owns_port: false,
            state: State::Connected(h),
            opts,
            shut_rd: false,
            shut_wr: false,
            error: None,
            reset_seen: false,
        };
        super::with(|st| socket.apply_tcp_options(st));
        super::poll_soon();
        Ok(Some((socket, peer)))
    }

    fn apply_tcp_options(&self, st: &mut Stack) {
        let (State::Connected(h) | State::Connecting(h)) = self.state else { return };
        let socket = st.tcp(h);
        // Corked, partial segments wait as under Nagle's rule (Linux holds
        // them until uncorked or 200 ms); uncorking sends what is queued.
        socket.set_nagle_enabled(!self.opts.nodelay || self.opts.cork);
        socket.set_keep_alive(self.opts.keepalive.then(|| smoltcp::time::Duration::from_secs(75)));
    }

    /// Starts a connection (TCP) or sets the default peer (UDP). `Ok(true)`:
    /// connected now; `Ok(false)`: in progress.
    pub fn connect(&mut self, remote: SockAddrIn) -> Result<bool, Errno> {
        match self.state {
            State::Udp { .. } => {
                super::with(|st| self.autobind(st))?;
                if let State::Udp { peer, .. } = &mut self.state {
                    *peer = Some(remote);
                }
                Ok(true)
            }
            State::Connected(_) => Err(Errno::EISCONN),
            State::Connecting(_) => Err(Errno::EALREADY),
            State::Listening(_) => Err(Errno::EISCONN),
            State::Fresh => {
                if remote.port == 0 {
                    return Err(Errno::ECONNREFUSED);
                }
                let result = super::with(|st| -> Result<(), Errno> {
                    let (iface, source) = st.route(remote.addr)?;
                    let local = self.autobind(st)?;
                    let from = SockAddrIn { addr: if local.is_any() { source } else { local.addr }, port: local.port };
                    if !crate::mm::heap_room_for_user(super::TCP_SOCKET_BYTES) {
                        return Err(Errno::ENOMEM);
                    }
                    let h = st.new_tcp(iface);
                    if let Err(e) = st.connect(h, from, remote) {
                        st.discard(h);
                        return Err(e);
                    }
                    self.state = State::Connecting(h);
                    self.apply_tcp_options(st);
                    Ok(())
                });
                result?;
                super::poll_soon();
                self.connect_result().map(|done| done.is_some())
            }
        }
    }

    /// A connection in progress: `Some(Ok)` once established, `Some(Err)`
    /// when refused, `None` while the handshake goes on.
    pub fn connect_result(&mut self) -> Result<Option<()>, Errno> {
        let h = match self.state {
            State::Connecting(h) => h,
            State::Connected(_) => return Ok(Some(())),
            _ => return Err(self.error.take().unwrap_or(Errno::ECONNREFUSED)),
        };
        let state = super::with(|st| st.tcp(h).state());
        match state {
            tcp::State::SynSent | tcp::State::SynReceived => Ok(None),
            tcp::State::Closed => {
                super::with(|st| st.close_tcp(h, true));
                self.state = State::Fresh;
                self.release_port();
                Err(Errno::ECONNREFUSED)
            }
            _ => {
                self.state = State::Connected(h);
                Ok(Some(()))
            }
        }
    }

    /// Refreshes a pending connect; its failure becomes SO_ERROR. A
    /// connection that went to CLOSED while this side had not closed it was
    /// reset by the peer (smoltcp's only way there without our FIN): its
    /// ECONNRESET becomes SO_ERROR, reported once by the next receive (then
    /// end of file) or taken by a send as EPIPE, as Linux's `tcp_reset`.
    fn settle(&mut self) {
        if matches!(self.state, State::Connecting(_))
            && let Err(e) = self.connect_result()
        {
            self.error = Some(e);
        }
        if let State::Connected(h) = self.state
            && !self.reset_seen
            && !self.shut_wr
        {
            match super::with(|st| st.tcp(h).state()) {
                // The peer's FIN came first: Linux's reset in CLOSE_WAIT is
                // EPIPE, which the send path gives anyway.
                tcp::State::CloseWait | tcp::State::LastAck | tcp::State::Closing | tcp::State::TimeWait => {
                    self.reset_seen = true;
                }
                tcp::State::Closed => {
                    self.reset_seen = true;
                    self.error = Some(Errno::ECONNRESET);
                }
                _ => {}
            }
        }
    }

    /// The reset of a connection, once.
    fn take_reset(&mut self) -> Result<(), Errno> {
        match self.error {
            Some(Errno::ECONNRESET) if matches!(self.state, State::Connected(_)) => {
                self.error = None;
                Err(Errno::ECONNRESET)
            }
            _ => Ok(()),
        }
    }

    pub fn send(&mut self, data: &[u8], to: Option<SockAddrIn>) -> Progress<usize> {
        self.settle();
        // A reset ends sending with EPIPE: Linux's reset in CLOSE_WAIT (the
        // peer closed, then refused our data), which this side cannot tell
        // from one in ESTABLISHED (ECONNRESET there) without the FIN's time.
        if self.take_reset().is_err() {
            return Err(Errno::EPIPE);
        }
        let result = match &self.state {
            State::Udp { .. } => self.send_udp(data, to),
            State::Connected(h) => {
                let h = *h;
                if self.shut_wr {
                    return Err(Errno::EPIPE);
                }
                super::with(|st| {
                    let socket = st.tcp(h);
                    if !socket.may_send() {
                        Err(Errno::EPIPE)
                    } else if socket.can_send() {
                        socket.send_slice(data).map(Some).map_err(|_| Errno::EPIPE)
                    } else {
                        Ok(None)
                    }
                })
            }
            State::Connecting(_) => Ok(None),
            State::Fresh | State::Listening(_) => Err(if self.shut_wr { Errno::EPIPE } else { Errno::ENOTCONN }),
        };
        if matches!(result, Ok(Some(_))) {
            super::poll_soon();
        }
        result
    }

    fn send_udp(&mut self, data: &[u8], to: Option<SockAddrIn>) -> Progress<usize> {
        let peer = match &self.state {
            State::Udp { peer, .. } => *peer,
            _ => None,
        };
        let dest = to.or(peer).ok_or(Errno::EDESTADDRREQ)?;
        if data.len() > UDP_MAX_PAYLOAD {
            return Err(Errno::EMSGSIZE);
        }
        super::with(|st| {
            self.autobind(st)?;
            let (iface, _) = st.route(dest.addr)?;
            let State::Udp { handles, .. } = &self.state else { return Err(Errno::EINVAL) };
            let h = *handles.iter().find(|h| h.iface == iface).ok_or(Errno::ENETUNREACH)?;
            let endpoint = IpEndpoint { addr: IpAddress::Ipv4(Ipv4Address::from(dest.addr)), port: dest.port };
            match st.udp(h).send_slice(data, endpoint) {
                Ok(()) => Ok(Some(data.len())),
                Err(smoltcp::socket::udp::SendError::BufferFull) => Ok(None),
                Err(smoltcp::socket::udp::SendError::Unaddressable) => Err(Errno::ENETUNREACH),
            }
        })
    }

    /// Reads into `buf` (`peek`: leaves the data queued). TCP gives 0 at the
    /// end of the stream; UDP gives one datagram, truncated to `buf`, and its
    /// sender.
    pub fn recv(&mut self, buf: &mut [u8], peek: bool) -> Progress<(usize, Option<SockAddrIn>)> {
        self.settle();
        self.take_reset()?;
        let result = match &self.state {
            State::Udp { handles, peer } => {
                let (handles, peer) = (handles.clone(), *peer);
                super::with(|st| {
                    for h in handles {
                        let socket = st.udp(h);
                        while let Ok((payload, meta)) = socket.peek() {
                            let from = to_sockaddr(meta.endpoint);
                            if peer.is_some_and(|p| p != from) {
                                let _ = socket.recv();
                                continue;
                            }
                            let n = payload.len().min(buf.len());
                            buf[..n].copy_from_slice(&payload[..n]);
                            if !peek {
                                let _ = socket.recv();
                            }
                            return Ok(Some((n, Some(from))));
                        }
                    }
                    Ok(None)
                })
            }
            State::Connected(h) => {
                let h = *h;
                if self.shut_rd {
                    return Ok(Some((0, None)));
                }
                super::with(|st| {
                    let socket = st.tcp(h);
                    if socket.can_recv() {
                        let n = if peek { socket.peek_slice(buf) } else { socket.recv_slice(buf) };
                        Ok(Some((n.unwrap_or(0), None)))
                    } else if !socket.may_recv() {
                        Ok(Some((0, None)))
                    } else {
                        Ok(None)
                    }
                })
            }
            State::Connecting(_) => Ok(None),
            State::Fresh | State::Listening(_) => Err(Errno::ENOTCONN),
        };
        if matches!(result, Ok(Some((n, _))) if n > 0) && !peek {
            super::poll_soon();
        }
        result
    }

    pub fn shutdown(&mut self, how: u32) -> Result<(), Errno> {
        if how > SHUT_RDWR {
            return Err(Errno::EINVAL);
        }
        self.settle();
        let h = match self.state {
            State::Connected(h) => h,
            State::Udp { peer: Some(_), .. } => {
                self.shut_rd |= how != SHUT_WR;
                self.shut_wr |= how != SHUT_RD;
                return Ok(());
            }
            _ => return Err(Errno::ENOTCONN),
        };
        if how != SHUT_RD && !self.shut_wr {
            self.shut_wr = true;
            super::with(|st| st.tcp(h).close());
        }
        if how != SHUT_WR {
            self.shut_rd = true;
        }
        super::poll_soon();
        Ok(())
    }

    pub fn local_name(&self) -> SockAddrIn {
        let connected = match self.state {
            State::Connected(h) | State::Connecting(h) => super::with(|st| st.tcp(h).local_endpoint().map(to_sockaddr)),
            _ => None,
        };
        connected.or(self.local).unwrap_or_default()
    }

    pub fn peer_name(&mut self) -> Result<SockAddrIn, Errno> {
        self.settle();
        match self.state {
            State::Connected(h) => super::with(|st| st.tcp(h).remote_endpoint().map(to_sockaddr)).ok_or(Errno::ENOTCONN),
            State::Udp { peer: Some(peer), .. } => Ok(peer),
            _ => Err(Errno::ENOTCONN),
        }
    }

    /// The poll(2) events that hold now.
    pub fn readiness(&mut self) -> u32 {
        self.settle();
        let error = if self.error.is_some() { POLLERR } else { 0 };
        match &self.state {
            State::Fresh => POLLOUT | POLLHUP | error,
            State::Listening(pool) => {
                let pool = *pool;
                if super::with(|st| st.pool_ready(pool)) { POLLIN } else { 0 }
            }
            State::Connecting(_) => 0,
            State::Connected(h) => {
                let h = *h;
                let (shut_rd, shut_wr) = (self.shut_rd, self.shut_wr);
                super::with(|st| {
                    let socket = st.tcp(h);
                    let mut events = 0;
                    let eof = !socket.may_recv();
                    if socket.can_recv() || eof || shut_rd {
                        events |= POLLIN;
                    }
                    if eof {
                        events |= POLLRDHUP;
                    }
                    if !socket.may_send() || shut_wr || socket.can_send() {
                        events |= POLLOUT;
                    }
                    if socket.state() == tcp::State::Closed || (eof && (shut_wr || !socket.may_send())) {
                        events |= POLLHUP;
                    }
                    events
                }) | error
            }
            State::Udp { handles, .. } => {
                let handles = handles.clone();
                let readable = super::with(|st| handles.into_iter().any(|h| st.udp(h).can_recv()));
                POLLOUT | if readable { POLLIN } else { 0 } | error
            }
        }
    }

    pub fn socket_type(&self) -> u32 {
        match self.proto {
            Proto::Tcp => SOCK_STREAM,
            Proto::Udp => SOCK_DGRAM,
        }
    }

    pub fn set_option(&mut self, level: u32, name: u32, value: &[u8]) -> Result<(), Errno> {
        match (level, name) {
            (SOL_SOCKET, SO_LINGER) => {
                let raw: [u8; Linger::SIZE] = value.get(..Linger::SIZE).and_then(|v| v.try_into().ok()).ok_or(Errno::EINVAL)?;
                let linger = Linger::from_bytes(&raw);
                self.opts.linger = (linger.onoff != 0).then_some(linger.linger.max(0));
                return Ok(());
            }
            (SOL_SOCKET, SO_RCVTIMEO | SO_SNDTIMEO) => {
                // Accepted but not applied (blocking calls wait without a
                // deadline); the value is still checked as Linux does.
                let raw: [u8; syscall::Timeval::SIZE] = value.get(..syscall::Timeval::SIZE).and_then(|v| v.try_into().ok()).ok_or(Errno::EINVAL)?;
                syscall::Timeval::from_bytes(&raw).socket_timeout_ns()?;
                return Ok(());
            }
            _ => {}
        }
        let int = option_int(value)?;
        let on = int != 0;
        if (level, name) == (IPPROTO_IPV6, IPV6_V6ONLY) {
            let Family::Inet6 { v6only } = &mut self.family else { return Err(Errno::ENOPROTOOPT) };
            // Linux fixes the choice once the socket has a port.
            if self.local.is_some() {
                return Err(Errno::EINVAL);
            }
            *v6only = on;
            return Ok(());
        }
        match (level, name) {
            (SOL_SOCKET, SO_REUSEADDR) => self.opts.reuse_addr = on,
            (SOL_SOCKET, SO_REUSEPORT) => self.opts.reuse_port = on,
            (SOL_SOCKET, SO_KEEPALIVE) => self.opts.keepalive = on,
            (SOL_SOCKET, SO_BROADCAST) => self.opts.broadcast = on,
            // Linux doubles the value to account for its bookkeeping.
            (SOL_SOCKET, SO_RCVBUF) => self.opts.rcvbuf = int.clamp(1152, i32::MAX / 2) * 2,
            (SOL_SOCKET, SO_SNDBUF) => self.opts.sndbuf = int.clamp(2304, i32::MAX / 2) * 2,
            (IPPROTO_TCP, TCP_NODELAY) if self.proto == Proto::Tcp => self.opts.nodelay = on,
            (IPPROTO_TCP, TCP_CORK) if self.proto == Proto::Tcp => self.opts.cork = on,
            (IPPROTO_TCP, TCP_KEEPIDLE | TCP_KEEPINTVL | TCP_KEEPCNT | TCP_DEFER_ACCEPT | TCP_FASTOPEN)
                if self.proto == Proto::Tcp =>
            {
                if int < 0 {
                    return Err(Errno::EINVAL);
                }
            }
            _ => return Err(Errno::ENOPROTOOPT),
        }
        super::with(|st| self.apply_tcp_options(st));
        Ok(())
    }

    pub fn get_option(&mut self, level: u32, name: u32) -> Result<Vec<u8>, Errno> {
        let int = |v: i32| v.to_le_bytes().to_vec();
        let flag = |b: bool| int(i32::from(b));
        Ok(match (level, name) {
            (SOL_SOCKET, SO_REUSEADDR) => flag(self.opts.reuse_addr),
            (SOL_SOCKET, SO_REUSEPORT) => flag(self.opts.reuse_port),
            (SOL_SOCKET, SO_KEEPALIVE) => flag(self.opts.keepalive),
            (SOL_SOCKET, SO_BROADCAST) => flag(self.opts.broadcast),
            (SOL_SOCKET, SO_RCVBUF) => int(self.opts.rcvbuf),
            (SOL_SOCKET, SO_SNDBUF) => int(self.opts.sndbuf),
            (SOL_SOCKET, SO_TYPE) => int(self.socket_type() as i32),
            (SOL_SOCKET, SO_DOMAIN) => int(match self.family {
                Family::Inet => AF_INET as i32,
                Family::Inet6 { .. } => AF_INET6 as i32,
            }),
            (IPPROTO_IPV6, IPV6_V6ONLY) => match self.family {
                Family::Inet6 { v6only } => flag(v6only),
                Family::Inet => return Err(Errno::ENOPROTOOPT),
            },
            (SOL_SOCKET, SO_PROTOCOL) => int(match self.proto {
                Proto::Tcp => IPPROTO_TCP as i32,
                Proto::Udp => IPPROTO_UDP as i32,
            }),
            (SOL_SOCKET, SO_ACCEPTCONN) => flag(self.is_listening()),
            (SOL_SOCKET, SO_ERROR) => {
                self.settle();
                int(self.error.take().map_or(0, |e| e as i32))
            }
            (SOL_SOCKET, SO_LINGER) => {
                let linger = Linger { onoff: i32::from(self.opts.linger.is_some()), linger: self.opts.linger.unwrap_or(0) };
                linger.to_bytes().to_vec()
            }
            (IPPROTO_TCP, TCP_NODELAY) if self.proto == Proto::Tcp => flag(self.opts.nodelay),
            (IPPROTO_TCP, TCP_CORK) if self.proto == Proto::Tcp => flag(self.opts.cork),
            _ => return Err(Errno::ENOPROTOOPT),
        })
    }

    fn release_port(&mut self) {
        if self.owns_port
            && let Some(local) = self.local
        {
            let (proto, id) = (self.proto, self.id);
            super::with(|st| st.ports.release(proto, local.port, id));
            self.owns_port = false;
            self.local = None;
        }
    }
}

/// Largest UDP payload over IPv4.
const UDP_MAX_PAYLOAD: usize = 65_507;

impl Drop for Socket {
    fn drop(&mut self) {
        let abort = self.opts.linger == Some(0);
        let state = core::mem::replace(&mut self.state, State::Fresh);
        let id = self.id;
        super::with(|st| st.forget_waiters(id));
        super::with(|st| match state {
            State::Fresh => {}
            State::Listening(pool) => st.remove_pool(pool),
            State::Connecting(h) => st.close_tcp(h, true),
            State::Connected(h) => st.close_tcp(h, abort),
            State::Udp { handles, .. } => handles.into_iter().for_each(|h| st.discard(h)),
        });
        self.release_port();
        super::poll_soon();
    }
}
