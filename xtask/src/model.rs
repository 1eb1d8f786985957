//! What each architecture should take, and how far a measured point may stray from it.
//!
//! Clients are served in rounds. A [`Model`] says how many clients share a round and how
//! many cores their computing may spread over; [`Model::time_s`] turns that into the
//! time a point should take, [`model_check`] compares a measured total with it, and the
//! tolerances below say how much a busy machine may add before a point is flagged.
//! Which architecture follows which model is written in [`crate::architecture`].

/// How far a total may exceed the model before the point is flagged: 1 % of the model
/// (sequential must come within 1 % of N × delay) plus 50 ms for process start-up and
/// scheduling on a busy machine.
pub const TOLERANCE_FRACTION: f64 = 0.01;
/// The fixed part of the tolerance, seconds.
pub const TOLERANCE_FIXED_S: f64 = 0.05;
/// With `--work`, the share of the CPU bound (N × work / cores) added to the tolerance:
/// bench's own threads and the kernel's loopback work run on the same cores, so the
/// server never has all of them.
pub const TOLERANCE_WORK_FRACTION: f64 = 0.25;

/// Workers of a [`Model::Workers`] server when `--workers` is not given: its default.
pub const POOL_DEFAULT_WORKERS: u64 = 16;

/// How an architecture spreads clients over rounds and cores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    /// One client per round, computing on one core: N × delay.
    OneAtATime,
    /// A process or thread per client: every client in one round, computing on every
    /// core.
    PerClient,
    /// A fixed set of workers (`--workers`, or [`POOL_DEFAULT_WORKERS`]), each serving
    /// one client at a time: ⌈N / workers⌉ rounds, the staircase.
    Workers,
    /// Event loops or a runtime's threads (`--workers`, or one per core): every client
    /// in one round, computing on at most as many cores as there are loops.
    Loops,
}

/// What a point's model depends on besides the architecture and the client count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// The delay per request, seconds.
    pub delay_s: f64,
    /// The CPU work per request (`--work`), seconds.
    pub work_s: f64,
    /// `--workers`, when given.
    pub workers: Option<u64>,
    /// Cores the sweep ran on.
    pub cores: u64,
}

impl Model {
    /// Whether servers of this model take `--workers N`.
    pub fn takes_workers(self) -> bool {
        self.default_workers(1).is_some()
    }

    /// The workers a server of this model runs with when `--workers` is not given, on
    /// `cores` cores; `None` when it has none.
    fn default_workers(self, cores: u64) -> Option<u64> {
        match self {
            Model::OneAtATime | Model::PerClient => None,
            Model::Workers => Some(POOL_DEFAULT_WORKERS),
            Model::Loops => Some(cores),
        }
    }

    /// The workers a server of this model runs with under `params`; `None` when it has
    /// none.
    pub fn workers(self, params: &Params) -> Option<u64> {
        self.default_workers(params.cores)
            .map(|default| params.workers.unwrap_or(default))
    }

    /// The model's time for `clients`.
    ///
    /// A round of k clients takes the delay (waits overlap) plus k × work spread over
    /// the cores that can compute at once: one for [`Model::OneAtATime`], k at most, and
    /// for [`Model::Loops`] at most its loops. With no work this is N × delay,
    /// ⌈N / workers⌉ × delay and one delay.
    pub fn time_s(self, clients: u64, params: &Params) -> f64 {
        let n = clients.max(1);
        let cores = params.cores.max(1);
        let (batch, parallel) = match self {
            Model::OneAtATime => (1, 1),
            Model::PerClient => (n, cores),
            Model::Workers => (self.workers(params).unwrap_or(1).max(1), cores),
            Model::Loops => (n, cores.min(self.workers(params).unwrap_or(cores))),
        };
        let round =
            |k: u64| params.delay_s + k as f64 * params.work_s / parallel.min(k).max(1) as f64;
        let (full, rest) = (n / batch, n % batch);
        full as f64 * round(batch) + if rest > 0 { round(rest) } else { 0.0 }
    }
}

/// The least time any server can take for `clients` requests of `work_s` CPU each on
/// `cores` cores: N × work / cores.
pub fn cpu_bound_s(clients: u64, work_s: f64, cores: u64) -> f64 {
    clients as f64 * work_s / cores.max(1) as f64
}

/// A total compared with what the architecture's model predicts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelCheck {
    /// total − model.
    pub overhead_s: f64,
    /// How much over the model is still on it.
    pub tolerance_s: f64,
    /// Whether the point is on the model: not faster than it (allowing 1 ms of clock
    /// granularity), not slower than the tolerance, and no client failed.
    pub on_model: bool,
}

