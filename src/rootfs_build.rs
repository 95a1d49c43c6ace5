//! `isola rootfs --packages P1,P2 -o DIR`: a guest root file system built
//! from Debian packages and their dependency closure, with the host's apt
//! (resolve, download) and dpkg (unpack); no maintainer script runs, so the
//! few files they would make (/etc/passwd, /etc/group, and the installer's
//! /etc/hosts) are made here.
//!
//! Finished roots are cached by package set under
//! `~/.cache/isola/roots/<hash>/` (debs under `~/.cache/isola/debs/`), so a
//! second run with the same set does no apt work and needs no network.
//! See docs/cli.md (`isola rootfs`).

use std::collections::{BTreeSet, VecDeque};
use std::fs;
use std::io;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command as Proc, Stdio};

use crate::cli::Command;
use crate::error::Error;

/// Packages every root gets: the C library and its loader, the base
/// directory layout, and the user and group databases (www-data etc.).
pub const ESSENTIAL: &[&str] = &["libc6", "base-files", "base-passwd"];

/// The file in an output directory that says isola made it (and from which
/// packages), so that a later run may replace it without `--force`.
const MARKER: &str = ".isola-rootfs";

/// Bumped when what `build` makes of a package set changes.
const LAYOUT: &str = "layout 7";

/// `isola rootfs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootfsOpts {
    /// `--packages`, as given (order kept, duplicates removed).
    pub packages: Vec<String>,
    /// `-o DIR`.
    pub out: String,
    /// `--force`: write into a non-empty directory isola did not make.
    pub force: bool,
    /// `--usr-merge`: /bin, /sbin, /lib, /lib64 become links into /usr.
    pub usr_merge: bool,
}

/// Parse the arguments after `rootfs`.
pub fn parse(args: &[String]) -> Result<Command, Error> {
    let mut packages: Vec<String> = Vec::new();
    let mut out = None;
    let mut force = false;
    let mut usr_merge = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v)),
            _ => (arg.as_str(), None),
        };
        let mut value = || {
            inline
                .map(str::to_string)
                .or_else(|| it.next().cloned())
                .ok_or_else(|| Error::usage(format!("option '{name}' needs a value")))
        };
        match name {
            "--packages" => {
                for p in value()?.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    if !valid_name(p) {
                        return Err(Error::usage(format!("'{p}' is not a Debian package name")));
                    }
                    if !packages.iter().any(|q| q == p) {
                        packages.push(p.to_string());
                    }
                }
            }
            "-o" | "--output" => out = Some(value()?),
            "--force" => force = true,
            "--usr-merge" => usr_merge = true,
            "--help" | "-h" => return Ok(Command::Help),
            _ if name.starts_with('-') => {
                return Err(Error::usage(format!("unknown option '{name}'")));
            }
            _ => return Err(Error::usage(format!("unexpected argument '{arg}'"))),
        }
    }
    if packages.is_empty() {
        return Err(Error::usage("rootfs needs --packages P1,P2,..."));
    }
    let out = out.ok_or_else(|| Error::usage("rootfs needs -o DIR"))?;
    Ok(Command::Rootfs(RootfsOpts {
        packages,
        out,
        force,
        usr_merge,
    }))
}

/// Debian policy 5.6.1: lower case letters, digits, `+ - .`, at least two
/// characters, starting with a letter or digit. Checked before a name goes
/// on an apt command line (so it can never be read as an option).
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"+-.".contains(c))
}

/// The cache key of a package set: FNV-1a 64 of the sorted names (stable
/// across Rust versions, unlike `DefaultHasher`).
pub fn set_key(packages: &BTreeSet<String>, usr_merge: bool) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    // The layout version and options are part of the key, so a root made
    // by an older isola or with other options is never taken.
    let layout = [LAYOUT.to_string()]
        .into_iter()
        .chain(usr_merge.then(|| "--usr-merge".to_string()));
    for p in packages.iter().cloned().chain(layout) {
        for &b in p.as_bytes().iter().chain(b"\n") {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// `~/.cache/isola` (or `$ISOLA_CACHE`, or `$XDG_CACHE_HOME/isola`).
fn cache_dir() -> Result<PathBuf, Error> {
    if let Some(d) = std::env::var_os("ISOLA_CACHE").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d).join("isola"));
    }
    std::env::var_os("HOME")
        .filter(|d| !d.is_empty())
        .map(|h| PathBuf::from(h).join(".cache/isola"))
        .ok_or_else(|| Error::failure("neither ISOLA_CACHE nor HOME is set"))
}

fn step(msg: &str) {
    eprintln!("rootfs: {msg}");
}

fn io_err(what: &str, path: &Path, e: io::Error) -> Error {
    Error::failure(format!("{what} {}: {e}", path.display()))
}

