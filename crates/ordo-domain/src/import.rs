//! Bulk imports: products with prices, customers with addresses, and stock
//! levels and receipts, from CSV or JSON Lines. An import is checked whole
//! for its shape when uploaded (encoding, columns, at least one row), then
//! applied in chunks in the background. Each row is checked here with the
//! same rules the API applies to one record; a bad row is reported by row,
//! field and message. By default ([`BadRows::Refuse`]) a file with any bad
//! row applies none: every row is checked first, and applying starts only
//! once the check found none. [`BadRows::Skip`] applies the good rows around
//! the bad ones.
//!
//! A CSV file names its columns in a header. JSON Lines rows are objects
//! with the API's field names (amounts in minor units, as the API takes
//! them); CSV prices are one `price_<currency>` column per currency, in the
//! currency's major unit (`19.90`), as spreadsheets hold them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::catalog::{self, NewProduct, Prices, ProductChanges};
use crate::customer::{self, Address, AddressSource, CustomerChanges, NewCustomer, RawAddress};
use crate::email::Email;
use crate::inventory::{self, MAX_ON_HAND};
use crate::market::TaxClass;
use crate::money::Currency;
use crate::sku::Sku;
use crate::validation::{FieldError, ValidationErrors};

/// Most rows applied in one transaction.
pub const MAX_CHUNK_ROWS: i32 = 10_000;

/// What an import holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportKind {
    /// Products with their prices, created or changed by SKU.
    Products,
    /// Customers with an address, created or changed by e-mail address.
    Customers,
    /// Stock levels set by a count (`on_hand`) or raised by a receipt
    /// (`received`), per SKU and location code.
    Stock,
}

as_str!(ImportKind { Products = "products", Customers = "customers", Stock = "stock" });

/// How an import's file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportFormat {
    /// RFC 4180 CSV with a header row, UTF-8.
    Csv,
    /// One JSON object per line, UTF-8.
    Jsonl,
}

as_str!(ImportFormat { Csv = "csv", Jsonl = "jsonl" });

/// What an import does with a file that has bad rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BadRows {
    /// Applies nothing if any row is bad: every row is checked against the
    /// data first, and only a file without a bad row is applied.
    #[default]
    Refuse,
    /// Applies the good rows and skips the bad ones.
    Skip,
}

as_str!(BadRows { Refuse = "refuse", Skip = "skip" });

/// Where a running import is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportStage {
    /// Checking every row against the data, changing nothing: a dry run,
    /// and the first pass of an import that refuses bad rows.
    Checking,
    /// Applying rows, a chunk per transaction.
    Applying,
}

as_str!(ImportStage { Checking = "checking", Applying = "applying" });

impl ImportStage {
    /// Where an import starts: applying at once only if it may skip bad
    /// rows and is no dry run.
    pub fn first(dry_run: bool, bad_rows: BadRows) -> Self {
        if dry_run || bad_rows == BadRows::Refuse { Self::Checking } else { Self::Applying }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportStatus {
    /// Waiting for a worker, or being applied.
    Running,
    /// Every row was read; bad rows (skipped) are in the error report.
    Succeeded,
    /// Stopped for good before the end; the chunks committed stand. An
    /// import that refuses bad rows and found some fails after its check,
    /// having applied nothing.
    Failed,
    /// Stopped on request; the chunks committed stand.
    Cancelled,
}

as_str!(ImportStatus { Running = "running", Succeeded = "succeeded", Failed = "failed", Cancelled = "cancelled" });

impl ImportStatus {
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Running)
    }
}

/// What the rows applied so far did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ImportCounts {
    /// Rows read and settled, in committed chunks.
    pub rows_done: i64,
    /// Records created (or, in a dry run, that would be).
    pub created: i64,
    /// Records changed.
    pub updated: i64,
    /// Rows that matched their record as it was.
    pub unchanged: i64,
    /// Rows refused, each with its errors in the error report.
    pub rejected: i64,
}

