//! drover: run script groups on server groups over SSH, from a CLI or a chat.
//!
//! Layers, each importing only those listed before it:
//! `error`, `domain`, `state`, `run_env`, `redact` → `config`, `ssh_config` → `ssh` (all russh) → `store` (all
//! SQL) → `engine` (runs) → `library` (import parsers) → `app` (the
//! application layer: every operation and a run's lifecycle; the store is
//! private to it) → front ends: `cli` (all clap), `discord` (all
//! serenity/poise) and `web` (all axum), which do not import each other;
//! `main.rs` wires them.

pub mod access;
pub mod app;
pub mod cli;
pub mod config;
pub mod discord;
pub mod domain;
pub mod engine;
pub mod error;
pub mod library;
pub mod memory;
pub mod redact;
pub mod run_env;
pub mod signals;
pub mod ssh;
pub mod ssh_config;
pub mod state;
pub mod store;
pub mod text;
pub mod web;

pub use error::{Error, Result};
