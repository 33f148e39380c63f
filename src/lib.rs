//! evtdoctor: the application on top of `evtdoctor-parsers`.
//!
//! Data flows one way: bytes → events (`input`) → facts → findings → report or fix.

pub mod analysis;
pub mod cli;
pub mod commands;
pub mod correlate;
pub mod defrag;
pub mod diagnose;
pub mod filter;
pub mod input;
pub mod knowledge;
pub mod listing;
pub mod output;
pub mod parallel;
pub mod progress;
pub mod report;
pub mod verbosity;

/// The process exit codes every command shares (documented in `--help` and README).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Done, nothing found.
    Clean = 0,
    /// Something found or refused: findings, corruption, a refused fix.
    Found = 1,
    /// Usage error, or no readable input.
    Usage = 2,
}
