//! Protection keys and PKRU values (x86 MPK, "protection keys for user pages").
//!
//! This crate owns everything Isola knows about the 16 protection keys:
//! - [`Key`] and [`KeySet`]: a key (PTE bits 62:59) and a set of keys;
//! - [`Pkru`]: the value of the per-CPU PKRU register, with an access-disable
//!   (AD) and a write-disable (WD) bit per key, and the PKRU a process runs
//!   with ([`Pkru::for_process`]);
//! - [`KeyAllocator`]: which domain holds which key, and key reuse across
//!   address spaces when all 14 domain keys are taken (DESIGN.md, "Key
//!   allocation"); the keys of shared domains, never a process's own;
//! - [`shared`]: the shared objects (MAP_SHARED memory) — their keys, their
//!   pages, their members — and the shared keys a process's PKRU opens;
//! - [`scan`]: the WRPKRU scanner run over every executable segment at load;
//! - [`rewrite`]: the rewriter of unintended WRPKRU (bytes `0F 01 EF` formed
//!   by other instructions) into equivalent same-length encodings;
//! - `gate` (x86-64 only): the only place in Isola where the `wrpkru` and
//!   `rdpkru` instructions live, and the only module of this crate allowed to
//!   use `unsafe`.
//!
//! Key 0 is the kernel domain, keys 1..=14 are process and shared domains, key
//! 15 is the kernel-published page that every process may read but not write
//! (it holds the PKRU each CPU is meant to run; the exit gate compares
//! against it, see GATE.md).
//!
//! Neighbours: `paging` puts keys into page-table entries; the kernel's
//! `arch` entry code and process switch use [`Pkru`] values and the gate.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]

use core::fmt;

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
pub mod gate;
pub mod rewrite;
pub mod scan;
pub mod shared;

extern crate alloc;

/// Number of protection keys the hardware has.
pub const KEY_COUNT: usize = 16;

/// One of the 16 x86 protection keys (0..=15).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Key(u8);

impl Key {
    /// Key 0: the kernel domain.
    pub const KERNEL: Key = Key(0);
    /// Key 15: the kernel-published page, read-only to every process.
    pub const PUBLISHED: Key = Key(15);
    /// Key 14: kept for shared domains, never a process's own, so that
    /// shared memory always has a key (docs/shared-memory.md).
    pub const SHARED_RESERVED: Key = Key(14);
    /// The lowest key available to process and shared domains.
    pub const FIRST_DOMAIN: Key = Key(1);
    /// The highest key available to process and shared domains.
    pub const LAST_DOMAIN: Key = Key(14);

    /// The key with this index, or `None` if `index > 15`.
    pub const fn new(index: u8) -> Option<Key> {
        if index < KEY_COUNT as u8 {
            Some(Key(index))
        } else {
            None
        }
    }

    /// The key's index, 0..=15.
    pub const fn index(self) -> u8 {
        self.0
    }

    /// Whether the key may belong to a process or shared domain (1..=14).
    pub const fn is_domain_key(self) -> bool {
        self.0 >= Self::FIRST_DOMAIN.0 && self.0 <= Self::LAST_DOMAIN.0
    }

    /// Every key, 0..=15, in order.
    pub fn all() -> impl Iterator<Item = Key> {
        (0..KEY_COUNT as u8).map(Key)
    }

    /// Bit of the access-disable flag of this key in PKRU.
    const fn ad_bit(self) -> u32 {
        1 << (2 * self.0 as u32)
    }

    /// Bit of the write-disable flag of this key in PKRU.
    const fn wd_bit(self) -> u32 {
        1 << (2 * self.0 as u32 + 1)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key {}", self.0)
    }
}

/// A set of protection keys, as a 16-bit mask (bit `i` = key `i`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
pub struct KeySet(u16);

impl KeySet {
    /// The set with no key.
    pub const EMPTY: KeySet = KeySet(0);
    /// The set of every key, 0..=15.
    pub const ALL: KeySet = KeySet(u16::MAX);

    /// The set from its bit mask (bit `i` = key `i`).
    pub const fn from_bits(bits: u16) -> KeySet {
        KeySet(bits)
    }

    /// This set plus `k`.
    pub const fn with(self, k: Key) -> KeySet {
        KeySet(self.0 | (1 << k.0))
    }

