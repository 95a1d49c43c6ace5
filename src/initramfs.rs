//! The initramfs of `isola run PROGRAM`: a cpio newc archive (written with
//! [`cpio::Writer`]) that the kernel mounts as its root file system.
//!
//! What goes in, in this order (a later entry for the same path replaces an
//! earlier one in the kernel, so an explicit `--add` wins over PROGRAM):
//! 0. with `--rootfs`, the root: a directory walked as `--add DIR:/` does,
//!    or a tar archive (plain, gzip or zstd, told apart by magic bytes);
//!    devices, FIFOs and sockets in it are skipped (the kernel makes its own
//!    `/dev`), tar hard links become copies; PROGRAM is then a guest path
//!    that must exist in the result and is not copied from the host;
//! 1. without `--rootfs`, PROGRAM's bytes at `/bin/<basename>`, mode 0755;
//! 2. each `--add HOST:GUEST`: a file at GUEST with its host permission bits,
//!    or a directory copied recursively (directories, files, and symlinks
//!    kept as symlinks; a symlink named on the command line is followed);
//! 3. `/.isola/argv` and `/.isola/envp`: NUL-terminated strings, argv[0]
//!    being the guest path of PROGRAM, envp the defaults
//!    ([`DEFAULT_ENV`]) with each `--env K=V` replacing or appending.
//!
//! Missing parent directories are created (mode 0755) before their first
//! child. Anything isola cannot pack faithfully (an unreadable file, a
//! device or socket, a path that would go through a file or symlink already
//! in the archive) is an [`Error::Input`]: one line, exit 2, nothing booted.
//!
//! [`TempInitrd`] holds the archive in a file under `target/isola/` for
//! QEMU's `-initrd` and deletes it when dropped.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::cli::{AddSpec, ProgramSpec};
use crate::error::Error;

/// The environment every first process starts with, before `--env`.
pub const DEFAULT_ENV: [(&str, &str); 3] = [
    ("PATH", "/bin:/sbin:/usr/bin:/usr/sbin"),
    ("HOME", "/"),
    ("TERM", "linux"),
];

/// Where the argv and envp files go.
pub const ARGV_PATH: &str = "/.isola/argv";
pub const ENVP_PATH: &str = "/.isola/envp";

/// A built archive and the guest path of its first program.
#[derive(Debug)]
pub struct Initramfs {
    pub bytes: Vec<u8>,
    /// `/bin/<basename of PROGRAM>`, for `init=` on the kernel command line.
    pub init: String,
}

/// `/bin/<basename>` for PROGRAM, which must name a file whose name fits on
/// the kernel command line (UTF-8, no whitespace or control characters).
pub fn guest_program_path(program: &str) -> Result<String, Error> {
    let name = Path::new(program)
        .file_name()
        .ok_or_else(|| Error::input(format!("PROGRAM '{program}' does not name a file")))?;
    let name = name
        .to_str()
        .ok_or_else(|| Error::input(format!("PROGRAM '{program}': its file name is not UTF-8")))?;
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::input(format!(
            "PROGRAM '{program}': its file name must not contain spaces or control characters \
             (it goes on the kernel command line; rename or copy it)"
        )));
    }
    Ok(format!("/bin/{name}"))
}

/// Strings each followed by a NUL byte.
pub fn encode_strings<S: AsRef<str>>(strings: &[S]) -> Vec<u8> {
    let mut out = Vec::new();
    for s in strings {
        out.extend_from_slice(s.as_ref().as_bytes());
        out.push(0);
    }
    out
}

/// argv: the guest path of PROGRAM, then ARGS.
pub fn argv(init: &str, args: &[String]) -> Vec<String> {
    std::iter::once(init.to_string())
        .chain(args.iter().cloned())
        .collect()
}

/// envp: [`DEFAULT_ENV`], then each `--env` in order; a key already present
/// is replaced where it stands.
pub fn envp(env: &[(String, String)]) -> Vec<String> {
    let mut vars: Vec<(String, String)> = DEFAULT_ENV
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for (key, value) in env {
        match vars.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value.clone(),
            None => vars.push((key.clone(), value.clone())),
        }
    }
    vars.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// Build the archive for PROGRAM, its ARGS, the `--add`s and `--env`s.