/// An import, as stored and served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Import {
    pub id: Uuid,
    pub kind: ImportKind,
    pub format: ImportFormat,
    /// Checks every row against the data without changing anything.
    pub dry_run: bool,
    /// Whether a bad row stops the whole file or is skipped.
    pub bad_rows: BadRows,
    pub status: ImportStatus,
    /// Checking the rows, or applying them; `rows_done` and the counts
    /// are the stage's.
    pub stage: ImportStage,
    /// SHA-256 of the file, hex: the same file imported again is this
    /// import.
    pub sha256: String,
    /// The file's size in bytes.
    pub size: i64,
    /// Data rows in the file.
    pub rows: i64,
    /// Rows applied per transaction.
    pub chunk_rows: i32,
    #[serde(flatten)]
    pub counts: ImportCounts,
    /// 0 to 100, over both stages when there are two.
    pub progress: i16,
    /// Where the uploaded file is stored.
    #[serde(skip)]
    pub file_key: String,
    /// Why it failed, if it did.
    pub error: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl Import {
    /// Percent of the rows settled.
    pub fn progress_of(rows_done: i64, rows: i64) -> i16 {
        if rows <= 0 { 100 } else { (rows_done.clamp(0, rows) * 100 / rows) as i16 }
    }

    /// Whether this import checks every row before applying any.
    pub fn checks_first(&self) -> bool {
        self.bad_rows == BadRows::Refuse && !self.dry_run
    }

    /// Percent done with `rows_done` rows of the current stage settled: an
    /// import that checks first spends the first half checking.
    pub fn progress_at(&self, rows_done: i64) -> i16 {
        let stage = Self::progress_of(rows_done, self.rows);
        match (self.checks_first(), self.stage) {
            (false, _) => stage,
            (true, ImportStage::Checking) => stage / 2,
            (true, ImportStage::Applying) => 50 + stage / 2,
        }
    }
}

/// One problem with one row, for the error report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RowError {
    /// The data row, from 1 (a CSV header is not counted).
    pub row: i64,
    /// The column (or JSON field path) at fault; empty for the row whole.
    pub field: String,
    pub code: String,
    pub message: String,
}

impl RowError {
    pub fn new(row: i64, error: FieldError) -> Self {
        Self { row, field: error.field, code: error.code.into_owned(), message: error.message }
    }
}

/// A problem with the file whole: it is refused before anything is stored.
pub fn file_error(code: &'static str, message: impl Into<String>) -> ValidationErrors {
    ValidationErrors::single("file", code, message)
}

/// A product row: created if its SKU is new, else its record changed.
/// Absent (or blank) optional fields leave an existing product's value as
/// it is, and take the API's default for a new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductRow {
    pub sku: Sku,
    pub name: String,
    /// `Some(None)` clears it.
    pub description: Option<Option<String>>,
    /// Replaces all prices when given.
    pub prices: Option<Prices>,
    pub active: Option<bool>,
    pub tax_class: Option<TaxClass>,
}

impl ProductRow {
    pub fn new_product(&self) -> NewProduct {
        NewProduct {
            sku: self.sku.clone(),
            name: self.name.clone(),
            description: self.description.clone().flatten(),
            prices: self.prices.clone().unwrap_or_default(),
            active: self.active.unwrap_or(true),
            tax_class: self.tax_class.unwrap_or_default(),
        }
    }

    pub fn changes(&self) -> ProductChanges {
        ProductChanges {
            name: Some(self.name.clone()),
            description: self.description.clone(),
            prices: self.prices.clone(),
            active: self.active,
            tax_class: self.tax_class,
        }
    }
}

/// A customer row: created if its e-mail address is new, else its record
/// changed. Addresses, when given, replace the customer's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerRow {
    pub email: Email,
    pub name: String,
    pub addresses: Option<Vec<Address>>,
}

impl CustomerRow {
    pub fn new_customer(&self) -> NewCustomer {
        NewCustomer {
            email: self.email.clone(),
            name: self.name.clone(),
            addresses: self.addresses.clone().unwrap_or_default(),
        }
    }

    pub fn changes(&self) -> CustomerChanges {
        CustomerChanges { email: None, name: Some(self.name.clone()), addresses: self.addresses.clone() }
    }
}

/// How a stock row moves stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StockEntry {
    /// A count: on hand becomes this many (a count correction).
    OnHand(i64),
    /// A receipt of this many units.
    Received(i64),
}

/// A stock row, at a location named by its code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockRow {
    pub sku: Sku,
    pub location: String,
    pub entry: StockEntry,
    pub note: Option<String>,
}