    /// This set minus `k`.
    pub const fn without(self, k: Key) -> KeySet {
        KeySet(self.0 & !(1 << k.0))
    }

    /// Whether `k` is in the set.
    pub const fn contains(self, k: Key) -> bool {
        self.0 & (1 << k.0) != 0
    }

    /// The keys of the set, in increasing order.
    pub fn iter(self) -> impl Iterator<Item = Key> {
        Key::all().filter(move |&k| self.contains(k))
    }

    /// Number of keys in the set.
    pub const fn len(self) -> u32 {
        self.0.count_ones()
    }

    /// Whether the set has no key.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The bit mask (bit `i` = key `i`).
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// Keys in either set.
    pub const fn union(self, other: KeySet) -> KeySet {
        KeySet(self.0 | other.0)
    }
}

impl FromIterator<Key> for KeySet {
    fn from_iter<I: IntoIterator<Item = Key>>(iter: I) -> Self {
        iter.into_iter().fold(KeySet::EMPTY, KeySet::with)
    }
}

/// A value of the PKRU register: for key `i`, bit `2i` is access-disable (AD)
/// and bit `2i + 1` is write-disable (WD).
///
/// `Debug` and `Display` both show the raw value and each key's rights, e.g.
/// `0xfffffffc [0:rw 1:-- ... 15:--]`: `rw` open, `r-` read-only, `--` closed.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pkru(u32);

impl Pkru {
    /// Every key readable and writable: the kernel reaches every domain (user
    /// pointers are checked in software against the caller's mappings).
    pub const KERNEL: Pkru = Pkru(0);
    /// AD and WD set for all 16 keys.
    pub const ALL_CLOSED: Pkru = Pkru(u32::MAX);

    /// The PKRU value with these raw bits.
    pub const fn from_bits(bits: u32) -> Pkru {
        Pkru(bits)
    }

    /// The raw register value.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// `k` readable and writable (AD and WD clear).
    pub const fn allow(self, k: Key) -> Pkru {
        Pkru(self.0 & !(k.ad_bit() | k.wd_bit()))
    }

    /// `k` readable, not writable (AD clear, WD set).
    pub const fn read_only(self, k: Key) -> Pkru {
        Pkru((self.0 & !k.ad_bit()) | k.wd_bit())
    }

    /// `k` neither readable nor writable (AD and WD set).
    pub const fn deny(self, k: Key) -> Pkru {
        Pkru(self.0 | k.ad_bit() | k.wd_bit())
    }

    /// `k` not writable (WD set); readability unchanged.
    pub const fn deny_write(self, k: Key) -> Pkru {
        Pkru(self.0 | k.wd_bit())
    }

    /// Whether data accesses to pages with key `k` may read (AD clear).
    pub const fn can_read(self, k: Key) -> bool {
        self.0 & k.ad_bit() == 0
    }

    /// Whether data accesses to pages with key `k` may write (AD and WD
    /// clear; WD applies in ring 0 too because Isola runs with CR0.WP set).
    pub const fn can_write(self, k: Key) -> bool {
        self.0 & (k.ad_bit() | k.wd_bit()) == 0
    }

    /// The PKRU a process runs with: its own key and its shared-domain keys
    /// readable and writable, key 15 (the published page) read-only, every
    /// other key closed, the kernel's key 0 included.
    ///
    /// `own` and the keys of `shared` are expected to be domain keys; if one
    /// of them is 0 or 15 it is still forced closed (0) or read-only (15), so
    /// no process PKRU ever opens the kernel or lets the published page be
    /// written.
    pub const fn for_process(own: Key, shared: KeySet) -> Pkru {
        let mut pkru = Pkru::ALL_CLOSED.allow(own);
        let mut index = 0;
        while index < KEY_COUNT as u8 {
            let k = Key(index);
            if shared.contains(k) {
                pkru = pkru.allow(k);
            }
            index += 1;
        }
        pkru.deny(Key::KERNEL).read_only(Key::PUBLISHED)
    }
}

impl fmt::Display for Pkru {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#010x} [", self.0)?;
        for k in Key::all() {
            let rights = match (self.can_read(k), self.can_write(k)) {
                (true, true) => "rw",
                (true, false) => "r-",
                // AD set: no data access at all, whatever WD says.
                (false, _) => "--",
            };
            let sep = if k.0 == 0 { "" } else { " " };
            write!(f, "{sep}{}:{rights}", k.0)?;
        }
        f.write_str("]")
    }
}