pub fn build(
    program: &ProgramSpec,
    rootfs: Option<&Path>,
    adds: &[AddSpec],
    env: &[(String, String)],
) -> Result<Initramfs, Error> {
    let mut archive = Archive {
        writer: cpio::Writer::new(),
        kinds: BTreeMap::new(),
        targets: BTreeMap::new(),
        skip_special: false,
        keep_owners: false,
        owner: cpio::Owner::ROOT,
    };
    let Some(root) = rootfs else {
        return build_host_program(archive, program, adds, env);
    };
    let init = rootfs_program_path(&program.path)?;
    archive.root(root)?;
    for add in adds {
        archive.add(add)?;
    }
    let resolved = archive.resolve(&init).unwrap_or_else(|| init.clone());
    match archive.kinds.get(&resolved) {
        Some(Kind::File) => {}
        Some(kind) => {
            return Err(Error::input(format!(
                "PROGRAM {init} is {} in --rootfs {}, not a file",
                kind.name(),
                root.display()
            )));
        }
        None => {
            return Err(Error::input(format!(
                "PROGRAM {init} does not exist in --rootfs {}",
                root.display()
            )));
        }
    }
    archive.file(ARGV_PATH, 0o644, encode_strings(&argv(&init, &program.args)))?;
    archive.file(ENVP_PATH, 0o644, encode_strings(&envp(env)))?;
    Ok(Initramfs {
        bytes: archive.writer.finish(),
        init,
    })
}

/// With `--rootfs`, PROGRAM is a guest path: absolute, normalised, and fit
/// for the kernel command line.
fn rootfs_program_path(program: &str) -> Result<String, Error> {
    let path = crate::cli::normalize_guest_path(program).map_err(|why| {
        Error::input(format!(
            "PROGRAM '{program}': with --rootfs it is a path inside the root: {why}"
        ))
    })?;
    if path == "/" || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::input(format!(
            "PROGRAM '{program}': not a file path fit for the kernel command line"
        )));
    }
    Ok(path)
}

/// The tar flavours `--rootfs` reads, by their first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TarKind {
    Plain,
    Gzip,
    Zstd,
}

/// What a file's first 512 bytes say it is: gzip (1f 8b), zstd
/// (28 b5 2f fd), or a tar header (`ustar` at offset 257); `None` else.
pub fn tar_kind(head: &[u8]) -> Option<TarKind> {
    if head.starts_with(&[0x1f, 0x8b]) {
        Some(TarKind::Gzip)
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some(TarKind::Zstd)
    } else if head.len() >= 262 && &head[257..262] == b"ustar" {
        Some(TarKind::Plain)
    } else {
        None
    }
}

fn build_host_program(
    mut archive: Archive,
    program: &ProgramSpec,
    adds: &[AddSpec],
    env: &[(String, String)],
) -> Result<Initramfs, Error> {
    let init = guest_program_path(&program.path)?;

    let meta = fs::metadata(&program.path)
        .map_err(|e| Error::input(format!("PROGRAM {}: {}", program.path, io_reason(&e))))?;
    if !meta.is_file() {
        return Err(Error::input(format!(
            "PROGRAM {} is not a regular file",
            program.path
        )));
    }
    let bytes = fs::read(&program.path)
        .map_err(|e| Error::input(format!("PROGRAM {}: {}", program.path, io_reason(&e))))?;
    archive.file(&init, 0o755, bytes)?;

    for add in adds {
        archive.add(add)?;
    }

    archive.file(
        ARGV_PATH,
        0o644,
        encode_strings(&argv(&init, &program.args)),
    )?;
    archive.file(ENVP_PATH, 0o644, encode_strings(&envp(env)))?;
    Ok(Initramfs {
        bytes: archive.writer.finish(),
        init,
    })
}

fn io_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file or directory".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// What a guest path is in the archive so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    File,
    Symlink,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Dir => "a directory",
            Kind::File => "a file",
            Kind::Symlink => "a symlink",
        }
    }
}

/// The writer plus what it holds, to create parents once and refuse paths
/// that would go through a file or symlink.
struct Archive {
    writer: cpio::Writer,
    kinds: BTreeMap<String, Kind>,
    /// Inside a `--rootfs` directory: skip devices, FIFOs and sockets.
    skip_special: bool,
    /// Inside a `--rootfs` (directory or tar): entries keep their owners
    /// and mtimes, as `docker export`/`import` does; everything else
    /// (the program, `--add`) is root's, as Docker's COPY makes it.
    keep_owners: bool,
    /// The owner of the entry being added.
    owner: cpio::Owner,
    /// Each symlink's target, to resolve PROGRAM through links such as a
    /// usr-merged root's `/bin -> usr/bin`.
    targets: BTreeMap<String, String>,
}

/// The archive's name for a guest path: no leading `/` (newc convention).
fn entry_name(guest: &str) -> &str {
    guest.trim_start_matches('/')
}

