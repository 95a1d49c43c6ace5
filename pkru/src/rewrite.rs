//! The rewriter of *unintended* WRPKRU: bytes `0F 01 EF` that are not a
//! `wrpkru` instruction but straddle or sit inside other instructions
//! (Debian's libnettle has `rol $0xf,%r15d; add %ebp,%edi` =
//! `41 C1 C7 0F | 01 EF`).
//!
//! As in ERIM (Vahldiek-Oberwagner et al., USENIX Security 2019, section
//! 4.3), each such occurrence is removed by re-encoding one of the
//! instructions that form it into an equivalent instruction of the **same
//! length**, so that no other byte moves:
//! - the other operand encoding of a register-register operation (`01 EF`,
//!   `add edi,ebp` with ModRM EF, is also `03 FD`): exactly the same
//!   operation, flags included;
//! - a rotate the other way (`rol r, n` is `ror r, width-n`): same result, but
//!   CF and OF differ, so only if every path from it overwrites them before
//!   reading them;
//! - `add r/m, imm` as `sub r/m, -imm` (and back): same result, CF/AF/OF
//!   may differ, same condition;
//! - a near `call`/`jmp`/`jcc` whose displacement holds the bytes
//!   (libcrypto's `call ERR_set_mark@plt` is `E8 0F 01 EF FF`) re-targeted
//!   at a `jmp` to its old target, written over dead padding (nops after
//!   an unconditional transfer, up to a 16-byte boundary).
//!
//! Instruction boundaries come from a linear sweep from the start of the
//! code (ERIM decodes linearly too), cross-checked by sweeps from several
//! points before each occurrence: x86 re-synchronises within a few
//! instructions, so sweeps that disagree about the instructions around the
//! bytes mean data in the code or hand-written overlap, and the occurrence is
//! refused. A real `wrpkru` (decoded at an instruction boundary) is refused.
//!
//! What this cannot prove: that no jump lands inside the rewritten bytes
//! (or into the padding). Compilers never jump into the middle of an
//! instruction or into padding, so on compiled code the rewrite preserves
//! behaviour; on code that does, the rewritten
//! program may misbehave. It never gains a WRPKRU: [`neutralize`] succeeds
//! only if the result holds no `0F 01 EF` at any byte offset, so isolation
//! does not depend on the decoder being right. See docs/dynamic.md.

use alloc::vec::Vec;

use iced_x86::{Code, Decoder, DecoderOptions, Encoder, FlowControl, Instruction, OpKind, RflagsBits};

use crate::scan::find_wrpkru;

/// The longest x86 instruction.
const MAX_INSTRUCTION: usize = 15;

/// How far before an occurrence the cross-checking sweeps start.
const SYNC_DISTANCES: [usize; 5] = [32, 128, 512, 2048, 8192];

/// How many instructions the flag check follows before giving up.
const FLAG_WINDOW: usize = 32;

/// One instruction that was re-encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    /// Where the unintended `0F 01 EF` started.
    pub wrpkru_at: usize,
    /// Where the re-encoded instruction starts.
    pub at: usize,
    /// Its bytes before (`len` of them are meaningful).
    pub before: [u8; MAX_INSTRUCTION],
    /// Its bytes after.
    pub after: [u8; MAX_INSTRUCTION],
    /// The instruction's length (unchanged by the rewrite).
    pub len: usize,
    /// Which equivalence was used.
    pub how: How,
    /// For [`How::BranchThroughPadding`]: the `jmp` written into dead
    /// padding, which the rewritten branch now targets.
    pub trampoline: Option<Trampoline>,
}

/// A `jmp rel32` to a branch's old target, written over dead padding, and
/// int3 up to the end of the padding instruction it ends in (so that the
/// padding still decodes into whole instructions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trampoline {
    /// Where it starts.
    pub at: usize,
    /// How many bytes it covers (5 to 19).
    pub len: usize,
    /// The padding's bytes before (`len` of them are meaningful).
    pub before: [u8; TRAMPOLINE_MAX],
    /// The `jmp` and the int3 bytes.
    pub after: [u8; TRAMPOLINE_MAX],
}

impl Trampoline {
    /// The padding's bytes before.
    pub fn before(&self) -> &[u8] {
        &self.before[..self.len]
    }

    /// The `jmp` and the int3 bytes after it.
    pub fn after(&self) -> &[u8] {
        &self.after[..self.len]
    }
}

/// `jmp rel32`.
const JMP_LEN: usize = 5;
/// A `jmp` and the rest of the longest padding instruction it ends in.
const TRAMPOLINE_MAX: usize = JMP_LEN + MAX_INSTRUCTION - 1;

/// Occurrences one call rewrites at most: real libraries have one or two,
/// and each costs decoding, so a crafted file full of them is refused
/// rather than keeping the kernel busy.
pub const MAX_OCCURRENCES: usize = 64;

/// Padding runs tried for one branch, nearest first.
const PADDING_TRIES: usize = 8;

impl Rewrite {
    /// The instruction's bytes before the rewrite.
    pub fn before(&self) -> &[u8] {
        &self.before[..self.len]
    }

    /// The instruction's bytes after the rewrite.
    pub fn after(&self) -> &[u8] {
        &self.after[..self.len]
    }
}

/// The equivalences the rewriter knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// The same register-register operation with the operands in the other
    /// ModRM fields (`01 /r` as `03 /r`, `xchg`/`test` with the operands
    /// swapped): identical, flags included.
    OtherOperandEncoding,
    /// `rol` as `ror` by the complementary count (or back); CF and OF were
    /// dead.
    RotateTheOtherWay,
    /// `add` of an immediate as `sub` of its negation (or back); CF, AF and
    /// OF were dead.
    AddAsSub,
    /// A `call`/`jmp`/`jcc` whose displacement holds the bytes now targets a
    /// `jmp` to its old target, written over dead padding (bytes of nops or
    /// int3 after an unconditional transfer, up to a 16-byte boundary):
    /// flags, stack and return address are as before.
    BranchThroughPadding,
}

