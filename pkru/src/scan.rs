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

/// What follows the one WRPKRU of glibc's `pkey_set` (`wrpkru; xor eax,
/// eax; ret`): every Debian program maps `libc.so.6`, which has it.
const PKEY_SET_TAIL: [u8; 3] = [0x31, 0xC0, 0xC3];
/// What the WRPKRU of that sequence becomes: `ud2; nop` (SIGILL if run).
pub const DEFUSED_WRPKRU: [u8; 3] = [0x0F, 0x0B, 0x90];

/// Rewrites each WRPKRU of `code` that is glibc's `pkey_set` tail
/// (`wrpkru; xor eax,eax; ret`, a real instruction at an instruction
/// boundary, not bytes inside another one) to `ud2; nop`, and returns
/// how many it rewrote. Isola gives processes no protection keys of their own
/// (`pkey_alloc` fails), so a correct program never reaches `pkey_set`;
/// one that does gets SIGILL instead of a PKRU of its choosing. Every other
/// WRPKRU is left for [`find_wrpkru`] to refuse.
pub fn defuse_pkey_set(code: &mut [u8]) -> usize {
    let mut count = 0usize;
    let mut from = 0usize;
    while let Some(at) = code.get(from..).and_then(|rest| find_wrpkru(rest).next()).map(|at| at.saturating_add(from)) {
        from = at.saturating_add(1);
        if code.get(at.saturating_add(3)..at.saturating_add(6)) != Some(&PKEY_SET_TAIL[..]) {
            continue;
        }
        if let Some(bytes) = code.get_mut(at..at.saturating_add(3)) {
            bytes.copy_from_slice(&DEFUSED_WRPKRU);
            count = count.saturating_add(1);
        }
    }
    count
}

/// `WRPKRU` in read-only data, never as an immediate (see `find_wrpkru`).
static WRPKRU_PATTERN: [u8; 3] = WRPKRU;

/// A WRPKRU scan over memory read piece by piece (a page at a time, say),
/// that finds the instruction where it straddles two pieces: the last two
/// bytes of each piece are carried into the next. [`StreamScan::gap`] says
/// the next piece does not follow the last one in memory (an unmapped or
/// non-executable hole in between), so nothing is carried across it.
#[derive(Debug, Default, Clone)]
pub struct StreamScan {
    carry: [u8; 2],
    carried: usize,
}

impl StreamScan {
    /// A scan that has seen nothing yet.
    pub const fn new() -> StreamScan {
        StreamScan { carry: [0; 2], carried: 0 }
    }

    /// Scans `piece`, which starts at address `addr` and follows what was fed
    /// before (unless a [`gap`](Self::gap) came in between). Returns the
    /// address where the first WRPKRU starts, which may lie up to two bytes
    /// before `addr`, in the previous piece.
    pub fn feed(&mut self, addr: u64, piece: &[u8]) -> Option<u64> {
        // The junction: the carried bytes and the first two of this piece.
        let mut junction = [0u8; 4];
        let carried = self.carried;
        junction[..carried].copy_from_slice(&self.carry[2 - carried..]);
        let head = piece.len().min(2);
        junction[carried..carried + head].copy_from_slice(&piece[..head]);
        let hit = find_wrpkru(&junction[..carried + head])
            .next()
            .map(|at| addr.wrapping_sub(carried as u64).wrapping_add(at as u64))
            .or_else(|| find_wrpkru(piece).next().map(|at| addr.wrapping_add(at as u64)));
        // Keep the last two bytes seen (this piece's, or the old carry's tail).
        let mut tail = [0u8; 4];
        tail[..carried].copy_from_slice(&self.carry[2 - carried..]);
        let keep_from_piece = piece.len().min(2);
        let total = (carried + keep_from_piece).min(4);
        tail[carried..total].copy_from_slice(&piece[piece.len() - keep_from_piece..]);
        let keep = total.min(2);
        self.carry = [0; 2];
        self.carry[2 - keep..].copy_from_slice(&tail[total - keep..total]);
        self.carried = keep;
        hit
    }