impl Archive {
    /// Create every missing ancestor of `guest` (absolute, normalised).
    fn parents(&mut self, guest: &str) -> Result<(), Error> {
        let mut at = 0;
        while let Some(i) = guest[at + 1..].find('/') {
            let parent = &guest[..at + 1 + i];
            match self.kinds.get(parent) {
                Some(Kind::Dir) => {}
                Some(kind) => {
                    return Err(Error::input(format!(
                        "cannot put {guest} in the initramfs: {parent} is already {} there",
                        kind.name()
                    )));
                }
                None => {
                    self.writer.add_dir(entry_name(parent), 0o755);
                    self.kinds.insert(parent.to_string(), Kind::Dir);
                }
            }
            at += 1 + i;
        }
        Ok(())
    }

    fn dir(&mut self, guest: &str, perm: u32) -> Result<(), Error> {
        if guest == "/" {
            return Ok(());
        }
        self.parents(guest)?;
        // A directory already there keeps its entry (and so its children).
        if self.kinds.get(guest) != Some(&Kind::Dir) {
            self.writer.add_dir_as(entry_name(guest), perm & 0o7777, self.owner);
            self.kinds.insert(guest.to_string(), Kind::Dir);
        }
        Ok(())
    }

    fn file(&mut self, guest: &str, perm: u32, data: Vec<u8>) -> Result<(), Error> {
        if u32::try_from(data.len()).is_err() {
            return Err(Error::input(format!(
                "cannot put {guest} in the initramfs: a cpio newc file holds at most 4 GiB"
            )));
        }
        self.parents(guest)?;
        self.writer
            .add_file_as(entry_name(guest), perm & 0o7777, &data, self.owner);
        self.kinds.insert(guest.to_string(), Kind::File);
        Ok(())
    }

    fn symlink(&mut self, guest: &str, target: &str) -> Result<(), Error> {
        self.parents(guest)?;
        self.writer.add_symlink_as(entry_name(guest), target, self.owner);
        self.kinds.insert(guest.to_string(), Kind::Symlink);
        self.targets.insert(guest.to_string(), target.to_string());
        Ok(())
    }

    /// `path` with every symlink in the archive followed, as the kernel's
    /// lookup will (at most 40 links); `None` on a loop.
    fn resolve(&self, path: &str) -> Option<String> {
        let mut pending: Vec<String> = path.split('/').filter(|c| !c.is_empty()).rev().map(String::from).collect();
        let mut done: Vec<String> = Vec::new();
        let mut links = 0;
        while let Some(component) = pending.pop() {
            match component.as_str() {
                "." => continue,
                ".." => {
                    done.pop();
                    continue;
                }
                _ => {}
            }
            done.push(component);
            let here = format!("/{}", done.join("/"));
            if let Some(target) = self.targets.get(&here) {
                links += 1;
                if links > 40 {
                    return None;
                }
                done.pop();
                if target.starts_with('/') {
                    done.clear();
                }
                pending.extend(target.split('/').filter(|c| !c.is_empty()).rev().map(String::from));
            }
        }
        Some(format!("/{}", done.join("/")))
    }

    /// One `--add`: the host path itself is followed if it is a symlink.
    fn add(&mut self, add: &AddSpec) -> Result<(), Error> {
        let host = Path::new(&add.host);
        let meta = fs::metadata(host)
            .map_err(|e| Error::input(format!("--add {}: {}", add.host, io_reason(&e))))?;
        if meta.is_dir() {
            self.dir(&add.guest, meta.permissions().mode())?;
            self.tree(host, &add.guest)
        } else if meta.is_file() {
            if add.guest == "/" {
                return Err(Error::input(format!(
                    "--add {}:/ — a file cannot be the root directory",
                    add.host
                )));
            }
            let data = read_file(host)?;
            self.file(&add.guest, meta.permissions().mode(), data)
        } else {
            Err(unsupported(host, &meta))
        }
    }

