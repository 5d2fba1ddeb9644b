//! Payment records: the row, its mapping, and
//! [`payment_repo!`](crate::payment_repo) (every method but the lock, which
//! is dialect).

use ordo_domain::payment::{Payment, PaymentKind, PaymentStatus};
use ordo_domain::{Currency, OrderId};
use ordo_store::StoreError;
use uuid::Uuid;

use crate::{Ts, corrupt};

/// The columns of [`PaymentRow`].
pub const COLUMNS: &str = "id, order_id, kind, provider, provider_reference, amount, currency, status, \
                           idempotency_key, failure_reason, created_at, updated_at";

#[derive(Debug, sqlx::FromRow)]
pub struct PaymentRow {
    pub id: Uuid,
    pub order_id: Uuid,
    pub kind: String,
    pub provider: String,
    pub provider_reference: Option<String>,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    pub idempotency_key: String,
    pub failure_reason: Option<String>,
    pub created_at: Ts,
    pub updated_at: Ts,
}

impl TryFrom<PaymentRow> for Payment {
    type Error = StoreError;

    fn try_from(row: PaymentRow) -> Result<Self, Self::Error> {
        Ok(Payment {
            id: row.id,
            order_id: OrderId::from_uuid(row.order_id),
            kind: PaymentKind::parse(&row.kind).ok_or_else(|| corrupt("payments.kind", &row.kind))?,
            provider: row.provider,
            provider_reference: row.provider_reference,
            amount: row.amount,
            currency: Currency::parse(&row.currency).map_err(|e| corrupt("payments.currency", e.message))?,
            status: PaymentStatus::parse(&row.status).ok_or_else(|| corrupt("payments.status", &row.status))?,
            idempotency_key: row.idempotency_key,
            failure_reason: row.failure_reason,
            created_at: row.created_at.0,
            updated_at: row.updated_at.0,
        })
    }
}

