//! `MarketRepo`: the `markets` table.

use ordo_domain::Currency;
use ordo_store::{StoreError, UniqueKey};
use ordo_testkit::store::StoreCtx;

use crate::fixtures::{market, outcome};

async fn market_round_trip_and_list_by_code(t: &StoreCtx) {
    let mut s = t.begin().await;
    let de = market("DE", t, 1);
    let mut us = market("US", t, 2);
    us.currency = Currency::parse("USD").unwrap();
    us.tax_rate_bp = 0;
    us.locale = "en-US".to_owned();
    us.meta.archived_at = Some(t.at(3));
    us.meta.version = 5;
    us.seller = None;
    let at = market("AT", t, 4);
    for m in [&de, &us, &at] {
        s.insert_market(m).await.unwrap();
    }
    assert_eq!(t.record("DE", s.market("DE").await.unwrap()).as_ref(), Some(&de));
    assert_eq!(t.record("US", s.market("US").await.unwrap()).as_ref(), Some(&us));
    assert_eq!(s.market("de").await.unwrap(), None, "codes are case-sensitive");
    assert_eq!(s.market("XX").await.unwrap(), None);
    assert_eq!(t.record("list", s.list_markets().await.unwrap()), vec![at, de, us]);
}

async fn duplicate_market_code_is_conflict(t: &StoreCtx) {
    let mut s = t.begin().await;
    s.insert_market(&market("FR", t, 0)).await.unwrap();
    alone!(t, s, r = d => d.insert_market(&market("FR", t, 1)).await);
    assert!(matches!(r, Err(StoreError::Duplicate(UniqueKey::MarketCode))), "{}", outcome(&r));
    t.record("duplicate", outcome(&r));
    assert_eq!(s.market("FR").await.unwrap().unwrap().meta.created_at, t.at(0));
}

async fn update_market_checks_version(t: &StoreCtx) {
    let mut s = t.begin().await;
    let original = market("NL", t, 0);
    s.insert_market(&original).await.unwrap();
    let mut changed = original.clone();
    changed.name = "Nederland".to_owned();
    changed.tax_rate_bp = 2100;
    changed.locale = "nl-NL".to_owned();
    changed.seller = Some(ordo_domain::market::Seller { vat_id: None, ..crate::fixtures::seller() });
    changed.meta.version = 2;
    changed.meta.updated_at = t.at(7);
    changed.meta.archived_at = Some(t.at(8));
    assert!(t.record("update", s.update_market(&changed, 1).await.unwrap()));
    assert_eq!(t.record("after", s.market("NL").await.unwrap()).as_ref(), Some(&changed));
    let mut stale = original.clone();
    stale.name = "Lost".to_owned();
    assert!(!t.record("stale", s.update_market(&stale, 1).await.unwrap()));
    assert_eq!(s.market("NL").await.unwrap().as_ref(), Some(&changed));
    assert!(!s.update_market(&market("XX", t, 0), 1).await.unwrap());
    assert_eq!(s.market("XX").await.unwrap(), None);
    // The currency never changes.
    let mut recur = changed.clone();
    recur.currency = Currency::parse("USD").unwrap();
    recur.meta.version = 3;
    assert!(s.update_market(&recur, 2).await.unwrap());
    assert_eq!(s.market("NL").await.unwrap().unwrap().currency, original.currency);
}

ordo_testkit::store_tests!(
    market_round_trip_and_list_by_code,
    duplicate_market_code_is_conflict,
    update_market_checks_version,
);
