//! `WebhookRepo`: the `domain_events`, `webhooks` and `webhook_deliveries` tables.

use ordo_domain::page::PageRequest;
use ordo_domain::webhook::{Delivery, DeliveryStatus};
use ordo_testkit::store::StoreCtx;
use uuid::Uuid;

use crate::fixtures::{delivery, domain_event, webhook};

const ORDER: Uuid = Uuid::from_u128(0x0de1);

async fn events_and_webhooks_round_trip(t: &StoreCtx) {
    let mut s = t.begin().await;
    let event = domain_event(t, "order.placed", ORDER, 1);
    let mut bare = domain_event(t, "order.paid", ORDER, 2);
    bare.data = serde_json::json!([]);
    s.insert_domain_event(&event).await.unwrap();
    s.insert_domain_event(&bare).await.unwrap();
    assert_eq!(t.record("event", s.domain_event(event.id).await.unwrap()).as_ref(), Some(&event));
    assert_eq!(s.domain_event(bare.id).await.unwrap().as_ref(), Some(&bare));
    assert_eq!(s.domain_event(Uuid::from_u128(1)).await.unwrap(), None);

    assert!(!s.any_webhook_for("order.placed").await.unwrap());
    let hook = webhook(t, &["order.placed", "order.paid"], 3);
    let other = webhook(t, &[], 4);
    s.insert_webhook(&hook).await.unwrap();
    s.insert_webhook(&other).await.unwrap();
    assert_eq!(t.record("webhook", s.webhook(hook.id).await.unwrap()).as_ref(), Some(&hook));
    assert_eq!(s.webhook(other.id).await.unwrap().as_ref(), Some(&other));
    assert_eq!(s.webhook(Uuid::from_u128(1)).await.unwrap(), None);
    let mut listed = s.list_webhooks().await.unwrap();
    listed.sort_by_key(|w| w.id);
    assert_eq!(t.record("list", listed), vec![hook.clone(), other.clone()]);
    assert!(t.record("any placed", s.any_webhook_for("order.placed").await.unwrap()));
    assert!(s.any_webhook_for("order.paid").await.unwrap());
    assert!(!t.record("any prefix", s.any_webhook_for("order").await.unwrap()));
    assert!(!s.any_webhook_for("order.shipped").await.unwrap());
    assert!(t.record("delete", s.delete_webhook(hook.id).await.unwrap()));
    assert!(!s.delete_webhook(hook.id).await.unwrap());
    assert_eq!(s.webhook(hook.id).await.unwrap(), None);
    assert!(!s.any_webhook_for("order.placed").await.unwrap());
}

async fn deliveries_one_per_event_and_attempts(t: &StoreCtx) {
    let mut s = t.begin().await;
    let hook = webhook(t, &["order.placed"], 0);
    s.insert_webhook(&hook).await.unwrap();
    let event = domain_event(t, "order.placed", ORDER, 1);
    s.insert_domain_event(&event).await.unwrap();
    let d = delivery(t, hook.id, &event, 2);
    assert!(t.record("insert", s.insert_delivery(&d).await.unwrap()));
    assert_eq!(t.record("stored", s.delivery(d.id).await.unwrap()).as_ref(), Some(&d));
    assert_eq!(s.delivery(Uuid::from_u128(1)).await.unwrap(), None);
    // The same (webhook, event) again, under another id: not inserted.
    let again = delivery(t, hook.id, &event, 3);
    assert!(!t.record("insert again", s.insert_delivery(&again).await.unwrap()));
    assert_eq!(s.delivery(again.id).await.unwrap(), None);

    // A failed attempt: still pending, counted.
    s.record_delivery_attempt(d.id, DeliveryStatus::Pending, Some(500), Some("server error"), t.at(10)).await.unwrap();
    let after_one = s.delivery(d.id).await.unwrap().unwrap();
    assert_eq!(
        t.record(
            "after 500",
            (
                &after_one.status,
                after_one.attempts,
                after_one.last_status_code,
                &after_one.last_error,
                after_one.delivered_at
            )
        ),
        (&DeliveryStatus::Pending, 1, Some(500), &Some("server error".to_owned()), None)
    );
    // Failed for good; a late failed attempt keeps it failed; a late success delivers it.
    assert!(t.record("fail", s.fail_delivery(d.id, "job ended").await.unwrap()));
    assert!(!s.fail_delivery(d.id, "again").await.unwrap(), "only pending ones");
    let failed = s.delivery(d.id).await.unwrap().unwrap();
    assert_eq!((failed.status, failed.last_error.as_deref()), (DeliveryStatus::Failed, Some("job ended")));
    s.record_delivery_attempt(d.id, DeliveryStatus::Pending, None, Some("timeout"), t.at(11)).await.unwrap();
    let still = s.delivery(d.id).await.unwrap().unwrap();
    assert_eq!(
        t.record("late failure", (&still.status, &still.last_error)),
        (&DeliveryStatus::Failed, &Some("job ended".to_owned()))
    );
    s.record_delivery_attempt(d.id, DeliveryStatus::Delivered, Some(204), None, t.at(12)).await.unwrap();
    let delivered = s.delivery(d.id).await.unwrap().unwrap();
    assert_eq!(
        t.record("delivered", &delivered),
        &Delivery {
            status: DeliveryStatus::Delivered,
            attempts: 2,
            last_status_code: Some(204),
            last_error: None,
            delivered_at: Some(t.at(12)),
            ..d.clone()
        }
    );
    // Replay: pending again.
    assert!(t.record("reset", s.reset_delivery(d.id).await.unwrap()));
    let reset = s.delivery(d.id).await.unwrap().unwrap();
    t.record("after reset", &reset);
    assert_eq!(reset.status, DeliveryStatus::Pending);
    assert!(!s.reset_delivery(d.id).await.unwrap(), "a pending delivery is not reset");
    assert!(!s.reset_delivery(Uuid::from_u128(1)).await.unwrap());
}