/// `isola rootfs`: build (or take from the cache) the root, then copy it
/// to `-o DIR`.
pub fn command(opts: &RootfsOpts) -> Result<i32, Error> {
    let out = Path::new(&opts.out);
    check_output(out, opts.force)?;
    let mut set: BTreeSet<String> = opts.packages.iter().cloned().collect();
    set.extend(ESSENTIAL.iter().map(|s| s.to_string()));
    let cache = cache_dir()?;
    let root = cache.join("roots").join(set_key(&set, opts.usr_merge));
    if root.join(MARKER).is_file() {
        step(&format!("cached root {}", root.display()));
    } else {
        build(&set, opts.usr_merge, &cache, &root)?;
    }
    step(&format!("copying to {}", out.display()));
    if out.join(MARKER).is_file() {
        // Ours from an earlier run: replace it whole, so nothing stale stays.
        fs::remove_dir_all(out).map_err(|e| io_err("cannot remove", out, e))?;
    }
    copy_tree(&root, out)?;
    step(&format!("done: {}", out.display()));
    Ok(0)
}

/// `-o DIR` must be missing, empty, made by isola, or `--force`d.
fn check_output(out: &Path, force: bool) -> Result<(), Error> {
    match fs::read_dir(out) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::input(format!("-o {}: {e}", out.display()))),
        Ok(mut entries) => {
            if entries.next().is_none() || force || out.join(MARKER).is_file() {
                Ok(())
            } else {
                Err(Error::input(format!(
                    "-o {}: directory not empty and not made by isola rootfs (use --force)",
                    out.display()
                )))
            }
        }
    }
}

/// Resolve, download and unpack into `root` (via a temporary sibling that
/// is renamed into place, so a half-built root is never taken as cached).
fn build(set: &BTreeSet<String>, merge: bool, cache: &Path, root: &Path) -> Result<(), Error> {
    step(&format!(
        "resolving {}",
        set.iter().cloned().collect::<Vec<_>>().join(",")
    ));
    let closure = resolve(set)?;
    step(&format!("{} packages", closure.len()));
    let debs_dir = cache.join("debs");
    fs::create_dir_all(&debs_dir).map_err(|e| io_err("cannot create", &debs_dir, e))?;
    let missing: Vec<String> = closure
        .iter()
        .filter(|p| cached_deb(p, &debs_dir).is_ok_and(|d| d.is_none()))
        .cloned()
        .collect();
    if missing.len() < closure.len() {
        step(&format!(
            "{} of {} .debs cached in {}",
            closure.len() - missing.len(),
            closure.len(),
            debs_dir.display()
        ));
    }
    if !missing.is_empty() && download(&missing, &debs_dir).is_err() {
        step("download failed: apt-get update, then again");
        run_ok(
            Proc::new("apt-get").args(["update", "-q"]),
            "apt-get update",
        )?;
        download(&missing, &debs_dir)?;
    }
    let mut debs = Vec::new();
    for pkg in &closure {
        debs.push(
            cached_deb(pkg, &debs_dir)?
                .ok_or_else(|| Error::failure(format!("apt-get download {pkg} left no .deb")))?,
        );
    }
    let parent = root.parent().expect("roots/<key> has a parent");
    fs::create_dir_all(parent).map_err(|e| io_err("cannot create", parent, e))?;
    let tmp = parent.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        root.file_name().and_then(|n| n.to_str()).unwrap_or("root")
    ));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).map_err(|e| io_err("cannot create", &tmp, e))?;
    for (k, deb) in debs.iter().enumerate() {
        step(&format!(
            "unpacking {}/{} {}",
            k + 1,
            debs.len(),
            closure[k]
        ));
        run_ok(
            Proc::new("dpkg").arg("-x").arg(deb).arg(&tmp),
            &format!("dpkg -x {}", deb.display()),
        )?;
    }
    step(if merge {
        "finishing /etc, /tmp, /var, /run; usr-merge"
    } else {
        "finishing /etc, /tmp, /var, /run"
    });
    finish(&tmp, merge)?;
    let list: String = closure.iter().map(|p| format!("{p}\n")).collect();
    fs::write(tmp.join(MARKER), list).map_err(|e| io_err("cannot write", &tmp, e))?;
    let _ = fs::remove_dir_all(root);
    fs::rename(&tmp, root).map_err(|e| io_err("cannot rename to", root, e))?;
    Ok(())
}

/// Run a process to completion; its failure is isola's failure.
fn run_ok(cmd: &mut Proc, what: &str) -> Result<(), Error> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::failure(format!("{what}: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("");
        Err(Error::failure(format!("{what} failed: {last}")))
    }
}

/// `apt-cache depends` of `names`, one call, Depends and Pre-Depends only.
fn apt_depends(names: &[String]) -> Result<String, Error> {
    let out = Proc::new("apt-cache")
        .args([
            "depends",
            "--no-recommends",
            "--no-suggests",
            "--no-conflicts",
            "--no-breaks",
            "--no-replaces",
            "--no-enhances",
            "--",
        ])
        .args(names)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|e| Error::failure(format!("apt-cache: {e}")))?;
    if !out.status.success() {
        return Err(Error::failure("apt-cache depends failed"));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// One package's block of `apt-cache depends` output.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Block {
    /// The name in the header line (`<name>`: a virtual package).
    pub name: String,
    pub is_virtual: bool,
    /// For each Depends/PreDepends line group: the alternatives, each with
    /// the providers apt lists under it.
    pub groups: Vec<Vec<(String, bool, Vec<String>)>>,
}

