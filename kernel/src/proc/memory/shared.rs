//! A process's MAP_SHARED regions: mapping a shared object's frames with
//! the object's key (never copied on write), its membership of the objects
//! it maps (the shared keys its PKRU opens), and leaving an object once
//! nothing of it is mapped any more. The objects themselves are
//! `mm::shared`'s; the bookkeeping is `pkru::shared`'s.

use alloc::vec::Vec;

use paging::{Attributes, PAGE_SIZE, PageSize, VirtAddr};
use pkru::Key;
use pkru::shared::{Membership, ObjectId};
use syscall::Errno;

use super::{Fault, FileBacking, Memory, Prot, Region, RegionKind, USER_END, accessible_pages, page_down};
use crate::mm::{frame, shared};

/// What a region maps of a shared object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SharedRef {
    pub object: ObjectId,
    /// The object's key: its pages carry it in every member's tables.
    pub key: Key,
    /// The object's page at the region's start (the file's page for a file).
    pub first_page: u64,
    /// Whether the mapping may ever be writable (a file opened for
    /// writing, or anonymous memory): mprotect(PROT_WRITE) is EACCES otherwise.
    pub may_write: bool,
}

impl SharedRef {
    /// The same mapping `bytes` further on (a slice of the region).
    pub fn advanced(self, bytes: u64) -> SharedRef {
        SharedRef { first_page: self.first_page + bytes / PAGE_SIZE, ..self }
    }
}

fn shared_attrs(prot: Prot, key: Key) -> Attributes {
    Attributes { writable: prot.write, executable: false, user: true, global: false, no_cache: false, key }
}

impl Memory {
    /// Records `[start, end)` (page aligned, free) as a mapping of the
    /// shared object `object` (joined for this mapping by the caller, with
    /// one member more: given back here when this address space was a
    /// member already, or on failure). Pages are mapped on first touch.
    pub fn map_shared(
        &mut self,
        start: u64,
        end: u64,
        prot: Prot,
        file: Option<FileBacking>,
        object: SharedRef,
    ) -> Result<(), Errno> {
        let out_of_range = start >= end || end > USER_END || start < PAGE_SIZE;
        let checked = if out_of_range || accessible_pages(prot, end - start) > frame::user_available() as u64 {
            Err(Errno::ENOMEM)
        } else {
            self.check_growth(end - start)
        };
        if let Err(error) = checked {
            shared::leave(object.object);
            return Err(error);
        }
        // The file is held while mapped, as a private mapping holds it: once
        // its last name and descriptor are gone (sem_open's file after
        // sem_unlink), its size and bytes must outlive them.
        if let Some(backing) = &file {
            self.hold_file(backing.id);
        }
        self.regions.insert(start, Region { start, end, prot, kind: RegionKind::Mapping, file, shared: Some(object) });
        if !self.membership.add(object.object, object.key) {
            // One membership per address space, however many regions.
            shared::leave(object.object);
        }
        Ok(())
    }

    /// The first touch of a page of a shared region: the object's frame
    /// for it (made now if no member touched it yet), mapped with the
    /// object's key.
    pub(super) fn demand_shared(&mut self, addr: u64, region: &Region, object: SharedRef) -> Fault {
        let page = page_down(addr);
        let index = object.first_page + (page - region.start) / PAGE_SIZE;
        let frame = match shared::frame(object.object, index) {
            Ok(frame) => frame,
            Err(shared::PageError::NoMemory) => return Fault::NoMemory,
            Err(shared::PageError::PastEnd) => return Fault::PastEnd,
        };
        match self.space.map(VirtAddr::new(page), frame, PageSize::Size4K, shared_attrs(region.prot, object.key)) {
            Ok(()) => {
                self.frames += 1;
                self.peak_frames = self.peak_frames.max(self.frames);
                Fault::Served
            }
            Err(paging::MapError::AlreadyMapped) => {
                frame::release(frame);
                Fault::Served
            }
            Err(_) => {
                frame::release(frame);
                Fault::NoMemory
            }
        }
    }

