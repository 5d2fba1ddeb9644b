//! Domain events and webhooks: events are written in the transaction of the
//! change they report, fanned out to the subscribed webhooks by a job (none
//! when no webhook subscribes to the event's type: a webhook receives the
//! events recorded after it exists), and each delivery is a job that POSTs
//! the event, signed, under a timeout, retried with backoff, kept as failed
//! once it fails for good, and replayable. Each endpoint has a circuit
//! breaker so one dead endpoint cannot starve others.
//!
//! There is one delivery per (webhook, event), whatever a crash makes run
//! twice: the fan-out inserts under a unique key. A delivery's status is
//! its job's: `pending` while its job may still deliver it, `delivered`, or
//! `failed` once its job ended without delivering it (its last attempt
//! failed, its lease expired on its last attempt, it was cancelled) or its
//! webhook was deleted; the job's end and the status change commit
//! together ([`ordo_jobs::Job::ended`]).
//!
//! Ordering policy: events of one order reach an endpoint in order. A
//! delivery waits while an earlier event of the same order is still
//! `pending` for the same endpoint, and waiting uses up none of its
//! attempts (nor does waiting for an open circuit). An earlier delivery
//! that has failed for good no longer holds later ones back: they go out,
//! and the failed one can be replayed (arriving out of order then). So a
//! failed delivery blocks later ones for at most its own retry schedule
//! (up to about two hours), never for ever.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use ordo_domain::audit::Actor;
use ordo_domain::event::{DomainEvent, EVENT_TYPES};
use ordo_domain::page::{Page, PageRequest};
use ordo_domain::webhook::{self, Delivery, DeliveryStatus, Webhook};
use ordo_domain::{ValidationErrors, time};
use ordo_jobs::{Job, JobError, JobRun};
use ordo_store::{Database, StoreError, Transaction};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::Instrument;
use uuid::Uuid;

use crate::error::job_error;
use crate::{ServiceError, ServiceResult, Services, audit};

/// Names the deliveries list in its cursors.
pub const CURSOR_SCOPE: &str = "deliveries";
const TIMEOUT: Duration = Duration::from_secs(10);
/// Consecutive failures that open an endpoint's circuit, and for how long.
const BREAKER_THRESHOLD: u32 = 5;
const BREAKER_OPEN: Duration = Duration::from_secs(30);

/// Records `event_type` about `order_id` in `tx` and, if any webhook
/// subscribes to it, enqueues its fan-out.
pub(crate) async fn record(
    tx: &mut dyn Transaction,
    event_type: &str,
    order_id: Uuid,
    data: Value,
) -> Result<(), StoreError> {
    let Some((event, fan_out)) = prepare(event_type, order_id, data)? else {
        return Ok(());
    };
    tx.insert_domain_event(&event).await?;
    if tx.any_webhook_for(event_type).await? {
        tx.enqueue_job(&fan_out).await?;
    }
    Ok(())
}

/// The domain event [`record`] appends and the job that fans it out to the
/// webhooks subscribed (to be enqueued only if one is); `None` for a type
/// webhooks cannot subscribe to.
pub(crate) fn prepare(
    event_type: &str,
    order_id: Uuid,
    data: Value,
) -> Result<Option<(DomainEvent, ordo_domain::job::NewJob)>, StoreError> {
    if !EVENT_TYPES.contains(&event_type) {
        return Ok(None);
    }
    let event = DomainEvent::new(event_type, order_id, data, time::now());
    let fan_out = ordo_jobs::prepare(&FanOutEvent { event_id: event.id }, ordo_jobs::EnqueueOptions::default())?;
    Ok(Some((event, fan_out)))
}

/// A new webhook, with its secret (shown once).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: Webhook,
    /// Verifies `Ordo-Signature`; store it now, it is not shown again.
    pub secret: String,
}

/// Per-endpoint failure counts, per process.
#[derive(Debug, Default)]
struct Breakers(Mutex<HashMap<String, (u32, Option<Instant>)>>);

impl Breakers {
    fn is_open(&self, url: &str) -> bool {
        let breakers = self.0.lock().unwrap_or_else(|e| e.into_inner());
        breakers.get(url).and_then(|(_, until)| *until).is_some_and(|until| Instant::now() < until)
    }

