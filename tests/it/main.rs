//! Integration tests, one module per topic.

mod fat_hostile;
mod fat_reader;
mod fat_support;
mod fat_writer;
