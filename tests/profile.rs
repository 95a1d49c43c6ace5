//! `isola run --profile`, end to end: the prefork server under load from
//! the host, sampled by the TCG plugin (plugin/profile.c), stopped, and
//! what the host made of the samples: a flame graph that is SVG, folded
//! stacks whose hottest functions are the kernel's, named, and whose
//! stacks run from the server's own functions through the kernel's system
//! call entry (docs/profile.md).

mod common;
mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{TempDir, WATCHDOG, isola, root};
use support::{Background, free_port, http_get, userland, wait_answer};

/// Samples per function, by the folded stacks' leaves (self) and by any
/// frame (total, once per stack).
fn per_function(folded: &str) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
    let (mut by_self, mut total) = (BTreeMap::new(), BTreeMap::new());
    for line in folded.lines() {
        let (stack, count) = line.rsplit_once(' ').unwrap_or_else(|| panic!("bad folded line '{line}'"));
        let count: u64 = count.parse().unwrap_or_else(|_| panic!("bad count in '{line}'"));
        let frames: Vec<&str> = stack.split(';').collect();
        *by_self.entry(frames.last().unwrap().to_string()).or_insert(0) += count;
        let mut seen = frames.clone();
        seen.sort_unstable();
        seen.dedup();
        for frame in seen {
            *total.entry(frame.to_string()).or_insert(0) += count;
        }
    }
    (by_self, total)
}

/// A frame with a real name (not `[user]`/`[kernel]`, not an address).
fn named(frame: &str) -> bool {
    let name = frame.strip_suffix("_[k]").unwrap_or(frame);
    !name.is_empty() && !name.starts_with('[') && !name.starts_with("0x") && !name.bytes().all(|b| b.is_ascii_hexdigit())
}

#[test]
fn the_prefork_server_under_load_profiles_to_named_kernel_functions() {
    let prefork = userland(&root(), "prefork-httpd");
    let dir = TempDir::new("profile");
    let svg = dir.path().join("web.svg");
    let port = free_port();
    let publish = format!("{port}:80");
    let profile = format!("--profile={}", svg.display());
    let mut run = Background::start(&[
        "run",
        "--accel",
        "tcg",
        "--timeout",
        "600",
        &profile,
        "-p",
        &publish,
        prefork.to_str().unwrap(),
        "-p",
        "80",
        "-w",
        "4",
    ]);
    assert!(
        run.wait_for("prefork-httpd: listening on", WATCHDOG),
        "no 'prefork-httpd: listening on' line\n{}",
        run.show()
    );
    wait_answer(&mut run, port, "/", Duration::from_secs(60));
    let url = format!("http://127.0.0.1:{port}/");
    let load = isola(&["load", &url, "--requests", "500", "--concurrency", "10", "--timeout", "30"]);
    assert_eq!(load.code, 0, "the load failed\n{}\nthe server:\n{}", load.show(), run.show());
    let _ = http_get(port, "/quit", Duration::from_secs(30));
    let status = run.wait(Duration::from_secs(120));
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{}", run.show());

    // The summary on stderr.
    let stderr = run.stderr();
    let samples_line = stderr
        .lines()
        .find(|l| l.starts_with("isola: profile: ") && l.contains(" samples, one every "))
        .unwrap_or_else(|| panic!("no profile summary\n{}", run.show()));
    let samples: u64 = samples_line["isola: profile: ".len()..].split(' ').next().unwrap().parse().unwrap();
    assert!(samples >= 500, "{samples_line}");
    assert!(stderr.contains("   self   total  function\n"), "{}", run.show());

    // The flame graph: SVG, with a box per function and hover titles.
    let picture = std::fs::read_to_string(&svg).unwrap_or_else(|e| panic!("{}: {e}\n{}", svg.display(), run.show()));
    let doc = roxmltree::Document::parse(&picture).unwrap_or_else(|e| panic!("{}: not XML: {e}", svg.display()));
    let top = doc.root_element();
    assert_eq!(top.tag_name().name(), "svg");
    assert_eq!(top.tag_name().namespace(), Some("http://www.w3.org/2000/svg"));
    let titles: Vec<&str> = doc.descendants().filter(|n| n.has_tag_name("title")).filter_map(|n| n.text()).collect();
    assert!(titles.len() > 20, "{} boxes", titles.len());
    assert!(titles.iter().any(|t| t.starts_with("isola_kernel::syscalls::dispatch [kernel] (")), "{titles:?}");

    // The folded stacks beside it.
    let folded_path = svg.with_extension("folded");
    let folded = std::fs::read_to_string(&folded_path).unwrap_or_else(|e| panic!("{}: {e}", folded_path.display()));
    let (by_self, total) = per_function(&folded);
    assert_eq!(by_self.values().sum::<u64>(), samples, "the folded stacks hold every sample");
    let mut hottest: Vec<(&String, &u64)> = by_self.iter().collect();
    hottest.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let top5: Vec<&str> = hottest.iter().take(5).map(|(f, _)| f.as_str()).collect();
    // The server spends its time in the kernel (the network stack, the
    // copies of a syscall): the hottest functions are named kernel ones.
    assert!(top5[0].ends_with("_[k]") && named(top5[0]), "hottest: {top5:?}");
    assert!(top5.iter().all(|f| named(f)), "unnamed among the hottest: {top5:?}");
    assert!(top5.iter().filter(|f| f.ends_with("_[k]")).count() >= 3, "hottest: {top5:?}");
    // Stacks run from the server's own functions (it keeps its symbols)
    // through the system call entry into the kernel's dispatch.
    assert!(total.contains_key("worker"), "no frame of prefork-httpd's worker()");
    assert!(
        folded.lines().any(|l| l.contains(";accept;")
            && l.contains(";isola_gate_syscall_common_[k];isola_kernel::syscalls::dispatch_[k];")),
        "no accept() through the syscall entry:\n{}",
        folded.lines().take(20).collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn profile_needs_tcg() {
    let out = isola(&["run", "--profile", "--accel", "kvm", "prog"]);
    assert_eq!(out.code, 2, "{}", out.show());
    assert_eq!(
        out.stderr.lines().next(),
        Some("isola: --profile needs TCG (QEMU runs its plugins under TCG only): drop --accel kvm"),
        "{}",
        out.show()
    );
}
