//! Route kill switches: a paused route's writes are not claimed (they stay pending, in source
//! order) while intake and planning go on; resuming delivers what waited.

use serde::Serialize;
use serde_json::json;

use super::audit::{self, AuditKind, NewAudit};
use super::db::on;
use super::{Result, Store};

/// A paused route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct PausedRoute {
    /// The pipeline.
    pub pipeline: String,
    /// The route.
    pub route: String,
    /// Why it was paused.
    pub reason: String,
    /// Who paused it.
    pub paused_by: String,
    /// When.
    pub paused_at_ms: i64,
    /// The reconciliation job whose next clean run resumes it (`junction replay --pause`);
    /// `None` when only an operator resumes it.
    pub until_clean: Option<String>,
}

/// A route the store has deliveries for, with how many of its writes wait to be delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct RouteActivity {
    /// The pipeline.
    pub pipeline: String,
    /// The route.
    pub route: String,
    /// Its deliveries waiting to be written (pending).
    pub waiting: i64,
    /// Its deliveries held by a gate or in review.
    pub parked: i64,
}

impl Store {
    /// Pauses `route` of `pipeline`: from the next claim on, its writes wait (an
    /// asynchronous job or read-back already under way is still followed: it writes nothing).
    /// Returns the pause in force and whether this call made it (false: the route was paused
    /// already, and that earlier pause is left as it was).
    pub async fn pause_route(
        &self,
        pipeline: &str,
        route: &str,
        by: &str,
        reason: &str,
    ) -> Result<(PausedRoute, bool)> {
        self.pause(pipeline, route, by, reason, None).await
    }

    /// [`Store::pause_route`] until the next clean run of reconciliation `job` of `pipeline`,
    /// which resumes it ([`Store::resume_after_clean`]); an operator may resume it earlier.
    pub async fn pause_route_until_clean(
        &self,
        pipeline: &str,
        route: &str,
        by: &str,
        reason: &str,
        job: &str,
    ) -> Result<(PausedRoute, bool)> {
        self.pause(pipeline, route, by, reason, Some(job)).await
    }

    /// Resumes every route of `pipeline` paused until reconciliation `job` is clean (it just
    /// was); returns them.
    pub async fn resume_after_clean(&self, pipeline: &str, job: &str) -> Result<Vec<PausedRoute>> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let lifted: Vec<PausedRoute> = on!(tx.conn(), |db| sqlx::query_as(
            "DELETE FROM paused_routes WHERE pipeline = $1 AND until_clean = $2
             RETURNING pipeline, route, reason, paused_by, paused_at_ms, until_clean",
        )
        .bind(pipeline)
        .bind(job)
        .fetch_all(db)
        .await)?;
        let entries: Vec<_> = lifted
            .iter()
            .map(|p| {
                route_audit(
                    pipeline,
                    &p.route,
                    AuditKind::RouteResumed,
                    json!({ "by": format!("reconciliation {job}"), "reason": format!("reconciliation `{job}` ran clean") }),
                )
            })
            .collect();
        if !entries.is_empty() {
            audit::append(&mut tx, now, &entries).await?;
            tx.notify(super::wake::DELIVERIES).await?;
        }
        tx.commit().await?;
        Ok(lifted)
    }

    async fn pause(
        &self,
        pipeline: &str,
        route: &str,
        by: &str,
        reason: &str,
        until_clean: Option<&str>,
    ) -> Result<(PausedRoute, bool)> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let inserted: Option<PausedRoute> = on!(tx.conn(), |db| sqlx::query_as(
            "INSERT INTO paused_routes (pipeline, route, reason, paused_by, paused_at_ms,
                                        until_clean)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (pipeline, route) DO NOTHING
             RETURNING pipeline, route, reason, paused_by, paused_at_ms, until_clean",
        )
        .bind(pipeline)
        .bind(route)
        .bind(reason)
        .bind(by)
        .bind(now)
        .bind(until_clean)
        .fetch_optional(db)
        .await)?;
        let Some(paused) = inserted else {
            let earlier: PausedRoute = on!(tx.conn(), |db| {
                sqlx::query_as(
                "SELECT pipeline, route, reason, paused_by, paused_at_ms, until_clean FROM paused_routes
                 WHERE pipeline = $1 AND route = $2",
            )
            .bind(pipeline)
            .bind(route)
            .fetch_one(db)
            .await
            })?;
            tx.commit().await?;
            return Ok((earlier, false));
        };
        let entry = route_audit(
            pipeline,
            route,
            AuditKind::RoutePaused,
            json!({ "by": by, "reason": reason, "until_clean": until_clean }),
        );
        audit::append(&mut tx, now, &[entry]).await?;
        tx.commit().await?;
        Ok((paused, true))
    }

    /// Resumes a paused route and wakes the delivery loops (its writes go in source order per
    /// entity). Returns the pause that was lifted; `None` if the route was not paused.
    pub async fn resume_route(
        &self,
        pipeline: &str,
        route: &str,
        by: &str,
        reason: &str,
    ) -> Result<Option<PausedRoute>> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let lifted: Option<PausedRoute> = on!(tx.conn(), |db| sqlx::query_as(
            "DELETE FROM paused_routes WHERE pipeline = $1 AND route = $2
             RETURNING pipeline, route, reason, paused_by, paused_at_ms, until_clean",
        )
        .bind(pipeline)
        .bind(route)
        .fetch_optional(db)
        .await)?;
        if lifted.is_some() {
            let entry = route_audit(
                pipeline,
                route,
                AuditKind::RouteResumed,
                json!({ "by": by, "reason": reason }),
            );
            audit::append(&mut tx, now, &[entry]).await?;
            tx.notify(super::wake::DELIVERIES).await?;
        }
        tx.commit().await?;
        Ok(lifted)
    }

    /// Every paused route, by pipeline and name.
    pub async fn paused_routes(&self) -> Result<Vec<PausedRoute>> {
        Ok(on!(self.db.reader(), |db| {
            sqlx::query_as(
            "SELECT pipeline, route, reason, paused_by, paused_at_ms, until_clean FROM paused_routes
             ORDER BY pipeline, route",
        )
        .fetch_all(db)
        .await
        })?)
    }

    /// Every route the store has deliveries for, by pipeline and name, with its waiting writes.
    pub async fn route_activity(&self) -> Result<Vec<RouteActivity>> {
        Ok(on!(self.db.reader(), |db| sqlx::query_as(
            "SELECT pipeline, route,
                    COUNT(*) FILTER (WHERE state IN ('pending', 'in_flight')) AS waiting,
                    COUNT(*) FILTER (WHERE state IN ('held', 'review')) AS parked
             FROM deliveries GROUP BY pipeline, route ORDER BY pipeline, route",
        )
        .fetch_all(db)
        .await)?)
    }
}

/// An audit entry about a route: each route's switches form a chain of their own (object
/// `route`, keyed by the route's name).
fn route_audit(
    pipeline: &str,
    route: &str,
    kind: AuditKind,
    detail: serde_json::Value,
) -> NewAudit {
    NewAudit {
        pipeline: pipeline.to_owned(),
        correlation_id: format!("route/{pipeline}/{route}"),
        object: "route".to_owned(),
        key: route.to_owned(),
        event_id: None,
        change_id: None,
        delivery_id: None,
        idempotency_key: None,
        kind,
        detail,
    }
}
