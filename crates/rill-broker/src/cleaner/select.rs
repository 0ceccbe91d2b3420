//! Which log to clean next: Kafka's `LogCleanerManager.grabFilthiestCompactedLog` as a pure
//! function over the cleanable states the caller read.

use rill_log::CleanableInfo;

use super::metrics::LastCheck;

/// One compacted log that is neither being cleaned nor given up on.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Its state, bounded by its high watermark.
    pub info: CleanableInfo,
    /// Its `max.compaction.lag.ms` (`u64::MAX`/`i64::MAX` for none).
    pub max_compaction_lag_ms: u64,
}

/// The index of the log to clean (the highest dirty ratio among the cleanable ones: ratio at
/// least `min.cleanable.dirty.ratio`, or `max.compaction.lag.ms` due), and the figures of
/// this check (`max-dirty-percent`, `max-compaction-delay-secs`).
pub fn filthiest(candidates: &[Candidate], now_ms: i64) -> (Option<usize>, LastCheck) {
    let mut check = LastCheck::default();
    let mut best: Option<(usize, bool, f64)> = None;
    for (i, c) in candidates.iter().enumerate() {
        if c.info.dirty_bytes > 0 {
            check.max_dirty_ratio = check.max_dirty_ratio.max(c.info.dirty_ratio);
        }
        if c.max_compaction_lag_ms < i64::MAX as u64 {
            if let Some(ts) = c.info.first_dirty_timestamp {
                let delay = now_ms
                    .saturating_sub(ts)
                    .saturating_sub(c.max_compaction_lag_ms as i64);
                check.max_compaction_delay_ms = check.max_compaction_delay_ms.max(delay);
            }
        }
        if !c.info.cleanable {
            continue;
        }
        // A log past its max.compaction.lag.ms goes first (Kafka cleans those regardless of
        // their ratio), then the dirtiest.
        let key = (c.info.compaction_lag_due, c.info.dirty_ratio);
        if best.is_none_or(|(_, due, ratio)| key > (due, ratio)) {
            best = Some((i, key.0, key.1));
        }
    }
    (best.map(|(i, _, _)| i), check)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(dirty_ratio: f64, cleanable: bool, due: bool, ts: Option<i64>, lag: u64) -> Candidate {
        Candidate {
            info: CleanableInfo {
                first_dirty_offset: 0,
                first_uncleanable_offset: 10,
                clean_bytes: 100,
                dirty_bytes: if dirty_ratio > 0.0 { 100 } else { 0 },
                dirty_ratio,
                first_dirty_timestamp: ts,
                compaction_lag_due: due,
                cleanable,
            },
            max_compaction_lag_ms: lag,
        }
    }

    #[test]
    fn dirtiest_cleanable_log_wins_and_lag_due_goes_first() {
        let none = u64::MAX;
        let c = [
            cand(0.9, false, false, None, none),
            cand(0.6, true, false, None, none),
            cand(0.7, true, false, None, none),
        ];
        let (pick, check) = filthiest(&c, 0);
        assert_eq!(pick, Some(2));
        assert_eq!(check.max_dirty_ratio, 0.9);
        let c = [
            cand(0.7, true, false, None, none),
            cand(0.1, true, true, Some(0), 1000),
        ];
        let (pick, check) = filthiest(&c, 5000);
        assert_eq!(pick, Some(1));
        assert_eq!(check.max_compaction_delay_ms, 4000);
        assert_eq!(filthiest(&[cand(0.0, false, false, None, none)], 0).0, None);
    }
}
