//! `JobRepo`: the `jobs`, `job_attempts` and `cron_ticks` tables.

use ordo_domain::job::{JobAttempt, JobRecord, JobState, NewJob};
use ordo_domain::page::PageRequest;
use ordo_store::CancelOutcome;
use ordo_testkit::store::StoreCtx;
use uuid::Uuid;

use crate::fixtures::new_job;

/// What the contract fixes of a job: not its database-made timestamps
/// (`created_at`, `updated_at`) nor its random fencing token.
fn view(j: &JobRecord) -> String {
    format!(
        "{} {} {} p{} {:?} attempt {}/{} run_at {} held {} by {:?} lease {:?} unique {:?} progress {:?} {:?} error {:?} cancel {} payload {} trace {:?}",
        j.id,
        j.queue,
        j.name,
        j.priority,
        j.state,
        j.attempt,
        j.max_attempts,
        j.run_at,
        j.attempt_id.is_some(),
        j.locked_by,
        j.lease_expires_at,
        j.unique_key,
        j.progress_percent,
        j.progress_message,
        j.last_error,
        j.cancel_requested,
        j.payload,
        j.trace_parent,
    )
}

fn queues(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

fn assert_new(job: &JobRecord, new: &NewJob) {
    assert_eq!(
        (&job.id, &job.queue, &job.name, &job.payload, job.priority, job.max_attempts, job.run_at),
        (&new.id, &new.queue, &new.name, &new.payload, new.priority, new.max_attempts, new.run_at)
    );
    assert_eq!((&job.unique_key, &job.trace_parent), (&new.unique_key, &new.trace_parent));
}

async fn enqueue_round_trip_and_unique_key(t: &StoreCtx) {
    let mut s = t.begin().await;
    let job = new_job(t, "default", "mail.send", 5, 0);
    assert!(t.record("enqueue", s.enqueue_job(&job).await.unwrap()));
    let stored = s.job(job.id).await.unwrap().unwrap();
    assert_new(&stored, &job);
    assert_eq!(
        (stored.state, stored.attempt, stored.attempt_id, stored.cancel_requested),
        (JobState::Available, 0, None, false)
    );
    assert_eq!((stored.locked_by, stored.lease_expires_at, stored.last_error), (None, None, None));
    assert!(stored.created_at <= stored.updated_at);
    t.record("stored", view(&s.job(job.id).await.unwrap().unwrap()));
    let mut bare = new_job(t, "default", "x", 0, 0);
    bare.trace_parent = None;
    bare.payload = serde_json::Value::Null;
    s.enqueue_job(&bare).await.unwrap();
    assert_new(&s.job(bare.id).await.unwrap().unwrap(), &bare);
    assert_eq!(s.job(Uuid::from_u128(1)).await.unwrap(), None);

    // A pending job with the same name and unique key: nothing enqueued.
    let mut first = new_job(t, "default", "invoice.issue", 0, 0);
    first.unique_key = Some("order-1".to_owned());
    assert!(s.enqueue_job(&first).await.unwrap());
    let mut again = new_job(t, "default", "invoice.issue", 0, 0);
    again.unique_key = Some("order-1".to_owned());
    assert!(!t.record("same unique key", s.enqueue_job(&again).await.unwrap()));
    assert_eq!(s.job(again.id).await.unwrap(), None);
    // Another name, or no key: enqueued.
    let mut other_name = new_job(t, "default", "mail.send", 0, 0);
    other_name.unique_key = Some("order-1".to_owned());
    assert!(s.enqueue_job(&other_name).await.unwrap());
    // Once the first is dead, the key is free again.
    let claimed = s.claim_jobs(&queues(&["default"]), "w", 10, t.at(60), t.at(0)).await.unwrap();
    let held = claimed.iter().find(|j| j.id == first.id).unwrap();
    assert!(s.fail_job(first.id, held.attempt_id.unwrap(), "boom", None).await.unwrap());
    assert!(t.record("key free when dead", s.enqueue_job(&again).await.unwrap()));
    // ... and taken while it is running.
    let claimed = s.claim_jobs(&queues(&["default"]), "w", 10, t.at(60), t.at(0)).await.unwrap();
    assert!(claimed.iter().any(|j| j.id == again.id));
    let mut third = new_job(t, "default", "invoice.issue", 0, 0);
    third.unique_key = Some("order-1".to_owned());
    assert!(!s.enqueue_job(&third).await.unwrap());
}

async fn claim_takes_due_jobs_by_priority(t: &StoreCtx) {
    let mut s = t.begin().await;
    let low = new_job(t, "a", "j", 0, 0);
    let high = new_job(t, "b", "j", 9, 5);
    let high_earlier = new_job(t, "a", "j", 9, 1);
    let mid = new_job(t, "a", "j", 3, 0);
    let future = new_job(t, "a", "j", 99, 1000);
    let elsewhere = new_job(t, "c", "j", 99, 0);
    for j in [&low, &high, &high_earlier, &mid, &future, &elsewhere] {
        s.enqueue_job(j).await.unwrap();
    }
    let qs = queues(&["a", "b"]);
    let first = s.claim_jobs(&qs, "worker-1", 3, t.at(60), t.at(10)).await.unwrap();
    let ids: Vec<Uuid> = first.iter().map(|j| j.id).collect();
    assert_eq!(t.record("claimed", &ids), &vec![high_earlier.id, high.id, mid.id]);
    for j in &first {
        assert_eq!((j.state, j.attempt, j.locked_by.as_deref()), (JobState::Running, 1, Some("worker-1")));
        assert_eq!(j.lease_expires_at, Some(t.at(60)));
        assert!(j.attempt_id.is_some());
        assert_eq!(s.job(j.id).await.unwrap().as_ref(), Some(j), "claim returns the stored row");
    }
    assert_eq!(t.record("claimed views", first.iter().map(view).collect::<Vec<_>>()).len(), 3);
    let tokens: std::collections::HashSet<_> = first.iter().map(|j| j.attempt_id).collect();
    assert_eq!(tokens.len(), 3, "fresh token per job");
    let second = s.claim_jobs(&qs, "worker-2", 10, t.at(60), t.at(10)).await.unwrap();
    assert_eq!(t.record("second", second.iter().map(|j| j.id).collect::<Vec<_>>()), vec![low.id]);
    assert!(s.claim_jobs(&qs, "worker-2", 10, t.at(60), t.at(10)).await.unwrap().is_empty());
    assert!(s.claim_jobs(&[], "worker-2", 10, t.at(60), t.at(2000)).await.unwrap().is_empty());
    assert!(s.claim_jobs(&qs, "worker-2", 0, t.at(60), t.at(2000)).await.unwrap().is_empty());
    // Due exactly at `now`.
    let due = s.claim_jobs(&queues(&["a"]), "worker-3", 10, t.at(2000), t.at(1000)).await.unwrap();
    assert_eq!(due.iter().map(|j| j.id).collect::<Vec<_>>(), vec![future.id]);
}

async fn claims_never_overlap_under_concurrency(t: &StoreCtx) {
    let mut s = t.begin().await;
    let mut all = Vec::new();
    for i in 0..40 {
        let j = new_job(t, "q", "j", (i % 4) as i16, 0);
        s.enqueue_job(&j).await.unwrap();
        all.push(j.id);
    }
    s.commit().await.unwrap();
    let mut tasks = Vec::new();
    for w in 0..6 {
        let db = t.db.clone();
        let (lease, now) = (t.at(600), t.at(1));
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let mut tx = db.begin().await.unwrap();
                let claimed = tx.claim_jobs(&["q".to_owned()], &format!("w{w}"), 3, lease, now).await.unwrap();
                tx.commit().await.unwrap();
                if claimed.is_empty() {
                    return got;
                }
                got.extend(claimed.into_iter().map(|j| j.id));
            }
        }));
    }
    let mut claimed = Vec::new();
    for task in tasks {
        claimed.extend(task.await.unwrap());
    }
    claimed.sort();
    all.sort();
    assert_eq!(claimed, all, "every job claimed exactly once");
}

