//! The COM1 16550 UART: the kernel console. Polled, no interrupts.

use x86::io::{inb, outb};

const COM1: u16 = 0x3f8;
const LINE_STATUS: u16 = COM1 + 5;
const TRANSMIT_EMPTY: u8 = 1 << 5;

/// Programs 115200 8N1 with FIFOs on.
pub fn init() {
    // SAFETY: COM1's registers are fixed ISA ports that only the console driver uses.
    unsafe {
        outb(COM1 + 1, 0x00); // no interrupts
        outb(COM1 + 3, 0x80); // DLAB on
        outb(COM1, 0x01); // divisor 1: 115200 baud
        outb(COM1 + 1, 0x00);
        outb(COM1 + 3, 0x03); // 8N1, DLAB off
        outb(COM1 + 2, 0xc7); // FIFOs on and cleared
        outb(COM1 + 4, 0x03); // DTR, RTS
    }
}

/// Sends one byte, waiting for the transmitter.
pub fn write_byte(byte: u8) {
    // SAFETY: reading the line status and writing the data register of COM1 has no memory effects.
    unsafe {
        while inb(LINE_STATUS) & TRANSMIT_EMPTY == 0 {
            core::hint::spin_loop();
        }
        outb(COM1, byte);
    }
}

const DATA_READY: u8 = 1;

/// A byte from the console input, if one is waiting.
pub fn try_read_byte() -> Option<u8> {
    // SAFETY: reading COM1's line status and data registers has no memory effects.
    unsafe { (inb(LINE_STATUS) & DATA_READY != 0).then(|| inb(COM1)) }
}

/// Whether console input is waiting.
pub fn input_ready() -> bool {
    // SAFETY: reading COM1's line status register has no memory effects.
    unsafe { inb(LINE_STATUS) & DATA_READY != 0 }
}
