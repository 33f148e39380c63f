//! `evtdoctor fix`: the remediation workflow around `db defrag` for the only copy of a key
//! database (see [`crate::defrag::fix`]); `--rollback` puts the recorded backup back.

use crate::cli::FixArgs;
use crate::defrag::crash;
use crate::defrag::fix::{self, FixPlan};
use crate::output::defrag::{
    ask_to_replace, ask_to_restore, print_fix, print_refusal, print_restored,
};
use crate::ExitCode;
use anyhow::Result;
use std::path::Path;

pub fn run(args: &FixArgs) -> Result<ExitCode> {
    let code = if args.rollback {
        let mut confirm = |db: &Path| Ok(args.yes || ask_to_restore(db)?);
        match fix::rollback(
            &args.db,
            args.backup_dir.as_deref(),
            args.force,
            &mut confirm,
        ) {
            Ok(manifest) => {
                print_restored(&args.db, &manifest);
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
                print_fix(&args.db, &report, args.output.resolved(), args.dry_run)?;
                ExitCode::Clean
            }
            Err(error) => print_refusal(&args.db, error)?,
        }
    };
    crash::report_points_passed();
    Ok(code)
}
