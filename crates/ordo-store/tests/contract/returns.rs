//! `ReturnRepo`: the `returns` table.

use ordo_domain::page::PageRequest;
use ordo_domain::returns::{Disposition, Return, ReturnFilter, ReturnLine, ReturnStatus};
use ordo_domain::{CustomerId, OrderId};
use ordo_testkit::store::StoreCtx;
use uuid::Uuid;

use crate::fixtures::{AWKWARD, order};

fn a_return(t: &StoreCtx, order_id: OrderId, at: i64) -> Return {
    Return {
        id: t.id(),
        order_id,
        status: ReturnStatus::Requested,
        reason: Some(format!("too small {AWKWARD}")),
        lines: vec![ReturnLine { line: 1, sku: "SKU-A".to_owned(), quantity: 2, disposition: None }],
        rejection_reason: None,
        location_id: None,
        refund_id: None,
        credit_note_id: None,
        refunded: 0,
        version: 1,
        created_at: t.at(at),
        updated_at: t.at(at),
    }
}

async fn returns_round_trip_update_at_their_version_and_list(t: &StoreCtx) {
    let mut s = t.begin().await;
    let orders: Vec<_> =
        (0..2).map(|i| order(t, CustomerId::from_uuid(Uuid::from_u128(0xc0)), Uuid::from_u128(0x10c), i)).collect();
    for o in &orders {
        s.insert_order(o, None).await.unwrap();
    }
    let first = a_return(t, orders[0].id, 1);
    let mut second = a_return(t, orders[0].id, 2);
    second.reason = None;
    let third = a_return(t, orders[1].id, 3);
    for r in [&first, &second, &third] {
        s.insert_return(r).await.unwrap();
    }
    assert_eq!(t.record("first", s.find_return(first.id).await.unwrap()).as_ref(), Some(&first));
    assert_eq!(s.find_return(Uuid::from_u128(1)).await.unwrap(), None);

    // Received, at the version it was read at; a stale write changes nothing.
    let mut received = second.clone();
    received.status = ReturnStatus::Received;
    received.version = 2;
    received.location_id = Some(Uuid::from_u128(0x10c));
    received.lines[0].disposition = Some(Disposition::Damaged);
    received.refund_id = Some(Uuid::from_u128(0xf00));
    received.credit_note_id = Some(Uuid::from_u128(0xc4));
    received.refunded = 2380;
    received.updated_at = t.at(5);
    assert!(t.record("update", s.update_return(&received).await.unwrap()));
    assert!(!t.record("stale", s.update_return(&received).await.unwrap()));
    assert_eq!(s.find_return(second.id).await.unwrap().as_ref(), Some(&received));

    let ids = |v: Vec<Return>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(t.record("of order", ids(s.order_returns(orders[0].id).await.unwrap())), [first.id, second.id]);
    assert!(s.order_returns(OrderId::from_uuid(Uuid::from_u128(1))).await.unwrap().is_empty());
    let all = PageRequest { limit: 50, after: None };
    let everything = ReturnFilter::default();
    assert_eq!(ids(s.list_returns(&everything, &all).await.unwrap()), [first.id, second.id, third.id]);
    let received_only = ReturnFilter { status: Some(ReturnStatus::Received), ..ReturnFilter::default() };
    assert_eq!(t.record("received", ids(s.list_returns(&received_only, &all).await.unwrap())), [second.id]);
    let of_second = ReturnFilter { order_id: Some(orders[1].id), status: Some(ReturnStatus::Requested) };
    assert_eq!(ids(s.list_returns(&of_second, &all).await.unwrap()), [third.id]);
    let page = PageRequest { limit: 1, after: Some(first.id) };
    assert_eq!(t.record("page", ids(s.list_returns(&everything, &page).await.unwrap())), [second.id, third.id]);

    // A return belongs to an order that exists.
    let orphan = a_return(t, OrderId::from_uuid(Uuid::from_u128(2)), 6);
    alone!(t, s, r = d => d.insert_return(&orphan).await);
    assert!(r.is_err(), "a return of an order that does not exist");
    s.commit().await.unwrap();
}

ordo_testkit::store_tests!(returns_round_trip_update_at_their_version_and_list);
