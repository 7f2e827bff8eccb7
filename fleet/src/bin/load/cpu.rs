//! CPU accounting of the benchmark, independent of what else runs on the machine: the receiver
//! runs on its own runtime (threads `fleet-recv`, plus the store's `sqlite-writer`), the load
//! generator on threads `load-gen` and the main thread. Each sample reads `/proc/self/stat`
//! (the whole process, threads that ended included) and `/proc/self/task/*/stat` (per thread);
//! with PostgreSQL also the postmaster and its backends. The receiver's share is the process
//! total less the generator's threads.

/// CPU time in clock ticks (utime + stime), by what it was spent on.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    process: u64,
    generator: u64,
    writer: u64,
    postgres: u64,
    load: String,
}

/// utime + stime and the command name of one `stat` file.
fn stat(path: &str) -> Option<(String, u64, u32)> {
    let text = std::fs::read_to_string(path).ok()?;
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let name = text[open + 1..close].to_string();
    let f: Vec<&str> = text[close + 2..].split(' ').collect();
    // After the name: state(0) ppid(1) ... utime(11) stime(12).
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some((name, ticks, f.get(1)?.parse().ok()?))
}

/// Reads the counters now; `postmaster` is PostgreSQL's server process, if any.
pub fn sample(postmaster: Option<u32>) -> Sample {
    let mut s = Sample {
        process: stat("/proc/self/stat").map_or(0, |t| t.1),
        load: std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split(' ')
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        ..Sample::default()
    };
    let me = std::process::id().to_string();
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for t in tasks.flatten() {
            let tid = t.file_name().to_string_lossy().to_string();
            let Some((name, ticks, _)) = stat(&format!("/proc/self/task/{tid}/stat")) else {
                continue;
            };
            if tid == me || name.starts_with("load-gen") {
                s.generator += ticks;
            } else if name == "sqlite-writer" {
                s.writer += ticks;
            }
        }
    }
    if let Some(pm) = postmaster {
        if let Ok(procs) = std::fs::read_dir("/proc") {
            for p in procs.flatten() {
                let pid = p.file_name().to_string_lossy().to_string();
                if let Some((_, ticks, ppid)) = stat(&format!("/proc/{pid}/stat")) {
                    if pid == pm.to_string() || ppid == pm {
                        s.postgres += ticks;
                    }
                }
            }
        }
    }
    s
}

/// What `after - before` cost per 1,000 heartbeats, as a report.
pub fn report(before: &Sample, after: &Sample, heartbeats: usize, wall: f64) -> String {
    let hz = 100.0; // USER_HZ, the unit of the times in /proc/*/stat on Linux
    let secs = |a: u64, b: u64| a.saturating_sub(b) as f64 / hz;
    let total = secs(after.process, before.process);
    let generator = secs(after.generator, before.generator);
    let receiver = total - generator;
    let writer = secs(after.writer, before.writer);
    let pg = secs(after.postgres, before.postgres);
    let per_k = |s: f64| s * 1000.0 / heartbeats.max(1) as f64;
    let server = receiver + pg;
    let mut out = format!(
        "| CPU per 1,000 heartbeats | receiver **{:.3} s**{}{} · load generator {:.3} s |\n",
        per_k(receiver),
        if writer > 0.0 {
            format!(" (of which SQLite writer thread {:.3} s)", per_k(writer))
        } else {
            String::new()
        },
        if after.postgres > 0 {
            format!(" · PostgreSQL {:.3} s", per_k(pg))
        } else {
            String::new()
        },
        per_k(generator),
    );
    out.push_str(&format!(
        "| derived heartbeats/s on 2 dedicated cores | receiver{} alone **{:.0}/s**{} · receiver and generator together {:.0}/s |\n",
        if after.postgres > 0 { " + PostgreSQL" } else { "" },
        2000.0 / per_k(server).max(1e-9),
        if writer > 0.0 { format!(" (its writer thread alone would allow {:.0}/s)", 1000.0 / per_k(writer).max(1e-9)) } else { String::new() },
        2000.0 / per_k(server + generator).max(1e-9),
    ));
    out.push_str(&format!(
        "| wall | {heartbeats} in {wall:.1} s, process CPU {total:.1} s ({:.2} cores), load average before {} · after {} |",
        total / wall.max(1e-9),
        before.load,
        after.load
    ));
    out
}
