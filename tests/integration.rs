//! The single integration test binary. Each module below is one feature,
//! and reads as its specification.

mod harness;
