//! Integration tests, one module per topic, each checking our output with independent tools.

mod partition;
mod partition_corrupt;