async fn held_job_transitions_are_fenced(t: &StoreCtx) {
    let mut s = t.begin().await;
    let qs = queues(&["q"]);
    let a = new_job(t, "q", "a", 3, 0);
    let b = new_job(t, "q", "b", 2, 0);
    let c = new_job(t, "q", "c", 1, 0);
    for j in [&a, &b, &c] {
        s.enqueue_job(j).await.unwrap();
    }
    let claimed = s.claim_jobs(&qs, "w", 3, t.at(60), t.at(1)).await.unwrap();
    let token = |id: Uuid| claimed.iter().find(|j| j.id == id).unwrap().attempt_id.unwrap();
    let wrong = Uuid::from_u128(0xdead);
    // Progress, renewal, cancel request.
    assert!(!s.set_job_progress(a.id, wrong, 10, None).await.unwrap());
    assert!(s.set_job_progress(a.id, token(a.id), 50, Some("half way")).await.unwrap());
    let job = s.job(a.id).await.unwrap().unwrap();
    assert_eq!(
        t.record("progress", (job.progress_percent, job.progress_message)),
        (Some(50), Some("half way".to_owned()))
    );
    assert_eq!(t.record("cancel running", s.cancel_job(a.id).await.unwrap()), CancelOutcome::Requested);
    let mut renewed =
        s.renew_job_leases(&[(a.id, token(a.id)), (b.id, wrong), (c.id, token(c.id))], t.at(120)).await.unwrap();
    renewed.sort();
    let mut expected = vec![(a.id, true), (c.id, false)];
    expected.sort();
    assert_eq!(t.record("renewed", &renewed), &expected);
    assert_eq!(s.job(a.id).await.unwrap().unwrap().lease_expires_at, Some(t.at(120)));
    assert_eq!(s.job(b.id).await.unwrap().unwrap().lease_expires_at, Some(t.at(60)), "wrong token: not renewed");
    assert!(s.renew_job_leases(&[], t.at(120)).await.unwrap().is_empty());
    // Expired leases: b's (60) is before 100; a's and c's (120) are not.
    let expired: Vec<Uuid> = s.expired_jobs(t.at(100)).await.unwrap().iter().map(|j| j.id).collect();
    assert_eq!(t.record("expired", &expired), &vec![b.id]);
    assert!(s.expired_jobs(t.at(60)).await.unwrap().is_empty(), "strictly before");
    // Release: back to available, attempt not counted.
    assert!(!s.release_job(b.id, wrong).await.unwrap());
    assert!(s.release_job(b.id, token(b.id)).await.unwrap());
    let released = s.job(b.id).await.unwrap().unwrap();
    assert_eq!(t.record("released", view(&released)), view(&released));
    assert_eq!(
        (released.state, released.attempt, released.attempt_id, released.locked_by),
        (JobState::Available, 0, None, None)
    );
    assert_eq!(released.lease_expires_at, None);
    assert!(!s.release_job(b.id, token(b.id)).await.unwrap(), "only once");
    // Snooze: waits until run_at, attempt not counted, reason shown.
    assert!(!s.snooze_job(c.id, wrong, t.at(500), "wait").await.unwrap());
    assert!(s.snooze_job(c.id, token(c.id), t.at(500), "waiting for stock").await.unwrap());
    let snoozed = s.job(c.id).await.unwrap().unwrap();
    assert_eq!(t.record("snoozed", view(&snoozed)), view(&snoozed));
    assert_eq!((snoozed.state, snoozed.attempt, snoozed.run_at), (JobState::Available, 0, t.at(500)));
    assert_eq!(snoozed.progress_message.as_deref(), Some("waiting for stock"));
    assert!(s.claim_jobs(&qs, "w", 10, t.at(600), t.at(499)).await.unwrap().iter().all(|j| j.id != c.id));
    // Complete: deleted, only under its token and only once.
    assert!(!s.complete_job(a.id, wrong).await.unwrap());
    assert!(t.record("complete", s.complete_job(a.id, token(a.id)).await.unwrap()));
    assert_eq!(s.job(a.id).await.unwrap(), None);
    assert!(!s.complete_job(a.id, token(a.id)).await.unwrap());
    // Held tokens are stale after release/snooze.
    assert!(!s.set_job_progress(b.id, token(b.id), 1, None).await.unwrap());
    assert!(!s.fail_job(c.id, token(c.id), "late", None).await.unwrap());
}

