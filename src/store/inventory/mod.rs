//! Inventory persistence, one file per entity: hosts, server groups,
//! scripts and their versions, script groups, tasks, and the imports.

use std::collections::HashMap;

use sha2::{Digest, Sha256};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::{audit, ensure_absent, id_of, Store, Tx};
use crate::domain::{
    format_ms, now_ms, Actor, Host, HostEdit, Name, NewHost, OnFailure, RunOptions, Script,
    ScriptGroup, ScriptVersion, ServerGroup, Task,
};
pub use crate::domain::{ItemChange, ScriptGroupInput, ValidScript};
use crate::error::{EntityKind, Error, Result};

mod groups;
mod hosts;
mod import;
mod script_groups;
mod scripts;
mod server_groups;
mod tasks;

use groups::*;
use hosts::*;
use script_groups::*;
use scripts::*;
use server_groups::*;
use tasks::*;

pub use import::{InventoryChanges, LibraryChanges};
pub use scripts::{body_sha256, ScriptChange};
