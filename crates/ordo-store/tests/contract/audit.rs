//! `AuditRepo`: the `audit_events` and `audit_seals` tables.

use ordo_domain::audit::{AuditEvent, AuditFilter};
use ordo_domain::page::PageRequest;
use ordo_store::{StoreError, UniqueKey};
use ordo_testkit::store::StoreCtx;
use uuid::Uuid;

use crate::fixtures::{audit_event, audit_seal, outcome};

async fn audit_events_round_trip_and_filter(t: &StoreCtx) {
    let mut s = t.begin().await;
    let mut events: Vec<AuditEvent> = Vec::new();
    for (i, (kind, id)) in
        [("product", "p1"), ("customer", "c1"), ("product", "p2"), ("product", "p1"), ("market", "DE")]
            .iter()
            .enumerate()
    {
        let mut e = audit_event(t, kind, id, 10 * i as i64);
        if i == 1 {
            e.actor_key_id = None;
            e.request_id = None;
            e.before = None;
            e.after = None;
        }
        if i == 4 {
            e.actor_key_id = Some(Uuid::from_u128(0x5));
        }
        s.insert_audit_event(&e).await.unwrap();
        events.push(e);
    }
    let page = PageRequest { limit: 50, after: None };
    let all = s.list_audit_events(&AuditFilter::default(), &page).await.unwrap();
    assert_eq!(t.record("all", &all), &events, "every field, in id order");
    let n =
        |v: Vec<AuditEvent>| v.iter().map(|e| events.iter().position(|x| x.id == e.id).unwrap()).collect::<Vec<_>>();
    let products = AuditFilter { entity_type: Some("product".to_owned()), ..Default::default() };
    assert_eq!(t.record("products", n(s.list_audit_events(&products, &page).await.unwrap())), [0, 2, 3]);
    let p1 =
        AuditFilter { entity_type: Some("product".to_owned()), entity_id: Some("p1".to_owned()), ..Default::default() };
    assert_eq!(n(s.list_audit_events(&p1, &page).await.unwrap()), [0, 3]);
    let actor = AuditFilter { actor_key_id: Some(Uuid::from_u128(0x5)), ..Default::default() };
    assert_eq!(t.record("actor", n(s.list_audit_events(&actor, &page).await.unwrap())), [4]);
    // from inclusive, to exclusive.
    let window = AuditFilter { from: Some(t.at(10)), to: Some(t.at(30)), ..Default::default() };
    assert_eq!(t.record("window", n(s.list_audit_events(&window, &page).await.unwrap())), [1, 2]);
    let first = s.list_audit_events(&AuditFilter::default(), &PageRequest { limit: 2, after: None }).await.unwrap();
    assert_eq!(n(first), [0, 1, 2]);
    let next = PageRequest { limit: 2, after: Some(events[2].id) };
    assert_eq!(t.record("page", n(s.list_audit_events(&AuditFilter::default(), &next).await.unwrap())), [3, 4]);
}

