//! pi-imager builds flashable Raspberry Pi OS images for web-server nodes from a TOML
//! profile, without root, loop devices or emulation.
//!
//! The modules are the stages of a build, in order; each hands a typed value to the next.

pub mod apt;
pub mod base;
pub mod build;
pub mod calendar;
pub mod check;
pub mod fetch;
pub mod flash;
pub mod image;
pub mod imager;
pub mod inspect;
pub mod manifest;
pub mod node;
pub mod profile;
pub mod tree;
pub mod verify;
