//! `InventoryRepo`: the `locations`, `stock_levels` and `damaged_stock` tables.

use ordo_domain::inventory::{Location, StockLevel};
use ordo_store::{RankedStock, StockMove, StoreError, UniqueKey};
use ordo_testkit::store::StoreCtx;
use uuid::Uuid;

use crate::fixtures::{location, outcome, sku};

fn level(code: &str, location: &Location, on_hand: i64, reserved: i64) -> StockLevel {
    StockLevel::new(sku(code), location.id, on_hand, reserved)
}

fn mv(code: &str, location: &Location, quantity: i64) -> StockMove {
    StockMove { sku: sku(code), location_id: location.id, quantity }
}

/// Three locations, allocation order `[a, b, c]` (priority, then code), and
/// `c` archived.
async fn three_locations(t: &StoreCtx) -> [Location; 3] {
    let mut s = t.begin().await;
    let b = location(t, "B-WH", 1, 0);
    let a = location(t, "A-WH", 0, 1);
    let mut c = location(t, "AA-WH", 1, 2);
    c.meta.archived_at = Some(t.at(3));
    // c sorts before b by code at the same priority: order is [a, c, b].
    for l in [&a, &b, &c] {
        s.insert_location(l).await.unwrap();
    }
    s.commit().await.unwrap();
    [a, c, b]
}

async fn location_round_trip_list_and_duplicate(t: &StoreCtx) {
    let [a, c, b] = three_locations(t).await;
    let mut s = t.begin().await;
    assert_eq!(t.record("a", s.location(a.id).await.unwrap()).as_ref(), Some(&a));
    assert_eq!(s.location(c.id).await.unwrap().as_ref(), Some(&c));
    assert_eq!(s.location(Uuid::from_u128(4)).await.unwrap(), None);
    assert_eq!(t.record("list", s.list_locations().await.unwrap()), vec![a.clone(), c.clone(), b.clone()]);
    alone!(t, s, r = d => d.insert_location(&location(t, "A-WH", 9, 9)).await);
    assert!(matches!(r, Err(StoreError::Duplicate(UniqueKey::LocationCode))), "{}", outcome(&r));
    t.record("duplicate", outcome(&r));
    // Codes are case-sensitive.
    s.insert_location(&location(t, "a-wh", 9, 9)).await.unwrap();
    assert_eq!(s.list_locations().await.unwrap().len(), 4);
}

async fn change_on_hand_never_goes_below_reserved(t: &StoreCtx) {
    let [a, _, b] = three_locations(t).await;
    let mut s = t.begin().await;
    // Removing from a row that does not exist is refused, and creates nothing.
    assert_eq!(t.record("remove from nothing", s.change_on_hand(&sku("X-1"), a.id, -1).await.unwrap()), None);
    assert!(s.stock_of(&sku("X-1")).await.unwrap().is_empty());
    let created = s.change_on_hand(&sku("X-1"), a.id, 10).await.unwrap();
    assert_eq!(t.record("created", created), Some(level("X-1", &a, 10, 0)));
    assert_eq!(s.change_on_hand(&sku("X-1"), a.id, 5).await.unwrap(), Some(level("X-1", &a, 15, 0)));
    assert_eq!(s.change_on_hand(&sku("X-1"), a.id, 0).await.unwrap(), Some(level("X-1", &a, 15, 0)));
    assert_eq!(s.reserve_stock(&[mv("X-1", &a, 6)]).await.unwrap(), 1);
    // 15 on hand, 6 reserved: down to 6 is fine, below is refused.
    assert_eq!(t.record("too far", s.change_on_hand(&sku("X-1"), a.id, -10).await.unwrap()), None);
    assert_eq!(s.change_on_hand(&sku("X-1"), a.id, -9).await.unwrap(), Some(level("X-1", &a, 6, 6)));
    assert_eq!(s.change_on_hand(&sku("X-1"), a.id, -1).await.unwrap(), None);
    assert_eq!(t.record("stock", s.stock_of(&sku("X-1")).await.unwrap()), vec![level("X-1", &a, 6, 6)]);
    // Another location is another row; SKU case matters.
    assert_eq!(s.change_on_hand(&sku("x-1"), b.id, 3).await.unwrap(), Some(level("x-1", &b, 3, 0)));
    assert_eq!(s.change_on_hand(&sku("X-1"), b.id, 2).await.unwrap(), Some(level("X-1", &b, 2, 0)));
    assert_eq!(s.stock_of(&sku("X-1")).await.unwrap(), vec![level("X-1", &a, 6, 6), level("X-1", &b, 2, 0)]);
}

