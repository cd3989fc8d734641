//! Integration tests: one binary, one module per topic, each checking our output with
//! independent tools.

mod golden;
mod partition;
mod partition_corrupt;
mod profile_check;
mod profile_fuzz;
