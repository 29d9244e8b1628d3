//! drover: run script groups on server groups over SSH, from a CLI or a chat.
//!
//! Layers, each importing only those listed before it:
//! `error`, `domain` → `config` → `ssh` (all russh) → `store` (all SQL) →
//! `engine` (runs) → `library` (import) → `ops` (operations shared by front
//! ends) → `cli` (clap front end).

pub mod cli;
pub mod config;
pub mod domain;
pub mod engine;
pub mod error;
pub mod library;
pub mod ops;
pub mod remote_ops;
pub mod ssh;
pub mod store;

pub use error::{Error, Result};
