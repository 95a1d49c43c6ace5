//! The CMOS real-time clock (MC146818), read once at boot for the wall-clock
//! time (`CLOCK_REALTIME`).

use x86::io::{inb, outb};

const INDEX: u16 = 0x70;
const DATA: u16 = 0x71;

fn read_register(index: u8) -> u8 {
    // SAFETY: the CMOS index/data ports only select and read RTC registers; bit 7
    // of the index keeps NMIs enabled as they were (we never disable them).
    unsafe {
        outb(INDEX, index & 0x7f);
        inb(DATA)
    }
}

/// The date and time the RTC holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtcTime {
    pub year: u32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

/// Reads the RTC (twice, until two reads agree, to avoid an update in the
/// middle). `None` when no RTC answers (all registers read 0xff).
pub fn read() -> Option<RtcTime> {
    // Without an RTC every register reads 0xff (the update-in-progress bit
    // included): give up rather than wait for an update that never ends.
    if read_register(0x0a) == 0xff && read_register(0x0b) == 0xff {
        return None;
    }
    let snapshot = || {
        for _ in 0..100_000 {
            if read_register(0x0a) & 0x80 == 0 {
                break;
            }
            core::hint::spin_loop();
        }
        [0x00, 0x02, 0x04, 0x07, 0x08, 0x09, 0x32].map(read_register)
    };
    let mut raw = snapshot();
    for _ in 0..4 {
        let again = snapshot();
        if again == raw {
            break;
        }
        raw = again;
    }
    if raw.iter().all(|&b| b == 0xff) {
        return None;
    }
    let status_b = read_register(0x0b);
    let binary = status_b & 0x04 != 0;
    let decode = |v: u8| u32::from(if binary { v } else { (v & 0x0f) + (v >> 4) * 10 });
    let hour_raw = raw[2];
    let mut hour = decode(hour_raw & 0x7f);
    if status_b & 0x02 == 0 && hour_raw & 0x80 != 0 {
        hour = (hour % 12) + 12; // 12-hour mode, PM
    }
    let century = if raw[6] != 0 && raw[6] != 0xff { decode(raw[6]) } else { 20 };
    Some(RtcTime {
        year: century * 100 + decode(raw[5]),
        month: decode(raw[4]),
        day: decode(raw[3]),
        hour,
        minute: decode(raw[1]),
        second: decode(raw[0]),
    })
}
