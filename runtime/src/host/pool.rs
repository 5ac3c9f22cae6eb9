//! Warm instances of one connector configuration, kept between calls so a call need not
//! instantiate. Each `Connector` (one pipeline's connector: its module, grants, credentials,
//! settings) owns its own pool, so an instance, and whatever a guest left in its memory, never
//! serves another configuration. An instance goes back to the pool only after a call that ended
//! cleanly (an answer or a typed error, no trap, no deadline, no memory cap hit, no refused
//! request, no host resource left open), and only until it has served its reuse limit.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::Store;

use super::bindings::Connector as Bindings;
use super::state::CallState;

/// The most idle instances one connector configuration keeps (fewer when its concurrency is
/// lower: more would never be used at once).
pub(crate) const MAX_IDLE_PER_CONNECTOR: usize = 8;

/// An instantiated connector with its store, between calls or in one.
pub(crate) struct Warm {
    pub(crate) store: Store<CallState>,
    instance: Bindings,
    /// Calls this instance has served.
    calls: u32,
    /// The settings it was instantiated with (a connector whose base URL comes with its OAuth
    /// token can see it change between calls; a guest that kept the old one must not be reused).
    settings: BTreeMap<String, String>,
    /// Held while idle: the host bounds idle instances across all connectors (see
    /// `engine::MAX_IDLE_INSTANCES`), so warm instances cannot starve fresh ones of pool slots.
    idle: Option<OwnedSemaphorePermit>,
}

impl Warm {
    /// An instance that has served `calls` calls before the one just ended.
    pub(crate) fn new(
        store: Store<CallState>,
        instance: Bindings,
        settings: &BTreeMap<String, String>,
        calls: u32,
    ) -> Self {
        Self {
            store,
            instance,
            calls,
            settings: settings.clone(),
            idle: None,
        }
    }

    /// The store, the instance and the calls served so far.
    pub(crate) fn into_parts(self) -> (Store<CallState>, Bindings, u32) {
        (self.store, self.instance, self.calls)
    }
}

/// Counts, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Instances created (each a fresh store and instantiation).
    pub created: u64,
    /// Calls served by an instance that had served one before.
    pub reused: u64,
    /// Instances discarded after a call that did not end cleanly.
    pub recycled: u64,
}

/// One configuration's idle instances.
pub(crate) struct Pool {
    idle: Mutex<Vec<Warm>>,
    max_idle: usize,
    reuse_limit: u32,
    /// Shared by every pool of a host.
    idle_slots: Arc<Semaphore>,
    created: AtomicU64,
    reused: AtomicU64,
    recycled: AtomicU64,
}

impl Pool {
    pub(crate) fn new(concurrency: usize, reuse_limit: u32, idle_slots: Arc<Semaphore>) -> Self {
        Self {
            idle: Mutex::new(Vec::new()),
            max_idle: concurrency.clamp(1, MAX_IDLE_PER_CONNECTOR),
            reuse_limit,
            idle_slots,
            created: AtomicU64::new(0),
            reused: AtomicU64::new(0),
            recycled: AtomicU64::new(0),
        }
    }

    /// An idle instance made with these settings, if one is kept. Idle instances made with
    /// other settings are dropped.
    pub(crate) fn take(&self, settings: &BTreeMap<String, String>) -> Option<Warm> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(mut warm) = idle.pop() {
            if warm.settings == *settings {
                warm.idle = None;
                self.reused.fetch_add(1, Ordering::Relaxed);
                return Some(warm);
            }
        }
        None
    }

    pub(crate) fn note_created(&self) {
        self.created.fetch_add(1, Ordering::Relaxed);
    }

    /// An instance was stopped (trap, deadline) and dropped without coming back.
    pub(crate) fn note_recycled(&self) {
        self.recycled.fetch_add(1, Ordering::Relaxed);
    }

    /// After a call: `clean` says whether it ended with the guest's own answer and nothing the
    /// host had to stop or refuse. A clean instance under its reuse limit is kept (when there is
    /// room); any other is dropped, and its store and memory with it.
    pub(crate) fn put(&self, mut warm: Warm, clean: bool) {
        warm.calls = warm.calls.saturating_add(1);
        if !clean {
            self.recycled.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if warm.calls >= self.reuse_limit.max(1) {
            return;
        }
        let Ok(permit) = self.idle_slots.clone().try_acquire_owned() else {
            return;
        };
        warm.idle = Some(permit);
        warm.store.data_mut().end_call();
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() >= self.max_idle {
            // Dropped after the lock is released (a store's teardown is not free).
            drop(idle);
            return;
        }
        idle.push(warm);
    }

    pub(crate) fn stats(&self) -> PoolStats {
        PoolStats {
            created: self.created.load(Ordering::Relaxed),
            reused: self.reused.load(Ordering::Relaxed),
            recycled: self.recycled.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use junction_connector_kit as kit;

    use crate::host::{CallContext, CallError, Host, InstanceSpec, Limits};

    /// A webhook the Stripe connector refuses with a typed error (no signature), without I/O.
    fn unsigned() -> kit::Webhook {
        kit::Webhook {
            method: "POST".into(),
            path: "/hooks/stripe".into(),
            headers: vec![],
            body: b"{}".to_vec(),
        }
    }

    async fn refused(c: &crate::host::Connector) {
        let err = c
            .receive(&CallContext::default(), unsigned())
            .await
            .result
            .unwrap_err();
        assert!(
            matches!(err, CallError::Connector(kit::Error::InvalidWebhook(_))),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn calls_reuse_an_instance_up_to_its_limit_and_configurations_never_share() {
        let host = Host::new(None).expect("engine");
        let module = host.load("builtin:stripe", None).await.expect("loads");
        let spec = |reuse_limit| InstanceSpec {
            name: "stripe".into(),
            limits: Limits {
                reuse_limit,
                ..Limits::default()
            },
            ..InstanceSpec::default()
        };
        let warm = host.instantiate(module.clone(), spec(1_000));
        let other = host.instantiate(module.clone(), spec(1_000));
        let limited = host.instantiate(module.clone(), spec(2));
        let fresh = host.instantiate(module, spec(1));
        for _ in 0..5 {
            // A typed error is the guest's own answer: its instance stays warm.
            refused(&warm).await;
            refused(&limited).await;
            refused(&fresh).await;
        }
        refused(&other).await;
        let stats = |c: &crate::host::Connector| {
            let s = c.pool_stats();
            (s.created, s.reused, s.recycled)
        };
        assert_eq!(stats(&warm), (1, 4, 0));
        assert_eq!(stats(&limited), (3, 2, 0));
        assert_eq!(stats(&fresh), (5, 0, 0));
        // Made from the same module, but another configuration: its own instance.
        assert_eq!(stats(&other), (1, 0, 0));
    }
}
