//! Host tests of the walks, on an emulated physical memory.

use super::emulate::EmulatedMemory;
use super::*;

fn key(i: u8) -> Key {
    Key::new(i).unwrap()
}

fn data(k: Key) -> Attributes {
    Attributes { writable: true, executable: false, user: true, global: false, no_cache: false, key: k }
}

fn code(k: Key) -> Attributes {
    Attributes { writable: false, executable: true, user: true, global: false, no_cache: false, key: k }
}

fn setup() -> (EmulatedMemory, PhysAddr) {
    let mut mem = EmulatedMemory::new(64);
    let root = mem.alloc_table().unwrap();
    (mem, root)
}

const V: VirtAddr = VirtAddr::new(0x0000_1234_5678_0000);
const P: PhysAddr = PhysAddr::new(0x0000_0009_8765_4000);
const V2M: VirtAddr = VirtAddr::new(0x0000_4000_0020_0000);
const P2M: PhysAddr = PhysAddr::new(0x0000_0001_0040_0000);

#[test]
fn address_helpers() {
    let a = VirtAddr::new(0x1234);
    assert_eq!(a.as_u64(), 0x1234);
    assert_eq!(a.align_down(PAGE_SIZE), VirtAddr::new(0x1000));
    assert_eq!(a.align_up(PAGE_SIZE), Some(VirtAddr::new(0x2000)));
    assert_eq!(VirtAddr::new(0x2000).align_up(PAGE_SIZE), Some(VirtAddr::new(0x2000)));
    assert_eq!(VirtAddr::new(u64::MAX).align_up(PAGE_SIZE), None);
    assert!(!a.is_aligned(PAGE_SIZE));
    assert!(VirtAddr::new(0x20_0000).is_aligned(HUGE_PAGE_SIZE));
    assert_eq!(a.page_offset(), 0x234);
    assert_eq!(a.checked_add(0x10), Some(VirtAddr::new(0x1244)));
    assert_eq!(VirtAddr::new(u64::MAX).checked_add(1), None);
    assert_eq!(a.checked_sub(0x1235), None);
    assert_eq!(a.checked_sub(0x234), Some(VirtAddr::new(0x1000)));
    assert_eq!(a.checked_offset_from(VirtAddr::new(0x1000)), Some(0x234));
    assert_eq!(VirtAddr::new(0x1000).checked_offset_from(a), None);
    assert_eq!(format!("{:?}", PhysAddr::new(0xabc000)), "PhysAddr(0xabc000)");
    assert_eq!(format!("{:?}", a), "VirtAddr(0x1234)");
    assert_eq!(format!("{}", a), "0x1234");
    assert_eq!(format!("{:x}", a), "1234");
    assert!(PhysAddr::new(1) < PhysAddr::new(2));
}

#[test]
fn canonical_addresses() {
    for ok in [0, 0x7fff_ffff_ffff, 0xffff_8000_0000_0000, u64::MAX] {
        assert_eq!(VirtAddr::new_canonical(ok), Some(VirtAddr::new(ok)), "{ok:#x}");
    }
    for bad in [0x8000_0000_0000, 0x0001_0000_0000_0000, 0xffff_7fff_ffff_ffff, 0x8000_0000_0000_0000] {
        assert_eq!(VirtAddr::new_canonical(bad), None, "{bad:#x}");
    }
    assert!(VirtAddr::new(0xffff_ffff_8000_0000).is_higher_half());
    assert!(!VirtAddr::new(0x40_0000).is_higher_half());
}

#[test]
fn indices_split_the_address() {
    let v = VirtAddr::new((3 << 39) | (511 << 30) | (7 << 21) | (200 << 12) | 0xabc);
    assert_eq!(indices(v), [3, 511, 7, 200]);
    assert_eq!(indices(VirtAddr::new(0)), [0, 0, 0, 0]);
    assert_eq!(indices(VirtAddr::new(0xffff_ffff_ffff_f000)), [511, 511, 511, 511]);
    assert_eq!(indices(VirtAddr::new(0xffff_8000_0000_0000)), [256, 0, 0, 0]);
}

