//! Random bytes for getrandom and AT_RANDOM: RDRAND where the CPU has it,
//! otherwise a xorshift generator seeded from the TSC (not cryptographic).

use core::sync::atomic::{AtomicU64, Ordering};

use crate::arch::cpu;

static STATE: AtomicU64 = AtomicU64::new(0);

fn fallback() -> u64 {
    let mut x = STATE.load(Ordering::Relaxed);
    if x == 0 {
        x = cpu::rdtsc() | 1;
    }
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    STATE.store(x, Ordering::Relaxed);
    x.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

/// Fills `buf` with random bytes.
pub fn fill(buf: &mut [u8]) {
    for chunk in buf.chunks_mut(8) {
        let word = cpu::rdrand().unwrap_or_else(fallback).to_le_bytes();
        chunk.copy_from_slice(&word[..chunk.len()]);
    }
}
