//! `PaymentRepo`: the `payments` table.

use ordo_domain::page::PageRequest;
use ordo_domain::payment::{Payment, PaymentFilter, PaymentKind, PaymentStatus, PaymentTotals, ProviderEvent};
use ordo_domain::{CustomerId, OrderId};
use ordo_testkit::store::StoreCtx;
use uuid::Uuid;

use crate::fixtures::{AWKWARD, eur, order};

fn payment(t: &StoreCtx, order_id: OrderId, kind: PaymentKind, amount: i64, key: &str, at: i64) -> Payment {
    Payment {
        id: t.id(),
        order_id,
        kind,
        provider: "test".to_owned(),
        provider_reference: None,
        amount,
        currency: eur(),
        status: PaymentStatus::Pending,
        idempotency_key: key.to_owned(),
        failure_reason: None,
        created_at: t.at(at),
        updated_at: t.at(at),
    }
}

async fn an_order(t: &StoreCtx, at: i64) -> OrderId {
    let o = order(t, CustomerId::from_uuid(Uuid::from_u128(0xc0)), Uuid::from_u128(0x10c), at);
    let mut tx = t.begin().await;
    tx.insert_order(&o, None).await.unwrap();
    tx.commit().await.unwrap();
    o.id
}

async fn records_round_trip_once_per_key_and_settle_once(t: &StoreCtx) {
    let order_id = an_order(t, 0).await;
    let mut tx = t.begin().await;
    let mut auth = payment(t, order_id, PaymentKind::Authorization, 11_900, "order:1:authorize", 1);
    auth.provider_reference = Some(format!("pi_{AWKWARD}"));
    assert!(t.record("insert", tx.insert_payment(&auth).await.unwrap()));
    assert_eq!(t.record("read", tx.payment(auth.id).await.unwrap()).as_ref(), Some(&auth));
    // The same key again records nothing, whatever else differs.
    let again = payment(t, order_id, PaymentKind::Authorization, 1, "order:1:authorize", 2);
    assert!(!t.record("same key", tx.insert_payment(&again).await.unwrap()));
    assert_eq!(tx.payment(again.id).await.unwrap(), None);
    assert_eq!(tx.payment_by_key("order:1:authorize").await.unwrap().as_ref(), Some(&auth));
    assert_eq!(tx.payment_by_key("nope").await.unwrap(), None);
    // Settling: once, keeping the reference when none is given.
    assert!(tx.settle_payment(auth.id, PaymentStatus::Succeeded, None, None, t.at(3)).await.unwrap());
    assert!(!t.record(
        "settle twice",
        tx.settle_payment(auth.id, PaymentStatus::Failed, Some("x"), Some("late"), t.at(4)).await.unwrap()
    ));
    let settled = tx.payment(auth.id).await.unwrap().unwrap();
    assert_eq!(
        (settled.status, settled.provider_reference.as_deref()),
        (PaymentStatus::Succeeded, auth.provider_reference.as_deref())
    );
    assert_eq!((settled.created_at, settled.updated_at), (t.at(1), t.at(3)));
    let capture = payment(t, order_id, PaymentKind::Capture, 11_900, "order:1:capture", 5);
    tx.insert_payment(&capture).await.unwrap();
    assert!(
        tx.settle_payment(capture.id, PaymentStatus::Failed, Some("ch_1"), Some("card_declined\n"), t.at(6))
            .await
            .unwrap()
    );
    let failed = t.record("failed", tx.payment(capture.id).await.unwrap().unwrap());
    assert_eq!(
        (failed.provider_reference.as_deref(), failed.failure_reason.as_deref()),
        (Some("ch_1"), Some("card_declined\n"))
    );
    tx.commit().await.unwrap();
}

