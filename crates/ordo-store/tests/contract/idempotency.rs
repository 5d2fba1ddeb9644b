//! `IdempotencyRepo`: the `idempotency_keys` table.

use ordo_domain::idempotency::{Answer, Outcome, Refusal, StoredResponse};
use ordo_domain::validation::FieldError;
use ordo_testkit::store::StoreCtx;
use uuid::Uuid;

use crate::fixtures::{idempotency_record, stored_response};

const ME: Uuid = Uuid::from_u128(0xa11ce);
const YOU: Uuid = Uuid::from_u128(0xb0b);

async fn claim_complete_and_replay(t: &StoreCtx) {
    let mut s = t.begin().await;
    let record = idempotency_record(ME, "order-1", t, 0);
    assert!(t.record("first claim", s.insert_idempotency_key(&record).await.unwrap()));
    assert_eq!(t.record("stored", s.idempotency_key(ME, "order-1").await.unwrap()).as_ref(), Some(&record));
    // A second claim of the same key loses and changes nothing.
    let mut rival = idempotency_record(ME, "order-1", t, 5);
    rival.request_hash = "other".to_owned();
    assert!(!t.record("second claim", s.insert_idempotency_key(&rival).await.unwrap()));
    assert_eq!(s.idempotency_key(ME, "order-1").await.unwrap().as_ref(), Some(&record));
    // Keys are per principal and case-sensitive.
    assert!(s.insert_idempotency_key(&idempotency_record(YOU, "order-1", t, 0)).await.unwrap());
    assert!(s.insert_idempotency_key(&idempotency_record(ME, "ORDER-1", t, 0)).await.unwrap());
    assert_eq!(s.idempotency_key(ME, "order-2").await.unwrap(), None);
    // Completing stores the response, every byte of it.
    s.complete_idempotency_key(ME, "order-1", &Answer::Response(stored_response())).await.unwrap();
    let done = s.idempotency_key(ME, "order-1").await.unwrap().unwrap();
    assert_eq!(t.record("completed", &done.answer), &Some(Answer::Response(stored_response())));
    assert_eq!(done.created_at, record.created_at);
    assert_eq!(s.idempotency_key(YOU, "order-1").await.unwrap().unwrap().answer, None);
    let empty = Answer::Response(StoredResponse { status: 204, content_type: None, location: None, body: Vec::new() });
    s.complete_idempotency_key(ME, "ORDER-1", &empty).await.unwrap();
    assert_eq!(t.record("empty", s.idempotency_key(ME, "ORDER-1").await.unwrap().unwrap().answer), Some(empty));
    // Completing an unknown key is no error and creates nothing.
    s.complete_idempotency_key(ME, "ghost", &Answer::Response(stored_response())).await.unwrap();
    assert_eq!(s.idempotency_key(ME, "ghost").await.unwrap(), None);
    // Delete forgets one key.
    s.delete_idempotency_key(ME, "order-1").await.unwrap();
    assert_eq!(s.idempotency_key(ME, "order-1").await.unwrap(), None);
    assert!(s.idempotency_key(YOU, "order-1").await.unwrap().is_some());
    s.delete_idempotency_key(ME, "order-1").await.unwrap();
    assert!(s.insert_idempotency_key(&record).await.unwrap(), "a deleted key can be claimed again");
}

async fn replace_only_as_seen_and_sweep_expired(t: &StoreCtx) {
    let mut s = t.begin().await;
    let old = idempotency_record(ME, "k", t, 0);
    s.insert_idempotency_key(&old).await.unwrap();
    s.complete_idempotency_key(ME, "k", &Answer::Response(stored_response())).await.unwrap();
    let mut fresh = idempotency_record(ME, "k", t, 100_000);
    fresh.request_hash = "new hash".to_owned();
    // Seen values that no longer match: refused.
    assert!(!t.record("wrong created_at", s.replace_idempotency_key(&fresh, t.at(1), old.locked_until).await.unwrap()));
    assert!(!s.replace_idempotency_key(&fresh, old.created_at, t.at(31)).await.unwrap());
    assert!(
        !s.replace_idempotency_key(&idempotency_record(ME, "nope", t, 1), old.created_at, old.locked_until)
            .await
            .unwrap()
    );
    // As seen: replaced, and the old response is gone.
    assert!(t.record("as seen", s.replace_idempotency_key(&fresh, old.created_at, old.locked_until).await.unwrap()));
    assert_eq!(t.record("replaced", s.idempotency_key(ME, "k").await.unwrap()).as_ref(), Some(&fresh));
    // The old view is stale now.
    assert!(!s.replace_idempotency_key(&old, old.created_at, old.locked_until).await.unwrap());

    // Sweep: keys whose expiry is before `now` (strictly).
    let a = idempotency_record(ME, "a", t, 0); // expires at +86 400
    let b = idempotency_record(ME, "b", t, 10); // expires at +86 410
    s.insert_idempotency_key(&a).await.unwrap();
    s.insert_idempotency_key(&b).await.unwrap();
    assert_eq!(t.record("sweep early", s.sweep_idempotency_keys(t.at(86_400)).await.unwrap()), 0);
    assert_eq!(t.record("sweep a", s.sweep_idempotency_keys(t.at(86_401)).await.unwrap()), 1);
    assert_eq!(s.idempotency_key(ME, "a").await.unwrap(), None);
    assert!(s.idempotency_key(ME, "b").await.unwrap().is_some());
    assert!(s.idempotency_key(ME, "k").await.unwrap().is_some());
    assert_eq!(s.sweep_idempotency_keys(t.at(10_000_000)).await.unwrap(), 2);
}

async fn an_outcome_is_stored_as_the_use_case_left_it(t: &StoreCtx) {
    let mut s = t.begin().await;
    let refusals = [
        Refusal::InsufficientStock { skus: vec!["MUG".to_owned(), "TEE-\tL".to_owned()] },
        Refusal::Invalid {
            errors: vec![
                FieldError { field: "market".to_owned(), ..FieldError::new("unknown_market", "no market \"ZZ\" ✓") },
                FieldError { field: "lines[0].sku".to_owned(), ..FieldError::new("unknown_sku", "no SKU \"X\"\n") },
            ],
        },
    ];
    for (n, refusal) in refusals.into_iter().enumerate() {
        let key = format!("refused-{n}");
        s.insert_idempotency_key(&idempotency_record(ME, &key, t, 0)).await.unwrap();
        let answer = Answer::Outcome(Outcome::Refused { refusal });
        s.complete_idempotency_key(ME, &key, &answer).await.unwrap();
        let stored = s.idempotency_key(ME, &key).await.unwrap().unwrap();
        assert_eq!(t.record("refusal", stored.answer), Some(answer));
    }
    // Taking over an answered key (a stale view refused above) forgets its
    // outcome along with the rest.
    let old = s.idempotency_key(ME, "refused-0").await.unwrap().unwrap();
    let fresh = idempotency_record(ME, "refused-0", t, 100_000);
    assert!(s.replace_idempotency_key(&fresh, old.created_at, old.locked_until).await.unwrap());
    assert_eq!(s.idempotency_key(ME, "refused-0").await.unwrap().unwrap().answer, None);
}

ordo_testkit::store_tests!(
    claim_complete_and_replay,
    replace_only_as_seen_and_sweep_expired,
    an_outcome_is_stored_as_the_use_case_left_it,
);
