//! Exchange Server releases by build number, and the build an event states.
//!
//! Sources (domain-facts.md §4): nmap-style service signature list, a Python version table,
//! gist mxpv/3993088 (citing KB 158530), righel/ms-exchange-version-nse, the Exchange Server
//! Analyzer build ranges (aa995882) and the post-SP3 rollup announcement; 6.0.6249.0 also in
//! the KB 818952 event data.

use super::leading_version;
use evtdoctor_parsers::payload::ProductBuild;
use serde::Serialize;
use std::fmt;

/// One released Exchange build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExchangeRelease {
    pub major: u32,
    pub minor: u32,
    pub build: u32,
    pub product: &'static str,
    pub level: &'static str,
    pub note: &'static str,
}

const fn release(
    version: (u32, u32, u32),
    product: &'static str,
    level: &'static str,
    note: &'static str,
) -> ExchangeRelease {
    ExchangeRelease {
        major: version.0,
        minor: version.1,
        build: version.2,
        product,
        level,
        note,
    }
}

const E55: &str = "Exchange Server 5.5";
const E2000: &str = "Exchange 2000 Server";
const E2003: &str = "Exchange Server 2003";

/// Sorted by version.
pub const EXCHANGE_RELEASES: &[ExchangeRelease] = &[
    release((5, 5, 1960), E55, "RTM", "signature lists, KB 158530"),
    release((5, 5, 2232), E55, "SP1", "signature lists, KB 158530"),
    release((5, 5, 2448), E55, "SP2", "signature lists, KB 158530"),
    release((5, 5, 2650), E55, "SP3", "signature lists, KB 158530"),
    release(
        (5, 5, 2653),
        E55,
        "SP4",
        "signature lists (one gives 5.5.2653.23)",
    ),
    release(
        (6, 0, 4417),
        E2000,
        "RTM",
        "Nov 2000; 2000a has the same build",
    ),
    release((6, 0, 4712), E2000, "SP1", "Jun 2001"),
    release((6, 0, 5762), E2000, "SP2", "Nov 2001"),
    release((6, 0, 6249), E2000, "SP3", "Jul 2002; KB 818952 event data"),
    release((6, 0, 6487), E2000, "post-SP3 update", "Sep 2003"),
    release((6, 0, 6556), E2000, "post-SP3 update", "Apr 2004"),
    release(
        (6, 0, 6603),
        E2000,
        "post-SP3 rollup",
        "Aug 2004, KB 870540",
    ),
    release(
        (6, 0, 6620),
        E2000,
        "post-SP3 update",
        "2008 (6620.5 Mar, 6620.7 Aug)",
    ),
    release((6, 5, 6944), E2003, "RTM", "Sep 2003"),
    release((6, 5, 7226), E2003, "SP1", "final build 7226.6"),
    release((6, 5, 7638), E2003, "SP2", "banners show 7638.1"),
    release((6, 5, 7653), E2003, "post-SP2 update", "Mar 2008"),
    release((6, 5, 7654), E2003, "post-SP2 update", "Aug 2008"),
];

/// Exchange 5.5 to 2003 builds are four-digit numbers.
const MIN_BUILD: u32 = 1000;
const MAX_BUILD: u32 = 9999;

/// The Exchange 2000 SP3 build the KMS failure of KB 818952 was reported with.
pub const EXCHANGE_2000_SP3: (u32, u32, u32) = (6, 0, 6249);

/// An Exchange build as an event states it (`6.0.6249.0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExchangeBuild {
    pub major: u32,
    pub minor: u32,
    pub build: u32,
    pub revision: u32,
}

impl ExchangeBuild {
    /// The build at the start of `text` (`6.0.6249.0 PT`), if its product version is one of
    /// the Exchange versions in the table (5.5, 6.0, 6.5) and its build number has the four
    /// digits every release has (so `6.0.12.4`, an address, is not taken for a build).
    pub fn parse_leading(text: &str) -> Option<ExchangeBuild> {
        let [major, minor, build, revision] = leading_version(text)?;
        ExchangeBuild::checked(major, minor, build, revision)
    }

    /// The build a decoded event payload names (`6.0.6249.0 PT`), if it is an Exchange one.
    pub fn from_payload(build: &ProductBuild) -> Option<ExchangeBuild> {
        ExchangeBuild::checked(build.major, build.minor, build.build, build.revision)
    }

    /// A version as an Exchange build, when its product version is in the table and the
    /// build number has four digits.
    fn checked(major: u32, minor: u32, build: u32, revision: u32) -> Option<ExchangeBuild> {
        let known_product = EXCHANGE_RELEASES
            .iter()
            .any(|r| (r.major, r.minor) == (major, minor));
        (known_product && (MIN_BUILD..=MAX_BUILD).contains(&build)).then_some(ExchangeBuild {
            major,
            minor,
            build,
            revision,
        })
    }

    pub fn is_exchange_2000_sp3(&self) -> bool {
        (self.major, self.minor, self.build) == EXCHANGE_2000_SP3
    }

    /// What the build is: a release from the table, or a build between two of them.
    pub fn describe(&self) -> String {
        let key = (self.major, self.minor, self.build);
        let same_product = EXCHANGE_RELEASES
            .iter()
            .filter(|r| (r.major, r.minor) == (self.major, self.minor));
        let mut before = None;
        for r in same_product {
            if (r.major, r.minor, r.build) == key {
                return format!("{} {}", r.product, r.level);
            }
            if r.build < self.build {
                before = Some(r);
            }
        }
        match before {
            Some(r) => format!("{} build after {} ({})", r.product, r.level, r.build),
            None => "an Exchange build older than any known release".to_owned(),
        }
    }
}

impl fmt::Display for ExchangeBuild {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{}.{}.{}",
            self.major, self.minor, self.build, self.revision
        )
    }
}

impl Serialize for ExchangeBuild {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        let keys: Vec<_> = EXCHANGE_RELEASES
            .iter()
            .map(|r| (r.major, r.minor, r.build))
            .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn reads_and_names_builds() {
        let sp3 = ExchangeBuild::parse_leading("6.0.6249.0 PT").unwrap();
        assert!(sp3.is_exchange_2000_sp3());
        assert_eq!(sp3.to_string(), "6.0.6249.0");
        assert_eq!(sp3.describe(), "Exchange 2000 Server SP3");
        let rollup = ExchangeBuild::parse_leading("6.0.6603.1").unwrap();
        assert!(!rollup.is_exchange_2000_sp3());
        assert_eq!(rollup.describe(), "Exchange 2000 Server post-SP3 rollup");
        let hotfix = ExchangeBuild::parse_leading("6.0.6300.0").unwrap();
        assert_eq!(
            hotfix.describe(),
            "Exchange 2000 Server build after SP3 (6249)"
        );
        // A Windows version or an address is not an Exchange build.
        assert_eq!(ExchangeBuild::parse_leading("5.0.2195.6717"), None);
        assert_eq!(ExchangeBuild::parse_leading("6.0.12.4"), None);
    }
}