/// Parse `apt-cache depends` output into blocks.
pub fn parse_depends(text: &str) -> Vec<Block> {
    let mut blocks: Vec<Block> = Vec::new();
    // Whether the last dependency line began with `|` (another alternative follows).
    let mut open = false;
    for line in text.lines() {
        if !line.starts_with(' ') {
            let (name, is_virtual) = strip_virtual(line.trim());
            blocks.push(Block {
                name,
                is_virtual,
                groups: Vec::new(),
            });
            open = false;
            continue;
        }
        let Some(block) = blocks.last_mut() else {
            continue;
        };
        let t = line.trim_start();
        let indent = line.len() - t.len();
        if indent >= 4 {
            // A provider of the alternative just above.
            if let Some(alt) = block.groups.last_mut().and_then(|g| g.last_mut()) {
                alt.2.push(strip_virtual(t.trim()).0);
            }
            continue;
        }
        let alt_follows = t.starts_with('|');
        let t = t.trim_start_matches('|');
        let Some((kind, target)) = t.split_once(": ") else {
            continue;
        };
        if kind != "Depends" && kind != "PreDepends" {
            open = false;
            continue;
        }
        let (name, is_virtual) = strip_virtual(target.trim());
        let alt = (name, is_virtual, Vec::new());
        if open && let Some(g) = block.groups.last_mut() {
            g.push(alt);
        } else {
            block.groups.push(vec![alt]);
        }
        open = alt_follows;
    }
    blocks
}

/// `<name>` -> (name, true); `name:any` -> (name, false).
fn strip_virtual(s: &str) -> (String, bool) {
    let (s, v) = match s.strip_prefix('<').and_then(|s| s.strip_suffix('>')) {
        Some(inner) => (inner, true),
        None => (s, false),
    };
    let s = s.split(':').next().unwrap_or(s);
    (s.to_string(), v)
}

/// Which package satisfies a group: one already chosen if any alternative
/// (or a provider of one) is; else the first real alternative; else the
/// first provider of the first virtual one that has providers.
pub fn choose(group: &[(String, bool, Vec<String>)], chosen: &BTreeSet<String>) -> Option<String> {
    for (name, _, providers) in group {
        if chosen.contains(name) {
            return Some(name.clone());
        }
        if let Some(p) = providers.iter().find(|p| chosen.contains(*p)) {
            return Some(p.clone());
        }
    }
    if let Some((name, _, _)) = group.iter().find(|(_, v, _)| !v) {
        return Some(name.clone());
    }
    group
        .iter()
        .find_map(|(_, _, providers)| providers.first().cloned())
}

/// The dependency closure of `set`, in a stable order (dependencies need
/// not come first: nothing is configured). An unknown or purely virtual
/// requested name is an input error.
fn resolve(set: &BTreeSet<String>) -> Result<Vec<String>, Error> {
    let mut chosen: BTreeSet<String> = BTreeSet::new();
    let mut order: Vec<String> = Vec::new();
    let mut queue: VecDeque<String> = set.iter().cloned().collect();
    let mut first = true;
    while !queue.is_empty() {
        let batch: Vec<String> = queue.drain(..).filter(|p| !chosen.contains(p)).collect();
        let batch: Vec<String> = batch
            .into_iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if batch.is_empty() {
            break;
        }
        let blocks = parse_depends(&apt_depends(&batch)?);
        if first {
            for name in &batch {
                match blocks.iter().find(|b| &b.name == name) {
                    None => {
                        return Err(Error::input(format!("unknown package '{name}'")));
                    }
                    Some(b) if b.is_virtual => {
                        return Err(Error::input(format!(
                            "'{name}' is a virtual package: name a package that provides it"
                        )));
                    }
                    Some(_) => {}
                }
            }
            first = false;
        }
        for b in blocks.iter().filter(|b| !b.is_virtual) {
            if chosen.insert(b.name.clone()) {
                order.push(b.name.clone());
            }
        }
        for b in blocks.iter().filter(|b| !b.is_virtual) {
            for g in &b.groups {
                let picked = match choose(g, &chosen) {
                    // Only virtual alternatives, none provided yet: the
                    // provider Debian ranks highest (mawk for awk).
                    Some(p) if g.iter().all(|a| a.1) && !chosen.contains(&p) => {
                        let providers: Vec<String> =
                            g.iter().flat_map(|a| a.2.iter().cloned()).collect();
                        Some(best_priority(&providers)?.unwrap_or(p))
                    }
                    other => other,
                };
                if let Some(p) = picked
                    && !chosen.contains(&p)
                    && !queue.contains(&p)
                {
                    queue.push_back(p);
                }
            }
        }
    }
    order.sort();
    Ok(order)
}

/// Debian's `Priority:` ranks, best first.
const PRIORITIES: &[&str] = &["required", "important", "standard", "optional", "extra"];

/// Of `names`, the one with the best `Priority:` (the first listed among
/// equals); `None` when apt knows none of them.
fn best_priority(names: &[String]) -> Result<Option<String>, Error> {
    if names.is_empty() {
        return Ok(None);
    }
    let out = Proc::new("apt-cache")
        .args(["show", "--no-all-versions", "--"])
        .args(names)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|e| Error::failure(format!("apt-cache: {e}")))?;
    Ok(pick_priority(names, &String::from_utf8_lossy(&out.stdout)))
}