async fn fail_retry_dead_and_discard(t: &StoreCtx) {
    let mut s = t.begin().await;
    let qs = queues(&["q"]);
    let job = new_job(t, "q", "flaky", 0, 0);
    s.enqueue_job(&job).await.unwrap();
    let first = s.claim_jobs(&qs, "w", 1, t.at(60), t.at(1)).await.unwrap().remove(0);
    let attempt = JobAttempt {
        job_id: job.id,
        attempt: 1,
        attempt_id: first.attempt_id.unwrap(),
        worker: "w".to_owned(),
        started_at: t.at(1),
        finished_at: t.at(2),
        outcome: "failed".to_owned(),
        error: Some(format!("boom {}", crate::fixtures::AWKWARD)),
    };
    s.insert_job_attempt(&attempt).await.unwrap();
    s.insert_job_attempt(&attempt).await.unwrap(); // recording twice keeps one
    assert!(!s.fail_job(job.id, Uuid::from_u128(1), "x", Some(t.at(10))).await.unwrap());
    assert!(s.fail_job(job.id, first.attempt_id.unwrap(), "boom", Some(t.at(10))).await.unwrap());
    let retrying = s.job(job.id).await.unwrap().unwrap();
    assert_eq!(t.record("retrying", view(&retrying)), view(&retrying));
    assert_eq!((retrying.state, retrying.attempt, retrying.run_at), (JobState::Available, 1, t.at(10)));
    assert_eq!((retrying.attempt_id, retrying.locked_by, retrying.lease_expires_at), (None, None, None));
    assert_eq!(retrying.last_error.as_deref(), Some("boom"));
    assert!(s.claim_jobs(&qs, "w", 1, t.at(60), t.at(9)).await.unwrap().is_empty(), "not before retry_at");
    let second = s.claim_jobs(&qs, "w", 1, t.at(60), t.at(10)).await.unwrap().remove(0);
    assert_eq!(second.attempt, 2);
    assert_ne!(second.attempt_id, first.attempt_id);
    let attempt2 = JobAttempt {
        attempt: 2,
        attempt_id: second.attempt_id.unwrap(),
        outcome: "dead".to_owned(),
        error: None,
        ..attempt.clone()
    };
    s.insert_job_attempt(&attempt2).await.unwrap();
    assert!(s.fail_job(job.id, second.attempt_id.unwrap(), "gave up", None).await.unwrap());
    let dead = s.job(job.id).await.unwrap().unwrap();
    assert_eq!(t.record("dead", view(&dead)), view(&dead));
    assert_eq!((dead.state, dead.attempt, dead.last_error.as_deref()), (JobState::Dead, 2, Some("gave up")));
    let attempts = s.job_attempts(job.id).await.unwrap();
    assert_eq!(attempts, vec![attempt.clone(), attempt2]);
    t.record(
        "attempts",
        attempts
            .iter()
            .map(|a| (a.attempt, &a.worker, a.started_at, a.finished_at, &a.outcome, &a.error))
            .collect::<Vec<_>>(),
    );
    assert!(s.job_attempts(Uuid::from_u128(7)).await.unwrap().is_empty());
    assert!(s.claim_jobs(&qs, "w", 1, t.at(60), t.at(10_000)).await.unwrap().is_empty(), "dead jobs are not claimed");
    // Retry a dead job: available now, attempts start over.
    assert!(!s.retry_dead_job(Uuid::from_u128(7), t.at(20)).await.unwrap());
    assert!(t.record("retry dead", s.retry_dead_job(job.id, t.at(20)).await.unwrap()));
    let again = s.job(job.id).await.unwrap().unwrap();
    assert_eq!((again.state, again.attempt, again.run_at), (JobState::Available, 0, t.at(20)));
    t.record("retried", view(&again));
    assert!(!s.retry_dead_job(job.id, t.at(21)).await.unwrap(), "only dead jobs");
    assert!(!s.discard_dead_job(job.id).await.unwrap(), "only dead jobs");
    let third = s.claim_jobs(&qs, "w", 1, t.at(60), t.at(20)).await.unwrap().remove(0);
    assert_eq!(third.attempt, 1);
    s.fail_job(job.id, third.attempt_id.unwrap(), "again", None).await.unwrap();
    assert!(t.record("discard", s.discard_dead_job(job.id).await.unwrap()));
    assert_eq!(s.job(job.id).await.unwrap(), None);
}

