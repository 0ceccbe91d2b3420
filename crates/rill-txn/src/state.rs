//! The states of a transactional id (Kafka's `TransactionState`): their on-disk status byte,
//! the names DescribeTransactions/ListTransactions show, and the table of valid previous
//! states every transition is checked against.
//!
//! The table is Kafka's for transactions V1 (no epoch bump on every EndTxn, KIP-890 part 2
//! is not implemented): PrepareAbort follows Ongoing or PrepareEpochFence only.
//!
//! ```text
//!            AddPartitions/AddOffsets          EndTxn            markers written
//! Empty ─────────────────────────> Ongoing ──> PrepareCommit ──────────> CompleteCommit
//!   ^  InitProducerId (bump)          │  └───> PrepareAbort ───────────> CompleteAbort
//!   └──── CompleteCommit/Abort ◄──────┘ InitProducerId/timeout: PrepareEpochFence -> PrepareAbort
//! Empty/CompleteCommit/CompleteAbort ──(transactional.id.expiration.ms)──> Dead (tombstone)
//! ```

/// The state of a transactional id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TxnState {
    /// No transaction open (after InitProducerId).
    Empty,
    /// A transaction is open: partitions were added.
    Ongoing,
    /// EndTxn(commit) was recorded; COMMIT markers are being written.
    PrepareCommit,
    /// EndTxn(abort), a timeout or a fence was recorded; ABORT markers are being written.
    PrepareAbort,
    /// Every COMMIT marker is written.
    CompleteCommit,
    /// Every ABORT marker is written.
    CompleteAbort,
    /// The id expired and is being removed (a tombstone is written, never this state).
    Dead,
    /// A newer producer is fencing the current epoch; the open transaction is about to be
    /// aborted. Transient: Kafka never persists it (the abort is written as PrepareAbort).
    PrepareEpochFence,
}

/// Every state, in status-byte order.
pub const ALL_STATES: [TxnState; 8] = [
    TxnState::Empty,
    TxnState::Ongoing,
    TxnState::PrepareCommit,
    TxnState::PrepareAbort,
    TxnState::CompleteCommit,
    TxnState::CompleteAbort,
    TxnState::Dead,
    TxnState::PrepareEpochFence,
];

impl TxnState {
    /// The status byte of `TransactionLogValue` (Empty=0 ... PrepareEpochFence=7).
    pub fn id(self) -> i8 {
        match self {
            TxnState::Empty => 0,
            TxnState::Ongoing => 1,
            TxnState::PrepareCommit => 2,
            TxnState::PrepareAbort => 3,
            TxnState::CompleteCommit => 4,
            TxnState::CompleteAbort => 5,
            TxnState::Dead => 6,
            TxnState::PrepareEpochFence => 7,
        }
    }

    /// The state of a status byte, `None` for an unknown one.
    pub fn from_id(id: i8) -> Option<TxnState> {
        usize::try_from(id)
            .ok()
            .and_then(|i| ALL_STATES.get(i))
            .copied()
    }

    /// The name Kafka's admin APIs show ("Empty", "Ongoing", "PrepareCommit", ...).
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
            TxnState::Dead => "Dead",
            TxnState::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    /// The state of a name (exact, case-sensitive as Kafka's `fromName`).
    pub fn from_name(name: &str) -> Option<TxnState> {
        ALL_STATES.iter().copied().find(|s| s.name() == name)
    }

    /// The states this one may be entered from.
    pub fn valid_previous_states(self) -> &'static [TxnState] {
        use TxnState::*;
        match self {
            Empty => &[Empty, CompleteCommit, CompleteAbort],
            Ongoing => &[Ongoing, Empty, CompleteCommit, CompleteAbort],
            PrepareCommit => &[Ongoing],
            PrepareAbort => &[Ongoing, PrepareEpochFence],
            CompleteCommit => &[PrepareCommit],
            CompleteAbort => &[PrepareAbort],
            Dead => &[Empty, CompleteAbort, CompleteCommit],
            PrepareEpochFence => &[Ongoing],
        }
    }

    /// Whether `self -> to` is a valid transition.
    pub fn can_transition_to(self, to: TxnState) -> bool {
        to.valid_previous_states().contains(&self)
    }

    /// Whether an idle id in this state may expire (`transactional.id.expiration.ms`).
    pub fn is_expiration_allowed(self) -> bool {
        matches!(
            self,
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
        )
    }

    /// Whether a transaction is open or being completed (Ongoing, PrepareCommit, PrepareAbort).
    pub fn has_pending_transaction(self) -> bool {
        matches!(
            self,
            TxnState::Ongoing | TxnState::PrepareCommit | TxnState::PrepareAbort
        )
    }
}

impl std::fmt::Display for TxnState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_round_trip() {
        for (i, s) in ALL_STATES.iter().enumerate() {
            assert_eq!(i8::try_from(i).ok(), Some(s.id()));
            assert_eq!(TxnState::from_id(s.id()), Some(*s));
            assert_eq!(TxnState::from_name(s.name()), Some(*s));
        }
        assert_eq!(TxnState::from_id(8), None);
        assert_eq!(TxnState::from_id(-1), None);
        assert_eq!(TxnState::from_name("ongoing"), None);
    }

    /// Kafka's table, written out as the full 8x8 matrix of allowed transitions.
    #[test]
    fn transition_table_is_kafkas() {
        use TxnState::*;
        let allowed: &[(TxnState, TxnState)] = &[
            (Empty, Empty),
            (CompleteCommit, Empty),
            (CompleteAbort, Empty),
            (Ongoing, Ongoing),
            (Empty, Ongoing),
            (CompleteCommit, Ongoing),
            (CompleteAbort, Ongoing),
            (Ongoing, PrepareCommit),
            (Ongoing, PrepareAbort),
            (PrepareEpochFence, PrepareAbort),
            (PrepareCommit, CompleteCommit),
            (PrepareAbort, CompleteAbort),
            (Empty, Dead),
            (CompleteAbort, Dead),
            (CompleteCommit, Dead),
            (Ongoing, PrepareEpochFence),
        ];
        for from in ALL_STATES {
            for to in ALL_STATES {
                assert_eq!(
                    from.can_transition_to(to),
                    allowed.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
    }
}
