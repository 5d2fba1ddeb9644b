//! `Database`, `Session` and `Transaction`: commit, rollback on drop, and
//! the database-level calls.

use ordo_testkit::store::StoreCtx;

use crate::fixtures::{customer, market, product};

async fn commit_keeps_and_drop_rolls_back(t: &StoreCtx) {
    t.db.ping().await.unwrap();
    assert_eq!(t.db.pending_migrations().await.unwrap(), 0);
    t.db.migrate().await.unwrap();
    let kept = product(t, "TX-KEPT", 0);
    let lost = product(t, "TX-LOST", 0);
    let mut tx = t.begin().await;
    tx.insert_product(&kept).await.unwrap();
    tx.insert_market(&market("DE", t, 0)).await.unwrap();
    // Visible inside its own transaction.
    assert!(tx.product(kept.id).await.unwrap().is_some());
    tx.commit().await.unwrap();
    let mut tx = t.begin().await;
    tx.insert_product(&lost).await.unwrap();
    tx.insert_customer(&customer(t, "lost@example.com", 0)).await.unwrap();
    drop(tx);
    let mut s = t.begin().await;
    assert!(t.record("kept", s.product(kept.id).await.unwrap().is_some()));
    assert!(s.market("DE").await.unwrap().is_some());
    assert!(!t.record("lost", s.product(lost.id).await.unwrap().is_some()));
    // The SKU of the rolled-back insert is free.
    s.insert_product(&product(t, "TX-LOST", 1)).await.unwrap();
    let stats = t.db.pool_stats();
    assert!(stats.size <= stats.max || stats.max == 0, "{stats:?}");
}

ordo_testkit::store_tests!(commit_keeps_and_drop_rolls_back);