async fn sealing_assigns_segments_in_order(t: &StoreCtx) {
    let mut s = t.begin().await;
    assert_eq!(s.latest_audit_seal().await.unwrap(), None);
    assert!(s.audit_seals().await.unwrap().is_empty());
    let events: Vec<AuditEvent> = (0..5).map(|i| audit_event(t, "product", &format!("p{i}"), i)).collect();
    for e in &events {
        s.insert_audit_event(e).await.unwrap();
    }
    let unsealed = s.unsealed_audit_events(3).await.unwrap();
    assert_eq!(t.record("unsealed 3", &unsealed), &events[..3].to_vec());
    assert_eq!(s.unsealed_audit_events(100).await.unwrap(), events);
    assert_eq!(t.record("before +2", s.unsealed_audit_events_before(t.at(2)).await.unwrap()), events[..2].to_vec());
    // Seal the first three, numbered in the order given (not id order).
    s.commit().await.unwrap();
    let mut tx = t.begin().await;
    let order = [events[1].id, events[0].id, events[2].id];
    assert_eq!(t.record("assigned", tx.assign_audit_segment(1, &order).await.unwrap()), 3);
    let seal1 = audit_seal(&events[0], &events[2], 1, 3, t.at(100));
    tx.insert_audit_seal(&seal1).await.unwrap();
    tx.commit().await.unwrap();
    let mut s = t.begin().await;
    let sealed = s.audit_segment_events(1).await.unwrap();
    let numbered: Vec<(Uuid, Option<i64>, Option<i64>)> = sealed.iter().map(|(e, n)| (e.id, e.segment, *n)).collect();
    assert_eq!(
        t.record("segment 1", &numbered),
        &vec![(events[1].id, Some(1), Some(1)), (events[0].id, Some(1), Some(2)), (events[2].id, Some(1), Some(3))]
    );
    let mut expected = events[1].clone();
    expected.segment = Some(1);
    assert_eq!(sealed[0].0, expected, "every other field unchanged");
    assert_eq!(s.unsealed_audit_events(100).await.unwrap(), events[3..].to_vec());
    assert!(s.unsealed_audit_events_before(t.at(2)).await.unwrap().is_empty());
    // Already sealed ones are not counted again (nor renumbered); unknown ids neither.
    s.commit().await.unwrap();
    let mut tx = t.begin().await;
    assert_eq!(
        t.record(
            "reassign",
            tx.assign_audit_segment(2, &[events[2].id, events[3].id, Uuid::from_u128(1)]).await.unwrap()
        ),
        1
    );
    let seal2 = audit_seal(&events[3], &events[3], 2, 1, t.at(200));
    tx.insert_audit_seal(&seal2).await.unwrap();
    tx.commit().await.unwrap();
    let mut s = t.begin().await;
    assert_eq!(s.audit_segment_events(1).await.unwrap().len(), 3);
    assert_eq!(
        s.audit_segment_events(2).await.unwrap().iter().map(|(e, n)| (e.id, *n)).collect::<Vec<_>>(),
        vec![(events[3].id, Some(2))],
        "numbered by position in the list given"
    );
    assert!(s.audit_segment_events(9).await.unwrap().is_empty());
    assert!(s.assign_audit_segment(3, &[]).await.unwrap() == 0);
    // Seals: a segment is sealed once.
    alone!(t, s, r = d => d.insert_audit_seal(&audit_seal(&events[4], &events[4], 2, 1, t.at(300))).await);
    assert!(matches!(r, Err(StoreError::Duplicate(UniqueKey::AuditSegment))), "{}", outcome(&r));
    t.record("duplicate seal", outcome(&r));
    assert_eq!(t.record("latest", s.latest_audit_seal().await.unwrap()), Some(seal2.clone()));
    assert_eq!(t.record("seals", s.audit_seals().await.unwrap()), vec![seal1, seal2]);
    // Listing shows the segment.
    let listed = s.list_audit_events(&AuditFilter::default(), &PageRequest { limit: 50, after: None }).await.unwrap();
    assert_eq!(listed.iter().map(|e| e.segment).collect::<Vec<_>>(), [Some(1), Some(1), Some(1), Some(2), None]);
}

async fn bulk_sealed_events(t: &StoreCtx) {
    let events: Vec<AuditEvent> = (0..4).map(|i| audit_event(t, "order", &format!("o{i}"), i)).collect();
    let mut tx = t.begin().await;
    tx.insert_sealed_audit_events(7, &events).await.unwrap();
    tx.insert_sealed_audit_events(8, &[]).await.unwrap();
    tx.insert_audit_seal(&audit_seal(&events[0], &events[3], 7, 4, t.at(10))).await.unwrap();
    tx.commit().await.unwrap();
    let mut s = t.begin().await;
    let stored = s.audit_segment_events(7).await.unwrap();
    let expected: Vec<(AuditEvent, Option<i64>)> = events
        .iter()
        .enumerate()
        .map(|(i, e)| (AuditEvent { segment: Some(7), ..e.clone() }, Some(i as i64 + 1)))
        .collect();
    assert_eq!(t.record("segment 7", &stored), &expected);
    assert!(s.unsealed_audit_events(10).await.unwrap().is_empty());
    assert_eq!(s.latest_audit_seal().await.unwrap().map(|s| s.segment), Some(7));
}

ordo_testkit::store_tests!(audit_events_round_trip_and_filter, sealing_assigns_segments_in_order, bulk_sealed_events);
