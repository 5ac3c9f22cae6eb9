//! Recovery of lost webhooks: a source that can also be polled (Stripe lists its events of the
//! last 30 days) is listed from the oldest event it still has, and every change found is taken
//! in through the same intake as a webhook. What had arrived is recognised as a duplicate and
//! stored nowhere; what never arrived (a webhook endpoint down longer than Stripe retries, a
//! misconfigured secret) is stored and then planned and delivered like any change, oldest first.
//!
//! The walk uses a cursor of its own: the source's durable poll cursor, if it has one, does not
//! move.

use serde::Serialize;

use super::{Engine, intake};
use crate::host::CallContext;
use crate::store::Intake;

/// Pages a recovery reads at most, so a source that never says "no more" cannot keep it going.
const MAX_PAGES: usize = 100_000;

/// What a recovery found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Recovery {
    /// Changes the source listed.
    pub listed: u64,
    /// Changes that had never arrived, now stored.
    pub recovered: u64,
    /// Changes that had arrived already (nothing stored).
    pub already_had: u64,
    /// Changes older than the `since` asked for (left alone).
    pub older: u64,
}

/// Why a recovery could not run or stopped.
#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    /// No such pipeline or connector.
    #[error("{0}")]
    Unknown(String),
    /// The source failed mid-listing; what was stored before stays stored.
    #[error(
        "listing `{object}` at `{connector}` failed after {pages} page(s) ({found:?} so far): {reason}"
    )]
    Source {
        /// The connector.
        connector: String,
        /// The object.
        object: String,
        /// Pages read before the failure.
        pages: usize,
        /// What was found until then.
        found: Recovery,
        /// The connector's error (masked).
        reason: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::Error),
}

impl Engine {
    /// Lists every change of `object` that `connector` (a source of `pipeline`) can still list,
    /// oldest first, and takes in those at or after `since_ms` that never arrived. Safe to run
    /// beside `junction run` and to run twice: intake deduplicates by source event.
    pub async fn recover(
        &self,
        pipeline: &str,
        connector: &str,
        object: &str,
        since_ms: i64,
    ) -> Result<Recovery, RecoverError> {
        let plan = self
            .plan(pipeline)
            .ok_or_else(|| RecoverError::Unknown(format!("pipeline `{pipeline}` is not loaded")))?;
        if !plan
            .sources
            .iter()
            .any(|s| s.connector == connector && s.objects.iter().any(|o| o == object))
        {
            return Err(RecoverError::Unknown(format!(
                "no [[source]] of pipeline `{pipeline}` delivers `{object}` from `{connector}`"
            )));
        }
        let source = self.connector(pipeline, connector).ok_or_else(|| {
            RecoverError::Unknown(format!(
                "connector `{connector}` is not configured in `{pipeline}`"
            ))
        })?;
        let mut found = Recovery::default();
        let mut cursor: Option<String> = None;
        for pages in 0..MAX_PAGES {
            let called = source
                .poll(&CallContext::default(), object, cursor.as_deref(), 100)
                .await;
            let page = called.result.map_err(|e| RecoverError::Source {
                connector: connector.to_owned(),
                object: object.to_owned(),
                pages,
                found: found.clone(),
                reason: self.masker(pipeline).text(&e.to_string()),
            })?;
            let mut batch = Vec::new();
            for change in page.changes {
                found.listed += 1;
                if change.occurred_at < since_ms {
                    found.older += 1;
                } else {
                    batch.push(intake::new_change(pipeline, connector, change));
                }
            }
            if !batch.is_empty() {
                for outcome in self.store.intake(&batch).await? {
                    match outcome {
                        Intake::Accepted { .. } => found.recovered += 1,
                        Intake::Duplicate { .. } => found.already_had += 1,
                    }
                }
                self.wake_planner.notify_one();
            }
            // Past the end: nothing newer now. (A cursor that stops moving would loop.)
            let next = page.next_cursor;
            if !page.has_more || next.is_none() || next == cursor {
                return Ok(found);
            }
            cursor = next;
        }
        Ok(found)
    }
}