impl How {
    /// What the log says.
    pub fn describe(self) -> &'static str {
        match self {
            How::OtherOperandEncoding => "same operation, other operand encoding",
            How::RotateTheOtherWay => "rotate the other way, CF/OF dead",
            How::AddAsSub => "add/sub of the negated immediate, CF/AF/OF dead",
            How::BranchThroughPadding => "branch through a jmp in dead padding",
        }
    }
}

/// Why an occurrence was not rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A real `wrpkru` instruction at an instruction boundary.
    Instruction { at: usize },
    /// Sweeps from different starting points disagree about the
    /// instructions that hold the bytes.
    Unsynchronized { at: usize },
    /// No equivalent same-length encoding of any instruction that holds the
    /// bytes (or each one would change a flag that is read later).
    NoEquivalent { at: usize },
    /// More than [`MAX_OCCURRENCES`] occurrences (`at` is the first).
    TooMany { at: usize },
}

impl Refusal {
    /// Where the refused `0F 01 EF` starts.
    pub fn at(self) -> usize {
        match self {
            Refusal::Instruction { at } | Refusal::Unsynchronized { at } | Refusal::NoEquivalent { at } | Refusal::TooMany { at } => at,
        }
    }

    /// What the log says.
    pub fn describe(self) -> &'static str {
        match self {
            Refusal::Instruction { .. } => "a wrpkru instruction",
            Refusal::Unsynchronized { .. } => "instruction boundaries not certain there",
            Refusal::NoEquivalent { .. } => "no equivalent encoding of the instructions holding it",
            Refusal::TooMany { .. } => "too many occurrences to rewrite",
        }
    }
}

/// Removes every `0F 01 EF` from `code`, which must start at an instruction
/// boundary (the start of an executable segment), by rewriting the
/// instructions that form it. Returns the rewrites in order; on a refusal
/// `code` is left as it was. On success `code` contains no `0F 01 EF` at any
/// byte offset.
pub fn neutralize(code: &mut [u8]) -> Result<Vec<Rewrite>, Refusal> {
    let mut done: Vec<Rewrite> = Vec::new();
    if let Some(first) = find_wrpkru(code).nth(MAX_OCCURRENCES).and(find_wrpkru(code).next()) {
        return Err(Refusal::TooMany { at: first });
    }
    let mut sweep = Sweep { resume: 0, padding: None };
    // Each rewrite removes one occurrence and adds none (and occurrences
    // cannot overlap), so this ends, and each next one lies further on.
    loop {
        let from = sweep.resume;
        let Some(hit) = find_wrpkru(&code[from..]).next().map(|at| at + from) else { break };
        match neutralize_one(code, hit, &mut sweep) {
            Ok(rewrite) => done.push(rewrite),
            Err(refusal) => {
                for r in done.iter().rev() {
                    undo(code, r);
                }
                return Err(refusal);
            }
        }
    }
    // What the kernel relies on, whatever the rewrites above did.
    let left = find_wrpkru(code).next();
    if let Some(at) = left {
        for r in done.iter().rev() {
            undo(code, r);
        }
        return Err(Refusal::NoEquivalent { at });
    }
    Ok(done)
}

/// Puts back what `rewrite` replaced.
fn undo(code: &mut [u8], rewrite: &Rewrite) {
    code[rewrite.at..rewrite.at + rewrite.len].copy_from_slice(rewrite.before());
    if let Some(t) = &rewrite.trampoline {
        code[t.at..t.at + t.len].copy_from_slice(t.before());
    }
}

/// What one [`neutralize`] call keeps between occurrences, so that the
/// code is decoded about once whatever the number of occurrences.
struct Sweep {
    /// An instruction boundary of the linear sweep from 0 at or before the
    /// next occurrence (rewrites keep every boundary).
    resume: usize,
    /// The dead padding runs, found at the first branch that needs one;
    /// a run used for a trampoline is taken out.
    padding: Option<Vec<usize>>,
}

/// Rewrites one instruction so that the occurrence at `hit` disappears and
/// no new one appears.
fn neutralize_one(code: &mut [u8], hit: usize, sweep: &mut Sweep) -> Result<Rewrite, Refusal> {
    let found = holders(code, sweep.resume, hit).ok_or(Refusal::Unsynchronized { at: hit })?;
    if let Some(first) = found.first() {
        sweep.resume = first.ip() as usize;
    }
    for start in SYNC_DISTANCES.iter().filter_map(|d| hit.checked_sub(*d)) {
        if holders(code, start, hit).as_ref() != Some(&found) {
            return Err(Refusal::Unsynchronized { at: hit });
        }
    }
    if found.iter().any(|i| i.ip() == hit as u64 && i.code() == Code::Wrpkru) {
        return Err(Refusal::Instruction { at: hit });
    }
    // Exact equivalents first: they need no reasoning about what follows.
    let strategies: [Strategy; 3] = [other_operand_encoding, rotate_the_other_way, add_as_sub];
    for strategy in strategies {
        for instr in &found {
            let Some((new, how)) = strategy(code, instr) else { continue };
            if let Some(rewrite) = apply(code, hit, instr, &new, how) {
                return Ok(rewrite);
            }
        }
    }
    for instr in &found {
        if let Some(rewrite) = branch_through_padding(code, hit, instr, sweep) {
            return Ok(rewrite);
        }
    }
    Err(Refusal::NoEquivalent { at: hit })
}

