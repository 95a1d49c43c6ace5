//! The network stack: smoltcp over a loopback interface (`lo`,
//! 127.0.0.1/8) and, when QEMU gives a virtio-net device, `eth0` (static
//! 10.0.2.15/24 via 10.0.2.2 unless the command line says otherwise, or
//! DHCP). It is polled from the scheduler when the device interrupts or a
//! TCP timer is due, and after every socket call that queues work.
//! [`socket`] holds the socket objects processes see; they keep handles
//! into the socket sets here. Decisions: docs/network.md.

pub mod device;
pub mod socket;
pub mod unix;

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use process::ports::PortTable;
use smoltcp::iface::{Config, Interface, PollIngressSingleResult, PollResult, SocketHandle, SocketSet};
use smoltcp::socket::{dhcpv4, tcp, udp};
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr, IpListenEndpoint, Ipv4Address, Ipv4Cidr};
use spin::Mutex;
use syscall::Errno;
use syscall::net::SockAddrIn;

use device::{LoopbackDevice, VirtioDevice};

/// What a process blocked on a connection waits for.
pub const WANT_READ: u8 = 1;
pub const WANT_WRITE: u8 = 2;
pub const WANT_CONNECT: u8 = 4;

/// Interrupt vector of the network device.
pub const NET_VECTOR: u8 = 40;
/// Receive and send buffer of a TCP connection.
const TCP_RX_BUFFER: usize = 32 * 1024;
const TCP_TX_BUFFER: usize = 32 * 1024;
/// Heap bytes one TCP socket's buffers take.
pub const TCP_SOCKET_BYTES: usize = TCP_RX_BUFFER + TCP_TX_BUFFER;
/// Datagrams and payload bytes a UDP socket buffers each way.
const UDP_PACKETS: usize = 32;
const UDP_BUFFER: usize = 64 * 1024;
/// Heap bytes one UDP socket's buffers take (receive and send, data only).
pub const UDP_SOCKET_BYTES: usize = 2 * UDP_BUFFER;
/// LISTEN sockets a listener keeps per interface: each takes one SYN, and
/// is replaced before the next packet is read.
const LISTENERS: usize = 2;
/// Most connections in handshake per listener (Linux's SYN queue is
/// larger; past this, SYNs are dropped and clients retry).
const SYN_QUEUE_MAX: usize = 256;
/// With a device, poll at least this often: a lost interrupt edge costs
/// at most this much latency.
const FALLBACK_POLL_NS: u64 = 10_000_000;
/// How long a closed connection may wait for its peer's acknowledgements.
const CLOSE_TIMEOUT_SECS: u64 = 60;
/// Polls of the loopback interface per round: each carries packets one hop.
const LOOPBACK_ROUNDS: usize = 64;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum IfaceId {
    Lo,
    Eth,
}

/// A smoltcp socket on one interface.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Handle {
    pub iface: IfaceId,
    pub socket: SocketHandle,
}

struct Iface<D> {
    iface: Interface,
    device: D,
    sockets: SocketSet<'static>,
}

/// The sockets of one `listen()`: `handshaking` holds sockets in LISTEN or
/// SYN-RECEIVED (the SYN queue), `ready` the established connections in
/// arrival order until `accept` takes them (the accept queue, at most
/// backlog + 1 long, as on Linux).
struct Pool {
    local: SockAddrIn,
    listens_on: Vec<IfaceId>,
    backlog: usize,
    handshaking: Vec<Handle>,
    ready: VecDeque<Handle>,
}

/// What the command line asks of eth0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Addressing {
    Static { cidr: Ipv4Cidr, gateway: Option<Ipv4Address> },
    Dhcp,
}

impl Addressing {
    /// QEMU user networking's guest address and gateway.
    pub const QEMU_USER: Addressing = Addressing::Static {
        cidr: Ipv4Cidr::new(Ipv4Address::new(10, 0, 2, 15), 24),
        gateway: Some(Ipv4Address::new(10, 0, 2, 2)),
    };

