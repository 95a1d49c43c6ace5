//! virtio on microvm: finding the virtio-mmio transports (24 slots of 512
//! bytes from 0xfeb00000, or 8 without a second I/O APIC) and the
//! `virtio_drivers::Hal` that gives devices DMA memory from the frame
//! allocator and physical addresses of kernel buffers.

use alloc::collections::BTreeMap;
use core::ptr::NonNull;

use paging::{PAGE_SIZE, PhysAddr, VirtAddr};
use spin::Mutex;
use virtio_drivers::transport::mmio::{MmioTransport, VirtIOHeader};
use virtio_drivers::transport::{DeviceType, Transport};
use virtio_drivers::{BufferDirection, Hal};

use super::paging::{phys_to_virt, translate_current};

const MMIO_PHYS: u64 = 0xfeb0_0000;
const SLOT_SIZE: u64 = 0x200;
/// Transports with a second I/O APIC (microvm's default with ACPI).
const SLOTS: u64 = 24;
const MAGIC: u32 = 0x7472_6976;
/// GSI of slot 0: 24 (second I/O APIC) or 5 (legacy layout of 8 slots).
const GSI_BASE_TWO_IOAPICS: u32 = 24;
const GSI_BASE_ONE_IOAPIC: u32 = 5;

/// A virtio device found on the bus: its transport and interrupt line.
pub struct Found {
    pub transport: MmioTransport<'static>,
    pub gsi: u32,
    pub slot: u64,
}

fn read_magic(base: u64) -> u32 {
    // SAFETY: `base` lies in the transport pages mapped uncached by `find`;
    // the magic register is a 32-bit register at offset 0.
    unsafe { (base as *const u32).read_volatile() }
}

/// The device ID register (offset 8) of the transport at `base`. Checked
/// before a transport is made: dropping a `MmioTransport` resets its
/// device, so one is made only for the device that will be kept.
fn read_device_id(base: u64) -> u32 {
    // SAFETY: as for `read_magic`; the device ID is the 32-bit register at
    // offset 8 of the same mapped slot.
    unsafe { ((base + 8) as *const u32).read_volatile() }
}

/// The first device of type `wanted`, if any.
pub fn find(wanted: DeviceType) -> Option<Found> {
    let pages = (SLOTS * SLOT_SIZE).div_ceil(PAGE_SIZE);
    let mut base = 0;
    for page in 0..pages {
        let virt = crate::mm::map_mmio(PhysAddr::new(MMIO_PHYS + page * PAGE_SIZE)).ok()?.as_u64();
        if page == 0 {
            base = virt;
        }
    }
    let present = |slot: u64| read_magic(base + slot * SLOT_SIZE) == MAGIC;
    let gsi_base = if present(SLOTS - 1) { GSI_BASE_TWO_IOAPICS } else { GSI_BASE_ONE_IOAPIC };
    for slot in (0..SLOTS).filter(|&s| present(s) && read_device_id(base + s * SLOT_SIZE) == wanted as u32) {
        let header = NonNull::new((base + slot * SLOT_SIZE) as *mut VirtIOHeader)?;
        // SAFETY: the header is a virtio-mmio register block (its magic was
        // checked) mapped uncached for the kernel's lifetime; each slot is
        // handed to at most one transport because the search stops at the
        // first match and runs once per device type.
        let Ok(transport) = (unsafe { MmioTransport::new(header, SLOT_SIZE as usize) }) else { continue };
        if transport.device_type() == wanted {
            return Some(Found { transport, gsi: gsi_base + slot as u32, slot });
        }
    }
    None
}

/// Every device of type `wanted`, in slot order.
pub fn find_all(wanted: DeviceType) -> alloc::vec::Vec<Found> {
    let mut found = alloc::vec::Vec::new();
    let pages = (SLOTS * SLOT_SIZE).div_ceil(PAGE_SIZE);
    let mut base = 0;
    for page in 0..pages {
        let Ok(virt) = crate::mm::map_mmio(PhysAddr::new(MMIO_PHYS + page * PAGE_SIZE)) else { return found };
        if page == 0 {
            base = virt.as_u64();
        }
    }
    let present = |slot: u64| read_magic(base + slot * SLOT_SIZE) == MAGIC;
    let gsi_base = if present(SLOTS - 1) { GSI_BASE_TWO_IOAPICS } else { GSI_BASE_ONE_IOAPIC };
    for slot in (0..SLOTS).filter(|&s| present(s) && read_device_id(base + s * SLOT_SIZE) == wanted as u32) {
        let Some(header) = NonNull::new((base + slot * SLOT_SIZE) as *mut VirtIOHeader) else { continue };
        // SAFETY: as in `find`; this runs once per device type, and each
        // slot of that type goes to exactly one transport.
        let Ok(transport) = (unsafe { MmioTransport::new(header, SLOT_SIZE as usize) }) else { continue };
        if transport.device_type() == wanted {
            found.push(Found { transport, gsi: gsi_base + slot as u32, slot });
        }
    }
    found
}

