//! The command line as clap reads it: the raw flags of every command ([`flags`]) and the values
//! with choices or a format of their own ([`values`]). The binary holds the top-level command
//! enum and dispatch; [`crate::commands`] checks the flags and runs each command.

pub mod flags;
pub mod hints;
pub mod values;

/// For tests: one command's flags (`T`) parsed from `args` (without the program name), as the
/// binary would parse them.
#[cfg(test)]
pub fn parse_flags<T: clap::Args>(args: &[&str]) -> Result<T, clap::Error> {
    use clap::Parser;

    #[derive(Parser)]
    struct Cli<T: clap::Args> {
        #[command(flatten)]
        flags: T,
    }
    Cli::<T>::try_parse_from(std::iter::once("cimle").chain(args.iter().copied())).map(|c| c.flags)
}
