//! Builders of stored entities with every field set to something a lost or
//! mangled column would show: microsecond timestamps, optional fields
//! present, JSON with nesting, unicode and awkward characters.

use chrono::{DateTime, Utc};
use ordo_domain::audit::{AuditEvent, AuditSeal};
use ordo_domain::auth::{ApiKey, Role};
use ordo_domain::catalog::{Prices, Product};
use ordo_domain::customer::{Address, CountryCode, Customer};
use ordo_domain::event::DomainEvent;
use ordo_domain::idempotency::{IdempotencyRecord, StoredResponse};
use ordo_domain::inventory::Location;
use ordo_domain::invoice::{Invoice, InvoiceLine, TaxLine};
use ordo_domain::job::NewJob;
use ordo_domain::market::Market;
use ordo_domain::order::{Allocation, Order, OrderEvent, OrderLine, OrderStatus};
use ordo_domain::webhook::{Delivery, DeliveryStatus, Webhook};
use ordo_domain::{Currency, CustomerId, Email, Money, OrderId, ProductId, RecordMeta, Sku};
use ordo_store::StoreError;
use ordo_testkit::store::StoreCtx;
use serde_json::{Value, json};
use uuid::Uuid;

/// Text that naive escaping (COPY, JSON, quotes) would mangle.
pub(crate) const AWKWARD: &str = "tab\there, new\nline, back\\slash, \\N, 'quote' \"dq\", ünï©ødé 🧾, %_";

pub(crate) fn sku(s: &str) -> Sku {
    Sku::parse(s).expect("valid SKU")
}

pub(crate) fn eur() -> Currency {
    Currency::parse("EUR").expect("EUR")
}

pub(crate) fn meta(created: DateTime<Utc>) -> RecordMeta {
    RecordMeta { version: 1, created_at: created, updated_at: created, archived_at: None }
}

pub(crate) fn product(t: &StoreCtx, code: &str, at: i64) -> Product {
    Product {
        id: ProductId::from_uuid(t.id()),
        sku: sku(code),
        name: format!("Product {code} {AWKWARD}"),
        description: Some(format!("Description of {code}\n{AWKWARD}")),
        prices: Prices::from_stored(vec![
            Money::new(1999, eur()),
            Money::new(2_500, Currency::parse("USD").expect("USD")),
            Money::new(150_000, Currency::parse("JPY").expect("JPY")),
        ]),
        active: true,
        tax_class: ordo_domain::market::TaxClass::Reduced,
        meta: meta(t.at(at)),
    }
}

pub(crate) fn address() -> Address {
    Address {
        recipient: Some(format!("Ms {AWKWARD}")),
        line1: "Unter den Linden 1".to_owned(),
        line2: Some("Hinterhaus, 3. OG".to_owned()),
        city: "Berlin".to_owned(),
        region: Some("BE".to_owned()),
        postal_code: Some("10117".to_owned()),
        country: CountryCode::parse("DE").expect("DE"),
    }
}

pub(crate) fn bare_address() -> Address {
    Address {
        recipient: None,
        line1: "1 Main St".to_owned(),
        line2: None,
        city: "Springfield".to_owned(),
        region: None,
        postal_code: None,
        country: CountryCode::parse("US").expect("US"),
    }
}

pub(crate) fn customer(t: &StoreCtx, email: &str, at: i64) -> Customer {
    Customer {
        id: CustomerId::from_uuid(t.id()),
        email: Email::parse(email).expect("valid e-mail"),
        name: format!("Customer {AWKWARD}"),
        addresses: vec![address(), bare_address()],
        meta: meta(t.at(at)),
    }
}

pub(crate) fn api_key(t: &StoreCtx, name: &str, at: i64) -> ApiKey {
    let mut secret_hash = [0u8; 32];
    for (i, b) in secret_hash.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(37).wrapping_add(at as u8);
    }
    ApiKey {
        id: t.id(),
        name: name.to_owned(),
        role: Role::Manager,
        created_at: t.at(at),
        last_used_at: None,
        expires_at: Some(t.at(at + 86_400)),
        revoked_at: None,
        secret_hash,
    }
}

pub(crate) fn json_blob(n: i64) -> Value {
    json!({
        "n": n,
        "text": AWKWARD,
        "nested": {"list": [1, 2.5, -3, null, true, "x"], "empty": {}, "none": null},
        "big": 9_007_199_254_740_993_i64,
    })
}

