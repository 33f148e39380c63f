//! `evtdoctor fix`: the remediation workflow around `db defrag` for the only copy of a key
//! database (see [`crate::defrag::fix`]); `--rollback` puts the recorded backup back.

use crate::cli::FixArgs;
use crate::defrag::crash;
use crate::defrag::fix::{self, FixPlan};
use crate::output::defrag::{
    ask_to_replace, ask_to_restore, print_fix, print_refusal, print_restored,
};
use crate::output::destination::{resolve_format, Destination};
use crate::ExitCode;
use anyhow::Result;
use std::path::Path;

pub fn run(args: &FixArgs) -> Result<ExitCode> {
    let format = resolve_format(args.output.given(), args.file.path.as_deref())?;
    // Opened first, so that a path that is the database is refused before anything changes.
    let mut destination =
        Destination::open(args.file.path.as_deref(), std::slice::from_ref(&args.db))?;
    let code = if args.rollback {
        let mut confirm = |db: &Path| Ok(args.yes || ask_to_restore(db)?);
        match fix::rollback(
            &args.db,
            args.backup_dir.as_deref(),
            args.force,
            &mut confirm,
        ) {
            Ok(manifest) => {
                print_restored(&mut destination.writer(), &args.db, &manifest)?;
                destination.finish()?;
                ExitCode::Clean
            }
            Err(error) => print_refusal(&args.db, error)?,
        }
    } else {
        let plan = FixPlan {
            db: args.db.clone(),
            target_os: args.target_os,
            backup_dir: args.backup_dir.clone(),
            dry_run: args.dry_run,
            force: args.force,
        };
        let mut confirm = |db: &Path| Ok(args.yes || ask_to_replace(db)?);
        match fix::fix(&plan, &mut confirm) {
            Ok(report) => {
                print_fix(
                    &mut destination.writer(),
                    &args.db,
                    &report,
                    format,
                    args.dry_run,
                )?;
                destination.finish()?;
                ExitCode::Clean
            }
            Err(error) => print_refusal(&args.db, error)?,
        }
    };
    crash::report_points_passed();
    Ok(code)
}