/// The ranking of [`best_priority`] over `apt-cache show` text.
pub fn pick_priority(names: &[String], show: &str) -> Option<String> {
    let mut rank: Vec<(usize, usize, String)> = Vec::new();
    let mut pkg: Option<String> = None;
    for line in show.lines() {
        if let Some(p) = line.strip_prefix("Package: ") {
            pkg = Some(p.trim().to_string());
        } else if let (Some(pr), Some(p)) = (line.strip_prefix("Priority: "), pkg.as_ref())
            && let Some(order) = names.iter().position(|n| n == p)
        {
            let r = PRIORITIES
                .iter()
                .position(|x| *x == pr.trim())
                .unwrap_or(PRIORITIES.len());
            rank.push((r, order, p.clone()));
        }
    }
    rank.into_iter().min().map(|(_, _, p)| p)
}

/// `apt-get download` of `pkgs` into `dir`, in one call (apt loads its
/// cache once); a progress line per `Get:` line apt prints.
fn download(pkgs: &[String], dir: &Path) -> Result<(), Error> {
    use std::io::BufRead;
    let mut child = Proc::new("apt-get")
        .args(["download", "--"])
        .args(pkgs)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::failure(format!("apt-get: {e}")))?;
    let stdout = child.stdout.take().expect("piped");
    let mut k = 0;
    for line in io::BufReader::new(stdout).lines().map_while(Result::ok) {
        if line.starts_with("Get:") {
            k += 1;
            // "Get:N URL SUITE/COMP ARCH PKG ARCH VERSION [SIZE]"
            let name = line.split_whitespace().nth(4).unwrap_or("");
            step(&format!("downloading {k}/{} {name}", pkgs.len()));
        }
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::failure(format!("apt-get: {e}")))?;
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.lines().rfind(|l| l.starts_with("E:")).unwrap_or("");
    Err(Error::failure(format!("apt-get download failed: {last}")))
}

/// The newest `PKG_*.deb` in `dir` (names have no `_`, so the prefix is exact).
fn cached_deb(pkg: &str, dir: &Path) -> Result<Option<PathBuf>, Error> {
    let prefix = format!("{pkg}_");
    let mut best: Option<(std::time::SystemTime, PathBuf)> = None;
    for e in fs::read_dir(dir).map_err(|e| io_err("cannot read", dir, e))? {
        let e = e.map_err(|e| io_err("cannot read", dir, e))?;
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(&prefix) && name.ends_with(".deb") {
            let t = e.metadata().and_then(|m| m.modified()).ok();
            let t = t.unwrap_or(std::time::UNIX_EPOCH);
            if best.as_ref().is_none_or(|(bt, _)| t > *bt) {
                best = Some((t, e.path()));
            }
        }
    }
    Ok(best.map(|(_, p)| p))
}

/// The installer's /etc/hosts for a machine without a network name.
const HOSTS: &str = "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\nff02::1\t\tip6-allnodes\nff02::2\t\tip6-allrouters\n";

/// What maintainer scripts and the installer would have made: the user
/// and group files, the writable dirs; with `merge`, usr-merged /bin /sbin
/// /lib /lib64. Without it the layout stays as unpacked, which bookworm's
/// packages are consistent with (libc6's /lib64/ld-linux-x86-64.so.2 links
/// to /lib/x86_64-linux-gnu/, which libc6 ships).
fn finish(root: &Path, merge: bool) -> Result<(), Error> {
    if merge {
        for d in ["bin", "sbin", "lib", "lib64"] {
            usr_merge(root, d)?;
        }
    }
    let etc = root.join("etc");
    fs::create_dir_all(&etc).map_err(|e| io_err("cannot create", &etc, e))?;
    // base-passwd's postinst copies these masters when the files are missing.
    for (master, file) in [("passwd.master", "passwd"), ("group.master", "group")] {
        let from = root.join("usr/share/base-passwd").join(master);
        let to = etc.join(file);
        if !to.exists() {
            fs::copy(&from, &to).map_err(|e| io_err("cannot copy", &from, e))?;
            fs::set_permissions(&to, fs::Permissions::from_mode(0o644))
                .map_err(|e| io_err("cannot chmod", &to, e))?;
        }
    }
    // The installer writes /etc/hosts (no package ships it): without it
    // "localhost" does not resolve (Python's socket tests bind to it).
    let hosts = etc.join("hosts");
    if !hosts.exists() {
        fs::write(&hosts, HOSTS).map_err(|e| io_err("cannot write", &hosts, e))?;
    }
    for (d, mode) in [
        ("tmp", 0o1777),
        ("var/log", 0o755),
        ("var/www/html", 0o755),
        ("run", 0o755),
        ("var/tmp", 0o1777),
    ] {
        let p = root.join(d);
        fs::create_dir_all(&p).map_err(|e| io_err("cannot create", &p, e))?;
        fs::set_permissions(&p, fs::Permissions::from_mode(mode))
            .map_err(|e| io_err("cannot chmod", &p, e))?;
    }
    tmpfiles(root)?;
    maintainer_effects(root)?;
    ld_so_cache(root)
}

