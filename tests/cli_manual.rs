//! `completions` and `man`: generated from the clap definitions, for every shell and command.

use crate::common;
use common::{evtdoctor, success_stdout, Need};
use std::process::Command;

#[test]
fn completions_for_every_shell_name_the_commands_and_their_options() {
    for (shell, marker) in [
        ("bash", "complete -F _evtdoctor"),
        ("zsh", "#compdef evtdoctor"),
        ("fish", "complete -c evtdoctor"),
        ("powershell", "Register-ArgumentCompleter"),
        ("elvish", "edit:completion:arg-completer[evtdoctor]"),
    ] {
        let script = success_stdout(evtdoctor(&["completions", shell]));
        assert!(script.contains(marker), "{shell}: no `{marker}`");
        // fish names long options without their dashes (`-l target-os`)
        for word in ["analyze", "defrag", "target-os", "rollback", "since"] {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
    }
    let unknown = evtdoctor(&["completions", "tcsh"]);
    assert_eq!(unknown.status.code(), Some(2));
}

#[test]
fn the_man_page_renders_with_every_command_and_its_examples() {
    let page = success_stdout(evtdoctor(&["man"]));
    assert!(page.starts_with(".ie \\n(.g .ds Aq \\(aq"), "roff preamble");
    for section in [
        "EVTDOCTOR EVENTS",
        "EVTDOCTOR DECODE",
        "EVTDOCTOR ANALYZE",
        "EVTDOCTOR DB HEADER",
        "EVTDOCTOR DB CHECK",
        "EVTDOCTOR DB DUMP",
        "EVTDOCTOR DB DEFRAG",
        "EVTDOCTOR FIX",
    ] {
        assert!(page.contains(&format!(".SH \"{section}\"")), "no {section}");
    }
    common::needs!(Need::Program("man"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("evtdoctor.1");
    std::fs::write(&file, &page).unwrap();
    let rendered = Command::new("man")
        .arg("-l")
        .arg(&file)
        .env("MANWIDTH", "100")
        .env("MAN_KEEP_FORMATTING", "0")
        .output()
        .unwrap();
    assert!(rendered.status.success());
    // man marks bold and underline by overstriking (`X\x08X`): keep the last of each pair
    let text = String::from_utf8_lossy(&rendered.stdout).replace("_\x08", "");
    let text: String = text
        .split('\x08')
        .enumerate()
        .map(|(i, part)| {
            if i == 0 {
                part
            } else {
                &part[part.chars().next().map_or(0, char::len_utf8)..]
            }
        })
        .collect();
    let warnings = String::from_utf8_lossy(&rendered.stderr);
    assert!(warnings.trim().is_empty(), "man warns: {warnings}");
    for line in [
        "EVTDOCTOR FIX",
        "evtdoctor fix --rollback --db kmsmdb.edb --backup-dir /backups",
        "evtdoctor db dump SRUDB.dat --table SruDbIdMapTable --format csv",
        "2  usage error, or no readable input",
    ] {
        assert!(text.contains(line), "rendered page lacks {line:?}");
    }
}

#[test]
fn top_level_and_db_help_show_examples() {
    let top = success_stdout(evtdoctor(&["--help"]));
    assert!(top.contains("Examples:\n  evtdoctor analyze exported-logs/ --db kmsmdb.edb"));
    let db = success_stdout(evtdoctor(&["db", "--help"]));
    assert!(db.contains("Examples:\n  evtdoctor db header kmsmdb.edb"));
}