    /// `ip=dhcp` or `ip=A.B.C.D/N` with `gw=A.B.C.D`; `None`: the default.
    pub fn parse(ip: Option<&str>, gw: Option<&str>) -> Result<Addressing, &'static str> {
        let gateway = match gw {
            Some(text) => Some(text.parse::<Ipv4Address>().map_err(|_| "gw= is not an IPv4 address")?),
            None => None,
        };
        match ip {
            None => match (Addressing::QEMU_USER, gateway) {
                (Addressing::Static { cidr, .. }, Some(g)) => Ok(Addressing::Static { cidr, gateway: Some(g) }),
                (default, _) => Ok(default),
            },
            Some("dhcp") => Ok(Addressing::Dhcp),
            Some(text) => {
                let cidr = text.parse::<Ipv4Cidr>().map_err(|_| "ip= is not dhcp or A.B.C.D/N")?;
                Ok(Addressing::Static { cidr, gateway })
            }
        }
    }
}

/// Both interfaces, their sockets, the bound ports and the listeners.
pub struct Stack {
    lo: Iface<LoopbackDevice>,
    eth: Option<Iface<VirtioDevice>>,
    dhcp: Option<SocketHandle>,
    pub ports: PortTable,
    pools: BTreeMap<u64, Pool>,
    /// Connections closed by their processes, finishing their goodbyes.
    closing: Vec<Handle>,
    /// Connections processes are blocked on, by socket id: the handle and
    /// what they wait for (WANT_* bits). Each is woken alone, when its own
    /// connection is ready, not at every change of any socket.
    waiters: BTreeMap<u64, (Handle, u8)>,
    next_id: u64,
    /// Closed TCP sockets kept with their buffers for the next connection
    /// ([`SPARE_TCP_MAX`]): a fresh socket zeroes its 64 KiB of buffers,
    /// a ninth of an HTTP request's instructions.
    spare_tcp: Vec<tcp::Socket<'static>>,
    /// A fresh socket's ACK delay (smoltcp's default), for spares.
    default_ack_delay: Option<smoltcp::time::Duration>,
}

/// At most this many closed TCP sockets are kept for reuse (512 KiB).
const SPARE_TCP_MAX: usize = 8;

static STACK: Mutex<Option<Stack>> = Mutex::new(None);
static IRQ_PENDING: AtomicBool = AtomicBool::new(false);
/// A socket call queued work (data, a FIN, a SYN): poll when the process
/// next gives up the CPU (blocks, yields, exits) or at the next timer tick,
/// once for all its calls until then: a server's response and FIN leave
/// together when it goes back to accept.
static POLL_WANTED: AtomicBool = AtomicBool::new(false);
/// When the stack next needs a poll (monotonic ns); `u64::MAX`: not before
/// something happens.
static NEXT_POLL_NS: AtomicU64 = AtomicU64::new(u64::MAX);
/// Counts the polls in which a socket's state changed: the generation of
/// every INET socket for edge-triggered epoll (a change anywhere counts
/// for all of them, which over-reports and never misses).
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// See [`GENERATION`].
pub fn generation() -> u64 {
    GENERATION.load(Ordering::Relaxed)
}

fn now() -> Instant {
    Instant::from_micros((crate::time::monotonic_ns() / 1000) as i64)
}

fn seed() -> u64 {
    crate::arch::cpu::rdrand().unwrap_or_else(crate::arch::cpu::rdtsc)
}

