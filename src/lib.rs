//! drover: run script groups on server groups over SSH, from a CLI or a chat.
//!
//! Layers, each importing only those listed before it:
//! `error`, `domain`, `state` → `config`, `ssh_config` → `ssh` (all russh) → `store` (all
//! SQL) → `engine` (runs) → `ops`, `remote_ops` (operations shared by front
//! ends) → `library` (import) → front ends: `cli` (all clap) and `discord`
//! (all serenity/poise).

pub mod access;
pub mod accounts;
pub mod cli;
pub mod config;
pub mod discord;
pub mod domain;
pub mod engine;
pub mod error;
pub mod library;
pub mod ops;
pub mod remote_ops;
pub mod signals;
pub mod ssh;
pub mod ssh_config;
pub mod state;
pub mod store;
pub mod text;
pub mod web;

pub use error::{Error, Result};
