//! Dropping a caller midway through `begin` leaves no transaction open on
//! the connection the pool hands out next (launchbadge/sqlx#4393: sqlx 0.8
//! left one, and the connection's first error then failed every later use
//! of it).
//!
//! Run with `ORDO_TEST_POSTGRES_URL`; skipped without it, and failing
//! instead with `ORDO_TEST_REQUIRE_POSTGRES=1`.

use std::future::Future;
use std::task::Poll;
use std::time::Duration;

use ordo_store::Database;
use ordo_store_postgres::{PgOptions, PgStore};

fn url() -> Option<String> {
    match std::env::var("ORDO_TEST_POSTGRES_URL") {
        Ok(url) => Some(url),
        Err(_) if std::env::var("ORDO_TEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") => {
            panic!("ORDO_TEST_REQUIRE_POSTGRES=1 but ORDO_TEST_POSTGRES_URL is not set")
        }
        Err(_) => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_begin_dropped_midway_leaves_no_transaction_on_the_connection() {
    let Some(url) = url() else { return };
    // One connection, so each round reuses the one the dropped begin used.
    let store = PgStore::connect_lazy(&PgOptions {
        url,
        max_connections: 1,
        min_connections: 0,
        acquire_timeout: Duration::from_secs(10),
        idle_timeout: None,
        statement_cache_capacity: 100,
        statement_timeout: None,
        pgbouncer: false,
        slow_statement: Duration::ZERO,
    })
    .unwrap();
    store.ping().await.unwrap();
    let mut dropped_midway = 0;
    for round in 0..1000u32 {
        // Dropped after one to four polls: the first sends the BEGIN (the
        // pool has an idle connection), the later ones may read its answer.
        {
            let mut begun = std::pin::pin!(store.begin());
            let mut finished = false;
            for _ in 0..=round % 4 {
                let polled = std::future::poll_fn(|cx| Poll::Ready(begun.as_mut().poll(cx).is_ready())).await;
                if polled {
                    finished = true;
                    break;
                }
                tokio::task::yield_now().await;
            }
            dropped_midway += u32::from(!finished);
        }
        // Outside a transaction each statement runs in its own, with its own
        // id; inside a leftover one, two statements share its id.
        let mut conn = store.pool().acquire().await.unwrap();
        let mut ids = Vec::new();
        for _ in 0..2 {
            ids.push(sqlx::query_scalar::<_, i64>("SELECT txid_current()").fetch_one(&mut *conn).await.unwrap());
        }
        let leftover = ids[0] == ids[1];
        assert!(!leftover, "round {round}: the connection is still inside the dropped begin's transaction");
    }
    assert!(dropped_midway > 0, "no begin was dropped before it finished");
}
