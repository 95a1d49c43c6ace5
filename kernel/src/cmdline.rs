//! The kernel command line: `key=value` words separated by spaces.
//! Known words: `isolation=auto|strict|mpk|none`, `init=PATH` (the first program;
//! its argv and envp come from `/.isola/argv` and `/.isola/envp` in the
//! initramfs), `trace` (print every syscall), `log=LEVEL` (console log
//! level), `epoch=SECS` (wall-clock time at boot where there is no RTC),
//! `ip=dhcp|A.B.C.D/N` and `gw=A.B.C.D` (eth0's addressing),
//! `volume=TAG:PATH` (repeatable: a virtio-9p volume mounted at PATH). Unknown words are logged and ignored.

use crate::isolation::Request;

/// What the command line asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelArgs<'a> {
    pub isolation: Request,
    /// `log=debug|info|warn|error`: the console's log level (info by default).
    pub log_level: log::LevelFilter,
    /// `epoch=SECS`: the wall-clock time at boot when there is no RTC.
    pub epoch_secs: Option<u64>,
    pub init: Option<&'a str>,
    pub trace: bool,
    /// `ps`: print the process listing when pid 1 exits.
    pub ps_on_exit: bool,
    /// `control`: answer `isola ps` / `isola kill` on COM2 ([`crate::control`]).
    pub control: bool,
    /// `ip=dhcp` or `ip=A.B.C.D/N`: eth0's address (10.0.2.15/24 by default).
    pub ip: Option<&'a str>,
    /// `gw=A.B.C.D`: eth0's default gateway (10.0.2.2 by default).
    pub gateway: Option<&'a str>,
}

/// The `volume=TAG:PATH` words: the virtio-9p device with mount tag TAG
/// is mounted at the absolute PATH (docs/volumes.md).
pub fn volumes(cmdline: &str) -> impl Iterator<Item = (&str, &str)> {
    cmdline.split_ascii_whitespace().filter_map(|word| {
        let spec = word.strip_prefix("volume=")?;
        let (tag, path) = spec.split_once(':')?;
        (!tag.is_empty() && path.starts_with('/')).then_some((tag, path))
    })
}

/// Parses the command line; bad values are logged and the default kept.
pub fn parse(cmdline: &str) -> KernelArgs<'_> {
    let mut args = KernelArgs { isolation: Request::Auto, log_level: log::LevelFilter::Info, epoch_secs: None, init: None, trace: false, ps_on_exit: false, control: false, ip: None, gateway: None };
    for word in cmdline.split_ascii_whitespace() {
        match word.split_once('=') {
            Some(("isolation", value)) => match Request::parse(value) {
                Some(request) => args.isolation = request,
                None => log::warn!("isolation={value}: expected auto, strict, mpk or none; using auto"),
            },
            Some(("init", path)) if path.starts_with('/') => args.init = Some(path),
            Some(("log", level)) => match level.parse() {
                Ok(level) => args.log_level = level,
                Err(_) => log::warn!("log={level}: expected debug, info, warn or error"),
            },
            Some(("epoch", secs)) => match secs.parse() {
                Ok(secs) => args.epoch_secs = Some(secs),
                Err(_) => log::warn!("epoch={secs}: expected seconds since 1970"),
            },
            Some(("ip", value)) => args.ip = Some(value),
            Some(("gw", value)) => args.gateway = Some(value),
            // Read by `volumes`.
            Some(("volume", _)) => {}
            None if word == "trace" => args.trace = true,
            None if word == "ps" => args.ps_on_exit = true,
            None if word == "control" => args.control = true,
            _ => log::warn!("unknown kernel argument '{word}' ignored"),
        }
    }
    args
}
