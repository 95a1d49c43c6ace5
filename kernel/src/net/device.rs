//! The devices smoltcp drives: virtio-net ([`Nic`]) for eth0 and a queue
//! of IP packets for lo, both with the SYN filter of full listeners.

use alloc::collections::{BTreeSet, VecDeque};
use alloc::vec::Vec;

use process::ports::{syn_destination, syn_destination_in_frame};
use smoltcp::phy::{self, Checksum, ChecksumCapabilities, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use virtio_drivers::transport::mmio::MmioTransport;

use crate::arch::virtio::{NET_QUEUE_SIZE, Nic};

/// Ethernet MTU plus its 14-byte header.
const FRAME_MAX: usize = 1514;

pub struct VirtioDevice {
    pub nic: Nic,
    /// Ports whose listeners' accept queues are full: new connections to
    /// them are dropped (the client retries), as on Linux.
    pub refuse_syn_to: BTreeSet<u16>,
    /// A SYN went to the stack since the flag was last taken.
    pub syn_passed: bool,
    /// Frames received and sent, for the exit report.
    pub received: u64,
    pub sent: u64,
}

impl VirtioDevice {
    pub fn new(transport: MmioTransport<'static>) -> Result<VirtioDevice, virtio_drivers::Error> {
        Ok(VirtioDevice { nic: Nic::new(transport)?, refuse_syn_to: BTreeSet::new(), syn_passed: false, received: 0, sent: 0 })
    }
}

pub struct RxToken(Vec<u8>);

pub struct TxToken<'a>(&'a mut VirtioDevice);

impl phy::RxToken for RxToken {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        self.0.sent += 1;
        self.0.nic.send(len, f)
    }
}

impl phy::Device for VirtioDevice {
    type RxToken<'a> = RxToken;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(RxToken, TxToken<'_>)> {
        loop {
            let frame = self.nic.receive()?;
            self.received += 1;
            if let Some(port) = syn_destination_in_frame(&frame) {
                if self.refuse_syn_to.contains(&port) {
                    continue;
                }
                self.syn_passed = true;
            }
            return Some((RxToken(frame), TxToken(self)));
        }
    }

    fn transmit(&mut self, _now: Instant) -> Option<TxToken<'_>> {
        self.nic.can_send().then_some(TxToken(self))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = FRAME_MAX;
        caps.max_burst_size = Some(NET_QUEUE_SIZE / 2);
        // Checksums are computed on every frame sent. Received ones are
        // not verified: without VIRTIO_NET_F_GUEST_CSUM the device hands
        // over only frames whose checksums it vouches for.
        let mut checksum = ChecksumCapabilities::default();
        checksum.ipv4 = Checksum::Tx;
        checksum.tcp = Checksum::Tx;
        checksum.udp = Checksum::Tx;
        checksum.icmpv4 = Checksum::Tx;
        caps.checksum = checksum;
        caps
    }
}

/// `lo`: IP packets sent are received next, in order.
#[derive(Default)]
pub struct LoopbackDevice {
    queue: VecDeque<Vec<u8>>,
    /// As for [`VirtioDevice::refuse_syn_to`] and `syn_passed`.
    pub refuse_syn_to: BTreeSet<u16>,
    pub syn_passed: bool,
}

impl LoopbackDevice {
    /// Nothing sent is waiting to be received.
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty()
    }
}

/// Largest packet on lo (Linux uses 65536).
const LOOPBACK_MTU: usize = 65_535;

pub struct LoopbackTx<'a>(&'a mut VecDeque<Vec<u8>>);

impl phy::TxToken for LoopbackTx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut packet = alloc::vec![0u8; len];
        let result = f(&mut packet);
        self.0.push_back(packet);
        result
    }
}

impl phy::Device for LoopbackDevice {
    type RxToken<'a> = RxToken;
    type TxToken<'a> = LoopbackTx<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(RxToken, LoopbackTx<'_>)> {
        loop {
            let packet = self.queue.pop_front()?;
            if let Some(port) = syn_destination(&packet) {
                if self.refuse_syn_to.contains(&port) {
                    continue;
                }
                self.syn_passed = true;
            }
            return Some((RxToken(packet), LoopbackTx(&mut self.queue)));
        }
    }

    fn transmit(&mut self, _now: Instant) -> Option<LoopbackTx<'_>> {
        Some(LoopbackTx(&mut self.queue))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = LOOPBACK_MTU;
        // Nothing can corrupt a packet on its way from memory to memory (Linux
        // skips loopback checksums too).
        caps.checksum = ChecksumCapabilities::ignored();
        caps
    }
}
