//! The 16550 UARTs, polled, no interrupts: COM1 is the kernel console, COM2
//! the control channel (`isola ps`, `isola kill`) when the host gives one.

use x86::io::{inb, outb};

const COM1: u16 = 0x3f8;
const COM2: u16 = 0x2f8;
/// Offset of the line status register.
const LINE_STATUS: u16 = 5;
const TRANSMIT_EMPTY: u8 = 1 << 5;
const DATA_READY: u8 = 1;

/// Programs `base` for 115200 8N1 with FIFOs on.
fn program(base: u16) {
    // SAFETY: COM1's and COM2's registers are fixed ISA ports, each used by one driver only.
    unsafe {
        outb(base + 1, 0x00); // no interrupts
        outb(base + 3, 0x80); // DLAB on
        outb(base, 0x01); // divisor 1: 115200 baud
        outb(base + 1, 0x00);
        outb(base + 3, 0x03); // 8N1, DLAB off
        outb(base + 2, 0xc7); // FIFOs on and cleared
        outb(base + 4, 0x03); // DTR, RTS
    }
}

fn send(base: u16, byte: u8) {
    // SAFETY: reading the line status and writing the data register of a UART has no memory effects.
    unsafe {
        while inb(base + LINE_STATUS) & TRANSMIT_EMPTY == 0 {
            core::hint::spin_loop();
        }
        outb(base, byte);
    }
}

fn receive(base: u16) -> Option<u8> {
    // SAFETY: reading a UART's line status and data registers has no memory effects.
    unsafe { (inb(base + LINE_STATUS) & DATA_READY != 0).then(|| inb(base)) }
}

/// Programs the console, 115200 8N1 with FIFOs on.
pub fn init() {
    program(COM1);
}

/// Sends one byte, waiting for the transmitter.
pub fn write_byte(byte: u8) {
    send(COM1, byte);
}

/// A byte from the console input, if one is waiting.
pub fn try_read_byte() -> Option<u8> {
    receive(COM1)
}

/// Whether console input is waiting.
pub fn input_ready() -> bool {
    // SAFETY: reading COM1's line status register has no memory effects.
    unsafe { inb(COM1 + LINE_STATUS) & DATA_READY != 0 }
}

/// Programs the control port.
pub fn control_init() {
    program(COM2);
}

/// Line-status reads a control byte may wait for the transmitter (a
/// fraction of a second under TCG).
const CONTROL_PATIENCE: u32 = 200_000;

/// Sends one byte on the control port; `false` when the transmitter stayed
/// busy (a host client that stopped reading), and the byte is dropped: the
/// kernel never waits on the host for long. With no client connected QEMU
/// takes and drops every byte.
pub fn control_write_byte(byte: u8) -> bool {
    for _ in 0..CONTROL_PATIENCE {
        // SAFETY: reading the line status and writing the data register of COM2 has no memory effects.
        unsafe {
            if inb(COM2 + LINE_STATUS) & TRANSMIT_EMPTY != 0 {
                outb(COM2, byte);
                return true;
            }
        }
        core::hint::spin_loop();
    }
    false
}

/// A byte from the control port, if one is waiting.
pub fn control_try_read_byte() -> Option<u8> {
    receive(COM2)
}
