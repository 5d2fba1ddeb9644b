//! `InvoiceRepo`: the `invoices`, `credit_notes` and their counters' tables.

use ordo_domain::page::PageRequest;
use ordo_testkit::store::StoreCtx;
use uuid::Uuid;

use ordo_domain::credit_note::{CreditNote, CreditNoteLine, CreditReason};
use ordo_domain::{CustomerId, OrderId};

use crate::fixtures::{AWKWARD, bare_address, invoice, order};

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
    second.seller = None;
    second.customer_vat_id = None;
    second.lines.clear();
    second.tax_breakdown.clear();
    let third = invoice(t, orders[2], "INV-DE-2026-000003", 3);
    let html = format!("<html><body>{}</body></html>", crate::fixtures::AWKWARD);
    s.insert_invoice(&first, &html, b"%PDF-1.7 first").await.unwrap();
    s.insert_invoice(&second, "", b"").await.unwrap();
    s.insert_invoice(&third, "<p>3</p>", &[0, 255, 1]).await.unwrap();
    assert_eq!(t.record("first", s.invoice(first.id).await.unwrap()).as_ref(), Some(&first));
    assert_eq!(t.record("second", s.invoice(second.id).await.unwrap()).as_ref(), Some(&second));
    assert_eq!(s.invoice(Uuid::from_u128(1)).await.unwrap(), None);
    assert_eq!(t.record("html", s.invoice_html(first.id).await.unwrap()), Some(html));
    assert_eq!(s.invoice_html(second.id).await.unwrap(), Some(String::new()));
    assert_eq!(s.invoice_html(Uuid::from_u128(1)).await.unwrap(), None);
    assert_eq!(t.record("pdf", s.invoice_pdf(first.id).await.unwrap()), Some(b"%PDF-1.7 first".to_vec()));
    assert_eq!(s.invoice_pdf(third.id).await.unwrap(), Some(vec![0, 255, 1]), "binary, byte for byte");
    assert_eq!(s.invoice_pdf(Uuid::from_u128(1)).await.unwrap(), None);
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
    alone!(t, s, r = d => d.insert_invoice(&dup, "", b"").await);
    assert!(r.is_err(), "a second invoice for an order");
    assert_eq!(s.invoice(dup.id).await.unwrap(), None);
}

fn credit_note(t: &StoreCtx, inv: &ordo_domain::invoice::Invoice, number: &str, at: i64) -> CreditNote {
    CreditNote {
        id: t.id(),
        number: number.to_owned(),
        order_id: OrderId::from_uuid(inv.order_id),
        invoice_id: inv.id,
        invoice_number: inv.number.clone(),
        market: "DE".to_owned(),
        currency: inv.currency,
        issued_at: t.at(at),
        reason: CreditReason::Return,
        refund_id: Some(Uuid::from_u128(0xf00)),
        return_id: None,
        seller: inv.seller.clone(),
        customer_name: inv.customer_name.clone(),
        customer_email: inv.customer_email.clone(),
        billing_address: inv.billing_address.clone(),
        customer_vat_id: inv.customer_vat_id.clone(),
        lines: vec![CreditNoteLine {
            line: Some(1),
            sku: Some("SKU-A".to_owned()),
            name: format!("Widget {AWKWARD}"),
            quantity: 1,
            subtotal: 1000,
            tax_rate_bp: 1900,
            tax: 190,
            total: 1190,
            shipping: false,
        }],
        tax_breakdown: inv.tax_breakdown.clone(),
        subtotal: 1000,
        tax: 190,
        total: 1190,
    }
}

