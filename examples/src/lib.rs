//! Runnable examples live in this crate as `[[example]]` targets.
