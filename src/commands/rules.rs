//! `evtdoctor rules`: list, show and check diagnosis rules.

use crate::cli::{RulesCheckArgs, RulesCommand, RulesPackArgs, RulesShowArgs};
use crate::diagnose::rules::{read_rule, Pack};
use crate::ExitCode;
use anyhow::Result;

pub fn run(command: &RulesCommand) -> Result<ExitCode> {
    match command {
        RulesCommand::List(args) => list(args),
        RulesCommand::Show(args) => show(args),
        RulesCommand::Check(args) => check(args),
    }
}

/// The pack with `--rules`, or the problems printed.
fn pack(args: &RulesPackArgs) -> Result<Pack, ExitCode> {
    Pack::with_dirs(&args.rules).map_err(|problems| {
        problems.iter().for_each(|p| crate::error!("{p}"));
        ExitCode::Usage
    })
}

fn list(args: &RulesPackArgs) -> Result<ExitCode> {
    let pack = match pack(args) {
        Ok(pack) => pack,
        Err(code) => return Ok(code),
    };
    // One line a rule, so the list stays greppable whatever the width.
    for rule in &pack.rules {
        let fix = rule
            .spec
            .fix
            .as_ref()
            .map(|fix| format!(" [fix: {}]", fix.get_ref()))
            .unwrap_or_default();
        println!(
            "{:<34} {:<10} {}{fix} ({})",
            rule.id(),
            rule.spec.kb,
            rule.spec.title,
            rule.origin
        );
    }
    Ok(ExitCode::Clean)
}

fn show(args: &RulesShowArgs) -> Result<ExitCode> {
    let pack = match pack(&args.pack) {
        Ok(pack) => pack,
        Err(code) => return Ok(code),
    };
    match pack.rule(&args.id) {
        Some(rule) => {
            println!("# {}: {}", rule.id(), rule.origin);
            print!("{}", rule.text);
            Ok(ExitCode::Clean)
        }
        None => {
            eprintln!(
                "evtdoctor: no rule {:?} (evtdoctor rules list shows them)",
                args.id
            );
            Ok(ExitCode::Usage)
        }
    }
}

fn check(args: &RulesCheckArgs) -> Result<ExitCode> {
    let mut code = ExitCode::Clean;
    for path in &args.files {
        match read_rule(path) {
            Ok(rule) => println!("{}: ok (rule {})", path.display(), rule.id()),
            Err(problems) => {
                problems.iter().for_each(|p| println!("{p}"));
                code = ExitCode::Found;
            }
        }
    }
    Ok(code)
}