async fn cancel_list_stats_and_cron(t: &StoreCtx) {
    let mut s = t.begin().await;
    let waiting = new_job(t, "mail", "a", 0, 5);
    let running = new_job(t, "mail", "b", 1, 0);
    let dead = new_job(t, "billing", "c", 0, 0);
    let other = new_job(t, "billing", "d", 0, 7);
    for j in [&waiting, &running, &dead, &other] {
        s.enqueue_job(j).await.unwrap();
    }
    let d = s.claim_jobs(&queues(&["billing"]), "w", 1, t.at(60), t.at(1)).await.unwrap().remove(0);
    assert_eq!(d.id, dead.id);
    s.fail_job(dead.id, d.attempt_id.unwrap(), "x", None).await.unwrap();
    let r = s.claim_jobs(&queues(&["mail"]), "w", 1, t.at(60), t.at(1)).await.unwrap().remove(0);
    assert_eq!(r.id, running.id);

    let ids = |v: Vec<JobRecord>| v.into_iter().map(|j| j.id).collect::<Vec<_>>();
    let page = PageRequest { limit: 50, after: None };
    assert_eq!(
        t.record("all", ids(s.list_jobs(None, None, &page).await.unwrap())),
        vec![waiting.id, running.id, dead.id, other.id]
    );
    assert_eq!(ids(s.list_jobs(Some("billing"), None, &page).await.unwrap()), vec![dead.id, other.id]);
    assert_eq!(ids(s.list_jobs(None, Some(JobState::Running), &page).await.unwrap()), vec![running.id]);
    assert_eq!(ids(s.list_jobs(Some("billing"), Some(JobState::Dead), &page).await.unwrap()), vec![dead.id]);
    assert!(s.list_jobs(Some("mail"), Some(JobState::Dead), &page).await.unwrap().is_empty());
    let first = ids(s.list_jobs(None, None, &PageRequest { limit: 1, after: None }).await.unwrap());
    assert_eq!(first, vec![waiting.id, running.id]);
    let next = ids(s.list_jobs(None, None, &PageRequest { limit: 1, after: Some(running.id) }).await.unwrap());
    assert_eq!(t.record("page", next), vec![dead.id, other.id]);

    let stats = s.queue_stats().await.unwrap();
    let stats: Vec<_> = stats.iter().map(|q| (q.queue.as_str(), q.state, q.count, q.oldest_run_at)).collect();
    assert_eq!(
        t.record("stats", &stats),
        &vec![
            ("billing", JobState::Available, 1, Some(t.at(7))),
            ("billing", JobState::Dead, 1, None),
            ("mail", JobState::Available, 1, Some(t.at(5))),
            ("mail", JobState::Running, 1, None),
        ]
    );

    assert_eq!(t.record("cancel waiting", s.cancel_job(waiting.id).await.unwrap()), CancelOutcome::Removed);
    assert_eq!(s.job(waiting.id).await.unwrap(), None);
    assert_eq!(s.cancel_job(dead.id).await.unwrap(), CancelOutcome::Removed);
    assert_eq!(t.record("cancel running", s.cancel_job(running.id).await.unwrap()), CancelOutcome::Requested);
    assert!(s.job(running.id).await.unwrap().unwrap().cancel_requested);
    assert_eq!(s.cancel_job(waiting.id).await.unwrap(), CancelOutcome::NotFound);
    assert_eq!(s.cancel_job(Uuid::from_u128(3)).await.unwrap(), CancelOutcome::NotFound);

    // Cron ticks: one winner per (name, tick).
    assert!(t.record("tick 1", s.claim_cron_tick("seal", t.at(60)).await.unwrap()));
    assert!(!t.record("tick 1 again", s.claim_cron_tick("seal", t.at(60)).await.unwrap()));
    assert!(s.claim_cron_tick("sweep", t.at(60)).await.unwrap());
    assert!(s.claim_cron_tick("seal", t.at(120)).await.unwrap());
    // Claiming a tick forgets ticks over a day older, which could then be claimed again.
    assert!(s.claim_cron_tick("seal", t.at(60 + 2 * 86_400)).await.unwrap());
    assert!(!s.claim_cron_tick("seal", t.at(60 + 2 * 86_400)).await.unwrap());
    s.commit().await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let db = t.db.clone();
        let tick = t.at(3600);
        tasks.push(tokio::spawn(async move {
            let mut tx = db.begin().await.unwrap();
            let won = tx.claim_cron_tick("race", tick).await.unwrap();
            tx.commit().await.unwrap();
            won
        }));
    }
    let mut winners = 0;
    for task in tasks {
        winners += u32::from(task.await.unwrap());
    }
    assert_eq!(t.record("race winners", winners), 1);
}

