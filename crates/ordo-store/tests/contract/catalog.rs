//! `CatalogRepo`: the `products` table.

use ordo_domain::catalog::{Prices, ProductFilter};
use ordo_domain::page::PageRequest;
use ordo_domain::sku::SkuPrefix;
use ordo_domain::{Money, ProductId};
use ordo_store::{StoreError, UniqueKey};
use ordo_testkit::store::StoreCtx;
use uuid::Uuid;

use crate::fixtures::{eur, outcome, product, sku};

async fn product_round_trip_keeps_every_field(t: &StoreCtx) {
    let full = product(t, "RT-FULL", 10);
    let mut bare = product(t, "rt-bare", 20);
    bare.description = None;
    bare.prices = Prices::default();
    bare.active = false;
    bare.meta.version = 7;
    bare.meta.updated_at = t.at(30) + chrono::Duration::nanoseconds(999);
    bare.meta.archived_at = Some(t.at(40));
    let mut s = t.begin().await;
    s.insert_product(&full).await.unwrap();
    s.insert_product(&bare).await.unwrap();
    assert_eq!(t.record("full", s.product(full.id).await.unwrap()).as_ref(), Some(&full));
    // Sub-microsecond parts are dropped, not rounded.
    let mut expected = bare.clone();
    expected.meta.updated_at = t.at(30);
    assert_eq!(t.record("bare", s.product(bare.id).await.unwrap()), Some(expected));
    assert_eq!(s.product(ProductId::from_uuid(Uuid::from_u128(1))).await.unwrap(), None);
}

async fn bulk_insert_products_round_trips(t: &StoreCtx) {
    let mut products: Vec<_> = (0..5).map(|i| product(t, &format!("BULK-{i}"), i)).collect();
    products[1].description = None;
    products[2].prices = Prices::default();
    products[3].active = false;
    products[4].meta.archived_at = Some(t.at(99));
    let mut tx = t.begin().await;
    tx.insert_products(&products).await.unwrap();
    tx.insert_products(&[]).await.unwrap();
    tx.commit().await.unwrap();
    let mut s = t.begin().await;
    for p in &products {
        assert_eq!(t.record("bulk product", s.product(p.id).await.unwrap()).as_ref(), Some(p));
    }
}

async fn duplicate_sku_is_product_sku_conflict(t: &StoreCtx) {
    let mut s = t.begin().await;
    let first = product(t, "DUP-1", 0);
    s.insert_product(&first).await.unwrap();
    let again = product(t, "DUP-1", 1);
    alone!(t, s, r = d => d.insert_product(&again).await);
    assert!(matches!(r, Err(StoreError::Duplicate(UniqueKey::ProductSku))), "{}", outcome(&r));
    t.record("duplicate", outcome(&r));
    // Case is significant: dup-1 is another SKU.
    let lower = product(t, "dup-1", 2);
    s.insert_product(&lower).await.unwrap();
    // The session still works after the error, and the loser was not stored.
    assert_eq!(s.product(again.id).await.unwrap(), None);
    // A bulk load with a taken SKU fails and stores nothing of its batch.
    let batch = [product(t, "DUP-NEW", 3), product(t, "DUP-1", 4)];
    alone!(t, s, r = d => d.insert_products(&batch).await);
    assert!(r.is_err(), "bulk insert with a taken SKU: {}", outcome(&r));
    assert_eq!(s.product(batch[0].id).await.unwrap(), None);
}

async fn update_product_checks_version(t: &StoreCtx) {
    let mut s = t.begin().await;
    let original = product(t, "UPD-1", 0);
    s.insert_product(&original).await.unwrap();
    let mut changed = original.clone();
    changed.name = "Renamed".to_owned();
    changed.description = None;
    changed.prices = Prices::from_stored(vec![Money::new(1, eur())]);
    changed.active = false;
    changed.meta.version = 2;
    changed.meta.updated_at = t.at(5);
    changed.meta.archived_at = Some(t.at(6));
    assert!(t.record("update at v1", s.update_product(&changed, 1).await.unwrap()));
    assert_eq!(t.record("after update", s.product(original.id).await.unwrap()).as_ref(), Some(&changed));
    // Stale: the row is at 2 now.
    let mut stale = original.clone();
    stale.name = "Lost update".to_owned();
    stale.meta.version = 2;
    assert!(!t.record("stale update", s.update_product(&stale, 1).await.unwrap()));
    assert_eq!(s.product(original.id).await.unwrap().as_ref(), Some(&changed));
    // A version ahead of the row is stale too.
    assert!(!s.update_product(&stale, 3).await.unwrap());
    // Unknown product.
    let ghost = product(t, "UPD-GHOST", 0);
    assert!(!t.record("update unknown", s.update_product(&ghost, 1).await.unwrap()));
    assert_eq!(s.product(ghost.id).await.unwrap(), None);
    // The SKU is not rewritten by an update.
    let mut resku = changed.clone();
    resku.sku = sku("UPD-OTHER");
    resku.meta.version = 3;
    let r = s.update_product(&resku, 2).await;
    assert!(t.record("update with another sku", r.unwrap()));
    let stored = s.product(original.id).await.unwrap().unwrap();
    assert_eq!(stored.sku, original.sku, "an update never rewrites the SKU");
    assert_eq!(stored.meta.version, 3);
}

