//! `OrderRepo`: the `orders`, `order_lines` and `order_events` tables.

use ordo_domain::audit::AuditFilter;
use ordo_domain::idempotency::Answer;
use ordo_domain::inventory::StockLevel;
use ordo_domain::order::{Allocation, Order, OrderFilter, OrderStatus};
use ordo_domain::page::PageRequest;
use ordo_domain::{CustomerId, OrderId};
use ordo_store::{NewPlacement, StockMove, StoreError, UniqueKey};
use ordo_testkit::store::StoreCtx;
use uuid::Uuid;

use crate::fixtures::{
    audit_event, bare_address, domain_event, idempotency_record, location, new_job, order, order_event, outcome, sku,
    stored_response, webhook,
};

fn customer(n: u128) -> CustomerId {
    CustomerId::from_uuid(Uuid::from_u128(0xc000 + n))
}

const LOCATION: Uuid = Uuid::from_u128(0x10c);

async fn order_round_trip_keeps_lines_and_address(t: &StoreCtx) {
    let mut s = t.begin().await;
    let full = order(t, customer(1), LOCATION, 1);
    let mut bare = order(t, customer(2), LOCATION, 2);
    bare.shipping_address = bare_address();
    bare.lines.truncate(1);
    bare.lines[0].allocations = vec![
        Allocation { location_id: Uuid::from_u128(1), quantity: 1, shipped: 1 },
        Allocation { location_id: Uuid::from_u128(2), quantity: 1, shipped: 0 },
    ];
    bare.lines[0].shipped_quantity = 1;
    bare.status = OrderStatus::PartiallyFulfilled;
    bare.version = 3;
    bare.updated_at = t.at(3);
    s.insert_order(&full, None).await.unwrap();
    s.insert_order(&bare, None).await.unwrap();
    assert_eq!(t.record("full", s.order(full.id).await.unwrap()).as_ref(), Some(&full));
    assert_eq!(t.record("bare", s.order(bare.id).await.unwrap()).as_ref(), Some(&bare));
    assert_eq!(s.order(OrderId::from_uuid(Uuid::from_u128(3))).await.unwrap(), None);
    // Every status survives.
    for status in [
        OrderStatus::Placed,
        OrderStatus::Paid,
        OrderStatus::Confirmed,
        OrderStatus::PartiallyFulfilled,
        OrderStatus::Fulfilled,
        OrderStatus::Completed,
        OrderStatus::Cancelled,
        OrderStatus::PaymentFailed,
        OrderStatus::Expired,
        OrderStatus::RefundPending,
        OrderStatus::Refunded,
    ] {
        let mut o = order(t, customer(3), LOCATION, 4);
        o.status = status;
        s.insert_order(&o, None).await.unwrap();
        assert_eq!(s.order(o.id).await.unwrap().map(|o| o.status), Some(status));
    }
}

async fn idempotency_key_places_one_order(t: &StoreCtx) {
    let principal = Uuid::from_u128(0xfeed);
    let mut s = t.begin().await;
    let first = order(t, customer(1), LOCATION, 1);
    s.insert_order(&first, Some((principal, "key-1"))).await.unwrap();
    let second = order(t, customer(1), LOCATION, 2);
    alone!(t, s, r = d => d.insert_order(&second, Some((principal, "key-1"))).await);
    assert!(matches!(r, Err(StoreError::Duplicate(UniqueKey::OrderIdempotencyKey))), "{}", outcome(&r));
    t.record("duplicate key", outcome(&r));
    assert_eq!(s.order(second.id).await.unwrap(), None);
    assert_eq!(s.order_by_idempotency_key(principal, "key-1").await.unwrap().as_ref(), Some(&first));
    // Same key, another principal; another key, same principal: fine.
    let third = order(t, customer(1), LOCATION, 3);
    s.insert_order(&third, Some((Uuid::from_u128(0xbeef), "key-1"))).await.unwrap();
    let fourth = order(t, customer(1), LOCATION, 4);
    s.insert_order(&fourth, Some((principal, "KEY-1"))).await.unwrap();
    assert_eq!(s.order_by_idempotency_key(principal, "KEY-1").await.unwrap().map(|o| o.id), Some(fourth.id));
    assert_eq!(s.order_by_idempotency_key(principal, "key-2").await.unwrap(), None);
    // Forgetting keys of orders placed before t+3 frees key-1 (placed at t+1) and keeps KEY-1 (t+4).
    assert_eq!(t.record("forgotten", s.forget_order_idempotency_keys(t.at(3)).await.unwrap()), 1);
    assert_eq!(s.order_by_idempotency_key(principal, "key-1").await.unwrap(), None);
    assert!(s.order_by_idempotency_key(principal, "KEY-1").await.unwrap().is_some());
    assert_eq!(s.order(first.id).await.unwrap().as_ref(), Some(&first), "the order itself stays");
    s.insert_order(&second, Some((principal, "key-1"))).await.unwrap();
    // `second` was placed at t+2, before t+3.
    assert_eq!(s.forget_order_idempotency_keys(t.at(3)).await.unwrap(), 1);
    assert_eq!(s.forget_order_idempotency_keys(t.at(3)).await.unwrap(), 0);
    assert_eq!(t.record("forgotten later", s.forget_order_idempotency_keys(t.at(100)).await.unwrap()), 2);
}