async fn complete_many_only_under_their_tokens(t: &StoreCtx) {
    let mut s = t.begin().await;
    let jobs: Vec<NewJob> = (0..3).map(|i| new_job(t, "q", "j", 0, i)).collect();
    for j in &jobs {
        s.enqueue_job(j).await.unwrap();
    }
    let claimed = s.claim_jobs(&queues(&["q"]), "w", 3, t.at(60), t.at(10)).await.unwrap();
    let token = |id: Uuid| claimed.iter().find(|j| j.id == id).unwrap().attempt_id.unwrap();
    let done = [(jobs[0].id, token(jobs[0].id)), (jobs[1].id, Uuid::from_u128(1)), (jobs[2].id, token(jobs[2].id))];
    let mut completed = s.complete_jobs(&done).await.unwrap();
    completed.sort();
    assert_eq!(t.record("completed", completed), vec![jobs[0].id, jobs[2].id]);
    assert_eq!(s.job(jobs[0].id).await.unwrap(), None);
    assert_eq!(s.job(jobs[1].id).await.unwrap().map(|j| j.state), Some(JobState::Running));
    assert_eq!(s.job(jobs[2].id).await.unwrap(), None);
    assert!(s.complete_jobs(&done).await.unwrap().is_empty(), "only once");
    assert!(s.complete_jobs(&[]).await.unwrap().is_empty());
}

