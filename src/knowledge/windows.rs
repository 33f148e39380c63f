//! Windows releases and the service-pack level, as boot events (EventLog 6009) and service-pack
//! installs (NtServicePack 4371) state them.
//!
//! Sources (domain-facts.md §5): kernel versions from the Inno Setup Windows version notes
//! (jrsoftware.org ishelp winvernotes) and Wikipedia's Winver list; the 6009 string layout
//! `['5.01.', '2600', 'Service Pack 2', 'Uniprocessor Free']` observed in the corpus XP and
//! Server 2003 logs. Service packs do not change the build number (CSDVersion is separate).

use serde::Serialize;
use std::fmt;

/// One Windows release by kernel version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowsRelease {
    pub major: u32,
    pub minor: u32,
    pub build: u32,
    pub name: &'static str,
}

pub const WINDOWS_RELEASES: &[WindowsRelease] = &[
    WindowsRelease {
        major: 4,
        minor: 0,
        build: 1381,
        name: "Windows NT 4.0",
    },
    WindowsRelease {
        major: 5,
        minor: 0,
        build: 2195,
        name: "Windows 2000",
    },
    WindowsRelease {
        major: 5,
        minor: 1,
        build: 2600,
        name: "Windows XP",
    },
    WindowsRelease {
        major: 5,
        minor: 2,
        build: 3790,
        name: "Windows Server 2003",
    },
];

/// The Windows 2000 kernel build, the release KB 818952 is about.
pub const WINDOWS_2000_BUILD: u32 = 2195;

/// An operating system version with its service-pack level, as a boot record states it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OsVersion {
    /// Release name when the build is in [`WINDOWS_RELEASES`].
    pub name: Option<&'static str>,
    pub major: u32,
    pub minor: u32,
    pub build: u32,
    /// 0 when the boot record names no service pack.
    pub service_pack: u32,
}

impl OsVersion {
    fn new(major: u32, minor: u32, build: u32, service_pack: u32) -> OsVersion {
        let name = WINDOWS_RELEASES
            .iter()
            .find(|r| r.major == major && r.minor == minor && r.build == build)
            .map(|r| r.name);
        OsVersion {
            name,
            major,
            minor,
            build,
            service_pack,
        }
    }

    /// The OS a 6009 boot record names. Insertion strings first (`5.00.`, `2195`,
    /// `Service Pack 4`, ...); a rendered message
    /// (`... Windows (R) 5.00. 2195 Service Pack 4 Uniprocessor Free.`) when they are missing.
    pub fn from_boot_record(strings: &[String], message: Option<&str>) -> Option<OsVersion> {
        if let (Some(version), Some(build)) = (strings.first(), strings.get(1)) {
            if let Some(os) = Self::from_parts(version, build, strings.get(2).map(String::as_str)) {
                return Some(os);
            }
        }
        let words: Vec<&str> = message?.split_whitespace().collect();
        words.windows(2).enumerate().find_map(|(i, pair)| {
            let rest = words.get(i + 2..).unwrap_or_default().join(" ");
            Self::from_parts(pair[0], pair[1], Some(&rest))
        })
    }

    /// `5.00.` + `2195` + `Service Pack 4 ...`.
    fn from_parts(version: &str, build: &str, service_pack: Option<&str>) -> Option<OsVersion> {
        let (major, minor) = version.trim().trim_end_matches('.').split_once('.')?;
        let build = build.trim();
        if build.is_empty() || !build.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(OsVersion::new(
            major.parse().ok()?,
            minor.parse().ok()?,
            build.parse().ok()?,
            service_pack.and_then(service_pack_number).unwrap_or(0),
        ))
    }

    /// The OS an NtServicePack 4371 install names (`Windows XP`, `Service Pack 3`), when the
    /// name is in the release table.
    pub fn from_release_name(name: &str, service_pack: u32) -> Option<OsVersion> {
        let release = WINDOWS_RELEASES
            .iter()
            .find(|r| r.name.eq_ignore_ascii_case(name.trim()))?;
        Some(OsVersion::new(
            release.major,
            release.minor,
            release.build,
            service_pack,
        ))
    }

    /// Same release (kernel version), whatever the service pack.
    pub fn same_release(&self, other: &OsVersion) -> bool {
        (self.major, self.minor, self.build) == (other.major, other.minor, other.build)
    }

    pub fn is_windows_2000(&self) -> bool {
        (self.major, self.minor, self.build) == (5, 0, WINDOWS_2000_BUILD)
    }
}

impl fmt::Display for OsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.name.unwrap_or("Windows");
        write!(f, "{name} {}.{}.{}", self.major, self.minor, self.build)?;
        match self.service_pack {
            0 => f.write_str(" (no service pack)"),
            sp => write!(f, " SP{sp}"),
        }
    }
}

/// `Service Pack 4` (anywhere in the text) → 4.
pub fn service_pack_number(text: &str) -> Option<u32> {
    let lower = text.to_ascii_lowercase();
    let after = &lower[lower.find("service pack")? + "service pack".len()..];
    let digits: String = after
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn reads_boot_record_strings_as_logged() {
        let xp = OsVersion::from_boot_record(
            &strings(&["5.01.", "2600", "Service Pack 2", "Uniprocessor Free"]),
            None,
        )
        .unwrap();
        assert_eq!(xp.to_string(), "Windows XP 5.1.2600 SP2");
        let w2k = OsVersion::from_boot_record(
            &strings(&["5.00.", "2195", "", "Uniprocessor Free"]),
            None,
        )
        .unwrap();
        assert_eq!(w2k.to_string(), "Windows 2000 5.0.2195 (no service pack)");
        assert!(w2k.is_windows_2000());
    }

    #[test]
    fn reads_a_rendered_boot_message_when_strings_are_missing() {
        let os = OsVersion::from_boot_record(
            &[],
            Some("Microsoft (R) Windows (R) 5.00. 2195 Service Pack 4 Uniprocessor Free."),
        )
        .unwrap();
        assert_eq!(os.to_string(), "Windows 2000 5.0.2195 SP4");
        assert_eq!(
            OsVersion::from_boot_record(&[], Some("no version here")),
            None
        );
    }

    #[test]
    fn names_service_pack_installs() {
        let os = OsVersion::from_release_name("windows xp", 3).unwrap();
        assert_eq!(os.build, 2600);
        assert_eq!(service_pack_number("Service Pack 3"), Some(3));
        assert_eq!(service_pack_number("none"), None);
        assert_eq!(OsVersion::from_release_name("Windows 95", 1), None);
    }
}
