//! The socket ABI: address families, socket types and flags, option
//! numbers, and the byte layouts of `sockaddr_in`, `msghdr`, `linger` and
//! `epoll_event`, decoded at the border into typed values.

use crate::Errno;

pub const AF_UNIX: u32 = 1;
pub const AF_INET: u32 = 2;
pub const AF_INET6: u32 = 10;
pub const AF_NETLINK: u32 = 16;

pub const SOCK_STREAM: u32 = 1;
pub const SOCK_DGRAM: u32 = 2;
pub const SOCK_SEQPACKET: u32 = 5;
pub const SOCK_NONBLOCK: u32 = 0o4000;
pub const SOCK_CLOEXEC: u32 = 0o2000000;
/// The socket type without its flags.
pub const SOCK_TYPE_MASK: u32 = 0xf;

pub const IPPROTO_IP: u32 = 0;
pub const IPPROTO_TCP: u32 = 6;
pub const IPPROTO_UDP: u32 = 17;
pub const IPPROTO_IPV6: u32 = 41;
pub const IPV6_V6ONLY: u32 = 26;

pub const SOL_SOCKET: u32 = 1;
pub const SO_REUSEADDR: u32 = 2;
pub const SO_TYPE: u32 = 3;
pub const SO_ERROR: u32 = 4;
pub const SO_BROADCAST: u32 = 6;
pub const SO_SNDBUF: u32 = 7;
pub const SO_RCVBUF: u32 = 8;
pub const SO_KEEPALIVE: u32 = 9;
pub const SO_LINGER: u32 = 13;
pub const SO_PASSCRED: u32 = 16;
pub const SO_PEERCRED: u32 = 17;
pub const SO_REUSEPORT: u32 = 15;
pub const SO_RCVTIMEO: u32 = 20;
pub const SO_SNDTIMEO: u32 = 21;
pub const SO_ACCEPTCONN: u32 = 30;
pub const SO_DOMAIN: u32 = 39;
pub const SO_PROTOCOL: u32 = 38;
pub const TCP_NODELAY: u32 = 1;
pub const TCP_CORK: u32 = 3;
pub const TCP_KEEPIDLE: u32 = 4;
pub const TCP_KEEPINTVL: u32 = 5;
pub const TCP_KEEPCNT: u32 = 6;
pub const TCP_DEFER_ACCEPT: u32 = 9;
pub const TCP_FASTOPEN: u32 = 23;

pub const MSG_OOB: u32 = 0x1;
pub const MSG_PEEK: u32 = 0x2;
pub const MSG_TRUNC: u32 = 0x20;
pub const MSG_DONTWAIT: u32 = 0x40;
pub const MSG_WAITALL: u32 = 0x100;
pub const MSG_NOSIGNAL: u32 = 0x4000;

pub const SHUT_RD: u32 = 0;
pub const SHUT_WR: u32 = 1;
pub const SHUT_RDWR: u32 = 2;

pub const EPOLL_CLOEXEC: u32 = 0o2000000;
pub const EPOLL_CTL_ADD: u32 = 1;
pub const EPOLL_CTL_DEL: u32 = 2;
pub const EPOLL_CTL_MOD: u32 = 3;
pub const EPOLLIN: u32 = 0x001;
pub const EPOLLPRI: u32 = 0x002;
pub const EPOLLOUT: u32 = 0x004;
pub const EPOLLERR: u32 = 0x008;
pub const EPOLLHUP: u32 = 0x010;
pub const EPOLLRDNORM: u32 = 0x040;
pub const EPOLLWRNORM: u32 = 0x100;
pub const EPOLLRDHUP: u32 = 0x2000;
pub const EPOLLEXCLUSIVE: u32 = 1 << 28;
pub const EPOLLONESHOT: u32 = 1 << 30;
pub const EPOLLET: u32 = 1 << 31;

/// What `socket(domain, type, protocol)` asks for, checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketRequest {
    pub kind: SocketKind,
    pub nonblock: bool,
    pub cloexec: bool,
}