async fn stock_listing_orders_by_sku_then_allocation(t: &StoreCtx) {
    let [a, c, b] = three_locations(t).await;
    let mut tx = t.begin().await;
    let levels = vec![
        level("S-2", &b, 5, 1),
        level("S-1", &b, 4, 0),
        level("S-1", &a, 3, 3),
        level("S-1", &c, 2, 1),
        level("s-0", &a, 1, 0),
        level("S/9", &a, 9, 2),
        level("T-1", &a, 7, 0),
    ];
    tx.insert_stock_levels(&levels).await.unwrap();
    tx.insert_stock_levels(&[]).await.unwrap();
    tx.commit().await.unwrap();
    let mut s = t.begin().await;
    // stock_of: every location with a row (archived ones too), allocation order.
    assert_eq!(
        t.record("stock_of S-1", s.stock_of(&sku("S-1")).await.unwrap()),
        vec![level("S-1", &a, 3, 3), level("S-1", &c, 2, 1), level("S-1", &b, 4, 0)]
    );
    assert!(s.stock_of(&sku("NONE")).await.unwrap().is_empty());
    // stock_of_skus: the same, for many SKUs at once, SKU by SKU.
    assert_eq!(
        t.record("stock_of_skus", s.stock_of_skus(&[sku("T-1"), sku("S-1"), sku("NONE")]).await.unwrap()),
        vec![level("S-1", &a, 3, 3), level("S-1", &c, 2, 1), level("S-1", &b, 4, 0), level("T-1", &a, 7, 0)]
    );
    assert!(s.stock_of_skus(&[]).await.unwrap().is_empty());
    let skus = |v: &[StockLevel]| {
        v.iter().map(|l| format!("{}@{}", l.sku, l.location_id.as_u128() & 0xff)).collect::<Vec<_>>()
    };
    let all = s.list_stock(None, None, 100).await.unwrap();
    // Byte order: upper case before '/', before lower case.
    let expected_all = vec![
        level("S-1", &a, 3, 3),
        level("S-1", &c, 2, 1),
        level("S-1", &b, 4, 0),
        level("S-2", &b, 5, 1),
        level("S/9", &a, 9, 2),
        level("T-1", &a, 7, 0),
        level("s-0", &a, 1, 0),
    ];
    assert_eq!(t.record("all", skus(&all)), skus(&expected_all));
    assert_eq!(all, expected_all);
    // The limit counts SKUs, not rows.
    let first = s.list_stock(None, None, 2).await.unwrap();
    assert_eq!(t.record("2 skus", skus(&first)), skus(&expected_all[..4]));
    let next = s.list_stock(Some("S-2"), None, 2).await.unwrap();
    assert_eq!(t.record("after S-2", skus(&next)), skus(&expected_all[4..6]));
    let prefix = s.list_stock(None, Some(("S-", "S.")), 10).await.unwrap();
    assert_eq!(t.record("prefix S-", skus(&prefix)), skus(&expected_all[..4]));
    let prefix_after = s.list_stock(Some("S-1"), Some(("S", "T")), 10).await.unwrap();
    assert_eq!(skus(&prefix_after), skus(&expected_all[3..5]));
    assert!(s.list_stock(Some("zzz"), None, 10).await.unwrap().is_empty());
}

