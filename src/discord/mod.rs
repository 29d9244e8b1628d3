//! The Discord front end (poise on serenity): slash commands mirroring the
//! CLI tree, authorisation, and live progress messages. The only module
//! that imports serenity/poise.

pub mod render;