    /// The contents of host directory `dir` under guest directory `guest`,
    /// in name order; symlinks are not followed.
    fn tree(&mut self, dir: &Path, guest: &str) -> Result<(), Error> {
        let entries = fs::read_dir(dir)
            .map_err(|e| Error::input(format!("--add: {}: {}", dir.display(), io_reason(&e))))?;
        let mut names: Vec<PathBuf> = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| {
                Error::input(format!("--add: {}: {}", dir.display(), io_reason(&e)))
            })?;
            names.push(entry.path());
        }
        names.sort();
        for host in names {
            let name = host.file_name().unwrap_or_default();
            let name = name.to_str().ok_or_else(|| {
                Error::input(format!("--add: {}: file name is not UTF-8", host.display()))
            })?;
            let child = if guest == "/" {
                format!("/{name}")
            } else {
                format!("{guest}/{name}")
            };
            let meta = fs::symlink_metadata(&host).map_err(|e| {
                Error::input(format!("--add: {}: {}", host.display(), io_reason(&e)))
            })?;
            let kind = meta.file_type();
            if self.keep_owners {
                use std::os::unix::fs::MetadataExt;
                let mtime = u32::try_from(meta.mtime()).unwrap_or(0);
                self.owner = cpio::Owner { uid: meta.uid(), gid: meta.gid(), mtime };
            }
            if kind.is_symlink() {
                let target = fs::read_link(&host).map_err(|e| {
                    Error::input(format!("--add: {}: {}", host.display(), io_reason(&e)))
                })?;
                let target = target.to_str().ok_or_else(|| {
                    Error::input(format!(
                        "--add: {}: symlink target is not UTF-8",
                        host.display()
                    ))
                })?;
                self.symlink(&child, target)?;
            } else if kind.is_dir() {
                self.dir(&child, meta.permissions().mode())?;
                self.tree(&host, &child)?;
            } else if kind.is_file() {
                let data = read_file(&host)?;
                self.file(&child, meta.permissions().mode(), data)?;
            } else if !self.skip_special {
                return Err(unsupported(&host, &meta));
            }
        }
        Ok(())
    }

    /// `--rootfs PATH`: a directory or a tar archive as `/`.
    fn root(&mut self, root: &Path) -> Result<(), Error> {
        let bad = |why: String| Error::input(format!("--rootfs {}: {why}", root.display()));
        let meta = fs::metadata(root).map_err(|e| bad(io_reason(&e)))?;
        if meta.is_dir() {
            self.skip_special = true;
            self.keep_owners = true;
            let walked = self.tree(root, "/");
            self.skip_special = false;
            self.keep_owners = false;
            self.owner = cpio::Owner::ROOT;
            return walked;
        }
        if !meta.is_file() {
            return Err(bad("neither a directory nor a tar archive".into()));
        }
        let mut file = fs::File::open(root).map_err(|e| bad(io_reason(&e)))?;
        let mut head = Vec::with_capacity(512);
        io::Read::read_to_end(&mut io::Read::take(&mut file, 512), &mut head)
            .map_err(|e| bad(io_reason(&e)))?;
        let kind = tar_kind(&head).ok_or_else(|| {
            bad("neither a directory nor a tar archive (plain, gzip or zstd)".into())
        })?;
        io::Seek::rewind(&mut file).map_err(|e| bad(io_reason(&e)))?;
        let reader = io::BufReader::new(file);
        let stream: Box<dyn io::Read> = match kind {
            TarKind::Plain => Box::new(reader),
            TarKind::Gzip => Box::new(flate2::read::MultiGzDecoder::new(reader)),
            TarKind::Zstd => Box::new(
                zstd::stream::read::Decoder::with_buffer(reader).map_err(|e| bad(e.to_string()))?,
            ),
        };
        let unpacked = self.tar(stream).map_err(bad);
        self.owner = cpio::Owner::ROOT;
        unpacked
    }

    /// The entries of a tar stream; hard links become copies of the file
    /// they name (so every file's data is kept until the end).
    fn tar(&mut self, stream: Box<dyn io::Read>) -> Result<(), String> {
        use tar::EntryType;
        let mut files: BTreeMap<String, (u32, Vec<u8>)> = BTreeMap::new();
        let mut tar = tar::Archive::new(stream);
        let entries = tar.entries().map_err(|e| format!("not a readable tar archive: {e}"))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| format!("not a readable tar archive: {e}"))?;
            let raw = entry.path().map_err(|e| format!("bad entry name: {e}"))?;
            let name = raw
                .to_str()
                .ok_or_else(|| format!("entry {}: name is not UTF-8", raw.display()))?
                .to_string();
            let guest = tar_guest_path(&name)?;
            let mode = entry.header().mode().map_err(|e| format!("entry {name}: {e}"))?;
            let what = entry.header().entry_type();
            if guest == "/" {
                continue;
            }
            let header = entry.header();
            self.owner = cpio::Owner {
                uid: header.uid().ok().and_then(|id| u32::try_from(id).ok()).unwrap_or(0),
                gid: header.gid().ok().and_then(|id| u32::try_from(id).ok()).unwrap_or(0),
                mtime: header.mtime().ok().and_then(|t| u32::try_from(t).ok()).unwrap_or(0),
            };
            let err = |e: Error| e.to_string();
            match what {
                EntryType::Directory => self.dir(&guest, mode).map_err(err)?,
                EntryType::Regular | EntryType::Continuous => {
                    let mut data = Vec::new();
                    io::Read::read_to_end(&mut entry, &mut data)
                        .map_err(|e| format!("entry {name}: {e}"))?;
                    files.insert(guest.clone(), (mode, data.clone()));
                    self.file(&guest, mode, data).map_err(err)?;
                }
                EntryType::Symlink => {
                    let target = entry
                        .link_name()
                        .map_err(|e| format!("entry {name}: {e}"))?
                        .ok_or_else(|| format!("symlink {name} without a target"))?;
                    let target = target
                        .to_str()
                        .ok_or_else(|| format!("symlink {name}: target is not UTF-8"))?
                        .to_string();
                    self.symlink(&guest, &target).map_err(err)?;
                }
                EntryType::Link => {
                    let target = entry
                        .link_name()
                        .map_err(|e| format!("entry {name}: {e}"))?
                        .ok_or_else(|| format!("hard link {name} without a target"))?;
                    let target = tar_guest_path(target.to_str().unwrap_or(""))?;
                    let (mode, data) = files
                        .get(&target)
                        .cloned()
                        .ok_or_else(|| format!("hard link {name} to {target}, not a file before it"))?;
                    files.insert(guest.clone(), (mode, data.clone()));
                    self.file(&guest, mode, data).map_err(err)?;
                }
                // Devices, FIFOs: the kernel makes its own /dev. PAX and GNU
                // extension headers are read by the tar crate itself.
                _ => {}
            }
        }
        Ok(())
    }
}