async fn update_order_checks_version(t: &StoreCtx) {
    let mut s = t.begin().await;
    let original = order(t, customer(1), LOCATION, 1);
    s.insert_order(&original, None).await.unwrap();
    let mut changed = original.clone();
    changed.status = OrderStatus::PartiallyFulfilled;
    changed.lines[0].shipped_quantity = 1;
    changed.lines[0].allocations[0].shipped = 1;
    changed.version = 2;
    changed.updated_at = t.at(9);
    assert!(t.record("update", s.update_order(&changed, 1).await.unwrap()));
    assert_eq!(t.record("after", s.order(original.id).await.unwrap()).as_ref(), Some(&changed));
    let mut stale = original.clone();
    stale.status = OrderStatus::Cancelled;
    stale.version = 2;
    assert!(!t.record("stale", s.update_order(&stale, 1).await.unwrap()));
    assert_eq!(s.order(original.id).await.unwrap().as_ref(), Some(&changed));
    assert!(!s.update_order(&order(t, customer(1), LOCATION, 1), 1).await.unwrap());
}

async fn list_orders_filters_and_pages(t: &StoreCtx) {
    let mut s = t.begin().await;
    let mut all: Vec<Order> = Vec::new();
    for i in 0..6_i64 {
        let mut o = order(t, customer(i as u128 % 2), LOCATION, 10 * i);
        o.status = if i % 3 == 0 { OrderStatus::Paid } else { OrderStatus::Placed };
        if i == 5 {
            o.lines.truncate(1);
        }
        s.insert_order(&o, None).await.unwrap();
        all.push(o);
    }
    let page = PageRequest { limit: 50, after: None };
    let n = |v: &[Order]| v.iter().map(|o| all.iter().position(|a| a.id == o.id).unwrap()).collect::<Vec<_>>();
    let every = s.list_orders(&OrderFilter::default(), &page).await.unwrap();
    assert_eq!(every, all, "with their lines, in id order");
    let paid = OrderFilter { status: Some(OrderStatus::Paid), ..Default::default() };
    assert_eq!(t.record("paid", n(&s.list_orders(&paid, &page).await.unwrap())), [0, 3]);
    let by_customer = OrderFilter { customer_id: Some(customer(1)), ..Default::default() };
    assert_eq!(t.record("customer 1", n(&s.list_orders(&by_customer, &page).await.unwrap())), [1, 3, 5]);
    // created_from inclusive, created_to exclusive.
    let window = OrderFilter { created_from: Some(t.at(10)), created_to: Some(t.at(40)), ..Default::default() };
    assert_eq!(t.record("window", n(&s.list_orders(&window, &page).await.unwrap())), [1, 2, 3]);
    let all_of_it = OrderFilter {
        status: Some(OrderStatus::Placed),
        customer_id: Some(customer(0)),
        created_from: Some(t.at(0)),
        created_to: Some(t.at(50)),
        market: Some("DE".to_owned()),
    };
    assert_eq!(n(&s.list_orders(&all_of_it, &page).await.unwrap()), [2, 4]);
    let elsewhere = OrderFilter { market: Some("FR".to_owned()), ..Default::default() };
    assert!(s.list_orders(&elsewhere, &page).await.unwrap().is_empty(), "no order of market FR");
    let first = s.list_orders(&OrderFilter::default(), &PageRequest { limit: 2, after: None }).await.unwrap();
    assert_eq!(t.record("page 1", n(&first)), [0, 1, 2]);
    let next = PageRequest { limit: 2, after: Some(*all[3].id.as_uuid()) };
    let second = s.list_orders(&OrderFilter::default(), &next).await.unwrap();
    assert_eq!(t.record("page after 3", n(&second)), [4, 5]);
    assert_eq!(second, all[4..].to_vec());
}