/// A checked row of any kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    Product(ProductRow),
    Customer(CustomerRow),
    Stock(StockRow),
}

/// The longest note on a stock row.
const NOTE_MAX: usize = 500;

/// The CSV columns of a kind, checked against a file's header.
#[derive(Debug, Clone)]
pub struct CsvLayout {
    kind: ImportKind,
    /// Each column's meaning, in the file's order.
    columns: Vec<Column>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Column {
    Named(&'static str),
    Price(Currency),
}

const PRODUCT_COLUMNS: [&str; 5] = ["sku", "name", "description", "active", "tax_class"];
const CUSTOMER_COLUMNS: [&str; 9] = [
    "email",
    "name",
    "address_recipient",
    "address_line1",
    "address_line2",
    "address_city",
    "address_region",
    "address_postal_code",
    "address_country",
];
const STOCK_COLUMNS: [&str; 5] = ["sku", "location", "on_hand", "received", "note"];

impl ImportKind {
    fn columns(self) -> &'static [&'static str] {
        match self {
            Self::Products => &PRODUCT_COLUMNS,
            Self::Customers => &CUSTOMER_COLUMNS,
            Self::Stock => &STOCK_COLUMNS,
        }
    }

    fn required(self) -> &'static [&'static str] {
        match self {
            Self::Products => &["sku", "name"],
            Self::Customers => &["email", "name"],
            Self::Stock => &["sku", "location"],
        }
    }
}

impl CsvLayout {
    /// Reads a header: every column known to `kind`, none twice, the
    /// required ones present. Names are matched without regard to case or
    /// surrounding blanks (and a leading byte-order mark).
    pub fn new(kind: ImportKind, header: &[&str]) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let mut columns = Vec::with_capacity(header.len());
        for (i, raw) in header.iter().enumerate() {
            let name = raw.trim_start_matches('\u{feff}').trim().to_ascii_lowercase();
            let column = if let Some(code) = name.strip_prefix("price_").filter(|_| kind == ImportKind::Products) {
                match Currency::parse(code) {
                    Ok(currency) => Some(Column::Price(currency)),
                    Err(_) => None,
                }
            } else {
                kind.columns().iter().find(|c| **c == name).map(|c| Column::Named(c))
            };
            match column {
                Some(column) if columns.contains(&column) => {
                    errors.add(format!("header[{i}]"), "duplicate_column", format!("`{name}` is named twice"));
                }
                Some(column) => columns.push(column),
                None => errors.add(
                    format!("header[{i}]"),
                    "unknown_column",
                    format!("`{raw}` is not a column of a {} import; known: {}", kind.as_str(), known_columns(kind)),
                ),
            }
        }
        for required in kind.required() {
            if !columns.contains(&Column::Named(required)) {
                errors.add(
                    "header",
                    "missing_column",
                    format!("a {} import needs a `{required}` column", kind.as_str()),
                );
            }
        }
        if kind == ImportKind::Stock
            && !columns.contains(&Column::Named("on_hand"))
            && !columns.contains(&Column::Named("received"))
        {
            errors.add("header", "missing_column", "a stock import needs an `on_hand` or a `received` column");
        }
        errors.into_result(|| Self { kind, columns })
    }

    /// Checks one record's fields (in the header's order).
    pub fn row(&self, fields: &[&str]) -> Result<Row, Vec<FieldError>> {
        if fields.len() != self.columns.len() {
            return Err(vec![FieldError {
                field: String::new(),
                code: "wrong_field_count".into(),
                message: format!("the row has {} fields; the header names {}", fields.len(), self.columns.len()),
            }]);
        }
        let text = |name: &str| -> Option<&str> {
            self.columns.iter().position(|c| *c == Column::Named(known(name))).map(|i| fields[i].trim())
        };
        let mut errors = ValidationErrors::new();
        let row = match self.kind {
            ImportKind::Products => {
                let mut prices: Option<Vec<(i64, String)>> = None;
                for (column, value) in self.columns.iter().zip(fields) {
                    let Column::Price(currency) = column else { continue };
                    let value = value.trim();
                    let list = prices.get_or_insert_with(Vec::new);
                    if value.is_empty() {
                        continue;
                    }
                    let field = format!("price_{}", currency.code());
                    match crate::settlement::parse_amount(value, *currency) {
                        Ok(amount) => list.push((amount, currency.code().to_owned())),
                        Err(message) => errors.add(field, "invalid_amount", message),
                    }
                }
                let fields = ProductFields {
                    sku: text("sku").unwrap_or_default(),
                    name: text("name").unwrap_or_default(),
                    description: optional(text("description")).map(Some),
                    prices,
                    active: optional(text("active")),
                    tax_class: optional(text("tax_class")),
                };
                fields.check(&mut errors).map(Row::Product)
            }
            ImportKind::Customers => {
                let address = |part: &str| optional(text(&format!("address_{part}")));
                let parts = ["recipient", "line1", "line2", "city", "region", "postal_code", "country"];
                let any_address = parts.iter().any(|p| address(p).is_some());
                let raw = any_address.then(|| RawAddress {
                    recipient: address("recipient"),
                    line1: address("line1").unwrap_or_default(),
                    line2: address("line2"),
                    city: address("city").unwrap_or_default(),
                    region: address("region"),
                    postal_code: address("postal_code"),
                    country: address("country").unwrap_or_default(),
                });
                let email = errors.check("email", Email::parse(text("email").unwrap_or_default()));
                let name = errors.check("name", customer::parse_name(text("name").unwrap_or_default()));
                let addresses = match raw.map(|raw| Address::parse(&raw)) {
                    None => Some(None),
                    Some(Ok(address)) => Some(Some(vec![address])),
                    Some(Err(e)) => {
                        for mut error in e.into_errors() {
                            error.field = format!("address_{}", error.field);
                            errors.extend(ValidationErrors::from_errors(vec![error]));
                        }
                        None
                    }
                };
                match (email, name, addresses) {
                    (Some(email), Some(name), Some(addresses)) => {
                        Some(Row::Customer(CustomerRow { email, name, addresses }))
                    }
                    _ => None,
                }
            }
            ImportKind::Stock => {
                let fields = StockFields {
                    sku: text("sku").unwrap_or_default(),
                    location: text("location").unwrap_or_default(),
                    on_hand: optional(text("on_hand")).map(|t| t.parse::<i64>().map_err(|_| "on_hand")),
                    received: optional(text("received")).map(|t| t.parse::<i64>().map_err(|_| "received")),
                    note: optional(text("note")),
                };
                fields.check(&mut errors).map(Row::Stock)
            }
        };
        match row {
            Some(row) if errors.is_empty() => Ok(row),
            _ => Err(errors.into_errors()),
        }
    }
}