async fn available_stock_and_reservations(t: &StoreCtx) {
    let [a, c, b] = three_locations(t).await;
    let mut tx = t.begin().await;
    tx.insert_stock_levels(&[
        level("R-1", &a, 5, 5),
        level("R-1", &c, 9, 0),
        level("R-1", &b, 4, 1),
        level("R-2", &b, 2, 0),
        level("R-3", &a, 1, 0),
    ])
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let ranked = |l: StockLevel, loc: &Location| RankedStock {
        level: l,
        priority: loc.priority,
        location_code: loc.code.clone(),
    };
    for lock in [false, true] {
        let mut tx = t.begin().await;
        // Only rows with units available, at live locations, by SKU then priority.
        let found = tx.available_stock(&[sku("R-1"), sku("R-2"), sku("NONE")], lock).await.unwrap();
        assert_eq!(
            t.record("available", &found),
            &vec![ranked(level("R-1", &b, 4, 1), &b), ranked(level("R-2", &b, 2, 0), &b)]
        );
        assert!(tx.available_stock(&[], lock).await.unwrap().is_empty());
        tx.commit().await.unwrap();
    }
    let mut tx = t.begin().await;
    tx.available_stock(&[sku("R-1"), sku("R-2")], true).await.unwrap();
    // Exactly what is available is fine; one more is refused and the other moves still apply.
    assert_eq!(t.record("reserve", tx.reserve_stock(&[mv("R-1", &b, 3), mv("R-2", &b, 2)]).await.unwrap()), 2);
    assert_eq!(t.record("short", tx.reserve_stock(&[mv("R-1", &b, 1), mv("R-3", &a, 1)]).await.unwrap()), 1);
    // A row that does not exist is not applied either.
    assert_eq!(tx.reserve_stock(&[mv("R-9", &a, 1)]).await.unwrap(), 0);
    assert_eq!(tx.reserve_stock(&[]).await.unwrap(), 0);
    tx.commit().await.unwrap();
    let mut s = t.begin().await;
    assert_eq!(s.stock_of(&sku("R-1")).await.unwrap()[2], level("R-1", &b, 4, 4));
    assert_eq!(s.stock_of(&sku("R-2")).await.unwrap(), vec![level("R-2", &b, 2, 2)]);
    assert_eq!(s.stock_of(&sku("R-3")).await.unwrap(), vec![level("R-3", &a, 1, 1)]);
    assert!(s.available_stock(&[sku("R-1"), sku("R-2"), sku("R-3")], false).await.unwrap().is_empty());
    // Release: reserved -= release, on_hand -= ship; never more than reserved.
    assert_eq!(t.record("release", s.release_stock(&[(mv("R-1", &b, 2), 1), (mv("R-2", &b, 2), 0)]).await.unwrap()), 2);
    assert_eq!(s.stock_of(&sku("R-1")).await.unwrap()[2], level("R-1", &b, 3, 2));
    assert_eq!(s.stock_of(&sku("R-2")).await.unwrap(), vec![level("R-2", &b, 2, 0)]);
    assert_eq!(t.record("over-release", s.release_stock(&[(mv("R-2", &b, 1), 0)]).await.unwrap()), 0);
    assert_eq!(s.stock_of(&sku("R-2")).await.unwrap(), vec![level("R-2", &b, 2, 0)]);
    assert_eq!(s.release_stock(&[(mv("R-9", &a, 1), 0)]).await.unwrap(), 0);
    assert_eq!(s.release_stock(&[]).await.unwrap(), 0);
    let stock = s.list_stock(None, None, 10).await.unwrap();
    assert!(stock.iter().all(|l| l.reserved >= 0 && l.on_hand >= l.reserved && l.available == l.on_hand - l.reserved));
}

