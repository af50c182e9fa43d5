//! Shared setup of shipcore's benchmarks (issue 2): the one-hour canary on the simulator,
//! its recorded journal, a hand-written loop making the same calls, a journal that keeps
//! nothing, calls made slower, and a counting global allocator for memory figures.

pub mod alloc;
pub mod canary;
pub mod hand;
pub mod null_journal;
pub mod slow;
pub mod yield_clock;

pub use alloc::CountingAlloc;
pub use canary::{
    analysis, canary_spec, candidate, error_rate, error_rate_of_target, one_hour_canary,
    prepared_canary, record_canary, run_canary, run_prepared, shaped_spec, shaped_spec_for,
    sim_runner, stable, target, world, Recorded, SetupError, Shape, CANARY_STEPS,
    MEASUREMENTS_PER_STEP, REPLICAS,
};
pub use hand::{hand_written_canary, HandError, HandReport};
pub use null_journal::NullJournal;
pub use slow::Slow;
pub use yield_clock::YieldingClock;
