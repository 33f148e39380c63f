//! A built-in message catalog for the events the rules use, so a report can show a readable
//! description when a log holds only insertion strings (no message DLL on this machine).
//!
//! The descriptions are the project's own short wording of each event's meaning, not the
//! Windows or Exchange message texts. `%n` stands for the n-th insertion string.
//! Sources per group (domain-facts.md): EventLog §5 (KB 196452); MSExchangeKMS §1, §3
//! (KB 818952, Exchange 5.5 KBs); ESE §1a, §6 (KB 215297, KB 810411, TechNet bb217336);
//! NtServicePack §5 (observed in the corpus XP log). Service Control Manager meanings are
//! general Windows knowledge.

/// Event sources that name the same component.
pub const EVENT_LOG: &[&str] = &["EventLog"];
pub const KMS: &[&str] = &["MSExchangeKMS"];
/// Exchange's database engine: ESE97 (5.5), ESE98 (2000/2003 era), ESE (later builds).
pub const EXCHANGE_ESE: &[&str] = &["ESE", "ESE98", "ESE97"];
pub const SERVICE_CONTROL_MANAGER: &[&str] = &["Service Control Manager"];
pub const SERVICE_PACK_SETUP: &[&str] = &["NtServicePack"];

/// One catalog entry: which events it covers and what they mean.
#[derive(Debug, Clone, Copy)]
pub struct MessageEntry {
    pub sources: &'static [&'static str],
    pub event_id: u16,
    pub description: &'static str,
}

const fn entry(
    sources: &'static [&'static str],
    event_id: u16,
    description: &'static str,
) -> MessageEntry {
    MessageEntry {
        sources,
        event_id,
        description,
    }
}

pub const CATALOG: &[MessageEntry] = &[
    entry(
        EVENT_LOG,
        6005,
        "The Event Log service started (the system is booting).",
    ),
    entry(
        EVENT_LOG,
        6006,
        "The Event Log service stopped (a clean shutdown).",
    ),
    entry(
        EVENT_LOG,
        6008,
        "The shutdown before this boot (at %1 on %2) was not clean.",
    ),
    entry(
        EVENT_LOG,
        6009,
        "Booted operating system: version %1 build %2 %3, %4.",
    ),
    entry(
        KMS,
        5085,
        "The Key Management Service cannot mount its key database (missing or damaged); \
         nothing but a restore from backup works until that is fixed.",
    ),
    entry(
        KMS,
        5057,
        "The Key Management Service was given a startup password that is not valid.",
    ),
    entry(EXCHANGE_ESE, 100, "The database engine started."),
    entry(EXCHANGE_ESE, 101, "The database engine stopped."),
    entry(
        EXCHANGE_ESE,
        102,
        "The database engine started a new instance.",
    ),
    entry(EXCHANGE_ESE, 103, "A database engine instance stopped."),
    entry(
        EXCHANGE_ESE,
        104,
        "A database engine instance stopped with an error.",
    ),
    entry(
        EXCHANGE_ESE,
        172,
        "The database engine starts rebuilding secondary indexes because the Windows \
         version changed since they were built.",
    ),
    entry(
        EXCHANGE_ESE,
        173,
        "Index cleanup after a Windows version change is under way.",
    ),
    entry(
        EXCHANGE_ESE,
        174,
        "A secondary index will be rebuilt as a precaution after a Windows version change.",
    ),
    entry(
        EXCHANGE_ESE,
        474,
        "A database page failed its checksum check when read (-1018): the file is damaged.",
    ),
    entry(
        SERVICE_CONTROL_MANAGER,
        7000,
        "The %1 service failed to start: %2",
    ),
    entry(
        SERVICE_CONTROL_MANAGER,
        7001,
        "The %1 service did not start because %2, which it depends on, failed: %3",
    ),
    entry(
        SERVICE_CONTROL_MANAGER,
        7023,
        "The %1 service ended with an error: %2",
    ),
    entry(
        SERVICE_CONTROL_MANAGER,
        7024,
        "The %1 service ended with service-specific error %2.",
    ),
    entry(SERVICE_CONTROL_MANAGER, 7036, "The %1 service is now %2."),
    entry(
        SERVICE_PACK_SETUP,
        4371,
        "%1 %2 was installed (replacing %3).",
    ),
    entry(SERVICE_PACK_SETUP, 4377, "Hotfix %2 was installed on %1."),
];

/// True when `source` is one of `names` (event sources compare case-insensitively).
pub fn source_is(source: &str, names: &[&str]) -> bool {
    names.iter().any(|n| n.eq_ignore_ascii_case(source))
}

/// The catalog entry for an event, if the catalog has one.
pub fn lookup(source: &str, event_id: u16) -> Option<&'static MessageEntry> {
    CATALOG
        .iter()
        .find(|e| e.event_id == event_id && source_is(source, e.sources))
}

/// The catalog description with the insertion strings put in place. A `%n` without a
/// string stays as written, so a missing value is visible rather than silently dropped.
pub fn describe(source: &str, event_id: u16, strings: &[String]) -> Option<String> {
    let template = lookup(source, event_id)?.description;
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let value = after[..digits]
            .parse::<usize>()
            .ok()
            .and_then(|n| strings.get(n.checked_sub(1)?));
        match value {
            Some(value) => out.push_str(value.trim()),
            None => out.push_str(&rest[at..at + 1 + digits]),
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_is_unique() {
        for (i, a) in CATALOG.iter().enumerate() {
            for b in &CATALOG[i + 1..] {
                assert!(
                    a.event_id != b.event_id || a.sources != b.sources,
                    "duplicate {}",
                    a.event_id
                );
            }
        }
    }

    #[test]
    fn fills_insertion_strings() {
        let strings = vec!["Windows XP".to_owned(), "KB943729".to_owned()];
        assert_eq!(
            describe("ntservicepack", 4377, &strings).unwrap(),
            "Hotfix KB943729 was installed on Windows XP."
        );
        assert_eq!(
            describe("Service Control Manager", 7000, &strings[..1]).unwrap(),
            "The Windows XP service failed to start: %2"
        );
        assert!(describe("MSExchangeKMS", 5085, &[])
            .unwrap()
            .contains("key database"));
        assert!(describe("ESE98", 172, &[]).is_some());
        assert_eq!(describe("ESENT", 172, &[]), None);
    }
}