/// Brings up lo, and eth0 when there is a virtio-net device.
pub fn init(addressing: Addressing) {
    let mut lo_device = LoopbackDevice::default();
    let mut config = Config::new(HardwareAddress::Ip);
    config.random_seed = seed();
    let mut lo_iface = Interface::new(config, &mut lo_device, now());
    lo_iface.update_ip_addrs(|addrs| {
        let _ = addrs.push(IpCidr::new(IpAddress::v4(127, 0, 0, 1), 8));
    });
    let lo = Iface { iface: lo_iface, device: lo_device, sockets: SocketSet::new(vec![]) };
    let mut stack =
        Stack { lo, eth: None, dhcp: None, ports: PortTable::new(), pools: BTreeMap::new(), closing: Vec::new(), waiters: BTreeMap::new(), next_id: 1, spare_tcp: Vec::new(), default_ack_delay: None };
    if let Some(found) = crate::arch::virtio::find(virtio_drivers::transport::DeviceType::Network) {
        match VirtioDevice::new(found.transport) {
            Ok(mut device) => {
                let mac = device.nic.mac_address();
                let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
                config.random_seed = seed();
                let mut iface = Interface::new(config, &mut device, now());
                let mut sockets = SocketSet::new(vec![]);
                let mac = EthernetAddress(mac);
                match addressing {
                    Addressing::Static { cidr, gateway } => {
                        iface.update_ip_addrs(|addrs| {
                            let _ = addrs.push(IpCidr::Ipv4(cidr));
                        });
                        if let Some(gw) = gateway {
                            let _ = iface.routes_mut().add_default_ipv4_route(gw);
                        }
                        let gw = gateway.map_or(alloc::string::String::from("none"), |g| alloc::format!("{g}"));
                        log::info!("eth0 {mac} {cidr} gateway {gw} (virtio-mmio slot {}, GSI {})", found.slot, found.gsi);
                    }
                    Addressing::Dhcp => {
                        stack.dhcp = Some(sockets.add(dhcpv4::Socket::new()));
                        log::info!("eth0 {mac} asking DHCP (virtio-mmio slot {}, GSI {})", found.slot, found.gsi);
                    }
                }
                match crate::arch::ioapic::route(found.gsi, NET_VECTOR) {
                    Ok(()) => device.nic.enable_interrupts(),
                    Err(why) => log::warn!("{why}: polling eth0 on the timer only"),
                }
                stack.eth = Some(Iface { iface, device, sockets });
            }
            Err(e) => log::warn!("virtio-net device found but not usable: {e:?}"),
        }
    }
    *STACK.lock() = Some(stack);
}

/// Runs `f` on the stack.
pub fn with<R>(f: impl FnOnce(&mut Stack) -> R) -> R {
    let mut guard = STACK.lock();
    f(guard.as_mut().expect("network used before net::init"))
}

/// Runs `f` on the stack if it is up (the exit report).
pub fn with_if_up<R>(f: impl FnOnce(&mut Stack) -> R) -> Option<R> {
    STACK.lock().as_mut().map(f)
}

/// The device interrupted: acknowledge it and have the scheduler poll.
pub fn interrupt() {
    if let Some(mut guard) = STACK.try_lock()
        && let Some(eth) = guard.as_mut().and_then(|s| s.eth.as_mut())
    {
        eth.device.nic.ack_interrupt();
    }
    IRQ_PENDING.store(true, Ordering::Relaxed);
}

/// Whether a poll is due (a device interrupt, or a protocol timer).
pub fn poll_due() -> bool {
    if IRQ_PENDING.load(Ordering::Relaxed) || POLL_WANTED.load(Ordering::Relaxed) {
        return true;
    }
    let next = NEXT_POLL_NS.load(Ordering::Relaxed);
    next != u64::MAX && crate::time::monotonic_ns() >= next
}

/// Asks for a poll before the next switch or tick.
pub fn poll_soon() {
    POLL_WANTED.store(true, Ordering::Relaxed);
}

/// Polls if due (called by the scheduler before picking a process).
pub fn poll_if_due() {
    if poll_due() {
        poll();
    }
}

/// Moves packets in and out of both interfaces and wakes processes waiting
/// on sockets when anything changed.
/// When the last poll ended (TSC).
static LAST_POLL_TSC: AtomicU64 = AtomicU64::new(0);