async fn products_by_sku_finds_existing(t: &StoreCtx) {
    let mut s = t.begin().await;
    let a = product(t, "BYSKU-A", 0);
    let b = product(t, "BYSKU-B", 1);
    let c = product(t, "bysku-a", 2);
    for p in [&a, &b, &c] {
        s.insert_product(p).await.unwrap();
    }
    let mut found = s.products_by_sku(&[sku("BYSKU-A"), sku("BYSKU-MISSING"), sku("bysku-a")]).await.unwrap();
    found.sort_by_key(|p| p.id);
    assert_eq!(t.record("by sku", &found), &vec![a.clone(), c.clone()]);
    assert!(s.products_by_sku(&[]).await.unwrap().is_empty());
    assert!(s.products_by_sku(&[sku("NOPE")]).await.unwrap().is_empty());
    let mut dup = s.products_by_sku(&[sku("BYSKU-B"), sku("BYSKU-B")]).await.unwrap();
    dup.dedup();
    assert_eq!(dup, vec![b]);
}

async fn list_products_filters_and_pages(t: &StoreCtx) {
    let mut s = t.begin().await;
    let mut all = Vec::new();
    for (i, code) in ["AB-1", "AB-2", "ab-3", "AC-1", "AB/4", "ABC", "B-1"].iter().enumerate() {
        let mut p = product(t, code, i as i64);
        p.active = i % 3 != 2;
        p.meta.updated_at = t.at(100 + i as i64);
        if i == 5 {
            p.meta.archived_at = Some(t.at(200));
        }
        s.insert_product(&p).await.unwrap();
        all.push(p);
    }
    let ids = |v: &[ordo_domain::catalog::Product]| v.iter().map(|p| p.sku.as_str().to_owned()).collect::<Vec<_>>();
    let page = PageRequest { limit: 50, after: None };
    let live = s.list_products(&ProductFilter::default(), &page).await.unwrap();
    assert_eq!(t.record("live", ids(&live)), ["AB-1", "AB-2", "ab-3", "AC-1", "AB/4", "B-1"]);
    assert_eq!(live[0], all[0]);
    let archived = s.list_products(&ProductFilter { archived: true, ..Default::default() }, &page).await.unwrap();
    assert_eq!(t.record("archived", ids(&archived)), ["ABC"]);
    let active = s.list_products(&ProductFilter { active: Some(true), ..Default::default() }, &page).await.unwrap();
    assert_eq!(t.record("active", ids(&active)), ["AB-1", "AB-2", "AC-1", "AB/4", "B-1"]);
    let inactive = s.list_products(&ProductFilter { active: Some(false), ..Default::default() }, &page).await.unwrap();
    assert_eq!(t.record("inactive", ids(&inactive)), ["ab-3"]);
    // A prefix is case-sensitive and byte-wise ("AB/4" is under "AB", "ab-3" is not).
    let prefix = ProductFilter { sku_prefix: Some(SkuPrefix::parse("AB").unwrap()), ..Default::default() };
    assert_eq!(t.record("prefix AB", ids(&s.list_products(&prefix, &page).await.unwrap())), ["AB-1", "AB-2", "AB/4"]);
    let prefix = ProductFilter { sku_prefix: Some(SkuPrefix::parse("AB-").unwrap()), ..Default::default() };
    assert_eq!(ids(&s.list_products(&prefix, &page).await.unwrap()), ["AB-1", "AB-2"]);
    // updated_since is inclusive.
    let since = ProductFilter { updated_since: Some(t.at(103)), ..Default::default() };
    assert_eq!(t.record("since", ids(&s.list_products(&since, &page).await.unwrap())), ["AC-1", "AB/4", "B-1"]);
    // updated_before is exclusive.
    let window =
        ProductFilter { updated_since: Some(t.at(103)), updated_before: Some(t.at(104)), ..Default::default() };
    assert_eq!(t.record("window", ids(&s.list_products(&window, &page).await.unwrap())), ["AC-1"]);
    let combined = ProductFilter {
        active: Some(true),
        sku_prefix: Some(SkuPrefix::parse("A").unwrap()),
        updated_since: Some(t.at(101)),
        updated_before: None,
        archived: false,
    };
    assert_eq!(ids(&s.list_products(&combined, &page).await.unwrap()), ["AB-2", "AC-1", "AB/4"]);
    // Pages: limit + 1 rows (the extra one says there is more), after the cursor, in id order.
    let first = s.list_products(&ProductFilter::default(), &PageRequest { limit: 2, after: None }).await.unwrap();
    assert_eq!(t.record("page 1", ids(&first)), ["AB-1", "AB-2", "ab-3"]);
    let second = s
        .list_products(&ProductFilter::default(), &PageRequest { limit: 2, after: Some(*first[1].id.as_uuid()) })
        .await
        .unwrap();
    assert_eq!(t.record("page 2", ids(&second)), ["ab-3", "AC-1", "AB/4"]);
    let last = s
        .list_products(&ProductFilter::default(), &PageRequest { limit: 2, after: Some(*all[6].id.as_uuid()) })
        .await
        .unwrap();
    assert!(last.is_empty());
    // The cursor need not be a listed row (an archived one, here).
    let after_archived = s
        .list_products(&ProductFilter::default(), &PageRequest { limit: 5, after: Some(*all[5].id.as_uuid()) })
        .await
        .unwrap();
    assert_eq!(ids(&after_archived), ["B-1"]);
}

ordo_testkit::store_tests!(
    product_round_trip_keeps_every_field,
    bulk_insert_products_round_trips,
    duplicate_sku_is_product_sku_conflict,
    update_product_checks_version,
    products_by_sku_finds_existing,
    list_products_filters_and_pages,
);