async fn bulk_orders_and_timeline(t: &StoreCtx) {
    let orders: Vec<Order> = (0..3).map(|i| order(t, customer(i), LOCATION, i as i64)).collect();
    let mut tx = t.begin().await;
    tx.insert_orders(&orders).await.unwrap();
    tx.insert_orders(&[]).await.unwrap();
    tx.commit().await.unwrap();
    let mut s = t.begin().await;
    for o in &orders {
        assert_eq!(t.record("bulk order", s.order(o.id).await.unwrap()).as_ref(), Some(o));
    }
    let id = orders[0].id;
    let placed = order_event(t, id, 1, None, OrderStatus::Placed);
    let mut paid = order_event(t, id, 2, Some(OrderStatus::Placed), OrderStatus::Paid);
    paid.detail = None;
    s.insert_order_event(&placed).await.unwrap();
    s.insert_order_event(&paid).await.unwrap();
    let bulk = vec![
        order_event(t, id, 3, Some(OrderStatus::Paid), OrderStatus::Confirmed),
        order_event(t, orders[1].id, 3, None, OrderStatus::Placed),
    ];
    s.commit().await.unwrap();
    let mut tx = t.begin().await;
    tx.insert_order_events(&bulk).await.unwrap();
    tx.insert_order_events(&[]).await.unwrap();
    tx.commit().await.unwrap();
    let mut s = t.begin().await;
    assert_eq!(t.record("timeline", s.order_events(id).await.unwrap()), vec![placed, paid, bulk[0].clone()]);
    assert_eq!(s.order_events(orders[1].id).await.unwrap(), vec![bulk[1].clone()]);
    assert!(s.order_events(orders[2].id).await.unwrap().is_empty());
}

