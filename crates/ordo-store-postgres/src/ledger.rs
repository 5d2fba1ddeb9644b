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
});
