//! Shadow routes: what each shadow delivery found when it read the target instead of writing
//! to it, kept for `junction shadow report ROUTE` so an operator can judge a mapping before
//! switching the route to `write`.

use serde::Serialize;
use serde_json::json;

use super::audit::{self, AuditKind};
use super::db::on;
use super::transitions::leased;
use super::{Lease, Result, Store};

/// What a shadow delivery found: the intended document and the target's record, both
/// already masked, and the fields that differ.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShadowComparison {
    /// The document the route would write, as the target would keep it (masked).
    pub intended: serde_json::Value,
    /// The target's record now (masked); `None` when it has none.
    pub current: Option<serde_json::Value>,
    /// The compared fields whose values differ.
    pub differing: Vec<String>,
    /// Why the target could not be read or compared, when it could not (masked).
    pub error: Option<String>,
}

/// One row of a shadow report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShadowResult {
    /// The delivery.
    pub delivery_id: i64,
    /// The pipeline.
    pub pipeline: String,
    /// The shadow route.
    pub route: String,
    /// Its target connector.
    pub target: String,
    /// The canonical object.
    pub object: String,
    /// The entity's key.
    pub key: String,
    /// What it found.
    #[serde(flatten)]
    pub comparison: ShadowComparison,
    /// When it compared, ms since the epoch.
    pub compared_at_ms: i64,
}

#[derive(sqlx::FromRow)]
struct Row {
    delivery_id: i64,
    pipeline: String,
    route: String,
    target: String,
    object: String,
    entity_key: String,
    intended: String,
    current_doc: Option<String>,
    differing: String,
    error: Option<String>,
    compared_at_ms: i64,
}

impl Store {
    /// Settles a shadow delivery with what it found: `suppressed` (nothing was written), its
    /// comparison kept for the shadow report, audited as `shadowed` with the differing fields.
    pub async fn shadow_compared(&self, lease: &Lease, found: &ShadowComparison) -> Result<()> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let delivery = leased(&mut tx, lease).await?;
        let reason = match (&found.error, found.differing.len()) {
            (Some(_), _) => {
                "shadow mode: not written; the target could not be compared".to_string()
            }
            (None, 0) => "shadow mode: not written; the target already holds it".to_string(),
            (None, n) => format!(
                "shadow mode: not written; {n} field(s) differ: {}",
                found.differing.join(", ")
            ),
        };
        on!(tx.conn(), |db| sqlx::query(
            "UPDATE deliveries
             SET state = 'suppressed', state_reason = $2, updated_at_ms = $3,
                 lease_owner = NULL, lease_until_ms = NULL
             WHERE id = $1",
        )
        .bind(delivery.id)
        .bind(&reason)
        .bind(now)
        .execute(db)
        .await
        .map(drop))?;
        on!(tx.conn(), |db| sqlx::query(
            "INSERT INTO shadow_results (delivery_id, pipeline, route, target, object, entity_key,
                                         intended, current_doc, differing, error, compared_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (delivery_id) DO NOTHING",
        )
        .bind(delivery.id)
        .bind(&delivery.pipeline)
        .bind(&delivery.route)
        .bind(&delivery.target)
        .bind(&delivery.object)
        .bind(&delivery.key)
        .bind(found.intended.to_string())
        .bind(found.current.as_ref().map(|c| c.to_string()))
        .bind(serde_json::Value::from(found.differing.clone()).to_string())
        .bind(&found.error)
        .bind(now)
        .execute(db)
        .await
        .map(drop))?;
        let entry = delivery.audit(
            AuditKind::Shadowed,
            json!({
                "route": delivery.route,
                "target": delivery.target,
                "differing": found.differing,
                "intended": found.intended,
                "current": found.current,
                "error": found.error,
            }),
        );
        audit::append(&mut tx, now, &[entry]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// What the shadow deliveries of `route` (in `pipeline`, or any) found, oldest first,
    /// at most `limit`; only those with differences when `differing_only`.
    pub async fn shadow_report(
        &self,
        pipeline: Option<&str>,
        route: &str,
        differing_only: bool,
        limit: u32,
    ) -> Result<Vec<ShadowResult>> {
        let rows: Vec<Row> = on!(self.db.reader(), |db| sqlx::query_as(
            "SELECT delivery_id, pipeline, route, target, object, entity_key, intended,
                    current_doc, differing, error, compared_at_ms
             FROM shadow_results
             WHERE route = $1 AND ($2 IS NULL OR pipeline = $2)
               AND (NOT $3 OR differing <> '[]' OR error IS NOT NULL)
             ORDER BY delivery_id LIMIT $4",
        )
        .bind(route)
        .bind(pipeline)
        .bind(differing_only)
        .bind(i64::from(limit))
        .fetch_all(db)
        .await)?;
        rows.into_iter().map(ShadowResult::try_from).collect()
    }
}

impl TryFrom<Row> for ShadowResult {
    type Error = super::Error;

    fn try_from(row: Row) -> Result<Self> {
        fn parse<T: serde::de::DeserializeOwned>(
            id: i64,
            what: &'static str,
            text: &str,
        ) -> Result<T> {
            serde_json::from_str(text).map_err(|e| super::Error::Corrupt {
                what,
                detail: format!("shadow result {id}: {e}"),
            })
        }
        let id = row.delivery_id;
        Ok(ShadowResult {
            delivery_id: row.delivery_id,
            pipeline: row.pipeline.clone(),
            route: row.route.clone(),
            target: row.target.clone(),
            object: row.object.clone(),
            key: row.entity_key.clone(),
            comparison: ShadowComparison {
                intended: parse(id, "shadow intended document", &row.intended)?,
                current: row
                    .current_doc
                    .as_deref()
                    .map(|c| parse(id, "shadow current document", c))
                    .transpose()?,
                differing: parse(id, "shadow differing fields", &row.differing)?,
                error: row.error.clone(),
            },
            compared_at_ms: row.compared_at_ms,
        })
    }
}