/// Implements `PaymentRepo` for `$session<C>` on `$db`; the backend writes
/// `lock_order_payments` in its dialect.
#[macro_export]
macro_rules! payment_repo {
    ($session:ident, $db:ident { $($dialect:tt)* }) => {
        #[allow(unused_imports)]
        const _: () = {
            use ::ordo_domain::page::PageRequest;
            use ::ordo_domain::payment::{Payment, PaymentFilter, PaymentStatus, PaymentTotals, ProviderEvent};
            use ::ordo_domain::{OrderId, Timestamp};
            use ::ordo_store::{PaymentRepo, StoreResult};
            use ::uuid::Uuid;
            use $crate::payments::{COLUMNS, PaymentRow};
            use $crate::{SqlSession, Ts};

            #[$crate::async_trait]
            impl<C: ::std::ops::DerefMut<Target = <::sqlx::$db as ::sqlx::Database>::Connection> + Send> PaymentRepo
                for $session<C>
            {
                $($dialect)*

                #[tracing::instrument(target = "ordo_db", name = "payments.insert_payment", skip_all)]
                async fn insert_payment(&mut self, p: &Payment) -> StoreResult<bool> {
                    let result = ::sqlx::query(&format!(
                        "INSERT INTO payments ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                         ON CONFLICT (idempotency_key) DO NOTHING"
                    ))
                    .bind(p.id)
                    .bind(p.order_id.as_uuid())
                    .bind(p.kind.as_str())
                    .bind(&p.provider)
                    .bind(&p.provider_reference)
                    .bind(p.amount)
                    .bind(p.currency.code())
                    .bind(p.status.as_str())
                    .bind(&p.idempotency_key)
                    .bind(&p.failure_reason)
                    .bind(Ts(p.created_at))
                    .bind(Ts(p.updated_at))
                    .persistent(self.persistent())
                    .execute(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    Ok(result.rows_affected() == 1)
                }

                #[tracing::instrument(target = "ordo_db", name = "payments.payment", skip_all)]
                async fn payment(&mut self, id: Uuid) -> StoreResult<Option<Payment>> {
                    let row: Option<PaymentRow> =
                        ::sqlx::query_as(&format!("SELECT {COLUMNS} FROM payments WHERE id = $1"))
                            .bind(id)
                            .persistent(self.persistent())
                            .fetch_optional(self.conn())
                            .await
                            .map_err(Self::map_err)?;
                    row.map(Payment::try_from).transpose()
                }

                #[tracing::instrument(target = "ordo_db", name = "payments.payment_by_key", skip_all)]
                async fn payment_by_key(&mut self, idempotency_key: &str) -> StoreResult<Option<Payment>> {
                    let row: Option<PaymentRow> =
                        ::sqlx::query_as(&format!("SELECT {COLUMNS} FROM payments WHERE idempotency_key = $1"))
                            .bind(idempotency_key)
                            .persistent(self.persistent())
                            .fetch_optional(self.conn())
                            .await
                            .map_err(Self::map_err)?;
                    row.map(Payment::try_from).transpose()
                }

                #[tracing::instrument(target = "ordo_db", name = "payments.settle_payment", skip_all)]
                async fn settle_payment(
                    &mut self,
                    id: Uuid,
                    status: PaymentStatus,
                    provider_reference: Option<&str>,
                    failure_reason: Option<&str>,
                    at: Timestamp,
                ) -> StoreResult<bool> {
                    let result = ::sqlx::query(
                        "UPDATE payments
                            SET status = $2, provider_reference = COALESCE($3, provider_reference),
                                failure_reason = $4, updated_at = $5
                          WHERE id = $1 AND status = 'pending'",
                    )
                    .bind(id)
                    .bind(status.as_str())
                    .bind(provider_reference)
                    .bind(failure_reason)
                    .bind(Ts(at))
                    .persistent(self.persistent())
                    .execute(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    Ok(result.rows_affected() == 1)
                }

                #[tracing::instrument(target = "ordo_db", name = "payments.order_payments", skip_all)]
                async fn order_payments(&mut self, order_id: OrderId) -> StoreResult<Vec<Payment>> {
                    let rows: Vec<PaymentRow> =
                        ::sqlx::query_as(&format!("SELECT {COLUMNS} FROM payments WHERE order_id = $1 ORDER BY id"))
                            .bind(order_id.as_uuid())
                            .persistent(self.persistent())
                            .fetch_all(self.conn())
                            .await
                            .map_err(Self::map_err)?;
                    rows.into_iter().map(Payment::try_from).collect()
                }

                #[tracing::instrument(target = "ordo_db", name = "payments.list_payments", skip_all)]
                async fn list_payments(
                    &mut self,
                    filter: &PaymentFilter,
                    page: &PageRequest,
                ) -> StoreResult<Vec<Payment>> {
                    let mut query =
                        ::sqlx::QueryBuilder::<::sqlx::$db>::new(format!("SELECT {COLUMNS} FROM payments WHERE TRUE"));
                    if let Some(after) = page.after {
                        query.push(" AND id > ").push_bind(after);
                    }
                    if let Some(order_id) = filter.order_id {
                        query.push(" AND order_id = ").push_bind(*order_id.as_uuid());
                    }
                    if let Some(kind) = filter.kind {
                        query.push(" AND kind = ").push_bind(kind.as_str());
                    }
                    if let Some(status) = filter.status {
                        query.push(" AND status = ").push_bind(status.as_str());
                    }
                    query.push(" ORDER BY id LIMIT ").push_bind(page.fetch_limit());
                    let rows: Vec<PaymentRow> = query
                        .build_query_as()
                        .persistent(self.persistent())
                        .fetch_all(self.conn())
                        .await
                        .map_err(Self::map_err)?;
                    rows.into_iter().map(Payment::try_from).collect()
                }

                #[tracing::instrument(target = "ordo_db", name = "payments.payment_totals", skip_all)]
                async fn payment_totals(&mut self, order_id: OrderId) -> StoreResult<PaymentTotals> {
                    let (authorized, captured, capturing, offline, refunded, voids): (i64, i64, i64, i64, i64, i64) = ::sqlx::query_as(
                        "SELECT
                            CAST(COALESCE(SUM(CASE WHEN kind = 'authorization' AND status = 'succeeded' THEN amount END), 0) AS BIGINT),
                            CAST(COALESCE(SUM(CASE WHEN kind = 'capture' AND status = 'succeeded' AND provider <> 'offline' THEN amount END), 0) AS BIGINT),
                            CAST(COALESCE(SUM(CASE WHEN kind = 'capture' AND status <> 'failed' AND provider <> 'offline' THEN amount END), 0) AS BIGINT),
                            CAST(COALESCE(SUM(CASE WHEN kind = 'capture' AND status = 'succeeded' AND provider = 'offline' THEN amount END), 0) AS BIGINT),
                            CAST(COALESCE(SUM(CASE WHEN kind = 'refund' AND status <> 'failed' THEN amount END), 0) AS BIGINT),
                            CAST(COUNT(CASE WHEN kind = 'void' AND status <> 'failed' THEN 1 END) AS BIGINT)
                           FROM payments WHERE order_id = $1",
                    )
                    .bind(order_id.as_uuid())
                    .persistent(self.persistent())
                    .fetch_one(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    Ok(PaymentTotals { authorized, captured, capturing, offline, refunded, voided: voids > 0 })
                }

                #[tracing::instrument(target = "ordo_db", name = "payments.payment_by_reference", skip_all)]
                async fn payment_by_reference(
                    &mut self,
                    provider: &str,
                    reference: &str,
                ) -> StoreResult<Option<Payment>> {
                    let row: Option<PaymentRow> = ::sqlx::query_as(&format!(
                        "SELECT {COLUMNS} FROM payments WHERE provider = $1 AND provider_reference = $2
                          ORDER BY id LIMIT 1"
                    ))
                    .bind(provider)
                    .bind(reference)
                    .persistent(self.persistent())
                    .fetch_optional(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    row.map(Payment::try_from).transpose()
                }

                #[tracing::instrument(target = "ordo_db", name = "payments.insert_provider_event", skip_all)]
                async fn insert_provider_event(&mut self, e: &ProviderEvent) -> StoreResult<bool> {
                    let result = ::sqlx::query(
                        "INSERT INTO provider_events
                             (id, provider, event_id, event_type, order_id, payload, received_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7)
                         ON CONFLICT (provider, event_id) DO NOTHING",
                    )
                    .bind(e.id)
                    .bind(&e.provider)
                    .bind(&e.event_id)
                    .bind(&e.event_type)
                    .bind(e.order_id.map(|id| *id.as_uuid()))
                    .bind(&e.payload)
                    .bind(Ts(e.received_at))
                    .persistent(self.persistent())
                    .execute(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    Ok(result.rows_affected() == 1)
                }
            }
        };
    };
}