/// The transports Isola offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketKind {
    /// AF_INET SOCK_STREAM (TCP).
    Tcp,
    /// AF_INET SOCK_DGRAM (UDP).
    Udp,
    /// AF_INET6 SOCK_STREAM (TCP, IPv4-mapped addresses).
    Tcp6,
    /// AF_INET6 SOCK_DGRAM (UDP, IPv4-mapped addresses).
    Udp6,
    /// AF_UNIX SOCK_STREAM.
    UnixStream,
    /// AF_UNIX SOCK_DGRAM.
    UnixDgram,
    /// AF_UNIX SOCK_SEQPACKET.
    UnixSeqpacket,
}

impl SocketRequest {
    /// Linux's checks, in its order: family, then type, then protocol.
    pub fn decode(domain: u64, kind: u64, protocol: u64) -> Result<SocketRequest, Errno> {
        let (domain, kind, protocol) = (domain as u32, kind as u32, protocol as u32);
        let flags = kind & !SOCK_TYPE_MASK;
        if flags & !(SOCK_NONBLOCK | SOCK_CLOEXEC) != 0 {
            return Err(Errno::EINVAL);
        }
        let nonblock = flags & SOCK_NONBLOCK != 0;
        let cloexec = flags & SOCK_CLOEXEC != 0;
        let kind = match (domain, kind & SOCK_TYPE_MASK) {
            (AF_INET, SOCK_STREAM) if protocol == IPPROTO_IP || protocol == IPPROTO_TCP => SocketKind::Tcp,
            (AF_INET, SOCK_DGRAM) if protocol == IPPROTO_IP || protocol == IPPROTO_UDP => SocketKind::Udp,
            (AF_INET, SOCK_STREAM | SOCK_DGRAM) => return Err(Errno::EPROTONOSUPPORT),
            (AF_INET6, SOCK_STREAM) if protocol == IPPROTO_IP || protocol == IPPROTO_TCP => SocketKind::Tcp6,
            (AF_INET6, SOCK_DGRAM) if protocol == IPPROTO_IP || protocol == IPPROTO_UDP => SocketKind::Udp6,
            (AF_INET6, SOCK_STREAM | SOCK_DGRAM) => return Err(Errno::EPROTONOSUPPORT),
            (AF_UNIX, SOCK_STREAM) if protocol == 0 => SocketKind::UnixStream,
            (AF_UNIX, SOCK_DGRAM) if protocol == 0 => SocketKind::UnixDgram,
            (AF_UNIX, SOCK_SEQPACKET) if protocol == 0 => SocketKind::UnixSeqpacket,
            (AF_UNIX, SOCK_STREAM | SOCK_DGRAM | SOCK_SEQPACKET) => return Err(Errno::EPROTONOSUPPORT),
            (AF_INET | AF_INET6 | AF_UNIX, _) => return Err(Errno::ESOCKTNOSUPPORT),
            _ => return Err(Errno::EAFNOSUPPORT),
        };
        Ok(SocketRequest { kind, nonblock, cloexec })
    }
}

/// `struct sockaddr_in`: an IPv4 address and port (host byte order here).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SockAddrIn {
    pub addr: [u8; 4],
    pub port: u16,
}

impl SockAddrIn {
    pub const SIZE: usize = 16;
    pub const ANY: SockAddrIn = SockAddrIn { addr: [0; 4], port: 0 };

    /// A destination as Linux's routing reads it: 0.0.0.0 means this host,
    /// reached on 127.0.0.1 (`ip_route_output_key` with no daddr; Linux
    /// takes the socket's bound address first when it has one, which is
    /// this host as well).
    pub const fn as_destination(self) -> SockAddrIn {
        match self.addr {
            [0, 0, 0, 0] => SockAddrIn { addr: [127, 0, 0, 1], port: self.port },
            _ => self,
        }
    }

