-- When a market's orders are captured: all at once when the payment is
-- authorised, or shipment by shipment.
ALTER TABLE markets ADD COLUMN capture_policy TEXT NOT NULL DEFAULT 'at_payment'
    CHECK (capture_policy IN ('at_payment', 'at_fulfilment'));
