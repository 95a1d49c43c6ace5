//! Host tests: builder and lookup round trips, and malformed tables.

use super::*;

fn sym(addr: u64, size: u64, name: &str) -> SymbolInput {
    SymbolInput { addr, size, name: name.to_string() }
}

fn sample() -> Vec<u8> {
    build(
        vec![
            sym(0x3000, 0x100, "third"),
            sym(0x1000, 0x80, "first"),
            sym(0x2000, 0, "second_unsized"),
            sym(0x4000, 0x10, "kernel::main"),
        ],
        4096,
    )
    .unwrap()
}

fn name_at(table: &[u8], addr: u64) -> Option<(&str, u64)> {
    lookup(table, addr).map(|s| (s.name, s.offset))
}

#[test]
fn layout_is_as_documented() {
    let t = build(vec![sym(0x1122_3344_5566_7788, 0x99, "ab"), sym(0x10, 7, "c")], 128).unwrap();
    assert_eq!(t.len(), 128);
    assert_eq!(&t[..8], b"ISOLASYM");
    assert_eq!(u32::from_le_bytes(t[8..12].try_into().unwrap()), 2);
    assert_eq!(u32::from_le_bytes(t[12..16].try_into().unwrap()), 3);
    // Entry 0: the lower address.
    assert_eq!(u64::from_le_bytes(t[16..24].try_into().unwrap()), 0x10);
    assert_eq!(u32::from_le_bytes(t[24..28].try_into().unwrap()), 7);
    assert_eq!(u32::from_le_bytes(t[28..32].try_into().unwrap()), 0);
    assert_eq!(u32::from_le_bytes(t[32..36].try_into().unwrap()), 1);
    assert_eq!(u32::from_le_bytes(t[36..40].try_into().unwrap()), 0);
    // Entry 1.
    assert_eq!(u64::from_le_bytes(t[40..48].try_into().unwrap()), 0x1122_3344_5566_7788);
    assert_eq!(u32::from_le_bytes(t[48..52].try_into().unwrap()), 0x99);
    assert_eq!(u32::from_le_bytes(t[52..56].try_into().unwrap()), 1);
    assert_eq!(u32::from_le_bytes(t[56..60].try_into().unwrap()), 2);
    // Strings, then zeros.
    assert_eq!(&t[64..67], b"cab");
    assert!(t[67..].iter().all(|&b| b == 0));
    assert_eq!(HEADER_LEN + 2 * ENTRY_LEN, 64);
}

#[test]
fn lookup_start_middle_end() {
    let t = sample();
    assert_eq!(name_at(&t, 0x1000), Some(("first", 0)));
    assert_eq!(name_at(&t, 0x1040), Some(("first", 0x40)));
    assert_eq!(name_at(&t, 0x107f), Some(("first", 0x7f)));
    // Past the end of a sized symbol, before the next one.
    assert_eq!(name_at(&t, 0x1080), None);
    assert_eq!(name_at(&t, 0x1fff), None);
    assert_eq!(name_at(&t, 0x30ff), Some(("third", 0xff)));
    assert_eq!(name_at(&t, 0x3100), None);
    let s = lookup(&t, 0x4008).unwrap();
    assert_eq!(s, Symbol { name: "kernel::main", start: 0x4000, offset: 8 });
}

#[test]
fn unsized_symbol_extends_to_the_next() {
    let t = sample();
    assert_eq!(name_at(&t, 0x2000), Some(("second_unsized", 0)));
    assert_eq!(name_at(&t, 0x2fff), Some(("second_unsized", 0xfff)));
    assert_eq!(name_at(&t, 0x3000), Some(("third", 0)));
    // A last symbol of size 0 covers its own address only.
    let t = build(vec![sym(0x1000, 0x10, "a"), sym(0x5000, 0, "_end")], 256).unwrap();
    assert_eq!(name_at(&t, 0x5000), Some(("_end", 0)));
    assert_eq!(name_at(&t, 0x5001), None);
}

#[test]
fn lookup_outside_every_symbol() {
    let t = sample();
    assert_eq!(lookup(&t, 0), None);
    assert_eq!(lookup(&t, 0xfff), None);
    assert_eq!(lookup(&t, 0x4010), None);
    assert_eq!(lookup(&t, u64::MAX), None);
}

