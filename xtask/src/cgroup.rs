//! A cgroup v2 of the server's own: every process it forks stays in it, and the kernel
//! counts their CPU time together (`cpu.stat`'s `usage_usec`, to the microsecond), the
//! children's included whether or not they have been reaped yet. Made only where a
//! cgroup2 hierarchy is mounted and writable (as root, here and on CI); otherwise the CPU
//! time is read from `/proc`, in ticks of 10 ms — a quarter of a tick is a whole 3 s
//! point of 100 requests at 25 µs each. Used by `bench` and `stevens`.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};

/// A cgroup made for one server.
#[derive(Debug)]
pub struct Cgroup {
    dir: PathBuf,
}

/// Where a new cgroup can be made: the cgroup2 mount point (`/sys/fs/cgroup`, or
/// `/sys/fs/cgroup/unified` on a hybrid system), if one is mounted and a child cgroup can
/// be made there.
pub fn root() -> Option<PathBuf> {
    let mounts = fs::read_to_string("/proc/self/mounts").ok()?;
    let mount = mounts.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        let (_, dir, kind) = (fields.next()?, fields.next()?, fields.next()?);
        (kind == "cgroup2").then(|| PathBuf::from(dir))
    })?;
    let probe = mount.join(format!("taskserver-probe-{}", std::process::id()));
    fs::create_dir(&probe).ok()?;
    let usable = probe.join("cpu.stat").is_file() && probe.join("cgroup.procs").is_file();
    let _ = fs::remove_dir(&probe);
    usable.then_some(mount)
}

impl Cgroup {
    /// Makes a cgroup named for `what` (unique within this process) under `root`.
    pub fn create(root: &Path, what: &str) -> anyhow::Result<Cgroup> {
        let dir = root.join(format!("taskserver-{}-{what}", std::process::id()));
        fs::create_dir(&dir).with_context(|| format!("creating cgroup {}", dir.display()))?;
        Ok(Cgroup { dir })
    }

    /// The file a process writes its PID to, to move itself in.
    pub fn procs(&self) -> PathBuf {
        self.dir.join("cgroup.procs")
    }

    /// `binary args…` as arguments of `/bin/sh`, which moves itself into this cgroup and
    /// then becomes the server, so that every process the server ever forks is in it
    /// from the start.
    pub fn shell_args(&self, binary: &Path, args: &[String]) -> Vec<String> {
        let mut all = vec![
            "-c".to_owned(),
            "echo $$ > \"$0\" && exec \"$@\"".to_owned(),
            self.procs().display().to_string(),
            binary.display().to_string(),
        ];
        all.extend(args.iter().cloned());
        all
    }

    /// CPU time used by the processes in it so far, µs.
    pub fn usage_us(&self) -> anyhow::Result<f64> {
        let path = self.dir.join("cpu.stat");
        let stat =
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        usage_usec(&stat)
            .map(|us| us as f64)
            .ok_or_else(|| anyhow!("no usage_usec in {}", path.display()))
    }

    /// Removes it, once its processes have exited (a cgroup with processes cannot be).
    pub fn remove(self) {
        let _ = fs::remove_dir(&self.dir);
    }
}

/// The `usage_usec` of a `cpu.stat` text.
fn usage_usec(stat: &str) -> Option<u64> {
    stat.lines()
        .find_map(|l| l.strip_prefix("usage_usec "))?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// usage_usec is read from cpu.stat's text.
    #[test]
    fn reads_usage_usec() {
        let stat = "usage_usec 1234\nuser_usec 1000\nsystem_usec 234\n";
        assert_eq!(usage_usec(stat), Some(1234));
        assert_eq!(usage_usec("user_usec 5\n"), None);
    }
}
