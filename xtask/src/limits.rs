//! The machine's limits, checked before a sweep starts so that a C10K run (10,000
//! clients at once) fails in a second with what to change, not half an hour in with a
//! refused connect: open files, ephemeral ports, the listen backlog cap, and for the
//! servers that run a thread or process per client, the kernel's task and mapping limits.

use anyhow::bail;
use bench::limits::read_number;
use nix::sys::resource::{Resource, getrlimit};

use crate::architecture::Architecture;
use crate::model::Model;

/// The limits a sweep runs into, read from the kernel (`None` where unreadable).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Machine {
    /// The hard RLIMIT_NOFILE: bench and the servers raise their soft limit to it.
    pub open_files_hard: Option<u64>,
    /// `net.ipv4.ip_local_port_range`.
    pub ports: Option<(u32, u32)>,
    /// `net.ipv4.tcp_tw_reuse`: whether a port in TIME_WAIT may be used again at once.
    pub tw_reuse: Option<u64>,
    /// `net.core.somaxconn`: the cap on any listen backlog.
    pub somaxconn: Option<u64>,
    /// The soft RLIMIT_NPROC: tasks (threads and processes) this user may have.
    pub tasks_per_user: Option<u64>,
    /// `kernel.threads-max`.
    pub threads_max: Option<u64>,
    /// `kernel.pid_max`: every thread and process takes an id.
    pub pid_max: Option<u64>,
    /// The cgroup's `pids.max`, when the sweep runs in a container that sets one.
    pub cgroup_pids_max: Option<u64>,
    /// `vm.max_map_count`: a thread's stack and its guard page are two mappings.
    pub max_map_count: Option<u64>,
    /// `fs.nr_open`: the ceiling of any open-file limit.
    pub nr_open: Option<u64>,
}

impl Machine {
    /// Reads this machine's limits.
    pub fn read() -> Machine {
        let unlimited = |v: u64| (v != nix::sys::resource::RLIM_INFINITY).then_some(v);
        Machine {
            open_files_hard: getrlimit(Resource::RLIMIT_NOFILE)
                .ok()
                .and_then(|l| unlimited(l.1)),
            ports: bench::limits::ephemeral_ports(),
            tw_reuse: read_number("/proc/sys/net/ipv4/tcp_tw_reuse"),
            somaxconn: bench::limits::somaxconn(),
            tasks_per_user: getrlimit(Resource::RLIMIT_NPROC)
                .ok()
                .and_then(|l| unlimited(l.0)),
            threads_max: read_number("/proc/sys/kernel/threads-max"),
            pid_max: read_number("/proc/sys/kernel/pid_max"),
            cgroup_pids_max: read_number("/sys/fs/cgroup/pids.max"),
            max_map_count: read_number("/proc/sys/vm/max_map_count"),
            nr_open: read_number("/proc/sys/fs/nr_open"),
        }
    }
}

/// The most local ports one client address can use towards one server address: the
/// widest `ip_local_port_range`, 1024 to 65535 (the ports below are the privileged ones).
pub const MAX_PORTS: u64 = 65535 - 1024 + 1;

/// The kernel's ceiling on `kernel.pid_max` on 64-bit machines (`PID_MAX_LIMIT`, 2²²):
/// every thread and process needs an id.
pub const PID_MAX_LIMIT: u64 = 4_194_304;

/// The kernel's ceiling on `fs.nr_open` (`sysctl_nr_open_max` on 64-bit machines).
pub const NR_OPEN_MAX: u64 = 2_147_483_584;

/// Why `clients` at once cannot run on any Linux machine set up like this one, whatever
/// the settings: each would need a limit above the kernel's own ceiling.
fn impossible(clients: u64, per_task_servers: bool) -> Vec<String> {
    let mut why = Vec::new();
    if clients > MAX_PORTS {
        why.push(format!(
            "ports: bench connects every client from 127.0.0.1 to one server port, and \
             one address pair has at most {MAX_PORTS} local ports (1024–65535), below \
             {clients} clients"
        ));
    }
    if clients + bench::limits::SPARE_FDS > NR_OPEN_MAX {
        why.push(format!(
            "open files: {clients} descriptors in one process is above the kernel's \
             ceiling of {NR_OPEN_MAX} (fs.nr_open)"
        ));
    }
    if per_task_servers && clients + SPARE_TASKS > PID_MAX_LIMIT {
        why.push(format!(
            "tasks: a task per client needs {} ids, above the kernel's ceiling of \
             {PID_MAX_LIMIT} (kernel.pid_max cannot go higher)",
            clients + SPARE_TASKS
        ));
    }
    why
}

/// Tasks beyond the clients that the rest of the machine (the build, the shell, bench's
/// drivers, other users) may be running.
const SPARE_TASKS: u64 = 1024;

/// Mappings of a server process besides its threads' stacks (code, heap, libraries).
const SPARE_MAPPINGS: u64 = 1000;