/// Descriptors of the 9p request queue (a request and its response take two).
const NINEP_QUEUE_SIZE: usize = 16;

/// A virtio-9p device (virtio spec 5.8): one request queue; each request
/// is one driver-written buffer and one device-written buffer for the
/// response. One request at a time, waited for by polling the used ring
/// (the file-system lock is held meanwhile, as for any file call).
pub struct NinePChannel {
    transport: MmioTransport<'static>,
    queue: virtio_drivers::queue::VirtQueue<KernelHal, NINEP_QUEUE_SIZE>,
    mount_tag: alloc::string::String,
    /// The device stopped answering once: every later request fails.
    dead: bool,
}

/// How long a 9P request may take before the device is given up on, in
/// TSC-independent poll rounds (about a minute under TCG).
const NINEP_MAX_POLLS: u64 = 1 << 32;

impl NinePChannel {
    pub fn new(mut transport: MmioTransport<'static>) -> Result<NinePChannel, virtio_drivers::Error> {
        use virtio_drivers::device::common::Feature;
        let features = transport.begin_init(Feature::RING_EVENT_IDX | Feature::VERSION_1);
        let queue = virtio_drivers::queue::VirtQueue::new(&mut transport, 0, false, features.contains(Feature::RING_EVENT_IDX))?;
        transport.finish_init();
        let tag_len: u16 = transport.read_config_space(0)?;
        let mut tag = alloc::vec::Vec::with_capacity(usize::from(tag_len));
        for i in 0..usize::from(tag_len) {
            tag.push(transport.read_config_space::<u8>(2 + i)?);
        }
        let mount_tag = alloc::string::String::from_utf8(tag).map_err(|_| virtio_drivers::Error::InvalidParam)?;
        Ok(NinePChannel { transport, queue, mount_tag, dead: false })
    }

    /// The tag QEMU's `mount_tag=` gave the device.
    pub fn mount_tag(&self) -> &str {
        &self.mount_tag
    }
}

impl ninep::Transport for NinePChannel {
    fn exchange(&mut self, request: &[u8], response: &mut [u8]) -> Result<usize, syscall::Errno> {
        if self.dead || request.is_empty() || response.len() < 7 {
            return Err(syscall::Errno::EIO);
        }
        let inputs = [request];
        let mut outputs = [&mut *response];
        // SAFETY: the buffers stay borrowed, untouched, until pop_used below
        // returns them; if the device never answers, they belong to the
        // session, which outlives this channel's use and never reads them
        // again.
        let token = unsafe { self.queue.add(&inputs, &mut outputs) }.map_err(|_| syscall::Errno::EIO)?;
        if self.queue.should_notify() {
            self.transport.notify(0);
        }
        let mut polls = 0u64;
        while !self.queue.can_pop() {
            core::hint::spin_loop();
            polls += 1;
            if polls & ((1 << 26) - 1) == 0 {
                log::warn!("virtio-9p: still waiting, {polls} polls, status {:?}", self.transport.get_status());
            }
            if polls >= NINEP_MAX_POLLS {
                log::warn!("virtio-9p: the device did not answer; the volume is lost");
                // The device may still write the response buffer: it is
                // the session's own, which lives as long as the mount and
                // is never read again (every later request fails here).
                self.dead = true;
                return Err(syscall::Errno::EIO);
            }
        }
        // SAFETY: the same buffers as given to `add` with this token.
        let used = unsafe { self.queue.pop_used(token, &inputs, &mut outputs) }.map_err(|_| syscall::Errno::EIO)?;
        let _ = self.transport.ack_interrupt();
        let len = used as usize;
        let size = response.get(..4).map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
        if size != len || len > response.len() {
            log::warn!("virtio-9p: response of {len} bytes says it has {size}");
            return Err(syscall::Errno::EIO);
        }
        Ok(len)
    }
}

