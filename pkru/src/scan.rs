//! The WRPKRU scanner.
//!
//! A process that could execute `wrpkru` would open every domain, so the
//! loader refuses an executable segment that contains the instruction's
//! bytes `0F 01 EF` at **any** byte offset (x86 code can be entered in the
//! middle of another instruction), and `mmap`/`mprotect` re-run the scan
//! when memory becomes executable. The build runs the same scan over the
//! kernel image, where the only hits allowed are those of `pkru::gate`.
//!
//! [`find_xrstor`] is informational: Isola keeps XCR0 bit 9 clear, so
//! `xrstor` cannot load PKRU; the scan exists for diagnostics and tests.

/// Encoding of `wrpkru`.
pub const WRPKRU: [u8; 3] = [0x0F, 0x01, 0xEF];
/// Encoding of `rdpkru`.
pub const RDPKRU: [u8; 3] = [0x0F, 0x01, 0xEE];

/// Every byte offset in `code` where the sequence `0F 01 EF` (`wrpkru`)
/// starts, in increasing order.
pub fn find_wrpkru(code: &[u8]) -> impl Iterator<Item = usize> + '_ {
    // The pattern is read from a static through an opaque reference: compared
    // as a constant, the compiler would fold it into an immediate holding the
    // bytes 0F 01 EF, and the kernel's own scanner would trip its image scan.
    let pattern: &[u8; 3] = core::hint::black_box(&WRPKRU_PATTERN);
    code.windows(WRPKRU.len())
        .enumerate()
        .filter_map(move |(offset, window)| (window == pattern).then_some(offset))
}

/// `WRPKRU` in read-only data, never as an immediate (see `find_wrpkru`).
static WRPKRU_PATTERN: [u8; 3] = WRPKRU;

/// Every byte offset in `code` where an `xrstor`/`xrstor64` opcode starts:
/// `0F AE` followed by a ModRM byte with a memory operand (mod != 0b11) and
/// reg field 5. (`0F AE` with mod = 0b11 and reg 5 is `lfence`.) A REX
/// prefix before it is not part of the reported offset.
pub fn find_xrstor(code: &[u8]) -> impl Iterator<Item = usize> + '_ {
    code.windows(3).enumerate().filter_map(|(offset, window)| {
        let modrm = window[2];
        let is_xrstor = window[0] == 0x0F && window[1] == 0xAE && modrm >> 6 != 0b11 && (modrm >> 3) & 0b111 == 5;
        is_xrstor.then_some(offset)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrpkru_hits(code: &[u8]) -> Vec<usize> {
        find_wrpkru(code).collect()
    }

    #[test]
    fn empty_and_short_inputs() {
        assert!(wrpkru_hits(&[]).is_empty());
        assert!(wrpkru_hits(&[0x0F]).is_empty());
        assert!(wrpkru_hits(&[0x0F, 0x01]).is_empty());
        assert_eq!(wrpkru_hits(&WRPKRU), vec![0]);
    }

    #[test]
    fn finds_every_offset() {
        let code = [0x90, 0x0F, 0x01, 0xEF, 0x0F, 0x01, 0xEF, 0xC3, 0x0F, 0x01, 0xEF];
        assert_eq!(wrpkru_hits(&code), vec![1, 4, 8]);
    }

    #[test]
    fn finds_unaligned_hits_inside_other_instructions() {
        // mov eax, 0xEF010F00: the immediate hides a wrpkru at offset 2.
        let code = [0xB8, 0x00, 0x0F, 0x01, 0xEF, 0xC3];
        assert_eq!(wrpkru_hits(&code), vec![2]);
    }

    #[test]
    fn ignores_near_misses() {
        let code = [
            0x0F, 0x01, 0xEE, // rdpkru
            0x0F, 0x01, 0xF9, // rdtscp
            0x0F, 0x0F, 0x01, 0xEE, 0xEF, 0x01, 0xEF, 0x0F, 0x01,
        ];
        assert!(wrpkru_hits(&code).is_empty());
    }

    #[test]
    fn hit_at_the_very_end() {
        let mut code = vec![0xCC; 4093];
        code.extend_from_slice(&WRPKRU);
        assert_eq!(wrpkru_hits(&code), vec![4093]);
    }

    #[test]
    fn xrstor_forms() {
        // xrstor [rax] = 0F AE 28; xrstor64 [rcx] = 48 0F AE 29;
        // lfence = 0F AE E8 (not xrstor); xsave [rax] = 0F AE 20 (reg 4).
        let code = [0x0F, 0xAE, 0x28, 0x48, 0x0F, 0xAE, 0x29, 0x0F, 0xAE, 0xE8, 0x0F, 0xAE, 0x20];
        assert_eq!(find_xrstor(&code).collect::<Vec<_>>(), vec![0, 4]);
        // xrstor [rbp+disp8] = 0F AE 6D 08 (mod 01, reg 5).
        assert_eq!(find_xrstor(&[0x0F, 0xAE, 0x6D, 0x08]).collect::<Vec<_>>(), vec![0]);
        assert_eq!(find_xrstor(&[0x0F, 0xAE]).count(), 0);
    }
}
