//! Records ("data definitions"): fixed columns, variable columns and tagged columns, decoded
//! to what each column stores. Long values and compression are resolved by the caller
//! ([`super::catalog::TableReader`]), which has the database at hand.
//!
//! Layout: byte 0 = last fixed column id, byte 1 = last variable column id, word 2 = offset of
//! the variable-column offset array. Fixed values follow from byte 4 in column-id order, then
//! a NULL bitmap. Variable columns: cumulative end offsets (bit 15 = NULL), then their data.
//! Tagged columns: (column id, offset) pairs, then their data; each value may start with a
//! flags byte (long value, compressed, separated, multi-valued, NULL).

use super::header::FileHeader;
use super::schema::TableDef;
use super::{le_u16, le_u32};

/// Tagged-value flags (ESE TAGFLD_HEADER).
const TAG_COMPRESSED: u8 = 0x02;
const TAG_SEPARATED: u8 = 0x04;
const TAG_MULTI: u8 = 0x08;
const TAG_TWO_VALUES: u8 = 0x10;
const TAG_NULL: u8 = 0x20;

/// Why a record cannot be decoded (the byte positions are within the record).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("empty record")]
    Empty,
    #[error("record too short")]
    TooShort,
    #[error("variable-column offset {at} beyond the record ({len} bytes)")]
    VariableOffsetsBeyond { at: usize, len: usize },
    #[error("variable-column offsets run past the record")]
    VariableOffsetsRunPast,
    #[error("variable column {column} has a bad offset {end}")]
    VariableOffset { column: usize, end: usize },
    #[error("fixed-column NULL bitmap before the record start")]
    NullBitmapBeforeStart,
    #[error("record has fixed column {0}, the catalog does not")]
    UnknownFixedColumn(u32),
    #[error("fixed column {0} runs past the fixed data")]
    FixedColumnRunsPast(u32),
    #[error("tagged-column index cut short")]
    TaggedIndexCutShort,
    #[error("tagged-column index of {0} bytes is invalid")]
    TaggedIndexInvalid(usize),
    #[error("tagged column {id}: bad offsets {start}..{end}")]
    TaggedOffsets { id: u32, start: usize, end: usize },
    #[error("tagged column entry cut short at byte {0}")]
    TaggedEntryCutShort(usize),
    #[error("tagged column {id}: {size} bytes run past the record")]
    TaggedRunsPast { id: u16, size: usize },
    #[error("two-value column empty")]
    TwoValuesEmpty,
    #[error("two-value column cut short")]
    TwoValuesCutShort,
    #[error("multi-value index cut short")]
    MultiIndexCutShort,
    #[error("multi-value index of {0} bytes is invalid")]
    MultiIndexInvalid(usize),
    #[error("multi-value {index}: bad offsets {start}..{end}")]
    MultiOffsets {
        index: usize,
        start: usize,
        end: usize,
    },
}

