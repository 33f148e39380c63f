//! Scenario definitions for the sample bundles: the history of one Windows 2000 server with
//! Exchange 2000, written as data (a list of [`Step`]s) and expanded by small builders into the
//! events of its System and Application logs.
//!
//! Times are local server times stored as UTC (the logs of that era carry no zone), whole
//! seconds, fixed: the same scenario always gives the same events.
//!
//! What is observed in real logs and what is made up for the samples:
//! - EventLog 6005/6006/6009 and Service Control Manager 7035/7036 use the identifiers,
//!   qualifiers and string layout of the corpus's Windows XP and Server 2003 logs; the 6009
//!   strings take the Windows 2000 version `5.00.` `2195`.
//! - NtServicePack 4371 mirrors the event the corpus's Windows XP log holds for its service
//!   pack install (strings: OS, new SP, replaced SP); no source shows what Windows 2000 SP4
//!   itself logged.
//! - The database engine start events (100, 102) follow the ESENT string layout of the
//!   Server 2003 log (process, pid, instance prefix, version parts); the source name `ESE98`
//!   for Exchange 2000 is not confirmed.
//! - MSExchangeKMS 5085 carries KB 818952's data and message; other builds in its data are
//!   the KB's shape with the build swapped. Its qualifiers (0xc000, the error severity bits)
//!   are assumed: the KB shows only the code.
//! - KMS is started by hand (Service Control Manager 7035 with the administrator's SID). The
//!   KB's title says the service does not start while its event text says it started but
//!   cannot work; the samples log no "running" state for a failed start, so only a working
//!   KMS shows 7036 "running".
//! - `svcpack.log` follows the line shapes of real update.exe setup logs (see
//!   `logwriter::setup_log`); the update.exe version and the progress wording are
//!   illustrative.
//! - The noise (Userenv 1000, MSExchangeIS 1000, the services starting) is illustrative.

use super::setup_log::{write_run, SetupRun};
use anyhow::{Context, Result};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use evtdoctor_parsers::{Event, Level};

/// The description Event Viewer shows for MSExchangeKMS 5085 (KB 818952; "can not" is the
/// event's own spelling).
pub const KMS_5085_MESSAGE: &str = "KMS can not mount the key database. Either the database is missing or it is corrupted. The service started, but Admin/User can not do any operation except restoring the database from a backup set. After restoring, please stop and restart the service.";

/// Exchange 2000 SP3, the build the KB's event names.
pub const EXCHANGE_2000_SP3: &str = "6.0.6249.0";
/// Exchange 2000 SP2.
pub const EXCHANGE_2000_SP2: &str = "6.0.5762.0";

/// The display name Service Control Manager events give the KMS service.
pub const KMS_SERVICE: &str = "Microsoft Exchange Key Management Service";

/// The local Administrator of the sample servers' (made-up) domain.
const ADMINISTRATOR: &str = "S-1-5-21-1177238915-1957994488-725345543-500";