/// An equivalence: the instruction to put in place of one that holds a
/// byte of the occurrence, if it has one (given the code, for the flags).
type Strategy = fn(&[u8], &Instruction) -> Option<(Instruction, How)>;

/// The instructions that hold a byte of `code[hit..hit + 3]`, decoding
/// linearly from `start`; `None` if the sweep runs off the end first or
/// one of them does not decode (that is not code).
fn holders(code: &[u8], start: usize, hit: usize) -> Option<Vec<Instruction>> {
    let mut decoder = Decoder::with_ip(64, code.get(start..)?, start as u64, DecoderOptions::NONE);
    let mut found = Vec::new();
    while decoder.can_decode() {
        let instr = decoder.decode();
        let (from, to) = (instr.ip() as usize, instr.next_ip() as usize);
        if to <= hit {
            continue;
        }
        if from >= hit + 3 {
            break;
        }
        found.push(instr);
    }
    let complete = found.last().is_some_and(|i| i.next_ip() as usize >= hit + 3);
    (complete && !found.iter().any(Instruction::is_invalid)).then_some(found)
}

/// Encodes `new` in place of `old` if it has the same length, decodes back
/// to `new`, removes the occurrence at `hit` and creates no other.
fn apply(code: &mut [u8], hit: usize, old: &Instruction, new: &Instruction, how: How) -> Option<Rewrite> {
    let (at, len) = (old.ip() as usize, old.len());
    let mut encoder = Encoder::new(64);
    if encoder.encode(new, old.ip()).ok()? != len {
        return None;
    }
    let bytes = encoder.take_buffer();
    let mut check = Decoder::with_ip(64, &bytes, old.ip(), DecoderOptions::NONE);
    let decoded = check.decode();
    if decoded.is_invalid() || decoded.len() != len || decoded != *new {
        return None;
    }
    let window_start = at.min(hit).saturating_sub(2);
    let window_end = (at + len).max(hit + 3).saturating_add(2).min(code.len());
    let hits = |code: &[u8]| hits_in(code, &[(window_start, window_end)]);
    let hits_before = hits(code);
    let mut rewrite = Rewrite { wrpkru_at: hit, at, before: [0; MAX_INSTRUCTION], after: [0; MAX_INSTRUCTION], len, how, trampoline: None };
    rewrite.before[..len].copy_from_slice(&code[at..at + len]);
    rewrite.after[..len].copy_from_slice(&bytes);
    code[at..at + len].copy_from_slice(&bytes);
    let still_there = code[hit..].starts_with(&crate::scan::WRPKRU);
    if still_there || !hits(code).iter().all(|h| hits_before.contains(h)) {
        code[at..at + len].copy_from_slice(rewrite.before());
        return None;
    }
    Some(rewrite)
}

/// `op r/m, r` as `op r, r/m` (and back) when both operands are registers;
/// `xchg` and `test`, which have one form, with the operands swapped.
fn other_operand_encoding(_code: &[u8], instr: &Instruction) -> Option<(Instruction, How)> {
    if instr.op_count() != 2 || instr.op0_kind() != OpKind::Register || instr.op1_kind() != OpKind::Register {
        return None;
    }
    let mut new = *instr;
    if let Some(other) = other_direction(instr.code()) {
        new.set_code(other);
    } else if matches!(
        instr.code(),
        Code::Xchg_rm8_r8 | Code::Xchg_rm16_r16 | Code::Xchg_rm32_r32 | Code::Xchg_rm64_r64 | Code::Test_rm8_r8 | Code::Test_rm16_r16 | Code::Test_rm32_r32 | Code::Test_rm64_r64
    ) {
        new.set_op0_register(instr.op1_register());
        new.set_op1_register(instr.op0_register());
    } else {
        return None;
    }
    Some((new, How::OtherOperandEncoding))
}

/// The opcode with the direction bit flipped, for the operations that have
/// both (`00-3B` ALU ops and `mov`).
fn other_direction(code: Code) -> Option<Code> {
    use Code::*;
    const PAIRS: [(Code, Code); 36] = [
        (Add_rm8_r8, Add_r8_rm8), (Add_rm16_r16, Add_r16_rm16), (Add_rm32_r32, Add_r32_rm32), (Add_rm64_r64, Add_r64_rm64),
        (Or_rm8_r8, Or_r8_rm8), (Or_rm16_r16, Or_r16_rm16), (Or_rm32_r32, Or_r32_rm32), (Or_rm64_r64, Or_r64_rm64),
        (Adc_rm8_r8, Adc_r8_rm8), (Adc_rm16_r16, Adc_r16_rm16), (Adc_rm32_r32, Adc_r32_rm32), (Adc_rm64_r64, Adc_r64_rm64),
        (Sbb_rm8_r8, Sbb_r8_rm8), (Sbb_rm16_r16, Sbb_r16_rm16), (Sbb_rm32_r32, Sbb_r32_rm32), (Sbb_rm64_r64, Sbb_r64_rm64),
        (And_rm8_r8, And_r8_rm8), (And_rm16_r16, And_r16_rm16), (And_rm32_r32, And_r32_rm32), (And_rm64_r64, And_r64_rm64),
        (Sub_rm8_r8, Sub_r8_rm8), (Sub_rm16_r16, Sub_r16_rm16), (Sub_rm32_r32, Sub_r32_rm32), (Sub_rm64_r64, Sub_r64_rm64),
        (Xor_rm8_r8, Xor_r8_rm8), (Xor_rm16_r16, Xor_r16_rm16), (Xor_rm32_r32, Xor_r32_rm32), (Xor_rm64_r64, Xor_r64_rm64),
        (Cmp_rm8_r8, Cmp_r8_rm8), (Cmp_rm16_r16, Cmp_r16_rm16), (Cmp_rm32_r32, Cmp_r32_rm32), (Cmp_rm64_r64, Cmp_r64_rm64),
        (Mov_rm8_r8, Mov_r8_rm8), (Mov_rm16_r16, Mov_r16_rm16), (Mov_rm32_r32, Mov_r32_rm32), (Mov_rm64_r64, Mov_r64_rm64),
    ];
    PAIRS.iter().find_map(|&(a, b)| {
        if a == code {
            Some(b)
        } else if b == code {
            Some(a)
        } else {
            None
        }
    })
}