/// The `'static` spelling of a known column name.
fn known(name: &str) -> &'static str {
    PRODUCT_COLUMNS
        .iter()
        .chain(CUSTOMER_COLUMNS.iter())
        .chain(STOCK_COLUMNS.iter())
        .find(|c| **c == name)
        .copied()
        .unwrap_or("")
}

fn known_columns(kind: ImportKind) -> String {
    let mut names: Vec<String> = kind.columns().iter().map(|c| format!("`{c}`")).collect();
    if kind == ImportKind::Products {
        names.push("`price_<currency>`".to_owned());
    }
    names.join(", ")
}

/// A blank field is an absent one.
fn optional(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.is_empty())
}

/// A product row's fields as read, before checking.
struct ProductFields<'a> {
    sku: &'a str,
    name: &'a str,
    description: Option<Option<&'a str>>,
    prices: Option<Vec<(i64, String)>>,
    active: Option<&'a str>,
    tax_class: Option<&'a str>,
}

impl ProductFields<'_> {
    fn check(self, errors: &mut ValidationErrors) -> Option<ProductRow> {
        let sku = errors.check("sku", Sku::parse(self.sku));
        let name = errors.check("name", catalog::parse_name(self.name));
        let description = match self.description {
            None => Some(None),
            Some(text) => errors.check("description", catalog::parse_description(text)).map(Some),
        };
        let prices = match self.prices {
            None => Some(None),
            Some(raw) => match Prices::parse(&raw) {
                Ok(prices) => Some(Some(prices)),
                Err(e) => {
                    errors.merge("prices", e);
                    None
                }
            },
        };
        let active = match self.active.map(|a| a.to_ascii_lowercase()) {
            None => Some(None),
            Some(a) if a == "true" => Some(Some(true)),
            Some(a) if a == "false" => Some(Some(false)),
            Some(a) => {
                errors.add("active", "invalid_boolean", format!("`{a}` is neither `true` nor `false`"));
                None
            }
        };
        let tax_class = match self.tax_class {
            None => Some(None),
            Some(t) => match TaxClass::parse(&t.to_ascii_lowercase()) {
                Some(class) => Some(Some(class)),
                None => {
                    errors.add("tax_class", "unknown_tax_class", format!("`{t}` is not standard, reduced or zero"));
                    None
                }
            },
        };
        Some(ProductRow {
            sku: sku?,
            name: name?,
            description: description?,
            prices: prices?,
            active: active?,
            tax_class: tax_class?,
        })
    }
}

