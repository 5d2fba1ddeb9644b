//! Job administration: list and inspect jobs, retry or discard dead ones,
//! cancel, and queue statistics.

use std::sync::Arc;

use ordo_domain::audit::Actor;
use ordo_domain::job::{JobAttempt, JobRecord, JobState, QueueStat};
use ordo_domain::page::{Page, PageRequest};
use ordo_domain::time;
use ordo_store::{CancelOutcome, Database};
use serde::Serialize;
use uuid::Uuid;

use crate::{ServiceError, ServiceResult, audit};

/// Names the jobs list in its cursors.
pub const CURSOR_SCOPE: &str = "jobs";
const ENTITY: &str = "job";

/// A job with its attempt history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JobDetail {
    #[serde(flatten)]
    pub job: JobRecord,
    pub attempts: Vec<JobAttempt>,
}

#[derive(Debug, Clone)]
pub struct JobService {
    db: Arc<dyn Database>,
    /// Tells a job, in the same transaction, that it was cancelled or will
    /// run again, so that records mirroring it (a webhook delivery's
    /// status) stay in step.
    lifecycle: ordo_jobs::JobLifecycle,
}

impl JobService {
    pub fn new(db: Arc<dyn Database>, lifecycle: ordo_jobs::JobLifecycle) -> Self {
        Self { db, lifecycle }
    }

    pub async fn list(
        &self,
        queue: Option<&str>,
        state: Option<JobState>,
        page: &PageRequest,
    ) -> ServiceResult<Page<JobRecord>> {
        let mut session = self.db.session().await?;
        let rows = session.list_jobs(queue, state, page).await?;
        Ok(Page::from_rows(CURSOR_SCOPE, page, rows, |j| j.id))
    }

    pub async fn job(&self, id: Uuid) -> ServiceResult<JobDetail> {
        let mut session = self.db.session().await?;
        let job = session.job(id).await?.ok_or_else(|| ServiceError::not_found(ENTITY, id))?;
        let attempts = session.job_attempts(id).await?;
        Ok(JobDetail { job, attempts })
    }

    /// Makes a dead job run again, with a fresh set of attempts.
    pub async fn retry(&self, actor: &Actor, id: Uuid) -> ServiceResult<JobRecord> {
        let lifecycle = self.lifecycle.clone();
        self.dead_job_action(actor, id, "retried", move |tx, id| {
            Box::pin(async move {
                let Some(job) = tx.job(id).await? else { return Ok(false) };
                if !tx.retry_dead_job(id, time::now()).await? {
                    return Ok(false);
                }
                lifecycle.revived(tx, &job).await?;
                Ok(true)
            })
        })
        .await
    }

    /// Deletes a dead job.
    pub async fn discard(&self, actor: &Actor, id: Uuid) -> ServiceResult<JobRecord> {
        self.dead_job_action(actor, id, "discarded", |tx, id| Box::pin(async move { tx.discard_dead_job(id).await }))
            .await
    }

    async fn dead_job_action(
        &self,
        actor: &Actor,
        id: Uuid,
        action: &str,
        apply: impl for<'a> FnOnce(
            &'a mut dyn ordo_store::Transaction,
            Uuid,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = ordo_store::StoreResult<bool>> + Send + 'a>,
        > + Send,
    ) -> ServiceResult<JobRecord> {
        let mut tx = self.db.begin().await?;
        let job = tx.job(id).await?.ok_or_else(|| ServiceError::not_found(ENTITY, id))?;
        if job.state != JobState::Dead || !apply(tx.as_mut(), id).await? {
            return Err(ServiceError::JobNotDead { state: job.state.as_str() });
        }
        let after = tx.job(id).await?;
        audit::record(tx.as_mut(), actor, &format!("job.{action}"), ENTITY, id, Some(audit::snapshot(&job)), &after)
            .await?;
        tx.commit().await?;
        Ok(after.unwrap_or(job))
    }

    /// Cancels a job: a waiting or dead job is removed; a running one is
    /// stopped by its worker at its next heartbeat.
    pub async fn cancel(&self, actor: &Actor, id: Uuid) -> ServiceResult<CancelOutcome> {
        let mut tx = self.db.begin().await?;
        let before = tx.job(id).await?;
        let outcome = tx.cancel_job(id).await?;
        if outcome == CancelOutcome::NotFound {
            return Err(ServiceError::not_found(ENTITY, id));
        }
        // A waiting job is gone now; a running one ends when its worker
        // stops it, which tells the job then.
        if outcome == CancelOutcome::Removed
            && let Some(job) = &before
        {
            self.lifecycle.ended(tx.as_mut(), job, "the job was cancelled").await?;
        }
        let after = tx.job(id).await?;
        audit::record(tx.as_mut(), actor, "job.cancelled", ENTITY, id, before.map(|b| audit::snapshot(&b)), &after)
            .await?;
        tx.commit().await?;
        Ok(outcome)
    }

    pub async fn stats(&self) -> ServiceResult<Vec<QueueStat>> {
        let mut session = self.db.session().await?;
        Ok(session.queue_stats().await?)
    }
}
