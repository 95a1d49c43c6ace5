//! Memory per worker of a master/worker server in `isola bench http`
//! (`--server nginx`), taken once its workers are all up and before the
//! load:
//!
//! - **Isola**: the `isola ps` listing ([`parse_isola_ps`]): each process's
//!   USER KiB (frames mapped), PRIVATE KiB (of those, the ones no other
//!   process maps) and KERN KiB (its kernel stacks, FPU areas, page tables
//!   and records), and the free memory; the master is pid 1.
//! - **Linux guest**: a probe in its `/init` ([`linux_probe`]) that waits
//!   for the workers (children of the master), then prints MemFree and, for
//!   the master and each worker, Rss, Pss and Private_Clean + Private_Dirty
//!   of `/proc/PID/smaps_rollup` and VmPTE of `/proc/PID/status`
//!   ([`parse_linux_report`]). Linux's kernel memory per process shown is
//!   its page tables and its 16 KiB kernel stack (x86-64's THREAD_SIZE);
//!   its slab objects (task, mm, VMAs, files) are not counted, so the
//!   Linux figure is a lower bound.
//!
//! A worker's own cost is its private memory plus its kernel memory:
//! frames it shares with the master and the other workers (the program,
//! the libraries, the page cache) are paid once.

use super::{Env, cell, figure, ratio, render_table};

/// One process's memory, KiB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcMem {
    pub pid: u32,
    pub ppid: u32,
    /// Isola: USER (frames mapped); Linux: Rss.
    pub user_kib: u64,
    /// Linux only: Pss.
    pub pss_kib: Option<u64>,
    /// Isola: PRIVATE; Linux: Private_Clean + Private_Dirty.
    pub private_kib: u64,
    /// Isola: KERN; Linux: VmPTE + the kernel stack.
    pub kernel_kib: u64,
    /// Isola only: user and system CPU time, ms.
    pub cpu_ms: Option<(u64, u64)>,
}

/// The server's processes and the guest's free memory at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub master: u32,
    pub free_kib: Option<u64>,
    pub procs: Vec<ProcMem>,
}

impl Snapshot {
    pub fn workers(&self) -> impl Iterator<Item = &ProcMem> {
        self.procs.iter().filter(move |p| p.ppid == self.master && p.pid != self.master)
    }

    /// Mean over the workers of `f`.
    fn mean(&self, f: impl Fn(&ProcMem) -> u64) -> Option<f64> {
        let (n, sum) = self.workers().fold((0u64, 0u64), |(n, s), p| (n + 1, s + f(p)));
        (n > 0).then(|| sum as f64 / n as f64)
    }

    /// A worker's own cost, KiB: private + kernel, mean over the workers.
    pub fn per_worker_kib(&self) -> Option<f64> {
        self.mean(|p| p.private_kib + p.kernel_kib)
    }
}

/// The `isola ps` listing (the kernel's lines, `isola: ` prefixes kept or
/// not): the rows and the `memory: N KiB free` line. pid 1 is the master.
pub fn parse_isola_ps(lines: &[String]) -> Option<Snapshot> {
    let mut procs = Vec::new();
    let mut free_kib = None;
    for line in lines {
        let line = line.trim();
        let text = line.strip_prefix("isola: ").unwrap_or(line);
        if let Some(rest) = text.strip_prefix("memory: ") {
            free_kib = rest.split_whitespace().next().and_then(|n| n.parse().ok());
            continue;
        }
        let cols: Vec<&str> = text.split_whitespace().collect();
        let num = |i: usize| cols.get(i).and_then(|c| c.parse::<u64>().ok());
        // PID PPID KEY STATE USER SHARED PRIVATE KERN USER-ms SYS-ms COMMAND
        let (Some(pid), Some(ppid), Some(_key)) = (num(0), num(1), num(2)) else { continue };
        let (Some(user), Some(_shared), Some(private), Some(kern), Some(u_ms), Some(s_ms)) =
            (num(4), num(5), num(6), num(7), num(8), num(9))
        else {
            continue;
        };
        procs.push(ProcMem {
            pid: pid as u32,
            ppid: ppid as u32,
            user_kib: user,
            pss_kib: None,
            private_kib: private,
            kernel_kib: kern,
            cpu_ms: Some((u_ms, s_ms)),
        });
    }
    (!procs.is_empty()).then_some(Snapshot { master: 1, free_kib, procs })
}