async fn deliveries_keep_order_events_in_order(t: &StoreCtx) {
    let mut s = t.begin().await;
    let hook = webhook(t, &["order.placed", "order.paid"], 0);
    let other_hook = webhook(t, &["order.placed"], 0);
    s.insert_webhook(&hook).await.unwrap();
    s.insert_webhook(&other_hook).await.unwrap();
    let placed = domain_event(t, "order.placed", ORDER, 1);
    let paid = domain_event(t, "order.paid", ORDER, 2);
    let elsewhere = domain_event(t, "order.placed", Uuid::from_u128(0x0de2), 3);
    for e in [&placed, &paid, &elsewhere] {
        s.insert_domain_event(e).await.unwrap();
    }
    let mut all = Vec::new();
    for (h, e) in [(&hook, &placed), (&hook, &paid), (&other_hook, &placed), (&hook, &elsewhere)] {
        let d = delivery(t, h.id, e, 4);
        assert!(s.insert_delivery(&d).await.unwrap());
        all.push(d);
    }
    let [d_placed, d_paid, d_other, d_elsewhere] = [&all[0], &all[1], &all[2], &all[3]];
    assert!(t.record("paid waits for placed", s.earlier_delivery_pending(d_paid).await.unwrap()));
    assert!(!s.earlier_delivery_pending(d_placed).await.unwrap());
    assert!(!s.earlier_delivery_pending(d_other).await.unwrap(), "another webhook's queue");
    assert!(!s.earlier_delivery_pending(d_elsewhere).await.unwrap(), "another order");
    s.record_delivery_attempt(d_placed.id, DeliveryStatus::Delivered, Some(200), None, t.at(5)).await.unwrap();
    assert!(!t.record("placed delivered", s.earlier_delivery_pending(d_paid).await.unwrap()));

    let ids = |v: Vec<Delivery>| v.into_iter().map(|d| d.id).collect::<Vec<_>>();
    let page = PageRequest { limit: 50, after: None };
    assert_eq!(
        t.record("list", ids(s.list_deliveries(hook.id, &page).await.unwrap())),
        vec![d_placed.id, d_paid.id, d_elsewhere.id]
    );
    let p = PageRequest { limit: 1, after: Some(d_placed.id) };
    assert_eq!(ids(s.list_deliveries(hook.id, &p).await.unwrap()), vec![d_paid.id, d_elsewhere.id]);
    assert_eq!(ids(s.list_deliveries(other_hook.id, &page).await.unwrap()), vec![d_other.id]);
    // Deleting a webhook fails its pending deliveries, and only those.
    assert_eq!(t.record("fail pending", s.fail_pending_deliveries(hook.id, "webhook deleted").await.unwrap()), 2);
    let listed = s.list_deliveries(hook.id, &page).await.unwrap();
    let states: Vec<_> = listed.iter().map(|d| (d.status, d.last_error.clone())).collect();
    assert_eq!(
        t.record("states", &states),
        &vec![
            (DeliveryStatus::Delivered, None),
            (DeliveryStatus::Failed, Some("webhook deleted".to_owned())),
            (DeliveryStatus::Failed, Some("webhook deleted".to_owned())),
        ]
    );
    assert_eq!(s.delivery(d_other.id).await.unwrap().unwrap().status, DeliveryStatus::Pending);
    assert_eq!(s.fail_pending_deliveries(hook.id, "again").await.unwrap(), 0);
}

ordo_testkit::store_tests!(
    events_and_webhooks_round_trip,
    deliveries_one_per_event_and_attempts,
    deliveries_keep_order_events_in_order,
);