/// A tar entry's name (`./bin/sh`, `bin/`, `/etc`) as a guest path.
fn tar_guest_path(name: &str) -> Result<String, String> {
    crate::cli::normalize_guest_path(&format!("/{name}"))
        .map_err(|why| format!("entry '{name}': {why}"))
}

fn read_file(host: &Path) -> Result<Vec<u8>, Error> {
    fs::read(host)
        .map_err(|e| Error::input(format!("--add: {}: {}", host.display(), io_reason(&e))))
}

fn unsupported(host: &Path, meta: &fs::Metadata) -> Error {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    let what = if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else {
        "neither a file, a directory nor a symlink"
    };
    Error::input(format!(
        "--add: {} is {what}: only files, directories and symlinks can be added",
        host.display()
    ))
}

/// The archive in a file for QEMU's `-initrd`, deleted on drop.
#[derive(Debug)]
pub struct TempInitrd {
    path: PathBuf,
}

/// Prefix of the temporary archives' file names in `target/isola/`.
const TEMP_PREFIX: &str = "initrd-";

impl TempInitrd {
    /// Write `bytes` to `dir/initrd-<pid>-<n>.cpio` (unique per run), after
    /// deleting files left there by isola processes that no longer exist
    /// (killed before they could clean up).
    pub fn write(dir: &Path, bytes: &[u8]) -> Result<Self, Error> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        fs::create_dir_all(dir)
            .map_err(|e| Error::failure(format!("cannot create {}: {e}", dir.display())))?;
        remove_stale(dir);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("{TEMP_PREFIX}{}-{n}.cpio", std::process::id()));
        let temp = TempInitrd { path };
        fs::write(&temp.path, bytes)
            .map_err(|e| Error::failure(format!("cannot write {}: {e}", temp.path.display())))?;
        Ok(temp)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempInitrd {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Delete `initrd-<pid>-*.cpio` files whose pid is not a running process.
fn remove_stale(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(TEMP_PREFIX))
            .and_then(|n| n.strip_suffix(".cpio"))
            .and_then(|n| n.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new("/proc").join(pid.to_string()).exists() {
            let _ = fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testelf::TempDir;
    use std::os::unix::fs::symlink;

    /// (name, mode, data) of every entry.
    fn parse(bytes: &[u8]) -> Vec<(String, u32, Vec<u8>)> {
        cpio::entries(bytes)
            .map(|e| {
                let e = e.expect("the archive parses back");
                (e.name.to_string(), e.mode, e.data.to_vec())
            })
            .collect()
    }

    fn names(entries: &[(String, u32, Vec<u8>)]) -> Vec<&str> {
        entries.iter().map(|(n, _, _)| n.as_str()).collect()
    }

    fn find<'a>(entries: &'a [(String, u32, Vec<u8>)], name: &str) -> &'a (String, u32, Vec<u8>) {
        entries
            .iter()
            .rev()
            .find(|(n, _, _)| n == name)
            .unwrap_or_else(|| panic!("no {name} in {:?}", names(entries)))
    }

    fn program(path: &Path, args: &[&str]) -> ProgramSpec {
        ProgramSpec {
            path: path.to_str().unwrap().into(),
            args: args.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn add(host: &Path, guest: &str) -> AddSpec {
        AddSpec {
            host: host.to_str().unwrap().into(),
            guest: guest.into(),
        }
    }

    fn msg(r: Result<Initramfs, Error>) -> String {
        let e = r.unwrap_err();
        assert_eq!(e.exit_code(), 2, "{e}");
        e.to_string()
    }

    fn build_host(p: &ProgramSpec, a: &[AddSpec], e: &[(String, String)]) -> Result<Initramfs, Error> {
        build(p, None, a, e)
    }

    #[test]
    fn rootfs_program_is_found_through_directory_links() {
        let dir = std::env::temp_dir().join(format!("isola-rootfs-merged-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("usr/bin")).unwrap();
        fs::write(dir.join("usr/bin/prog"), b"x").unwrap();
        std::os::unix::fs::symlink("usr/bin", dir.join("bin")).unwrap();
        std::os::unix::fs::symlink("../../bin/prog", dir.join("usr/bin/alias")).unwrap();
        std::os::unix::fs::symlink("loop2", dir.join("usr/bin/loop1")).unwrap();
        std::os::unix::fs::symlink("loop1", dir.join("usr/bin/loop2")).unwrap();
        let spec = |path: &str| ProgramSpec { path: path.into(), args: vec![] };
        assert_eq!(build(&spec("/bin/prog"), Some(&dir), &[], &[]).unwrap().init, "/bin/prog");
        assert_eq!(build(&spec("/usr/bin/alias"), Some(&dir), &[], &[]).unwrap().init, "/usr/bin/alias");
        for missing in ["/bin/nope", "/usr/bin/loop1"] {
            let e = build(&spec(missing), Some(&dir), &[], &[]).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{e}");
        }
        let e = build(&spec("/bin"), Some(&dir), &[], &[]).unwrap_err().to_string();
        assert!(e.contains("is a directory"), "{e}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn rootfs_dir_skips_devices_and_program_must_exist() {
        let dir = std::env::temp_dir().join(format!("isola-rootfs-unit-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("bin")).unwrap();
        fs::write(dir.join("bin/prog"), b"x").unwrap();
        std::os::unix::fs::symlink("prog", dir.join("bin/sh")).unwrap();
        let sock = dir.join("sock");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let p = ProgramSpec { path: "/bin/sh".into(), args: vec!["-c".into()] };
        let built = build(&p, Some(&dir), &[], &[]).unwrap();
        assert_eq!(built.init, "/bin/sh");
        let entries = parse(&built.bytes);
        assert_eq!(names(&entries), ["bin", "bin/prog", "bin/sh", ".isola", ".isola/argv", ".isola/envp"]);
        let missing = ProgramSpec { path: "/bin/nope".into(), args: vec![] };
        let m = msg(build(&missing, Some(&dir), &[], &[]));
        assert!(m.contains("/bin/nope does not exist in --rootfs"), "{m}");
        let m = msg(build(&ProgramSpec { path: "bin/prog".into(), args: vec![] }, Some(&dir), &[], &[]));
        assert!(m.contains("path inside the root"), "{m}");
        let m = msg(build(&p, Some(&dir.join("bin/prog")), &[], &[]));
        assert!(m.contains("neither a directory nor a tar archive"), "{m}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn tar_kinds_by_magic() {
        assert_eq!(tar_kind(&[0x1f, 0x8b, 8]), Some(TarKind::Gzip));
        assert_eq!(tar_kind(&[0x28, 0xb5, 0x2f, 0xfd, 0]), Some(TarKind::Zstd));
        let mut header = vec![0u8; 512];
        header[257..262].copy_from_slice(b"ustar");
        assert_eq!(tar_kind(&header), Some(TarKind::Plain));
        assert_eq!(tar_kind(b"#!/bin/sh\n"), None);
        assert_eq!(tar_kind(&[]), None);
    }

    #[test]
    fn strings_are_nul_terminated() {
        assert_eq!(encode_strings(&["a", "", "bc"]), b"a\0\0bc\0");
        assert!(encode_strings::<&str>(&[]).is_empty());
        assert_eq!(
            argv("/bin/busybox", &["echo".into(), "a b".into()]),
            ["/bin/busybox", "echo", "a b"]
        );
    }

    #[test]
    fn envp_defaults_then_env_replacing_in_place() {
        assert_eq!(
            envp(&[]),
            ["PATH=/bin:/sbin:/usr/bin:/usr/sbin", "HOME=/", "TERM=linux"]
        );
        let env = [
            ("FOO".to_string(), "bar".to_string()),
            ("HOME".to_string(), "/root".to_string()),
            ("FOO".to_string(), "baz=1".to_string()),
            ("EMPTY".to_string(), String::new()),
        ];
        assert_eq!(
            envp(&env),
            [
                "PATH=/bin:/sbin:/usr/bin:/usr/sbin",
                "HOME=/root",
                "TERM=linux",
                "FOO=baz=1",
                "EMPTY="
            ]
        );
    }

    #[test]
    fn guest_program_paths() {
        assert_eq!(guest_program_path("./busybox").unwrap(), "/bin/busybox");
        assert_eq!(guest_program_path("/a/b/prog.x").unwrap(), "/bin/prog.x");
        assert_eq!(guest_program_path("prog").unwrap(), "/bin/prog");
        for bad in ["/", "..", "a/my prog", "a/tab\there"] {
            let e = guest_program_path(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}: {e}");
        }
    }

    #[test]
    fn program_first_then_adds_then_argv_envp() {
        let dir = TempDir::new("initramfs-basic");
        let prog = dir.path().join("busybox");
        fs::write(&prog, b"\x7fELF fake").unwrap();
        let note = dir.path().join("note.txt");
        fs::write(&note, b"hello\n").unwrap();
        fs::set_permissions(&note, fs::Permissions::from_mode(0o640)).unwrap();
        let env = [("FOO".to_string(), "bar".to_string())];
        let built = build_host(
            &program(&prog, &["ls", "--help"]),
            &[add(&note, "/data/sub/greeting.txt")],
            &env,
        )
        .unwrap();
        assert_eq!(built.init, "/bin/busybox");
        let entries = parse(&built.bytes);
        assert_eq!(
            names(&entries),
            [
                "bin",
                "bin/busybox",
                "data",
                "data/sub",
                "data/sub/greeting.txt",
                ".isola",
                ".isola/argv",
                ".isola/envp"
            ]
        );
        assert_eq!(find(&entries, "bin").1, cpio::S_IFDIR | 0o755);
        assert_eq!(find(&entries, "data/sub").1, cpio::S_IFDIR | 0o755);
        let bin = find(&entries, "bin/busybox");
        assert_eq!(bin.1, cpio::S_IFREG | 0o755);
        assert_eq!(bin.2, b"\x7fELF fake");
        let g = find(&entries, "data/sub/greeting.txt");
        assert_eq!(
            (g.1, g.2.as_slice()),
            (cpio::S_IFREG | 0o640, &b"hello\n"[..])
        );
        assert_eq!(
            find(&entries, ".isola/argv").2,
            b"/bin/busybox\0ls\0--help\0"
        );
        assert_eq!(
            find(&entries, ".isola/envp").2,
            b"PATH=/bin:/sbin:/usr/bin:/usr/sbin\0HOME=/\0TERM=linux\0FOO=bar\0"
        );
    }

    #[test]
    fn an_explicit_add_comes_after_the_program() {
        let dir = TempDir::new("initramfs-override");
        let prog = dir.path().join("prog");
        fs::write(&prog, b"program").unwrap();
        let other = dir.path().join("other");
        fs::write(&other, b"replacement").unwrap();
        let built = build_host(&program(&prog, &[]), &[add(&other, "/bin/prog")], &[]).unwrap();
        let entries = parse(&built.bytes);
        let progs: Vec<_> = entries.iter().filter(|(n, _, _)| n == "bin/prog").collect();
        assert_eq!(progs.len(), 2);
        assert_eq!(progs[0].2, b"program");
        assert_eq!(progs[1].2, b"replacement");
    }

    #[test]
    fn directories_are_copied_recursively_with_symlinks() {
        let dir = TempDir::new("initramfs-tree");
        let prog = dir.path().join("prog");
        fs::write(&prog, b"p").unwrap();
        let tree = dir.path().join("tree");
        fs::create_dir_all(tree.join("etc/deep")).unwrap();
        fs::write(tree.join("etc/deep/conf"), b"k=v").unwrap();
        fs::write(tree.join("run.sh"), b"#!/bin/sh").unwrap();
        fs::set_permissions(tree.join("run.sh"), fs::Permissions::from_mode(0o750)).unwrap();
        fs::set_permissions(tree.join("etc"), fs::Permissions::from_mode(0o700)).unwrap();
        symlink("etc/deep/conf", tree.join("link")).unwrap();
        symlink("/nowhere", tree.join("dangling")).unwrap();
        // A symlink named on the command line is followed.
        let tree_link = dir.path().join("tree-link");
        symlink(&tree, &tree_link).unwrap();
        let built = build_host(
            &program(&prog, &[]),
            &[add(&tree_link, "/srv/app"), add(&tree, "/")],
            &[],
        )
        .unwrap();
        let entries = parse(&built.bytes);
        for root in ["srv/app/", ""] {
            let e = |n: &str| find(&entries, &format!("{root}{n}")).clone();
            assert_eq!(e("etc").1, cpio::S_IFDIR | 0o700);
            assert_eq!(e("etc/deep/conf").2, b"k=v");
            assert_eq!(e("run.sh").1, cpio::S_IFREG | 0o750);
            assert_eq!(e("link").1 & cpio::S_IFMT, cpio::S_IFLNK);
            assert_eq!(e("link").2, b"etc/deep/conf");
            assert_eq!(e("dangling").2, b"/nowhere");
        }
        assert_eq!(find(&entries, "srv").1, cpio::S_IFDIR | 0o755);
        // The root itself gets no entry, and each directory appears once.
        assert!(!names(&entries).contains(&""));
        let mut dirs: Vec<&str> = entries
            .iter()
            .filter(|(_, m, _)| m & cpio::S_IFMT == cpio::S_IFDIR)
            .map(|(n, _, _)| n.as_str())
            .collect();
        let count = dirs.len();
        dirs.sort();
        dirs.dedup();
        assert_eq!(dirs.len(), count, "{dirs:?}");
    }

    #[test]
    fn bad_input_is_one_clear_error() {
        let dir = TempDir::new("initramfs-bad");
        let prog = dir.path().join("prog");
        fs::write(&prog, b"p").unwrap();
        let missing = dir.path().join("missing");
        let msg = |r: Result<Initramfs, Error>| {
            let e = r.unwrap_err();
            assert_eq!(e.exit_code(), 2, "{e}");
            e.to_string()
        };
        let m = msg(build_host(&program(&missing, &[]), &[], &[]));
        assert!(m.contains("missing: no such file or directory"), "{m}");
        let m = msg(build_host(&program(dir.path(), &[]), &[], &[]));
        assert!(m.contains("is not a regular file"), "{m}");
        let m = msg(build_host(&program(&prog, &[]), &[add(&missing, "/x")], &[]));
        assert!(m.starts_with("--add "), "{m}");
        assert!(m.ends_with("missing: no such file or directory"), "{m}");
        let m = msg(build_host(&program(&prog, &[]), &[add(&prog, "/")], &[]));
        assert!(m.contains("root directory"), "{m}");
        // A path through a file already in the archive.
        let m = msg(build_host(
            &program(&prog, &[]),
            &[add(&prog, "/data"), add(&prog, "/data/x")],
            &[],
        ));
        assert!(m.contains("/data is already a file"), "{m}");
        let fifo = dir.path().join("tree");
        fs::create_dir(&fifo).unwrap();
        let status = std::process::Command::new("mkfifo")
            .arg(fifo.join("pipe"))
            .status()
            .unwrap();
        assert!(status.success());
        let m = msg(build_host(&program(&prog, &[]), &[add(&fifo, "/t")], &[]));
        assert!(m.contains("is a FIFO"), "{m}");
    }

    #[test]
    fn temp_file_is_deleted_on_drop_and_stale_ones_go() {
        let dir = TempDir::new("initramfs-temp");
        // A file left by a pid that does not exist (pid_max is at most 2^22).
        let stale = dir.path().join("initrd-4194305-0.cpio");
        fs::write(&stale, b"old").unwrap();
        let keep = dir.path().join("other.cpio");
        fs::write(&keep, b"not ours").unwrap();
        let a = TempInitrd::write(dir.path(), b"one").unwrap();
        let b = TempInitrd::write(dir.path(), b"two").unwrap();
        assert_ne!(a.path(), b.path());
        assert_eq!(fs::read(a.path()).unwrap(), b"one");
        assert!(!stale.exists());
        assert!(keep.exists());
        let (pa, pb) = (a.path().to_path_buf(), b.path().to_path_buf());
        drop(a);
        assert!(!pa.exists() && pb.exists());
        drop(b);
        assert!(!pb.exists());
    }
}
