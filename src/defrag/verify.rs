//! Proof that a rebuilt file holds what its source held: the project's own `db check` finds
//! nothing, the catalog describes the same objects (root pages aside), every table's decoded
//! rows (long values resolved) and every secondary index's entries come out the same, in the
//! same order. Each sequence is compared by count and SHA-256, so memory stays flat.

use evtdoctor_parsers::ese::btree::{self, TreeEvent};
use evtdoctor_parsers::ese::catalog::TableReader;
use evtdoctor_parsers::ese::check;
use evtdoctor_parsers::ese::page::NODE_DELETED;
use evtdoctor_parsers::ese::{Catalog, Database, PageSource, TableDef};
use sha2::{Digest, Sha256};
use std::ops::ControlFlow;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verified {
    pub tables: usize,
    pub records: u64,
    pub index_entries: u64,
}

/// Count and digest of a sequence.
#[derive(Default, PartialEq, Eq)]
struct Sequence {
    count: u64,
    digest: [u8; 32],
}

pub fn verify<A: PageSource, B: PageSource>(
    old: &Database<A>,
    new: &Database<B>,
) -> Result<Verified, String> {
    let mut findings = Vec::new();
    check::check(new, |f| findings.push(f), |_| {});
    if let Some(first) = findings.first() {
        return Err(format!(
            "the new file fails db check ({} findings; first: {})",
            findings.len(),
            first.problem
        ));
    }
    let old_catalog = read_catalog(old)?;
    let new_catalog = read_catalog(new)?;
    if without_roots(&old_catalog) != without_roots(&new_catalog) {
        return Err("the new catalog describes other objects than the old one".into());
    }
    let mut verified = Verified::default();
    for (old_table, new_table) in old_catalog.tables.iter().zip(&new_catalog.tables) {
        verified.tables += 1;
        if !is_catalog(old_table) {
            let rows = rows(old, old_table)?;
            if rows != self::rows(new, new_table)? {
                return Err(format!("table {}: the records differ", old_table.name));
            }
            verified.records += rows.count;
        }
        let index_pairs = old_table.indexes.iter().zip(&new_table.indexes);
        for (old_index, new_index) in
            index_pairs.filter(|(i, _)| i.root_page != old_table.root_page)
        {
            let entries = entries(old, old_index.root_page)?;
            if entries != self::entries(new, new_index.root_page)? {
                return Err(format!(
                    "table {}, index {}: the index entries differ",
                    old_table.name, old_index.name
                ));
            }
            verified.index_entries += entries.count;
        }
    }
    Ok(verified)
}

/// The catalog tables' records hold root pages, which move; they are compared as the catalog.
fn is_catalog(table: &TableDef) -> bool {
    table.object_id == 2 || table.object_id == 3
}

fn read_catalog<S: PageSource>(db: &Database<S>) -> Result<Catalog, String> {
    let (catalog, problems) = Catalog::read(db);
    match problems.first() {
        Some(problem) => Err(format!("catalog: {problem}")),
        None => Ok(catalog),
    }
}

fn without_roots(catalog: &Catalog) -> Vec<TableDef> {
    let mut tables = catalog.tables.clone();
    for table in &mut tables {
        table.root_page = 0;
        if let Some(tree) = &mut table.long_values {
            tree.root_page = 0;
        }
        for index in &mut table.indexes {
            index.root_page = 0;
        }
    }
    tables
}

fn rows<S: PageSource>(db: &Database<S>, table: &TableDef) -> Result<Sequence, String> {
    let mut hasher = Sha256::new();
    let mut count = 0;
    let mut failure = None;
    TableReader::new(db, table).for_each(|row| match row {
        Ok(values) => {
            count += 1;
            hasher.update(serde_json::to_vec(&values).unwrap_or_default());
            hasher.update(b"\n");
            ControlFlow::Continue(())
        }
        Err(problem) => {
            failure = Some(format!("table {}: {problem}", table.name));
            ControlFlow::Break(())
        }
    });
    match failure {
        Some(message) => Err(message),
        None => Ok(Sequence {
            count,
            digest: hasher.finalize().into(),
        }),
    }
}

fn entries<S: PageSource>(db: &Database<S>, root: u32) -> Result<Sequence, String> {
    let mut hasher = Sha256::new();
    let mut count = 0;
    let mut failure = None;
    btree::walk(db, root, |event| {
        match event {
            TreeEvent::Entry {
                key, data, flags, ..
            } if flags & NODE_DELETED == 0 => {
                count += 1;
                for part in [&key[..], data] {
                    hasher.update((part.len() as u64).to_le_bytes());
                    hasher.update(part);
                }
            }
            TreeEvent::Problem(problem) => {
                failure = Some(problem.to_string());
                return ControlFlow::Break(());
            }
            _ => {}
        }
        ControlFlow::Continue(())
    });
    match failure {
        Some(message) => Err(message),
        None => Ok(Sequence {
            count,
            digest: hasher.finalize().into(),
        }),
    }
}