#[test]
fn overlapping_symbols() {
    // An outer function containing a smaller local symbol.
    let t = build(vec![sym(0x1000, 0x1000, "outer"), sym(0x1100, 0x10, "inner")], 256).unwrap();
    assert_eq!(name_at(&t, 0x1105), Some(("inner", 5)));
    assert_eq!(name_at(&t, 0x1200), Some(("outer", 0x200)));
    assert_eq!(name_at(&t, 0x2000), None);
}

#[test]
fn symbol_at_top_of_address_space() {
    let t = build(vec![sym(u64::MAX - 0xf, 0x100, "top")], 128).unwrap();
    assert_eq!(name_at(&t, u64::MAX), Some(("top", 0xf)));
}

#[test]
fn build_drops_zero_and_duplicate_addresses() {
    let t = build(
        vec![
            sym(0, 0x10, "null"),
            sym(0x1000, 0, "alias_unsized"),
            sym(0x1000, 0x20, "real"),
            sym(0x1000, 0x20, "real_alias"),
            sym(0x2000, 4, "other"),
        ],
        512,
    )
    .unwrap();
    let table = Table::parse(&t).unwrap();
    let entries: Vec<_> = table.iter().map(|e| (e.addr, e.size, e.name)).collect();
    assert_eq!(entries, vec![(0x1000, 0x20, "real"), (0x2000, 4, "other")]);
    assert_eq!(table.len(), 2);
    assert!(!table.is_empty());
    assert_eq!(lookup(&t, 0), None);
}

#[test]
fn build_truncates_names_on_char_boundaries() {
    let long = "x".repeat(300);
    // 199 ASCII bytes then a 3-byte char straddling byte 200.
    let straddle = format!("{}\u{20ac}tail", "y".repeat(199));
    let t = build(vec![sym(0x1000, 1, &long), sym(0x2000, 1, &straddle), sym(0x3000, 1, "")], 4096).unwrap();
    let table = Table::parse(&t).unwrap();
    assert_eq!(table.get(0).unwrap().name, "x".repeat(MAX_NAME_LEN));
    assert_eq!(table.get(1).unwrap().name, "y".repeat(199));
    assert_eq!(table.get(2).unwrap().name, "");
    assert_eq!(name_at(&t, 0x3000), Some(("", 0)));
    // Exactly 200 bytes ending in a multi-byte char is kept whole.
    let exact = format!("{}\u{e9}", "z".repeat(198));
    assert_eq!(exact.len(), 200);
    let t = build(vec![sym(0x1000, 1, &exact)], 512).unwrap();
    assert_eq!(name_at(&t, 0x1000).unwrap().0, exact);
}

#[test]
fn huge_sizes_saturate() {
    let t = build(vec![sym(0x1000, 1 << 40, "big")], 128).unwrap();
    assert_eq!(Table::parse(&t).unwrap().get(0).unwrap().size, u32::MAX);
}

#[test]
fn empty_table() {
    let t = build(Vec::new(), 16).unwrap();
    assert_eq!(&t[..8], &MAGIC);
    assert!(Table::parse(&t).unwrap().is_empty());
    assert_eq!(lookup(&t, 0x1000), None);
}

#[test]
fn too_large() {
    let symbols = vec![sym(0x1000, 1, "abc"), sym(0x2000, 1, "de")];
    let needed = HEADER_LEN + 2 * ENTRY_LEN + 5;
    assert_eq!(build(symbols.clone(), needed).unwrap().len(), needed);
    let err = build(symbols, needed - 1).unwrap_err();
    assert_eq!(err, BuildError::TooLarge { needed, capacity: needed - 1 });
    let msg = err.to_string();
    assert!(msg.contains("KSYMS_SIZE") && msg.contains("kernel/linker.ld"), "{msg}");
    assert!(msg.contains(&needed.to_string()));
    assert!(matches!(build(Vec::new(), 15), Err(BuildError::TooLarge { needed: 16, capacity: 15 })));
}