async fn totals_count_successful_captures_and_unfailed_refunds(t: &StoreCtx) {
    let order_id = an_order(t, 0).await;
    let other = an_order(t, 1).await;
    let mut tx = t.begin().await;
    tx.lock_order_payments(order_id).await.unwrap();
    assert_eq!(tx.payment_totals(order_id).await.unwrap(), PaymentTotals::default());
    let rows = [
        (order_id, PaymentKind::Authorization, 1000, "a", Some(PaymentStatus::Succeeded)),
        (order_id, PaymentKind::Capture, 1000, "c", Some(PaymentStatus::Succeeded)),
        (order_id, PaymentKind::Capture, 50, "c2", Some(PaymentStatus::Failed)),
        (order_id, PaymentKind::Refund, 100, "r1", Some(PaymentStatus::Succeeded)),
        (order_id, PaymentKind::Refund, 200, "r2", None),
        (order_id, PaymentKind::Refund, 400, "r3", Some(PaymentStatus::Failed)),
        (other, PaymentKind::Authorization, 9, "oa", Some(PaymentStatus::Succeeded)),
        (other, PaymentKind::Capture, 7, "o", Some(PaymentStatus::Succeeded)),
        (other, PaymentKind::Capture, 2, "o2", None),
        (other, PaymentKind::Void, 9, "ov", Some(PaymentStatus::Failed)),
    ];
    for (n, (order, kind, amount, key, status)) in rows.into_iter().enumerate() {
        let p = payment(t, order, kind, amount, key, 10 + n as i64);
        tx.insert_payment(&p).await.unwrap();
        if let Some(status) = status {
            tx.settle_payment(p.id, status, None, None, t.at(20)).await.unwrap();
        }
    }
    let totals = t.record("totals", tx.payment_totals(order_id).await.unwrap());
    assert_eq!(
        totals,
        PaymentTotals { authorized: 1000, captured: 1000, capturing: 1000, offline: 0, refunded: 300, voided: false }
    );
    // A pending capture is being taken; a failed void voids nothing.
    assert_eq!(
        t.record("other", tx.payment_totals(other).await.unwrap()),
        PaymentTotals { authorized: 9, captured: 7, capturing: 9, offline: 0, refunded: 0, voided: false }
    );
    let void = payment(t, other, PaymentKind::Void, 9, "ov2", 30);
    tx.insert_payment(&void).await.unwrap();
    assert!(tx.payment_totals(other).await.unwrap().voided, "a pending void counts");
    // Money received offline is its own sum, never a provider's capture.
    let mut offline = payment(t, other, PaymentKind::Capture, 500, "off", 31);
    offline.provider = ordo_domain::payment::OFFLINE_PROVIDER.to_owned();
    offline.status = PaymentStatus::Succeeded;
    tx.insert_payment(&offline).await.unwrap();
    let totals = t.record("offline", tx.payment_totals(other).await.unwrap());
    assert_eq!((totals.captured, totals.capturing, totals.offline), (7, 9, 500));
    // An order's records, oldest first; and the filtered, paged list.
    let kinds: Vec<PaymentKind> = tx.order_payments(order_id).await.unwrap().iter().map(|p| p.kind).collect();
    assert_eq!(t.record("order's", kinds.len()), 6);
    let all = PageRequest { limit: 500, after: None };
    let refunds = PaymentFilter { order_id: Some(order_id), kind: Some(PaymentKind::Refund), status: None };
    let listed: Vec<i64> = tx.list_payments(&refunds, &all).await.unwrap().iter().map(|p| p.amount).collect();
    assert_eq!(t.record("refunds", listed), [100, 200, 400]);
    let failed = PaymentFilter { status: Some(PaymentStatus::Failed), ..PaymentFilter::default() };
    assert_eq!(tx.list_payments(&failed, &all).await.unwrap().len(), 3);
    let first_two = tx.list_payments(&PaymentFilter::default(), &PageRequest { limit: 2, after: None }).await.unwrap();
    let after = PageRequest { limit: 500, after: Some(first_two[1].id) };
    let rest = tx.list_payments(&PaymentFilter::default(), &after).await.unwrap();
    assert_eq!(t.record("pages", (first_two.len(), rest.len())), (3, 10), "a page fetches one more than its limit");
    tx.commit().await.unwrap();
}

async fn payments_are_found_by_reference_and_provider_events_recorded_once(t: &StoreCtx) {
    let order_id = an_order(t, 0).await;
    let mut tx = t.begin().await;
    let mut auth = payment(t, order_id, PaymentKind::Authorization, 500, "order:2:authorize", 1);
    auth.provider = "stripe".to_owned();
    auth.provider_reference = Some("pi_1".to_owned());
    tx.insert_payment(&auth).await.unwrap();
    let mut capture = payment(t, order_id, PaymentKind::Capture, 500, "order:2:capture", 2);
    capture.provider = "stripe".to_owned();
    capture.provider_reference = Some("pi_1".to_owned());
    tx.insert_payment(&capture).await.unwrap();
    // The first record with the reference, of that provider only.
    let found = t.record("by reference", tx.payment_by_reference("stripe", "pi_1").await.unwrap());
    assert_eq!(found.map(|p| p.id), Some(auth.id));
    assert_eq!(tx.payment_by_reference("test", "pi_1").await.unwrap(), None);
    assert_eq!(tx.payment_by_reference("stripe", "pi_2").await.unwrap(), None);
    let event = ProviderEvent {
        id: t.id(),
        provider: "stripe".to_owned(),
        event_id: "evt_1".to_owned(),
        event_type: "payment_intent.canceled".to_owned(),
        order_id: Some(order_id),
        payload: format!(r#"{{"id":"evt_1","note":"{AWKWARD}"}}"#),
        received_at: t.at(3),
    };
    assert!(t.record("event", tx.insert_provider_event(&event).await.unwrap()));
    // Delivered again: recorded once.
    let again = ProviderEvent { id: t.id(), order_id: None, ..event.clone() };
    assert!(!t.record("event again", tx.insert_provider_event(&again).await.unwrap()));
    // The same id from another provider is another event; no order is fine.
    let other = ProviderEvent { id: t.id(), provider: "other".to_owned(), order_id: None, ..event };
    assert!(tx.insert_provider_event(&other).await.unwrap());
    tx.commit().await.unwrap();
}

ordo_testkit::store_tests!(
    records_round_trip_once_per_key_and_settle_once,
    totals_count_successful_captures_and_unfailed_refunds,
    payments_are_found_by_reference_and_provider_events_recorded_once,
);
