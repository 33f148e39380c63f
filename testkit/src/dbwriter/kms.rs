//! The demo KMS database (`samples/kmsmdb.edb`): an Exchange 2000 Key Management
//! Service store as ESE98 wrote it (format 0x620 revision 9, 4 KiB pages, XOR checksums,
//! header stamped Windows 2000 SP3), with user, certificate, key-recovery and revocation
//! tables, long binary blobs, and the wear of use: a third of the rows deleted but left in
//! place, spare pages in every table and free pages at the end, so `db defrag` has work.
//! Everything comes from fixed seeds and times: the file is the same on every run.

use super::random::Random;
use super::tables::{Index, Row, Table};
use super::{write_file, FileSpec, Written};
use evtdoctor_parsers::ese::header::OsVersion;
use evtdoctor_parsers::ese::value::{ColumnType, Value};
use evtdoctor_parsers::ese::write::columns::Column;
use evtdoctor_parsers::ese::write::header::{log_time, HeaderSpec};
use std::path::Path;

/// The file name KMS gives its database.
pub const KMS_DATABASE_FILE: &str = "kmsmdb.edb";
/// ESE98's format revision for the demo (before ECC page checksums).
pub const KMS_REVISION: u32 = 9;

/// OLE date of 2001-01-01 (Exchange 2000 SP3 era enrolments start then).
const FIRST_DAY: f64 = 36892.0;

fn columns(spec: &[(&str, ColumnType)]) -> Vec<Column> {
    spec.iter()
        .map(|&(name, kind)| Column {
            name: name.to_owned(),
            kind,
        })
        .collect()
}

fn text(s: &str) -> Value {
    Value::Binary(s.as_bytes().to_vec())
}

/// The rows of the four tables.
pub struct KmsRows {
    pub users: Vec<Row>,
    pub certificates: Vec<Row>,
    pub key_records: Vec<Row>,
    pub revocations: Vec<Row>,
}

const FIRST_NAMES: [&str; 8] = [
    "anna", "bert", "carla", "dirk", "emma", "frank", "greta", "hugo",
];
const LAST_NAMES: [&str; 8] = [
    "meyer", "jansen", "novak", "smith", "rossi", "dubois", "berg", "kowalski",
];

