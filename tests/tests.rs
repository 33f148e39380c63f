//! The integration tests: one binary (so the shared helpers compile once), one module per area.

mod common;

mod analyze_cli;
mod analyze_corpus;
mod analyze_fix_db;
mod analyze_html;
mod analyze_robustness;
mod analyze_rules;
mod cli_manual;
mod cli_output;
mod cli_verbosity;
mod cut_logs;
mod db_check_judgement;
mod decode_command;
mod ese_damage;
mod ese_defrag;
mod ese_defrag_big;
mod ese_defrag_verify;
mod ese_hostile;
mod ese_keys;
mod ese_old_format;
mod ese_oracles;
mod ese_pyesedb;
mod ese_seek;
mod ese_writer;
mod event_json;
mod events_cli;
mod evt_corpus;
mod evt_damage;
mod evt_writer;
mod evtx_carving;
mod evtx_corpus;
mod evtx_fast_path;
mod evtx_writer;
mod export_offset;
mod fix_cli;
mod fix_safety;
mod hostile_inputs;
mod input_sources;
mod parallel_cli;
mod rule_pack;
mod rules_docs;
mod rules_over_facts;
mod samples;
mod samples_analyze;
mod text_damage;
mod text_roundtrip;

/// A file in tests/ that is not declared above would never compile or run (autotests is off).
#[test]
fn every_test_file_is_a_module_here() {
    let tests = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let declared = include_str!("tests.rs");
    for entry in std::fs::read_dir(&tests).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if let Some(module) = name.strip_suffix(".rs").filter(|m| *m != "tests") {
            let line = format!("\nmod {module};\n");
            assert!(
                declared.contains(&line),
                "tests/{name} is not declared in tests/tests.rs"
            );
        }
    }
}