/// What a record holds for one column, before long values are fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored<'a> {
    Null,
    /// The record does not store the column at all: it reads as the column's default.
    Absent,
    Bytes(&'a [u8]),
    /// Compressed bytes (first byte names the scheme).
    Compressed(&'a [u8]),
    /// A separated long value: its id as stored (4 or 8 bytes, little-endian).
    LongValue(&'a [u8]),
    Multi(Vec<Stored<'a>>),
}

/// What decoding needs from a table's columns, worked out once per table: the size of each
/// fixed column by id (tables can have tens of thousands of columns).
pub struct Layout {
    fixed_sizes: Vec<Option<usize>>,
}

impl Layout {
    pub fn new(table: &TableDef) -> Layout {
        let mut fixed_sizes = vec![None; 127];
        for column in table.columns.iter().filter(|c| (1..=127).contains(&c.id)) {
            fixed_sizes[column.id as usize - 1] = Some(column.fixed_size());
        }
        Layout { fixed_sizes }
    }

    fn fixed_size(&self, id: u32) -> Option<usize> {
        self.fixed_sizes
            .get((id as usize).checked_sub(1)?)
            .copied()
            .flatten()
    }
}

/// How a database lays out tagged columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordFormat {
    /// 16/32 KiB pages: 15-bit tagged offsets, and every tagged value has a flags byte.
    pub large_pages: bool,
    /// Format 0x620 revisions up to 2 (Exchange 5.5 era) list tagged columns as
    /// (id, size) pairs each followed by its data, instead of an offset index.
    pub linear_tags: bool,
}

impl RecordFormat {
    pub fn of(header: &FileHeader) -> RecordFormat {
        RecordFormat {
            large_pages: header.large_pages(),
            linear_tags: header.format_version == 0x620 && header.format_revision <= 2,
        }
    }
}

/// Decodes `record` against `table`'s columns: one [`Stored`] per column, in column order.
pub fn decode<'a>(
    record: &'a [u8],
    table: &TableDef,
    layout: &Layout,
    format: RecordFormat,
) -> Result<Vec<Stored<'a>>, RecordError> {
    let last_fixed = u32::from(*record.first().ok_or(RecordError::Empty)?);
    let last_variable = u32::from(*record.get(1).ok_or(RecordError::TooShort)?);
    let variable_offsets_at = usize::from(le_u16(record, 2).ok_or(RecordError::TooShort)?);
    if variable_offsets_at > record.len() {
        return Err(RecordError::VariableOffsetsBeyond {
            at: variable_offsets_at,
            len: record.len(),
        });
    }
    let fixed = fixed_values(record, layout, last_fixed, variable_offsets_at)?;
    let variable_count = last_variable.saturating_sub(127) as usize;
    let variable_data_at = variable_offsets_at + variable_count * 2;
    if variable_data_at > record.len() {
        return Err(RecordError::VariableOffsetsRunPast);
    }
    let mut variable = Vec::with_capacity(variable_count);
    let mut previous_end = 0usize;
    for i in 0..variable_count {
        let word = le_u16(record, variable_offsets_at + i * 2).unwrap_or(0x8000);
        let end = usize::from(word & 0x7fff);
        if word & 0x8000 != 0 {
            variable.push(Stored::Null);
            continue;
        }
        let value = record
            .get(variable_data_at + previous_end..variable_data_at + end)
            .ok_or(RecordError::VariableOffset {
                column: 128 + i,
                end,
            })?;
        variable.push(Stored::Bytes(value));
        previous_end = end;
    }
    let tagged_at =
        variable_data_at + last_variable_end(record, variable_offsets_at, variable_count);
    let tagged_area = record.get(tagged_at..).unwrap_or(&[]);
    let mut tagged = if format.linear_tags {
        linear_tagged_values(tagged_area)?
    } else {
        tagged_values(tagged_area, format.large_pages)?
    };
    tagged.sort_by_key(|t| (t.id, t.derived));

    let mut values = Vec::with_capacity(table.columns.len());
    for column in &table.columns {
        let id = column.id;
        let value = match id {
            1..=127 => fixed.get(id as usize - 1).cloned().flatten(),
            128..=255 => variable.get((id - 128) as usize).cloned(),
            _ => {
                // A derived table stores its template's tagged columns under the template's
                // ids, marked derived; its own tagged ids may be the same numbers.
                let key = (id, column.from_template);
                let at = tagged.partition_point(|t| (t.id, t.derived) < key);
                tagged
                    .get(at)
                    .filter(|t| (t.id, t.derived) == key)
                    .map(|t| t.value.clone())
            }
        };
        values.push(value.unwrap_or(Stored::Absent));
    }
    Ok(values)
}

fn last_variable_end(record: &[u8], offsets_at: usize, count: usize) -> usize {
    (0..count)
        .rev()
        .filter_map(|i| le_u16(record, offsets_at + i * 2))
        .map(|w| usize::from(w & 0x7fff))
        .next()
        .unwrap_or(0)
}