impl fmt::Debug for Pkru {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Errors of [`KeyAllocator`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum KeyError {
    /// No domain key can be given: every candidate is already present in the
    /// new domain's address space.
    Exhausted,
    /// The key has no holder to release.
    NotHeld(Key),
    /// The key is 0 (kernel) or 15 (published page), never given to a domain.
    NotADomainKey(Key),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Exhausted => {
                f.write_str("no protection key left: every domain key is in use in this address space")
            }
            KeyError::NotHeld(k) => write!(f, "protection {k} is not held by any domain"),
            KeyError::NotADomainKey(k) => {
                write!(f, "protection {k} is reserved (only keys 1..=14 belong to domains)")
            }
        }
    }
}

impl core::error::Error for KeyError {}

/// Which domain keys (1..=14) are held, and by how many holders.
///
/// A holder is whatever keeps a key alive: a process domain, or a member of a
/// shared domain. The allocator knows nothing about address spaces; the
/// caller says which keys the new domain's address space already contains,
/// and the allocator never hands one of those out (DESIGN.md: a key may be
/// reused only across address spaces, where the page tables differ).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct KeyAllocator {
    /// Holders per key index; entries 0 and 15 stay 0.
    holders: [u32; KEY_COUNT],
    /// Shared objects per key index: a key with one is a shared domain's
    /// and no new process gets it until the last such object is gone.
    shared: [u32; KEY_COUNT],
}

/// Most keys shared domains hold at once: key 14 and up to 5 keys that no
/// process held when a shared object needed one. Processes keep at least
/// 8 keys (1..=13 less 5) for their own domains.
pub const MAX_SHARED_KEYS: usize = 6;

impl Default for KeyAllocator {
    fn default() -> Self {
        Self::new()
    }
}

impl KeyAllocator {
    /// Keys 1..=14 available, none held.
    pub const fn new() -> Self {
        KeyAllocator { holders: [0; KEY_COUNT], shared: [0; KEY_COUNT] }
    }

    /// A key for a new process domain; the key gets one more holder.
    ///
    /// Prefers the lowest key nobody holds. When all process keys are held,
    /// reuses the key with the fewest holders (the lowest such key on a tie)
    /// that is not in `excluded`, the keys already present in the new
    /// domain's address space. Keys in `excluded` are never returned, held or
    /// not. Never returns key 0 or 15, nor a shared domain's key (14, and
    /// any key a shared object holds now): no process's PKRU opens a shared
    /// domain it is not a member of.
    ///
    /// # Errors
    /// [`KeyError::Exhausted`] when every process key is in `excluded`.
    pub fn allocate(&mut self, excluded: KeySet) -> Result<Key, KeyError> {
        let excluded = excluded.union(self.shared_keys());
        let candidates = Self::domain_keys().filter(|&k| !excluded.contains(k));
        let key = candidates
            .min_by_key(|&k| (self.count(k), k))
            .ok_or(KeyError::Exhausted)?;
        self.add_holder(key);
        Ok(key)
    }

    /// One more holder for `k` (e.g. a shared domain gains a member). The key
    /// need not be held already.
    ///
    /// # Errors
    /// [`KeyError::NotADomainKey`] for key 0 or 15.
    pub fn hold(&mut self, k: Key) -> Result<(), KeyError> {
        Self::check_domain_key(k)?;
        self.add_holder(k);
        Ok(())
    }

    /// One fewer holder for `k`.
    ///
    /// # Errors
    /// [`KeyError::NotADomainKey`] for key 0 or 15; [`KeyError::NotHeld`] if
    /// `k` has no holder.
    pub fn release(&mut self, k: Key) -> Result<(), KeyError> {
        Self::check_domain_key(k)?;
        let count = &mut self.holders[usize::from(k.0)];
        *count = count.checked_sub(1).ok_or(KeyError::NotHeld(k))?;
        Ok(())
    }

    /// Number of holders of `k` (always 0 for keys 0 and 15).
    pub fn holders(&self, k: Key) -> u32 {
        self.count(k)
    }