/// What the `configure` step of the server packages' maintainer scripts
/// leaves behind, which `dpkg -x` does not run (they need dpkg, debconf
/// and a shell inside the root). Each is recognised by the files it works
/// on, so a root without the package is left alone:
/// - nginx-common's postinst: `sites-enabled/default` links to
///   `sites-available/default`, the default page is copied to
///   `/var/www/html/index.nginx-debian.html`, and the log files exist,
///   owned by www-data:adm, mode 0640, in a root:adm `/var/log/nginx`.
/// - apache2's postinst ([`apache2_postinst`]): the default MPM, modules,
///   conf files and site enabled, and the default page.
fn maintainer_effects(root: &Path) -> Result<(), Error> {
    apache2_postinst(root)?;
    let available = root.join("etc/nginx/sites-available/default");
    let enabled = root.join("etc/nginx/sites-enabled/default");
    if available.exists() && root.join("etc/nginx/sites-enabled").is_dir() && fs::symlink_metadata(&enabled).is_err() {
        std::os::unix::fs::symlink("/etc/nginx/sites-available/default", &enabled).map_err(|e| io_err("cannot link", &enabled, e))?;
        step("nginx-common: sites-enabled/default");
    }
    let page = root.join("usr/share/nginx/html/index.html");
    let index = root.join("var/www/html/index.nginx-debian.html");
    if page.exists() && !index.exists() {
        fs::copy(&page, &index).map_err(|e| io_err("cannot copy", &page, e))?;
    }
    let logs = root.join("var/log/nginx");
    if logs.is_dir() && root.join("etc/nginx/nginx.conf").exists() {
        let adm = id_of(root, "group", "adm");
        let www = id_of(root, "passwd", "www-data");
        let _ = std::os::unix::fs::chown(&logs, Some(0), adm);
        fs::set_permissions(&logs, fs::Permissions::from_mode(0o755)).map_err(|e| io_err("cannot chmod", &logs, e))?;
        for name in ["access.log", "error.log"] {
            let log = logs.join(name);
            if !log.exists() {
                fs::write(&log, b"").map_err(|e| io_err("cannot write", &log, e))?;
                fs::set_permissions(&log, fs::Permissions::from_mode(0o640)).map_err(|e| io_err("cannot chmod", &log, e))?;
                if std::os::unix::fs::chown(&log, www, adm).is_err() {
                    step(&format!("cannot give /var/log/nginx/{name} its owner (not root?)"));
                }
            }
        }
    }
    Ok(())
}

/// The modules apache2's postinst enables on a fresh install
/// (`enable_default_mpm`, `enable_default_modules`, with the modules
/// a2enmod enables for their `Depends:`).
const APACHE2_MODULES: &[&str] = &[
    "mpm_event", "authz_core", "authz_host", "authn_core", "auth_basic", "access_compat", "authn_file", "authz_user", "alias",
    "dir", "autoindex", "env", "mime", "negotiation", "setenvif", "filter", "deflate", "status", "reqtimeout",
];
/// The conf files it enables (`enable_default_conf`).
const APACHE2_CONFS: &[&str] = &["charset", "localized-error-pages", "other-vhosts-access-log", "security", "serve-cgi-bin"];

/// apache2's postinst on a fresh install, as a2enmod, a2enconf and
/// a2ensite do it (relative links in `*-enabled` to `*-available`): the
/// default MPM (mpm_event), modules and conf files, the site
/// 000-default, and the default page copied to /var/www/html/index.html.
/// Only for a root whose `mods-enabled` is still empty, as unpacked.
fn apache2_postinst(root: &Path) -> Result<(), Error> {
    let etc = root.join("etc/apache2");
    let mods = etc.join("mods-enabled");
    let fresh = fs::read_dir(&mods).map(|mut d| d.next().is_none()).unwrap_or(false);
    if !etc.join("apache2.conf").exists() || !fresh {
        return Ok(());
    }
    let link = |kind: &str, file: &str| -> Result<(), Error> {
        let available = etc.join(format!("{kind}-available")).join(file);
        let enabled = etc.join(format!("{kind}-enabled")).join(file);
        if !available.exists() || fs::symlink_metadata(&enabled).is_ok() {
            return Ok(());
        }
        fs::create_dir_all(etc.join(format!("{kind}-enabled"))).map_err(|e| io_err("cannot create", &enabled, e))?;
        std::os::unix::fs::symlink(format!("../{kind}-available/{file}"), &enabled).map_err(|e| io_err("cannot link", &enabled, e))
    };
    for module in APACHE2_MODULES {
        link("mods", &format!("{module}.load"))?;
        link("mods", &format!("{module}.conf"))?;
    }
    for conf in APACHE2_CONFS {
        link("conf", &format!("{conf}.conf"))?;
    }
    link("sites", "000-default.conf")?;
    let page = root.join("usr/share/apache2/default-site/index.html");
    let index = root.join("var/www/html/index.html");
    if page.exists() && !index.exists() {
        fs::copy(&page, &index).map_err(|e| io_err("cannot copy", &page, e))?;
    }
    step("apache2: mpm_event, the default modules, conf files and site 000-default enabled");
    Ok(())
}