/// The fixed columns the record stores, by id - 1 (`None` past the ones it stores).
fn fixed_values<'a>(
    record: &'a [u8],
    layout: &Layout,
    last_fixed: u32,
    variable_offsets_at: usize,
) -> Result<Vec<Option<Stored<'a>>>, RecordError> {
    let bitmap_len = last_fixed.div_ceil(8) as usize;
    let bitmap_at = variable_offsets_at
        .checked_sub(bitmap_len)
        .ok_or(RecordError::NullBitmapBeforeStart)?;
    let mut values = Vec::with_capacity(last_fixed as usize);
    let mut at = 4usize;
    for id in 1..=last_fixed {
        let Some(size) = layout.fixed_size(id) else {
            // A column the schema does not know (MSysObjects of a newer engine): harmless
            // unless a known column comes after it, whose offset would then be unknown.
            if (id + 1..=last_fixed).any(|later| layout.fixed_size(later).is_some()) {
                return Err(RecordError::UnknownFixedColumn(id));
            }
            break;
        };
        let end = at.checked_add(size).filter(|&end| end <= bitmap_at);
        let bytes = end
            .and_then(|end| record.get(at..end))
            .ok_or(RecordError::FixedColumnRunsPast(id))?;
        let bit = (id - 1) as usize;
        let is_null = record
            .get(bitmap_at + bit / 8)
            .is_some_and(|b| b >> (bit % 8) & 1 == 1);
        values.push(Some(if is_null {
            Stored::Null
        } else {
            Stored::Bytes(bytes)
        }));
        at += size;
    }
    Ok(values)
}

/// One tagged column of a record.
struct Tagged<'a> {
    id: u32,
    derived: bool,
    value: Stored<'a>,
}

/// Tagged-index word flag: the column comes from the table's template.
const TAG_DERIVED: u16 = 0x8000;

/// The tagged columns of the indexed format: (id, offset) pairs, then the values.
fn tagged_values(area: &[u8], large_pages: bool) -> Result<Vec<Tagged<'_>>, RecordError> {
    if area.is_empty() {
        return Ok(Vec::new());
    }
    let offset_mask: u16 = if large_pages { 0x7fff } else { 0x1fff };
    let first = le_u16(area, 2).ok_or(RecordError::TaggedIndexCutShort)?;
    let index_len = usize::from(first & offset_mask);
    if index_len == 0 || index_len % 4 != 0 || index_len > area.len() {
        return Err(RecordError::TaggedIndexInvalid(index_len));
    }
    let count = index_len / 4;
    let mut values = Vec::with_capacity(count);
    for i in 0..count {
        let id = u32::from(le_u16(area, i * 4).unwrap_or(0));
        let word = le_u16(area, i * 4 + 2).unwrap_or(0);
        let start = usize::from(word & offset_mask);
        let end = if i + 1 < count {
            usize::from(le_u16(area, i * 4 + 6).unwrap_or(0) & offset_mask)
        } else {
            area.len()
        };
        let bytes = area
            .get(start..end)
            .ok_or(RecordError::TaggedOffsets { id, start, end })?;
        let has_flags = large_pages || word & 0x4000 != 0;
        let null_small = !large_pages && word & 0x2000 != 0;
        values.push(Tagged {
            id,
            derived: word & TAG_DERIVED != 0,
            value: tagged_value(bytes, has_flags, null_small)?,
        });
    }
    Ok(values)
}

/// The tagged columns of the linear format: id, size word (0x8000 = the value starts with a
/// flags byte), value; repeated.
fn linear_tagged_values(area: &[u8]) -> Result<Vec<Tagged<'_>>, RecordError> {
    let mut values = Vec::new();
    let mut at = 0usize;
    while at < area.len() {
        let (Some(id), Some(word)) = (le_u16(area, at), le_u16(area, at + 2)) else {
            return Err(RecordError::TaggedEntryCutShort(at));
        };
        at += 4;
        let size = usize::from(word & 0x5fff);
        let bytes = area
            .get(at..at + size)
            .ok_or(RecordError::TaggedRunsPast { id, size })?;
        values.push(Tagged {
            id: u32::from(id),
            derived: false,
            value: tagged_value(bytes, word & 0x8000 != 0, false)?,
        });
        at += size;
    }
    Ok(values)
}