    /// A write to a present, read-only page of a writable shared region
    /// (mapped before an mprotect gave it the right): the page is made
    /// writable in place, never copied.
    pub(super) fn write_fault_shared(&mut self, addr: u64, region: &Region, object: SharedRef) -> Fault {
        let page = VirtAddr::new(page_down(addr));
        match self.space.protect(page, shared_attrs(region.prot, object.key)) {
            Ok(_) => {
                self.space.flush_page(page);
                Fault::Served
            }
            Err(_) => Fault::Refused,
        }
    }

    /// mprotect's rights for the shared pages of `[start, end)`.
    pub(super) fn protect_shared(&mut self, start: u64, end: u64, prot: Prot, object: SharedRef) -> Result<(), Errno> {
        let attrs = shared_attrs(prot, object.key);
        self.space.protect_present(start, end, |_| attrs).map_err(|_| Errno::ENOMEM)?;
        Ok(())
    }

    /// Linux's EACCES for mprotect of a shared mapping: writable when the
    /// file was not opened for writing. Executable shared memory is refused
    /// too: its bytes could change (a write through another mapping, or
    /// to the file) after the WRPKRU scan (docs/shared-memory.md).
    pub(super) fn check_shared_protect(&self, start: u64, end: u64, prot: Prot) -> Result<(), Errno> {
        if !(prot.write || prot.exec) || self.membership.is_empty() {
            return Ok(());
        }
        let refused = self
            .regions_in(start, end)
            .filter_map(|r| r.shared)
            .any(|s| prot.exec || (prot.write && !s.may_write));
        if refused { Err(Errno::EACCES) } else { Ok(()) }
    }

    /// The child's memberships at fork: the parent's, each object with one
    /// member more.
    pub(super) fn fork_membership(&self) -> Membership {
        for (object, _) in self.membership.iter() {
            shared::join(object);
        }
        self.membership.clone()
    }

    /// Leaves those of `objects` (whose regions were just unmapped) of
    /// which nothing is mapped here any more: a file object's pages are
    /// written back to the file, the last member frees them. One walk of
    /// the regions per object unmapped, none when none was shared.
    pub(super) fn leave_unmapped_objects(&mut self, objects: &mut Vec<ObjectId>) {
        objects.sort_unstable();
        objects.dedup();
        let regions = &self.regions;
        let gone = self.membership.retain(|id| {
            objects.binary_search(&id).is_err() || regions.values().any(|r| r.shared.is_some_and(|s| s.object == id))
        });
        for object in gone {
            shared::leave(object);
            crate::sysv::detached(object);
        }
    }

    /// Leaves every object (the regions are gone: exit, exec).
    pub(super) fn leave_all_objects(&mut self) {
        for object in self.membership.take() {
            shared::leave(object);
            crate::sysv::detached(object);
        }
    }

    /// msync and munmap: writes the pages of shared file mappings in
    /// `[start, end)` back to their files.
    pub fn write_back(&self, start: u64, end: u64) {
        if self.membership.is_empty() {
            return;
        }
        for region in self.regions_in(start, end) {
            if let (Some(object), Some(_)) = (region.shared, region.file) {
                let (s, e) = (region.start.max(start), region.end.min(end));
                let first = object.first_page + (s - region.start) / PAGE_SIZE;
                shared::write_back(object.object, first, first + (e - s) / PAGE_SIZE);
            }
        }
    }

    /// The regions overlapping `[start, end)`, found from `start` on (not
    /// from the lowest region: munmap and mprotect stay quick with many).
    fn regions_in(&self, start: u64, end: u64) -> impl Iterator<Item = &Region> {
        let from = self.region_at(start).map_or(start, |r| r.start);
        self.regions.range(from..end.max(from)).map(|(_, r)| r).filter(move |r| r.end > start)
    }

    /// The key of the futex word at `addr` when it lies in shared memory
    /// (the word's physical address: the same in every member, for as
    /// long as any maps it); `None` for private memory. EFAULT as a read.
    pub fn shared_word_key(&mut self, addr: u64) -> Result<Option<u64>, Errno> {
        if self.region_at(addr).is_none_or(|r| r.shared.is_none()) {
            return Ok(None);
        }
        self.resolve(addr, false).map(|phys| Some(phys.as_u64()))
    }
}