/// Checks `total_s` against the model's `model_s`; `cpu_bound_s` widens the tolerance
/// when requests compute.
pub fn model_check(total_s: f64, model_s: f64, cpu_bound_s: f64, errors: u64) -> ModelCheck {
    let overhead_s = total_s - model_s;
    let tolerance_s =
        model_s * TOLERANCE_FRACTION + TOLERANCE_FIXED_S + cpu_bound_s * TOLERANCE_WORK_FRACTION;
    ModelCheck {
        overhead_s,
        tolerance_s,
        on_model: errors == 0 && overhead_s >= -0.001 && overhead_s <= tolerance_s,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A 3 s delay on two cores, with `work_s` and `workers`.
    pub(crate) fn params(work_s: f64, workers: Option<u64>) -> Params {
        Params {
            delay_s: 3.0,
            work_s,
            workers,
            cores: 2,
        }
    }

    /// Without work: one at a time N × delay, workers ⌈N / workers⌉ × delay (16 unless
    /// told), per client and loops one delay.
    #[test]
    fn models_without_work() {
        let p = params(0.0, None);
        assert_eq!(Model::OneAtATime.time_s(10, &p), 30.0);
        for model in [Model::PerClient, Model::Loops] {
            assert_eq!(model.time_s(100, &p), 3.0, "{model:?}");
        }
        let m = Model::Workers;
        assert_eq!(m.time_s(16, &p), 3.0);
        assert_eq!(m.time_s(17, &p), 6.0);
        assert_eq!(m.time_s(100, &p), 21.0, "⌈100 / 16⌉ = 7 rounds");
        assert_eq!(m.time_s(5, &params(0.0, Some(2))), 9.0);
        assert_eq!(m.time_s(4, &params(0.0, Some(2))), 6.0);
        assert_eq!(Model::Workers.workers(&p), Some(16));
        assert_eq!(Model::Loops.workers(&p), Some(2));
        assert_eq!(Model::Loops.workers(&params(0.0, Some(8))), Some(8));
        assert_eq!(Model::PerClient.workers(&params(0.0, Some(8))), None);
        assert!(Model::Workers.takes_workers() && Model::Loops.takes_workers());
        assert!(!Model::OneAtATime.takes_workers() && !Model::PerClient.takes_workers());
    }

    /// With work: each round adds its clients' work over the cores that can compute at
    /// once; the CPU bound is N × work / cores.
    #[test]
    fn models_with_work() {
        let p = Params {
            delay_s: 0.0,
            work_s: 0.02,
            workers: None,
            cores: 2,
        };
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(close(Model::OneAtATime.time_s(100, &p), 2.0));
        assert!(close(Model::PerClient.time_s(100, &p), 1.0));
        assert!(close(Model::PerClient.time_s(1, &p), 0.02));
        assert!(close(Model::Workers.time_s(100, &p), 1.0));
        let one_loop = Params {
            workers: Some(1),
            ..p
        };
        assert!(close(Model::Loops.time_s(100, &one_loop), 2.0));
        assert!(close(Model::Loops.time_s(100, &p), 1.0));
        assert!(close(cpu_bound_s(100, 0.02, 2), 1.0));
        let with_delay = Params { delay_s: 1.0, ..p };
        assert!(close(
            Model::Workers.time_s(32, &with_delay),
            2.0 + 32.0 * 0.02 / 2.0
        ));
    }

    /// A point is on its model when it is not faster and not slower than the tolerance,
    /// with no failed client; work widens the tolerance.
    #[test]
    fn model_check_tolerance() {
        assert!(model_check(30.02, 30.0, 0.0, 0).on_model);
        assert!(!model_check(31.0, 30.0, 0.0, 0).on_model);
        assert!(!model_check(3.01, 30.0, 0.0, 0).on_model);
        assert!(model_check(3.005, 3.0, 0.0, 0).on_model);
        assert!(!model_check(3.23, 3.0, 0.0, 0).on_model);
        assert!(!model_check(2.5, 3.0, 0.0, 0).on_model);
        assert!(!model_check(3.005, 3.0, 0.0, 1).on_model);
        assert!(model_check(3.23, 3.0, 1.0, 0).on_model);
        let check = model_check(300.5, 300.0, 0.0, 0);
        assert!((check.overhead_s - 0.5).abs() < 1e-9);
        assert!((check.tolerance_s - (300.0 * 0.01 + 0.05)).abs() < 1e-9);
    }
}
