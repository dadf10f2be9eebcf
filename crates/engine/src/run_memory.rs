//! What one run computes once and shares between its hosts: DTR's CA
//! (every host's step 3 and step 5 need the same one), the test
//! repository the push test creates, the tag it moves, the push through
//! UCP. The executor owns one `RunMemory` per run and hands it to every
//! task through the task `Context`, so the memory ends with the run: a
//! later run in the same process (the test suite, a library user) starts
//! with nothing remembered, and no timer decides when a value is stale.
//!
//! Values are kept by kind (a name the caller chooses, so two users of the
//! same value type never see each other's entries) and key. The first
//! caller for a kind and key computes the value; callers that arrive while
//! it is being computed wait for it and get a clone.

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::OnceCell;

type Cell = Arc<dyn Any + Send + Sync>;

/// The values one run shares between hosts.
#[derive(Default)]
pub struct RunMemory {
    cells: Mutex<HashMap<(&'static str, String), Cell>>,
    claims: Mutex<HashSet<(&'static str, String)>>,
}

impl std::fmt::Debug for RunMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunMemory")
            .field("values", &lock(&self.cells).len())
            .field("claims", &lock(&self.claims).len())
            .finish()
    }
}

/// A lock that a panicking holder cannot make unusable: every entry is
/// written whole, so what a poisoned lock holds is still consistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl RunMemory {
    pub fn new() -> RunMemory {
        RunMemory::default()
    }

    /// The cell for `kind` and `key`, made empty on first use.
    fn cell<T: Send + Sync + 'static>(&self, kind: &'static str, key: &str) -> Arc<OnceCell<T>> {
        let mut cells = lock(&self.cells);
        let entry = cells
            .entry((kind, key.to_string()))
            .or_insert_with(|| Arc::new(OnceCell::<T>::new()) as Cell)
            .clone();
        match entry.downcast::<OnceCell<T>>() {
            Ok(cell) => cell,
            // A kind used with two value types is a programming error; the
            // second type then simply gets a cell of its own, unshared.
            Err(_) => Arc::new(OnceCell::new()),
        }
    }

    /// The value for `kind` and `key`, computed by `make` if no caller
    /// has computed it yet in this run. The flag is true for the one
    /// caller whose `make` ran.
    pub async fn once<T, F, Fut>(&self, kind: &'static str, key: &str, make: F) -> (T, bool)
    where
        T: Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let cell = self.cell::<T>(kind, key);
        let ran_here = AtomicBool::new(false);
        let value = cell
            .get_or_init(|| async {
                ran_here.store(true, Ordering::SeqCst);
                make().await
            })
            .await
            .clone();
        (value, ran_here.load(Ordering::SeqCst))
    }

    /// The value for `kind` and `key` if some caller computed it.
    pub fn peek<T: Clone + Send + Sync + 'static>(
        &self,
        kind: &'static str,
        key: &str,
    ) -> Option<T> {
        let cells = lock(&self.cells);
        let cell = cells.get(&(kind, key.to_string()))?;
        cell.downcast_ref::<OnceCell<T>>()?.get().cloned()
    }

    /// Records that something happened in this run; true for the first
    /// caller only.
    pub fn claim(&self, kind: &'static str, key: &str) -> bool {
        lock(&self.claims).insert((kind, key.to_string()))
    }

    /// Whether some caller claimed `kind` and `key` in this run.
    pub fn claimed(&self, kind: &'static str, key: &str) -> bool {
        lock(&self.claims).contains(&(kind, key.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_caller_computes_and_the_others_share() {
        let memory = RunMemory::new();
        let (a, first) = memory.once("ca", "dtr", || async { 1 }).await;
        let (b, second) = memory.once("ca", "dtr", || async { 2 }).await;
        assert_eq!((a, first, b, second), (1, true, 1, false));
        let (other, ran) = memory.once("ca", "other", || async { 3 }).await;
        assert_eq!((other, ran), (3, true));
        assert_eq!(memory.peek::<i32>("ca", "dtr"), Some(1));
        assert_eq!(memory.peek::<i32>("push", "dtr"), None);
        assert!(memory.claim("tag", "x"));
        assert!(!memory.claim("tag", "x"));
        assert!(memory.claimed("tag", "x") && !memory.claimed("tag", "y"));
        assert!(
            RunMemory::new().peek::<i32>("ca", "dtr").is_none(),
            "a new run remembers nothing"
        );
    }
}
