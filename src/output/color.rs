//! Colour (`--color`): the `evtdoctor:` of error lines on stderr, and the status and confidence
//! of findings in the analysis table. `auto` colours a terminal only, and not when NO_COLOR is
//! set (CLICOLOR_FORCE forces it); anstream decides, as for clap's own help.

use crate::cli::ColorWhen;
use anstream::{AutoStream, ColorChoice};
use anstyle::{AnsiColor, Style};
use std::io;

/// The `evtdoctor:` of an error line.
const ERROR: Style = AnsiColor::Red.on_default().bold();

/// Set once, from the command line, before any command runs.
pub fn set(when: ColorWhen) {
    ColorChoice::write_global(match when {
        ColorWhen::Auto => ColorChoice::Auto,
        ColorWhen::Always => ColorChoice::Always,
        ColorWhen::Never => ColorChoice::Never,
    });
}

/// Whether a document gets colour: one on standard output as `--color` and the terminal say,
/// one written to a file (`-o`) only with `--color always`.
pub fn in_document(to_file: bool) -> bool {
    let choice = if to_file {
        ColorChoice::global()
    } else {
        AutoStream::choice(&io::stdout())
    };
    matches!(choice, ColorChoice::Always | ColorChoice::AlwaysAnsi)
}

/// One error line on stderr, `evtdoctor: ` first (coloured when stderr takes colour).
pub fn eprint_error(message: std::fmt::Arguments<'_>) {
    anstream::eprintln!("{ERROR}evtdoctor:{ERROR:#} {message}");
}

/// An error line on stderr: `crate::error!("{path}: {message}")` prints
/// `evtdoctor: PATH: MESSAGE`, the prefix coloured as `--color` says.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => {
        $crate::output::color::eprint_error(format_args!($($arg)*))
    };
}
