//! The initial stack of a new program (System V x86-64 ABI, as Linux's
//! `create_elf_tables` lays it out).
//!
//! From the top (`stack_top`) down:
//!
//! ```text
//! stack_top ->  8 zero bytes (end marker)
//!               execfn string ("/bin/sh\0")
//!               envp strings
//!               argv strings          (argv[0] lowest)
//!               "x86_64\0"            (AT_PLATFORM)
//!               16 random bytes       (AT_RANDOM)
//!               padding to 16, plus 8 if needed so that sp ends 16-aligned
//!               auxv pairs, AT_NULL pair
//!               envp pointers, NULL
//!               argv pointers, NULL
//! sp ->         argc
//! ```

use alloc::vec;
use alloc::vec::Vec;

use syscall::auxv::{AT_EXECFN, AT_NULL, AT_PLATFORM, AT_RANDOM};

/// The platform string placed for `AT_PLATFORM`.
pub const PLATFORM: &[u8] = b"x86_64";

/// Most bytes the argument and environment strings (NULs included) and
/// their pointers may take; the caller turns [`StackError::TooBig`] into
/// `E2BIG`.
pub const STACK_LIMIT_FOR_ARGS: usize = 128 * 1024;

/// The content of `[sp, stack_top)`: copy `bytes` to `sp` and start the
/// program with RSP = `sp`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct StackImage {
    pub bytes: Vec<u8>,
    pub sp: u64,
    /// Where the argument strings start and end and the environment's end:
    /// Linux's `arg_start`, `arg_end` and `env_end`, which /proc/PID/cmdline
    /// reads (a program may write its title over them, as nginx does).
    pub arg_start: u64,
    pub arg_end: u64,
    pub env_end: u64,
}

/// Why no initial stack could be built.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum StackError {
    /// The arguments and environment exceed [`STACK_LIMIT_FOR_ARGS`] (or
    /// the stack would go below address 0).
    TooBig,
}

impl From<StackError> for syscall::Errno {
    fn from(error: StackError) -> Self {
        match error {
            StackError::TooBig => syscall::Errno::E2BIG,
        }
    }
}

