//! SQL of invoices and credit notes.

use ordo_store::StoreResult;

use crate::corrupt;

/// A stored invoice or credit note document, brought up to the current
/// shape ([`ordo_domain::invoice::upgrade_document`]) before it is read.
#[derive(Debug, serde::Deserialize)]
#[serde(transparent)]
pub struct Document(serde_json::Value);

impl Document {
    pub fn decode<T: serde::de::DeserializeOwned>(mut self) -> StoreResult<T> {
        ordo_domain::invoice::upgrade_document(&mut self.0);
        serde_json::from_value(self.0).map_err(|e| corrupt("document", e))
    }
}

/// Implements `InvoiceRepo` for `$session<C>` on `$db`, with the methods
/// the backend writes in its own dialect.
#[macro_export]
macro_rules! invoice_repo {
    ($session:ident, $db:ident { $($dialect:tt)* }) => {
        #[allow(unused_imports)]
        const _: () = {
            use ::ordo_domain::credit_note::CreditNote;
            use ::ordo_domain::invoice::Invoice;
            use ::ordo_domain::page::PageRequest;
            use ::sqlx::types::Json;
            use ::uuid::Uuid;
            use ::ordo_store::{InvoiceRepo, StoreResult};
            use $crate::invoices::*;
            use $crate::{SqlSession, Ts, ts, corrupt};

            #[$crate::async_trait]
            impl<C: ::std::ops::DerefMut<Target = <::sqlx::$db as ::sqlx::Database>::Connection> + Send> InvoiceRepo
                for $session<C>
            {
                $($dialect)*

                #[tracing::instrument(target = "ordo_db", name = "invoices.next_invoice_number", skip_all)]
                async fn next_invoice_number(&mut self, market: &str, year: i32) -> StoreResult<i64> {
                    ::sqlx::query_scalar(
                        "INSERT INTO invoice_counters (market, year, last_number) VALUES ($1, $2, 1)
                         ON CONFLICT (market, year) DO UPDATE SET last_number = invoice_counters.last_number + 1
                         RETURNING last_number",
                    )
                    .bind(market)
                    .bind(year)
                    .persistent(self.persistent())
                    .fetch_one(self.conn())
                    .await
                    .map_err(Self::map_err)
                }

                #[tracing::instrument(target = "ordo_db", name = "invoices.insert_invoice", skip_all)]
                async fn insert_invoice(&mut self, invoice: &Invoice, html: &str, pdf: &[u8]) -> StoreResult<()> {
                    ::sqlx::query("INSERT INTO invoices (id, number, order_id, market, issued_at, document, html, pdf) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
                        .bind(invoice.id)
                        .bind(&invoice.number)
                        .bind(invoice.order_id)
                        .bind(&invoice.market)
                        .bind(Ts(invoice.issued_at))
                        .bind(Json(invoice))
                        .bind(html)
                        .bind(pdf)
                        .persistent(self.persistent())
                        .execute(self.conn())
                        .await
                        .map_err(Self::map_err)?;
                    Ok(())
                }

                #[tracing::instrument(target = "ordo_db", name = "invoices.invoice", skip_all)]
                async fn invoice(&mut self, id: Uuid) -> StoreResult<Option<Invoice>> {
                    let row: Option<Json<Document>> = ::sqlx::query_scalar("SELECT document FROM invoices WHERE id = $1")
                        .bind(id)
                        .persistent(self.persistent())
                        .fetch_optional(self.conn())
                        .await
                        .map_err(Self::map_err)?;
                    row.map(|j| j.0.decode()).transpose()
                }

                #[tracing::instrument(target = "ordo_db", name = "invoices.invoice_html", skip_all)]
                async fn invoice_html(&mut self, id: Uuid) -> StoreResult<Option<String>> {
                    ::sqlx::query_scalar("SELECT html FROM invoices WHERE id = $1")
                        .bind(id)
                        .persistent(self.persistent())
                        .fetch_optional(self.conn())
                        .await
                        .map_err(Self::map_err)
                }

                #[tracing::instrument(target = "ordo_db", name = "invoices.invoice_pdf", skip_all)]
                async fn invoice_pdf(&mut self, id: Uuid) -> StoreResult<Option<Vec<u8>>> {
                    let pdf: Option<Option<Vec<u8>>> = ::sqlx::query_scalar("SELECT pdf FROM invoices WHERE id = $1")
                        .bind(id)
                        .persistent(self.persistent())
                        .fetch_optional(self.conn())
                        .await
                        .map_err(Self::map_err)?;
                    Ok(pdf.flatten())
                }

                #[tracing::instrument(target = "ordo_db", name = "invoices.invoice_for_order", skip_all)]
                async fn invoice_for_order(&mut self, order_id: Uuid) -> StoreResult<Option<Invoice>> {
                    let row: Option<Json<Document>> = ::sqlx::query_scalar("SELECT document FROM invoices WHERE order_id = $1")
                        .bind(order_id)
                        .persistent(self.persistent())
                        .fetch_optional(self.conn())
                        .await
                        .map_err(Self::map_err)?;
                    row.map(|j| j.0.decode()).transpose()
                }

                #[tracing::instrument(target = "ordo_db", name = "invoices.list_invoices", skip_all)]
                async fn list_invoices(&mut self, order_id: Option<Uuid>, page: &PageRequest) -> StoreResult<Vec<Invoice>> {
                    let mut query = ::sqlx::QueryBuilder::<::sqlx::$db>::new("SELECT document FROM invoices WHERE TRUE");
                    if let Some(after) = page.after {
                        query.push(" AND id > ").push_bind(after);
                    }
                    if let Some(order_id) = order_id {
                        query.push(" AND order_id = ").push_bind(order_id);
                    }
                    query.push(" ORDER BY id LIMIT ").push_bind(page.fetch_limit());
                    let rows: Vec<Json<Document>> =
                        query.build_query_scalar().persistent(self.persistent()).fetch_all(self.conn()).await.map_err(Self::map_err)?;
                    rows.into_iter().map(|j| j.0.decode()).collect()
                }

                #[tracing::instrument(target = "ordo_db", name = "invoices.next_credit_note_number", skip_all)]
                async fn next_credit_note_number(&mut self, market: &str, year: i32) -> StoreResult<i64> {
                    ::sqlx::query_scalar(
                        "INSERT INTO credit_note_counters (market, year, last_number) VALUES ($1, $2, 1)
                         ON CONFLICT (market, year) DO UPDATE SET last_number = credit_note_counters.last_number + 1
                         RETURNING last_number",
                    )
                    .bind(market)
                    .bind(year)
                    .persistent(self.persistent())
                    .fetch_one(self.conn())
                    .await
                    .map_err(Self::map_err)
                }

                #[tracing::instrument(target = "ordo_db", name = "invoices.insert_credit_note", skip_all)]
                async fn insert_credit_note(&mut self, note: &CreditNote, html: &str, pdf: &[u8]) -> StoreResult<()> {
                    ::sqlx::query(
                        "INSERT INTO credit_notes (id, number, order_id, invoice_id, market, issued_at, document, html, pdf)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    )
                    .bind(note.id)
                    .bind(&note.number)
                    .bind(note.order_id.as_uuid())
                    .bind(note.invoice_id)
                    .bind(&note.market)
                    .bind(Ts(note.issued_at))
                    .bind(Json(note))
                    .bind(html)
                    .bind(pdf)
                    .persistent(self.persistent())
                    .execute(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    Ok(())
                }

                #[tracing::instrument(target = "ordo_db", name = "invoices.credit_note", skip_all)]
                async fn credit_note(&mut self, id: Uuid) -> StoreResult<Option<CreditNote>> {
                    let row: Option<Json<Document>> = ::sqlx::query_scalar("SELECT document FROM credit_notes WHERE id = $1")
                        .bind(id)
                        .persistent(self.persistent())
                        .fetch_optional(self.conn())
                        .await
                        .map_err(Self::map_err)?;
                    row.map(|j| j.0.decode()).transpose()
                }

                #[tracing::instrument(target = "ordo_db", name = "invoices.credit_note_html", skip_all)]
                async fn credit_note_html(&mut self, id: Uuid) -> StoreResult<Option<String>> {
                    ::sqlx::query_scalar("SELECT html FROM credit_notes WHERE id = $1")
                        .bind(id)
                        .persistent(self.persistent())
                        .fetch_optional(self.conn())
                        .await
                        .map_err(Self::map_err)
                }

                #[tracing::instrument(target = "ordo_db", name = "invoices.credit_note_pdf", skip_all)]
                async fn credit_note_pdf(&mut self, id: Uuid) -> StoreResult<Option<Vec<u8>>> {
                    let pdf: Option<Option<Vec<u8>>> = ::sqlx::query_scalar("SELECT pdf FROM credit_notes WHERE id = $1")
                        .bind(id)
                        .persistent(self.persistent())
                        .fetch_optional(self.conn())
                        .await
                        .map_err(Self::map_err)?;
                    Ok(pdf.flatten())
                }

                #[tracing::instrument(target = "ordo_db", name = "invoices.order_credit_notes", skip_all)]
                async fn order_credit_notes(&mut self, order_id: Uuid) -> StoreResult<Vec<CreditNote>> {
                    let rows: Vec<Json<Document>> =
                        ::sqlx::query_scalar("SELECT document FROM credit_notes WHERE order_id = $1 ORDER BY id")
                            .bind(order_id)
                            .persistent(self.persistent())
                            .fetch_all(self.conn())
                            .await
                            .map_err(Self::map_err)?;
                    rows.into_iter().map(|j| j.0.decode()).collect()
                }

                #[tracing::instrument(target = "ordo_db", name = "invoices.list_credit_notes", skip_all)]
                async fn list_credit_notes(&mut self, order_id: Option<Uuid>, page: &PageRequest) -> StoreResult<Vec<CreditNote>> {
                    let mut query = ::sqlx::QueryBuilder::<::sqlx::$db>::new("SELECT document FROM credit_notes WHERE TRUE");
                    if let Some(after) = page.after {
                        query.push(" AND id > ").push_bind(after);
                    }
                    if let Some(order_id) = order_id {
                        query.push(" AND order_id = ").push_bind(order_id);
                    }
                    query.push(" ORDER BY id LIMIT ").push_bind(page.fetch_limit());
                    let rows: Vec<Json<Document>> =
                        query.build_query_scalar().persistent(self.persistent()).fetch_all(self.conn()).await.map_err(Self::map_err)?;
                    rows.into_iter().map(|j| j.0.decode()).collect()
                }
            }
        };
    };
}