#[test]
fn entry_packing() {
    let flags = PteFlags::PRESENT | PteFlags::WRITABLE | PteFlags::NO_EXECUTE;
    let e = PageTableEntry::new(PhysAddr::new(0x000f_ffff_ffff_f000), flags, key(9));
    assert_eq!(e.addr(), PhysAddr::new(0x000f_ffff_ffff_f000));
    assert_eq!(e.flags(), flags);
    assert_eq!(e.key(), key(9));
    assert!(e.is_present());
    assert!(!e.is_huge());
    assert_eq!(e.raw(), 0x000f_ffff_ffff_f000 | 0b11 | (1 << 63) | (9 << 59));
    assert_eq!(PageTableEntry::from_raw(e.raw()), e);
    assert!(!PageTableEntry::EMPTY.is_present());
    assert_eq!(PageTableEntry::EMPTY.key(), Key::KERNEL);
    // Software-available bits are not flags, except PARKED (bit 9).
    assert_eq!(PageTableEntry::from_raw(0xc00 | 1).flags(), PteFlags::PRESENT);
    assert_eq!(PageTableEntry::from_raw(0x200 | 1).flags(), PteFlags::PRESENT | PteFlags::PARKED);
}

#[test]
fn entry_key_bits_all_keys() {
    let base = PageTableEntry::new(P, PteFlags::PRESENT | PteFlags::NO_EXECUTE, Key::KERNEL);
    for k in Key::all() {
        let e = PageTableEntry::new(P, PteFlags::PRESENT | PteFlags::NO_EXECUTE, k);
        assert_eq!(e.key(), k);
        assert_eq!(e.raw() >> 59 & 0xf, u64::from(k.index()));
        // The key does not leak into the address, the flags or NX.
        assert_eq!(e.addr(), P);
        assert_eq!(e.flags(), PteFlags::PRESENT | PteFlags::NO_EXECUTE);
        assert_eq!(base.with_key(k), e);
        assert_eq!(e.with_key(Key::KERNEL), base);
    }
}

#[test]
fn leaf_flags_and_back() {
    let a = Attributes { writable: true, executable: false, user: true, global: true, no_cache: true, key: key(3) };
    let f = a.leaf_flags(PageSize::Size4K);
    assert_eq!(
        f,
        PteFlags::PRESENT
            | PteFlags::WRITABLE
            | PteFlags::USER
            | PteFlags::GLOBAL
            | PteFlags::NO_CACHE
            | PteFlags::NO_EXECUTE
    );
    assert!(a.leaf_flags(PageSize::Size2M).contains(PteFlags::HUGE));
    let c = code(key(0)).leaf_flags(PageSize::Size4K);
    assert_eq!(c, PteFlags::PRESENT | PteFlags::USER);
    assert_eq!(Attributes::from_entry(PageTableEntry::new(P, f, key(3))), a);
    assert_eq!(PageSize::Size4K.bytes(), 4096);
    assert_eq!(PageSize::Size2M.bytes(), 2 << 20);
}

#[test]
fn map_translate_unmap_4k() {
    let (mut mem, root) = setup();
    map(&mut mem, root, V, P, PageSize::Size4K, data(key(5))).unwrap();
    assert_eq!(mem.live_tables(), 4);
    let t = translate(&mem, root, V.checked_add(0x123).unwrap()).unwrap();
    assert_eq!(t.phys, PhysAddr::new(P.as_u64() + 0x123));
    assert_eq!(t.size, PageSize::Size4K);
    assert_eq!(t.attrs, data(key(5)));
    // The neighbours are not mapped.
    assert_eq!(translate(&mem, root, V.checked_add(PAGE_SIZE).unwrap()), None);
    assert_eq!(translate(&mem, root, V.checked_sub(1).unwrap()), None);
    assert_eq!(unmap(&mut mem, root, V), Ok((P, PageSize::Size4K)));
    assert_eq!(translate(&mem, root, V), None);
    // The three intermediate tables were freed; the root stays.
    assert_eq!(mem.live_tables(), 1);
    assert!(mem.is_live(root));
    assert_eq!(mem.frees(), 3);
    assert!((0..ENTRIES).all(|i| mem.read_entry(root, i) == PageTableEntry::EMPTY));
}

