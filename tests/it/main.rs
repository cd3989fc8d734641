//! Integration tests, one module per topic, in one binary so fixtures are built once.

mod ext4;
mod ext4_fixture;
mod ext4_hostile;