fn tagged_value(
    bytes: &[u8],
    has_flags: bool,
    null_small: bool,
) -> Result<Stored<'_>, RecordError> {
    if null_small {
        return Ok(Stored::Null);
    }
    let (flags, data) = match (has_flags, bytes.split_first()) {
        (true, Some((flags, data))) => (*flags, data),
        (true, None) => return Ok(Stored::Null),
        (false, _) => (0, bytes),
    };
    if flags & TAG_NULL != 0 {
        return Ok(Stored::Null);
    }
    if flags & TAG_TWO_VALUES != 0 {
        let (&first_len, rest) = data.split_first().ok_or(RecordError::TwoValuesEmpty)?;
        let first_len = usize::from(first_len);
        let (a, b) = (
            rest.get(..first_len)
                .ok_or(RecordError::TwoValuesCutShort)?,
            &rest[first_len.min(rest.len())..],
        );
        return Ok(Stored::Multi(vec![Stored::Bytes(a), Stored::Bytes(b)]));
    }
    if flags & TAG_MULTI != 0 {
        let first = le_u16(data, 0).ok_or(RecordError::MultiIndexCutShort)?;
        let index_len = usize::from(first & 0x7fff);
        if index_len == 0 || index_len % 2 != 0 || index_len > data.len() {
            return Err(RecordError::MultiIndexInvalid(index_len));
        }
        let count = index_len / 2;
        let mut values = Vec::with_capacity(count);
        for i in 0..count {
            let word = le_u16(data, i * 2).unwrap_or(0);
            let start = usize::from(word & 0x7fff);
            let end = if i + 1 < count {
                usize::from(le_u16(data, i * 2 + 2).unwrap_or(0) & 0x7fff)
            } else {
                data.len()
            };
            let value = data.get(start..end).ok_or(RecordError::MultiOffsets {
                index: i,
                start,
                end,
            })?;
            values.push(if word & 0x8000 != 0 {
                Stored::LongValue(value)
            } else if flags & TAG_COMPRESSED != 0 && i == 0 {
                // Only the first of several values is ever stored compressed.
                Stored::Compressed(value)
            } else {
                Stored::Bytes(value)
            });
        }
        return Ok(Stored::Multi(values));
    }
    Ok(if flags & TAG_SEPARATED != 0 {
        Stored::LongValue(data)
    } else if flags & TAG_COMPRESSED != 0 {
        Stored::Compressed(data)
    } else {
        Stored::Bytes(data)
    })
}

