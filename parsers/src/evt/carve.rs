//! Carving whole records from slack: the bytes between the end of the live data and the oldest
//! live record, where overwritten or cleared records survive.

use super::record::{decode, probe_whole};
use super::ring::{Ring, Slack};
use super::SIGNATURE;
use crate::Item;
use memchr::memmem;
use std::borrow::Cow;

/// Records (closed, with every field inside them) lying wholly within `len` bytes of the ring
/// from `from`, as (distance from `from`, offset, bytes), in ring order, none overlapping.
pub(crate) fn find_records<'r, 'a>(
    ring: &'r Ring<'a>,
    from: usize,
    len: usize,
) -> impl Iterator<Item = (usize, usize, Cow<'a, [u8]>)> + 'r {
    let mut next_free = 0;
    ring.pieces(from, len)
        .flat_map(|(start, piece)| memmem::find_iter(piece, SIGNATURE).map(move |hit| start + hit))
        .filter_map(move |signature| {
            let offset = ring.back(signature, 4);
            let distance = ring.distance(from, offset);
            if distance < next_free || distance >= len {
                return None;
            }
            let bytes = probe_whole(ring, offset, len - distance)?;
            next_free = distance + bytes.len();
            Some((distance, offset, bytes))
        })
}

/// Hands every whole record found in the slack to `sink`, marked recovered. Records with
/// fields pointing outside themselves are taken for noise.
pub(crate) fn carve_slack(ring: &Ring<'_>, slack: &Slack, sink: &mut impl FnMut(Item)) {
    for (_, offset, bytes) in find_records(ring, slack.from, slack.len) {
        let decoded = decode(&bytes, offset);
        if decoded.defect.is_none() {
            let mut event = decoded.event;
            event.origin.recovered = true;
            sink(Ok(event));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::evt::read_evt_all;
    use crate::evt::testdata::{file, record, RecordSpec};

    #[test]
    fn carves_overwritten_records_from_slack_only_when_asked() {
        let old: Vec<_> = (1..=6).map(|n| record(&RecordSpec::kms(n))).collect();
        let size = old[0].len();
        let mut bytes = file(0x30 + 8 * size, 0x30, &old, false);
        // A newer log state: records 5 and 6 are live from offset 0x30 + 4 * size; the slack
        // after their cursor wraps round to the old records 1..=4 at the start of the ring.
        let live = file(0x30 + 8 * size, 0x30 + 4 * size, &old[4..], false);
        bytes[..0x30].copy_from_slice(&live[..0x30]);
        let live_from = 0x30 + 4 * size;
        bytes[live_from..].copy_from_slice(&live[live_from..]);
        bytes[0x30 + 4 * size - 4] = 0; // record 4's closing size broken: not carved

        let (events, problems) = read_evt_all(&bytes, false).unwrap();
        assert_eq!(problems, vec![]);
        assert_eq!(events.len(), 2);

        let (events, _) = read_evt_all(&bytes, true).unwrap();
        let found: Vec<_> = events
            .iter()
            .map(|e| (e.record_number.unwrap(), e.origin.recovered))
            .collect();
        assert_eq!(
            found,
            [(5, false), (6, false), (1, true), (2, true), (3, true)]
        );
        assert_eq!(events[2].origin.offset, Some(0x30));
    }
}