/// Bounce buffers handed out by `share` for buffers that are not physically
/// contiguous: physical address -> pages.
static BOUNCES: Mutex<BTreeMap<u64, usize>> = Mutex::new(BTreeMap::new());

/// The physical address of `[virt, virt + len)` if it is contiguous.
fn contiguous_phys(virt: u64, len: usize) -> Option<PhysAddr> {
    let start = translate_current(VirtAddr::new(virt))?.phys.as_u64();
    let mut page = virt & !(PAGE_SIZE - 1);
    while page + PAGE_SIZE < virt + len as u64 {
        page += PAGE_SIZE;
        let phys = translate_current(VirtAddr::new(page))?.phys.as_u64();
        if phys != start + (page - virt) {
            return None;
        }
    }
    Some(PhysAddr::new(start))
}

/// The kernel's DMA glue for virtio-drivers.
pub struct KernelHal;

// SAFETY: dma_alloc returns zeroed, page-aligned, physically contiguous frames
// that nobody else uses until dma_dealloc; share returns the physical address
// of exactly the given bytes (or of a bounce copy kept until unshare).
unsafe impl Hal for KernelHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (virtio_drivers::PhysAddr, NonNull<u8>) {
        let phys = crate::mm::frame::with_global(|a| a.allocate_contiguous(pages, 1)).expect("out of memory for virtio DMA");
        for i in 0..pages as u64 {
            super::paging::zero_frame(PhysAddr::new(phys.as_u64() + i * PAGE_SIZE));
        }
        let virt = phys_to_virt(phys).as_u64() as *mut u8;
        (phys.as_u64(), NonNull::new(virt).expect("the direct map is not at 0"))
    }

    unsafe fn dma_dealloc(paddr: virtio_drivers::PhysAddr, _vaddr: NonNull<u8>, pages: usize) -> i32 {
        for i in 0..pages as u64 {
            crate::mm::frame::free(PhysAddr::new(paddr + i * PAGE_SIZE));
        }
        0
    }

    unsafe fn mmio_phys_to_virt(paddr: virtio_drivers::PhysAddr, _size: usize) -> NonNull<u8> {
        let virt = crate::mm::map_mmio(PhysAddr::new(paddr & !(PAGE_SIZE - 1))).expect("cannot map device memory");
        NonNull::new((virt.as_u64() + (paddr & (PAGE_SIZE - 1))) as *mut u8).expect("mapped at 0")
    }

    unsafe fn share(buffer: NonNull<[u8]>, direction: BufferDirection) -> virtio_drivers::PhysAddr {
        let virt = buffer.as_ptr() as *mut u8 as u64;
        let len = buffer.len();
        if let Some(phys) = contiguous_phys(virt, len) {
            return phys.as_u64();
        }
        let pages = len.div_ceil(PAGE_SIZE as usize);
        let (phys, bounce) = Self::dma_alloc(pages, direction);
        if direction != BufferDirection::DeviceToDriver {
            // SAFETY: the caller promises `buffer` is valid for reads of `len`
            // bytes; `bounce` is a fresh allocation of at least `len` bytes.
            unsafe { core::ptr::copy_nonoverlapping(virt as *const u8, bounce.as_ptr(), len) };
        }
        BOUNCES.lock().insert(phys, pages);
        phys
    }

    unsafe fn unshare(paddr: virtio_drivers::PhysAddr, buffer: NonNull<[u8]>, direction: BufferDirection) {
        let Some(pages) = BOUNCES.lock().remove(&paddr) else { return };
        if direction != BufferDirection::DriverToDevice {
            let bounce = phys_to_virt(PhysAddr::new(paddr)).as_u64() as *const u8;
            // SAFETY: the caller promises `buffer` is valid for writes; the
            // bounce copy holds at least `buffer.len()` bytes.
            unsafe { core::ptr::copy_nonoverlapping(bounce, buffer.as_ptr() as *mut u8, buffer.len()) };
        }
        for i in 0..pages as u64 {
            crate::mm::frame::free(PhysAddr::new(paddr + i * PAGE_SIZE));
        }
    }
}