/// One `d`/`D` line of a tmpfiles.d file: a directory to create with its
/// mode and owner names (`None`: tmpfiles.d's `-`, the default).
#[derive(Debug, PartialEq, Eq)]
pub struct TmpfilesDir {
    pub path: String,
    pub mode: Option<u32>,
    pub user: Option<String>,
    pub group: Option<String>,
}

/// The directory a tmpfiles.d line creates, if it is a plain `d` or `D`
/// line with an absolute path and no specifiers (`%m`...), which a root
/// made on another machine cannot expand.
pub fn parse_tmpfiles_line(line: &str) -> Option<TmpfilesDir> {
    let mut fields = line.split_whitespace();
    let kind = fields.next()?;
    if kind != "d" && kind != "D" {
        return None;
    }
    let path = fields.next()?;
    if !path.starts_with('/') || path.contains('%') || path.contains("..") {
        return None;
    }
    let field = |f: Option<&str>| f.filter(|v| *v != "-").map(str::to_string);
    let mode = field(fields.next()).and_then(|m| u32::from_str_radix(m.trim_start_matches('~'), 8).ok());
    let (user, group) = (field(fields.next()), field(fields.next()));
    Some(TmpfilesDir { path: path.to_string(), mode, user, group })
}

/// An id by name from the root's `/etc/passwd` or `/etc/group` (a number
/// stands for itself).
fn id_of(root: &Path, database: &str, name: &str) -> Option<u32> {
    if let Ok(id) = name.parse() {
        return Some(id);
    }
    let text = fs::read_to_string(root.join("etc").join(database)).ok()?;
    text.lines().find_map(|line| {
        let mut parts = line.split(':');
        (parts.next()? == name).then(|| parts.nth(1)?.parse().ok()).flatten()
    })
}

/// What `systemd-tmpfiles --create` does at a Debian boot for the packages'
/// directories (lighttpd's `/var/log/lighttpd` belongs to www-data): every
/// `d`/`D` line of `usr/lib/tmpfiles.d` and `etc/tmpfiles.d`, created with
/// its mode and owner. No boot runs here, and `--rootfs` keeps owners, so
/// the guest sees them as a Debian system does. Owners need root on the
/// host; without it the directories are still made, owned by the builder.
fn tmpfiles(root: &Path) -> Result<(), Error> {
    let mut confs: Vec<PathBuf> = ["usr/lib/tmpfiles.d", "etc/tmpfiles.d"]
        .iter()
        .filter_map(|d| fs::read_dir(root.join(d)).ok())
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    confs.sort();
    let mut made = 0;
    for conf in confs {
        let text = fs::read_to_string(&conf).unwrap_or_default();
        for dir in text.lines().filter_map(parse_tmpfiles_line) {
            let target = root.join(dir.path.trim_start_matches('/'));
            // A symlink on the way (the usr-merge's /var/run -> ../run)
            // must not lead outside the root: only real directories.
            if fs::symlink_metadata(&target).is_ok_and(|m| !m.is_dir()) {
                continue;
            }
            fs::create_dir_all(&target).map_err(|e| io_err("cannot create", &target, e))?;
            if let Some(mode) = dir.mode {
                fs::set_permissions(&target, fs::Permissions::from_mode(mode & 0o7777))
                    .map_err(|e| io_err("cannot chmod", &target, e))?;
            }
            let uid = dir.user.as_deref().and_then(|u| id_of(root, "passwd", u));
            let gid = dir.group.as_deref().and_then(|g| id_of(root, "group", g));
            if (uid.is_some() || gid.is_some()) && std::os::unix::fs::chown(&target, uid, gid).is_err() {
                step(&format!("cannot give {} its owner (not root?)", dir.path));
            }
            made += 1;
        }
    }
    step(&format!("tmpfiles.d: {made} directories"));
    Ok(())
}

/// libc-bin's trigger: `/etc/ld.so.cache`, the library index ld.so reads
/// before searching directories, made by the host's `ldconfig -r ROOT`
/// from the root's own `/etc/ld.so.conf` (Debian's, written if no package
/// brought it: `include /etc/ld.so.conf.d/*.conf`).
fn ld_so_cache(root: &Path) -> Result<(), Error> {
    let conf = root.join("etc/ld.so.conf");
    if !conf.exists() {
        fs::write(&conf, "include /etc/ld.so.conf.d/*.conf\n").map_err(|e| io_err("cannot write", &conf, e))?;
    }
    step("ldconfig (etc/ld.so.cache)");
    let ldconfig = ["/sbin/ldconfig", "/usr/sbin/ldconfig"].into_iter().find(|p| Path::new(p).exists()).unwrap_or("ldconfig");
    run_ok(Proc::new(ldconfig).arg("-X").arg("-r").arg(root), "ldconfig -r")
}