/// The Linux probe's lines start with this.
pub const REPORT: &str = "isola-bench: memory ";
/// Its last line: the load may start.
pub const REPORT_DONE: &str = "isola-bench: memory done";
/// x86-64's THREAD_SIZE without KASAN: every Linux task's kernel stack.
const LINUX_KERNEL_STACK_KIB: u64 = 16;

/// The probe `/init` runs beside the server in the Linux guest
/// ([`super::linux_guest::RootRun::probe`]: `$bb` is busybox, `$server`
/// the master's pid): wait (up to 5 minutes) until `workers` children of
/// the master exist, let them settle 2 s, report, say [`REPORT_DONE`].
pub fn linux_probe(workers: u32) -> String {
    format!(
        r#"# isola bench http: the server's memory once its {workers} workers are up.
children() {{ n=0; for s in /proc/[0-9]*/status; do [ "$($bb awk '/^PPid:/ {{print $2}}' $s 2>/dev/null)" = "$server" ] && n=$((n + 1)); done; echo $n; }}
i=0; while [ "$(children)" -lt {workers} ] && [ $i -lt 600 ]; do $bb sleep 0.5; i=$((i + 1)); done
$bb sleep 2
echo "{REPORT}master $server"
$bb awk '/^MemFree:/ {{print "{REPORT}free " $2}}' /proc/meminfo
for d in /proc/[0-9]*; do
  p=${{d#/proc/}}; pp=$($bb awk '/^PPid:/ {{print $2}}' $d/status 2>/dev/null)
  if [ "$p" = "$server" ] || [ "$pp" = "$server" ]; then
    $bb awk -v p=$p -v pp=$pp '/^Rss:/ {{r = $2}} /^Pss:/ {{s = $2}} /^Private_(Clean|Dirty):/ {{v += $2}} /^VmPTE:/ {{t = $2}} END {{print "{REPORT}proc " p " " pp " " r " " s " " v " " t}}' $d/smaps_rollup $d/status
  fi
done
echo "{REPORT_DONE}""#
    )
}

/// The probe's report among the console lines: `master PID`, `free KB`,
/// `proc PID PPID RSS PSS PRIVATE PTE` (KiB).
pub fn parse_linux_report(lines: &[String]) -> Option<Snapshot> {
    let mut master = None;
    let mut free_kib = None;
    let mut procs = Vec::new();
    for line in lines {
        let Some(at) = line.find(REPORT) else { continue };
        let words: Vec<&str> = line[at + REPORT.len()..].split_whitespace().collect();
        let num = |i: usize| words.get(i).and_then(|w| w.parse::<u64>().ok());
        match words.first() {
            Some(&"master") => master = num(1).map(|n| n as u32),
            Some(&"free") => free_kib = num(1),
            Some(&"proc") => {
                if let (Some(pid), Some(ppid), Some(rss), Some(pss), Some(private), Some(pte)) =
                    (num(1), num(2), num(3), num(4), num(5), num(6))
                {
                    procs.push(ProcMem {
                        pid: pid as u32,
                        ppid: ppid as u32,
                        user_kib: rss,
                        pss_kib: Some(pss),
                        private_kib: private,
                        kernel_kib: pte + LINUX_KERNEL_STACK_KIB,
                        cpu_ms: None,
                    });
                }
            }
            _ => {}
        }
    }
    Some(Snapshot { master: master?, free_kib, procs }).filter(|s| !s.procs.is_empty())
}

/// The memory table: a row per environment that has a snapshot.
pub fn format_table(workers: u32, rows: &[(Env, &str, &Snapshot)]) -> String {
    let linux = rows.iter().find(|(env, _, _)| *env == Env::LinuxGuest).and_then(|(_, _, s)| s.per_worker_kib());
    let mut table: Vec<Vec<String>> = vec![
        [
            "environment",
            "workers",
            "free KiB",
            "user KiB",
            "PSS KiB",
            "private KiB",
            "kernel KiB",
            "private + kernel KiB",
            "vs Linux guest",
        ]
        .map(String::from)
        .to_vec(),
    ];
    let f = |v: Option<f64>| v.map_or("-".to_string(), figure);
    for (env, detail, snap) in rows {
        let own = snap.per_worker_kib();
        let pss = snap.workers().all(|p| p.pss_kib.is_some()).then(|| snap.mean(|p| p.pss_kib.unwrap_or(0))).flatten();
        table.push(vec![
            cell(&format!("{} ({detail})", env.short())),
            snap.workers().count().to_string(),
            snap.free_kib.map_or("-".into(), |k| k.to_string()),
            f(snap.mean(|p| p.user_kib)),
            f(pss),
            f(snap.mean(|p| p.private_kib)),
            f(snap.mean(|p| p.kernel_kib)),
            f(own),
            ratio(own, linux),
        ]);
    }
    let mut out = format!("memory per worker, {workers} workers up, before the load (mean over the workers)\n\n");
    out.push_str(&render_table(&table));
    out.push_str(
        "\nuser: Isola USER (frames mapped), Linux Rss; private: frames no other process maps \
         (Linux Private_Clean + Private_Dirty); kernel: Isola KERN (kernel stack, FPU area, page tables, \
         records), Linux VmPTE + its 16 KiB kernel stack (slab objects not counted).\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn isola_listing() {
        let ps = lines(&[
            "isola: processes (3 in all)",
            "    PID  PPID KEY STATE     USER KiB SHARED KiB PRIVATE KiB  KERN KiB   USER ms    SYS ms  COMMAND",
            "      1     0   1 sleeping      3000       2500         500        90        40       300  /usr/sbin/nginx -g daemon off;",
            "      2     1   2 sleeping      2900       2600         300        70      1200      9000  /usr/sbin/nginx -g daemon off;",
            "      3     1   3 ready         2950       2600         350        74      1100      8000  /usr/sbin/nginx -g daemon off;",
            "isola: memory: 400000 KiB free, 30000 KiB in the page cache's own frames",
        ]);
        let s = parse_isola_ps(&ps).unwrap();
        assert_eq!(s.free_kib, Some(400_000));
        assert_eq!(s.procs.len(), 3);
        assert_eq!(s.workers().map(|p| p.pid).collect::<Vec<_>>(), [2, 3]);
        assert_eq!(s.procs[1].cpu_ms, Some((1200, 9000)));
        assert_eq!(s.per_worker_kib(), Some((370.0 + 424.0) / 2.0));
        // `isola ps` prints the heading lines without the prefix.
        let bare: Vec<String> = ps.iter().map(|l| l.trim_start_matches("isola: ").to_string()).collect();
        assert_eq!(parse_isola_ps(&bare), Some(s));
        assert_eq!(parse_isola_ps(&lines(&["nothing here"])), None);
    }

    #[test]
    fn linux_report() {
        let out = lines(&[
            "[    3.1] random kernel line",
            "isola-bench: memory master 71",
            "isola-bench: memory free 380000",
            "isola-bench: memory proc 71 1 5000 1200 800 60",
            "isola-bench: memory proc 72 71 4000 900 600 48",
            "isola-bench: memory proc 73 71 4100 950 640 52",
            "isola-bench: memory proc 74 71 short",
            "isola-bench: memory done",
        ]);
        let s = parse_linux_report(&out).unwrap();
        assert_eq!((s.master, s.free_kib), (71, Some(380_000)));
        assert_eq!(s.workers().count(), 2);
        assert_eq!(s.procs[1].kernel_kib, 48 + 16);
        assert_eq!(s.per_worker_kib(), Some((664.0 + 708.0) / 2.0));
        assert_eq!(parse_linux_report(&out[..1]), None);
        let t = format_table(
            2,
            &[(Env::IsolaMpk, "i", &parse_isola_ps(&lines(&["2 1 2 sleeping 100 50 50 60 1 1 x", "3 1 3 sleeping 100 50 50 68 1 1 x"])).unwrap()), (Env::LinuxGuest, "l", &s)],
        );
        let rows: Vec<String> = t.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
        assert_eq!(rows[0], "memory per worker, 2 workers up, before the load (mean over the workers)");
        assert_eq!(rows[4], "| Isola mpk (i) | 2 | - | 100 | - | 50.0 | 64.0 | 114 | 0.17x |");
        assert_eq!(rows[5], "| Linux guest (l) | 2 | 380000 | 4050 | 925 | 620 | 66.0 | 686 | 1.00x |");
    }

    #[test]
    fn probe_waits_then_reports() {
        let p = linux_probe(64);
        assert!(p.contains("-lt 64 ]"), "{p}");
        assert!(p.contains("/proc/meminfo") && p.contains("smaps_rollup"), "{p}");
        assert!(p.trim_end().ends_with("echo \"isola-bench: memory done\""), "{p}");
        // Balanced braces: the format! escapes came out right.
        assert_eq!(p.matches('{').count(), p.matches('}').count(), "{p}");
    }
}