/// A stock row's fields as read, before checking; a number that does not
/// parse names its field.
struct StockFields<'a> {
    sku: &'a str,
    location: &'a str,
    on_hand: Option<Result<i64, &'static str>>,
    received: Option<Result<i64, &'static str>>,
    note: Option<&'a str>,
}

impl StockFields<'_> {
    fn check(self, errors: &mut ValidationErrors) -> Option<StockRow> {
        let sku = errors.check("sku", Sku::parse(self.sku));
        let location = self.location.trim();
        if location.is_empty() {
            errors.add("location", "required", "must name a location by its code");
        }
        let number = |errors: &mut ValidationErrors, value: Result<i64, &'static str>| match value {
            Ok(n) => Some(n),
            Err(field) => {
                errors.add(field, "invalid_number", "must be a whole number");
                None
            }
        };
        let entry = match (self.on_hand, self.received) {
            (Some(_), Some(_)) => {
                errors.add("received", "conflicting_fields", "give `on_hand` or `received`, not both");
                None
            }
            (None, None) => {
                errors.add("on_hand", "required", "give `on_hand` (a count) or `received` (a receipt)");
                None
            }
            (Some(on_hand), None) => number(errors, on_hand).and_then(|n| {
                if (0..=MAX_ON_HAND).contains(&n) {
                    Some(StockEntry::OnHand(n))
                } else {
                    errors.add("on_hand", "out_of_range", format!("on hand is 0 to {MAX_ON_HAND}"));
                    None
                }
            }),
            (None, Some(received)) => number(errors, received)
                .and_then(|n| errors.check("received", inventory::parse_receipt_quantity(n)))
                .map(StockEntry::Received),
        };
        let note = match self.note {
            None => Some(None),
            Some(n) => errors.check("note", crate::validation::optional_text(n, NOTE_MAX)).map(Some),
        };
        if location.is_empty() {
            return None;
        }
        Some(StockRow { sku: sku?, location: location.to_owned(), entry: entry?, note: note? })
    }
}

/// A JSON Lines product row: the fields of `POST /v1/products`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonProduct {
    sku: String,
    name: String,
    #[serde(default, deserialize_with = "present")]
    description: Option<Option<String>>,
    prices: Option<Vec<JsonPrice>>,
    active: Option<bool>,
    tax_class: Option<TaxClass>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonPrice {
    amount: i64,
    currency: String,
}

/// A JSON Lines customer row: the fields of `POST /v1/customers`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonCustomer {
    email: String,
    name: String,
    addresses: Option<Vec<JsonAddress>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonAddress {
    recipient: Option<String>,
    line1: String,
    line2: Option<String>,
    city: String,
    region: Option<String>,
    postal_code: Option<String>,
    country: String,
}

impl AddressSource for JsonAddress {
    fn raw(&self) -> RawAddress<'_> {
        RawAddress {
            recipient: self.recipient.as_deref(),
            line1: &self.line1,
            line2: self.line2.as_deref(),
            city: &self.city,
            region: self.region.as_deref(),
            postal_code: self.postal_code.as_deref(),
            country: &self.country,
        }
    }
}

/// A JSON Lines stock row.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonStock {
    sku: String,
    location: String,
    on_hand: Option<i64>,
    received: Option<i64>,
    note: Option<String>,
}