/// One thing that happened on the server, at a local time `YYYY-MM-DD HH:MM:SS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Windows starts on service pack `service_pack`; the Exchange store starts after it.
    Boot { at: &'static str, service_pack: u8 },
    /// A clean shutdown.
    Shutdown { at: &'static str },
    /// A Windows 2000 service pack is installed over another.
    ServicePackInstalled { at: &'static str, from: u8, to: u8 },
    /// An administrator starts KMS and it runs.
    KmsStarts { at: &'static str },
    /// An administrator starts KMS and it cannot mount its database (event 5085), with no
    /// "running" state logged.
    KmsFails { at: &'static str },
    /// Group policy cannot find the domain controller (everyday noise).
    PolicyError { at: &'static str },
}

/// One server's history and what the bundle shows.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// Folder name under `samples/`.
    pub name: &'static str,
    /// One line for the samples README.
    pub summary: &'static str,
    /// True when the logs show the KB 818952 case.
    pub positive: bool,
    pub computer: &'static str,
    /// The Exchange 2000 build the store and KMS report.
    pub exchange_build: &'static str,
    /// What happened, oldest first.
    pub steps: fn() -> Vec<Step>,
}

/// A server's two logs, oldest event first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLogs {
    pub system: Vec<Event>,
    pub application: Vec<Event>,
}

/// Shorthands that keep the step lists one line per step.
fn boot(at: &'static str, service_pack: u8) -> Step {
    Step::Boot { at, service_pack }
}

fn shutdown(at: &'static str) -> Step {
    Step::Shutdown { at }
}

fn kms_starts(at: &'static str) -> Step {
    Step::KmsStarts { at }
}

fn kms_fails(at: &'static str) -> Step {
    Step::KmsFails { at }
}

/// Three weeks on SP3 with weekly restarts and KMS running, as every upgrading server starts.
fn sp3_weeks() -> Vec<Step> {
    vec![
        boot("2003-06-02 07:58:12", 3),
        kms_starts("2003-06-02 08:06:40"),
        Step::PolicyError {
            at: "2003-06-05 13:21:07",
        },
        shutdown("2003-06-09 06:55:31"),
        boot("2003-06-09 06:58:49", 3),
        kms_starts("2003-06-09 07:04:15"),
        shutdown("2003-06-16 06:51:02"),
        boot("2003-06-16 06:54:26", 3),
        kms_starts("2003-06-16 07:01:58"),
    ]
}

/// Windows 2000 SP4 goes on in the evening of July 1st, 2003, and the server restarts.
fn sp4_upgrade() -> Vec<Step> {
    vec![
        Step::ServicePackInstalled {
            at: "2003-07-01 21:40:33",
            from: 3,
            to: 4,
        },
        shutdown("2003-07-01 21:42:10"),
        boot("2003-07-01 21:45:37", 4),
    ]
}

/// The KB case: after the SP4 boot KMS cannot mount its database.
fn kms_sp4_steps() -> Vec<Step> {
    [
        sp3_weeks(),
        sp4_upgrade(),
        vec![kms_fails("2003-07-01 21:52:04")],
    ]
    .concat()
}

/// After the fix: the KMS database was defragmented (eseutil /d logs nothing in these logs),
/// the server restarted and KMS runs.
fn kms_sp4_fixed_steps() -> Vec<Step> {
    [
        kms_sp4_steps(),
        vec![
            shutdown("2003-07-02 09:12:45"),
            boot("2003-07-02 09:16:03", 4),
            kms_starts("2003-07-02 09:23:30"),
        ],
    ]
    .concat()
}

/// KMS fails while the server still runs SP3 (a damaged database, restored from backup the
/// same day), then SP4 goes on and KMS keeps running.
fn kms_before_sp4_steps() -> Vec<Step> {
    [
        sp3_weeks(),
        vec![
            kms_fails("2003-06-18 10:31:22"),
            kms_starts("2003-06-18 15:47:09"),
        ],
        sp4_upgrade(),
        vec![kms_starts("2003-07-01 21:51:40")],
    ]
    .concat()
}

/// An SP4 server whose KMS starts at every boot.
fn healthy_steps() -> Vec<Step> {
    vec![
        boot("2003-09-01 07:58:12", 4),
        kms_starts("2003-09-01 08:05:51"),
        Step::PolicyError {
            at: "2003-09-04 13:21:07",
        },
        shutdown("2003-09-08 06:55:31"),
        boot("2003-09-08 06:58:49", 4),
        kms_starts("2003-09-08 07:04:15"),
    ]
}

/// Every scenario the generator writes.
pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "kms-sp4",
        summary: "The KB 818952 case: Windows 2000 SP3 to SP4 on an Exchange 2000 SP3 server; \
                  after the SP4 boot KMS logs 5085 with the KB's exact data.",
        positive: true,
        computer: "EXCH01",
        exchange_build: EXCHANGE_2000_SP3,
        steps: kms_sp4_steps,
    },
    Scenario {
        name: "kms-sp4-fixed",
        summary: "kms-sp4 continued: the next morning (after eseutil /d on kmsmdb.edb) the \
                  server restarts and KMS enters the running state; no further 5085.",
        positive: true,
        computer: "EXCH01",
        exchange_build: EXCHANGE_2000_SP3,
        steps: kms_sp4_fixed_steps,
    },
    Scenario {
        name: "sp4-no-exchange-sp3",
        summary: "Negative: the same SP3 to SP4 history and a 5085, but Exchange is 2000 SP2 \
                  (6.0.5762.0 in the store's engine events and in the 5085 data), so the KB's \
                  condition (Exchange SP3) does not hold.",
        positive: false,
        computer: "EXCH02",
        exchange_build: EXCHANGE_2000_SP2,
        steps: kms_sp4_steps,
    },
    Scenario {
        name: "kms-before-sp4",
        summary: "Negative: KMS logs 5085 on June 18th while the server still runs SP3; SP4 \
                  comes two weeks later and KMS starts after it.",
        positive: false,
        computer: "EXCH03",
        exchange_build: EXCHANGE_2000_SP3,
        steps: kms_before_sp4_steps,
    },
    Scenario {
        name: "healthy",
        summary: "Negative: a Windows 2000 SP4 server with Exchange 2000 SP3 whose KMS starts \
                  at every boot; no 5085.",
        positive: false,
        computer: "EXCH04",
        exchange_build: EXCHANGE_2000_SP3,
        steps: healthy_steps,
    },
];

impl Scenario {
    /// The System and Application events of the scenario, record numbers from 1 per log.
    pub fn logs(&self) -> Result<ServerLogs> {
        let mut logs = ServerLogs {
            system: Vec::new(),
            application: Vec::new(),
        };
        for (index, step) in (self.steps)().into_iter().enumerate() {
            self.expand(index, step, &mut logs)
                .with_context(|| format!("{} step {index} ({step:?})", self.name))?;
        }
        for (log, events) in [
            ("System", &mut logs.system),
            ("Application", &mut logs.application),
        ] {
            for (number, event) in (1..).zip(events.iter_mut()) {
                event.record_number = Some(number);
                event.log = Some(log.into());
                event.computer = Some(self.computer.into());
            }
        }
        Ok(logs)
    }

    /// The `svcpack.log` the scenario's service-pack installs leave in `%windir%`, if any:
    /// each run starts 9 minutes 32 seconds before its NtServicePack 4371 and exits
    /// successfully 3 seconds after it.
    pub fn setup_log(&self) -> Result<Option<String>> {
        let mut text = String::new();
        for step in (self.steps)() {
            let Step::ServicePackInstalled { at, to, .. } = step else {
                continue;
            };
            let installed = local_time(at)?;
            let progress_line = format!("Installing Windows 2000 {}", service_pack(to));
            let run = SetupRun {
                started: installed - Duration::milliseconds(572_000),
                installer: "Service Pack",
                command_line: "-u",
                update_exe: r"c:\w2ksp\i386\update\update.exe",
                update_version: "5.4.16.0",
                progress: &[(14.203, progress_line.as_str())],
                exit_code: Some(0),
                finished_after: 575.0,
            };
            write_run(&run, &mut text);
        }
        Ok((!text.is_empty()).then_some(text))
    }

    /// The events one step adds.
    fn expand(&self, index: usize, step: Step, logs: &mut ServerLogs) -> Result<()> {
        match step {
            Step::Boot { at, service_pack } => {
                let t = local_time(at)?;
                logs.system.extend([
                    event_log_6009(t, service_pack),
                    classic(t, "EventLog", 6005, 0x8000, Level::Information, &[]),
                    service_running(t + Duration::seconds(41), "Telephony"),
                    service_running(
                        t + Duration::seconds(44),
                        "Remote Access Connection Manager",
                    ),
                ]);
                logs.application
                    .extend(self.store_start(t + Duration::seconds(72), index));
            }
            Step::Shutdown { at } => logs.system.push(classic(
                local_time(at)?,
                "EventLog",
                6006,
                0x8000,
                Level::Information,
                &[],
            )),
            Step::ServicePackInstalled { at, from, to } => {
                let mut installed = classic(
                    local_time(at)?,
                    "NtServicePack",
                    4371,
                    0x400e,
                    Level::Information,
                    &["Windows 2000", &service_pack(to), &service_pack(from)],
                );
                installed.user = Some(ADMINISTRATOR.into());
                logs.system.push(installed);
            }
            Step::KmsStarts { at } => {
                let t = local_time(at)?;
                logs.system.push(start_control(t));
                logs.system
                    .push(service_running(t + Duration::seconds(3), KMS_SERVICE));
            }
            Step::KmsFails { at } => {
                let t = local_time(at)?;
                logs.system.push(start_control(t));
                logs.application
                    .push(self.kms_5085(t + Duration::seconds(6)));
            }
            Step::PolicyError { at } => logs.application.push(classic(
                local_time(at)?,
                "Userenv",
                1000,
                0xc000,
                Level::Error,
                &["Windows cannot determine the user or computer name. Return value (1722)."],
            )),
        }
        Ok(())
    }

    /// The Exchange store's database engine starting (100, 102) and the store's own notice.
    /// `boot` varies the process id from boot to boot.
    fn store_start(&self, t: DateTime<Utc>, boot: usize) -> [Event; 3] {
        let pid = (1800 + boot * 148 % 1200).to_string();
        let version: Vec<&str> = self.exchange_build.split('.').collect();
        let engine = |id, strings: Vec<&str>| {
            let mut e = classic(t, "ESE98", id, 0, Level::Information, &strings);
            e.category = Some(1); // "General", as ESENT writes it
            e
        };
        [
            engine(
                100,
                [&["Information Store", &pid, ""][..], &version].concat(),
            ),
            engine(
                102,
                [&["Information Store", &pid, "", "0"][..], &version].concat(),
            ),
            classic(
                t + Duration::seconds(9),
                "MSExchangeIS",
                1000,
                0x4000,
                Level::Information,
                &[],
            ),
        ]
    }

    /// KMS cannot mount its database: the KB's event, with this server's Exchange build.
    fn kms_5085(&self, t: DateTime<Utc>) -> Event {
        let mut e = classic(t, "MSExchangeKMS", 5085, 0xc000, Level::Error, &[]);
        e.data = Some(kms_5085_data(self.exchange_build));
        e.message = Some(KMS_5085_MESSAGE.into());
        e
    }
}

/// The Data of MSExchangeKMS event 5085 for an Exchange build: KB 818952's layout, the build
/// then three kmserver.cpp markers, each NUL-terminated.
pub fn kms_5085_data(exchange_build: &str) -> Vec<u8> {
    let mut data = format!("{exchange_build} PT").into_bytes();
    for marker in [
        "kmserver.cpp@1653DD1",
        "kmserver.cpp@1120DHa84",
        "kmserver.cpp@704DD2",
    ] {
        data.push(0);
        data.extend_from_slice(marker.as_bytes());
    }
    data.push(0);
    data
}

/// `2003-07-01 21:45:37` read as UTC.
fn local_time(text: &str) -> Result<DateTime<Utc>> {
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
        .with_context(|| format!("scenario time {text:?}"))?;
    Ok(naive.and_utc())
}

fn service_pack(level: u8) -> String {
    format!("Service Pack {level}")
}

/// A classic event written and generated in the same second, without a user or data.
fn classic(
    t: DateTime<Utc>,
    source: &str,
    event_id: u16,
    qualifiers: u16,
    level: Level,
    strings: &[&str],
) -> Event {
    let mut e = Event::new(source, event_id, level);
    e.qualifiers = Some(qualifiers);
    e.category = Some(0);
    e.time_generated = Some(t);
    e.time_written = Some(t);
    e.strings = strings.iter().map(|s| s.to_string()).collect();
    e.data = Some(Vec::new());
    e
}

/// The boot banner: Windows version, build, service pack, kernel flavour.
fn event_log_6009(t: DateTime<Utc>, service_pack_level: u8) -> Event {
    classic(
        t,
        "EventLog",
        6009,
        0x8000,
        Level::Information,
        &[
            "5.00.",
            "2195",
            &service_pack(service_pack_level),
            "Uniprocessor Free",
        ],
    )
}

fn service_running(t: DateTime<Utc>, service: &str) -> Event {
    classic(
        t,
        "Service Control Manager",
        7036,
        0x4000,
        Level::Information,
        &[service, "running"],
    )
}

/// The administrator asks Service Control Manager to start KMS.
fn start_control(t: DateTime<Utc>) -> Event {
    let mut e = classic(
        t,
        "Service Control Manager",
        7035,
        0x4000,
        Level::Information,
        &[KMS_SERVICE, "start"],
    );
    e.user = Some(ADMINISTRATOR.into());
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Data of MSExchangeKMS event 5085 as KB 818952 prints it (78 bytes).
    const KB_818952_DATA: &[u8] =
        b"6.0.6249.0 PT\0kmserver.cpp@1653DD1\0kmserver.cpp@1120DHa84\0kmserver.cpp@704DD2\0";

    #[test]
    fn the_sp3_build_gives_the_kbs_exact_data() {
        assert_eq!(kms_5085_data(EXCHANGE_2000_SP3), KB_818952_DATA);
        assert_eq!(KB_818952_DATA.len(), 78);
    }

    #[test]
    fn every_scenario_builds_in_time_order() {
        for scenario in SCENARIOS {
            let logs = scenario.logs().unwrap();
            for events in [&logs.system, &logs.application] {
                let times: Vec<_> = events.iter().map(|e| e.time_generated).collect();
                assert!(times.is_sorted(), "{}", scenario.name);
            }
        }
    }

    #[test]
    fn kms_sp4_boots_show_sp3_then_sp4() {
        let logs = SCENARIOS[0].logs().unwrap();
        let banners: Vec<&str> = logs
            .system
            .iter()
            .filter(|e| e.event_id == 6009)
            .map(|e| e.strings[2].as_str())
            .collect();
        assert_eq!(
            banners,
            [
                "Service Pack 3",
                "Service Pack 3",
                "Service Pack 3",
                "Service Pack 4"
            ]
        );
    }
}