async fn enqueue_many_at_once_skipping_pending_keys(t: &StoreCtx) {
    let mut s = t.begin().await;
    assert!(s.enqueue_jobs(&[]).await.unwrap().is_empty());
    let mut pending = new_job(t, "default", "invoice.issue", 0, 0);
    pending.unique_key = Some("order-1".to_owned());
    assert!(s.enqueue_job(&pending).await.unwrap());

    let plain = new_job(t, "default", "mail.send", 5, 0);
    let mut bare = new_job(t, "other", "x", -2, 30);
    (bare.payload, bare.trace_parent) = (serde_json::Value::Null, None);
    let mut taken = new_job(t, "default", "invoice.issue", 0, 0);
    taken.unique_key = Some("order-1".to_owned()); // pending already
    let mut keyed = new_job(t, "default", "invoice.issue", 0, 0);
    keyed.unique_key = Some("order-2".to_owned());
    let mut twin = new_job(t, "default", "invoice.issue", 0, 0);
    twin.unique_key = Some("order-2".to_owned()); // earlier in the batch
    let batch = [plain.clone(), taken.clone(), bare.clone(), keyed.clone(), twin.clone()];
    let enqueued = s.enqueue_jobs(&batch).await.unwrap();
    assert_eq!(t.record("enqueued", enqueued), vec![plain.id, bare.id, keyed.id], "in the batch's order");
    for job in [&plain, &bare, &keyed] {
        let stored = s.job(job.id).await.unwrap().unwrap();
        assert_new(&stored, job);
        assert_eq!((stored.state, stored.attempt, stored.attempt_id), (JobState::Available, 0, None));
        t.record("stored", view(&stored));
    }
    assert_eq!(s.job(taken.id).await.unwrap(), None);
    assert_eq!(s.job(twin.id).await.unwrap(), None);

    // More than one statement's worth.
    let many: Vec<NewJob> = (0..2_500).map(|i| new_job(t, "bulk", "j", 0, i % 7)).collect();
    let enqueued = s.enqueue_jobs(&many).await.unwrap();
    assert_eq!(enqueued, many.iter().map(|j| j.id).collect::<Vec<_>>());
    let claimed = s.claim_jobs(&queues(&["bulk"]), "w", 3_000, t.at(60), t.at(10)).await.unwrap();
    assert_eq!(t.record("bulk claimed", claimed.len()), 2_500);
}

ordo_testkit::store_tests!(
    enqueue_round_trip_and_unique_key,
    enqueue_many_at_once_skipping_pending_keys,
    complete_many_only_under_their_tokens,
    claim_takes_due_jobs_by_priority,
    claims_never_overlap_under_concurrency,
    held_job_transitions_are_fenced,
    fail_retry_dead_and_discard,
    cancel_list_stats_and_cron,
);