/// Whether the stack was polled less than `us` microseconds ago.
pub fn polled_within(us: u64) -> bool {
    let since = crate::arch::cpu::rdtsc().wrapping_sub(LAST_POLL_TSC.load(Ordering::Relaxed));
    crate::time::cycles_to_us(since) < us
}

pub fn poll() {
    IRQ_PENDING.store(false, Ordering::Relaxed);
    POLL_WANTED.store(false, Ordering::Relaxed);
    let (changed, waiting, ready) = with(|st| (st.poll(), st.waiting_connections(), st.ready_waiters()));
    if changed || !waiting.is_empty() || !ready.is_empty() {
        GENERATION.fetch_add(1, Ordering::Relaxed);
    }
    if changed {
        crate::proc::sched::wake_all(crate::proc::BlockOn::Net);
    }
    for id in ready {
        crate::proc::sched::wake_all(crate::proc::BlockOn::Socket(id));
    }
    for (pool, count) in waiting {
        crate::proc::sched::wake_some(crate::proc::BlockOn::Accept(pool), count);
    }
    LAST_POLL_TSC.store(crate::arch::cpu::rdtsc(), Ordering::Relaxed);
}

impl Stack {
    fn poll(&mut self) -> bool {
        let now = now();
        let mut changed = false;
        // The loopback queue is drained by the rounds below, so lo has work
        // only when one of its sockets has something to send or a timer due.
        let lo_due = self.lo.iface.poll_at(now, &self.lo.sockets).is_some_and(|at| at <= now);
        for _ in 0..if lo_due { LOOPBACK_ROUNDS } else { 0 } {
            changed |= self.ingress(IfaceId::Lo, now);
            let lo = &mut self.lo;
            changed |= lo.iface.poll_egress(now, &mut lo.device, &mut lo.sockets) == PollResult::SocketStateChanged;
            if lo.device.is_idle() {
                break;
            }
        }
        if let Some(eth) = self.eth.as_mut() {
            eth.device.nic.ack_interrupt();
            changed |= self.ingress(IfaceId::Eth, now);
            if let Some(eth) = self.eth.as_mut() {
                changed |= eth.iface.poll_egress(now, &mut eth.device, &mut eth.sockets) == PollResult::SocketStateChanged;
            }
        }
        self.dhcp_events();
        let again = self.maintain();
        let mut next = self.lo.iface.poll_delay(now, &self.lo.sockets).map(|d| d.total_micros() * 1000);
        if let Some(eth) = self.eth.as_mut() {
            let d = eth.iface.poll_delay(now, &eth.sockets).map_or(FALLBACK_POLL_NS, |d| d.total_micros() * 1000);
            next = Some(next.map_or(d, |n| n.min(d)).min(FALLBACK_POLL_NS));
        }
        if again {
            next = Some(0);
        }
        let at = next.map_or(u64::MAX, |d| (now.total_micros() as u64 * 1000).saturating_add(d.max(1)));
        NEXT_POLL_NS.store(at, Ordering::Relaxed);
        changed
    }

    /// Takes in every received packet of `iface`, one at a time: after a
    /// SYN has taken a listening socket, the next SYN finds a fresh one, so
    /// a listener needs only a couple of LISTEN sockets however many
    /// connections arrive at once.
    fn ingress(&mut self, iface: IfaceId, now: Instant) -> bool {
        let mut changed = false;
        loop {
            let (result, syn) = match iface {
                IfaceId::Lo => {
                    let lo = &mut self.lo;
                    let r = lo.iface.poll_ingress_single(now, &mut lo.device, &mut lo.sockets);
                    (r, core::mem::take(&mut lo.device.syn_passed))
                }
                IfaceId::Eth => {
                    let Some(eth) = self.eth.as_mut() else { return changed };
                    let r = eth.iface.poll_ingress_single(now, &mut eth.device, &mut eth.sockets);
                    (r, core::mem::take(&mut eth.device.syn_passed))
                }
            };
            match result {
                PollIngressSingleResult::None => return changed,
                PollIngressSingleResult::PacketProcessed => {}
                PollIngressSingleResult::SocketStateChanged => changed = true,
            }
            if syn {
                self.refill_listeners(iface);
            }
        }
    }

