//! `KeyRepo`: the `api_keys` and `admin_sessions` tables.

use ordo_domain::auth::{AdminSession, Role};
use ordo_testkit::store::StoreCtx;
use uuid::Uuid;

use crate::fixtures::api_key;

async fn api_key_round_trip_and_list(t: &StoreCtx) {
    let mut s = t.begin().await;
    assert!(!t.record("any before", s.any_api_key().await.unwrap()));
    assert!(s.list_api_keys().await.unwrap().is_empty());
    let mut full = api_key(t, "full key", 1);
    full.role = Role::Finance;
    full.last_used_at = Some(t.at(6));
    full.revoked_at = Some(t.at(7));
    let mut bare = api_key(t, "bare key ünï", 5);
    bare.role = Role::Viewer;
    bare.expires_at = None;
    s.insert_api_key(&full).await.unwrap();
    s.insert_api_key(&bare).await.unwrap();
    assert!(t.record("any after", s.any_api_key().await.unwrap()));
    assert_eq!(t.record("full", s.api_key(full.id).await.unwrap()).as_ref(), Some(&full));
    assert_eq!(s.api_key(bare.id).await.unwrap().as_ref(), Some(&bare));
    assert_eq!(s.api_key(Uuid::from_u128(3)).await.unwrap(), None);
    // Oldest first: ids are time-ordered UUIDv7s, so id order is creation order.
    assert_eq!(t.record("list", s.list_api_keys().await.unwrap()), vec![full.clone(), bare.clone()]);
    for role in [Role::Admin, Role::Manager, Role::Clerk] {
        let mut k = api_key(t, role.as_str(), 9);
        k.role = role;
        s.insert_api_key(&k).await.unwrap();
        assert_eq!(s.api_key(k.id).await.unwrap().map(|k| k.role), Some(role));
    }
}

async fn revoke_keeps_first_time_and_touch_only_moves_forward(t: &StoreCtx) {
    let mut s = t.begin().await;
    let key = api_key(t, "k", 0);
    s.insert_api_key(&key).await.unwrap();
    let before = s.revoke_api_key(key.id, t.at(10)).await.unwrap();
    assert_eq!(t.record("revoke returns the key as it was", before.as_ref()), Some(&key));
    let again = s.revoke_api_key(key.id, t.at(20)).await.unwrap().unwrap();
    assert_eq!(t.record("second revoke", again.revoked_at), Some(t.at(10)));
    assert_eq!(s.api_key(key.id).await.unwrap().unwrap().revoked_at, Some(t.at(10)));
    assert_eq!(t.record("revoke unknown", s.revoke_api_key(Uuid::from_u128(8), t.at(1)).await.unwrap()), None);

    s.touch_api_key(key.id, t.at(30)).await.unwrap();
    assert_eq!(t.record("touched", s.api_key(key.id).await.unwrap().unwrap().last_used_at), Some(t.at(30)));
    // A late, older touch does not move it back.
    s.touch_api_key(key.id, t.at(25)).await.unwrap();
    assert_eq!(t.record("older touch", s.api_key(key.id).await.unwrap().unwrap().last_used_at), Some(t.at(30)));
    s.touch_api_key(key.id, t.at(31)).await.unwrap();
    assert_eq!(s.api_key(key.id).await.unwrap().unwrap().last_used_at, Some(t.at(31)));
    // Touching an unknown key is no error.
    s.touch_api_key(Uuid::from_u128(9), t.at(1)).await.unwrap();
}

async fn admin_sessions_round_trip_end_and_sweep(t: &StoreCtx) {
    let mut s = t.begin().await;
    let key = api_key(t, "k", 0);
    s.insert_api_key(&key).await.unwrap();
    let (short, _) = AdminSession::open(key.id, &[1; 64], t.at(1), chrono::Duration::seconds(10));
    let (long, cookie) = AdminSession::open(key.id, &[2; 64], t.at(1), chrono::Duration::hours(12));
    s.insert_admin_session(&short).await.unwrap();
    s.insert_admin_session(&long).await.unwrap();
    let id = AdminSession::id_of(&cookie).unwrap();
    assert_eq!(t.record("session", s.admin_session(&id).await.unwrap()).as_ref(), Some(&long));
    assert_eq!(s.admin_session(&[9; 32]).await.unwrap(), None);
    // Sweeping at an instant removes what has expired by then, and only that.
    assert_eq!(t.record("swept", s.sweep_admin_sessions(t.at(11)).await.unwrap()), 1);
    assert_eq!(s.admin_session(&short.id_hash).await.unwrap(), None);
    assert!(s.admin_session(&long.id_hash).await.unwrap().is_some());
    assert!(t.record("signed out", s.delete_admin_session(&long.id_hash).await.unwrap()));
    assert!(!s.delete_admin_session(&long.id_hash).await.unwrap(), "gone already");
    assert_eq!(s.admin_session(&long.id_hash).await.unwrap(), None);
}

ordo_testkit::store_tests!(
    api_key_round_trip_and_list,
    revoke_keeps_first_time_and_touch_only_moves_forward,
    admin_sessions_round_trip_end_and_sweep
);