#[test]
fn map_translate_unmap_2m() {
    let (mut mem, root) = setup();
    map(&mut mem, root, V2M, P2M, PageSize::Size2M, code(key(7))).unwrap();
    // PML4 -> PDPT -> PD, no PT.
    assert_eq!(mem.live_tables(), 3);
    let [i0, i1, i2, _] = indices(V2M);
    let pdpt = mem.read_entry(root, i0).addr();
    let pd = mem.read_entry(pdpt, i1).addr();
    let leaf = mem.read_entry(pd, i2);
    assert!(leaf.flags().contains(PteFlags::HUGE | PteFlags::PRESENT));
    assert_eq!(leaf.key(), key(7));
    let t = translate(&mem, root, V2M.checked_add(0x1f_fff3).unwrap()).unwrap();
    assert_eq!(t.phys, PhysAddr::new(P2M.as_u64() + 0x1f_fff3));
    assert_eq!(t.size, PageSize::Size2M);
    assert_eq!(t.attrs, code(key(7)));
    assert_eq!(translate(&mem, root, V2M.checked_add(HUGE_PAGE_SIZE).unwrap()), None);
    assert_eq!(unmap(&mut mem, root, V2M), Ok((P2M, PageSize::Size2M)));
    assert_eq!(mem.live_tables(), 1);
}

#[test]
fn intermediate_entries_are_permissive_and_keyless() {
    let (mut mem, root) = setup();
    let ro_kernel =
        Attributes { writable: false, executable: false, user: false, global: true, no_cache: false, key: key(0) };
    map(&mut mem, root, V, P, PageSize::Size4K, Attributes { key: key(12), ..ro_kernel }).unwrap();
    let [i0, i1, i2, i3] = indices(V);
    let mut table = root;
    for index in [i0, i1, i2] {
        let e = mem.read_entry(table, index);
        assert_eq!(e.flags(), PteFlags::PRESENT | PteFlags::WRITABLE | PteFlags::USER);
        assert_eq!(e.key(), Key::KERNEL);
        table = e.addr();
    }
    let leaf = mem.read_entry(table, i3);
    assert_eq!(leaf.flags(), PteFlags::PRESENT | PteFlags::GLOBAL | PteFlags::NO_EXECUTE);
    assert_eq!(leaf.key(), key(12));
}

#[test]
fn existing_intermediate_entries_are_widened() {
    let (mut mem, root) = setup();
    let pdpt = mem.alloc_table().unwrap();
    let [i0, ..] = indices(V);
    mem.write_entry(root, i0, PageTableEntry::new(pdpt, PteFlags::PRESENT | PteFlags::NO_EXECUTE, Key::KERNEL));
    map(&mut mem, root, V, P, PageSize::Size4K, data(key(1))).unwrap();
    let e = mem.read_entry(root, i0);
    assert_eq!(e.addr(), pdpt);
    assert_eq!(e.flags(), PteFlags::PRESENT | PteFlags::WRITABLE | PteFlags::USER);
    assert_eq!(translate(&mem, root, V).unwrap().phys, P);
}

