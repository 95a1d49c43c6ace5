//! Which local ports are bound, with Linux's rules for `bind` conflicts
//! (two sockets of one protocol may share a port only when their addresses
//! do not overlap or both set SO_REUSEPORT) and for choosing an ephemeral
//! port (`ip_local_port_range`, 32768..=60999). An IPv6 socket bound to
//! `[::]` covers IPv4 as well unless it set IPV6_V6ONLY; one bound to a
//! v4-mapped address is an IPv4 binding.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use syscall::Errno;

/// First and last ephemeral port, as Linux's default `ip_local_port_range`.
pub const EPHEMERAL: core::ops::RangeInclusive<u16> = 32768..=60999;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Proto {
    Tcp,
    Udp,
}

/// Which address families a binding takes its port in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Families {
    /// An IPv4 socket, or an IPv6 one bound to a v4-mapped address.
    Ipv4,
    /// An IPv6 socket with IPV6_V6ONLY bound to `[::]`.
    Ipv6,
    /// An IPv6 socket without IPV6_V6ONLY bound to `[::]` (dual stack).
    Both,
}

impl Families {
    fn ipv4(self) -> bool {
        self != Families::Ipv6
    }

    fn ipv6(self) -> bool {
        self != Families::Ipv4
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Binding {
    owner: u64,
    addr: [u8; 4],
    families: Families,
    reuse_port: bool,
}

/// The bound ports of one network stack.
#[derive(Debug, Default)]
pub struct PortTable {
    bound: BTreeMap<(Proto, u16), Vec<Binding>>,
    next_ephemeral: u16,
}

impl PortTable {
    pub fn new() -> Self {
        PortTable { bound: BTreeMap::new(), next_ephemeral: *EPHEMERAL.start() }
    }

    fn conflicts(&self, proto: Proto, port: u16, new: Binding) -> bool {
        self.bound.get(&(proto, port)).is_some_and(|list| {
            list.iter().any(|b| {
                let v4 = b.families.ipv4()
                    && new.families.ipv4()
                    && (b.addr == new.addr || b.addr == [0; 4] || new.addr == [0; 4]);
                let v6 = b.families.ipv6() && new.families.ipv6();
                (v4 || v6) && !(b.reuse_port && new.reuse_port)
            })
        })
    }

    /// Binds `owner` to the IPv4 `addr:port` (port 0: an ephemeral one) and returns the port.
    pub fn bind(&mut self, proto: Proto, addr: [u8; 4], port: u16, owner: u64, reuse_port: bool) -> Result<u16, Errno> {
        self.bind_families(proto, addr, Families::Ipv4, port, owner, reuse_port)
    }

    /// As `bind`, in the address families given (`addr` is 0.0.0.0 for
    /// the IPv6 and dual-stack wildcards).
    pub fn bind_families(
        &mut self,
        proto: Proto,
        addr: [u8; 4],
        families: Families,
        port: u16,
        owner: u64,
        reuse_port: bool,
    ) -> Result<u16, Errno> {
        let new = Binding { owner, addr, families, reuse_port };
        let port = if port == 0 {
            let span = EPHEMERAL.end() - EPHEMERAL.start() + 1;
            let start = self.next_ephemeral;
            let found = (0..span)
                .map(|i| EPHEMERAL.start() + (start - EPHEMERAL.start() + i) % span)
                .find(|&p| !self.bound.contains_key(&(proto, p)))
                .ok_or(Errno::EADDRINUSE)?;
            self.next_ephemeral = if found == *EPHEMERAL.end() { *EPHEMERAL.start() } else { found + 1 };
            found
        } else {
            if self.conflicts(proto, port, new) {
                return Err(Errno::EADDRINUSE);
            }
            port
        };
        self.bound.entry((proto, port)).or_default().push(new);
        Ok(port)
    }

    /// Frees what `owner` bound on `port`.
    pub fn release(&mut self, proto: Proto, port: u16, owner: u64) {
        if let Some(list) = self.bound.get_mut(&(proto, port)) {
            list.retain(|b| b.owner != owner);
            if list.is_empty() {
                self.bound.remove(&(proto, port));
            }
        }
    }

    pub fn is_bound(&self, proto: Proto, port: u16) -> bool {
        self.bound.contains_key(&(proto, port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANY: [u8; 4] = [0; 4];
    const LO: [u8; 4] = [127, 0, 0, 1];

    #[test]
    fn overlapping_binds_conflict_unless_both_reuse_the_port() {
        let mut t = PortTable::new();
        assert_eq!(t.bind(Proto::Tcp, ANY, 80, 1, false), Ok(80));
        assert_eq!(t.bind(Proto::Tcp, LO, 80, 2, false), Err(Errno::EADDRINUSE));
        assert_eq!(t.bind(Proto::Udp, ANY, 80, 3, false), Ok(80));
        t.release(Proto::Tcp, 80, 1);
        assert!(!t.is_bound(Proto::Tcp, 80));
        assert_eq!(t.bind(Proto::Tcp, LO, 80, 4, true), Ok(80));
        assert_eq!(t.bind(Proto::Tcp, [10, 0, 2, 15], 80, 5, false), Ok(80));
        assert_eq!(t.bind(Proto::Tcp, LO, 80, 6, true), Ok(80));
        assert_eq!(t.bind(Proto::Tcp, LO, 80, 7, false), Err(Errno::EADDRINUSE));
    }

    #[test]
    fn ipv6_only_and_dual_stack_wildcards_share_ports_as_on_linux() {
        let mut t = PortTable::new();
        // nginx's pair: 0.0.0.0:80 and [::]:80 with IPV6_V6ONLY.
        assert_eq!(t.bind(Proto::Tcp, ANY, 80, 1, false), Ok(80));
        assert_eq!(t.bind_families(Proto::Tcp, ANY, Families::Ipv6, 80, 2, false), Ok(80));
        assert_eq!(t.bind_families(Proto::Tcp, ANY, Families::Ipv6, 80, 3, false), Err(Errno::EADDRINUSE));
        // A dual-stack [::]:80 takes IPv4's port too.
        assert_eq!(t.bind_families(Proto::Tcp, ANY, Families::Both, 80, 4, false), Err(Errno::EADDRINUSE));
        t.release(Proto::Tcp, 80, 2);
        assert_eq!(t.bind_families(Proto::Tcp, ANY, Families::Both, 80, 5, false), Err(Errno::EADDRINUSE));
        t.release(Proto::Tcp, 80, 1);
        assert_eq!(t.bind_families(Proto::Tcp, ANY, Families::Both, 80, 6, false), Ok(80));
        assert_eq!(t.bind(Proto::Tcp, LO, 80, 7, false), Err(Errno::EADDRINUSE));
        assert_eq!(t.bind_families(Proto::Tcp, ANY, Families::Ipv6, 80, 8, false), Err(Errno::EADDRINUSE));
        // Both sides with SO_REUSEPORT share it.
        assert_eq!(t.bind_families(Proto::Tcp, ANY, Families::Both, 81, 9, true), Ok(81));
        assert_eq!(t.bind(Proto::Tcp, ANY, 81, 10, true), Ok(81));
    }

    #[test]
    fn ephemeral_ports_rotate_and_skip_bound_ones() {
        let mut t = PortTable::new();
        assert_eq!(t.bind(Proto::Tcp, ANY, 32769, 1, false), Ok(32769));
        assert_eq!(t.bind(Proto::Tcp, ANY, 0, 2, false), Ok(32768));
        assert_eq!(t.bind(Proto::Tcp, ANY, 0, 3, false), Ok(32770));
        t.next_ephemeral = 60999;
        assert_eq!(t.bind(Proto::Tcp, ANY, 0, 4, false), Ok(60999));
        assert_eq!(t.bind(Proto::Tcp, ANY, 0, 5, false), Ok(32771));
    }
}

/// The destination port of an IPv4 packet that opens a TCP connection (SYN
/// without ACK), if it is one: the stack drops such packets for a listener
/// whose accept queue is full, as Linux does, instead of resetting them.
pub fn syn_destination(packet: &[u8]) -> Option<u16> {
    let (&version_ihl, _) = packet.split_first()?;
    if version_ihl >> 4 != 4 || *packet.get(9)? != 6 {
        return None;
    }
    let tcp = packet.get(usize::from(version_ihl & 0xf) * 4..)?;
    let flags = *tcp.get(13)?;
    let (syn, ack) = (flags & 0x02 != 0, flags & 0x10 != 0);
    (syn && !ack).then(|| u16::from_be_bytes([tcp[2], tcp[3]]))
}

/// The same for an Ethernet frame carrying IPv4.
pub fn syn_destination_in_frame(frame: &[u8]) -> Option<u16> {
    if frame.get(12..14)? != [0x08, 0x00] {
        return None;
    }
    syn_destination(&frame[14..])
}

#[cfg(test)]
mod syn_tests {
    use super::*;

    fn packet(flags: u8) -> alloc::vec::Vec<u8> {
        let mut p = alloc::vec![0u8; 40];
        p[0] = 0x45;
        p[9] = 6;
        p[20..22].copy_from_slice(&40000u16.to_be_bytes());
        p[22..24].copy_from_slice(&80u16.to_be_bytes());
        p[33] = flags;
        p
    }

    #[test]
    fn only_a_bare_syn_counts() {
        assert_eq!(syn_destination(&packet(0x02)), Some(80));
        assert_eq!(syn_destination(&packet(0x12)), None);
        assert_eq!(syn_destination(&packet(0x10)), None);
        let mut udp = packet(0x02);
        udp[9] = 17;
        assert_eq!(syn_destination(&udp), None);
        assert_eq!(syn_destination(&packet(0x02)[..30]), None);
        let mut frame = alloc::vec![0u8; 14];
        frame[12] = 0x08;
        frame.extend_from_slice(&packet(0x02));
        assert_eq!(syn_destination_in_frame(&frame), Some(80));
        frame[13] = 0x06;
        assert_eq!(syn_destination_in_frame(&frame), None);
    }
}
