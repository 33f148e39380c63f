//! The project's own event-log writers, shared by the sample generator, tests and benchmarks.
//! Their output is verified by independent readers (libevt, libevtx, python-evtx).
pub mod evt;
pub mod evtx;
pub mod samples;
pub mod scenarios;
pub mod setup_log;
pub mod text;