    /// The keys with at least one holder.
    pub fn in_use(&self) -> KeySet {
        Self::domain_keys().filter(|&k| self.count(k) > 0).collect()
    }

    /// The keys of shared domains: key 14 always, and every key a shared
    /// object holds now. Processes never get one of them.
    pub fn shared_keys(&self) -> KeySet {
        Self::domain_keys().filter(|&k| k == Key::SHARED_RESERVED || self.shared[usize::from(k.0)] > 0).collect()
    }

    /// Shared objects holding `k`.
    pub fn shared_objects(&self, k: Key) -> u32 {
        self.shared.get(usize::from(k.0)).copied().unwrap_or(0)
    }

    /// A key for a new shared object (docs/shared-memory.md):
    /// - key 14 while no object has it;
    /// - else a key that nobody holds, process or object, while shared
    ///   domains hold fewer than [`MAX_SHARED_KEYS`] keys: the object's own;
    /// - else (keys run out) the shared key with the fewest objects, the
    ///   lowest on a tie: objects then share a key. Each one's pages are
    ///   still only in its members' page tables, so a member of one can
    ///   not reach the other; what is lost is the PKRU's own fence.
    ///
    /// Never fails and never returns a key a live process holds as its own.
    pub fn allocate_shared(&mut self) -> Key {
        let in_use = self.shared_keys();
        let key = if self.shared_objects(Key::SHARED_RESERVED) == 0 {
            Key::SHARED_RESERVED
        } else if let Some(free) = Self::domain_keys()
            .filter(|_| (in_use.len() as usize) < MAX_SHARED_KEYS)
            .find(|&k| self.count(k) == 0 && !in_use.contains(k))
        {
            free
        } else {
            in_use.iter().min_by_key(|&k| (self.shared_objects(k), k)).unwrap_or(Key::SHARED_RESERVED)
        };
        let count = &mut self.shared[usize::from(key.0)];
        *count = count.saturating_add(1);
        key
    }

    /// A shared object holding `k` is gone; the key goes back to processes
    /// with the last one (key 14 excepted: it stays the shared domains').
    ///
    /// # Errors
    /// [`KeyError::NotADomainKey`] for key 0 or 15; [`KeyError::NotHeld`] if
    /// no shared object holds `k`.
    pub fn release_shared(&mut self, k: Key) -> Result<(), KeyError> {
        Self::check_domain_key(k)?;
        let count = &mut self.shared[usize::from(k.0)];
        *count = count.checked_sub(1).ok_or(KeyError::NotHeld(k))?;
        Ok(())
    }

    fn domain_keys() -> impl Iterator<Item = Key> {
        (Key::FIRST_DOMAIN.0..=Key::LAST_DOMAIN.0).map(Key)
    }

    fn check_domain_key(k: Key) -> Result<(), KeyError> {
        if k.is_domain_key() { Ok(()) } else { Err(KeyError::NotADomainKey(k)) }
    }

    fn count(&self, k: Key) -> u32 {
        self.holders[usize::from(k.0)]
    }

    fn add_holder(&mut self, k: Key) {
        let count = &mut self.holders[usize::from(k.0)];
        // 2^32 holders of one key cannot exist (each is a kernel object);
        // saturating keeps the count from wrapping to "free" all the same.
        *count = count.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u8) -> Key {
        Key::new(i).unwrap()
    }

    #[test]
    fn key_range() {
        assert_eq!(Key::new(0), Some(Key::KERNEL));
        assert_eq!(Key::new(15), Some(Key::PUBLISHED));
        assert_eq!(Key::new(16), None);
        assert_eq!(Key::new(255), None);
        for i in 0..16 {
            assert_eq!(key(i).index(), i);
            assert_eq!(key(i).is_domain_key(), (1..=14).contains(&i));
        }
        assert_eq!(Key::all().count(), 16);
        assert!(key(3) < key(4));
        assert_eq!(key(7).to_string(), "key 7");
    }