pub(crate) fn audit_event(t: &StoreCtx, entity_type: &str, entity_id: &str, at: i64) -> AuditEvent {
    AuditEvent {
        id: t.id(),
        occurred_at: t.at(at),
        actor_key_id: Some(Uuid::from_u128(0xabcdef)),
        actor_name: format!("actor {AWKWARD}"),
        action: format!("{entity_type}.updated"),
        entity_type: entity_type.to_owned(),
        entity_id: entity_id.to_owned(),
        request_id: Some("req-1".to_owned()),
        before: Some(json_blob(at)),
        after: Some(json!({"name": "after", "at": at})),
        hash: format!("{:064x}", at),
        segment: None,
    }
}

pub(crate) fn audit_seal(
    first: &AuditEvent,
    last: &AuditEvent,
    segment: i64,
    count: i64,
    at: DateTime<Utc>,
) -> AuditSeal {
    AuditSeal {
        segment,
        sealed_at: at,
        event_count: count,
        first_event_id: first.id,
        last_event_id: last.id,
        previous_hash: format!("{:064x}", segment - 1),
        hash: format!("{:064x}", segment),
    }
}

pub(crate) fn market(code: &str, t: &StoreCtx, at: i64) -> Market {
    Market {
        code: code.to_owned(),
        name: format!("Market {code} {AWKWARD}"),
        currency: eur(),
        tax_rate_bp: 1900,
        reduced_tax_rate_bp: 700,
        shipping: Some(ordo_domain::market::ShippingRate {
            fee: 495,
            free_from: Some(5_000),
            tax_class: ordo_domain::market::TaxClass::Reduced,
        }),
        locale: "de-DE".to_owned(),
        capture_policy: ordo_domain::payment::CapturePolicy::AtFulfilment,
        seller: Some(seller()),
        meta: meta(t.at(at)),
    }
}

/// A seller with every field set.
pub(crate) fn seller() -> ordo_domain::market::Seller {
    ordo_domain::market::Seller {
        legal_name: format!("Seller GmbH {AWKWARD}"),
        address: address(),
        vat_id: Some("DE999999999".to_owned()),
    }
}

pub(crate) fn location(t: &StoreCtx, code: &str, priority: i32, at: i64) -> Location {
    Location {
        id: t.id(),
        code: code.to_owned(),
        name: format!("Location {code} {AWKWARD}"),
        priority,
        meta: meta(t.at(at)),
    }
}

pub(crate) fn order(t: &StoreCtx, customer: CustomerId, location: Uuid, at: i64) -> Order {
    let line = |n: i32, code: &str, quantity: i64, unit_price: i64, tax_rate_bp: i64| {
        let subtotal = quantity * unit_price;
        let tax = subtotal * tax_rate_bp / 10_000;
        OrderLine {
            line: n,
            sku: sku(code),
            product_id: ProductId::from_uuid(Uuid::from_u128(0x1000 + n as u128)),
            name: format!("Line {n} {AWKWARD}"),
            quantity,
            shipped_quantity: 0,
            unit_price,
            subtotal,
            tax_rate_bp,
            tax,
            total: subtotal + tax,
            allocations: vec![Allocation { location_id: location, quantity, shipped: 0 }],
        }
    };
    let lines = vec![line(1, "SKU-A", 2, 1000, 1900), line(2, "SKU-B", 1, 2550, 700)];
    let shipping = ordo_domain::order::ShippingCharge { net: 495, tax_rate_bp: 700, tax: 35, total: 530 };
    let subtotal: i64 = lines.iter().map(|l| l.subtotal).sum::<i64>() + shipping.net;
    let tax: i64 = lines.iter().map(|l| l.tax).sum::<i64>() + shipping.tax;
    Order {
        id: OrderId::from_uuid(t.id()),
        customer_id: customer,
        market: "DE".to_owned(),
        currency: eur(),
        tax_rate_bp: 1900,
        status: OrderStatus::Placed,
        lines,
        shipping_address: address(),
        billing: ordo_domain::order::Billing { address: Some(bare_address()), vat_id: Some("DE123456789".to_owned()) },
        shipping,
        subtotal,
        tax,
        total: subtotal + tax,
        version: 1,
        created_at: t.at(at),
        updated_at: t.at(at),
    }
}

