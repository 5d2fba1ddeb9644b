//! Payments: every call to a payment provider that moves money, recorded
//! (authorisations, captures, voids and refunds), and the rule that an
//! order's refunds never exceed what was captured.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use chrono::{DateTime, Utc};

use crate::{Currency, OrderId};

/// What a payment record did at the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentKind {
    /// Money held on the customer's card.
    Authorization,
    /// Held money taken.
    Capture,
    /// A hold released without taking it.
    Void,
    /// Captured money given back.
    Refund,
}

/// Where a provider call stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Recorded, and the provider has not answered yet (or the answer was
    /// lost and the call will be made again with the same idempotency key).
    Pending,
    Succeeded,
    Failed,
}

as_str!(PaymentKind { Authorization = "authorization", Capture = "capture", Void = "void", Refund = "refund" });
as_str!(PaymentStatus { Pending = "pending", Succeeded = "succeeded", Failed = "failed" });

/// One provider call that moves money.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Payment {
    pub id: Uuid,
    #[schema(value_type = Uuid)]
    pub order_id: OrderId,
    pub kind: PaymentKind,
    /// The provider that was called (`test`, ...).
    pub provider: String,
    /// The provider's id of the payment (e.g. a payment intent), once known.
    pub provider_reference: Option<String>,
    /// In minor units of `currency`; always positive.
    pub amount: i64,
    #[schema(value_type = String, example = "EUR")]
    pub currency: Currency,
    pub status: PaymentStatus,
    /// Sent to the provider with the call: the same on every retry, so a
    /// crash and a retry never move money twice.
    pub idempotency_key: String,
    /// Why the provider refused or failed, when it did.
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An event a payment provider sent (a webhook), kept as it was received
/// once its signature was verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProviderEvent {
    pub id: Uuid,
    /// `stripe`.
    pub provider: String,
    /// The provider's id of the event (`evt_...`): recorded once per
    /// provider, however often it is delivered.
    pub event_id: String,
    /// The provider's type of it (`payment_intent.canceled`, ...).
    pub event_type: String,
    /// The order it concerns, when Ordo knows its payment.
    pub order_id: Option<OrderId>,
    /// The body as received.
    pub payload: String,
    pub received_at: DateTime<Utc>,
}

/// Filters for listing payments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PaymentFilter {
    pub order_id: Option<OrderId>,
    pub kind: Option<PaymentKind>,
    pub status: Option<PaymentStatus>,
}

/// The provider name of payments received outside Ordo (bank transfers),
/// recorded by hand as succeeded captures: no provider holds them, so no
/// provider call refunds them.
pub const OFFLINE_PROVIDER: &str = "offline";

/// Longest reference (a bank transfer's) an offline payment may carry.
pub const MAX_OFFLINE_REFERENCE: usize = 140;

/// What an order's payments add up to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PaymentTotals {
    /// Authorisations that succeeded.
    pub authorized: i64,
    /// Captures through a provider that succeeded.
    pub captured: i64,
    /// Captures through a provider that succeeded or are still pending
    /// (money being taken).
    pub capturing: i64,
    /// Money received outside Ordo ([`OFFLINE_PROVIDER`]): paid, and
    /// refunded (if ever) outside Ordo too.
    pub offline: i64,
    /// Refunds that succeeded or are still pending (money promised back).
    pub refunded: i64,
    /// Whether the authorisation was voided (or a void is pending).
    pub voided: bool,
}

impl PaymentTotals {
    /// What may still be refunded through the provider.
    pub fn refundable(self) -> i64 {
        self.captured.saturating_sub(self.refunded).max(0)
    }

    /// What of the authorisation is not captured, nor being captured.
    pub fn uncaptured(self) -> i64 {
        if self.voided { 0 } else { self.authorized.saturating_sub(self.capturing).max(0) }
    }
}

/// Why a capture cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaptureError {
    #[error("the order has no authorised payment to capture")]
    NotAuthorized,
    #[error("the order's authorisation was voided")]
    Voided,
    #[error("a capture of {requested} exceeds the {uncaptured} of the authorisation not captured yet")]
    ExceedsAuthorized { requested: i64, uncaptured: i64 },
    #[error("a capture must be a positive amount")]
    NotPositive,
}

