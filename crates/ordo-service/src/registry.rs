//! Every job Ordo runs, registered in one place. Each job lives beside the
//! use case it serves, with its policy (queue, priority, attempts, backoff)
//! as constants; this file only names them, so a worker knows every job it
//! may claim and an operator finds them all here:
//!
//! | Job                                      | Queue         | Serves                              |
//! |------------------------------------------|---------------|-------------------------------------|
//! | [`AuthorizePayment`]                     | `payments`    | a placed order's payment            |
//! | [`CapturePayment`]                       | `payments`    | a paid order's capture              |
//! | [`MakeCapture`]                          | `payments`    | a recorded capture, at the provider |
//! | [`RefundPayment`]                        | `payments`    | a recorded refund, at the provider  |
//! | [`RefundCancelledOrder`]                 | `payments`    | a cancelled order's money back      |
//! | [`ExpireUnpaidOrder`]                    | `orders`      | an order left unpaid                |
//! | [`IssueInvoice`]                         | `invoices`    | a paid order's invoice              |
//! | [`SendOrderConfirmation`]                | `mail`        | the order confirmation e-mail       |
//! | [`SendInvoiceEmail`]                     | `mail`        | the invoice e-mail                  |
//! | [`FanOutEvent`]                          | `webhooks`    | a domain event's deliveries         |
//! | [`DeliverWebhook`]                       | `webhooks`    | one delivery to one webhook         |
//! | [`ReconcileSettlement`]                  | `maintenance` | a settlement report's lines         |
//! | [`CompileReport`]                        | `reports`     | a report's file                     |
//! | [`ApplyImport`]                          | `imports`     | an import's rows, chunk by chunk    |
//! | [`RequestScheduledReport`] (cron)       | `reports`     | a scheduled report                  |
//! | [`SealAuditTrail`] (periodic)            | `maintenance` | the audit trail's hash chain        |
//! | [`SweepExpiredKeys`] (periodic)          | `maintenance` | expired idempotency keys            |
//! | [`VerifyLedger`] (periodic)              | `maintenance` | proving the books                   |

use ordo_jobs::{Job, Registry, Schedule};

use crate::Services;
use crate::audit::SealAuditTrail;
use crate::idempotency::SweepExpiredKeys;
use crate::imports::ApplyImport;
use crate::invoices::IssueInvoice;
use crate::ledger::VerifyLedger;
use crate::mail::{SendInvoiceEmail, SendOrderConfirmation};
use crate::orders::ExpireUnpaidOrder;
use crate::payments::{AuthorizePayment, CapturePayment, MakeCapture, RefundCancelledOrder, RefundPayment};
use crate::reports::{CompileReport, ReportSchedule, RequestScheduledReport};
use crate::settlements::ReconcileSettlement;
use crate::webhooks::{DeliverWebhook, FanOutEvent};

/// When the periodic jobs run (`None`: never).
#[derive(Debug, Clone, Default)]
pub struct Periods {
    pub seal_audit: Option<Schedule>,
    pub sweep: Option<Schedule>,
    pub verify_ledger: Option<Schedule>,
    /// Reports compiled on schedules of their own.
    pub reports: Vec<ReportSchedule>,
}

/// Every job Ordo runs, and the periodic ones at their `periods`.
pub fn registry(periods: Periods) -> Registry<Services> {
    let mut registry = Registry::new()
        .register::<AuthorizePayment>()
        .register::<CapturePayment>()
        .register::<MakeCapture>()
        .register::<RefundPayment>()
        .register::<RefundCancelledOrder>()
        .register::<ExpireUnpaidOrder>()
        .register::<IssueInvoice>()
        .register::<SendOrderConfirmation>()
        .register::<SendInvoiceEmail>()
        .register::<FanOutEvent>()
        .register::<DeliverWebhook>()
        .register::<ReconcileSettlement>()
        .register::<CompileReport>()
        .register::<ApplyImport>();
    if let Some(schedule) = periods.seal_audit {
        registry = registry.on::<SealAuditTrail>(schedule);
    }
    if let Some(schedule) = periods.sweep {
        registry = registry.on::<SweepExpiredKeys>(schedule);
    }
    if let Some(schedule) = periods.verify_ledger {
        registry = registry.on::<VerifyLedger>(schedule);
    }
    for schedule in periods.reports {
        let name = format!("{}:{}", RequestScheduledReport::NAME, schedule.name);
        let cron = schedule.cron.clone();
        registry = registry.on_named(name, cron, move |tick| RequestScheduledReport {
            schedule: schedule.name.clone(),
            params: schedule.params(tick),
        });
    }
    registry
}
