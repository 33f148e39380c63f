//! The integration tests: one binary (so the shared helpers compile once), one module per area.

mod common;

mod analyze_cli;
mod analyze_corpus;
mod analyze_fix_db;
mod analyze_robustness;
mod analyze_rules;
mod cli_manual;
mod cli_verbosity;
mod decode_command;
mod ese_damage;
mod ese_defrag;
mod ese_defrag_big;
mod ese_defrag_verify;
mod ese_hostile;
mod ese_keys;
mod ese_old_format;
mod ese_oracles;
mod ese_writer;
mod event_json;
mod events_cli;
mod evt_corpus;
mod evt_damage;
mod evt_writer;
mod evtx_corpus;
mod evtx_fast_path;
mod evtx_writer;
mod fix_cli;
mod hostile_inputs;
mod parallel_cli;
mod samples;
mod samples_analyze;
mod text_roundtrip;