    #[test]
    fn keyset_operations() {
        let s = KeySet::EMPTY.with(key(1)).with(key(15)).with(key(1));
        assert_eq!(s.bits(), 0b1000_0000_0000_0010);
        assert_eq!(s.len(), 2);
        assert!(!s.is_empty());
        assert!(s.contains(key(1)) && s.contains(key(15)) && !s.contains(key(0)));
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![key(1), key(15)]);
        let t = s.without(key(1)).without(key(2));
        assert_eq!(t, KeySet::EMPTY.with(key(15)));
        assert!(KeySet::EMPTY.is_empty());
        assert_eq!(KeySet::default(), KeySet::EMPTY);
        assert_eq!(KeySet::ALL.len(), 16);
        assert_eq!(KeySet::ALL.iter().count(), 16);
        assert_eq!(KeySet::EMPTY.iter().count(), 0);
        assert_eq!(Key::all().collect::<KeySet>(), KeySet::ALL);
        assert_eq!(s.union(KeySet::from_bits(1)).bits(), 0b1000_0000_0000_0011);
    }

    #[test]
    fn pkru_bits_per_key() {
        for k in Key::all() {
            let i = u32::from(k.index());
            let open = Pkru::ALL_CLOSED.allow(k);
            assert_eq!(open.bits(), !(0b11 << (2 * i)));
            assert!(open.can_read(k) && open.can_write(k));
            let ro = Pkru::ALL_CLOSED.read_only(k);
            assert_eq!(ro.bits(), !(0b01 << (2 * i)));
            assert!(ro.can_read(k) && !ro.can_write(k));
            let closed = Pkru::KERNEL.deny(k);
            assert_eq!(closed.bits(), 0b11 << (2 * i));
            assert!(!closed.can_read(k) && !closed.can_write(k));
            let wd = Pkru::KERNEL.deny_write(k);
            assert_eq!(wd.bits(), 0b10 << (2 * i));
            assert!(wd.can_read(k) && !wd.can_write(k));
            // deny_write leaves AD as it was.
            assert_eq!(Pkru::KERNEL.deny(k).deny_write(k), Pkru::KERNEL.deny(k));
            // Other keys are untouched.
            for other in Key::all().filter(|&o| o != k) {
                assert!(closed.can_read(other) && closed.can_write(other));
                assert!(!open.can_read(other));
            }
        }
    }

    #[test]
    fn ad_alone_blocks_write() {
        // AD set and WD clear: no access at all.
        let p = Pkru::from_bits(0b01);
        assert!(!p.can_read(Key::KERNEL));
        assert!(!p.can_write(Key::KERNEL));
    }

    #[test]
    fn kernel_and_all_closed() {
        assert_eq!(Pkru::KERNEL.bits(), 0);
        assert_eq!(Pkru::ALL_CLOSED.bits(), 0xffff_ffff);
        for k in Key::all() {
            assert!(Pkru::KERNEL.can_write(k));
            assert!(!Pkru::ALL_CLOSED.can_read(k));
        }
        assert_eq!(Pkru::from_bits(0x1234_5678).bits(), 0x1234_5678);
    }

    #[test]
    fn for_process_opens_own_and_shared_only() {
        let shared = KeySet::EMPTY.with(key(4)).with(key(9));
        let p = Pkru::for_process(key(2), shared);
        for k in Key::all() {
            match k.index() {
                2 | 4 | 9 => assert!(p.can_write(k), "{k} should be open"),
                15 => assert!(p.can_read(k) && !p.can_write(k)),
                _ => assert!(!p.can_read(k) && !p.can_write(k), "{k} should be closed"),
            }
        }
        // Key 1 alone: keys 0 and 2..=14 closed (0b11), key 1 open, key 15 WD only.
        assert_eq!(Pkru::for_process(key(1), KeySet::EMPTY).bits(), 0xbfff_fff3);
    }

    #[test]
    fn for_process_never_opens_kernel_or_published() {
        let p = Pkru::for_process(Key::KERNEL, KeySet::ALL);
        assert!(!p.can_read(Key::KERNEL));
        assert!(p.can_read(Key::PUBLISHED) && !p.can_write(Key::PUBLISHED));
        let q = Pkru::for_process(Key::PUBLISHED, KeySet::EMPTY);
        assert!(!q.can_write(Key::PUBLISHED));
        for k in (1..=14).map(key) {
            assert!(p.can_write(k));
            assert!(!q.can_read(k));
        }
    }

    #[test]
    fn pkru_is_const_evaluable() {
        const P: Pkru = Pkru::for_process(Key::FIRST_DOMAIN, KeySet::EMPTY.with(Key::LAST_DOMAIN));
        assert!(P.can_write(key(14)));
    }

    #[test]
    fn pkru_display() {
        let p = Pkru::for_process(key(1), KeySet::EMPTY);
        let s = p.to_string();
        assert!(s.starts_with("0xbffffff3 [0:-- 1:rw 2:-- "), "{s}");
        assert!(s.ends_with(" 14:-- 15:r-]"), "{s}");
        assert_eq!(format!("{p:?}"), s);
        assert_eq!(
            Pkru::KERNEL.to_string(),
            "0x00000000 [0:rw 1:rw 2:rw 3:rw 4:rw 5:rw 6:rw 7:rw 8:rw 9:rw 10:rw 11:rw 12:rw 13:rw 14:rw 15:rw]"
        );
    }

    #[test]
    fn allocate_prefers_free_keys_in_order() {
        let mut a = KeyAllocator::new();
        assert_eq!(a.in_use(), KeySet::EMPTY);
        // Key 14 is the shared domains': processes get 1..=13.
        for i in 1..=13 {
            assert_eq!(a.allocate(KeySet::EMPTY), Ok(key(i)));
            assert_eq!(a.holders(key(i)), 1);
        }
        assert_eq!(a.in_use().len(), 13);
        assert!(!a.in_use().contains(Key::SHARED_RESERVED));
        assert!(!a.in_use().contains(Key::KERNEL));
        assert!(!a.in_use().contains(Key::PUBLISHED));
        // A released key is the first free one again.
        a.release(key(5)).unwrap();
        assert_eq!(a.allocate(KeySet::EMPTY), Ok(key(5)));
    }

    #[test]
    fn allocate_skips_excluded_even_when_free() {
        let mut a = KeyAllocator::new();
        let excluded = KeySet::EMPTY.with(key(1)).with(key(2));
        assert_eq!(a.allocate(excluded), Ok(key(3)));
    }

    #[test]
    fn reuse_picks_fewest_holders_outside_excluded() {
        let mut a = KeyAllocator::new();
        for _ in 1..=13 {
            a.allocate(KeySet::EMPTY).unwrap();
        }
        // Give every key a second holder except 6 and 9.
        for i in (1..=13).filter(|&i| i != 6 && i != 9) {
            a.hold(key(i)).unwrap();
        }
        // 6 is excluded (already in the new address space): 9 is chosen.
        let excluded = KeySet::EMPTY.with(key(6)).with(key(1));
        assert_eq!(a.allocate(excluded), Ok(key(9)));
        assert_eq!(a.holders(key(9)), 2);
        // Now all have 2 holders; the lowest non-excluded key wins the tie.
        assert_eq!(a.allocate(excluded), Ok(key(2)));
        assert_eq!(a.allocate(KeySet::EMPTY), Ok(key(6)));
        assert_eq!(a.holders(key(6)), 2);
    }

    #[test]
    fn allocate_exhausted_when_all_excluded() {
        let mut a = KeyAllocator::new();
        let all_domains: KeySet = (1..=14).map(key).collect();
        assert_eq!(a.allocate(all_domains), Err(KeyError::Exhausted));
        // Keys 0 and 15 in `excluded` change nothing.
        assert_eq!(a.allocate(KeySet::ALL), Err(KeyError::Exhausted));
        // Key 14 is never a process's, even when it is the only one left.
        assert_eq!(a.allocate(all_domains.without(key(14))), Err(KeyError::Exhausted));
        assert_eq!(a.allocate(all_domains.without(key(13))), Ok(key(13)));
        // Nothing was held by the failed calls.
        assert_eq!(a.in_use(), KeySet::EMPTY.with(key(13)));
    }

    #[test]
    fn allocate_never_returns_reserved_keys() {
        let mut a = KeyAllocator::new();
        for round in 0..100u32 {
            let excluded = KeySet::from_bits((round.wrapping_mul(2_654_435_761) >> 16) as u16);
            match a.allocate(excluded) {
                Ok(k) => {
                    assert!(k.is_domain_key());
                    assert!(k != Key::SHARED_RESERVED);
                    assert!(!excluded.contains(k));
                }
                Err(e) => {
                    assert_eq!(e, KeyError::Exhausted);
                    assert!((1..=13).all(|i| excluded.contains(key(i))));
                }
            }
        }
    }

    #[test]
    fn hold_and_release() {
        let mut a = KeyAllocator::default();
        assert_eq!(a.release(key(3)), Err(KeyError::NotHeld(key(3))));
        a.hold(key(3)).unwrap();
        a.hold(key(3)).unwrap();
        assert_eq!(a.holders(key(3)), 2);
        assert_eq!(a.in_use(), KeySet::EMPTY.with(key(3)));
        // A held key is not the first choice while free keys remain.
        assert_eq!(a.allocate(KeySet::EMPTY), Ok(key(1)));
        a.release(key(3)).unwrap();
        a.release(key(3)).unwrap();
        assert_eq!(a.release(key(3)), Err(KeyError::NotHeld(key(3))));
        assert_eq!(a.holders(key(3)), 0);
        for reserved in [Key::KERNEL, Key::PUBLISHED] {
            assert_eq!(a.hold(reserved), Err(KeyError::NotADomainKey(reserved)));
            assert_eq!(a.release(reserved), Err(KeyError::NotADomainKey(reserved)));
            assert_eq!(a.holders(reserved), 0);
        }
    }

    #[test]
    fn first_shared_object_takes_key_14_then_free_keys() {
        let mut a = KeyAllocator::new();
        // Processes hold 1 and 2.
        a.allocate(KeySet::EMPTY).unwrap();
        a.allocate(KeySet::EMPTY).unwrap();
        assert_eq!(a.allocate_shared(), key(14));
        // The next object gets a key of its own that no process holds.
        assert_eq!(a.allocate_shared(), key(3));
        assert_eq!(a.shared_keys(), KeySet::EMPTY.with(key(3)).with(key(14)));
        // A new process skips both.
        assert_eq!(a.allocate(KeySet::EMPTY), Ok(key(4)));
        // Key 3 goes back to processes with its object; 14 stays shared.
        a.release_shared(key(3)).unwrap();
        assert_eq!(a.shared_keys(), KeySet::EMPTY.with(key(14)));
        assert_eq!(a.allocate(KeySet::EMPTY), Ok(key(3)));
        assert_eq!(a.release_shared(key(3)), Err(KeyError::NotHeld(key(3))));
    }

    #[test]
    fn shared_keys_run_out_into_sharing_the_least_loaded() {
        let mut a = KeyAllocator::new();
        let mut got = Vec::new();
        for _ in 0..MAX_SHARED_KEYS {
            got.push(a.allocate_shared());
        }
        assert_eq!(got, [key(14), key(1), key(2), key(3), key(4), key(5)]);
        // Processes still have 8 keys: 6..=13.
        for i in 6..=13 {
            assert_eq!(a.allocate(KeySet::EMPTY), Ok(key(i)));
        }
        assert_eq!(a.allocate(KeySet::EMPTY), Ok(key(6)), "reuse among process keys only");
        // Past the budget objects share the key with the fewest objects.
        assert_eq!(a.allocate_shared(), key(1));
        assert_eq!(a.allocate_shared(), key(2));
        assert_eq!(a.shared_objects(key(1)), 2);
        for _ in 0..100 {
            let k = a.allocate_shared();
            assert!(a.shared_keys().contains(k));
            assert_eq!(a.holders(k), 0, "never a live process's key");
        }
        assert_eq!(a.shared_keys().len() as usize, MAX_SHARED_KEYS);
    }

    #[test]
    fn shared_key_never_a_process_key_when_processes_hold_all() {
        let mut a = KeyAllocator::new();
        for _ in 0..40 {
            a.allocate(KeySet::EMPTY).unwrap();
        }
        // Every process key is held: objects get 14, then share it.
        assert_eq!(a.allocate_shared(), key(14));
        assert_eq!(a.allocate_shared(), key(14));
        assert_eq!(a.shared_objects(key(14)), 2);
        assert_eq!(a.holders(key(14)), 0);
    }

    #[test]
    fn key_error_display() {
        assert!(KeyError::Exhausted.to_string().contains("no protection key left"));
        assert_eq!(KeyError::NotHeld(key(4)).to_string(), "protection key 4 is not held by any domain");
        assert!(KeyError::NotADomainKey(Key::KERNEL).to_string().contains("key 0 is reserved"));
    }
}