/// A separated long value's id as the key of the long-value tree (big-endian).
pub fn long_value_key(id: &[u8]) -> Option<Vec<u8>> {
    match id.len() {
        4 => Some(le_u32(id, 0)?.to_be_bytes().to_vec()),
        8 => Some(super::le_u64(id, 0)?.to_be_bytes().to_vec()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ese::schema::ColumnDef;
    use crate::ese::value::ColumnType;

    fn column(id: u32, kind: ColumnType, from_template: bool) -> ColumnDef {
        ColumnDef {
            id,
            name: format!("c{id}"),
            kind,
            size: 0,
            flags: 0,
            codepage: 1252,
            default: None,
            from_template,
        }
    }

    fn table(columns: Vec<ColumnDef>) -> TableDef {
        TableDef {
            name: "t".into(),
            object_id: 9,
            root_page: 40,
            columns,
            indexes: Vec::new(),
            long_values: None,
            template: None,
        }
    }

    const SMALL: RecordFormat = RecordFormat {
        large_pages: false,
        linear_tags: false,
    };

    #[test]
    fn fixed_variable_and_tagged_columns() {
        let t = table(vec![
            column(1, ColumnType::LONG, false),
            column(2, ColumnType::SHORT, false),
            column(128, ColumnType::TEXT, false),
            column(256, ColumnType::BINARY, false),
            column(257, ColumnType::BINARY, false),
        ]);
        // last fixed 2, last variable 128, variable offsets at 4+4+2+1 (bitmap) = 11.
        let mut r = vec![2u8, 128, 11, 0];
        r.extend_from_slice(&7i32.to_le_bytes());
        r.extend_from_slice(&[0xaa, 0xaa]); // column 2: NULL filler
        r.push(0b10); // NULL bitmap: column 2
        r.extend_from_slice(&2u16.to_le_bytes()); // variable column 128 ends at 2
        r.extend_from_slice(b"hi");
        // tagged: index of one entry (4 bytes), column 256 at offset 4, value "xyz".
        r.extend_from_slice(&256u16.to_le_bytes());
        r.extend_from_slice(&4u16.to_le_bytes());
        r.extend_from_slice(b"xyz");
        let values = decode(&r, &t, &Layout::new(&t), SMALL).unwrap();
        assert_eq!(values[0], Stored::Bytes(&7i32.to_le_bytes()));
        assert_eq!(values[1], Stored::Null);
        assert_eq!(values[2], Stored::Bytes(b"hi"));
        assert_eq!(values[3], Stored::Bytes(b"xyz"));
        assert_eq!(
            values[4],
            Stored::Absent,
            "column 257 is not stored: its default applies"
        );
    }

    #[test]
    fn derived_tagged_columns_match_template_columns_only() {
        let t = table(vec![
            column(256, ColumnType::BINARY, true),
            column(256, ColumnType::BINARY, false),
        ]);
        let mut r = vec![0u8, 0, 4, 0];
        r.extend_from_slice(&256u16.to_le_bytes());
        r.extend_from_slice(&(8u16 | TAG_DERIVED).to_le_bytes());
        r.extend_from_slice(&256u16.to_le_bytes());
        r.extend_from_slice(&9u16.to_le_bytes());
        r.extend_from_slice(b"Tb");
        let values = decode(&r, &t, &Layout::new(&t), SMALL).unwrap();
        assert_eq!(values, vec![Stored::Bytes(b"T"), Stored::Bytes(b"b")]);
    }

    #[test]
    fn linear_tagged_format_of_old_databases() {
        let t = table(vec![
            column(256, ColumnType::BINARY, false),
            column(300, ColumnType::LONG_BINARY, false),
        ]);
        let mut r = vec![0u8, 0, 4, 0];
        r.extend_from_slice(&256u16.to_le_bytes());
        r.extend_from_slice(&2u16.to_le_bytes());
        r.extend_from_slice(b"ab");
        r.extend_from_slice(&300u16.to_le_bytes());
        r.extend_from_slice(&(5u16 | 0x8000).to_le_bytes());
        r.push(TAG_SEPARATED);
        r.extend_from_slice(&0x1234u32.to_le_bytes());
        let format = RecordFormat {
            large_pages: false,
            linear_tags: true,
        };
        let values = decode(&r, &t, &Layout::new(&t), format).unwrap();
        assert_eq!(values[0], Stored::Bytes(b"ab"));
        assert_eq!(values[1], Stored::LongValue(&0x1234u32.to_le_bytes()));
        r.truncate(r.len() - 2);
        assert_eq!(
            decode(&r, &t, &Layout::new(&t), format).unwrap_err(),
            RecordError::TaggedRunsPast { id: 300, size: 5 }
        );
    }

    #[test]
    fn damaged_records_are_errors() {
        let t = table(vec![column(1, ColumnType::LONG, false)]);
        let layout = Layout::new(&t);
        assert!(decode(&[], &t, &layout, SMALL).is_err());
        assert!(decode(&[1, 0, 200, 0], &t, &layout, SMALL).is_err());
        assert!(decode(&[1, 0, 6, 0, 1, 2], &t, &layout, SMALL).is_err());
        assert!(
            decode(&[3, 0, 5, 0, 0], &t, &layout, SMALL).is_err(),
            "fixed column 2 unknown"
        );
    }
}
