//! Building the kernel: one `cargo build` per variant, each in its own
//! target directory, then the post-link step of [`crate::image`].
//!
//! The workspace root is where this package's `Cargo.toml` sits
//! (`CARGO_MANIFEST_DIR` at compile time): the CLI builds the kernel from
//! the source tree it was built from.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use crate::error::Error;
use crate::image;

/// The kernel images the CLI knows how to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// The main kernel (no features).
    Kernel,
    /// The in-kernel test suite (`--features ktest`).
    Ktest,
    /// The test kernel that overflows its stack (`--features ktest-stack-overflow`).
    KtestStackOverflow,
}

impl Variant {
    /// The name used for its target directory and image file.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Kernel => "kernel",
            Variant::Ktest => "ktest",
            Variant::KtestStackOverflow => "ktest-stack-overflow",
        }
    }

    /// The cargo feature that selects it.
    pub fn feature(self) -> Option<&'static str> {
        match self {
            Variant::Kernel => None,
            Variant::Ktest => Some("ktest"),
            Variant::KtestStackOverflow => Some("ktest-stack-overflow"),
        }
    }
}

/// The workspace root this CLI was built from.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `cargo build` arguments for `variant`, run from the workspace root.
pub fn cargo_args(variant: Variant) -> Vec<String> {
    let mut args: Vec<String> = [
        "build",
        "--profile",
        "kernel",
        "-p",
        "isola-kernel",
        "--target",
        "x86_64-unknown-none",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push("--target-dir".into());
    args.push(format!("target/kernel/{}", variant.name()));
    if let Some(feature) = variant.feature() {
        args.push("--features".into());
        args.push(feature.into());
    }
    args
}

/// Where cargo leaves the linked ELF of `variant`.
pub fn linked_elf(root: &Path, variant: Variant) -> PathBuf {
    root.join("target/kernel")
        .join(variant.name())
        .join("x86_64-unknown-none/kernel/isola-kernel")
}

/// Where the post-linked image of `variant` goes.
pub fn image_path(root: &Path, variant: Variant) -> PathBuf {
    root.join("target/isola")
        .join(format!("{}.elf", variant.name()))
}

/// Build `variant` if needed and return its ready-to-boot image.
///
/// Progress goes to stderr as one line; cargo's own output is shown only
/// when the build fails.
pub fn build(variant: Variant) -> Result<PathBuf, Error> {
    // Built once per process at most (the KVM probe and the run share one).
    static BUILT: Mutex<Vec<(Variant, PathBuf)>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, path)) = built.iter().find(|(v, _)| *v == variant) {
        return Ok(path.clone());
    }
    let path = build_uncached(variant)?;
    built.push((variant, path.clone()));
    Ok(path)
}

fn build_uncached(variant: Variant) -> Result<PathBuf, Error> {
    let root = workspace_root();
    if !root.join("kernel/Cargo.toml").is_file() {
        return Err(Error::failure(format!(
            "kernel sources not found under {} (isola builds the kernel from the tree it was built in)",
            root.display()
        )));
    }
    // Said only when cargo has work to do (an up-to-date tree answers in
    // well under a second): every run's stderr would carry it otherwise.
    let (built_tx, built_rx) = std::sync::mpsc::channel::<()>();
    let name = variant.name();
    let announcer = std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
            built_rx.recv_timeout(std::time::Duration::from_secs(1))
        {
            eprintln!("isola: building kernel ({name})...");
        }
    });
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(&cargo)
        .args(cargo_args(variant))
        .current_dir(&root)
        // The kernel's flags come from .cargo/config.toml; flags meant for
        // host builds (or another target dir) must not leak into it.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .stdin(Stdio::null())
        .output();
    drop(built_tx);
    let _ = announcer.join();
    let output = output.map_err(|e| {
        Error::failure(format!(
            "kernel build failed: cannot run {}: {e}",
            Path::new(&cargo).display()
        ))
    })?;
    if !output.status.success() {
        eprint!("{}", String::from_utf8_lossy(&output.stdout));
        eprint!("{}", String::from_utf8_lossy(&output.stderr));
        return Err(Error::failure(format!(
            "kernel build failed ({}): cargo {} ({})",
            variant.name(),
            cargo_args(variant).join(" "),
            output.status
        )));
    }
    let elf = linked_elf(&root, variant);
    let out = image_path(&root, variant);
    image::postlink(&elf, &out)
        .map_err(|e| Error::failure(format!("kernel image {}: {e}", variant.name())))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_command_per_variant() {
        assert_eq!(
            cargo_args(Variant::Kernel).join(" "),
            "build --profile kernel -p isola-kernel --target x86_64-unknown-none --target-dir target/kernel/kernel"
        );
        assert!(
            cargo_args(Variant::Ktest)
                .join(" ")
                .ends_with("--target-dir target/kernel/ktest --features ktest")
        );
        assert!(cargo_args(Variant::KtestStackOverflow).join(" ").ends_with(
            "--target-dir target/kernel/ktest-stack-overflow --features ktest-stack-overflow"
        ));
    }

    #[test]
    fn paths_per_variant() {
        let root = Path::new("/w");
        assert_eq!(
            linked_elf(root, Variant::Ktest),
            Path::new("/w/target/kernel/ktest/x86_64-unknown-none/kernel/isola-kernel")
        );
        assert_eq!(
            image_path(root, Variant::KtestStackOverflow),
            Path::new("/w/target/isola/ktest-stack-overflow.elf")
        );
        assert!(workspace_root().join("Cargo.toml").is_file());
    }
}
