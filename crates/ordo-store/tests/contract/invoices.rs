//! `InvoiceRepo`: the `invoices` and `invoice_counters` tables.

use ordo_domain::page::PageRequest;
use ordo_testkit::store::StoreCtx;
use uuid::Uuid;

use crate::fixtures::{bare_address, invoice};

async fn invoice_numbers_are_gapless_per_market_and_year(t: &StoreCtx) {
    let mut tx = t.begin().await;
    assert_eq!(t.record("DE 2026 #1", tx.next_invoice_number("DE", 2026).await.unwrap()), 1);
    assert_eq!(tx.next_invoice_number("DE", 2026).await.unwrap(), 2);
    assert_eq!(t.record("AT 2026 #1", tx.next_invoice_number("AT", 2026).await.unwrap()), 1);
    assert_eq!(tx.next_invoice_number("DE", 2027).await.unwrap(), 1);
    tx.commit().await.unwrap();
    // A rolled-back number is given back.
    let mut tx = t.begin().await;
    assert_eq!(tx.next_invoice_number("DE", 2026).await.unwrap(), 3);
    drop(tx);
    let mut tx = t.begin().await;
    assert_eq!(t.record("after rollback", tx.next_invoice_number("DE", 2026).await.unwrap()), 3);
    tx.commit().await.unwrap();
    // Concurrent transactions never get the same number.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let db = t.db.clone();
        tasks.push(tokio::spawn(async move {
            let mut tx = db.begin().await.unwrap();
            let n = tx.next_invoice_number("FR", 2026).await.unwrap();
            tx.commit().await.unwrap();
            n
        }));
    }
    let mut numbers = Vec::new();
    for task in tasks {
        numbers.push(task.await.unwrap());
    }
    numbers.sort_unstable();
    assert_eq!(t.record("concurrent", numbers), (1..=8).collect::<Vec<i64>>());
}

async fn invoice_round_trip_html_and_listing(t: &StoreCtx) {
    let mut s = t.begin().await;
    let orders: Vec<Uuid> = (0..3).map(|i| Uuid::from_u128(0x0de0 + i)).collect();
    let first = invoice(t, orders[0], "INV-DE-2026-000001", 1);
    let mut second = invoice(t, orders[1], "INV-DE-2026-000002", 2);
    second.billing_address = bare_address();
    second.lines.clear();
    second.tax_breakdown.clear();
    let third = invoice(t, orders[2], "INV-DE-2026-000003", 3);
    let html = format!("<html><body>{}</body></html>", crate::fixtures::AWKWARD);
    s.insert_invoice(&first, &html).await.unwrap();
    s.insert_invoice(&second, "").await.unwrap();
    s.insert_invoice(&third, "<p>3</p>").await.unwrap();
    assert_eq!(t.record("first", s.invoice(first.id).await.unwrap()).as_ref(), Some(&first));
    assert_eq!(t.record("second", s.invoice(second.id).await.unwrap()).as_ref(), Some(&second));
    assert_eq!(s.invoice(Uuid::from_u128(1)).await.unwrap(), None);
    assert_eq!(t.record("html", s.invoice_html(first.id).await.unwrap()), Some(html));
    assert_eq!(s.invoice_html(second.id).await.unwrap(), Some(String::new()));
    assert_eq!(s.invoice_html(Uuid::from_u128(1)).await.unwrap(), None);
    assert_eq!(s.invoice_for_order(orders[1]).await.unwrap().as_ref(), Some(&second));
    assert_eq!(s.invoice_for_order(Uuid::from_u128(1)).await.unwrap(), None);
    let ids = |v: Vec<ordo_domain::invoice::Invoice>| v.into_iter().map(|i| i.number).collect::<Vec<_>>();
    let all = PageRequest { limit: 50, after: None };
    assert_eq!(
        t.record("list", ids(s.list_invoices(None, &all).await.unwrap())),
        ["INV-DE-2026-000001", "INV-DE-2026-000002", "INV-DE-2026-000003"]
    );
    assert_eq!(s.list_invoices(None, &all).await.unwrap()[2], third);
    assert_eq!(ids(s.list_invoices(Some(orders[2]), &all).await.unwrap()), ["INV-DE-2026-000003"]);
    assert!(s.list_invoices(Some(Uuid::from_u128(1)), &all).await.unwrap().is_empty());
    let page = PageRequest { limit: 1, after: Some(first.id) };
    assert_eq!(
        t.record("page", ids(s.list_invoices(None, &page).await.unwrap())),
        ["INV-DE-2026-000002", "INV-DE-2026-000003"]
    );
    // One invoice per order.
    let dup = invoice(t, orders[0], "INV-DE-2026-000009", 9);
    alone!(t, s, r = d => d.insert_invoice(&dup, "").await);
    assert!(r.is_err(), "a second invoice for an order");
    assert_eq!(s.invoice(dup.id).await.unwrap(), None);
}

ordo_testkit::store_tests!(invoice_numbers_are_gapless_per_market_and_year, invoice_round_trip_html_and_listing);