#[test]
fn key_round_trip_through_map_for_all_keys() {
    let (mut mem, root) = setup();
    for k in Key::all() {
        let v = VirtAddr::new(0x40_0000 + u64::from(k.index()) * PAGE_SIZE);
        let p = PhysAddr::new(0x80_0000 + u64::from(k.index()) * PAGE_SIZE);
        map(&mut mem, root, v, p, PageSize::Size4K, data(k)).unwrap();
        let v2 = VirtAddr::new(0x4000_0000 + u64::from(k.index()) * HUGE_PAGE_SIZE);
        map(&mut mem, root, v2, P2M, PageSize::Size2M, code(k)).unwrap();
    }
    for k in Key::all() {
        let v = VirtAddr::new(0x40_0000 + u64::from(k.index()) * PAGE_SIZE);
        assert_eq!(translate(&mem, root, v).unwrap().attrs.key, k);
        let v2 = VirtAddr::new(0x4000_0000 + u64::from(k.index()) * HUGE_PAGE_SIZE);
        assert_eq!(translate(&mem, root, v2).unwrap().attrs.key, k);
        // protect can change the key.
        let other = Key::new(15 - k.index()).unwrap();
        protect(&mut mem, root, v, data(other)).unwrap();
        assert_eq!(translate(&mem, root, v).unwrap().attrs.key, other);
    }
}

#[test]
fn w_xor_x_is_refused() {
    let (mut mem, root) = setup();
    let wx = Attributes { writable: true, executable: true, ..data(key(1)) };
    assert_eq!(map(&mut mem, root, V, P, PageSize::Size4K, wx), Err(MapError::WritableAndExecutable));
    assert_eq!(map(&mut mem, root, V2M, P2M, PageSize::Size2M, wx), Err(MapError::WritableAndExecutable));
    assert_eq!(mem.live_tables(), 1, "a refused map creates no table");
    map(&mut mem, root, V, P, PageSize::Size4K, code(key(1))).unwrap();
    assert_eq!(protect(&mut mem, root, V, wx), Err(MapError::WritableAndExecutable));
    assert_eq!(translate(&mem, root, V).unwrap().attrs, code(key(1)));
}

#[test]
fn non_executable_leaves_get_nx() {
    let (mut mem, root) = setup();
    map(&mut mem, root, V, P, PageSize::Size4K, data(key(1))).unwrap();
    let [i0, i1, i2, i3] = indices(V);
    let pt = [i0, i1, i2].iter().fold(root, |t, &i| mem.read_entry(t, i).addr());
    assert!(mem.read_entry(pt, i3).flags().contains(PteFlags::NO_EXECUTE));
    protect(&mut mem, root, V, code(key(1))).unwrap();
    assert!(!mem.read_entry(pt, i3).flags().contains(PteFlags::NO_EXECUTE));
}

#[test]
fn protect_changes_attributes_and_keeps_frame_and_dirty() {
    let (mut mem, root) = setup();
    map(&mut mem, root, V2M, P2M, PageSize::Size2M, data(key(2))).unwrap();
    // Pretend the CPU set ACCESSED and DIRTY.
    let [i0, i1, i2, _] = indices(V2M);
    let pd = [i0, i1].iter().fold(root, |t, &i| mem.read_entry(t, i).addr());
    let leaf = mem.read_entry(pd, i2);
    mem.write_entry(pd, i2, PageTableEntry::from_raw(leaf.raw() | (PteFlags::ACCESSED | PteFlags::DIRTY).bits()));
    let ro = Attributes { writable: false, ..data(key(4)) };
    assert_eq!(protect(&mut mem, root, V2M, ro), Ok(PageSize::Size2M));
    let leaf = mem.read_entry(pd, i2);
    assert_eq!(leaf.addr(), P2M);
    assert!(leaf.flags().contains(PteFlags::ACCESSED | PteFlags::DIRTY | PteFlags::HUGE));
    assert!(!leaf.flags().contains(PteFlags::WRITABLE));
    assert_eq!(translate(&mem, root, V2M).unwrap().attrs, ro);
}