    /// The next piece does not follow the previous one in memory.
    pub fn gap(&mut self) {
        self.carried = 0;
    }
}

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

    #[test]
    fn pkey_set_is_defused_and_nothing_else() {
        // glibc 2.36's pkey_set: ... or %esi,%eax; wrpkru; xor %eax,%eax; ret
        let mut code = vec![0x09, 0xF0, 0x0F, 0x01, 0xEF, 0x31, 0xC0, 0xC3, 0x90];
        assert_eq!(defuse_pkey_set(&mut code), 1);
        assert_eq!(code, [0x09, 0xF0, 0x0F, 0x0B, 0x90, 0x31, 0xC0, 0xC3, 0x90]);
        assert_eq!(find_wrpkru(&code).count(), 0);
        // Any other WRPKRU stays, for the scan to refuse.
        for other in [&[0x0F, 0x01, 0xEF, 0xC3][..], &[0x0F, 0x01, 0xEF, 0x31, 0xC0], &[0xB8, 0x0F, 0x01, 0xEF, 0x00]] {
            let mut bytes = other.to_vec();
            assert_eq!(defuse_pkey_set(&mut bytes), 0);
            assert_eq!(bytes, other);
        }
    }

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

    #[test]
    fn a_stream_finds_wrpkru_split_across_pieces() {
        // 0F 01 | EF, 0F | 01 EF, and within one piece.
        let mut scan = StreamScan::new();
        assert_eq!(scan.feed(0x1000, &[0x90, 0x0F, 0x01]), None);
        assert_eq!(scan.feed(0x1003, &[0xEF, 0x90]), Some(0x1001));
        let mut scan = StreamScan::new();
        assert_eq!(scan.feed(0x2000, &[0x90, 0x90, 0x0F]), None);
        assert_eq!(scan.feed(0x2003, &[0x01, 0xEF]), Some(0x2002));
        let mut scan = StreamScan::new();
        assert_eq!(scan.feed(0x3000, &[0x90, 0x0F, 0x01, 0xEF]), Some(0x3001));
    }

    #[test]
    fn a_stream_carries_across_one_byte_pieces() {
        let mut scan = StreamScan::new();
        assert_eq!(scan.feed(10, &[0x0F]), None);
        assert_eq!(scan.feed(11, &[0x01]), None);
        assert_eq!(scan.feed(12, &[0xEF]), Some(10));
        // An empty piece changes nothing.
        let mut scan = StreamScan::new();
        assert_eq!(scan.feed(10, &[0x0F, 0x01]), None);
        assert_eq!(scan.feed(12, &[]), None);
        assert_eq!(scan.feed(12, &[0xEF]), Some(10));
    }

    #[test]
    fn a_gap_breaks_the_junction() {
        let mut scan = StreamScan::new();
        assert_eq!(scan.feed(0x1000, &[0x0F, 0x01]), None);
        scan.gap();
        assert_eq!(scan.feed(0x5000, &[0xEF, 0x90]), None);
    }

    #[test]
    fn a_stream_agrees_with_the_whole_scan_at_every_split() {
        let code: Vec<u8> = [0x90, 0x0F, 0x01, 0x0F, 0x01, 0xEF, 0x01, 0xEF, 0x0F].to_vec();
        let whole = find_wrpkru(&code).next().map(|a| a as u64);
        for split in 0..=code.len() {
            for split2 in split..=code.len() {
                let mut scan = StreamScan::new();
                let hit = scan
                    .feed(0, &code[..split])
                    .or_else(|| scan.feed(split as u64, &code[split..split2]))
                    .or_else(|| scan.feed(split2 as u64, &code[split2..]));
                assert_eq!(hit, whole, "split at {split}, {split2}");
            }
        }
    }
}