async fn repeated_moves_of_one_row_each_apply(t: &StoreCtx) {
    let [a, ..] = three_locations(t).await;
    let mut s = t.begin().await;
    s.change_on_hand(&sku("D-1"), a.id, 10).await.unwrap();
    // Two moves of the same SKU at the same location: both apply, or the
    // count says one did not.
    let applied = s.reserve_stock(&[mv("D-1", &a, 2), mv("D-1", &a, 3)]).await.unwrap();
    let stock = s.stock_of(&sku("D-1")).await.unwrap();
    t.record("reserve twice", (applied, &stock));
    assert_eq!((applied, stock[0].reserved), (2, 5), "reserve_stock applied {applied} of 2 moves: {stock:?}");
    let released = s.release_stock(&[(mv("D-1", &a, 1), 1), (mv("D-1", &a, 2), 0)]).await.unwrap();
    let stock = s.stock_of(&sku("D-1")).await.unwrap();
    t.record("release twice", (released, &stock));
    assert_eq!((released, stock[0].clone()), (2, level("D-1", &a, 9, 2)), "release_stock changed {released} of 2");
}

async fn reservations_never_overbook_under_concurrency(t: &StoreCtx) {
    let [a, ..] = three_locations(t).await;
    let mut s = t.begin().await;
    s.change_on_hand(&sku("C-1"), a.id, 7).await.unwrap();
    s.commit().await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let db = t.db.clone();
        let a = a.clone();
        tasks.push(tokio::spawn(async move {
            let mut tx = db.begin().await.unwrap();
            tx.available_stock(&[sku("C-1")], true).await.unwrap();
            let n = tx.reserve_stock(&[mv("C-1", &a, 1)]).await.unwrap();
            tx.commit().await.unwrap();
            n
        }));
    }
    let mut applied = 0;
    for task in tasks {
        applied += task.await.unwrap();
    }
    let stock = t.session().await.stock_of(&sku("C-1")).await.unwrap();
    assert_eq!(t.record("concurrent", (applied, &stock)), (7, &vec![level("C-1", &a, 7, 7)]));
}

async fn damaged_stock_adds_up_per_location_apart_from_sellable_stock(t: &StoreCtx) {
    let [a, c, b] = three_locations(t).await;
    let mut s = t.begin().await;
    assert_eq!(t.record("first", s.add_damaged_stock(&sku("TEE"), b.id, 2).await.unwrap()), 2);
    assert_eq!(t.record("again", s.add_damaged_stock(&sku("TEE"), b.id, 3).await.unwrap()), 5);
    assert_eq!(s.add_damaged_stock(&sku("TEE"), a.id, 1).await.unwrap(), 1);
    assert_eq!(s.add_damaged_stock(&sku("MUG"), c.id, 4).await.unwrap(), 4);
    assert_eq!(t.record("of TEE", s.damaged_stock_of(&sku("TEE")).await.unwrap()), [(a.id, 1), (b.id, 5)]);
    assert!(s.damaged_stock_of(&sku("NONE")).await.unwrap().is_empty());
    assert!(s.stock_of(&sku("TEE")).await.unwrap().is_empty(), "damaged units are not sellable stock");
    alone!(t, s, r = d => d.add_damaged_stock(&sku("TEE"), b.id, -6).await);
    assert!(r.is_err(), "damaged stock cannot go below zero");
    assert_eq!(s.damaged_stock_of(&sku("TEE")).await.unwrap(), [(a.id, 1), (b.id, 5)]);
    alone!(t, s, r = d => d.add_damaged_stock(&sku("TEE"), Uuid::from_u128(9), 1).await);
    assert!(r.is_err(), "an unknown location");
    s.commit().await.unwrap();
}

ordo_testkit::store_tests!(
    damaged_stock_adds_up_per_location_apart_from_sellable_stock,
    location_round_trip_list_and_duplicate,
    change_on_hand_never_goes_below_reserved,
    stock_listing_orders_by_sku_then_allocation,
    available_stock_and_reservations,
    repeated_moves_of_one_row_each_apply,
    reservations_never_overbook_under_concurrency,
);