/// `rol x, n` as `ror x, width - n` (and back), immediate counts only, when
/// CF and OF are dead after it.
fn rotate_the_other_way(code: &[u8], instr: &Instruction) -> Option<(Instruction, How)> {
    use Code::*;
    let (other, width) = match instr.code() {
        Rol_rm8_imm8 => (Ror_rm8_imm8, 8),
        Ror_rm8_imm8 => (Rol_rm8_imm8, 8),
        Rol_rm16_imm8 => (Ror_rm16_imm8, 16),
        Ror_rm16_imm8 => (Rol_rm16_imm8, 16),
        Rol_rm32_imm8 => (Ror_rm32_imm8, 32),
        Ror_rm32_imm8 => (Rol_rm32_imm8, 32),
        Rol_rm64_imm8 => (Ror_rm64_imm8, 64),
        Ror_rm64_imm8 => (Rol_rm64_imm8, 64),
        _ => return None,
    };
    // The CPU masks the count to 5 bits (6 for 64-bit operands); a masked
    // count of 0 changes nothing, flags included, so leave it alone.
    let mask: u32 = if width == 64 { 63 } else { 31 };
    let count = u32::from(instr.immediate8()) & mask;
    if count == 0 {
        return None;
    }
    let complement = width - count % width;
    let mut new = *instr;
    new.set_code(other);
    new.set_immediate8(complement as u8);
    flags_dead_after(code, instr, RflagsBits::CF | RflagsBits::OF).then_some((new, How::RotateTheOtherWay))
}

/// `add x, imm` as `sub x, -imm` (and back), when `-imm` has the same
/// encoding size and CF, AF and OF are dead after it.
fn add_as_sub(code: &[u8], instr: &Instruction) -> Option<(Instruction, How)> {
    use Code::*;
    const PAIRS: [(Code, Code); 12] = [
        (Add_AL_imm8, Sub_AL_imm8), (Add_AX_imm16, Sub_AX_imm16), (Add_EAX_imm32, Sub_EAX_imm32), (Add_RAX_imm32, Sub_RAX_imm32),
        (Add_rm8_imm8, Sub_rm8_imm8), (Add_rm16_imm16, Sub_rm16_imm16), (Add_rm32_imm32, Sub_rm32_imm32), (Add_rm64_imm32, Sub_rm64_imm32),
        (Add_rm16_imm8, Sub_rm16_imm8), (Add_rm32_imm8, Sub_rm32_imm8), (Add_rm64_imm8, Sub_rm64_imm8),
        (Add_rm8_imm8_82, Sub_rm8_imm8_82),
    ];
    let code_now = instr.code();
    let other = PAIRS.iter().find_map(|&(a, b)| {
        if a == code_now {
            Some(b)
        } else if b == code_now {
            Some(a)
        } else {
            None
        }
    })?;
    // `lock add` stays `lock sub`: same atomicity.
    let (min, max): (i64, i64) = match instr.op1_kind() {
        OpKind::Immediate8 | OpKind::Immediate8to16 | OpKind::Immediate8to32 | OpKind::Immediate8to64 => (-128, 127),
        OpKind::Immediate16 => (-32768, 32767),
        OpKind::Immediate32 | OpKind::Immediate32to64 => (i64::from(i32::MIN), i64::from(i32::MAX)),
        _ => return None,
    };
    let value = match instr.op1_kind() {
        OpKind::Immediate8 => i64::from(instr.immediate8() as i8),
        OpKind::Immediate16 => i64::from(instr.immediate16() as i16),
        OpKind::Immediate32 => i64::from(instr.immediate32() as i32),
        _ => instr.immediate(1) as i64,
    };
    let negated = value.checked_neg().filter(|n| (min..=max).contains(n))?;
    let mut new = *instr;
    new.set_code(other);
    new.try_set_immediate_i64(1, negated).ok()?;
    flags_dead_after(code, instr, RflagsBits::CF | RflagsBits::AF | RflagsBits::OF).then_some((new, How::AddAsSub))
}