#[test]
fn protect_and_unmap_errors() {
    let (mut mem, root) = setup();
    assert_eq!(protect(&mut mem, root, V, data(key(1))), Err(MapError::NotMapped));
    assert_eq!(unmap(&mut mem, root, V), Err(MapError::NotMapped));
    map(&mut mem, root, V, P, PageSize::Size4K, data(key(1))).unwrap();
    assert_eq!(unmap(&mut mem, root, V.checked_add(PAGE_SIZE).unwrap()), Err(MapError::NotMapped));
    assert_eq!(unmap(&mut mem, root, V.checked_add(8).unwrap()), Err(MapError::Misaligned));
    assert_eq!(protect(&mut mem, root, V.checked_add(8).unwrap(), data(key(1))), Err(MapError::Misaligned));
    let bad = VirtAddr::new(0x8000_0000_0000);
    assert_eq!(unmap(&mut mem, root, bad), Err(MapError::NonCanonical));
    assert_eq!(protect(&mut mem, root, bad, data(key(1))), Err(MapError::NonCanonical));
    assert_eq!(translate(&mem, root, bad), None);
    // Inside a 2 MiB leaf but not at its start.
    map(&mut mem, root, V2M, P2M, PageSize::Size2M, data(key(1))).unwrap();
    let inside = V2M.checked_add(PAGE_SIZE).unwrap();
    assert_eq!(unmap(&mut mem, root, inside), Err(MapError::HugePageInTheWay));
    assert_eq!(protect(&mut mem, root, inside, data(key(2))), Err(MapError::HugePageInTheWay));
    assert_eq!(translate(&mem, root, inside).unwrap().attrs.key, key(1));
}

#[test]
fn map_errors() {
    let (mut mem, root) = setup();
    let a = data(key(1));
    assert_eq!(
        map(&mut mem, root, VirtAddr::new(0x8000_0000_0000), P, PageSize::Size4K, a),
        Err(MapError::NonCanonical)
    );
    assert_eq!(map(&mut mem, root, V.checked_add(1).unwrap(), P, PageSize::Size4K, a), Err(MapError::Misaligned));
    assert_eq!(map(&mut mem, root, V, P.checked_add(8).unwrap(), PageSize::Size4K, a), Err(MapError::Misaligned));
    // 4 KiB aligned is not 2 MiB aligned.
    assert_eq!(map(&mut mem, root, V, P2M, PageSize::Size2M, a), Err(MapError::Misaligned));
    assert_eq!(map(&mut mem, root, V2M, P, PageSize::Size2M, a), Err(MapError::Misaligned));
    // A physical address beyond 52 bits cannot be encoded.
    assert_eq!(map(&mut mem, root, V, PhysAddr::new(1 << 52), PageSize::Size4K, a), Err(MapError::Misaligned));
    assert_eq!(mem.live_tables(), 1);

    map(&mut mem, root, V, P, PageSize::Size4K, a).unwrap();
    assert_eq!(map(&mut mem, root, V, P2M, PageSize::Size4K, a), Err(MapError::AlreadyMapped));
    // A 2 MiB map where a table of 4 KiB leaves sits.
    let v2m_over_v = V.align_down(HUGE_PAGE_SIZE);
    assert_eq!(map(&mut mem, root, v2m_over_v, P2M, PageSize::Size2M, a), Err(MapError::AlreadyMapped));

    map(&mut mem, root, V2M, P2M, PageSize::Size2M, a).unwrap();
    assert_eq!(map(&mut mem, root, V2M, P2M, PageSize::Size2M, a), Err(MapError::AlreadyMapped));
    let inside = V2M.checked_add(5 * PAGE_SIZE).unwrap();
    assert_eq!(map(&mut mem, root, inside, P, PageSize::Size4K, a), Err(MapError::HugePageInTheWay));
    assert_eq!(map(&mut mem, root, V2M, P, PageSize::Size4K, a), Err(MapError::HugePageInTheWay));
}