/// Builds the initial stack below `stack_top`.
///
/// `argv` and `envp` are the strings without their NULs; `auxv` the pairs
/// the caller computed (`AT_PHDR`, `AT_PHENT`, `AT_PHNUM`, `AT_PAGESZ`,
/// `AT_BASE`, `AT_FLAGS`, `AT_ENTRY`, `AT_UID`...), in the order they should
/// appear. The builder appends `AT_RANDOM` (pointing at `random`, which it
/// places), `AT_PLATFORM` (pointing at "x86_64"), `AT_EXECFN` (pointing at
/// `execfn`) and the final `AT_NULL`; pairs of the caller with one of those
/// four keys are skipped.
pub fn build_initial_stack(
    stack_top: u64,
    argv: &[&[u8]],
    envp: &[&[u8]],
    auxv: &[(u64, u64)],
    random: [u8; 16],
    execfn: &[u8],
) -> Result<StackImage, StackError> {
    // Argument and environment strings and their pointers: the E2BIG limit.
    let strings_len = |list: &[&[u8]]| list.iter().map(|s| s.len() + 1).sum::<usize>();
    let args_bytes = strings_len(argv) + strings_len(envp) + (argv.len() + envp.len() + 2) * 8;
    if args_bytes > STACK_LIMIT_FOR_ARGS || execfn.len() > STACK_LIMIT_FOR_ARGS {
        return Err(StackError::TooBig);
    }

    let auxv: Vec<(u64, u64)> = auxv
        .iter()
        .copied()
        .filter(|&(key, _)| !matches!(key, AT_NULL | AT_RANDOM | AT_PLATFORM | AT_EXECFN))
        .collect();

    // Addresses, from the top down (u64 arithmetic, checked).
    let info_len = 8 + execfn.len() + 1 + strings_len(envp) + strings_len(argv) + PLATFORM.len() + 1 + 16;
    let random_at = stack_top.checked_sub(info_len as u64).ok_or(StackError::TooBig)?;
    let platform_at = random_at + 16;
    let argv_strings_at = platform_at + PLATFORM.len() as u64 + 1;
    // Words below the strings: auxv (+ the 3 added pairs + AT_NULL), envp +
    // NULL, argv + NULL, argc.
    let words = 2 * (auxv.len() + 4) + (envp.len() + 1) + (argv.len() + 1) + 1;
    let aligned = random_at & !15;
    let sp = aligned.checked_sub(words as u64 * 8).ok_or(StackError::TooBig)? & !15;

    let mut bytes = vec![0u8; (stack_top - sp) as usize];
    let mut put = |addr: u64, data: &[u8]| {
        let offset = (addr - sp) as usize;
        bytes[offset..offset + data.len()].copy_from_slice(data);
    };

    // Strings (NULs come from the zeroed buffer).
    let mut cursor = argv_strings_at;
    let mut place = |list: &[&[u8]], put: &mut dyn FnMut(u64, &[u8])| -> Vec<u64> {
        list.iter()
            .map(|s| {
                let at = cursor;
                put(at, s);
                cursor += s.len() as u64 + 1;
                at
            })
            .collect()
    };
    let argv_ptrs = place(argv, &mut put);
    let envp_ptrs = place(envp, &mut put);
    let arg_end = argv_strings_at + strings_len(argv) as u64;
    let execfn_at = cursor;
    put(execfn_at, execfn);
    put(platform_at, PLATFORM);
    put(random_at, &random);

    // The vectors, from sp up.
    let mut word_at = sp;
    let mut push = |value: u64| {
        put(word_at, &value.to_le_bytes());
        word_at += 8;
    };
    push(argv.len() as u64);
    argv_ptrs.iter().for_each(|&ptr| push(ptr));
    push(0);
    envp_ptrs.iter().for_each(|&ptr| push(ptr));
    push(0);
    for &(key, value) in &auxv {
        push(key);
        push(value);
    }
    for (key, value) in [(AT_RANDOM, random_at), (AT_PLATFORM, platform_at), (AT_EXECFN, execfn_at), (AT_NULL, 0)] {
        push(key);
        push(value);
    }

    Ok(StackImage { bytes, sp, arg_start: argv_strings_at, arg_end, env_end: execfn_at })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::borrow::ToOwned;
    use syscall::auxv::{AT_ENTRY, AT_PAGESZ, AT_PHDR, AT_PHNUM};

    /// What a program sees when it parses its stack.
    #[derive(Debug)]
    struct Parsed {
        argv: Vec<Vec<u8>>,
        envp: Vec<Vec<u8>>,
        auxv: Vec<(u64, u64)>,
    }

    fn word(image: &StackImage, addr: u64) -> u64 {
        let offset = (addr - image.sp) as usize;
        u64::from_le_bytes(image.bytes[offset..offset + 8].try_into().unwrap())
    }

    fn cstring(image: &StackImage, addr: u64) -> Vec<u8> {
        let offset = (addr - image.sp) as usize;
        let len = image.bytes[offset..].iter().position(|&b| b == 0).expect("NUL");
        image.bytes[offset..offset + len].to_owned()
    }

    fn parse(image: &StackImage) -> Parsed {
        let mut at = image.sp;
        let mut next = || {
            let value = word(image, at);
            at += 8;
            value
        };
        let argc = next();
        let argv: Vec<Vec<u8>> =
            (0..argc).map(|_| next()).collect::<Vec<_>>().iter().map(|&p| cstring(image, p)).collect();
        assert_eq!(next(), 0, "argv NULL");
        let mut envp = Vec::new();
        loop {
            let ptr = next();
            if ptr == 0 {
                break;
            }
            envp.push(cstring(image, ptr));
        }
        let mut auxv = Vec::new();
        loop {
            let (key, value) = (next(), next());
            auxv.push((key, value));
            if key == AT_NULL {
                break;
            }
        }
        Parsed { argv, envp, auxv }
    }

    fn aux(parsed: &Parsed, key: u64) -> Option<u64> {
        parsed.auxv.iter().find(|&&(k, _)| k == key).map(|&(_, v)| v)
    }

    const TOP: u64 = 0x7fff_ffff_f000;

    #[test]
    fn round_trip() {
        let random = *b"0123456789abcdef";
        let auxv = [(AT_PHDR, 0x40_0040), (AT_PHNUM, 9), (AT_PAGESZ, 4096), (AT_ENTRY, 0x40_1000)];
        let image = build_initial_stack(
            TOP,
            &[b"/bin/busybox", b"sh", b"-c", b"echo hi"],
            &[b"PATH=/bin", b"HOME=/"],
            &auxv,
            random,
            b"/bin/sh",
        )
        .unwrap();
        assert_eq!(image.sp % 16, 0, "sp 16-aligned at entry");
        assert_eq!(image.sp + image.bytes.len() as u64, TOP);
        assert_eq!(image.bytes[image.bytes.len() - 8..], [0; 8], "end marker");

        let parsed = parse(&image);
        assert_eq!(parsed.argv, [&b"/bin/busybox"[..], b"sh", b"-c", b"echo hi"]);
        assert_eq!(parsed.envp, [&b"PATH=/bin"[..], b"HOME=/"]);
        // Caller's pairs first, in order, then the builder's.
        assert_eq!(parsed.auxv[..4], auxv);
        let keys: Vec<u64> = parsed.auxv[4..].iter().map(|&(k, _)| k).collect();
        assert_eq!(keys, [AT_RANDOM, AT_PLATFORM, AT_EXECFN, AT_NULL]);
        assert_eq!(parsed.auxv.last(), Some(&(AT_NULL, 0)));

        let random_at = aux(&parsed, AT_RANDOM).unwrap();
        let offset = (random_at - image.sp) as usize;
        assert_eq!(image.bytes[offset..offset + 16], random);
        assert_eq!(cstring(&image, aux(&parsed, AT_PLATFORM).unwrap()), b"x86_64");
        let execfn_at = aux(&parsed, AT_EXECFN).unwrap();
        assert_eq!(cstring(&image, execfn_at), b"/bin/sh");
        assert_eq!(execfn_at + 8 + 8, TOP, "execfn right under the end marker");

        // Strings are above the vectors, in order: argv, envp, execfn.
        let argv0 = word(&image, image.sp + 8);
        assert!(argv0 > random_at + 16);
        assert_eq!(cstring(&image, argv0 + 13), b"sh");
    }

    #[test]
    fn alignment_for_every_parity() {
        // Vary the numbers of words and the string lengths: sp always ends
        // 16-aligned and the image always parses back.
        let strings: [&[u8]; 5] = [b"a", b"bb", b"ccc", b"dddd", b"eeeee"];
        for argc in 0..4 {
            for envc in 0..4 {
                for auxc in 0..3 {
                    for extra in 0..3 {
                        let auxv: Vec<(u64, u64)> = (0..auxc).map(|i| (AT_PAGESZ, i)).collect();
                        let execfn = &b"/x/y/z"[..4 + extra];
                        let image = build_initial_stack(
                            TOP - 8 * extra as u64,
                            &strings[..argc],
                            &strings[1..1 + envc],
                            &auxv,
                            [7; 16],
                            execfn,
                        )
                        .unwrap();
                        assert_eq!(image.sp % 16, 0);
                        let parsed = parse(&image);
                        assert_eq!(parsed.argv.len(), argc);
                        assert_eq!(parsed.envp.len(), envc);
                        assert_eq!(parsed.auxv.len(), auxc as usize + 4);
                        assert_eq!(cstring(&image, aux(&parsed, AT_EXECFN).unwrap()), execfn);
                    }
                }
            }
        }
    }

    #[test]
    fn builder_owns_its_auxv_keys() {
        let auxv = [(AT_RANDOM, 1), (AT_PAGESZ, 4096), (AT_NULL, 0), (AT_EXECFN, 2), (AT_PLATFORM, 3), (AT_ENTRY, 5)];
        let image = build_initial_stack(TOP, &[b"p"], &[], &auxv, [1; 16], b"p").unwrap();
        let parsed = parse(&image);
        assert_eq!(parsed.auxv[..2], [(AT_PAGESZ, 4096), (AT_ENTRY, 5)]);
        assert_eq!(parsed.auxv.iter().filter(|&&(k, _)| k == AT_RANDOM).count(), 1);
        assert_ne!(aux(&parsed, AT_RANDOM), Some(1));
    }

    #[test]
    fn too_big() {
        let big = vec![b'x'; 64 * 1024];
        let two: [&[u8]; 2] = [&big, &big];
        assert_eq!(build_initial_stack(TOP, &two, &[], &[], [0; 16], b"p"), Err(StackError::TooBig));
        assert_eq!(build_initial_stack(TOP, &[&big], &[&big], &[], [0; 16], b"p"), Err(StackError::TooBig));
        // Just under the limit fits.
        let fits = vec![b'x'; STACK_LIMIT_FOR_ARGS - 1 - 3 * 8];
        assert!(build_initial_stack(TOP, &[&fits], &[], &[], [0; 16], b"p").is_ok());
        let over = vec![b'x'; STACK_LIMIT_FOR_ARGS - 3 * 8];
        assert_eq!(build_initial_stack(TOP, &[&over], &[], &[], [0; 16], b"p"), Err(StackError::TooBig));
        // Below address 0.
        assert_eq!(build_initial_stack(64, &[b"a"], &[], &[], [0; 16], b"p"), Err(StackError::TooBig));
        assert_eq!(syscall::Errno::from(StackError::TooBig), syscall::Errno::E2BIG);
    }
}
