//! How many layers are written at once (`--jobs`). Each writer is a thread with a compressor
//! and buffers of its own; far more writers than CPUs only adds memory and contention (and
//! `--jobs 100000` once started 12,000 threads), so the number is capped.

/// Writers per CPU at most.
pub const JOBS_PER_CPU: usize = 4;
/// Writers at most, whatever the CPU count.
pub const MAX_JOBS: usize = 256;

/// CPUs this process may use.
pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The most layer writers a build runs: [`JOBS_PER_CPU`] × CPUs, at most [`MAX_JOBS`].
pub fn max_jobs() -> usize {
    (JOBS_PER_CPU * cpus()).clamp(1, MAX_JOBS)
}
