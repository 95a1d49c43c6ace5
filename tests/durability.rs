//! Durability of `--volume` (issue 13, item 4, docs/volumes.md): the guest
//! program `test-durability` (userland/c) appends fixed-size checksummed
//! records to a file on a volume, fsyncs each and acknowledges it on
//! stdout; the host reads the acknowledgements until a random count, kills
//! the QEMU process itself with SIGKILL (not isola: the kill must hit the
//! VM, not its parent), and checks the host's file: every acknowledged
//! record there, intact, then at most whole later records and one partial
//! record at the very end.
//!
//! The random choices come from one seed, printed first; set
//! `ISOLA_DURABILITY_SEED=N` to replay a failure. Each run boots the real
//! kernel under TCG, several rounds with seeds derived from that one, at
//! each isolation level.

mod common;
mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{TempDir, root};
use support::{qemu_children, userland, wait_gone};

/// The record layout of userland/c/test-durability.c.
const RECORD_BYTES: usize = 256;
const MAGIC: u32 = 0x5243_5244;

fn crc32_ieee(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xedb8_8320 & 0u32.wrapping_sub(crc & 1));
        }
    }
    !crc
}

/// Record `seq` of a run with `seed`, byte for byte as the guest makes it.
fn record(seq: u32, seed: u32) -> [u8; RECORD_BYTES] {
    let mut rec = [0u8; RECORD_BYTES];
    rec[0..4].copy_from_slice(&MAGIC.to_le_bytes());
    rec[4..8].copy_from_slice(&seq.to_le_bytes());
    rec[8..12].copy_from_slice(&seed.to_le_bytes());
    let mut x = seed ^ seq.wrapping_mul(0x9e37_79b9);
    if x == 0 {
        x = 1;
    }
    for b in &mut rec[12..RECORD_BYTES - 4] {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    let crc = crc32_ieee(&rec[..RECORD_BYTES - 4]);
    rec[RECORD_BYTES - 4..].copy_from_slice(&crc.to_le_bytes());
    rec
}

/// What the host's file holds after a run of `seed` whose last
/// acknowledgement was `acked`: `Ok((whole, tail))` with the number of whole
/// records and the length of the partial one at the end, or what is wrong.
fn check_log(data: &[u8], seed: u32, acked: u32) -> Result<(u32, usize), String> {
    let mut whole = 0u32;
    let mut chunks = data.chunks(RECORD_BYTES);
    for chunk in chunks.by_ref() {
        let seq = whole + 1;
        let want = record(seq, seed);
        if chunk.len() < RECORD_BYTES {
            // The end: a prefix of the next record, nothing else.
            if seq <= acked {
                return Err(format!("record {seq} acknowledged but only {} of its bytes are there", chunk.len()));
            }
            if chunk != &want[..chunk.len()] {
                return Err(format!("the partial record at the end ({} bytes) is not a prefix of record {seq}", chunk.len()));
            }
            return Ok((whole, chunk.len()));
        }
        if chunk != want {
            let at = whole as usize * RECORD_BYTES;
            let crc_ok = crc32_ieee(&chunk[..RECORD_BYTES - 4]).to_le_bytes() == chunk[RECORD_BYTES - 4..];
            let got_seq = u32::from_le_bytes(chunk[4..8].try_into().unwrap());
            return Err(format!(
                "bytes {at}..{} are not record {seq} (acknowledged up to {acked}): checksum {}, sequence field {got_seq}",
                at + RECORD_BYTES,
                if crc_ok { "holds" } else { "wrong" }
            ));
        }
        whole = seq;
    }
    if whole < acked {
        return Err(format!("only {whole} whole records, {acked} acknowledged"));
    }
    Ok((whole, 0))
}

/// xorshift64*: the test's only source of randomness, from the printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn seed() -> u64 {
    let seed = match std::env::var("ISOLA_DURABILITY_SEED") {
        Ok(s) => s.parse().expect("ISOLA_DURABILITY_SEED is a number"),
        Err(_) => SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64 ^ u64::from(std::process::id()),
    };
    eprintln!("durability seed {seed} (replay: ISOLA_DURABILITY_SEED={seed} cargo test --release --test durability)");
    seed
}