    /// Decodes what a process passed with its length: EINVAL when too
    /// short, EAFNOSUPPORT for another family.
    pub fn decode(bytes: &[u8]) -> Result<SockAddrIn, Errno> {
        if bytes.len() < 2 {
            return Err(Errno::EINVAL);
        }
        let family = u16::from_le_bytes([bytes[0], bytes[1]]);
        if u32::from(family) != AF_INET {
            return Err(Errno::EAFNOSUPPORT);
        }
        if bytes.len() < Self::SIZE {
            return Err(Errno::EINVAL);
        }
        Ok(SockAddrIn { port: u16::from_be_bytes([bytes[2], bytes[3]]), addr: [bytes[4], bytes[5], bytes[6], bytes[7]] })
    }

    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0; Self::SIZE];
        out[..2].copy_from_slice(&(AF_INET as u16).to_le_bytes());
        out[2..4].copy_from_slice(&self.port.to_be_bytes());
        out[4..8].copy_from_slice(&self.addr);
        out
    }

    pub fn is_any(&self) -> bool {
        self.addr == [0; 4]
    }

    pub fn is_loopback(&self) -> bool {
        self.addr[0] == 127
    }
}

impl core::fmt::Display for SockAddrIn {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let [a, b, c, d] = self.addr;
        write!(f, "{a}.{b}.{c}.{d}:{}", self.port)
    }
}

/// `struct sockaddr_in6`: an IPv6 address and port (host byte order here),
/// as IPv6 sockets take and report them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SockAddrIn6 {
    pub addr: [u8; 16],
    pub port: u16,
    pub flowinfo: u32,
    pub scope_id: u32,
}

/// What an IPv6 address means to a host whose only addresses are IPv4
/// ones (Linux with `disable_ipv6` on every interface).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inet6Addr {
    /// `::`, the unspecified address.
    Any,
    /// `::ffff:a.b.c.d`, an IPv4 address seen through an IPv6 socket.
    Mapped([u8; 4]),
    /// Any other (`::1` included): not an address of this host, and not
    /// reachable from it.
    Native,
}

impl SockAddrIn6 {
    pub const SIZE: usize = 28;
    /// RFC 2133's sockaddr_in6, without `sin6_scope_id`: Linux's shortest.
    const MIN_SIZE: usize = 24;

    /// Decodes what a process passed with its length: EINVAL when shorter
    /// than Linux's SIN6_LEN_RFC2133, then EAFNOSUPPORT for another family
    /// (`inet6_bind`'s and `tcp_v6_connect`'s order).
    pub fn decode(bytes: &[u8]) -> Result<SockAddrIn6, Errno> {
        if bytes.len() < Self::MIN_SIZE {
            return Err(Errno::EINVAL);
        }
        if u32::from(u16::from_le_bytes([bytes[0], bytes[1]])) != AF_INET6 {
            return Err(Errno::EAFNOSUPPORT);
        }
        let mut addr = [0; 16];
        addr.copy_from_slice(&bytes[8..24]);
        let scope_id = bytes.get(24..28).map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        Ok(SockAddrIn6 {
            port: u16::from_be_bytes([bytes[2], bytes[3]]),
            flowinfo: u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
            addr,
            scope_id,
        })
    }

    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0; Self::SIZE];
        out[..2].copy_from_slice(&(AF_INET6 as u16).to_le_bytes());
        out[2..4].copy_from_slice(&self.port.to_be_bytes());
        out[4..8].copy_from_slice(&self.flowinfo.to_be_bytes());
        out[8..24].copy_from_slice(&self.addr);
        out[24..28].copy_from_slice(&self.scope_id.to_le_bytes());
        out
    }

    /// An IPv4 address and port as an IPv6 socket reports it: 0.0.0.0 as
    /// `::` (what getsockname gives for a socket bound to `[::]`), any
    /// other as `::ffff:a.b.c.d`.
    pub fn mapped(v4: SockAddrIn) -> SockAddrIn6 {
        let mut addr = [0; 16];
        if !v4.is_any() {
            addr[10] = 0xff;
            addr[11] = 0xff;
            addr[12..].copy_from_slice(&v4.addr);
        }
        SockAddrIn6 { addr, port: v4.port, ..SockAddrIn6::default() }
    }

    pub fn kind(&self) -> Inet6Addr {
        match self.addr {
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] => Inet6Addr::Any,
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d] => Inet6Addr::Mapped([a, b, c, d]),
            _ => Inet6Addr::Native,
        }
    }
}

/// `struct sockaddr_un` for an unnamed socket (socketpair): only the family.
pub const SOCKADDR_UN_UNNAMED: [u8; 2] = (AF_UNIX as u16).to_le_bytes();

/// `struct sockaddr_un` is at most this long: the family and 108 bytes of path.
pub const SOCKADDR_UN_SIZE: usize = 110;

