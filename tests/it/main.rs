//! Integration tests: one binary (so fixtures are built once), one module per topic, each
//! checking our output with independent tools.

mod deb_fixture;
mod deb_hostile;
mod deb_read;
mod deb_unpack;
mod ext4;
mod ext4_fixture;
mod ext4_hostile;
mod fat_hostile;
mod fat_reader;
mod fat_support;
mod fat_writer;
mod golden;
mod partition;
mod partition_corrupt;
mod profile_check;
mod profile_fuzz;