#[test]
fn the_checker_accepts_a_log_written_on_the_host_and_catches_damage() {
    let bin = userland(&root(), "test-durability");
    let dir = TempDir::new("durability-host");
    let file = dir.path().join("log");
    let out = Command::new(&bin).arg(&file).args(["77", "40"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let acks: Vec<&str> = stdout.lines().collect();
    assert_eq!(acks.len(), 41, "{stdout}");
    assert_eq!((acks[0], acks[39], acks[40]), ("ack 1", "ack 40", "done 40"));
    let data = std::fs::read(&file).unwrap();
    assert_eq!(data.len(), 40 * RECORD_BYTES);
    assert_eq!(check_log(&data, 77, 40), Ok((40, 0)));
    // Appending (O_APPEND) to what is there: 40 more, numbered from 1 again,
    // is not a log of one run.
    let again = Command::new(&bin).arg(&file).args(["77", "1"]).output().unwrap();
    assert!(again.status.success());
    assert_eq!(check_log(&std::fs::read(&file).unwrap(), 77, 40), Err(
        "bytes 10240..10496 are not record 41 (acknowledged up to 40): checksum holds, sequence field 1".into()));

    // What the checker must refuse.
    assert_eq!(check_log(&data, 78, 1).map_err(|e| e.contains("checksum holds")), Err(true), "another run's seed");
    let mut flipped = data.clone();
    flipped[5 * RECORD_BYTES + 40] ^= 1;
    assert_eq!(check_log(&flipped, 77, 40).map_err(|e| e.starts_with("bytes 1280..1536 are not record 6") && e.contains("checksum wrong")), Err(true));
    assert!(check_log(&data[..39 * RECORD_BYTES + 100], 77, 40).is_err(), "an acknowledged record cut short");
    assert!(check_log(&data[..38 * RECORD_BYTES], 77, 39).is_err(), "an acknowledged record missing");
    assert_eq!(check_log(&data[..39 * RECORD_BYTES + 100], 77, 39), Ok((39, 100)), "a partial record after the last ack");
    let mut bad_tail = data[..39 * RECORD_BYTES + 100].to_vec();
    bad_tail[39 * RECORD_BYTES + 99] ^= 0x80;
    assert!(check_log(&bad_tail, 77, 39).is_err(), "a damaged partial record");
    assert!(check_log(&[], 77, 1).is_err() && check_log(&[], 77, 0) == Ok((0, 0)));
}

/// One round: boot, wait for `stop_after` acks and then `delay`, SIGKILL
/// QEMU, check.
fn round(level: &str, seed: u32, stop_after: u32, delay: Duration) {
    let bin = userland(&root(), "test-durability");
    let dir = TempDir::new("durability");
    let mut child = Command::new(env!("CARGO_BIN_EXE_isola"))
        .args(["run", "--accel", "tcg", "--isolation", level, "--timeout", "900"])
        .arg("--volume")
        .arg(format!("{}:/data", dir.path().display()))
        .arg(&bin)
        .args(["/data/log", &seed.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start isola");
    let isola_pid = child.id();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    let reader = thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut stderr = child.stderr.take().unwrap();
    let err_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
        s
    });

    // Read acks until `stop_after`; a line other than an ack is a failure.
    let deadline = Instant::now() + Duration::from_secs(900);
    let mut acked = 0u32;
    let mut other = Vec::new();
    while acked < stop_after {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => match line.strip_prefix("ack ").and_then(|n| n.parse::<u32>().ok()) {
                Some(n) => {
                    assert_eq!(n, acked + 1, "acks in order");
                    acked = n;
                }
                None => other.push(line),
            },
            Err(_) => break,
        }
    }
    if acked < stop_after {
        // The guest stopped (or hung) first: say what it said.
        let _ = child.kill();
        let status = child.wait().unwrap();
        panic!("{level} seed {seed}: only {acked} of {stop_after} acks ({status}); other output {other:?}\n{}", err_reader.join().unwrap());
    }
    // The kill: QEMU itself, with SIGKILL, while the guest writes on.
    let qemus = qemu_children(isola_pid);
    assert_eq!(qemus.len(), 1, "one QEMU under isola (pid {isola_pid}): {qemus:?}");
    let qemu = qemus[0];
    // Anywhere in the records that follow, not just after an ack.
    thread::sleep(delay);
    assert!(sigkill(qemu), "kill -KILL {qemu}");
    let status = child.wait().unwrap();
    let _ = reader.join();
    let stderr = err_reader.join().unwrap();
    // Acks that arrived between the decision and the kill count as well:
    // they were fsynced before being printed.
    for line in rx.try_iter() {
        if let Some(n) = line.strip_prefix("ack ").and_then(|n| n.parse::<u32>().ok()) {
            assert_eq!(n, acked + 1, "acks in order");
            acked = n;
        }
    }
    assert!(wait_gone(qemu, Duration::from_secs(10)), "QEMU {qemu} still there after SIGKILL");
    assert!(other.is_empty(), "{level} seed {seed}: unexpected output {other:?}\n{stderr}");
    assert!(!status.success(), "isola reports the killed VM as a failure: {status}\n{stderr}");

    let data = std::fs::read(dir.path().join("log")).unwrap();
    match check_log(&data, seed, acked) {
        Ok((whole, tail)) => eprintln!(
            "{level} seed {seed}: killed {delay:?} after ack {stop_after}, {acked} acks seen; {whole} whole records on the host ({} after the last ack), {tail} bytes of a partial one",
            whole - acked
        ),
        Err(why) => {
            keep_for_replay(dir.path(), seed);
            panic!("{level} seed {seed}, {acked} acked, {} bytes on the host: {why}\n{stderr}", data.len());
        }
    }
}

/// SIGKILL `pid` with kill(1), as tests/volumes.rs does (std has no
/// kill of an arbitrary pid, and the tests keep out of `unsafe`).
fn sigkill(pid: u32) -> bool {
    Command::new("kill").args(["-KILL", &pid.to_string()]).status().is_ok_and(|s| s.success())
}

/// A failing log is copied next to the target dir for a look.
fn keep_for_replay(dir: &Path, seed: u32) {
    let to = root().join(format!("target/durability-failed-{seed}.log"));
    let _ = std::fs::copy(dir.join("log"), &to);
    eprintln!("the host's file is kept as {}", to.display());
}

#[test]
fn every_acknowledged_record_survives_a_sigkill_of_qemu() {
    let mut rng = Rng(seed() | 1);
    // A boot under TCG takes well under a second here: several rounds.
    for level in ["strict", "mpk", "none"].repeat(3) {
        let guest_seed = rng.next() as u32;
        // Early (the first records, the file just created) as well as after a while.
        let range = if rng.below(4) == 0 { 5 } else { 1000 };
        let stop_after = 1 + rng.below(range) as u32;
        let delay = Duration::from_micros(rng.below(20_000));
        round(level, guest_seed, stop_after, delay);
    }
}