/// Tells a field given as `null` (`Some(None)`) from one left out (`None`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// The fields a JSON Lines row of `kind` may have.
pub fn json_fields(kind: ImportKind) -> &'static [&'static str] {
    match kind {
        ImportKind::Products => &["sku", "name", "description", "prices", "active", "tax_class"],
        ImportKind::Customers => &["email", "name", "addresses"],
        ImportKind::Stock => &["sku", "location", "on_hand", "received", "note"],
    }
}

/// Checks one JSON Lines row of `kind`.
pub fn json_row(kind: ImportKind, line: &str) -> Result<Row, Vec<FieldError>> {
    let shape = |e: serde_json::Error| {
        vec![FieldError {
            field: String::new(),
            code: "invalid_json".into(),
            message: format!("the row does not read: {e}"),
        }]
    };
    let mut errors = ValidationErrors::new();
    let row = match kind {
        ImportKind::Products => {
            let p: JsonProduct = serde_json::from_str(line).map_err(shape)?;
            let fields = ProductFields {
                sku: &p.sku,
                name: &p.name,
                description: p.description.as_ref().map(|d| d.as_deref()),
                prices: p.prices.map(|list| list.into_iter().map(|p| (p.amount, p.currency)).collect()),
                active: p.active.map(|a| if a { "true" } else { "false" }),
                tax_class: p.tax_class.map(TaxClass::as_str),
            };
            fields.check(&mut errors).map(Row::Product)
        }
        ImportKind::Customers => {
            let c: JsonCustomer = serde_json::from_str(line).map_err(shape)?;
            let email = errors.check("email", Email::parse(&c.email));
            let name = errors.check("name", customer::parse_name(&c.name));
            let addresses = match c.addresses {
                None => Some(None),
                Some(list) => match Address::parse_each(&list) {
                    Ok(addresses) => Some(Some(addresses)),
                    Err(e) => {
                        errors.merge("addresses", e);
                        None
                    }
                },
            };
            match (email, name, addresses) {
                (Some(email), Some(name), Some(addresses)) => {
                    Some(Row::Customer(CustomerRow { email, name, addresses }))
                }
                _ => None,
            }
        }
        ImportKind::Stock => {
            let s: JsonStock = serde_json::from_str(line).map_err(shape)?;
            let fields = StockFields {
                sku: &s.sku,
                location: &s.location,
                on_hand: s.on_hand.map(Ok),
                received: s.received.map(Ok),
                note: s.note.as_deref().filter(|n| !n.trim().is_empty()),
            };
            fields.check(&mut errors).map(Row::Stock)
        }
    };
    match row {
        Some(row) if errors.is_empty() => Ok(row),
        _ => Err(errors.into_errors()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(kind: ImportKind, header: &str) -> Result<CsvLayout, ValidationErrors> {
        CsvLayout::new(kind, &header.split(',').collect::<Vec<_>>())
    }

    #[test]
    fn headers_name_known_columns_once_with_the_required_ones() {
        assert!(layout(ImportKind::Products, "\u{feff}SKU, name ,price_eur,price_USD").is_ok());
        let errors = layout(ImportKind::Products, "sku,colour,price_xyz").unwrap_err();
        let codes: Vec<_> = errors.errors().iter().map(|e| (e.field.as_str(), e.code.as_ref())).collect();
        assert_eq!(
            codes,
            [("header[1]", "unknown_column"), ("header[2]", "unknown_column"), ("header", "missing_column")]
        );
        assert_eq!(layout(ImportKind::Customers, "email,name,email").unwrap_err().errors()[0].code, "duplicate_column");
        assert_eq!(layout(ImportKind::Stock, "sku,location").unwrap_err().errors()[0].code, "missing_column");
        // Prices are products' only.
        assert!(layout(ImportKind::Customers, "email,name,price_eur").is_err());
    }

    #[test]
    fn product_rows_apply_the_api_rules_and_keep_blank_fields_absent() {
        let l = layout(ImportKind::Products, "sku,name,description,price_EUR,price_JPY,active").unwrap();
        let Row::Product(p) = l.row(&["TEE-1", "Tee", "", "19.90", "2000", ""]).unwrap() else { panic!() };
        assert_eq!(p.sku.as_str(), "TEE-1");
        assert_eq!(p.description, None, "blank: left as it is");
        assert_eq!(p.active, None);
        let prices: Vec<_> = p.prices.unwrap().as_slice().iter().map(|m| (m.currency.code(), m.amount)).collect();
        assert_eq!(prices, [("EUR", 1990), ("JPY", 2000)]);
        let errors = l.row(&["bad sku!", "", "", "19.999", "", "maybe"]).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["price_EUR", "sku", "name", "active"]);
        assert_eq!(l.row(&["A"]).unwrap_err()[0].code, "wrong_field_count");
    }

    #[test]
    fn customer_rows_take_one_address_from_their_columns() {
        let l = layout(ImportKind::Customers, "email,name,address_line1,address_city,address_country").unwrap();
        let Row::Customer(c) = l.row(&["Ann@Example.com", "Ann", "1 Main St", "Berlin", "de"]).unwrap() else {
            panic!()
        };
        assert_eq!(c.email.as_str(), "ann@example.com");
        assert_eq!(String::from(c.addresses.unwrap()[0].country), "DE");
        let Row::Customer(c) = l.row(&["b@example.com", "B", "", "", ""]).unwrap() else { panic!() };
        assert_eq!(c.addresses, None);
        let errors = l.row(&["b@example.com", "B", "1 Main St", "", "XX"]).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["address_city", "address_country"]);
    }

    #[test]
    fn stock_rows_are_a_count_or_a_receipt() {
        let l = layout(ImportKind::Stock, "sku,location,on_hand,received").unwrap();
        let Row::Stock(s) = l.row(&["TEE-1", "BER-1", "7", ""]).unwrap() else { panic!() };
        assert_eq!(s.entry, StockEntry::OnHand(7));
        let Row::Stock(s) = l.row(&["TEE-1", "BER-1", "", "3"]).unwrap() else { panic!() };
        assert_eq!(s.entry, StockEntry::Received(3));
        assert_eq!(l.row(&["TEE-1", "BER-1", "1", "3"]).unwrap_err()[0].code, "conflicting_fields");
        assert_eq!(l.row(&["TEE-1", "BER-1", "", "0"]).unwrap_err()[0].code, "out_of_range");
        assert_eq!(l.row(&["TEE-1", "BER-1", "-1", ""]).unwrap_err()[0].code, "out_of_range");
        assert_eq!(l.row(&["TEE-1", "", "x", ""]).unwrap_err().len(), 2);
    }

    #[test]
    fn json_rows_take_the_api_fields_and_refuse_others() {
        let Row::Product(p) = json_row(
            ImportKind::Products,
            r#"{"sku":"TEE-1","name":"Tee","description":null,"prices":[{"amount":1990,"currency":"EUR"}]}"#,
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(p.description, Some(None));
        assert_eq!(p.prices.unwrap().as_slice()[0].amount, 1990);
        let Row::Product(p) = json_row(ImportKind::Products, r#"{"sku":"TEE-1","name":"Tee"}"#).unwrap() else {
            panic!()
        };
        assert_eq!((p.description, p.prices), (None, None));
        let e = json_row(ImportKind::Products, r#"{"sku":"TEE-1","name":"Tee","colour":"red"}"#).unwrap_err();
        assert!(e[0].code == "invalid_json" && e[0].message.contains("colour"), "{e:?}");
        let e = json_row(
            ImportKind::Customers,
            r#"{"email":"x","name":"X","addresses":[{"line1":"a","city":"b","country":"ZZ"}]}"#,
        )
        .unwrap_err();
        let fields: Vec<_> = e.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["email", "addresses[0].country"]);
        assert!(json_row(ImportKind::Stock, r#"{"sku":"A","location":"L","received":5}"#).is_ok());
    }

    #[test]
    fn progress_is_the_share_of_rows_settled() {
        assert_eq!(Import::progress_of(0, 0), 100);
        assert_eq!(Import::progress_of(50, 200), 25);
        assert_eq!(Import::progress_of(300, 200), 100);
        assert_eq!(ImportStage::first(false, BadRows::Skip), ImportStage::Applying);
        assert_eq!(ImportStage::first(true, BadRows::Skip), ImportStage::Checking);
        assert_eq!(ImportStage::first(false, BadRows::Refuse), ImportStage::Checking);
    }
}