#[test]
fn unfilled_and_wrong_magic() {
    assert_eq!(lookup(&[0; 4096], 0x1000), None);
    assert_eq!(lookup(&[], 0), None);
    assert_eq!(lookup(b"ISOLASY", 0), None);
    let mut t = sample();
    t[0] = b'X';
    assert_eq!(lookup(&t, 0x1000), None);
}

#[test]
fn truncated_tables() {
    let t = sample();
    let full = Table::parse(&t).unwrap();
    let used = HEADER_LEN + full.len() * ENTRY_LEN + full.iter().map(|e| e.name.len()).sum::<usize>();
    for cut in 0..used {
        assert!(Table::parse(&t[..cut]).is_none(), "cut at {cut}");
        assert_eq!(lookup(&t[..cut], 0x1000), None);
    }
    assert_eq!(name_at(&t[..used], 0x1000), Some(("first", 0)));
}

#[test]
fn corrupt_fields() {
    let base = sample();
    let mut t = base.clone();
    // count far too large.
    t[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(lookup(&t, 0x1000), None);
    // strings_len far too large.
    let mut t = base.clone();
    t[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(lookup(&t, 0x1000), None);
    // name offset out of the string area: that entry is unusable.
    let mut t = base.clone();
    t[16 + 12..16 + 16].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(lookup(&t, 0x1000), None);
    assert_eq!(name_at(&t, 0x3000), Some(("third", 0)));
    // name_off + name_len overflowing.
    let mut t = base.clone();
    t[16 + 12..16 + 16].copy_from_slice(&1u32.to_le_bytes());
    t[16 + 16..16 + 20].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(lookup(&t, 0x1000), None);
    // Invalid UTF-8 in a name.
    let mut t = base.clone();
    let strings = HEADER_LEN + 4 * ENTRY_LEN;
    t[strings] = 0xff;
    assert_eq!(lookup(&t, 0x1000), None);
    // Unsorted entries give wrong answers at worst, never a panic.
    let mut t = base;
    t[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
    for addr in [0, 0x1000, 0x2000, 0x4000, u64::MAX] {
        let _ = lookup(&t, addr);
    }
}

/// xorshift64*, enough to shake the parser.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for round in 0..2000 {
        let len = (rng.next() % 600) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        // Half the time, a valid magic and small counts so the parser gets
        // past the header.
        if round % 2 == 0 && len >= HEADER_LEN {
            bytes[..8].copy_from_slice(&MAGIC);
            let count = (rng.next() % 24) as u32;
            let strings_len = (rng.next() % 128) as u32;
            bytes[8..12].copy_from_slice(&count.to_le_bytes());
            bytes[12..16].copy_from_slice(&strings_len.to_le_bytes());
        }
        for _ in 0..8 {
            let addr = rng.next() >> (rng.next() % 64);
            if let Some(s) = lookup(&bytes, addr) {
                assert!(s.start <= addr && s.start + s.offset == addr);
            }
        }
    }
}

#[test]
fn random_mutations_of_a_valid_table_never_panic() {
    let mut rng = Rng(42);
    let base = sample();
    for _ in 0..2000 {
        let mut t = base.clone();
        for _ in 0..(1 + rng.next() % 4) {
            let at = (rng.next() % 200) as usize;
            t[at] = rng.next() as u8;
        }
        for addr in [0x1000, 0x1040, 0x2500, 0x3000, 0x4008, rng.next()] {
            if let Some(s) = lookup(&t, addr) {
                assert_eq!(s.start.wrapping_add(s.offset), addr);
            }
        }
    }
}

#[test]
fn round_trip_many_symbols() {
    let symbols: Vec<_> = (1..=500u64).map(|i| sym(i * 0x100, 0x80, &format!("fn_{i}"))).collect();
    let t = build(symbols.into_iter().rev().collect(), 64 * 1024).unwrap();
    for i in 1..=500u64 {
        let name = format!("fn_{i}");
        assert_eq!(name_at(&t, i * 0x100 + 0x7f), Some((name.as_str(), 0x7f)));
        assert_eq!(lookup(&t, i * 0x100 + 0x80), None);
    }
}
