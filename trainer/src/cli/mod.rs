//! The command line as clap reads it: the raw flags of every command ([`flags`]) and the values
//! with choices or a format of their own ([`values`]). The binary holds the top-level command
//! enum and dispatch; [`crate::commands`] checks the flags and runs each command.

pub mod flags;
pub mod hints;
pub mod values;