pub(crate) fn order_event(
    t: &StoreCtx,
    order: OrderId,
    at: i64,
    from: Option<OrderStatus>,
    to: OrderStatus,
) -> OrderEvent {
    OrderEvent {
        id: t.id(),
        order_id: order,
        occurred_at: t.at(at),
        kind: format!("status.{}", to.as_str()),
        from_status: from,
        to_status: to,
        actor_name: format!("clerk {AWKWARD}"),
        detail: Some(json_blob(at)),
    }
}

pub(crate) fn idempotency_record(principal: Uuid, key: &str, t: &StoreCtx, at: i64) -> IdempotencyRecord {
    IdempotencyRecord {
        principal,
        key: key.to_owned(),
        request_hash: format!("hash-of-{key}"),
        answer: None,
        created_at: t.at(at),
        expires_at: t.at(at + 86_400),
        locked_until: t.at(at + 30),
    }
}

pub(crate) fn stored_response() -> StoredResponse {
    StoredResponse {
        status: 201,
        content_type: Some("application/json".to_owned()),
        location: Some("/v1/orders/123".to_owned()),
        body: (0u8..=255).chain(b"{\"ok\":true}".iter().copied()).collect(),
    }
}

pub(crate) fn new_job(t: &StoreCtx, queue: &str, name: &str, priority: i16, run_at: i64) -> NewJob {
    NewJob {
        id: t.id(),
        queue: queue.to_owned(),
        name: name.to_owned(),
        payload: json_blob(run_at),
        priority,
        max_attempts: 3,
        run_at: t.at(run_at),
        unique_key: None,
        trace_parent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_owned()),
    }
}

pub(crate) fn invoice(t: &StoreCtx, order_id: Uuid, number: &str, at: i64) -> Invoice {
    Invoice {
        id: t.id(),
        number: number.to_owned(),
        order_id,
        market: "DE".to_owned(),
        currency: eur(),
        issued_at: t.at(at),
        seller: Some(seller()),
        customer_name: format!("Customer {AWKWARD}"),
        customer_email: "buyer@example.com".to_owned(),
        billing_address: address(),
        customer_vat_id: Some("ATU12345678".to_owned()),
        lines: vec![
            InvoiceLine {
                sku: Some("SKU-A".to_owned()),
                name: format!("Widget {AWKWARD}"),
                quantity: 2,
                unit_price: 1000,
                subtotal: 2000,
                tax_rate_bp: 1900,
                tax: 380,
                total: 2380,
                shipping: false,
            },
            InvoiceLine {
                sku: None,
                name: "Shipping".to_owned(),
                quantity: 1,
                unit_price: 0,
                subtotal: 0,
                tax_rate_bp: 700,
                tax: 0,
                total: 0,
                shipping: true,
            },
        ],
        tax_breakdown: vec![TaxLine { rate_bp: 1900, net: 2000, tax: 380 }],
        subtotal: 2000,
        tax: 380,
        total: 2380,
    }
}

pub(crate) fn domain_event(t: &StoreCtx, event_type: &str, order_id: Uuid, at: i64) -> DomainEvent {
    DomainEvent { id: t.id(), event_type: event_type.to_owned(), order_id, occurred_at: t.at(at), data: json_blob(at) }
}

pub(crate) fn webhook(t: &StoreCtx, types: &[&str], at: i64) -> Webhook {
    Webhook {
        id: t.id(),
        url: "https://erp.example/ordo-events?x=1&y=%20".to_owned(),
        event_types: types.iter().map(|s| (*s).to_owned()).collect(),
        secret: format!("whsec_{AWKWARD}"),
        created_at: t.at(at),
    }
}

pub(crate) fn delivery(t: &StoreCtx, webhook: Uuid, event: &DomainEvent, at: i64) -> Delivery {
    Delivery {
        id: t.id(),
        webhook_id: webhook,
        event_id: event.id,
        event_type: event.event_type.clone(),
        order_id: event.order_id,
        status: DeliveryStatus::Pending,
        attempts: 0,
        last_status_code: None,
        last_error: None,
        created_at: t.at(at),
        delivered_at: None,
    }
}

/// What a result was, for the transcript and for asserting on errors.
pub(crate) fn outcome<T: std::fmt::Debug>(r: &Result<T, StoreError>) -> String {
    match r {
        Ok(v) => format!("Ok({v:?})"),
        Err(StoreError::Duplicate(key)) => format!("Duplicate({key:?})"),
        Err(StoreError::Unavailable(_)) => "Unavailable".to_owned(),
        Err(StoreError::Corrupt(_)) => "Corrupt".to_owned(),
        Err(StoreError::Other(_)) => "Other".to_owned(),
    }
}
