//! Integration tests: one binary, one module per topic, each checking our output with
//! independent tools.

mod ext4_write;
mod fat_hostile;
mod fat_reader;
mod fat_support;
mod fat_writer;
mod golden;
mod partition;
mod partition_corrupt;
mod profile_check;
mod profile_fuzz;
