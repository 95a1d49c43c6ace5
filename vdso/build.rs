//! Builds the vDSO image from `src/vdso.c` and `src/vdso.lds` with the host's
//! C compiler and GNU ld (scripts/setup installs them), and refuses an
//! image that holds WRPKRU (`0F 01 EF`) at any byte offset: the whole
//! image is mapped executable in every process.
use std::path::PathBuf;
use std::process::Command;

/// gcc's flags: freestanding position-independent code with no stack
/// protector, no CET notes and no vector registers; `ld`'s: Linux's vDSO
/// flags (both hash styles, symbolic binding, the soname glibc expects)
/// without a build id, whose hash bytes could hold anything.
const FLAGS: &[&str] = &[
    "-O2",
    "-fPIC",
    "-ffreestanding",
    "-fno-stack-protector",
    "-fno-builtin",
    "-fno-plt",
    "-fcf-protection=none",
    "-mgeneral-regs-only",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-nostdlib",
    "-shared",
    "-Wl,-soname,linux-vdso.so.1",
    "-Wl,--hash-style=both",
    "-Wl,--build-id=none",
    "-Wl,-Bsymbolic",
    "-Wl,--no-undefined",
    "-Wl,--eh-frame-hdr",
    "-Wl,-z,noexecstack",
    "-Wl,-z,max-page-size=4096",
];

fn main() {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("vdso.so");
    let source = dir.join("src/vdso.c");
    let script = dir.join("src/vdso.lds");
    println!("cargo:rerun-if-changed={}", source.display());
    println!("cargo:rerun-if-changed={}", script.display());
    println!("cargo:rerun-if-env-changed=VDSO_CC");
    let cc = std::env::var("VDSO_CC").unwrap_or_else(|_| String::from("gcc"));
    let result = Command::new(&cc)
        .args(FLAGS)
        .arg(format!("-Wl,-T,{}", script.display()))
        .arg("-o")
        .arg(&out)
        .arg(&source)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cc} to build the vDSO (scripts/setup installs gcc): {e}"));
    if !result.status.success() {
        panic!("{cc} failed to build the vDSO:\n{}", String::from_utf8_lossy(&result.stderr));
    }
    let image = std::fs::read(&out).expect("read the built vDSO");
    if let Some(offset) = pkru::scan::find_wrpkru(&image).next() {
        panic!("the vDSO image holds WRPKRU (0F 01 EF) at offset {offset:#x}: change src/vdso.c");
    }
}
