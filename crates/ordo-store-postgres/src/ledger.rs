//! SQL of the ledger: the shared queries of `ordo_store_sql::ledger`, and
//! the ones in this backend's dialect.

use crate::PgSession;

ordo_store_sql::ledger_repo!(PgSession, Postgres {
    #[tracing::instrument(target = "ordo_db", name = "ledger.expected_balances", skip_all)]
    async fn expected_balances(&mut self, offline_provider: &str) -> StoreResult<Vec<Expected>> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT 'receivables', currency, CAST(SUM(amount) AS BIGINT) FROM (
                 SELECT document->>'currency' AS currency, (document->>'total')::bigint AS amount FROM invoices
                 UNION ALL
                 SELECT document->>'currency', -(document->>'total')::bigint FROM credit_notes
                 UNION ALL
                 SELECT currency, CASE kind WHEN 'capture' THEN -amount ELSE amount END FROM payments
                  WHERE status = 'succeeded' AND (kind = 'capture' OR (kind = 'refund' AND provider <> $1))
             ) r GROUP BY currency
             UNION ALL
             SELECT 'clearing:' || provider, currency, CAST(SUM(CASE kind WHEN 'capture' THEN amount ELSE -amount END) AS BIGINT)
               FROM payments
              WHERE status = 'succeeded' AND kind IN ('capture', 'refund') AND provider <> $1
              GROUP BY provider, currency",
        )
        .bind(offline_provider)
        .persistent(self.persistent())
        .fetch_all(self.conn())
        .await
        .map_err(Self::map_err)?;
        Ok(rows.into_iter().map(|(account, currency, amount)| Expected { account, currency, amount }).collect())
    }

    #[tracing::instrument(target = "ordo_db", name = "ledger.closed_periods_from", skip_all)]
    async fn closed_periods_from(&mut self, from: Period) -> StoreResult<Vec<Period>> {
        let rows: Vec<String> = sqlx::query_scalar(
            // A posting's share lock on the table: a period being closed
            // (which locks the table exclusively) waits for postings in
            // flight, and postings after it see it closed.
            "SELECT period FROM ledger_periods WHERE period >= $1 ORDER BY period FOR SHARE",
        )
            .bind(from.to_string())
            .persistent(self.persistent())
            .fetch_all(self.conn())
            .await
            .map_err(Self::map_err)?;
        rows.iter().map(|p| Period::parse(p).map_err(|e| ordo_store_sql::corrupt("ledger_periods.period", e.message))).collect()
    }

    #[tracing::instrument(target = "ordo_db", name = "ledger.close_period", skip_all)]
    async fn close_period(&mut self, period: &ClosedPeriod) -> StoreResult<bool> {
        sqlx::query("LOCK TABLE ledger_periods IN EXCLUSIVE MODE")
            .persistent(self.persistent())
            .execute(self.conn())
            .await
            .map_err(Self::map_err)?;
        let result = sqlx::query(
            "INSERT INTO ledger_periods (period, closed_at, closed_by) VALUES ($1, $2, $3) ON CONFLICT (period) DO NOTHING",
        )
        .bind(&period.period)
        .bind(Ts(period.closed_at))
        .bind(&period.closed_by)
        .persistent(self.persistent())
        .execute(self.conn())
        .await
        .map_err(Self::map_err)?;
        Ok(result.rows_affected() == 1)
    }
});