#[test]
fn one_gib_leaves_are_in_the_way() {
    let (mut mem, root) = setup();
    let pdpt = mem.alloc_table().unwrap();
    let v = VirtAddr::new(0x40_0000_0000);
    let [i0, i1, ..] = indices(v);
    mem.write_entry(root, i0, PageTableEntry::new(pdpt, INTERMEDIATE_FLAGS, Key::KERNEL));
    mem.write_entry(pdpt, i1, PageTableEntry::new(PhysAddr::new(0), PteFlags::PRESENT | PteFlags::HUGE, key(1)));
    let a = data(key(1));
    assert_eq!(map(&mut mem, root, v, P, PageSize::Size4K, a), Err(MapError::HugePageInTheWay));
    assert_eq!(map(&mut mem, root, v, P2M, PageSize::Size2M, a), Err(MapError::HugePageInTheWay));
    assert_eq!(unmap(&mut mem, root, v), Err(MapError::HugePageInTheWay));
    assert_eq!(protect(&mut mem, root, v, a), Err(MapError::HugePageInTheWay));
    assert_eq!(translate(&mem, root, v), None);
}

#[test]
fn shared_tables_are_kept_until_empty() {
    let (mut mem, root) = setup();
    let a = data(key(1));
    let v1 = V;
    let v2 = V.checked_add(PAGE_SIZE).unwrap(); // same PT
    let v3 = V.checked_add(HUGE_PAGE_SIZE).unwrap(); // same PD, other PT
    map(&mut mem, root, v1, P, PageSize::Size4K, a).unwrap();
    map(&mut mem, root, v2, P, PageSize::Size4K, a).unwrap();
    assert_eq!(mem.live_tables(), 4);
    map(&mut mem, root, v3, P, PageSize::Size4K, a).unwrap();
    assert_eq!(mem.live_tables(), 5);
    unmap(&mut mem, root, v1).unwrap();
    assert_eq!(mem.live_tables(), 5, "the PT still maps v2");
    unmap(&mut mem, root, v2).unwrap();
    assert_eq!(mem.live_tables(), 4, "the first PT is freed, the PD still holds the second");
    assert!(translate(&mem, root, v3).is_some());
    unmap(&mut mem, root, v3).unwrap();
    assert_eq!(mem.live_tables(), 1);
}

#[test]
fn higher_half_mappings() {
    let (mut mem, root) = setup();
    let v = VirtAddr::new(0xffff_ffff_8020_0000);
    let a = Attributes { user: false, global: true, ..code(Key::KERNEL) };
    map(&mut mem, root, v, P2M, PageSize::Size2M, a).unwrap();
    assert_eq!(indices(v)[0], 511);
    let t = translate(&mem, root, v.checked_add(0x42).unwrap()).unwrap();
    assert_eq!(t.phys, PhysAddr::new(P2M.as_u64() + 0x42));
    assert_eq!(t.attrs, a);
}

#[test]
fn out_of_memory_leaves_no_trace() {
    for capacity in 1..4 {
        let mut mem = EmulatedMemory::new(capacity);
        let root = mem.alloc_table().unwrap();
        assert_eq!(map(&mut mem, root, V, P, PageSize::Size4K, data(key(1))), Err(MapError::OutOfMemory));
        assert_eq!(mem.live_tables(), 1, "capacity {capacity}");
        assert!((0..ENTRIES).all(|i| mem.read_entry(root, i) == PageTableEntry::EMPTY));
        mem.set_capacity(4);
        map(&mut mem, root, V, P, PageSize::Size4K, data(key(1))).unwrap();
        assert_eq!(translate(&mem, root, V).unwrap().phys, P);
    }
    // Existing tables are reused without allocating.
    let mut mem = EmulatedMemory::new(4);
    let root = mem.alloc_table().unwrap();
    map(&mut mem, root, V, P, PageSize::Size4K, data(key(1))).unwrap();
    let before = mem.allocations();
    map(&mut mem, root, V.checked_add(PAGE_SIZE).unwrap(), P, PageSize::Size4K, data(key(1))).unwrap();
    assert_eq!(mem.allocations(), before);
}