/// Checks that `machine` can run `servers` at up to `clients` clients at once with the
/// listen `backlog`, and `points` bench runs against each server (each run takes a fresh
/// local port per client, and closed ones wait in TIME_WAIT for 60 s).
///
/// Returns warnings (the run works but will show stalls); fails, with every shortfall
/// and what to change, when the run cannot work.
///
/// # Errors
///
/// When open files, ephemeral ports or (for the servers with a thread or process per
/// client) task or mapping limits are below what the largest point needs.
pub fn check(
    machine: &Machine,
    clients: u64,
    points: u64,
    servers: &[Architecture],
    backlog: u64,
) -> anyhow::Result<Vec<String>> {
    let per_task = servers.iter().any(|s| s.model() == Model::PerClient);
    let ruled_out = impossible(clients, per_task);
    if !ruled_out.is_empty() {
        bail!(
            "{clients} clients at once is impossible on Linux as bench runs it, whatever \
             the settings:\n  - {}",
            ruled_out.join("\n  - ")
        );
    }
    let mut short = Vec::new();
    let mut warnings = Vec::new();
    let files = clients + bench::limits::SPARE_FDS;
    if let Some(hard) = machine.open_files_hard
        && hard < files
    {
        let ceiling = match machine.nr_open {
            Some(nr_open) if nr_open < files => format!(
                "first lift the kernel's ceiling on it, fs.nr_open ({nr_open}): \
                 `sysctl -w fs.nr_open={files}`; then "
            ),
            _ => String::new(),
        };
        short.push(format!(
            "open files: {clients} clients need {files} descriptors in bench and in the server, \
             but the hard limit (ulimit -Hn) is {hard}; {ceiling}raise it, e.g. \
             `ulimit -Hn {files}` as root or `* hard nofile {files}` in \
             /etc/security/limits.conf, then log in again"
        ));
    }
    if let Some((low, high)) = machine.ports {
        let count = u64::from(high - low) + 1;
        if count < clients {
            short.push(format!(
                "ephemeral ports: {clients} clients at once need {clients} local ports, but \
                 net.ipv4.ip_local_port_range ({low} {high}) holds {count}; widen it, e.g. \
                 `sysctl -w net.ipv4.ip_local_port_range=\"1024 65535\"`"
            ));
        } else if points * clients > count && machine.tw_reuse == Some(0) {
            warnings.push(format!(
                "ephemeral ports: {points} runs of up to {clients} clients against one server \
                 use more than the {count} local ports, and net.ipv4.tcp_tw_reuse is 0, so \
                 ports in TIME_WAIT (60 s) cannot be reused and connects may fail; set \
                 `sysctl -w net.ipv4.tcp_tw_reuse=1`"
            ));
        }
    }
    let queue = clients.min(backlog);
    if let Some(cap) = machine.somaxconn
        && cap < queue
    {
        warnings.push(format!(
            "somaxconn: {clients} clients connect at once but net.core.somaxconn caps the \
             listen backlog at {cap}, so a server that accepts slower than they arrive drops \
             SYNs and clients wait 1 s, 3 s… for retries (slow connects in the report); \
             raise it with `sysctl -w net.core.somaxconn={queue}`"
        ));
    }
    if backlog < clients {
        warnings.push(format!(
            "backlog: the servers are started with --backlog {backlog}, below {clients} \
             clients; pass --backlog {clients} to queue them all"
        ));
    }
    let per_client: Vec<&str> = servers
        .iter()
        .filter(|s| s.model() == Model::PerClient)
        .map(|s| s.name())
        .collect();
    if !per_client.is_empty() {
        let who = per_client.join(" and ");
        let tasks = clients + SPARE_TASKS;
        let task_limits = [
            (
                machine.tasks_per_user,
                "ulimit -u (RLIMIT_NPROC)",
                format!("`ulimit -u {tasks}`"),
            ),
            (
                machine.threads_max,
                "kernel.threads-max",
                format!("`sysctl -w kernel.threads-max={tasks}`"),
            ),
            (
                machine.pid_max,
                "kernel.pid_max",
                format!("`sysctl -w kernel.pid_max={tasks}`"),
            ),
            (
                machine.cgroup_pids_max,
                "the cgroup's pids.max",
                format!("write {tasks} to /sys/fs/cgroup/pids.max (a container's --pids-limit)"),
            ),
        ];
        for (limit, name, fix) in task_limits {
            if let Some(limit) = limit
                && limit < tasks
            {
                short.push(format!(
                    "tasks: {who} run a task per client, {clients} at once (plus {SPARE_TASKS} \
                     for the rest of the machine), but {name} is {limit}; raise it: {fix}"
                ));
            }
        }
        let maps = 2 * clients + SPARE_MAPPINGS;
        if servers.contains(&Architecture::Threaded)
            && let Some(limit) = machine.max_map_count
            && limit < maps
        {
            short.push(format!(
                "mappings: threaded's {clients} threads take a stack and a guard page each, \
                 about {maps} mappings with the rest, but vm.max_map_count is {limit}; raise it: \
                 `sysctl -w vm.max_map_count={maps}`"
            ));
        }
    }
    if !short.is_empty() {
        bail!(
            "this machine's limits are too low for {clients} clients at once:\n  - {}",
            short.join("\n  - ")
        );
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This machine's limits as the C10K run needs them: 20,000 open files, the default
    /// port range, somaxconn 4096, plenty of tasks.
    fn roomy() -> Machine {
        Machine {
            open_files_hard: Some(20_000),
            ports: Some((32768, 60999)),
            tw_reuse: Some(2),
            somaxconn: Some(4096),
            tasks_per_user: Some(96_365),
            threads_max: Some(192_730),
            pid_max: Some(32_768),
            cgroup_pids_max: None,
            max_map_count: Some(65_530),
            nr_open: Some(1_048_576),
        }
    }

    const C10K: [Architecture; 1] = [Architecture::Threaded];

    /// C10K runs on such a machine, with a warning that somaxconn is below the burst and
    /// no error; the tutorial's 100 clients get no warning at all.
    #[test]
    fn c10k_fits_with_a_somaxconn_warning() {
        let warnings = check(&roomy(), 10_000, 10, &C10K, 10_000).unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("net.core.somaxconn=10000"),
            "{warnings:?}"
        );
        assert!(check(&roomy(), 100, 10, &C10K, 4096).unwrap().is_empty());
        let warnings = check(&roomy(), 10_000, 1, &C10K, 4096).unwrap();
        assert!(warnings.iter().any(|w| w.contains("--backlog 10000")));
    }

    /// Each shortfall is named with the command that fixes it, all in one message.
    #[test]
    fn shortfalls_say_what_to_change() {
        let machine = Machine {
            open_files_hard: Some(1024),
            ports: Some((60000, 60999)),
            tasks_per_user: Some(4096),
            pid_max: Some(8192),
            max_map_count: Some(10_000),
            ..roomy()
        };
        let err = check(&machine, 10_000, 1, &C10K, 4096)
            .unwrap_err()
            .to_string();
        for needle in [
            "ulimit -Hn 10064",
            "ip_local_port_range=\"1024 65535\"",
            "ulimit -u 11024",
            "kernel.pid_max=11024",
            "vm.max_map_count=21000",
        ] {
            assert!(err.contains(needle), "{needle} missing from: {err}");
        }
        // The thread limits do not apply to servers without a thread per client.
        let err = check(&machine, 10_000, 1, &[Architecture::Sequential], 4096)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("tasks") && !err.contains("mappings"), "{err}");
    }

    /// Ten million clients is refused as impossible, naming the kernel's ceilings (no
    /// advice to set kernel.pid_max above its maximum); a million is possible with the
    /// settings raised, and the advice lifts fs.nr_open before the open-file limit.
    #[test]
    fn impossible_runs_are_said_plainly() {
        let err = check(&roomy(), 10_000_000, 1, &C10K, 4096)
            .unwrap_err()
            .to_string();
        assert!(err.contains("impossible"), "{err}");
        assert!(err.contains("at most 64512 local ports"), "{err}");
        assert!(err.contains("ceiling of 4194304"), "{err}");
        assert!(!err.contains("pid_max=10001024"), "{err}");
        let err = check(&roomy(), 60_000, 1, &[Architecture::Evented], 4096)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("impossible"), "{err}");
        let err = check(&roomy(), 2_000_000, 1, &[Architecture::Evented], 4096)
            .unwrap_err()
            .to_string();
        assert!(err.contains("impossible"), "{err}");
        assert!(
            !err.contains("tasks"),
            "evented has no task per client: {err}"
        );
        let machine = Machine {
            ports: Some((1024, 65535)),
            ..roomy()
        };
        let err = check(&machine, 60_000, 1, &[Architecture::Evented], 4096)
            .unwrap_err()
            .to_string();
        assert!(err.contains("ulimit -Hn 60064"), "{err}");
        let machine = Machine {
            nr_open: Some(50_000),
            ..machine
        };
        let err = check(&machine, 60_000, 1, &[Architecture::Evented], 4096)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`sysctl -w fs.nr_open=60064`; then raise it"),
            "{err}"
        );
    }

    /// Many runs against one server without TIME_WAIT reuse get a warning.
    #[test]
    fn time_wait_reuse_warning() {
        let machine = Machine {
            tw_reuse: Some(0),
            ..roomy()
        };
        let warnings = check(&machine, 10_000, 10, &C10K, 10_000).unwrap();
        assert!(warnings.iter().any(|w| w.contains("tcp_tw_reuse=1")));
    }

    /// The limits of the machine running the test can be read.
    #[test]
    fn reads_this_machine() {
        let machine = Machine::read();
        assert!(machine.ports.is_some());
        assert!(machine.pid_max.is_some_and(|p| p > 0));
    }
}