pub fn kms_rows() -> KmsRows {
    let mut random = Random::new(0x4b4d_5344_454d_4f31);
    let mut users = Vec::new();
    let mut certificates = Vec::new();
    let mut key_records = Vec::new();
    let mut revocations = Vec::new();
    for id in 1..=80i32 {
        let first = FIRST_NAMES[(id as usize) % 8];
        let last = LAST_NAMES[(id as usize / 8) % 8];
        // Times in 1/1024 days (84.375 s), which a double holds exactly: every reader then
        // prints the same microseconds.
        let enrolled = FIRST_DAY + f64::from(id) * 3.0 + random.below(1024) as f64 / 1024.0;
        users.push(Row {
            values: vec![
                Value::Int(i64::from(id)),
                text(&format!("{first}.{last}{id}@corp.example")),
                text(&format!(
                    "{} {} ({id})",
                    capitalise(first),
                    capitalise(last)
                )),
                Value::DateTime(enrolled),
                Value::Int(random.below(3) as i64),
            ],
            deleted: random.below(3) == 0,
        });
        for n in 0..2 {
            let cert_id = id * 2 - 1 + n;
            let issued = enrolled + f64::from(n) * 180.0 + 0.25;
            let mut serial = random.bytes(16);
            serial[0] = cert_id as u8; // unique whatever the random bytes
            serial[1] = (cert_id >> 8) as u8;
            let der_len = 700 + random.below(900) as usize;
            certificates.push(Row {
                values: vec![
                    Value::Int(i64::from(cert_id)),
                    Value::Int(i64::from(id)),
                    Value::Binary(serial.clone()),
                    Value::DateTime(issued),
                    Value::DateTime(issued + 730.0),
                    Value::Binary(certificate_blob(&mut random, der_len)),
                ],
                deleted: random.below(3) == 0,
            });
            let key_len = 1100 + random.below(700) as usize;
            key_records.push(Row {
                values: vec![
                    Value::Int(i64::from(cert_id)),
                    Value::Int(i64::from(cert_id)),
                    Value::DateTime(issued + 0.5),
                    Value::Int(if n == 0 { 1024 } else { 2048 }),
                    Value::Binary(random.bytes(key_len)),
                    Value::Int(random.below(1_000_000) as i64 * 10_000),
                ],
                deleted: random.below(3) == 0,
            });
            if random.below(5) == 0 {
                let revoked = issued + 30.0 + random.below(300) as f64;
                revocations.push(Row {
                    values: vec![
                        Value::Int(revocations.len() as i64 + 1),
                        Value::Binary(serial),
                        Value::DateTime(revoked),
                        Value::Int(random.below(6) as i64),
                        text(&format!(
                            "revoked by the KM administrator, certificate {cert_id}"
                        )),
                    ],
                    deleted: random.below(4) == 0,
                });
            }
        }
    }
    KmsRows {
        users,
        certificates,
        key_records,
        revocations,
    }
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// A DER-looking certificate: a SEQUENCE header, then random content.
fn certificate_blob(random: &mut Random, len: usize) -> Vec<u8> {
    let body = len.saturating_sub(4);
    let mut blob = vec![0x30, 0x82, (body >> 8) as u8, body as u8];
    blob.extend(random.bytes(body));
    blob
}

/// The schema over `rows`.
pub fn kms_tables(rows: &KmsRows) -> Vec<Table<'_>> {
    let index = |name: &str, column| Index {
        name: name.to_owned(),
        column,
    };
    vec![
        Table {
            name: "Users".into(),
            primary_index: "UserIdIndex".into(),
            columns: columns(&[
                ("UserId", ColumnType::LONG),
                ("Mailbox", ColumnType::TEXT),
                ("DisplayName", ColumnType::TEXT),
                ("Enrolled", ColumnType::DATE_TIME),
                ("Status", ColumnType::LONG),
            ]),
            indexes: vec![index("MailboxIndex", 1), index("EnrolledIndex", 3)],
            rows: &rows.users,
            spare_pages: 4,
        },
        Table {
            name: "Certificates".into(),
            primary_index: "CertIdIndex".into(),
            columns: columns(&[
                ("CertId", ColumnType::LONG),
                ("UserId", ColumnType::LONG),
                ("SerialNumber", ColumnType::BINARY),
                ("Issued", ColumnType::DATE_TIME),
                ("Expires", ColumnType::DATE_TIME),
                ("Certificate", ColumnType::LONG_BINARY),
            ]),
            indexes: vec![index("SerialIndex", 2), index("IssuedIndex", 3)],
            rows: &rows.certificates,
            spare_pages: 6,
        },
        Table {
            name: "KeyRecoveryRecords".into(),
            primary_index: "KeyIdIndex".into(),
            columns: columns(&[
                ("KeyId", ColumnType::LONG),
                ("CertId", ColumnType::LONG),
                ("Archived", ColumnType::DATE_TIME),
                ("KeyLength", ColumnType::LONG),
                ("EncryptedKey", ColumnType::LONG_BINARY),
                ("RecoveryFee", ColumnType::CURRENCY),
            ]),
            indexes: vec![index("CertIdIndex", 1)],
            rows: &rows.key_records,
            spare_pages: 6,
        },
        Table {
            name: "RevocationList".into(),
            primary_index: "RevocationIdIndex".into(),
            columns: columns(&[
                ("RevocationId", ColumnType::LONG),
                ("SerialNumber", ColumnType::BINARY),
                ("Revoked", ColumnType::DATE_TIME),
                ("Reason", ColumnType::LONG),
                ("Comment", ColumnType::LONG_TEXT),
            ]),
            indexes: vec![index("RevokedIndex", 2)],
            rows: &rows.revocations,
            spare_pages: 2,
        },
    ]
}

/// The demo file's header: ESE98, Windows 2000 SP3, created in August 2002.
pub fn kms_file_spec() -> FileSpec {
    FileSpec {
        header: HeaderSpec {
            revision: KMS_REVISION,
            page_size: 4096,
            db_time: 0x2f1c,
            random: 0x4b4d_5331,
            created: log_time(2002, 8, 14, 9, 30, 0),
            os_version: OsVersion {
                major: 5,
                minor: 0,
                build: 2195,
                service_pack: 3,
            },
        },
        free_pages: 24,
    }
}

/// Writes the demo database to `path` (which must not exist).
pub fn write_kms_database(path: &Path) -> anyhow::Result<Written> {
    let rows = kms_rows();
    write_file(path, &kms_file_spec(), &kms_tables(&rows))
}