#[test]
fn many_mappings_round_trip() {
    let mut mem = EmulatedMemory::new(4096);
    let root = mem.alloc_table().unwrap();
    let mut pages = Vec::new();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..300u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let v = VirtAddr::new((x & 0x7fff_ffff_f000) | (i << 12) & 0xfff000);
        let p = PhysAddr::new(i * PAGE_SIZE + 0x10_0000);
        let k = key((i % 16) as u8);
        match map(&mut mem, root, v, p, PageSize::Size4K, data(k)) {
            Ok(()) => pages.push((v, p, k)),
            Err(e) => assert_eq!(e, MapError::AlreadyMapped),
        }
    }
    for &(v, p, k) in &pages {
        let t = translate(&mem, root, v).unwrap();
        assert_eq!((t.phys, t.attrs.key), (p, k));
    }
    for &(v, p, _) in &pages {
        assert_eq!(unmap(&mut mem, root, v), Ok((p, PageSize::Size4K)));
    }
    assert_eq!(mem.live_tables(), 1);
    assert_eq!(mem.allocations(), mem.frees() + 1);
}

#[test]
fn error_display() {
    assert_eq!(MapError::WritableAndExecutable.to_string(), "mapping would be writable and executable (W^X)");
    assert_eq!(MapError::NotMapped.to_string(), "address not mapped");
}

#[test]
#[should_panic(expected = "not a live page table")]
fn emulated_memory_catches_stray_tables() {
    let (mem, _root) = setup();
    mem.read_entry(PhysAddr::new(0x10_0000), 0);
}

#[test]
fn parked_leaves_keep_their_frame_and_are_not_present() {
    let key = Key::new(3).unwrap();
    let attrs = Attributes { writable: true, executable: false, user: true, global: false, no_cache: false, key };
    let entry = PageTableEntry::new(PhysAddr::new(0x1234_5000), attrs.leaf_flags(PageSize::Size4K), key);
    assert!(entry.is_present() && !entry.is_parked() && entry.holds_frame());
    let parked = entry.parked();
    assert!(!parked.is_present() && parked.is_parked() && parked.holds_frame());
    assert_eq!(parked.addr(), PhysAddr::new(0x1234_5000));
    assert!(!PageTableEntry::EMPTY.holds_frame());
}

#[test]
fn cow_copy_drops_write_in_both_keys_the_child_and_counts_every_frame() {
    let writable = PteFlags::PRESENT | PteFlags::WRITABLE | PteFlags::USER;
    let entry = |frame: u64, flags: PteFlags, k: u8| {
        PageTableEntry::from_raw(frame << 12 | flags.bits()).with_key(key(k)).raw()
    };
    let mut parent = [0u64; 20];
    parent[0] = entry(0x100, writable, 2);
    parent[9] = entry(0x101, PteFlags::PRESENT | PteFlags::USER, 2);
    parent[17] = PageTableEntry::from_raw(entry(0x102, writable, 2)).parked().raw();
    let before = parent;
    let mut child = [0u64; 20];
    let mut seen = Vec::new();
    cow_copy(&mut parent, &mut child, key(5), |leaf| seen.push(leaf.addr().as_u64() >> 12));
    assert_eq!(seen, [0x100, 0x101, 0x102]);
    for i in [0, 9] {
        let (p, c) = (PageTableEntry::from_raw(parent[i]), PageTableEntry::from_raw(child[i]));
        assert!(p.is_present() && c.is_present());
        assert_eq!(p.raw() & PteFlags::WRITABLE.bits(), 0, "slot {i} keeps its write right in the parent");
        assert_eq!(c.raw() & PteFlags::WRITABLE.bits(), 0, "slot {i} is writable in the child");
        assert_eq!(p.addr(), c.addr());
        assert_eq!(c.key(), key(5));
        assert_eq!(p.key(), key(2));
    }
    // A parked leaf stays parked (its frame kept) in both.
    assert_eq!(parent[17], before[17]);
    assert!(PageTableEntry::from_raw(child[17]).is_parked());
    assert_eq!(PageTableEntry::from_raw(child[17]).key(), key(5));
    for i in (0..20).filter(|i| ![0, 9, 17].contains(i)) {
        assert_eq!((parent[i], child[i]), (0, 0), "slot {i}");
    }
}