/// Make `/NAME` a symlink to `usr/NAME`, moving what packages unpacked
/// into `/NAME` over (bookworm packages are not all usr-merged; the usr
/// copy wins if both exist, as it would with the usrmerge package).
fn usr_merge(root: &Path, name: &str) -> Result<(), Error> {
    let top = root.join(name);
    let usr = root.join("usr").join(name);
    match fs::symlink_metadata(&top) {
        Ok(m) if m.file_type().is_symlink() => return Ok(()),
        Ok(m) if m.is_dir() => {
            make_dir(&usr)?;
            merge_into(&top, &usr)?;
            fs::remove_dir_all(&top).map_err(|e| io_err("cannot remove", &top, e))?;
        }
        Ok(_) => {
            return Err(Error::failure(format!(
                "{} is not a directory",
                top.display()
            )));
        }
        Err(_) => make_dir(&usr)?,
    }
    symlink(Path::new("usr").join(name), &top).map_err(|e| io_err("cannot link", &top, e))
}

/// A 0755 directory (whatever the umask), as dpkg would have made it.
fn make_dir(p: &Path) -> Result<(), Error> {
    if !p.is_dir() {
        fs::create_dir_all(p).map_err(|e| io_err("cannot create", p, e))?;
        fs::set_permissions(p, fs::Permissions::from_mode(0o755))
            .map_err(|e| io_err("cannot chmod", p, e))?;
    }
    Ok(())
}

fn merge_into(from: &Path, to: &Path) -> Result<(), Error> {
    for e in fs::read_dir(from).map_err(|e| io_err("cannot read", from, e))? {
        let e = e.map_err(|e| io_err("cannot read", from, e))?;
        let src = e.path();
        let dst = to.join(e.file_name());
        let src_dir = fs::symlink_metadata(&src).is_ok_and(|m| m.is_dir());
        match fs::symlink_metadata(&dst) {
            Err(_) => fs::rename(&src, &dst).map_err(|e| io_err("cannot move", &src, e))?,
            Ok(m) if m.is_dir() && src_dir => merge_into(&src, &dst)?,
            Ok(_) => {}
        }
    }
    Ok(())
}

