//! A 9P2000.L client, as Linux's v9fs speaks it to QEMU's `-virtfs`:
//! [`wire`] encodes T-messages and decodes R-messages; [`client::Client`]
//! runs a session over any [`client::Transport`] (the kernel's virtio-9p
//! queue) and serves it to the in-memory tree as a mounted
//! `vfs::remote::Backend` (a volume, docs/volumes.md).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod client;
pub mod wire;

pub use client::{Client, Transport};

#[cfg(test)]
mod tests;
