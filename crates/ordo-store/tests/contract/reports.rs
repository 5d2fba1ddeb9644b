//! Reports: their records (class, cache lookup, progress, finishing once)
//! and the paged queries exports read through, page after page.

use chrono::NaiveDate;
use ordo_domain::inventory::Location;
use ordo_domain::report::{Report, ReportFormat, ReportKind, ReportParams, ReportStatus};
use ordo_domain::{CustomerId, Timestamp};
use ordo_testkit::store::StoreCtx;
use uuid::Uuid;

use crate::fixtures::order;

const LOCATION: Uuid = Uuid::from_u128(0x10c);

fn report(t: &StoreCtx, kind: ReportKind, at: i64) -> Report {
    Report {
        id: t.id(),
        params: ReportParams {
            kind,
            from: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
            to: NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
            market: Some("DE".to_owned()),
            format: ReportFormat::Csv,
        },
        status: ReportStatus::Running,
        progress: 0,
        rows: 0,
        sha256: None,
        size: None,
        file_key: None,
        watermark: "3@17".to_owned(),
        cached: false,
        error: None,
        created_by: "contract".to_owned(),
        created_at: t.at(at),
        finished_at: None,
    }
}

async fn reports_round_trip_progress_finish_once_and_serve_the_cache(t: &StoreCtx) {
    let mut s = t.begin().await;
    let sales = report(t, ReportKind::Sales, 1);
    let export = report(t, ReportKind::Orders, 2);
    for r in [&sales, &export] {
        s.insert_report(r, &r.params.cache_key()).await.unwrap();
    }
    assert_eq!(s.report(sales.id).await.unwrap().as_ref(), Some(&sales), "every field round-trips");
    assert_eq!(t.record("reports", s.reports(false, None, 10).await.unwrap()), vec![sales.clone()]);
    assert_eq!(s.reports(true, None, 10).await.unwrap(), vec![export.clone()], "exports apart");
    assert!(s.cached_report(&sales.params.cache_key(), "3@17").await.unwrap().is_none(), "running: no hit");

    assert!(s.report_progress(sales.id, 40, 1200).await.unwrap());
    let mut done = s.report(sales.id).await.unwrap().unwrap();
    assert_eq!((done.progress, done.rows), (40, 1200));
    done.status = ReportStatus::Succeeded;
    done.progress = 100;
    done.rows = 2500;
    done.sha256 = Some("ab".repeat(32));
    done.size = Some(99_000);
    done.file_key = Some(format!("reports/{}.csv", done.id));
    done.watermark = "4@18".to_owned();
    done.finished_at = Some(t.at(9));
    assert!(s.finish_report(&done).await.unwrap());
    assert_eq!(s.report(sales.id).await.unwrap().as_ref(), Some(&done));
    assert!(!s.finish_report(&done).await.unwrap(), "it finishes once");
    assert!(!s.report_progress(sales.id, 50, 1).await.unwrap(), "a finished report takes no progress");
    let hit = s.cached_report(&sales.params.cache_key(), "4@18").await.unwrap();
    assert_eq!(
        t.record("hit", hit.map(|r| r.id)),
        Some(sales.id),
        "by parameters and the watermark it was compiled at"
    );
    assert!(s.cached_report(&sales.params.cache_key(), "3@17").await.unwrap().is_none(), "another watermark");
    assert!(s.cached_report(&export.params.cache_key(), "4@18").await.unwrap().is_none(), "other parameters");
    s.commit().await.unwrap();
}

