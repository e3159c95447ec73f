//! CPU accounting and pinning: the worker's own CPU time (getrusage, all its threads, in
//! microseconds), memcached's (from `/proc/<pid>/stat`, in clock ticks), and which CPUs
//! a process may run on.

use std::process::Command;
use std::time::Duration;

/// CPU time this process has used so far, user plus system, all threads.
pub fn self_cpu() -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    assert_eq!(rc, 0, "getrusage");
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// CPU time process `pid` has used so far (utime + stime from `/proc/<pid>/stat`; a
/// clock tick, usually 10 ms, is the resolution). `None` if it cannot be read.
pub fn process_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name, which may itself hold spaces:
    // state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Some(Duration::from_secs_f64((utime + stime) as f64 / hz))
}

/// The CPUs process `pid` may run on, as the kernel lists them (`0`, `0-1`).
pub fn cpus_allowed(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_else(|| "?".into())
}

/// Why processes cannot be pinned here, or `None` if they can: pinning needs two cores
/// and `taskset` (util-linux).
pub fn cannot_pin(client_cpu: usize, server_cpu: usize) -> Option<String> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 {
        return Some(format!("only {cores} core available"));
    }
    if client_cpu == server_cpu {
        return Some("client and server CPU are the same".into());
    }
    if client_cpu.max(server_cpu) >= cores {
        return Some(format!(
            "CPU {} does not exist ({cores} cores)",
            client_cpu.max(server_cpu)
        ));
    }
    match Command::new("taskset").arg("-V").output() {
        Ok(o) if o.status.success() => None,
        _ => Some("taskset not found (apt-get install util-linux)".into()),
    }
}

/// Pins every thread of running process `pid` to `cpu` (new threads inherit it).
pub fn pin_process(pid: u32, cpu: usize) -> Result<(), String> {
    let out = Command::new("taskset")
        .args(["-a", "-p", "-c", &cpu.to_string(), &pid.to_string()])
        .output()
        .map_err(|e| format!("taskset: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(())
}
