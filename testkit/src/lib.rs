//! evtdoctor's test kit (not published): everything that writes logs and databases for the
//! tests, the samples and the benchmarks. Its output is verified by independent readers
//! (libevt, libevtx, python-evtx, libesedb, esedbexport).
//!
//! - [`logwriter`]: the .evt, .evtx, text and setup-log writers, and the sample scenarios.
//! - [`dbwriter`]: ESE databases from tables and rows (the demo KMS database, benchmark
//!   databases), encoded by the parser crate's `ese::write`.
//! - [`events`]: single events of the KB 818952 story for the diagnosis tests, and Event XML.

pub mod dbwriter;
pub mod events;
pub mod logwriter;
