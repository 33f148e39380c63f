//! The package installer's setup log (`svcpack.log`) as update.exe writes it: each run
//! appends a banner, its local start time, its own path and version, the command line, its
//! progress, and the extended error code it exits with. Every line carries the seconds since
//! the run started. The line shapes follow real update.exe logs; the progress wording of a
//! Windows 2000 service pack run is illustrative (no real svcpack.log of one was at hand).

use chrono::{DateTime, Utc};

/// One installer run to write.
#[derive(Debug, Clone)]
pub struct SetupRun<'a> {
    /// Local start time (the logs of that era carry no zone).
    pub started: DateTime<Utc>,
    /// `Service Pack` or `Hotfix`: how the installer names what it installs.
    pub installer: &'a str,
    pub command_line: &'a str,
    pub update_exe: &'a str,
    pub update_version: &'a str,
    /// `(seconds since the start, message)` of the progress lines, in order.
    pub progress: &'a [(f64, &'a str)],
    /// `None` when the run stopped before its exit (a crash or power loss).
    pub exit_code: Option<u32>,
    /// Seconds since the start at the exit line.
    pub finished_after: f64,
}

/// Appends one run to `out` (CR LF line ends, as Windows writes them).
pub fn write_run(run: &SetupRun<'_>, out: &mut String) {
    let mut line = |seconds: f64, message: &str| {
        out.push_str(&format!("{seconds:.3}: {message}\r\n"));
    };
    line(0.0, &"=".repeat(80));
    line(
        0.0,
        &format!("{} (local)", run.started.format("%Y/%m/%d %H:%M:%S%.3f")),
    );
    line(
        0.0,
        &format!("{} (version {})", run.update_exe, run.update_version),
    );
    line(
        0.016,
        &format!(
            "{} started with following command line: {}",
            run.installer, run.command_line
        ),
    );
    for (seconds, message) in run.progress {
        line(*seconds, message);
    }
    if let Some(code) = run.exit_code {
        line(
            run.finished_after,
            &format!("Update.exe extended error code = {code:#x}"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use evtdoctor_parsers::text::setup_log::field;
    use evtdoctor_parsers::text::{read_text, TextKind, TextOptions};

    #[test]
    fn runs_read_back_with_their_times_and_outcomes() {
        let started = "2003-07-01T21:31:01.375Z".parse().unwrap();
        let mut text = String::new();
        for exit_code in [Some(0x0), None] {
            let run = SetupRun {
                started,
                installer: "Service Pack",
                command_line: "-u",
                update_exe: r"c:\sp\i386\update\update.exe",
                update_version: "5.4.16.0",
                progress: &[(2.5, "Installing Windows 2000 Service Pack 4")],
                exit_code,
                finished_after: 571.25,
            };
            write_run(&run, &mut text);
        }
        let read = read_text(text.as_bytes(), TextOptions::default()).unwrap();
        assert_eq!(read.kind, TextKind::SetupLog);
        let events: Vec<_> = read.items.into_iter().map(Result::unwrap).collect();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].time_generated, Some(started));
        assert_eq!(
            events[0].time_written.unwrap().to_rfc3339(),
            "2003-07-01T21:40:32.625+00:00"
        );
        assert_eq!(events[0].strings[field::PACKAGE], "Service Pack 4");
        assert_eq!(
            events[0].strings[field::OUTCOME],
            "succeeded (extended error code 0x0)"
        );
        assert_eq!(events[1].origin.line, Some(7));
        assert_eq!(
            events[1].strings[field::OUTCOME],
            "did not finish (no exit code logged)"
        );
    }
}
