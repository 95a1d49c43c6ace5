//! The host-side builder of the table (feature `std`).

use std::fmt;
use std::string::String;
use std::vec::Vec;

use crate::{ENTRY_LEN, HEADER_LEN, MAGIC, MAX_NAME_LEN};

/// One symbol to put in the table.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SymbolInput {
    pub addr: u64,
    /// Size in bytes; 0 if unknown. Sizes above `u32::MAX` are stored as
    /// `u32::MAX`.
    pub size: u64,
    pub name: String,
}

/// Why [`build`] failed.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum BuildError {
    /// The table needs `needed` bytes but the section has `capacity`.
    TooLarge { needed: usize, capacity: usize },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::TooLarge { needed, capacity } => write!(
                f,
                "kernel symbol table needs {needed} bytes but the {} section holds {capacity}; \
                 raise KSYMS_SIZE in kernel/linker.ld",
                crate::SECTION_NAME
            ),
        }
    }
}

impl std::error::Error for BuildError {}

/// `name` cut to at most [`MAX_NAME_LEN`] bytes, on a char boundary.
fn truncate_name(name: &str) -> &str {
    if name.len() <= MAX_NAME_LEN {
        return name;
    }
    let mut end = MAX_NAME_LEN;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// The section bytes for `symbols`: sorted by address, entries at address 0
/// dropped, one entry kept per address (the largest size; on a tie the first
/// given), names cut to [`MAX_NAME_LEN`] bytes on a char boundary, padded
/// with zeros to exactly `capacity` bytes.
///
/// # Errors
/// [`BuildError::TooLarge`] when the table does not fit in `capacity` (or
/// its counts do not fit the format's 32-bit fields).
pub fn build(mut symbols: Vec<SymbolInput>, capacity: usize) -> Result<Vec<u8>, BuildError> {
    symbols.retain(|s| s.addr != 0);
    // Stable: among equal addresses and sizes, input order decides.
    symbols.sort_by(|a, b| a.addr.cmp(&b.addr).then(b.size.cmp(&a.size)));
    symbols.dedup_by_key(|s| s.addr);

    let strings_len: usize = symbols.iter().map(|s| truncate_name(&s.name).len()).sum();
    let needed = symbols
        .len()
        .checked_mul(ENTRY_LEN)
        .and_then(|entries| entries.checked_add(HEADER_LEN))
        .and_then(|len| len.checked_add(strings_len))
        .unwrap_or(usize::MAX);
    let too_large = BuildError::TooLarge { needed, capacity };
    if needed > capacity {
        return Err(too_large);
    }
    let count = u32::try_from(symbols.len()).map_err(|_| too_large.clone())?;
    let strings_len_u32 = u32::try_from(strings_len).map_err(|_| too_large.clone())?;

    let mut out = Vec::with_capacity(capacity);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&strings_len_u32.to_le_bytes());
    let mut name_off: u32 = 0;
    for symbol in &symbols {
        // Fits: the sum of all name lengths fits in u32 (checked above).
        let name_len = truncate_name(&symbol.name).len() as u32;
        out.extend_from_slice(&symbol.addr.to_le_bytes());
        out.extend_from_slice(&u32::try_from(symbol.size).unwrap_or(u32::MAX).to_le_bytes());
        out.extend_from_slice(&name_off.to_le_bytes());
        out.extend_from_slice(&name_len.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        name_off += name_len;
    }
    for symbol in &symbols {
        out.extend_from_slice(truncate_name(&symbol.name).as_bytes());
    }
    debug_assert_eq!(out.len(), needed);
    out.resize(capacity, 0);
    Ok(out)
}
