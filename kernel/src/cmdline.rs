//! The kernel command line: `key=value` words separated by spaces.
//! Known keys: `isolation=auto|mpk|none`. Unknown words are logged and ignored.

use crate::isolation::Request;

/// What the command line asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelArgs {
    pub isolation: Request,
}

/// Parses the command line; bad values are logged and the default kept.
pub fn parse(cmdline: &str) -> KernelArgs {
    let mut args = KernelArgs { isolation: Request::Auto };
    for word in cmdline.split_ascii_whitespace() {
        match word.split_once('=') {
            Some(("isolation", value)) => match Request::parse(value) {
                Some(request) => args.isolation = request,
                None => log::warn!("isolation={value}: expected auto, mpk or none; using auto"),
            },
            _ => log::warn!("unknown kernel argument '{word}' ignored"),
        }
    }
    args
}
