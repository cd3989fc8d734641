//! Integration tests: one binary (so fixtures are built once), one module per topic, each
//! checking our output with independent tools.

mod apt_fixture;
mod apt_fuzz;
mod apt_gpg;
mod apt_keyring;
mod apt_repository;
mod apt_signature;
mod apt_sources;
mod apt_status;
mod apt_version;
mod base;
mod deb_fixture;
mod deb_hostile;
mod deb_read;
mod deb_unpack;
mod disk;
mod ext4;
mod ext4_fixture;
mod ext4_hostile;
mod ext4_write;
mod fat_hostile;
mod fat_reader;
mod fat_support;
mod fat_writer;
mod golden;
mod inspect;
mod partition;
mod partition_corrupt;
mod pi_base;
mod profile_check;
mod profile_fuzz;
mod resolver_fuzz;
mod resolver_oracle;