async fn credit_notes_have_their_own_gapless_numbers_and_name_their_invoice(t: &StoreCtx) {
    let mut s = t.begin().await;
    assert_eq!(s.next_invoice_number("DE", 2026).await.unwrap(), 1);
    assert_eq!(t.record("CN DE #1", s.next_credit_note_number("DE", 2026).await.unwrap()), 1);
    assert_eq!(s.next_credit_note_number("DE", 2026).await.unwrap(), 2);
    assert_eq!(s.next_credit_note_number("AT", 2026).await.unwrap(), 1);
    assert_eq!(s.next_invoice_number("DE", 2026).await.unwrap(), 2, "invoices keep their own sequence");
    s.commit().await.unwrap();
    let mut s = t.begin().await;
    assert_eq!(s.next_credit_note_number("DE", 2026).await.unwrap(), 3);
    drop(s);
    let mut s = t.begin().await;
    assert_eq!(t.record("after rollback", s.next_credit_note_number("DE", 2026).await.unwrap()), 3);

    let orders: Vec<_> =
        (0..2).map(|i| order(t, CustomerId::from_uuid(Uuid::from_u128(0xc0)), Uuid::from_u128(0x10c), i)).collect();
    for o in &orders {
        s.insert_order(o, None).await.unwrap();
    }
    let invoices: Vec<_> =
        orders.iter().zip(1..).map(|(o, n)| invoice(t, *o.id.as_uuid(), &format!("INV-DE-2026-00000{n}"), n)).collect();
    for i in &invoices {
        s.insert_invoice(i, "", b"").await.unwrap();
    }
    let first = credit_note(t, &invoices[0], "CN-DE-2026-000001", 10);
    let mut second = credit_note(t, &invoices[1], "CN-DE-2026-000002", 11);
    second.reason = CreditReason::Refund;
    second.refund_id = None;
    second.return_id = Some(Uuid::from_u128(0xbac));
    second.lines[0].line = None;
    second.lines[0].sku = None;
    let third = credit_note(t, &invoices[0], "CN-DE-2026-000003", 12);
    let html = format!("<p>{AWKWARD}</p>");
    s.insert_credit_note(&first, &html, b"%PDF cn").await.unwrap();
    s.insert_credit_note(&second, "", b"").await.unwrap();
    s.insert_credit_note(&third, "<p>3</p>", &[7, 0, 200]).await.unwrap();
    assert_eq!(t.record("first", s.credit_note(first.id).await.unwrap()).as_ref(), Some(&first));
    assert_eq!(s.credit_note(second.id).await.unwrap().as_ref(), Some(&second));
    assert_eq!(s.credit_note(Uuid::from_u128(1)).await.unwrap(), None);
    assert_eq!(t.record("html", s.credit_note_html(first.id).await.unwrap()), Some(html));
    assert_eq!(s.credit_note_html(Uuid::from_u128(1)).await.unwrap(), None);
    assert_eq!(t.record("pdf", s.credit_note_pdf(third.id).await.unwrap()), Some(vec![7, 0, 200]));
    assert_eq!(s.credit_note_pdf(Uuid::from_u128(1)).await.unwrap(), None);
    let numbers = |v: Vec<CreditNote>| v.into_iter().map(|n| n.number).collect::<Vec<_>>();
    assert_eq!(
        t.record("of order", numbers(s.order_credit_notes(*orders[0].id.as_uuid()).await.unwrap())),
        ["CN-DE-2026-000001", "CN-DE-2026-000003"]
    );
    assert!(s.order_credit_notes(Uuid::from_u128(1)).await.unwrap().is_empty());
    let all = PageRequest { limit: 50, after: None };
    assert_eq!(numbers(s.list_credit_notes(None, &all).await.unwrap()).len(), 3);
    assert_eq!(numbers(s.list_credit_notes(Some(*orders[1].id.as_uuid()), &all).await.unwrap()), ["CN-DE-2026-000002"]);
    let page = PageRequest { limit: 1, after: Some(first.id) };
    assert_eq!(
        t.record("page", numbers(s.list_credit_notes(None, &page).await.unwrap())),
        ["CN-DE-2026-000002", "CN-DE-2026-000003"]
    );
    // A number is used once, and a credit note needs its invoice.
    let dup = credit_note(t, &invoices[1], "CN-DE-2026-000001", 13);
    alone!(t, s, r = d => d.insert_credit_note(&dup, "", b"").await);
    assert!(r.is_err(), "a credit note number used twice");
    let mut orphan = credit_note(t, &invoices[1], "CN-DE-2026-000009", 14);
    orphan.invoice_id = Uuid::from_u128(2);
    alone!(t, s, r = d => d.insert_credit_note(&orphan, "", b"").await);
    assert!(r.is_err(), "a credit note of an invoice that does not exist");
    s.commit().await.unwrap();
}

ordo_testkit::store_tests!(
    invoice_numbers_are_gapless_per_market_and_year,
    invoice_round_trip_html_and_listing,
    credit_notes_have_their_own_gapless_numbers_and_name_their_invoice,
);