/// A near `call`, `jmp` or `jcc` (rel32) that holds the bytes, sent through
/// a `jmp` to its old target written over the dead padding nearest to it;
/// `None` if there is no such padding or the new bytes would hold (or form)
/// another `0F 01 EF`.
fn branch_through_padding(code: &mut [u8], hit: usize, instr: &Instruction, sweep: &mut Sweep) -> Option<Rewrite> {
    if !(instr.is_call_near() || instr.is_jmp_near() || instr.is_jcc_near()) {
        return None;
    }
    let target = instr.near_branch_target();
    let (at, len) = (instr.ip() as usize, instr.len());
    let pads = sweep.padding.get_or_insert_with(|| dead_padding(code));
    // The nearest runs: those either side of the branch, closest first.
    let split = pads.partition_point(|&pad| pad < at);
    let mut nearest: Vec<usize> = pads[split.saturating_sub(PADDING_TRIES)..(split + PADDING_TRIES).min(pads.len())].to_vec();
    nearest.sort_by_key(|&pad| pad.abs_diff(at));
    for pad in nearest.into_iter().take(PADDING_TRIES) {
        // The jmp, then int3 to the end of the padding instruction it ends in.
        let end = first_boundary_from(code, pad, pad + JMP_LEN)?;
        let span = end - pad;
        if span > TRAMPOLINE_MAX {
            continue;
        }
        let Ok(jmp_rel) = i32::try_from(target as i64 - (pad as i64 + JMP_LEN as i64)) else { continue };
        let mut after = [0xcc; TRAMPOLINE_MAX];
        after[0] = 0xe9;
        after[1..JMP_LEN].copy_from_slice(&jmp_rel.to_le_bytes());
        let mut branch = *instr;
        branch.set_near_branch64(pad as u64);
        let mut encoder = Encoder::new(64);
        if encoder.encode(&branch, instr.ip()).ok() != Some(len) {
            continue;
        }
        let bytes = encoder.take_buffer();
        let mut trampoline = Trampoline { at: pad, len: span, before: [0; TRAMPOLINE_MAX], after };
        trampoline.before[..span].copy_from_slice(&code[pad..end]);
        let mut rewrite = Rewrite {
            wrpkru_at: hit,
            at,
            before: [0; MAX_INSTRUCTION],
            after: [0; MAX_INSTRUCTION],
            len,
            how: How::BranchThroughPadding,
            trampoline: Some(trampoline),
        };
        rewrite.before[..len].copy_from_slice(&code[at..at + len]);
        rewrite.after[..len].copy_from_slice(&bytes);
        let windows = [(at.min(hit).saturating_sub(2), ((at + len).max(hit + 3) + 2).min(code.len())), (pad.saturating_sub(2), (end + 2).min(code.len()))];
        let hits_before = hits_in(code, &windows);
        code[at..at + len].copy_from_slice(&bytes);
        code[pad..end].copy_from_slice(&after[..span]);
        if code[hit..].starts_with(&crate::scan::WRPKRU) || !hits_in(code, &windows).iter().all(|h| hits_before.contains(h)) {
            undo(code, &rewrite);
            continue;
        }
        pads.retain(|&p| p != pad);
        return Some(rewrite);
    }
    None
}

/// Where `0F 01 EF` starts within the `windows` of `code`: a rewrite may
/// only remove occurrences there, never add one.
fn hits_in(code: &[u8], windows: &[(usize, usize)]) -> Vec<usize> {
    let mut found: Vec<usize> = windows.iter().flat_map(|&(from, to)| find_wrpkru(&code[from..to]).map(move |at| at + from)).collect();
    found.sort_unstable();
    found.dedup();
    found
}

/// The first instruction boundary at or after `at` of a linear sweep
/// from `from`.
fn first_boundary_from(code: &[u8], from: usize, at: usize) -> Option<usize> {
    let mut decoder = Decoder::with_ip(64, code.get(from..)?, from as u64, DecoderOptions::NONE);
    while decoder.can_decode() {
        let ip = decoder.ip() as usize;
        if ip >= at {
            return Some(ip);
        }
        let _ = decoder.decode();
    }
    (decoder.ip() as usize >= at).then_some(decoder.ip() as usize)
}

/// Where dead padding at least a `jmp` (5 bytes) long starts, by a
/// linear sweep of `code`: nops or int3 right after a return, an
/// unconditional jump or `ud2`, ending where the next instruction starts
/// on a 16-byte boundary (a function or an aligned label, which compilers
/// pad up to). Nothing falls into it, and compilers never jump into it.
/// The boundary before it is cross-checked by a sweep from 64 bytes
/// earlier.
fn dead_padding(code: &[u8]) -> Vec<usize> {
    let mut found = Vec::new();
    let mut decoder = Decoder::with_ip(64, code, 0, DecoderOptions::NONE);
    let mut after_transfer = false;
    let mut run: Option<usize> = None;
    while decoder.can_decode() {
        let instr = decoder.decode();
        let ip = instr.ip() as usize;
        let filler = matches!(instr.code(), Code::Nopw | Code::Nopd | Code::Nopq | Code::Nop_rm16 | Code::Nop_rm32 | Code::Nop_rm64 | Code::Int3);
        if filler && (after_transfer || run.is_some()) {
            run.get_or_insert(ip);
        } else {
            if let Some(start) = run.take() {
                if ip % 16 == 0 && ip - start >= JMP_LEN && start >= 64 && boundary_at(code, start - 64, start) {
                    found.push(start);
                }
            }
            after_transfer = !instr.is_invalid()
                && (matches!(instr.flow_control(), FlowControl::Return | FlowControl::UnconditionalBranch | FlowControl::IndirectBranch)
                    || instr.code() == Code::Ud2);
        }
    }
    found
}

/// Whether a linear sweep from `from` has an instruction starting at `at`.
fn boundary_at(code: &[u8], from: usize, at: usize) -> bool {
    let mut decoder = Decoder::with_ip(64, &code[from..], from as u64, DecoderOptions::NONE);
    while decoder.can_decode() {
        let ip = decoder.ip() as usize;
        if ip >= at {
            return ip == at;
        }
        let _ = decoder.decode();
    }
    false
}

