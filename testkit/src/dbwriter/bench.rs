//! A large database for the benchmarks (`cargo run --release -p evtdoctor-testkit --example
//! bench_logs -- ese OUT MB`): one event-archive table whose rows are computed from their id, so the writer walks
//! them once per tree without anything holding them. Every eighth row is deleted but left in
//! place. Each row has a separated long binary payload of 2-6 KiB, so most of the file is the
//! long-value tree, as in a KMS database full of key blobs.

use super::random::Random;
use super::tables::{Index, Row, RowSource, Table};
use super::{write_file, FileSpec, Written};
use evtdoctor_parsers::ese::header::OsVersion;
use evtdoctor_parsers::ese::value::{ColumnType, Value};
use evtdoctor_parsers::ese::write::columns::Column;
use evtdoctor_parsers::ese::write::header::{log_time, HeaderSpec};
use std::path::Path;

/// Which page format the benchmark database uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchFormat {
    /// Exchange 2000's: revision 9, 4 KiB pages, XOR checksums.
    Ese98,
    /// A current one: revision 0x14, 8 KiB pages, ECC checksums.
    Modern,
}

/// Rows `1..=count`, each computed from its id.
pub struct BenchRows {
    pub count: u32,
}

/// File bytes per row: a little under the 6,250 measured on 4 KiB pages (record, payload
/// segments, index entry), so the file is at least the size asked for.
const ROW_BYTES: u64 = 6144;
/// OLE date of 2003-07-01, plus 1/1024 day (84.375 s, exact in a double) per row.
const FIRST_DAY: f64 = 37803.0;

impl BenchRows {
    /// Enough rows for about `megabytes` MiB of file.
    pub fn for_megabytes(megabytes: u64) -> BenchRows {
        let count = (megabytes * 1024 * 1024 / ROW_BYTES).clamp(1, u64::from(i32::MAX as u32));
        BenchRows {
            count: count as u32,
        }
    }

    fn row(id: u32) -> Row {
        let mut random = Random::new(u64::from(id).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let payload_len = 2048 + random.below(4096) as usize;
        let payload = random.bytes(payload_len);
        let digest = random.bytes(16);
        Row {
            values: vec![
                Value::Int(i64::from(id)),
                Value::DateTime(FIRST_DAY + f64::from(id) / 1024.0),
                Value::Int(random.below(5) as i64),
                Value::Binary(format!("MSExchangeKMS event {id}").into_bytes()),
                Value::Binary(digest),
                Value::Binary(payload),
            ],
            deleted: id.is_multiple_of(8),
        }
    }
}

impl RowSource for BenchRows {
    fn rows(&self) -> Box<dyn Iterator<Item = Row> + '_> {
        Box::new((1..=self.count).map(BenchRows::row))
    }
}

pub fn bench_table(rows: &BenchRows) -> Table<'_> {
    let columns = [
        ("EventId", ColumnType::LONG),
        ("Logged", ColumnType::DATE_TIME),
        ("Severity", ColumnType::LONG),
        ("Source", ColumnType::TEXT),
        ("Digest", ColumnType::BINARY),
        ("Payload", ColumnType::LONG_BINARY),
    ];
    Table {
        name: "EventArchive".into(),
        primary_index: "EventIdIndex".into(),
        columns: columns
            .iter()
            .map(|&(name, kind)| Column {
                name: name.into(),
                kind,
            })
            .collect(),
        indexes: vec![Index {
            name: "LoggedIndex".into(),
            column: 1,
        }],
        rows,
        spare_pages: 64,
    }
}

pub fn bench_file_spec(format: BenchFormat) -> FileSpec {
    let (revision, page_size, os_version) = match format {
        BenchFormat::Ese98 => (9, 4096, (5, 0, 2195, 3)),
        BenchFormat::Modern => (0x14, 8192, (10, 0, 17763, 0)),
    };
    FileSpec {
        header: HeaderSpec {
            revision,
            page_size,
            db_time: 0x10_0000,
            random: 0x4245_4e43,
            created: log_time(2003, 7, 1, 8, 0, 0),
            os_version: OsVersion {
                major: os_version.0,
                minor: os_version.1,
                build: os_version.2,
                service_pack: os_version.3,
            },
        },
        free_pages: 256,
    }
}

/// Writes a benchmark database of about `megabytes` MiB to `path` (which must not exist).
pub fn write_bench_database(
    path: &Path,
    megabytes: u64,
    format: BenchFormat,
) -> anyhow::Result<Written> {
    let rows = BenchRows::for_megabytes(megabytes);
    write_file(path, &bench_file_spec(format), &[bench_table(&rows)])
}