    fn record(&self, url: &str, success: bool) {
        let mut breakers = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let entry = breakers.entry(url.to_owned()).or_default();
        if success {
            *entry = (0, None);
        } else {
            entry.0 += 1;
            if entry.0 >= BREAKER_THRESHOLD {
                entry.1 = Some(Instant::now() + BREAKER_OPEN);
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct WebhookService {
    db: Arc<dyn Database>,
    queue: ordo_jobs::Queue,
    client: reqwest::Client,
    breakers: Arc<Breakers>,
}

impl WebhookService {
    pub fn new(db: Arc<dyn Database>, queue: ordo_jobs::Queue) -> Self {
        let client = reqwest::Client::builder().timeout(TIMEOUT).build().unwrap_or_default();
        Self { db, queue, client, breakers: Arc::default() }
    }

    pub async fn create(&self, actor: &Actor, url: &str, event_types: &[String]) -> ServiceResult<CreatedWebhook> {
        let mut errors = ValidationErrors::new();
        let url = errors.check("url", webhook::parse_url(url));
        let types = webhook::parse_event_types(event_types).map_err(|e| errors.extend(e)).ok();
        let (Some(url), Some(event_types)) = (url, types) else { return Err(errors.into()) };
        let mut random = [0u8; 32];
        getrandom::fill(&mut random)
            .map_err(|e| ServiceError::Internal(StoreError::Other(Box::new(std::io::Error::other(e.to_string())))))?;
        let secret = format!("whsec_{}", random.iter().map(|b| format!("{b:02x}")).collect::<String>());
        let webhook = Webhook { id: Uuid::now_v7(), url, event_types, secret: secret.clone(), created_at: time::now() };
        let mut tx = self.db.begin().await?;
        tx.insert_webhook(&webhook).await?;
        audit::record(tx.as_mut(), actor, "webhook.created", "webhook", webhook.id, None, &webhook).await?;
        tx.commit().await?;
        Ok(CreatedWebhook { webhook, secret })
    }

    pub async fn list(&self) -> ServiceResult<Vec<Webhook>> {
        let mut session = self.db.session().await?;
        Ok(session.list_webhooks().await?)
    }

    pub async fn get(&self, id: Uuid) -> ServiceResult<Webhook> {
        let mut session = self.db.session().await?;
        session.webhook(id).await?.ok_or_else(|| ServiceError::not_found("webhook", id))
    }

    pub async fn delete(&self, actor: &Actor, id: Uuid) -> ServiceResult<()> {
        let mut tx = self.db.begin().await?;
        let webhook = tx.webhook(id).await?.ok_or_else(|| ServiceError::not_found("webhook", id))?;
        tx.delete_webhook(id).await?;
        // Their jobs will find no webhook to deliver to.
        tx.fail_pending_deliveries(id, "the webhook was deleted").await?;
        audit::record(
            tx.as_mut(),
            actor,
            "webhook.deleted",
            "webhook",
            id,
            Some(audit::snapshot(&webhook)),
            &Value::Null,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn deliveries(&self, webhook_id: Uuid, page: &PageRequest) -> ServiceResult<Page<Delivery>> {
        let mut session = self.db.session().await?;
        if session.webhook(webhook_id).await?.is_none() {
            return Err(ServiceError::not_found("webhook", webhook_id));
        }
        let rows = session.list_deliveries(webhook_id, page).await?;
        Ok(Page::from_rows(CURSOR_SCOPE, page, rows, |d| d.id))
    }

    /// Delivers a delivery again (whatever its status).
    pub async fn replay(&self, actor: &Actor, id: Uuid) -> ServiceResult<Delivery> {
        let mut tx = self.db.begin().await?;
        let delivery = tx.delivery(id).await?.ok_or_else(|| ServiceError::not_found("delivery", id))?;
        tx.reset_delivery(id).await?;
        ordo_jobs::enqueue(tx.as_mut(), &DeliverWebhook { delivery_id: id }, ordo_jobs::EnqueueOptions::default())
            .await?;
        audit::record(tx.as_mut(), actor, "webhook.delivery_replayed", "delivery", id, None, &delivery).await?;
        tx.commit().await?;
        self.queue.wake();
        let mut session = self.db.session().await?;
        session.delivery(id).await?.ok_or_else(|| ServiceError::not_found("delivery", id))
    }

    /// Creates one delivery per subscribed webhook, and its job. Runs again
    /// harmlessly (after a crash, say): a (webhook, event) that has its
    /// delivery gets no second one, nor a second job.
    pub(crate) async fn fan_out(&self, event_id: Uuid) -> ServiceResult<usize> {
        let mut tx = self.db.begin().await?;
        let event = tx.domain_event(event_id).await?.ok_or_else(|| ServiceError::not_found("event", event_id))?;
        let webhooks = tx.list_webhooks().await?;
        let mut created = 0;
        for webhook in webhooks.iter().filter(|w| w.event_types.contains(&event.event_type)) {
            let delivery = Delivery {
                id: Uuid::now_v7(),
                webhook_id: webhook.id,
                event_id: event.id,
                event_type: event.event_type.clone(),
                order_id: event.order_id,
                status: DeliveryStatus::Pending,
                attempts: 0,
                last_status_code: None,
                last_error: None,
                created_at: time::now(),
                delivered_at: None,
            };
            if !tx.insert_delivery(&delivery).await? {
                continue;
            }
            let job = DeliverWebhook { delivery_id: delivery.id };
            ordo_jobs::enqueue(tx.as_mut(), &job, ordo_jobs::EnqueueOptions::default()).await?;
            created += 1;
        }
        tx.commit().await?;
        Ok(created)
    }

    /// One attempt at a delivery: done (delivered, or nothing left to do),
    /// waiting (for an earlier event of the order, or an open circuit), or
    /// failed (retry later), with the reason.
    pub(crate) async fn deliver(&self, delivery_id: Uuid, last_attempt: bool) -> Attempt {
        match self.attempt(delivery_id, last_attempt).await {
            Ok(attempt) => attempt,
            Err(e) => Attempt::Failed(e.to_string()),
        }
    }

    async fn attempt(&self, delivery_id: Uuid, last_attempt: bool) -> Result<Attempt, StoreError> {
        let load = async {
            let mut session = self.db.session().await?;
            let delivery = session.delivery(delivery_id).await?;
            let Some(delivery) = delivery else { return Ok(None) };
            let webhook = session.webhook(delivery.webhook_id).await?;
            let event = session.domain_event(delivery.event_id).await?;
            let earlier = session.earlier_delivery_pending(&delivery).await?;
            Ok::<_, StoreError>(Some((delivery, webhook, event, earlier)))
        };
        let Some((delivery, webhook, event, earlier)) = load.await? else { return Ok(Attempt::Done) };
        if delivery.status != DeliveryStatus::Pending {
            return Ok(Attempt::Done);
        }
        let (Some(webhook), Some(event)) = (webhook, event) else {
            // Deleted since: nothing will ever deliver it.
            let mut tx = self.db.begin().await?;
            tx.fail_delivery(delivery_id, "the webhook or its event no longer exists").await?;
            tx.commit().await?;
            return Ok(Attempt::Done);
        };
        if earlier {
            return Ok(Attempt::Waiting("waiting for an earlier event of the same order".into()));
        }
        if self.breakers.is_open(&webhook.url) {
            metrics::counter!("ordo_webhook_deliveries_total", "outcome" => "circuit_open").increment(1);
            return Ok(Attempt::Waiting(format!("waiting for the circuit of {} to close", webhook.url)));
        }
        let body = serde_json::to_vec(&event).map_err(|e| StoreError::Other(Box::new(e)))?;
        let sent_at = time::now().timestamp();
        // A client span for the call; its context goes out as `traceparent`
        // so the receiver can join the trace.
        let span = tracing::info_span!(
            "webhook.post",
            otel.name = "POST webhook",
            otel.kind = "client",
            event_type = %event.event_type,
            http.response.status_code = tracing::field::Empty,
        );
        let mut trace_headers = reqwest::header::HeaderMap::new();
        span.in_scope(|| ordo_telemetry::inject_headers(&mut trace_headers));
        let response = self
            .client
            .post(&webhook.url)
            .headers(trace_headers)
            .header("content-type", "application/json")
            .header("ordo-event-id", event.id.to_string())
            .header("ordo-event-type", &event.event_type)
            .header("ordo-signature", webhook::signature(&webhook.secret, sent_at, &body))
            .body(body)
            .send()
            .instrument(span.clone())
            .await;
        if let Ok(r) = &response {
            span.record("http.response.status_code", r.status().as_u16());
        }
        let (status_code, error) = match response {
            Ok(r) if r.status().is_success() => (Some(i32::from(r.status().as_u16())), None),
            Ok(r) => (Some(i32::from(r.status().as_u16())), Some(format!("the endpoint answered {}", r.status()))),
            Err(e) => (
                None,
                Some(format!("the request failed: {}", if e.is_timeout() { "timeout" } else { "connection error" })),
            ),
        };
        self.breakers.record(&webhook.url, error.is_none());
        let outcome = if error.is_none() {
            "delivered"
        } else if last_attempt {
            "failed"
        } else {
            "retried"
        };
        metrics::counter!("ordo_webhook_deliveries_total", "outcome" => outcome).increment(1);
        let status = match (&error, last_attempt) {
            (None, _) => DeliveryStatus::Delivered,
            (Some(_), true) => DeliveryStatus::Failed,
            (Some(_), false) => DeliveryStatus::Pending,
        };
        let mut tx = self.db.begin().await?;
        tx.record_delivery_attempt(delivery_id, status, status_code, error.as_deref(), time::now()).await?;
        tx.commit().await?;
        Ok(match error {
            None => Attempt::Done,
            Some(e) => Attempt::Failed(e),
        })
    }
}

/// What one attempt at a delivery came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// Delivered, or nothing left to do.
    Done,
    /// Not attempted: it must wait (not a failure).
    Waiting(String),
    /// Attempted and failed: retry later.
    Failed(String),
}

/// Creates the deliveries of a domain event to the subscribed webhooks, one
/// per (webhook, event) whatever a crash makes run twice. Enqueued with the
/// event when a webhook subscribes to its type.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FanOutEvent {
    pub event_id: Uuid,
}

#[async_trait]
impl Job for FanOutEvent {
    const NAME: &'static str = "webhook.fan_out";
    const QUEUE: &'static str = "webhooks";
    type Context = Services;

    fn unique_key(&self) -> Option<String> {
        Some(self.event_id.to_string())
    }

    async fn run(&self, services: &Services, _run: &JobRun) -> Result<(), JobError> {
        services.webhooks.fan_out(self.event_id).await.map_err(job_error)?;
        services.queue.wake();
        Ok(())
    }
}

/// POSTs one event to one webhook, signed. Retried over up to about two
/// hours (15 attempts, a backoff from 1 s doubling to at most 30 min, with
/// full jitter: about an hour on average) before the delivery fails for
/// good; waiting for an earlier event of the same order, or for an open
/// circuit, uses up no attempt.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliverWebhook {
    pub delivery_id: Uuid,
}

#[async_trait]
impl Job for DeliverWebhook {
    const NAME: &'static str = "webhook.deliver";
    const QUEUE: &'static str = "webhooks";
    const MAX_ATTEMPTS: i32 = 15;
    const BACKOFF_BASE: Duration = Duration::from_secs(1);
    const BACKOFF_CAP: Duration = Duration::from_secs(1800);
    type Context = Services;

    async fn run(&self, services: &Services, run: &JobRun) -> Result<(), JobError> {
        match services.webhooks.deliver(self.delivery_id, run.attempt >= Self::MAX_ATTEMPTS).await {
            Attempt::Done => Ok(()),
            Attempt::Waiting(reason) => Err(JobError::wait(reason)),
            Attempt::Failed(reason) => Err(JobError::retry(reason)),
        }
    }

    /// The delivery fails with its job, in the same transaction.
    async fn ended(&self, tx: &mut dyn Transaction, reason: &str) -> Result<(), StoreError> {
        tx.fail_delivery(self.delivery_id, reason).await.map(drop)
    }

    /// A dead delivery job retried by hand: its delivery is pending again.
    async fn revived(&self, tx: &mut dyn Transaction) -> Result<(), StoreError> {
        tx.reset_delivery(self.delivery_id).await.map(drop)
    }
}