    /// Gives every listener on `iface` its LISTEN sockets back, unless its
    /// queues are full (then its SYNs are refused; see update_refusals).
    fn refill_listeners(&mut self, iface: IfaceId) {
        let ids: Vec<u64> = self.pools.keys().copied().collect();
        for id in ids {
            let Some(pool) = self.pools.get(&id) else { continue };
            if pool.handshaking.len() >= SYN_QUEUE_MAX || !pool.listens_on.contains(&iface) {
                continue;
            }
            let (local, handles) = (pool.local, pool.handshaking.clone());
            let listening = handles.iter().filter(|h| h.iface == iface && self.tcp(**h).state() == tcp::State::Listen).count();
            for _ in listening..LISTENERS {
                // Buffers for connections to come: only from memory the
                // processes could have had (the kernel's reserve stays its own).
                if !crate::mm::heap_room_for_user(TCP_SOCKET_BYTES) {
                    break;
                }
                let h = self.new_tcp(iface);
                let _ = self.tcp(h).listen(listen_endpoint(local));
                if let Some(pool) = self.pools.get_mut(&id) {
                    pool.handshaking.push(h);
                }
            }
        }
        self.update_refusals();
    }

    fn dhcp_events(&mut self) {
        let (Some(handle), Some(eth)) = (self.dhcp, self.eth.as_mut()) else { return };
        let event = eth.sockets.get_mut::<dhcpv4::Socket>(handle).poll();
        match event {
            Some(dhcpv4::Event::Configured(config)) => {
                eth.iface.update_ip_addrs(|addrs| {
                    addrs.clear();
                    let _ = addrs.push(IpCidr::Ipv4(config.address));
                });
                if let Some(router) = config.router {
                    let _ = eth.iface.routes_mut().add_default_ipv4_route(router);
                }
                log::info!("eth0 {} from DHCP, gateway {:?}", config.address, config.router);
            }
            Some(dhcpv4::Event::Deconfigured) => {
                eth.iface.update_ip_addrs(|addrs| addrs.clear());
                eth.iface.routes_mut().remove_default_ipv4_route();
            }
            None => {}
        }
    }

    /// Keeps the listeners' queues, and frees closed connections that
    /// finished closing.
    fn maintain(&mut self) -> bool {
        let mut again = false;
        self.maintain_pools();
        let closing = core::mem::take(&mut self.closing);
        for h in closing {
            // TIME-WAIT is left out: with servers closing first, thousands of
            // connections a minute would each keep their buffers for the
            // 2*MSL smoltcp waits (docs/network.md).
            let socket = self.tcp(h);
            if socket.recv_queue() > 0 && socket.state() != tcp::State::Closed {
                // Kept for one more poll, which sends the reset.
                socket.abort();
                self.closing.push(h);
                again = true;
            } else if matches!(socket.state(), tcp::State::Closed | tcp::State::TimeWait) {
                self.remove(h);
            } else {
                self.closing.push(h);
            }
        }
        again
    }

