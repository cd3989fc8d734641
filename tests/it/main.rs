//! Integration tests: one binary, one module per topic.

mod golden;
mod profile_check;