/// A placement writes its order, lines, timeline entry, audit event,
/// domain event, jobs, key's answer and reservation together; a fan-out job
/// only where a webhook subscribes; and a reservation falling short says so,
/// for the caller to roll everything back.
async fn a_placement_writes_everything_at_once(t: &StoreCtx) {
    let principal = Uuid::from_u128(0xfeed);
    let here = location(t, "PLACE-WH", 0, 0);
    let mut s = t.begin().await;
    s.insert_location(&here).await.unwrap();
    s.change_on_hand(&sku("SKU-A"), here.id, 3).await.unwrap();
    s.change_on_hand(&sku("SKU-B"), here.id, 1).await.unwrap();
    s.insert_idempotency_key(&idempotency_record(principal, "place-1", t, 0)).await.unwrap();
    s.insert_webhook(&webhook(t, &["order.placed"], 0)).await.unwrap();
    s.commit().await.unwrap();
    let mv = |code: &str, quantity| StockMove { sku: sku(code), location_id: here.id, quantity };
    let level = |code: &str, on_hand, reserved| StockLevel::new(sku(code), here.id, on_hand, reserved);

    // Order lines: SKU-A × 2, SKU-B × 1.
    let placed = order(t, customer(1), here.id, 1);
    let event = order_event(t, placed.id, 1, None, OrderStatus::Placed);
    let audit = audit_event(t, "order", &placed.id.to_string(), 1);
    let domain = domain_event(t, "order.placed", *placed.id.as_uuid(), 1);
    let fan_out = new_job(t, "webhooks", "webhook.fan_out", 0, 1);
    let jobs = [new_job(t, "mail", "mail.order_confirmation", 0, 1), new_job(t, "payments", "payment.authorize", 1, 1)];
    let answer = Answer::Response(stored_response());
    let moves = [mv("SKU-A", 2), mv("SKU-B", 1)];
    let mut tx = t.begin().await;
    let applied = tx
        .insert_placement(&NewPlacement {
            order: &placed,
            idempotency: Some((principal, "place-1")),
            answer: Some(&answer),
            event: &event,
            audit: &audit,
            domain_event: Some((&domain, &fan_out)),
            jobs: &jobs,
            moves: &moves,
        })
        .await
        .unwrap();
    assert_eq!(t.record("applied", applied), 2);
    tx.commit().await.unwrap();
    let mut s = t.begin().await;
    assert_eq!(t.record("order", s.order(placed.id).await.unwrap()).as_ref(), Some(&placed));
    assert_eq!(s.order_by_idempotency_key(principal, "place-1").await.unwrap().map(|o| o.id), Some(placed.id));
    assert_eq!(t.record("timeline", s.order_events(placed.id).await.unwrap()), vec![event]);
    let page = PageRequest { limit: 50, after: None };
    assert_eq!(t.record("audit", s.list_audit_events(&AuditFilter::default(), &page).await.unwrap()), vec![audit]);
    assert_eq!(t.record("domain event", s.domain_event(domain.id).await.unwrap()), Some(domain));
    for job in [&fan_out, &jobs[0], &jobs[1]] {
        let stored = s.job(job.id).await.unwrap().unwrap_or_else(|| panic!("{} enqueued", job.name));
        assert_eq!((&stored.name, &stored.payload, stored.priority), (&job.name, &job.payload, job.priority));
    }
    let key = s.idempotency_key(principal, "place-1").await.unwrap().unwrap();
    assert_eq!(t.record("answer", key.answer), Some(answer));
    assert_eq!(t.record("stock", s.stock_of(&sku("SKU-A")).await.unwrap()), vec![level("SKU-A", 3, 2)]);
    assert_eq!(s.stock_of(&sku("SKU-B")).await.unwrap(), vec![level("SKU-B", 1, 1)]);
    drop(s);

    // SKU-A has one unit left, SKU-B none: the SKU-B move falls short.
    let short = order(t, customer(1), here.id, 2);
    let short_event = order_event(t, short.id, 2, None, OrderStatus::Placed);
    let short_audit = audit_event(t, "order", &short.id.to_string(), 2);
    let short_job = new_job(t, "mail", "mail.order_confirmation", 0, 2);
    let mut tx = t.begin().await;
    let applied = tx
        .insert_placement(&NewPlacement {
            order: &short,
            idempotency: None,
            answer: None,
            event: &short_event,
            audit: &short_audit,
            domain_event: None,
            jobs: std::slice::from_ref(&short_job),
            moves: &[mv("SKU-A", 1), mv("SKU-B", 1)],
        })
        .await;
    assert_eq!(t.record("short", applied.unwrap()), 1, "the SKU-B move is refused");
    drop(tx);
    let mut s = t.begin().await;
    assert_eq!(s.order(short.id).await.unwrap(), None, "rolled back");
    assert_eq!(s.job(short_job.id).await.unwrap(), None);
    assert_eq!(s.stock_of(&sku("SKU-A")).await.unwrap(), vec![level("SKU-A", 3, 2)]);

    // No webhook subscribes to order.paid: its fan-out job is left out.
    let unheard = order(t, customer(1), here.id, 3);
    let unheard_event = order_event(t, unheard.id, 3, None, OrderStatus::Placed);
    let unheard_audit = audit_event(t, "order", &unheard.id.to_string(), 3);
    let unheard_domain = domain_event(t, "order.paid", *unheard.id.as_uuid(), 3);
    let unheard_fan_out = new_job(t, "webhooks", "webhook.fan_out", 0, 3);
    let applied = s
        .insert_placement(&NewPlacement {
            order: &unheard,
            idempotency: None,
            answer: None,
            event: &unheard_event,
            audit: &unheard_audit,
            domain_event: Some((&unheard_domain, &unheard_fan_out)),
            jobs: &[],
            moves: &[mv("SKU-A", 1)],
        })
        .await
        .unwrap();
    assert_eq!(applied, 1);
    assert_eq!(s.order(unheard.id).await.unwrap().map(|o| o.id), Some(unheard.id));
    assert!(s.domain_event(unheard_domain.id).await.unwrap().is_some());
    assert!(!t.record("fan-out", s.job(unheard_fan_out.id).await.unwrap().is_some()), "no fan-out job");
}

ordo_testkit::store_tests!(
    a_placement_writes_everything_at_once,
    order_round_trip_keeps_lines_and_address,
    idempotency_key_places_one_order,
    update_order_checks_version,
    list_orders_filters_and_pages,
    bulk_orders_and_timeline,
);