    fn set(&mut self, iface: IfaceId) -> &mut SocketSet<'static> {
        match iface {
            IfaceId::Lo => &mut self.lo.sockets,
            IfaceId::Eth => &mut self.eth.as_mut().expect("a handle on eth0 without eth0").sockets,
        }
    }

    pub fn tcp(&mut self, h: Handle) -> &mut tcp::Socket<'static> {
        self.set(h.iface).get_mut::<tcp::Socket>(h.socket)
    }

    pub fn udp(&mut self, h: Handle) -> &mut udp::Socket<'static> {
        self.set(h.iface).get_mut::<udp::Socket>(h.socket)
    }

    fn remove(&mut self, h: Handle) {
        let socket = self.set(h.iface).remove(h.socket);
        if let smoltcp::socket::Socket::Tcp(mut tcp) = socket
            && self.spare_tcp.len() < SPARE_TCP_MAX
            && crate::mm::heap_room_for_user(TCP_SOCKET_BYTES)
        {
            // What reset() (at the next listen or connect) leaves as it was:
            // the options a process set go back to a new socket's. Out of
            // every set, the socket sends nothing more.
            tcp.abort();
            tcp.set_timeout(None);
            tcp.set_keep_alive(None);
            tcp.set_hop_limit(None);
            tcp.set_ack_delay(self.default_ack_delay);
            tcp.set_nagle_enabled(true);
            tcp.set_congestion_control(tcp::CongestionControl::None);
            self.spare_tcp.push(tcp);
        }
    }

    /// A fresh id for a socket (port ownership, listeners).
    pub fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// A TCP socket, closed: a spare one (its buffers' old bytes are never
    /// read: smoltcp hands out only what was queued after `listen` or
    /// `connect` reset it) or a new one.
    pub fn new_tcp(&mut self, iface: IfaceId) -> Handle {
        let socket = self.spare_tcp.pop().unwrap_or_else(|| {
            let fresh = tcp::Socket::new(
                tcp::SocketBuffer::new(vec![0; TCP_RX_BUFFER]),
                tcp::SocketBuffer::new(vec![0; TCP_TX_BUFFER]),
            );
            self.default_ack_delay = fresh.ack_delay();
            fresh
        });
        Handle { iface, socket: self.set(iface).add(socket) }
    }

    pub fn new_udp(&mut self, iface: IfaceId) -> Handle {
        let buffer = || udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; UDP_PACKETS], vec![0; UDP_BUFFER]);
        let socket = udp::Socket::new(buffer(), buffer());
        Handle { iface, socket: self.set(iface).add(socket) }
    }

    /// eth0's IPv4 address, if it has one.
    pub fn eth_addr(&self) -> Option<[u8; 4]> {
        self.eth.as_ref()?.iface.ipv4_addr().map(|a| a.octets())
    }

    /// The interfaces a socket bound to `addr` listens on.
    pub fn ifaces_for_local(&self, addr: [u8; 4]) -> Result<Vec<IfaceId>, Errno> {
        let mut out = Vec::new();
        if addr == [0; 4] || addr[0] == 127 {
            out.push(IfaceId::Lo);
        }
        if self.eth.is_some() && (addr == [0; 4] || self.eth_addr() == Some(addr)) {
            out.push(IfaceId::Eth);
        }
        if out.is_empty() { Err(Errno::EADDRNOTAVAIL) } else { Ok(out) }
    }

    /// The interface packets to `remote` leave by, and its local address.
    pub fn route(&self, remote: [u8; 4]) -> Result<(IfaceId, [u8; 4]), Errno> {
        if remote[0] == 127 || remote == [0; 4] {
            return Ok((IfaceId::Lo, [127, 0, 0, 1]));
        }
        match self.eth_addr() {
            Some(addr) if addr == remote => Err(Errno::ENETUNREACH),
            Some(addr) => Ok((IfaceId::Eth, addr)),
            None => Err(Errno::ENETUNREACH),
        }
    }

    /// Starts a TCP connection from `local` to `remote` on `iface`.
    pub fn connect(&mut self, h: Handle, local: SockAddrIn, remote: SockAddrIn) -> Result<(), Errno> {
        let remote = (IpAddress::Ipv4(Ipv4Address::from(remote.addr)), remote.port);
        let local = (IpAddress::Ipv4(Ipv4Address::from(local.addr)), local.port);
        let (iface, sockets) = match h.iface {
            IfaceId::Lo => (&mut self.lo.iface, &mut self.lo.sockets),
            IfaceId::Eth => {
                let eth = self.eth.as_mut().ok_or(Errno::ENETUNREACH)?;
                (&mut eth.iface, &mut eth.sockets)
            }
        };
        sockets.get_mut::<tcp::Socket>(h.socket).connect(iface.context(), remote, local).map_err(|e| match e {
            tcp::ConnectError::InvalidState => Errno::EISCONN,
            tcp::ConnectError::Unaddressable => Errno::EADDRNOTAVAIL,
        })
    }

    /// Starts listening on `local` with room for `backlog` waiting
    /// connections; `ipv4` false: an IPv6-only listener, on no interface.
    pub fn add_pool(&mut self, local: SockAddrIn, backlog: usize, ipv4: bool) -> Result<u64, Errno> {
        let id = self.new_id();
        let listens_on = if ipv4 { self.ifaces_for_local(local.addr)? } else { Vec::new() };
        self.pools.insert(id, Pool { local, listens_on, backlog, handshaking: Vec::new(), ready: VecDeque::new() });
        self.resize_pool(id, backlog)?;
        Ok(id)
    }

    /// A new backlog for a listener (`listen` called again), and its
    /// LISTEN sockets refilled.
    pub fn resize_pool(&mut self, id: u64, backlog: usize) -> Result<(), Errno> {
        let pool = self.pools.get_mut(&id).ok_or(Errno::EINVAL)?;
        pool.backlog = backlog;
        for iface in pool.listens_on.clone() {
            self.refill_listeners(iface);
        }
        Ok(())
    }

    /// Registers a process blocking on connection `id` (handle `h`) until
    /// `want` (WANT_* bits) holds.
    pub fn wait_for(&mut self, id: u64, h: Handle, want: u8) {
        let entry = self.waiters.entry(id).or_insert((h, 0));
        entry.1 |= want;
    }

    /// Forgets the waiters of a socket (it is being closed).
    pub fn forget_waiters(&mut self, id: u64) {
        self.waiters.remove(&id);
    }

    /// The registered connections whose wait is over, removed from the registry.
    fn ready_waiters(&mut self) -> Vec<u64> {
        let entries: Vec<(u64, Handle, u8)> = self.waiters.iter().map(|(&id, &(h, want))| (id, h, want)).collect();
        let mut ready = Vec::new();
        for (id, h, want) in entries {
            let socket = self.tcp(h);
            let state = socket.state();
            let done = (want & WANT_READ != 0 && (socket.can_recv() || !socket.may_recv()))
                || (want & WANT_WRITE != 0 && (socket.can_send() || !socket.may_send()))
                || (want & WANT_CONNECT != 0 && !matches!(state, tcp::State::SynSent | tcp::State::SynReceived));
            if done {
                self.waiters.remove(&id);
                ready.push(id);
            }
        }
        ready
    }

    /// Listeners with connections waiting, and how many.
    fn waiting_connections(&self) -> Vec<(u64, usize)> {
        self.pools.iter().filter(|(_, p)| !p.ready.is_empty()).map(|(&id, p)| (id, p.ready.len())).collect()
    }

    /// Whether a connection waits to be accepted.
    pub fn pool_ready(&mut self, id: u64) -> bool {
        self.pools.get(&id).is_some_and(|p| !p.ready.is_empty())
    }

    /// The oldest waiting connection.
    pub fn pool_take(&mut self, id: u64) -> Option<Handle> {
        let taken = self.pools.get_mut(&id)?.ready.pop_front();
        // Room in the accept queue again: let SYNs in (see maintain).
        self.update_refusals();
        taken
    }

    /// Stops listening: waiting connections are reset.
    pub fn remove_pool(&mut self, id: u64) {
        if let Some(pool) = self.pools.remove(&id) {
            for h in pool.handshaking.into_iter().chain(pool.ready) {
                self.tcp(h).abort();
                self.closing.push(h);
            }
        }
        self.update_refusals();
    }

    /// Moves connections that finished their handshake to their accept
    /// queue (putting a fresh listening socket in their place), re-arms
    /// listening sockets reset during a handshake, and drops connections
    /// reset before anyone accepted them.
    fn maintain_pools(&mut self) {
        let ids: Vec<u64> = self.pools.keys().copied().collect();
        for id in ids {
            let Some(pool) = self.pools.get(&id) else { continue };
            let (local, handshaking, ready) = (pool.local, pool.handshaking.clone(), pool.ready.clone());
            let mut still = Vec::with_capacity(handshaking.len());
            let mut arrived = Vec::new();
            for h in handshaking {
                let state = self.tcp(h).state();
                if established(state) {
                    arrived.push(h);
                } else {
                    if state == tcp::State::Closed {
                        let _ = self.tcp(h).listen(listen_endpoint(local));
                    }
                    still.push(h);
                }
            }
            let mut queue: VecDeque<Handle> = ready.into_iter().chain(arrived).collect();
            queue.retain(|&h| {
                let open = self.tcp(h).state() != tcp::State::Closed;
                if !open {
                    self.closing.push(h);
                }
                open
            });
            if let Some(pool) = self.pools.get_mut(&id) {
                pool.handshaking = still;
                pool.ready = queue;
            }
        }
        self.refill_listeners(IfaceId::Lo);
        if self.eth.is_some() {
            self.refill_listeners(IfaceId::Eth);
        }
    }

    /// Which ports refuse new connections: those whose accept queue holds
    /// backlog + 1 connections.
    fn update_refusals(&mut self) {
        let full: BTreeSet<u16> = self
            .pools
            .values()
            .filter(|p| p.ready.len() > p.backlog || p.handshaking.len() >= SYN_QUEUE_MAX)
            .map(|p| p.local.port)
            .collect();
        self.lo.device.refuse_syn_to = full.clone();
        if let Some(eth) = self.eth.as_mut() {
            eth.device.refuse_syn_to = full;
        }
    }

    /// A connection its process closed: FIN (or RST with `abort`), then freed
    /// once closed.
    pub fn close_tcp(&mut self, h: Handle, abort: bool) {
        let socket = self.tcp(h);
        // Linux resets a connection closed with unread data, and one that
        // receives data after its process closed it (see maintain).
        let abort = abort || socket.recv_queue() > 0;
        if abort {
            socket.abort();
        } else {
            socket.close();
            // A peer that never answers our FIN must not hold the socket forever.
            socket.set_timeout(Some(smoltcp::time::Duration::from_secs(CLOSE_TIMEOUT_SECS)));
        }
        self.closing.push(h);
    }

    /// Frees a socket at once (UDP, or a connection that never started).
    pub fn discard(&mut self, h: Handle) {
        self.remove(h);
    }

    /// Frames through eth0 (received, sent), for the exit report.
    pub fn eth_frames(&self) -> Option<(u64, u64)> {
        self.eth.as_ref().map(|e| (e.device.received, e.device.sent))
    }
}

/// The endpoint smoltcp listens on for a local address.
pub fn listen_endpoint(local: SockAddrIn) -> IpListenEndpoint {
    let addr = (!local.is_any()).then(|| IpAddress::Ipv4(Ipv4Address::from(local.addr)));
    IpListenEndpoint { addr, port: local.port }
}

/// States in which a connection is ready to be accepted (data or even the
/// peer's FIN may already be there).
fn established(state: tcp::State) -> bool {
    !matches!(state, tcp::State::Listen | tcp::State::SynReceived | tcp::State::Closed | tcp::State::SynSent)
}

/// An endpoint as a `sockaddr_in`.
pub fn to_sockaddr(endpoint: smoltcp::wire::IpEndpoint) -> SockAddrIn {
    let IpAddress::Ipv4(addr) = endpoint.addr;
    SockAddrIn { addr: addr.octets(), port: endpoint.port }
}
