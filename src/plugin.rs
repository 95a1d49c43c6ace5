//! Isola's own QEMU TCG plugins (`plugin/*.c`): their sources are part of
//! this binary, and each is compiled with the host's C compiler into
//! `target/plugin/` the first time a run asks for it.
//!
//! The file name carries a hash of the sources, so a CLI always loads the
//! plugin built from its own sources, and several checkouts or CLIs of
//! different versions never load each other's. `scripts/setup` installs
//! gcc; QEMU 7.2 loads plugins of API version 1 (`plugin/qemu-plugin.h`).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::Error;
use crate::kbuild;

/// The plugin API declarations every plugin includes.
const HEADER: &str = include_str!("../plugin/qemu-plugin.h");

/// Every plugin: its name (`plugin/NAME.c`) and its source.
const SOURCES: &[(&str, &str)] = &[
    ("icount", include_str!("../plugin/icount.c")),
    ("profile", include_str!("../plugin/profile.c")),
];

/// FNV-1a over the plugin's source and the header: the build's identity.
fn source_hash(source: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in HEADER.bytes().chain([0]).chain(source.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// Where plugin `name` built from `source` lives under `dir`.
fn library_path(dir: &Path, name: &str, source: &str) -> PathBuf {
    dir.join(format!("lib{name}-{:016x}.so", source_hash(source)))
}

/// The shared library of plugin `name`, compiled now if this CLI's sources
/// of it have not been compiled yet.
pub fn library(name: &str) -> Result<PathBuf, Error> {
    let source = SOURCES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| *s)
        .ok_or_else(|| Error::failure(format!("no QEMU plugin named {name}")))?;
    let dir = kbuild::workspace_root().join("target/plugin");
    let lib = library_path(&dir, name, source);
    if lib.is_file() {
        return Ok(lib);
    }
    compile(&dir, name, source, &lib)?;
    Ok(lib)
}

/// `cc -shared` of the source (written next to the library with the
/// header, so that the compiler's messages name real lines).
fn compile(dir: &Path, name: &str, source: &str, lib: &Path) -> Result<(), Error> {
    let fail = |what: String| Error::failure(format!("building the QEMU plugin {name}: {what}"));
    let src_dir = dir.join(format!("{name}-src"));
    std::fs::create_dir_all(&src_dir).map_err(|e| fail(format!("{}: {e}", src_dir.display())))?;
    let write = |file: &str, text: &str| {
        let path = src_dir.join(file);
        std::fs::write(&path, text).map_err(|e| fail(format!("{}: {e}", path.display())))
    };
    write("qemu-plugin.h", HEADER)?;
    write(&format!("{name}.c"), source)?;
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let tmp = lib.with_extension("so.tmp");
    let output = Command::new(&cc)
        .args(["-O2", "-g", "-Wall", "-Wextra", "-Werror", "-std=gnu11", "-shared", "-fPIC"])
        .arg("-fvisibility=hidden")
        .arg("-o")
        .arg(&tmp)
        .arg(src_dir.join(format!("{name}.c")))
        .output()
        .map_err(|e| fail(format!("cannot run {cc}: {e} (scripts/setup installs gcc)")))?;
    if !output.status.success() {
        let text = String::from_utf8_lossy(&output.stderr);
        return Err(fail(format!("{cc} failed:\n{}", text.trim_end())));
    }
    std::fs::rename(&tmp, lib).map_err(|e| fail(format!("{}: {e}", lib.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_follows_the_sources() {
        let dir = Path::new("/t");
        let a = library_path(dir, "icount", "int a;");
        assert_eq!(a, library_path(dir, "icount", "int a;"));
        assert_ne!(a, library_path(dir, "icount", "int b;"));
        assert!(a.display().to_string().starts_with("/t/libicount-"));
    }

    #[test]
    fn an_unknown_plugin_is_an_error() {
        assert!(library("no-such-plugin").unwrap_err().to_string().contains("no-such-plugin"));
    }
}