/// Descriptors per virtio-net queue.
pub const NET_QUEUE_SIZE: usize = 64;
/// Receive buffer size: a full Ethernet frame plus the virtio header.
const NET_BUFFER_LEN: usize = 2048;

type NetRaw = virtio_drivers::device::net::VirtIONetRaw<KernelHal, MmioTransport<'static>, NET_QUEUE_SIZE>;

/// A virtio-net device with its buffers: every receive buffer stays queued
/// (handed back as soon as its frame is copied out), and frames are sent
/// without waiting: a sent buffer is kept until the device has used it.
pub struct Nic {
    raw: NetRaw,
    /// Receive buffers by descriptor token.
    rx: alloc::vec::Vec<Option<alloc::boxed::Box<[u8]>>>,
    /// Buffers the device is sending, by token.
    tx: alloc::vec::Vec<Option<alloc::boxed::Box<[u8]>>>,
}

impl Nic {
    pub fn new(transport: MmioTransport<'static>) -> Result<Nic, virtio_drivers::Error> {
        let mut nic = Nic {
            raw: NetRaw::new(transport)?,
            rx: (0..NET_QUEUE_SIZE).map(|_| None).collect(),
            tx: (0..NET_QUEUE_SIZE).map(|_| None).collect(),
        };
        for _ in 0..NET_QUEUE_SIZE {
            nic.queue_receive_buffer(alloc::vec![0u8; NET_BUFFER_LEN].into_boxed_slice())?;
        }
        Ok(nic)
    }

    fn queue_receive_buffer(&mut self, mut buffer: alloc::boxed::Box<[u8]>) -> Result<(), virtio_drivers::Error> {
        // SAFETY: the buffer is heap memory owned by `self.rx` from now until
        // `receive_complete` returns it; nothing else touches it meanwhile, and
        // moving the Box does not move the bytes the device writes.
        let token = unsafe { self.raw.receive_begin(&mut buffer)? };
        self.rx[usize::from(token)] = Some(buffer);
        Ok(())
    }

    /// The next received frame, if any.
    pub fn receive(&mut self) -> Option<alloc::vec::Vec<u8>> {
        let token = self.raw.poll_receive()?;
        let mut buffer = self.rx.get_mut(usize::from(token))?.take()?;
        // SAFETY: `buffer` is the one queued under `token` by queue_receive_buffer.
        let done = unsafe { self.raw.receive_complete(token, &mut buffer) };
        let frame = done.ok().map(|(header, len)| buffer[header..header + len].to_vec());
        if let Err(e) = self.queue_receive_buffer(buffer) {
            log::warn!("virtio-net: cannot queue a receive buffer again: {e:?}");
        }
        frame
    }

    /// Takes back the buffers of frames the device has sent.
    fn reclaim(&mut self) {
        while let Some(token) = self.raw.poll_transmit() {
            let Some(buffer) = self.tx.get_mut(usize::from(token)).and_then(Option::take) else { break };
            // SAFETY: `buffer` is the one passed to transmit_begin under `token`.
            let _ = unsafe { self.raw.transmit_complete(token, &buffer) };
        }
    }

    /// Whether a frame can be queued now.
    pub fn can_send(&mut self) -> bool {
        self.reclaim();
        self.raw.can_send()
    }

    /// Queues a frame of `len` bytes that `fill` writes.
    pub fn send<R>(&mut self, len: usize, fill: impl FnOnce(&mut [u8]) -> R) -> R {
        let mut buffer = alloc::vec![0u8; len + 12].into_boxed_slice();
        let header = self.raw.fill_buffer_header(&mut buffer).unwrap_or(0);
        let result = fill(&mut buffer[header..header + len]);
        let frame = &buffer[..header + len];
        // SAFETY: the buffer is kept in `self.tx` until the device has used it
        // (reclaim); it is not written meanwhile.
        match unsafe { self.raw.transmit_begin(frame) } {
            Ok(token) => self.tx[usize::from(token)] = Some(buffer),
            Err(e) => log::warn!("virtio-net: cannot send a frame: {e:?}"),
        }
        result
    }

    pub fn ack_interrupt(&mut self) {
        self.raw.ack_interrupt();
    }

    pub fn enable_interrupts(&mut self) {
        self.raw.enable_interrupts();
    }

    pub fn mac_address(&self) -> [u8; 6] {
        self.raw.mac_address()
    }
}