/// Checks a capture of `amount` against the order's payments: an
/// authorisation that is not voided, and never more than it leaves
/// uncaptured.
pub fn check_capture(totals: PaymentTotals, amount: i64) -> Result<(), CaptureError> {
    if amount <= 0 {
        return Err(CaptureError::NotPositive);
    }
    if totals.authorized == 0 {
        return Err(CaptureError::NotAuthorized);
    }
    if totals.voided {
        return Err(CaptureError::Voided);
    }
    if amount > totals.uncaptured() {
        return Err(CaptureError::ExceedsAuthorized { requested: amount, uncaptured: totals.uncaptured() });
    }
    Ok(())
}

/// When a market's orders are captured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CapturePolicy {
    /// All of it once the payment is authorised.
    #[default]
    AtPayment,
    /// Shipment by shipment, each capturing what it ships; the last one
    /// takes the rest and releases what is left of the authorisation.
    AtFulfilment,
}

as_str!(CapturePolicy { AtPayment = "at_payment", AtFulfilment = "at_fulfilment" });

/// Why a refund cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefundError {
    #[error("the order has no captured payment to refund")]
    NothingCaptured,
    #[error("a refund of {requested} exceeds the {refundable} still refundable")]
    ExceedsCaptured { requested: i64, refundable: i64 },
    #[error("a refund must be a positive amount")]
    NotPositive,
}

/// Checks a refund of `amount` against what the order's payments add up
/// to: positive, and never more than captured minus refunded so far.
pub fn check_refund(totals: PaymentTotals, amount: i64) -> Result<(), RefundError> {
    if amount <= 0 {
        return Err(RefundError::NotPositive);
    }
    if totals.captured == 0 {
        return Err(RefundError::NothingCaptured);
    }
    if amount > totals.refundable() {
        return Err(RefundError::ExceedsCaptured { requested: amount, refundable: totals.refundable() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn kinds_and_statuses_read_back() {
        for kind in [PaymentKind::Authorization, PaymentKind::Capture, PaymentKind::Void, PaymentKind::Refund] {
            assert_eq!(PaymentKind::parse(kind.as_str()), Some(kind));
        }
        for status in [PaymentStatus::Pending, PaymentStatus::Succeeded, PaymentStatus::Failed] {
            assert_eq!(PaymentStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(PaymentKind::parse("charge"), None);
    }

    #[test]
    fn refunds_need_a_capture_and_a_positive_amount() {
        let none = PaymentTotals::default();
        assert_eq!(check_refund(none, 1), Err(RefundError::NothingCaptured));
        let paid = PaymentTotals { captured: 1000, ..PaymentTotals::default() };
        assert_eq!(check_refund(paid, 0), Err(RefundError::NotPositive));
        assert_eq!(check_refund(paid, -5), Err(RefundError::NotPositive));
        assert_eq!(check_refund(paid, 1000), Ok(()));
        assert_eq!(
            check_refund(PaymentTotals { captured: 1000, refunded: 400, ..PaymentTotals::default() }, 601),
            Err(RefundError::ExceedsCaptured { requested: 601, refundable: 600 })
        );
    }

    #[test]
    fn captures_need_a_live_authorisation_and_never_exceed_it() {
        assert_eq!(check_capture(PaymentTotals::default(), 1), Err(CaptureError::NotAuthorized));
        let authorized = PaymentTotals { authorized: 1000, ..PaymentTotals::default() };
        assert_eq!(check_capture(authorized, 0), Err(CaptureError::NotPositive));
        assert_eq!(check_capture(authorized, 1000), Ok(()));
        let voided = PaymentTotals { voided: true, ..authorized };
        assert_eq!(check_capture(voided, 1), Err(CaptureError::Voided));
        assert_eq!(voided.uncaptured(), 0);
        let partly = PaymentTotals { capturing: 600, captured: 400, ..authorized };
        assert_eq!(partly.uncaptured(), 400);
        assert_eq!(
            check_capture(partly, 401),
            Err(CaptureError::ExceedsAuthorized { requested: 401, uncaptured: 400 })
        );
    }

    proptest! {
        /// Whatever sequence of refunds is asked for, the accepted ones
        /// never add up to more than the capture.
        #[test]
        fn accepted_refunds_never_exceed_the_capture(captured in 1i64..1_000_000, asks in prop::collection::vec(-10i64..500_000, 0..40)) {
            let mut totals = PaymentTotals { captured, ..PaymentTotals::default() };
            for ask in asks {
                if check_refund(totals, ask).is_ok() {
                    totals.refunded += ask;
                }
                prop_assert!(totals.refunded <= captured);
            }
        }
    }
}