/// Copy `from` to `to` (created): directories with their modes, files with
/// contents and modes, symlinks as symlinks. No external tool, so a cached
/// root is copied even with no apt or coreutils on PATH.
fn copy_tree(from: &Path, to: &Path) -> Result<(), Error> {
    fs::create_dir_all(to).map_err(|e| io_err("cannot create", to, e))?;
    for e in fs::read_dir(from).map_err(|e| io_err("cannot read", from, e))? {
        let e = e.map_err(|e| io_err("cannot read", from, e))?;
        let src = e.path();
        let dst = to.join(e.file_name());
        let m = fs::symlink_metadata(&src).map_err(|e| io_err("cannot stat", &src, e))?;
        let ft = m.file_type();
        if ft.is_symlink() {
            let target = fs::read_link(&src).map_err(|e| io_err("cannot read", &src, e))?;
            if fs::symlink_metadata(&dst).is_ok() {
                let _ = fs::remove_file(&dst);
            }
            symlink(&target, &dst).map_err(|e| io_err("cannot link", &dst, e))?;
        } else if ft.is_dir() {
            copy_tree(&src, &dst)?;
        } else if ft.is_file() {
            if fs::symlink_metadata(&dst).is_ok_and(|d| !d.is_dir()) {
                let _ = fs::remove_file(&dst);
            }
            fs::copy(&src, &dst).map_err(|e| io_err("cannot copy", &src, e))?;
        }
        // Devices, fifos and sockets are skipped (dpkg -x makes none).
        // Not for a symlink: chmod would follow it and give its target
        // the link's 0777.
        if ft.is_dir() || ft.is_file() {
            fs::set_permissions(&dst, m.permissions())
                .map_err(|e| io_err("cannot chmod", &dst, e))?;
        }
        // Owners as built (tmpfiles.d's www-data directories); the copy of
        // a builder that is not root keeps its own.
        use std::os::unix::fs::MetadataExt;
        if m.uid() != 0 || m.gid() != 0 {
            let _ = std::os::unix::fs::lchown(&dst, Some(m.uid()), Some(m.gid()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {

    #[test]
    fn tmpfiles_d_lines() {
        assert_eq!(
            parse_tmpfiles_line("d /var/log/lighttpd 0750 www-data www-data -"),
            Some(TmpfilesDir {
                path: "/var/log/lighttpd".into(),
                mode: Some(0o750),
                user: Some("www-data".into()),
                group: Some("www-data".into())
            })
        );
        assert_eq!(parse_tmpfiles_line("D /tmp 1777 root root -").and_then(|d| d.mode), Some(0o1777));
        assert_eq!(
            parse_tmpfiles_line("d /var/log 0755 - - -"),
            Some(TmpfilesDir { path: "/var/log".into(), mode: Some(0o755), user: None, group: None })
        );
        for other in [
            "L /var/run - - - - ../run",
            "z /var/log/journal 2755 root systemd-journal - -",
            "d /var/log/journal/%m 0755 root root -",
            "d relative 0755 root root",
            "d /x/../../etc 0755 root root",
            "# d /commented 0755 root root",
            "",
        ] {
            assert_eq!(parse_tmpfiles_line(other), None, "{other}");
        }
    }
    use super::*;

    #[test]
    fn apache2_postinst_enables_the_defaults_once() {
        let root = std::env::temp_dir().join(format!("isola-apache2-postinst-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let etc = root.join("etc/apache2");
        for (file, text) in [
            ("etc/apache2/apache2.conf", ""),
            ("etc/apache2/mods-available/mpm_event.load", ""),
            ("etc/apache2/mods-available/mpm_event.conf", ""),
            ("etc/apache2/mods-available/mpm_prefork.load", ""),
            ("etc/apache2/mods-available/dir.load", ""),
            ("etc/apache2/mods-available/dir.conf", ""),
            ("etc/apache2/conf-available/charset.conf", ""),
            ("etc/apache2/sites-available/000-default.conf", ""),
            ("etc/apache2/sites-available/default-ssl.conf", ""),
            ("usr/share/apache2/default-site/index.html", "It works"),
        ] {
            fs::create_dir_all(root.join(file).parent().unwrap()).unwrap();
            fs::write(root.join(file), text).unwrap();
        }
        for d in ["etc/apache2/mods-enabled", "etc/apache2/conf-enabled", "etc/apache2/sites-enabled", "var/www/html"] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        apache2_postinst(&root).unwrap();
        let enabled = |dir: &str| -> BTreeSet<String> {
            fs::read_dir(etc.join(dir)).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect()
        };
        let want = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<BTreeSet<String>>();
        assert_eq!(enabled("mods-enabled"), want(&["dir.conf", "dir.load", "mpm_event.conf", "mpm_event.load"]));
        assert_eq!(enabled("conf-enabled"), want(&["charset.conf"]));
        assert_eq!(enabled("sites-enabled"), want(&["000-default.conf"]));
        assert_eq!(fs::read_link(etc.join("mods-enabled/dir.load")).unwrap(), Path::new("../mods-available/dir.load"));
        assert_eq!(fs::read_to_string(root.join("var/www/html/index.html")).unwrap(), "It works");
        // A root whose modules were chosen already is left alone.
        fs::remove_file(etc.join("mods-enabled/dir.load")).unwrap();
        apache2_postinst(&root).unwrap();
        assert!(fs::symlink_metadata(etc.join("mods-enabled/dir.load")).is_err());
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn names() {
        assert!(valid_name("libc6"));
        assert!(valid_name("g++"));
        assert!(!valid_name("-o"));
        assert!(!valid_name("Foo"));
        assert!(!valid_name("a"));
        assert!(!valid_name("a_b"));
    }

    #[test]
    fn key_ignores_order_only() {
        let a: BTreeSet<String> = ["b", "a"].iter().map(|s| s.to_string()).collect();
        let b: BTreeSet<String> = ["a", "b"].iter().map(|s| s.to_string()).collect();
        let c: BTreeSet<String> = ["ab"].iter().map(|s| s.to_string()).collect();
        assert_eq!(set_key(&a, false), set_key(&b, false));
        assert_ne!(set_key(&a, false), set_key(&c, false));
        assert_ne!(set_key(&a, false), set_key(&a, true));
    }

    const LIGHTTPD: &str = "lighttpd
  PreDepends: init-system-helpers
  Depends: libc6
 |Depends: media-types
  Depends: mime-support
 |Depends: systemd-sysv
  Depends: lsb-base
    sysvinit-utils
  Recommends: spawn-fcgi
<awk>
";

    #[test]
    fn parses_groups_and_virtuals() {
        let b = parse_depends(LIGHTTPD);
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].name, "lighttpd");
        assert!(!b[0].is_virtual);
        assert!(b[1].is_virtual && b[1].name == "awk");
        let g = &b[0].groups;
        assert_eq!(g.len(), 4);
        assert_eq!(g[2].len(), 2);
        assert_eq!(g[2][0].0, "media-types");
        assert_eq!(g[3][1].0, "lsb-base");
        assert_eq!(g[3][1].2, vec!["sysvinit-utils".to_string()]);
        let none = BTreeSet::new();
        assert_eq!(choose(&g[2], &none).as_deref(), Some("media-types"));
        let have: BTreeSet<String> = ["sysvinit-utils".to_string()].into();
        assert_eq!(choose(&g[3], &have).as_deref(), Some("sysvinit-utils"));
        let virt = vec![("awk".to_string(), true, vec!["mawk".to_string()])];
        assert_eq!(choose(&virt, &none).as_deref(), Some("mawk"));
    }

    #[test]
    fn priority_ranks_providers() {
        let names: Vec<String> = ["gawk", "original-awk", "mawk"].map(String::from).to_vec();
        let show = "Package: gawk\nPriority: optional\n\nPackage: original-awk\n\
                    Priority: optional\n\nPackage: mawk\nPriority: required\n";
        assert_eq!(pick_priority(&names, show).as_deref(), Some("mawk"));
        let show =
            "Package: original-awk\nPriority: optional\n\nPackage: gawk\nPriority: optional\n";
        assert_eq!(pick_priority(&names, show).as_deref(), Some("gawk"));
        assert_eq!(pick_priority(&names, ""), None);
    }
}
