//! Which local ports are bound, with Linux's rules for `bind` conflicts
//! (two sockets of one protocol may share a port only when their addresses
//! do not overlap or both set SO_REUSEPORT) and for choosing an ephemeral
//! port (`ip_local_port_range`, 32768..=60999).

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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Binding {
    owner: u64,
    addr: [u8; 4],
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

    fn conflicts(&self, proto: Proto, port: u16, addr: [u8; 4], reuse_port: bool) -> bool {
        self.bound.get(&(proto, port)).is_some_and(|list| {
            list.iter().any(|b| {
                let overlap = b.addr == addr || b.addr == [0; 4] || addr == [0; 4];
                overlap && !(b.reuse_port && reuse_port)
            })
        })
    }

    /// Binds `owner` to `addr:port` (port 0: an ephemeral one) and returns the port.
    pub fn bind(&mut self, proto: Proto, addr: [u8; 4], port: u16, owner: u64, reuse_port: bool) -> Result<u16, Errno> {
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
            if self.conflicts(proto, port, addr, reuse_port) {
                return Err(Errno::EADDRINUSE);
            }
            port
        };
        self.bound.entry((proto, port)).or_default().push(Binding { owner, addr, reuse_port });
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
