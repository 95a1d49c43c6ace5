//! The kernel symbol table: its format, the lookup the kernel does at run
//! time, and (feature `std`) the builder the host CLI runs after linking.
//!
//! The kernel image reserves a zero-filled section [`SECTION_NAME`] of fixed
//! size (`KSYMS_SIZE` in `kernel/linker.ld`). After the link, `isola build`
//! reads the ELF symbols, calls [`build`] and writes the result over that
//! section's bytes in the ELF file; the kernel then calls [`lookup`] on the
//! section to name the functions of a backtrace. An image whose section was
//! never filled in is all zeros, and [`lookup`] answers `None`.
//!
//! Layout, all integers little endian:
//! - header, [`HEADER_LEN`] = 16 bytes: magic [`MAGIC`] (8), `count: u32`,
//!   `strings_len: u32`;
//! - `count` entries of [`ENTRY_LEN`] = 24 bytes, sorted by `addr`: `addr:
//!   u64`, `size: u32`, `name_off: u32` (into the string area), `name_len:
//!   u32`, `reserved: u32` (0);
//! - the string area, `strings_len` bytes of UTF-8 names, not NUL-terminated;
//! - zeros up to the end of the section.
//!
//! [`lookup`] trusts nothing in the table: every offset is bounds-checked
//! and no input makes it panic.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

#[cfg(feature = "std")]
extern crate std;

// Also built for this crate's own tests, so that `cargo test -p ksyms`
// covers the builder without extra flags.
#[cfg(any(test, feature = "std"))]
mod build;
#[cfg(any(test, feature = "std"))]
pub use build::{BuildError, SymbolInput, build};

/// Name of the ELF section that holds the table.
pub const SECTION_NAME: &str = ".ksyms";
/// First 8 bytes of a filled-in table.
pub const MAGIC: [u8; 8] = *b"ISOLASYM";
/// Bytes of the header.
pub const HEADER_LEN: usize = 16;
/// Bytes of one entry.
pub const ENTRY_LEN: usize = 24;
/// Longest name kept by [`build`], in bytes.
pub const MAX_NAME_LEN: usize = 200;

/// How many entries before the best candidate [`lookup`] also tries when
/// symbols overlap (a sized symbol that contains a later, smaller one).
const OVERLAP_LOOKBACK: usize = 16;

/// The symbol an address falls in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Symbol<'a> {
    /// The symbol's name as stored (the host CLI stores demangled names).
    pub name: &'a str,
    /// Address of the symbol's first byte.
    pub start: u64,
    /// Bytes from `start` to the address looked up.
    pub offset: u64,
}

/// One entry of a table, as stored.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Entry<'a> {
    pub addr: u64,
    /// Size in bytes; 0 when unknown (the symbol then extends to the next).
    pub size: u32,
    pub name: &'a str,
}

/// A parsed, bounds-checked view of a table.
#[derive(Clone, Copy, Debug)]
pub struct Table<'a> {
    entries: &'a [u8],
    strings: &'a [u8],
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let field = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(field.try_into().ok()?))
}

fn read_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let field = bytes.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(field.try_into().ok()?))
}

impl<'a> Table<'a> {
    /// The table in `bytes` (the whole section, trailing zeros allowed), or
    /// `None` if the magic is wrong (e.g. a section never filled in) or the
    /// entries and strings do not fit in `bytes`.
    pub fn parse(bytes: &'a [u8]) -> Option<Table<'a>> {
        if bytes.get(..MAGIC.len())? != MAGIC {
            return None;
        }
        let count = usize::try_from(read_u32(bytes, 8)?).ok()?;
        let strings_len = usize::try_from(read_u32(bytes, 12)?).ok()?;
        let entries_end = count.checked_mul(ENTRY_LEN)?.checked_add(HEADER_LEN)?;
        let strings_end = entries_end.checked_add(strings_len)?;
        Some(Table { entries: bytes.get(HEADER_LEN..entries_end)?, strings: bytes.get(entries_end..strings_end)? })
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len() / ENTRY_LEN
    }

    /// Whether the table has no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn addr(&self, index: usize) -> Option<u64> {
        read_u64(self.entries, index.checked_mul(ENTRY_LEN)?)
    }

    /// Entry `index`, or `None` if out of range or its name is out of the
    /// string area or not UTF-8.
    pub fn get(&self, index: usize) -> Option<Entry<'a>> {
        let at = index.checked_mul(ENTRY_LEN)?;
        let addr = read_u64(self.entries, at)?;
        let size = read_u32(self.entries, at.checked_add(8)?)?;
        let name_off = usize::try_from(read_u32(self.entries, at.checked_add(12)?)?).ok()?;
        let name_len = usize::try_from(read_u32(self.entries, at.checked_add(16)?)?).ok()?;
        let name = self.strings.get(name_off..name_off.checked_add(name_len)?)?;
        Some(Entry { addr, size, name: core::str::from_utf8(name).ok()? })
    }

    /// The entries in order; malformed ones are skipped.
    pub fn iter(&self) -> impl Iterator<Item = Entry<'a>> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    /// Whether entry `index` covers `addr`: `[addr, addr + size)`, or up to
    /// the next entry's address if `size` is 0. A last entry of size 0
    /// covers its own address only.
    fn covers(&self, index: usize, entry: &Entry<'_>, addr: u64) -> bool {
        let Some(offset) = addr.checked_sub(entry.addr) else { return false };
        if entry.size != 0 {
            return offset < u64::from(entry.size);
        }
        match index.checked_add(1).and_then(|next| self.addr(next)) {
            Some(next) if next > entry.addr => addr < next,
            _ => offset == 0,
        }
    }

    /// The symbol `addr` falls in (binary search).
    pub fn lookup(&self, addr: u64) -> Option<Symbol<'a>> {
        // Number of entries whose start is <= addr (entries sorted by addr).
        let (mut low, mut high) = (0, self.len());
        while low < high {
            let mid = low + (high - low) / 2;
            if self.addr(mid)? <= addr {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        // The last entry starting at or below addr, or an earlier one that
        // overlaps it.
        (low.saturating_sub(OVERLAP_LOOKBACK)..low).rev().find_map(|index| {
            let entry = self.get(index)?;
            self.covers(index, &entry, addr).then(|| Symbol {
                name: entry.name,
                start: entry.addr,
                offset: addr - entry.addr,
            })
        })
    }
}

/// The symbol `addr` falls in, or `None` when the table is not filled in
/// (all zeros, wrong magic), is malformed, or no symbol covers `addr` (a
/// symbol covers `[addr, addr + size)`, or up to the next symbol when its
/// size is 0). Never panics, whatever `table` holds.
pub fn lookup(table: &[u8], addr: u64) -> Option<Symbol<'_>> {
    Table::parse(table)?.lookup(addr)
}

#[cfg(test)]
mod tests;
