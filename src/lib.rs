//! drover: run script groups on server groups over SSH, from a CLI or a chat.
//!
//! Layers, each importing only those listed before it:
//! `error`, `domain` → `config` → `store` (all SQL) → `library` (import) →
//! `ops` (operations shared by front ends) → `cli` (clap front end).

pub mod cli;
pub mod config;
pub mod domain;
pub mod error;
pub mod library;
pub mod ops;
pub mod store;

pub use error::{Error, Result};