/// An AF_UNIX address as bind, connect and sendto take it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SunAddr {
    /// Only the family (length 2): bind picks an abstract name (autobind).
    Unnamed,
    /// A file system path (up to its first NUL), never empty.
    Path(alloc::vec::Vec<u8>),
    /// An abstract name: every byte after `sun_path[0] == 0`, NULs included.
    Abstract(alloc::vec::Vec<u8>),
}

impl SunAddr {
    /// Decodes `len` bytes of a `sockaddr_un`. EINVAL for a length outside
    /// 2..=110 or another family, as Linux's `unix_validate_addr`.
    pub fn decode(bytes: &[u8]) -> Result<SunAddr, Errno> {
        if bytes.len() < 2 || bytes.len() > SOCKADDR_UN_SIZE {
            return Err(Errno::EINVAL);
        }
        if u16::from_le_bytes([bytes[0], bytes[1]]) as u32 != AF_UNIX {
            return Err(Errno::EINVAL);
        }
        let path = &bytes[2..];
        Ok(match path.first() {
            None => SunAddr::Unnamed,
            Some(0) => SunAddr::Abstract(path[1..].to_vec()),
            Some(_) => SunAddr::Path(path[..path.iter().position(|&b| b == 0).unwrap_or(path.len())].to_vec()),
        })
    }

    /// The bytes getsockname and getpeername report: the family, then the
    /// path and its NUL (length 2 + strlen + 1), or NUL and the abstract
    /// name (exactly the length bound), or the family alone.
    pub fn to_bytes(&self) -> alloc::vec::Vec<u8> {
        let mut out = alloc::vec::Vec::from(SOCKADDR_UN_UNNAMED);
        match self {
            SunAddr::Unnamed => {}
            SunAddr::Path(path) => {
                out.extend_from_slice(path);
                out.push(0);
            }
            SunAddr::Abstract(name) => {
                out.push(0);
                out.extend_from_slice(name);
            }
        }
        out
    }

    /// The abstract name autobind gives: five hex digits, as Linux's
    /// `unix_autobind` (from a counter the caller keeps).
    pub fn autobind(number: u32) -> SunAddr {
        let digits = b"0123456789abcdef";
        let n = number & 0xfffff;
        let name = (0..5).rev().map(|i| digits[((n >> (i * 4)) & 0xf) as usize]).collect();
        SunAddr::Abstract(name)
    }
}

/// `struct msghdr` (56 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MsgHdr {
    pub name: u64,
    pub namelen: u32,
    pub iov: u64,
    pub iovlen: u64,
    pub control: u64,
    pub controllen: u64,
    pub flags: u32,
}

impl MsgHdr {
    pub const SIZE: usize = 56;
    /// Offset of `msg_namelen`, written back by recvmsg.
    pub const NAMELEN_OFFSET: u64 = 8;
    /// Offset of `msg_controllen`, written back by recvmsg.
    pub const CONTROLLEN_OFFSET: u64 = 40;
    /// Offset of `msg_flags`, written back by recvmsg.
    pub const FLAGS_OFFSET: u64 = 48;

    pub fn from_bytes(b: &[u8; Self::SIZE]) -> MsgHdr {
        let u64_at = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or([0; 8]));
        let u32_at = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap_or([0; 4]));
        MsgHdr {
            name: u64_at(0),
            namelen: u32_at(8),
            iov: u64_at(16),
            iovlen: u64_at(24),
            control: u64_at(32),
            controllen: u64_at(40),
            flags: u32_at(48),
        }
    }
}

/// `struct linger` (8 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Linger {
    pub onoff: i32,
    pub linger: i32,
}

impl Linger {
    pub const SIZE: usize = 8;

    pub fn from_bytes(b: &[u8; Self::SIZE]) -> Linger {
        Linger {
            onoff: i32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            linger: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0; Self::SIZE];
        out[..4].copy_from_slice(&self.onoff.to_le_bytes());
        out[4..].copy_from_slice(&self.linger.to_le_bytes());
        out
    }
}

/// `struct epoll_event`: packed on x86-64 (12 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct EpollEvent {
    pub events: u32,
    pub data: u64,
}

