//! `queued.max.request.bytes`: a byte budget for requests between the moment their size is
//! read and the end of their handling, shared by every connection of the broker (Kafka's
//! memory pool). A connection's reader acquires a frame's size before it reads the body; when
//! the budget is spent it stops reading, so clients feel TCP backpressure instead of the
//! broker growing. A frame larger than the whole budget takes all of it (it proceeds alone).
//!
//! Thread-safety: `Send + Sync`; the budget is a tokio semaphore counted in bytes, so waiting
//! readers are served in order.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A byte budget; see the module docs.
#[derive(Debug)]
pub struct RequestBudget {
    /// Byte permits; `None` means no limit.
    permits: Option<Arc<Semaphore>>,
    /// The budget in bytes (`u64::MAX` without a limit).
    capacity: u64,
    /// Bytes held now and the most ever held at once, for tests and metrics.
    usage: Arc<Usage>,
}

/// Bytes held now and at most.
#[derive(Debug, Default)]
struct Usage {
    /// Held now.
    held: AtomicU64,
    /// Most held at once.
    peak: AtomicU64,
}

/// Bytes of the budget held by one request; given back on drop.
#[derive(Debug)]
pub struct BudgetPermit {
    /// The semaphore permits, if the budget is limited.
    _permits: Option<OwnedSemaphorePermit>,
    /// Bytes held.
    bytes: u64,
    /// Where they are counted.
    usage: Arc<Usage>,
}

impl Drop for BudgetPermit {
    fn drop(&mut self) {
        self.usage.held.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

impl RequestBudget {
    /// A budget of `capacity` bytes; `None` for no limit.
    pub fn new(capacity: Option<u64>) -> RequestBudget {
        let capacity = capacity.map(|c| c.clamp(1, Semaphore::MAX_PERMITS as u64));
        RequestBudget {
            permits: capacity.map(|c| Arc::new(Semaphore::new(c as usize))),
            capacity: capacity.unwrap_or(u64::MAX),
            usage: Arc::default(),
        }
    }

    /// The budget in bytes (`u64::MAX` without a limit).
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Waits until `bytes` (at most the whole budget) are free and takes them.
    pub async fn acquire(&self, bytes: usize) -> BudgetPermit {
        let want = (bytes as u64).min(self.capacity).min(u64::from(u32::MAX));
        let permits = match &self.permits {
            // The semaphore is never closed, so acquiring only waits.
            Some(sem) => sem.clone().acquire_many_owned(want as u32).await.ok(),
            None => None,
        };
        let held = self.usage.held.fetch_add(want, Ordering::AcqRel) + want;
        self.usage.peak.fetch_max(held, Ordering::AcqRel);
        BudgetPermit {
            _permits: permits,
            bytes: want,
            usage: self.usage.clone(),
        }
    }

    /// Bytes held now.
    pub fn held(&self) -> u64 {
        self.usage.held.load(Ordering::Acquire)
    }

    /// The most bytes ever held at once.
    pub fn peak(&self) -> u64 {
        self.usage.peak.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_spent_budget_makes_the_next_reader_wait_until_bytes_are_given_back() {
        let budget = Arc::new(RequestBudget::new(Some(1000)));
        let a = budget.acquire(600).await;
        let b = budget.acquire(400).await;
        assert_eq!(budget.held(), 1000);
        let waiter = {
            let budget = budget.clone();
            tokio::spawn(async move { budget.acquire(300).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "acquired beyond the budget");
        drop(a);
        let c = waiter.await.unwrap();
        assert_eq!(budget.held(), 700);
        // Larger than the whole budget: takes all of it once everything else is back.
        drop((b, c));
        let huge = budget.acquire(5000).await;
        assert_eq!(budget.held(), 1000);
        drop(huge);
        assert_eq!((budget.held(), budget.peak()), (0, 1000));
    }

    #[tokio::test]
    async fn no_limit_never_waits() {
        let budget = RequestBudget::new(None);
        let _a = budget.acquire(usize::MAX / 2).await;
        let _b = budget.acquire(1 << 30).await;
        assert!(budget.held() > 0);
    }
}