async fn orders_between_pages_by_creation_across_ties_and_bounds(t: &StoreCtx) {
    let mut s = t.begin().await;
    // Created at 10, 20, 20, 20, 30, 40 (FR), 50 seconds; ids ascend with insertion.
    let mut all = Vec::new();
    for (i, at) in [10, 20, 20, 20, 30, 40, 50].into_iter().enumerate() {
        let mut o = order(t, CustomerId::from_uuid(Uuid::from_u128(0xc000 + i as u128)), LOCATION, at);
        if i == 5 {
            o.market = "FR".to_owned();
        }
        s.insert_order(&o, None).await.unwrap();
        all.push(o);
    }
    s.commit().await.unwrap();
    let mut s = t.begin().await;
    // [20 s, 50 s): the three ties, 30 and 40 s; pages of two, each after the last.
    let (from, to): (Timestamp, Timestamp) = (t.at(20), t.at(50));
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = s.orders_between(from, to, None, after, 2).await.unwrap();
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        after = Some((last.created_at, *last.id.as_uuid()));
        seen.extend(page);
    }
    assert_eq!(
        t.record("pages", seen.iter().map(|o| *o.id.as_uuid()).collect::<Vec<_>>()),
        all[1..6].iter().map(|o| *o.id.as_uuid()).collect::<Vec<_>>()
    );
    assert_eq!(seen, all[1..6].to_vec(), "with their lines, as stored");
    let german = s.orders_between(from, to, Some("DE"), None, 10).await.unwrap();
    assert_eq!(german.len(), 4, "the FR order is left out");
    assert!(s.orders_between(t.at(60), t.at(70), None, None, 10).await.unwrap().is_empty());
}

/// Every change of on-hand stock is a movement, whatever wrote it; a
/// shipment (on hand and reserved down together) is told from the rest,
/// and a reservation moves nothing.
async fn stock_movements_are_recorded_by_trigger_and_summed_per_level(t: &StoreCtx) {
    use ordo_domain::inventory::StockLevel;
    use ordo_store::{StockMove, StockMovementRow};

    let mut s = t.begin().await;
    let (near, far) = (crate::fixtures::location(t, "NEAR", 1, 0), crate::fixtures::location(t, "FAR", 2, 0));
    s.insert_location(&near).await.unwrap();
    s.insert_location(&far).await.unwrap();
    let sku = |code: &str| ordo_domain::Sku::parse(code).unwrap();
    // A bulk load (as `ordo seed`), a receipt, a count down.
    s.insert_stock_levels(&[StockLevel::new(sku("A"), near.id, 10, 0), StockLevel::new(sku("B"), far.id, 0, 0)])
        .await
        .unwrap();
    s.change_on_hand(&sku("A"), far.id, 7).await.unwrap().unwrap();
    s.change_on_hand(&sku("A"), near.id, -1).await.unwrap().unwrap();
    // 4 reserved, then 3 shipped and 1 released unshipped.
    let mv = |quantity| StockMove { sku: sku("A"), location_id: near.id, quantity };
    assert_eq!(s.reserve_stock(&[mv(4)]).await.unwrap(), 1);
    assert_eq!(s.release_stock(&[(mv(3), 3), (mv(1), 0)]).await.unwrap(), 2);
    let now = ordo_domain::time::now();
    let hour = chrono::Duration::hours(1);
    let row = |sku: &str, location: &Location, on_hand, added, shipped, removed, since| StockMovementRow {
        sku: sku.to_owned(),
        location_id: location.id,
        location_code: location.code.clone(),
        on_hand,
        added,
        shipped,
        removed,
        since,
    };
    let mut expected =
        vec![row("A", &near, 6, 10, 3, 1, 0), row("A", &far, 7, 7, 0, 0, 0), row("B", &far, 0, 0, 0, 0, 0)];
    expected[..2].sort_by_key(|r| r.location_id);
    let period = s.stock_between(now - hour, now + hour, None, 10).await.unwrap();
    assert_eq!(t.record("this hour", &period), &expected);
    // A period before all of it: every movement came since its end.
    let before = s.stock_between(now - hour * 3, now - hour * 2, None, 10).await.unwrap();
    let since: Vec<(i64, i64, i64, i64, i64)> =
        before.iter().map(|r| (r.on_hand, r.added, r.shipped, r.removed, r.since)).collect();
    assert_eq!(
        t.record("earlier", since),
        expected.iter().map(|r| (r.on_hand, 0, 0, 0, r.on_hand)).collect::<Vec<_>>()
    );
    // Paged by SKU and location.
    let first = s.stock_between(now - hour, now + hour, None, 2).await.unwrap();
    assert_eq!(first, expected[..2].to_vec());
    let after = Some((first[1].sku.clone(), first[1].location_id));
    assert_eq!(s.stock_between(now - hour, now + hour, after, 2).await.unwrap(), expected[2..].to_vec());
}

ordo_testkit::store_tests!(
    reports_round_trip_progress_finish_once_and_serve_the_cache,
    orders_between_pages_by_creation_across_ties_and_bounds,
    stock_movements_are_recorded_by_trigger_and_summed_per_level,
);