impl EpollEvent {
    pub const SIZE: usize = 12;

    pub fn from_bytes(b: &[u8; Self::SIZE]) -> EpollEvent {
        EpollEvent {
            events: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            data: u64::from_le_bytes([b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11]]),
        }
    }

    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0; Self::SIZE];
        out[..4].copy_from_slice(&self.events.to_le_bytes());
        out[4..].copy_from_slice(&self.data.to_le_bytes());
        out
    }
}

/// An integer socket option value: Linux reads an `int` when at least 4
/// bytes are given (EINVAL when fewer).
pub fn option_int(bytes: &[u8]) -> Result<i32, Errno> {
    match bytes {
        [a, b, c, d, ..] => Ok(i32::from_le_bytes([*a, *b, *c, *d])),
        _ => Err(Errno::EINVAL),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_requests_follow_linux() {
        let tcp = SocketRequest::decode(2, 1 | 0o4000 | 0o2000000, 0).unwrap();
        assert_eq!(tcp, SocketRequest { kind: SocketKind::Tcp, nonblock: true, cloexec: true });
        assert_eq!(SocketRequest::decode(2, 2, 17).unwrap().kind, SocketKind::Udp);
        assert_eq!(SocketRequest::decode(1, 1, 0).unwrap().kind, SocketKind::UnixStream);
        assert_eq!(SocketRequest::decode(1, 2, 0).unwrap().kind, SocketKind::UnixDgram);
        assert_eq!(SocketRequest::decode(16, 3, 0), Err(Errno::EAFNOSUPPORT));
        assert_eq!(SocketRequest::decode(10, 1, 0).unwrap().kind, SocketKind::Tcp6);
        assert_eq!(SocketRequest::decode(10, 2, 0).unwrap().kind, SocketKind::Udp6);
        assert_eq!(SocketRequest::decode(10, 1, 17), Err(Errno::EPROTONOSUPPORT));
        assert_eq!(SocketRequest::decode(10, 3, 0), Err(Errno::ESOCKTNOSUPPORT));
        assert_eq!(SocketRequest::decode(2, 1, 17), Err(Errno::EPROTONOSUPPORT));
        assert_eq!(SocketRequest::decode(2, 3, 0), Err(Errno::ESOCKTNOSUPPORT));
        assert_eq!(SocketRequest::decode(2, 1 | 0x100, 0), Err(Errno::EINVAL));
    }

    #[test]
    fn sockaddr_in6_decodes_mapped_any_and_native() {
        let mut raw = [0u8; 28];
        raw[..2].copy_from_slice(&10u16.to_le_bytes());
        raw[2..4].copy_from_slice(&80u16.to_be_bytes());
        let any = SockAddrIn6::decode(&raw).unwrap();
        assert_eq!((any.kind(), any.port), (Inet6Addr::Any, 80));
        raw[18..20].copy_from_slice(&[0xff, 0xff]);
        raw[20..24].copy_from_slice(&[127, 0, 0, 1]);
        assert_eq!(SockAddrIn6::decode(&raw).unwrap().kind(), Inet6Addr::Mapped([127, 0, 0, 1]));
        // 24 bytes (no scope id) are enough, 23 are not; AF_INET is not AF_INET6.
        assert!(SockAddrIn6::decode(&raw[..24]).is_ok());
        assert_eq!(SockAddrIn6::decode(&raw[..23]), Err(Errno::EINVAL));
        assert_eq!(SockAddrIn6::decode(&[2, 0, 0, 80]), Err(Errno::EINVAL));
        let mut inet = raw;
        inet[0] = 2;
        assert_eq!(SockAddrIn6::decode(&inet), Err(Errno::EAFNOSUPPORT));
        let mut loopback = [0u8; 16];
        loopback[15] = 1;
        assert_eq!(SockAddrIn6 { addr: loopback, ..SockAddrIn6::default() }.kind(), Inet6Addr::Native);
        // Round trip, and the mapped form of IPv4 names.
        let v4 = SockAddrIn { addr: [10, 0, 2, 15], port: 8080 };
        let mapped = SockAddrIn6::mapped(v4);
        assert_eq!(SockAddrIn6::decode(&mapped.to_bytes()).unwrap(), mapped);
        assert_eq!(mapped.kind(), Inet6Addr::Mapped([10, 0, 2, 15]));
        assert_eq!(SockAddrIn6::mapped(SockAddrIn::ANY).kind(), Inet6Addr::Any);
    }

    #[test]
    fn sockaddr_un_decodes_and_reports_linux_lengths() {
        let path = [&[1u8, 0][..], b"/tmp/s\0junk"].concat();
        let addr = SunAddr::decode(&path).unwrap();
        assert_eq!(addr, SunAddr::Path(b"/tmp/s".to_vec()));
        assert_eq!(addr.to_bytes(), [&[1u8, 0][..], b"/tmp/s\0"].concat());
        // Without a NUL the path is all of it (Linux adds one).
        assert_eq!(SunAddr::decode(&[1, 0, b'a', b'b']).unwrap().to_bytes().len(), 5);
        let abs = SunAddr::decode(&[1, 0, 0, b'x', 0, b'y']).unwrap();
        assert_eq!(abs, SunAddr::Abstract(b"x\0y".to_vec()));
        assert_eq!(abs.to_bytes(), [1, 0, 0, b'x', 0, b'y']);
        assert_eq!(SunAddr::decode(&[1, 0]), Ok(SunAddr::Unnamed));
        assert_eq!(SunAddr::Unnamed.to_bytes(), SOCKADDR_UN_UNNAMED);
        assert_eq!(SunAddr::decode(&[1]), Err(Errno::EINVAL));
        assert_eq!(SunAddr::decode(&[2, 0, b'a']), Err(Errno::EINVAL));
        assert_eq!(SunAddr::decode(&[1u8; 111]), Err(Errno::EINVAL));
        assert_eq!(SunAddr::autobind(0x1f).to_bytes(), [1, 0, 0, b'0', b'0', b'0', b'1', b'f']);
        assert_eq!(SocketRequest::decode(1, 5, 0).unwrap().kind, SocketKind::UnixSeqpacket);
        assert_eq!(SocketRequest::decode(1, 5, 3), Err(Errno::EPROTONOSUPPORT));
    }

    #[test]
    fn sockaddr_in_round_trips_in_network_order() {
        let a = SockAddrIn { addr: [127, 0, 0, 1], port: 8080 };
        let bytes = a.to_bytes();
        assert_eq!(&bytes[..8], &[2, 0, 0x1f, 0x90, 127, 0, 0, 1]);
        assert_eq!(SockAddrIn::decode(&bytes), Ok(a));
        assert_eq!(SockAddrIn::decode(&bytes[..8]), Err(Errno::EINVAL));
        assert_eq!(SockAddrIn::decode(&[10, 0, 0, 0]), Err(Errno::EAFNOSUPPORT));
        assert_eq!(a.to_string(), "127.0.0.1:8080");
        assert!(a.is_loopback() && !a.is_any() && SockAddrIn::ANY.is_any());
    }

    #[test]
    fn layouts() {
        let mut raw = [0u8; MsgHdr::SIZE];
        raw[0] = 1;
        raw[8] = 16;
        raw[16] = 2;
        raw[24] = 3;
        raw[48] = 4;
        let m = MsgHdr::from_bytes(&raw);
        assert_eq!((m.name, m.namelen, m.iov, m.iovlen, m.flags), (1, 16, 2, 3, 4));
        let l = Linger { onoff: 1, linger: 5 };
        assert_eq!(Linger::from_bytes(&l.to_bytes()), l);
        let e = EpollEvent { events: EPOLLIN | EPOLLET, data: 0x1122_3344_5566_7788 };
        assert_eq!(EpollEvent::from_bytes(&e.to_bytes()), e);
        assert_eq!(option_int(&[1, 0, 0, 0]), Ok(1));
        assert_eq!(option_int(&[1]), Err(Errno::EINVAL));
    }

    #[test]
    fn destination_any_is_the_loopback_address() {
        let any = SockAddrIn { addr: [0; 4], port: 80 };
        assert_eq!(any.as_destination(), SockAddrIn { addr: [127, 0, 0, 1], port: 80 });
        let other = SockAddrIn { addr: [10, 0, 2, 15], port: 7 };
        assert_eq!(other.as_destination(), other);
    }
}
