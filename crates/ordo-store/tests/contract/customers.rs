//! `CustomerRepo`: the `customers` table.

use ordo_domain::customer::{Customer, CustomerFilter};
use ordo_domain::page::PageRequest;
use ordo_domain::{CustomerId, Email};
use ordo_store::{StoreError, UniqueKey};
use ordo_testkit::store::StoreCtx;
use uuid::Uuid;

use crate::fixtures::{bare_address, customer, outcome};

async fn customer_round_trip_keeps_every_field(t: &StoreCtx) {
    let full = customer(t, "full@example.com", 1);
    let mut bare = customer(t, "bare@example.com", 2);
    bare.addresses = Vec::new();
    bare.meta.version = 4;
    bare.meta.archived_at = Some(t.at(9));
    let mut s = t.begin().await;
    s.insert_customer(&full).await.unwrap();
    s.insert_customer(&bare).await.unwrap();
    assert_eq!(t.record("full", s.customer(full.id).await.unwrap()).as_ref(), Some(&full));
    assert_eq!(t.record("bare", s.customer(bare.id).await.unwrap()).as_ref(), Some(&bare));
    assert_eq!(s.customer(CustomerId::from_uuid(Uuid::from_u128(5))).await.unwrap(), None);
}

async fn bulk_insert_customers_round_trips(t: &StoreCtx) {
    let mut customers: Vec<_> = (0..4).map(|i| customer(t, &format!("bulk{i}@example.com"), i)).collect();
    customers[1].addresses.clear();
    customers[2].meta.archived_at = Some(t.at(50));
    let mut tx = t.begin().await;
    tx.insert_customers(&customers).await.unwrap();
    tx.insert_customers(&[]).await.unwrap();
    tx.commit().await.unwrap();
    let mut s = t.begin().await;
    for c in &customers {
        assert_eq!(t.record("bulk customer", s.customer(c.id).await.unwrap()).as_ref(), Some(c));
    }
}

async fn duplicate_email_is_customer_email_conflict(t: &StoreCtx) {
    let mut s = t.begin().await;
    let first = customer(t, "taken@example.com", 0);
    s.insert_customer(&first).await.unwrap();
    let second = customer(t, "taken@example.com", 1);
    alone!(t, s, r = d => d.insert_customer(&second).await);
    assert!(matches!(r, Err(StoreError::Duplicate(UniqueKey::CustomerEmail))), "{}", outcome(&r));
    t.record("insert duplicate", outcome(&r));
    // Changing another customer's address to a taken one is the same conflict.
    let other = customer(t, "other@example.com", 2);
    s.insert_customer(&other).await.unwrap();
    let mut clash = other.clone();
    clash.email = first.email.clone();
    clash.meta.version = 2;
    alone!(t, s, r = d => d.update_customer(&clash, 1).await);
    assert!(matches!(r, Err(StoreError::Duplicate(UniqueKey::CustomerEmail))), "{}", outcome(&r));
    t.record("update to duplicate", outcome(&r));
    assert_eq!(s.customer(other.id).await.unwrap().as_ref(), Some(&other));
    assert_eq!(s.customer(second.id).await.unwrap(), None);
}

async fn update_customer_checks_version(t: &StoreCtx) {
    let mut s = t.begin().await;
    let original = customer(t, "upd@example.com", 0);
    s.insert_customer(&original).await.unwrap();
    let mut changed = original.clone();
    changed.email = Email::parse("new@example.com").unwrap();
    changed.name = "New name".to_owned();
    changed.addresses = vec![bare_address()];
    changed.meta.version = 2;
    changed.meta.updated_at = t.at(10);
    changed.meta.archived_at = Some(t.at(11));
    assert!(t.record("update", s.update_customer(&changed, 1).await.unwrap()));
    assert_eq!(t.record("after", s.customer(original.id).await.unwrap()).as_ref(), Some(&changed));
    let mut stale = original.clone();
    stale.name = "Lost".to_owned();
    assert!(!t.record("stale", s.update_customer(&stale, 1).await.unwrap()));
    assert_eq!(s.customer(original.id).await.unwrap().as_ref(), Some(&changed));
    // The old address is free again.
    let reuse = customer(t, "upd@example.com", 12);
    s.insert_customer(&reuse).await.unwrap();
    let ghost = customer(t, "ghost@example.com", 0);
    assert!(!s.update_customer(&ghost, 1).await.unwrap());
}

async fn list_customers_filters_and_pages(t: &StoreCtx) {
    let mut s = t.begin().await;
    let mut all: Vec<Customer> = Vec::new();
    for i in 0..6 {
        let mut c = customer(t, &format!("c{i}@example.com"), i);
        c.meta.updated_at = t.at(100 + i);
        if i == 4 {
            c.meta.archived_at = Some(t.at(300));
        }
        s.insert_customer(&c).await.unwrap();
        all.push(c);
    }
    let emails = |v: &[Customer]| v.iter().map(|c| c.email.as_str().to_owned()).collect::<Vec<_>>();
    let page = PageRequest { limit: 50, after: None };
    let live = s.list_customers(&CustomerFilter::default(), &page).await.unwrap();
    assert_eq!(
        t.record("live", emails(&live)),
        ["c0@example.com", "c1@example.com", "c2@example.com", "c3@example.com", "c5@example.com"]
    );
    assert_eq!(live[2], all[2]);
    let archived = s.list_customers(&CustomerFilter { archived: true, ..Default::default() }, &page).await.unwrap();
    assert_eq!(t.record("archived", emails(&archived)), ["c4@example.com"]);
    let by_email = CustomerFilter { email: Some(Email::parse("c3@example.com").unwrap()), ..Default::default() };
    assert_eq!(t.record("by email", emails(&s.list_customers(&by_email, &page).await.unwrap())), ["c3@example.com"]);
    let nobody = CustomerFilter { email: Some(Email::parse("c4@example.com").unwrap()), ..Default::default() };
    assert!(s.list_customers(&nobody, &page).await.unwrap().is_empty(), "archived ones are not live");
    let since = CustomerFilter { updated_since: Some(t.at(102)), ..Default::default() };
    assert_eq!(
        t.record("since", emails(&s.list_customers(&since, &page).await.unwrap())),
        ["c2@example.com", "c3@example.com", "c5@example.com"]
    );
    let window =
        CustomerFilter { updated_since: Some(t.at(102)), updated_before: Some(t.at(105)), ..Default::default() };
    assert_eq!(
        t.record("window", emails(&s.list_customers(&window, &page).await.unwrap())),
        ["c2@example.com", "c3@example.com"],
        "updated_before is exclusive"
    );
    let first = s.list_customers(&CustomerFilter::default(), &PageRequest { limit: 2, after: None }).await.unwrap();
    assert_eq!(first.len(), 3);
    let second = s
        .list_customers(&CustomerFilter::default(), &PageRequest { limit: 2, after: Some(*first[1].id.as_uuid()) })
        .await
        .unwrap();
    assert_eq!(t.record("page 2", emails(&second)), ["c2@example.com", "c3@example.com", "c5@example.com"]);
}

ordo_testkit::store_tests!(
    customer_round_trip_keeps_every_field,
    bulk_insert_customers_round_trips,
    duplicate_email_is_customer_email_conflict,
    update_customer_checks_version,
    list_customers_filters_and_pages,
);
