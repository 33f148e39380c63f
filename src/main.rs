use clap::Parser;
use evtdoctor::cli::{Cli, Command};
use evtdoctor::{commands, ExitCode};

// Readers allocate a few small strings per record and free them soon after, from several
// threads: mimalloc's per-thread free lists cost a fraction of the system allocator's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    evtdoctor::verbosity::set(cli.verbosity());
    evtdoctor::output::color::set(cli.color);
    let outcome = match &cli.command {
        Command::Events(args) => commands::events::run(args),
        Command::Decode(args) => commands::decode::run(args),
        Command::Analyze(args) => commands::analyze::run(args),
        Command::Db(command) => commands::db::run(command),
        Command::Fix(args) => commands::fix::run(args),
        Command::Completions(args) => commands::manual::completions(args),
        Command::Man => commands::manual::man(),
        Command::Rules(command) => commands::rules::run(command),
    };
    let code = match outcome {
        Ok(code) => code,
        Err(error) => {
            evtdoctor::error!("error: {error:#}");
            ExitCode::Usage
        }
    };
    std::process::ExitCode::from(code as u8)
}
