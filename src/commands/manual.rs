//! `evtdoctor completions SHELL` and `evtdoctor man`: generated at run time from the clap
//! definitions, so they always match `--help`.

use crate::cli::{Cli, CompletionsArgs};
use crate::ExitCode;
use anyhow::Result;
use clap::CommandFactory;
use std::io::Write;

pub fn completions(args: &CompletionsArgs) -> Result<ExitCode> {
    let mut command = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut command, "evtdoctor", &mut out);
    std::io::stdout().lock().write_all(&out)?;
    Ok(ExitCode::Clean)
}

/// The top-level page, then each subcommand's whole help (examples, exit codes) as a section.
pub fn man() -> Result<ExitCode> {
    let command = Cli::command();
    let mut out = Vec::new();
    clap_mangen::Man::new(command.clone()).render(&mut out)?;
    for sub in subcommands(&command) {
        render_section(&mut out, sub, "evtdoctor")?;
    }
    std::io::stdout().lock().write_all(&out)?;
    Ok(ExitCode::Clean)
}

fn subcommands(command: &clap::Command) -> impl Iterator<Item = &clap::Command> {
    command.get_subcommands().filter(|s| s.get_name() != "help")
}

/// One subcommand as a `.SH` section holding its long help, then its own subcommands.
fn render_section(out: &mut Vec<u8>, command: &clap::Command, parent: &str) -> Result<()> {
    let name = format!("{parent} {}", command.get_name());
    writeln!(out, ".SH \"{}\"", name.to_uppercase())?;
    let help = command
        .clone()
        .bin_name(&name)
        .render_long_help()
        .to_string();
    // The help as clap lays it out, unfilled; roff needs `\` escaped and a leading `.` or `'`
    // guarded (either would start a request).
    writeln!(out, ".nf")?;
    for line in help.lines() {
        let line = line.replace('\\', "\\e");
        let guard = if line.starts_with(['.', '\'']) {
            "\\&"
        } else {
            ""
        };
        writeln!(out, "{guard}{line}")?;
    }
    writeln!(out, ".fi")?;
    for sub in subcommands(command) {
        render_section(out, sub, &name)?;
    }
    Ok(())
}