/// Whether every flag in `flags` is written before it is read on the path
/// after `instr`. Only straight-line code is followed: a branch, call,
/// return or anything else that leaves the next instruction, or the end of
/// `code`, before all are overwritten counts as a read.
fn flags_dead_after(code: &[u8], instr: &Instruction, flags: u32) -> bool {
    let Some(rest) = code.get(instr.next_ip() as usize..) else { return false };
    let mut decoder = Decoder::with_ip(64, rest, instr.next_ip(), DecoderOptions::NONE);
    let mut live = flags;
    for _ in 0..FLAG_WINDOW {
        if !decoder.can_decode() {
            return false;
        }
        let next = decoder.decode();
        if next.is_invalid() || next.rflags_read() & live != 0 {
            return false;
        }
        live &= !next.rflags_modified();
        if live == 0 {
            return true;
        }
        if next.flow_control() != FlowControl::Next {
            return false;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Debian bookworm's libnettle.so.8.6 (3.8.1-2), file offsets
    /// 0x27a60..0x27a80 (the SHA-256 compression function): the bytes
    /// 0F 01 EF start at 0x27a71, i.e. offset 0x11 here.
    const LIBNETTLE: [u8; 31] = [
        0x44, 0x01, 0xdf, // add %r11d,%edi
        0x44, 0x01, 0xe8, // add %r13d,%eax
        0x45, 0x31, 0xe0, // xor %r12d,%r8d
        0x44, 0x8b, 0x6c, 0x24, 0xc8, // mov -0x38(%rsp),%r13d
        0x41, 0xc1, 0xc7, 0x0f, // rol $0xf,%r15d
        0x01, 0xef, // add %ebp,%edi
        0x8b, 0x6c, 0x24, 0xbc, // mov -0x44(%rsp),%ebp
        0x41, 0xc1, 0xc1, 0x09, // rol $0x9,%r9d
        0x41, 0x01, 0xf8, // add %edi,%r8d
    ];

    fn decode_at(code: &[u8], at: usize) -> Instruction {
        let mut decoder = Decoder::with_ip(64, &code[at..], at as u64, DecoderOptions::NONE);
        decoder.decode()
    }

    #[test]
    fn libnettle_add_is_reencoded() {
        let mut code = LIBNETTLE.to_vec();
        assert_eq!(find_wrpkru(&code).collect::<Vec<_>>(), [0x11]);
        let rewrites = neutralize(&mut code).unwrap();
        assert_eq!(rewrites.len(), 1);
        let r = &rewrites[0];
        assert_eq!((r.wrpkru_at, r.at, r.how), (0x11, 0x12, How::OtherOperandEncoding));
        assert_eq!((r.before(), r.after()), (&[0x01, 0xef][..], &[0x03, 0xfd][..]));
        assert_eq!(find_wrpkru(&code).count(), 0);
        // Only those two bytes changed, and they still say add edi,ebp.
        let changed: Vec<usize> = (0..code.len()).filter(|&i| code[i] != LIBNETTLE[i]).collect();
        assert_eq!(changed, [0x12, 0x13]);
        let (old, new) = (decode_at(&LIBNETTLE, 0x12), decode_at(&code, 0x12));
        assert_eq!(new.code(), Code::Add_r32_rm32);
        assert_eq!((new.op0_register(), new.op1_register()), (old.op0_register(), old.op1_register()));
    }

    #[test]
    fn libnettle_second_occurrence_and_both_in_one_buffer() {
        // 0x27dc8..: the same pattern with r14d, at 0x27dd9.
        let second = [0x44, 0x01, 0xdf, 0x44, 0x01, 0xee, 0x45, 0x31, 0xe0, 0x44, 0x8b, 0x6c, 0x24, 0xa8, 0x41, 0xc1, 0xc6, 0x0f, 0x01, 0xef, 0x8b, 0x6c, 0x24, 0xcc];
        let mut code = LIBNETTLE.to_vec();
        code.extend_from_slice(&second);
        let rewrites = neutralize(&mut code).unwrap();
        assert_eq!(rewrites.iter().map(|r| r.wrpkru_at).collect::<Vec<_>>(), [0x11, LIBNETTLE.len() + 0x11]);
        assert_eq!(find_wrpkru(&code).count(), 0);
    }

    #[test]
    fn libnettle_rol_becomes_ror_17_because_add_overwrites_cf_and_of() {
        let rol = decode_at(&LIBNETTLE, 0x0e);
        assert_eq!(rol.code(), Code::Rol_rm32_imm8);
        let (ror, how) = rotate_the_other_way(&LIBNETTLE, &rol).unwrap();
        assert_eq!((ror.code(), ror.immediate8(), how), (Code::Ror_rm32_imm8, 17, How::RotateTheOtherWay));
        let mut code = LIBNETTLE.to_vec();
        let r = apply(&mut code, 0x11, &rol, &ror, how).unwrap();
        assert_eq!(r.after(), [0x41, 0xc1, 0xcf, 0x11]);
        assert_eq!(find_wrpkru(&code).count(), 0);
    }

    #[test]
    fn a_rotate_whose_carry_is_read_is_not_rewritten() {
        // rol $0xf,%r15d; adc %ebp,%edi (11 EF reads CF); no 0F 01 EF here,
        // so this asks the rotate strategy directly.
        let code = [0x41, 0xc1, 0xc7, 0x0f, 0x11, 0xef, 0xc3];
        assert!(rotate_the_other_way(&code, &decode_at(&code, 0)).is_none());
        // Followed by a jump before any flag write: the target might read CF.
        let code = [0x41, 0xc1, 0xc7, 0x0f, 0xeb, 0x00, 0x01, 0xef];
        assert!(rotate_the_other_way(&code, &decode_at(&code, 0)).is_none());
        // Followed by the end of the code.
        let code = [0x41, 0xc1, 0xc7, 0x0f];
        assert!(rotate_the_other_way(&code, &decode_at(&code, 0)).is_none());
        // mov does not write flags; the add after it does: dead.
        let code = [0x41, 0xc1, 0xc7, 0x0f, 0x89, 0xc3, 0x01, 0xef];
        assert!(rotate_the_other_way(&code, &decode_at(&code, 0)).is_some());
    }

    /// 64 bytes of nops, `ret`, 15 bytes of nop padding up to 80, then
    /// Debian's libcrypto.so.3 at file offset 0x1de662: `cmp %eax,0x34(%rsp);
    /// call ERR_set_mark@plt` (E8 0F 01 EF FF: the bytes are the call's
    /// displacement); `movzbl 0x20(%r15),%edx`.
    fn libcrypto_with_padding(before_padding: u8) -> Vec<u8> {
        let mut code = vec![0x90; 64];
        code.push(before_padding);
        code.extend_from_slice(&[0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00, 0x0f, 0x1f, 0x80, 0, 0, 0, 0, 0x66, 0x90]);
        code.extend_from_slice(&[0x39, 0x44, 0x24, 0x34, 0xe8, 0x0f, 0x01, 0xef, 0xff, 0x41, 0x0f, 0xb6, 0x57, 0x20]);
        code
    }

    #[test]
    fn libcrypto_call_goes_through_a_jmp_in_dead_padding() {
        let mut code = libcrypto_with_padding(0xc3);
        assert_eq!(code.len(), 94);
        let original = code.clone();
        let old_target = decode_at(&original, 84).near_branch_target();
        let rewrites = neutralize(&mut code).unwrap();
        assert_eq!(rewrites.len(), 1);
        let r = &rewrites[0];
        assert_eq!((r.wrpkru_at, r.at, r.how), (85, 84, How::BranchThroughPadding));
        let t = r.trampoline.unwrap();
        assert_eq!(t.at, 65, "the padding right after the ret");
        // nopw (6 bytes) at 65: the jmp, then one int3.
        assert_eq!((t.len, t.before()), (6, &original[65..71]));
        assert_eq!(t.after()[5], 0xcc);
        // The call now goes to the jmp, and the jmp to where the call went.
        let call = decode_at(&code, 84);
        assert_eq!((call.code(), call.len(), call.near_branch_target()), (Code::Call_rel32_64, 5, 65));
        let jmp = decode_at(&code, 65);
        assert_eq!((jmp.code(), jmp.near_branch_target()), (Code::Jmp_rel32_64, old_target));
        assert_eq!(find_wrpkru(&code).count(), 0);
        // Nothing else changed.
        let changed: Vec<usize> = (0..code.len()).filter(|&i| code[i] != original[i]).collect();
        assert!(changed.iter().all(|&i| (65..71).contains(&i) || (84..89).contains(&i)), "{changed:?}");
    }

    #[test]
    fn padding_that_code_falls_into_or_that_ends_unaligned_is_not_used() {
        // `mov %eax,%ebx` (89 C3) instead of `ret`, and the padding's last
        // `66 90` as one `90`, so that it still ends at 80: the nops after
        // the mov run.
        let mut code = libcrypto_with_padding(0x89);
        code.splice(65..65, [0xc3]);
        code.splice(79..81, [0x90]);
        assert_eq!(&code[64..66], [0x89, 0xc3]);
        assert_eq!(&code[80..85], [0x39, 0x44, 0x24, 0x34, 0xe8]);
        let original = code.clone();
        assert_eq!(neutralize(&mut code), Err(Refusal::NoEquivalent { at: 85 }));
        assert_eq!(code, original);
        // After a ret, but ending at 81, not on a 16-byte boundary.
        let mut code = libcrypto_with_padding(0xc3);
        code.insert(70, 0x90);
        let original = code.clone();
        assert_eq!(neutralize(&mut code), Err(Refusal::NoEquivalent { at: 86 }));
        assert_eq!(code, original);
    }

    #[test]
    fn at_most_64_occurrences_and_each_costs_one_sweep() {
        let many = |n: usize| LIBNETTLE.iter().copied().cycle().take(LIBNETTLE.len() * n).collect::<Vec<u8>>();
        let mut code = many(MAX_OCCURRENCES);
        assert_eq!(neutralize(&mut code).map(|r| r.len()), Ok(MAX_OCCURRENCES));
        assert_eq!(find_wrpkru(&code).count(), 0);
        let mut code = many(MAX_OCCURRENCES + 1);
        let original = code.clone();
        assert_eq!(neutralize(&mut code), Err(Refusal::TooMany { at: 0x11 }));
        assert_eq!(code, original);
        // 64 occurrences spread over 8 MiB of code: the sweep resumes where
        // the last one was instead of starting again at 0.
        let mut code = vec![0x90u8; 8 << 20];
        for i in 0..MAX_OCCURRENCES {
            let at = (i + 1) * (code.len() / (MAX_OCCURRENCES + 1));
            code[at..at + LIBNETTLE.len()].copy_from_slice(&LIBNETTLE);
        }
        let start = std::time::Instant::now();
        assert_eq!(neutralize(&mut code).map(|r| r.len()), Ok(MAX_OCCURRENCES));
        assert!(start.elapsed() < std::time::Duration::from_secs(20), "{:?}", start.elapsed());
    }

    #[test]
    fn a_real_wrpkru_is_refused() {
        // mov $0,%ecx; mov $0,%edx; mov %edi,%eax; wrpkru; ret (not pkey_set's tail).
        let code = [0xb9, 0, 0, 0, 0, 0xba, 0, 0, 0, 0, 0x89, 0xf8, 0x0f, 0x01, 0xef, 0xc3];
        let mut copy = code.to_vec();
        assert_eq!(neutralize(&mut copy), Err(Refusal::Instruction { at: 12 }));
        assert_eq!(copy, code);
    }

    #[test]
    fn an_immediate_with_no_equivalent_is_refused() {
        // mov $0xef010f00,%eax: the bytes sit in the immediate, and a mov of
        // another value is not the same program.
        let code = [0x90, 0xb8, 0x00, 0x0f, 0x01, 0xef, 0xc3];
        let mut copy = code.to_vec();
        assert_eq!(neutralize(&mut copy), Err(Refusal::NoEquivalent { at: 3 }));
        assert_eq!(copy, code);
        // call rel32 with 0F 01 EF in the displacement (libcrypto.so.3 at
        // 0x1de66c: call ERR_set_mark@plt).
        let mut code = [0x39, 0x44, 0x24, 0x34, 0xe8, 0x0f, 0x01, 0xef, 0xff, 0x41, 0x0f, 0xb6, 0x57, 0x20];
        assert_eq!(neutralize(&mut code), Err(Refusal::NoEquivalent { at: 5 }));
    }

    #[test]
    fn add_of_an_immediate_becomes_sub_only_if_flags_are_dead() {
        // add $0xef010f,%eax (05 0F 01 EF 00); then xor %eax,%eax writes all flags.
        let mut code = vec![0x05, 0x0f, 0x01, 0xef, 0x00, 0x31, 0xc0, 0xc3];
        let rewrites = neutralize(&mut code).unwrap();
        assert_eq!(rewrites[0].how, How::AddAsSub);
        let new = decode_at(&code, 0);
        assert_eq!((new.code(), new.immediate32() as i32), (Code::Sub_EAX_imm32, -0xef010f));
        assert_eq!(find_wrpkru(&code).count(), 0);
        // The same add followed by jc (reads CF): refused, code untouched.
        let code = [0x05, 0x0f, 0x01, 0xef, 0x00, 0x72, 0x00, 0xc3];
        let mut copy = code.to_vec();
        assert_eq!(neutralize(&mut copy), Err(Refusal::NoEquivalent { at: 1 }));
        assert_eq!(copy, code);
    }

    #[test]
    fn a_rewrite_that_would_form_another_wrpkru_is_not_taken() {
        // mov $0xef010f,%eax (B8 0F 01 EF 00) then EF: re-encoded as
        // mov $0x10f0000,%eax (B8 00 00 0F 01) it would form 0F 01 EF with the
        // next byte.
        let mut code = vec![0xb8, 0x0f, 0x01, 0xef, 0x00, 0xef];
        let old = decode_at(&code, 0);
        let mut new = old;
        new.set_immediate_u32(1, 0x010f_0000);
        assert!(apply(&mut code, 1, &old, &new, How::AddAsSub).is_none());
        assert_eq!(code, [0xb8, 0x0f, 0x01, 0xef, 0x00, 0xef]);
        // A new encoding of another length is never taken either.
        let mut long = old;
        long.set_code(Code::Mov_rm32_imm32);
        long.set_immediate_u32(1, 0);
        assert!(apply(&mut code, 1, &old, &long, How::AddAsSub).is_none());
    }

    #[test]
    fn earlier_rewrites_are_undone_when_a_later_occurrence_is_refused() {
        let mut code = LIBNETTLE.to_vec();
        code.extend_from_slice(&[0xb8, 0x00, 0x0f, 0x01, 0xef, 0xc3]);
        let original = code.clone();
        assert_eq!(neutralize(&mut code), Err(Refusal::NoEquivalent { at: LIBNETTLE.len() + 2 }));
        assert_eq!(code, original);
    }

    #[test]
    fn sweeps_from_every_cross_check_point_agree_on_compiled_code() {
        // The libnettle bytes after 9000 bytes of code: the sweep from 0
        // and those from 32..8192 bytes before the hit all meet the same
        // instructions.
        let mut prefix: Vec<u8> = Vec::new();
        while prefix.len() < 9000 {
            prefix.extend_from_slice(&LIBNETTLE[..0x0e]); // adds, xor, mov
            prefix.extend_from_slice(&[0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00]); // nopw 0(%rax,%rax)
        }
        let mut code = prefix.clone();
        code.extend_from_slice(&LIBNETTLE);
        let rewrites = neutralize(&mut code).unwrap();
        assert_eq!(rewrites[0].at, prefix.len() + 0x12);
        assert_eq!(find_wrpkru(&code).count(), 0);
    }

    #[test]
    fn unsynchronized_sweeps_are_refused() {
        // A run of B8 bytes is a chain of `mov $imm32,%eax` (5 bytes each)
        // whose boundaries depend on where decoding starts, forever. From 0
        // the bytes 0F 01 EF at 41 are the immediate of the mov at 40; from
        // 9 (41 - 32) they are split between the mov at 39 and what follows.
        let hit = 41;
        let mut code = vec![0xb8u8; 60];
        code[hit..hit + 3].copy_from_slice(&[0x0f, 0x01, 0xef]);
        let original = code.clone();
        assert_eq!(neutralize(&mut code), Err(Refusal::Unsynchronized { at: hit }));
        assert_eq!(code, original);
        // Cut short inside the instruction that holds them: not code.
        let mut code = vec![0x48, 0xb8, 0x0f, 0x01, 0xef];
        assert_eq!(neutralize(&mut code), Err(Refusal::Unsynchronized { at: 2 }));
    }

    #[test]
    fn hostile_inputs_never_panic_and_never_leave_a_wrpkru() {
        // A cheap deterministic generator over bytes rich in 0F, 01, EF and
        // opcodes the strategies know.
        let alphabet = [0x0f, 0x01, 0xef, 0x03, 0x41, 0xc1, 0xc7, 0x05, 0x83, 0xc0, 0x90, 0x48, 0x66, 0xe8, 0xb8, 0x31, 0xc3, 0x72];
        let mut state: u64 = 0x1234_5678_9abc_def1;
        for _ in 0..3000 {
            let len = 1 + (state % 64) as usize;
            let mut code = Vec::with_capacity(len);
            for _ in 0..len {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                code.push(alphabet[(state % alphabet.len() as u64) as usize]);
            }
            let original = code.clone();
            match neutralize(&mut code) {
                Ok(rewrites) => {
                    assert_eq!(find_wrpkru(&code).count(), 0, "{original:02x?}");
                    for r in &rewrites {
                        assert_eq!(&original[r.at..r.at + r.len], r.before());
                    }
                }
                Err(_) => assert_eq!(code, original),
            }
        }
    }
}
