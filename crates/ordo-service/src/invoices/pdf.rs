//! Invoices and credit notes as PDF (A4), localised by the market's locale:
//! English or German labels, dates, numbers and currency.
//!
//! Written on `pdf-writer` (typst's, small and dependency-free), with the
//! standard Helvetica fonts every PDF reader has, so nothing is embedded.
//! Those fonts hold the WinAnsi (Windows-1252) characters only: Latin
//! scripts with their accents, `€`, `£`, typographic quotes and dashes.
//! Other characters print as `?` (embedding a Unicode font is not built).
//!
//! The two locales' number and date patterns are written here rather than
//! taken from ICU (icu4x), whose data and dependency tree are large for
//! what two fixed patterns need.

use chrono::{DateTime, Datelike, Utc};
use ordo_domain::credit_note::CreditNote;
use ordo_domain::customer::Address;
use ordo_domain::invoice::{Invoice, TaxLine};
use ordo_domain::market::Seller;
use ordo_domain::money::Currency;
use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};

/// The language of a document: German for `de` and `de-*` locales,
/// English otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    De,
}

impl Lang {
    pub fn of_locale(locale: &str) -> Self {
        let lang = locale.split(['-', '_']).next().unwrap_or_default();
        if lang.eq_ignore_ascii_case("de") { Self::De } else { Self::En }
    }

    fn labels(self) -> &'static Labels {
        match self {
            Self::En => &EN,
            Self::De => &DE,
        }
    }

    /// `3 December 2026` or `03.12.2026`.
    pub fn date(self, at: DateTime<Utc>) -> String {
        match self {
            Self::En => format!("{} {} {}", at.day(), MONTHS[at.month0() as usize], at.year()),
            Self::De => format!("{:02}.{:02}.{}", at.day(), at.month(), at.year()),
        }
    }

    /// `€1,234.56` or `1.234,56 €` (`CHF 1,234.56`, `1.234,56 CHF` for a
    /// currency without a WinAnsi symbol).
    pub fn money(self, amount: i64, currency: Currency) -> String {
        let exponent = u32::from(currency.exponent());
        let divisor = 10_u64.pow(exponent);
        let abs = amount.unsigned_abs();
        let (units, cents) = (abs / divisor, abs % divisor);
        let (group, decimal) = match self {
            Self::En => (',', '.'),
            Self::De => ('.', ','),
        };
        let digits = units.to_string();
        let mut number = String::with_capacity(digits.len() + 8);
        for (i, d) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                number.push(group);
            }
            number.push(d);
        }
        if exponent > 0 {
            number.push(decimal);
            number.push_str(&format!("{cents:0width$}", width = exponent as usize));
        }
        let sign = if amount < 0 { "-" } else { "" };
        let symbol = match currency.code() {
            "EUR" => Some("€"),
            "USD" => Some("$"),
            "GBP" => Some("£"),
            "JPY" => Some("¥"),
            _ => None,
        };
        match (self, symbol) {
            (Self::En, Some(symbol)) => format!("{sign}{symbol}{number}"),
            (Self::En, None) => format!("{sign}{} {number}", currency.code()),
            (Self::De, Some(symbol)) => format!("{sign}{number} {symbol}"),
            (Self::De, None) => format!("{sign}{number} {}", currency.code()),
        }
    }

    /// `19%` or `19 %`; `7.5%` or `7,5 %`.
    pub fn percent(self, bp: i64) -> String {
        let whole = bp / 100;
        let rest = (bp % 100).abs();
        let mut n = whole.to_string();
        if rest != 0 {
            let fraction = format!("{rest:02}");
            n.push(if self == Self::De { ',' } else { '.' });
            n.push_str(fraction.trim_end_matches('0'));
        }
        match self {
            Self::En => format!("{n}%"),
            Self::De => format!("{n} %"),
        }
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

struct Labels {
    invoice: &'static str,
    credit_note: &'static str,
    date: &'static str,
    order: &'static str,
    corrects: &'static str,
    bill_to: &'static str,
    sku: &'static str,
    item: &'static str,
    qty: &'static str,
    unit_price: &'static str,
    net: &'static str,
    tax: &'static str,
    total: &'static str,
    tax_rate: &'static str,
    total_due: &'static str,
    total_credited: &'static str,
    vat_id: &'static str,
    refund: &'static str,
    shipping: &'static str,
    rate: &'static str,
    page: &'static str,
    of: &'static str,
}

const EN: Labels = Labels {
    invoice: "Invoice",
    credit_note: "Credit note",
    date: "Date",
    order: "Order",
    corrects: "Corrects invoice",
    bill_to: "Bill to",
    sku: "SKU",
    item: "Item",
    qty: "Qty",
    unit_price: "Unit price",
    net: "Net",
    tax: "VAT",
    total: "Total",
    tax_rate: "VAT rate",
    total_due: "Total due",
    total_credited: "Total credited",
    vat_id: "VAT ID",
    refund: "Refund",
    shipping: "Shipping",
    rate: "VAT %",
    page: "Page",
    of: "of",
};

const DE: Labels = Labels {
    invoice: "Rechnung",
    credit_note: "Rechnungskorrektur",
    date: "Datum",
    order: "Bestellung",
    corrects: "Korrektur zu Rechnung",
    bill_to: "Rechnungsempfänger",
    sku: "Art.-Nr.",
    item: "Artikel",
    qty: "Menge",
    unit_price: "Einzelpreis",
    net: "Netto",
    tax: "USt.",
    total: "Gesamt",
    tax_rate: "USt.-Satz",
    total_due: "Rechnungsbetrag",
    total_credited: "Gutgeschrieben",
    vat_id: "USt-IdNr.",
    refund: "Erstattung",
    shipping: "Versandkosten",
    rate: "USt. %",
    page: "Seite",
    of: "von",
};

/// One table row.
struct Row {
    sku: String,
    name: String,
    quantity: i64,
    unit_price: Option<i64>,
    net: i64,
    rate_bp: i64,
    tax: i64,
    total: i64,
}

/// What an invoice and a credit note share on paper.
struct Doc<'a> {
    title: &'static str,
    number: &'a str,
    issued_at: DateTime<Utc>,
    order_id: String,
    corrects: Option<&'a str>,
    seller: Option<&'a Seller>,
    customer_name: &'a str,
    address: &'a Address,
    customer_vat_id: Option<&'a str>,
    currency: Currency,
    rows: Vec<Row>,
    tax_breakdown: &'a [TaxLine],
    subtotal: i64,
    tax: i64,
    total: i64,
    total_label: &'static str,
}

/// The invoice as PDF.
pub fn invoice(invoice: &Invoice, locale: &str) -> Vec<u8> {
    let lang = Lang::of_locale(locale);
    let rows = invoice
        .lines
        .iter()
        .map(|l| Row {
            sku: l.sku.clone().unwrap_or_default(),
            name: if l.shipping { lang.labels().shipping.to_owned() } else { l.name.clone() },
            quantity: l.quantity,
            unit_price: Some(l.unit_price),
            net: l.subtotal,
            rate_bp: l.tax_rate_bp,
            tax: l.tax,
            total: l.total,
        })
        .collect();
    render(
        &Doc {
            title: lang.labels().invoice,
            number: &invoice.number,
            issued_at: invoice.issued_at,
            order_id: invoice.order_id.to_string(),
            corrects: None,
            seller: invoice.seller.as_ref(),
            customer_name: &invoice.customer_name,
            address: &invoice.billing_address,
            customer_vat_id: invoice.customer_vat_id.as_deref(),
            currency: invoice.currency,
            rows,
            tax_breakdown: &invoice.tax_breakdown,
            subtotal: invoice.subtotal,
            tax: invoice.tax,
            total: invoice.total,
            total_label: lang.labels().total_due,
        },
        lang,
    )
}

/// The credit note as PDF.
pub fn credit_note(note: &CreditNote, locale: &str) -> Vec<u8> {
    let lang = Lang::of_locale(locale);
    let rows = note
        .lines
        .iter()
        .map(|l| Row {
            sku: l.sku.clone().unwrap_or_default(),
            // The shipping, or a credit by amount (which names no order
            // line: a refund), in the document's language.
            name: match (l.shipping, l.line) {
                (true, _) => lang.labels().shipping.to_owned(),
                (false, None) => lang.labels().refund.to_owned(),
                (false, Some(_)) => l.name.clone(),
            },
            quantity: l.quantity,
            unit_price: None,
            net: l.subtotal,
            rate_bp: l.tax_rate_bp,
            tax: l.tax,
            total: l.total,
        })
        .collect();
    render(
        &Doc {
            title: lang.labels().credit_note,
            number: &note.number,
            issued_at: note.issued_at,
            order_id: note.order_id.to_string(),
            corrects: Some(&note.invoice_number),
            seller: note.seller.as_ref(),
            customer_name: &note.customer_name,
            address: &note.billing_address,
            customer_vat_id: note.customer_vat_id.as_deref(),
            currency: note.currency,
            rows,
            tax_breakdown: &note.tax_breakdown,
            subtotal: note.subtotal,
            tax: note.tax,
            total: note.total,
            total_label: lang.labels().total_credited,
        },
        lang,
    )
}

/// `text` in WinAnsiEncoding (Windows-1252): what the standard fonts
/// print. A character it lacks becomes `?`.
pub fn win_ansi(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            ' '..='~' | '\u{A0}'..='\u{FF}' => c as u32 as u8,
            '€' => 0x80,
            '‚' => 0x82,
            'ƒ' => 0x83,
            '„' => 0x84,
            '…' => 0x85,
            '†' => 0x86,
            '‡' => 0x87,
            'ˆ' => 0x88,
            '‰' => 0x89,
            'Š' => 0x8A,
            '‹' => 0x8B,
            'Œ' => 0x8C,
            'Ž' => 0x8E,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '•' => 0x95,
            '–' => 0x96,
            '—' => 0x97,
            '˜' => 0x98,
            '™' => 0x99,
            'š' => 0x9A,
            '›' => 0x9B,
            'œ' => 0x9C,
            'ž' => 0x9E,
            'Ÿ' => 0x9F,
            _ => b'?',
        })
        .collect()
}

/// Whether `pdf`, as rendered here, shows `text` (within one string it
/// draws): the WinAnsi bytes as `pdf-writer` writes a string, literally
/// when they are ASCII and in hex otherwise. For checking documents.
pub fn shows(pdf: &[u8], text: &str) -> bool {
    let bytes = win_ansi(text);
    let needle: Vec<u8> =
        if bytes.is_ascii() { bytes } else { bytes.iter().flat_map(|b| format!("{b:02X}").into_bytes()).collect() };
    pdf.windows(needle.len()).any(|w| w == needle.as_slice())
}

/// Helvetica's advance widths (per 1000 units of the font size) of the
/// printable ASCII characters, from its Adobe font metrics; other
/// characters are taken as 556 (the width of a digit and of most
/// lower-case letters). Used to right-align amounts and to cut long names.
const HELVETICA_ASCII: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, // ' '..'/'
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, // '0'..'?'
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, // '@'..'O'
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, // 'P'..'_'
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, // '`'..'o'
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, // 'p'..'~'
];

/// The width of `text` in Helvetica at `size` points.
fn width(text: &str, size: f32) -> f32 {
    let units: u32 = text
        .chars()
        .map(|c| match c {
            ' '..='~' => u32::from(HELVETICA_ASCII[(c as usize) - 32]),
            _ => 556,
        })
        .sum();
    units as f32 * size / 1000.0
}

/// `text` cut (with `…`) to fit `max` points at `size`.
fn fit(text: &str, size: f32, max: f32) -> String {
    if width(text, size) <= max {
        return text.to_owned();
    }
    let mut cut = String::new();
    for c in text.chars() {
        cut.push(c);
        if width(&cut, size) + width("…", size) > max {
            cut.pop();
            break;
        }
    }
    cut.push('…');
    cut
}

const PAGE_WIDTH: f32 = 595.0;
const PAGE_HEIGHT: f32 = 842.0;
const LEFT: f32 = 50.0;
const RIGHT: f32 = 545.0;
const ROW: f32 = 14.0;
const TABLE_SIZE: f32 = 8.5;
/// The lowest a table row goes before the next page.
const BOTTOM: f32 = 90.0;
/// Right edges of the amount columns: quantity, unit price, net, tax, total.
/// The right edges of the quantity, unit price, net, rate, tax and total.
const COLUMNS: [f32; 6] = [268.0, 330.0, 392.0, 432.0, 487.0, RIGHT];

/// Text drawn on one page.
struct PageText {
    content: Content,
}

impl PageText {
    fn new() -> Self {
        Self { content: Content::new() }
    }

    fn text(&mut self, font: &[u8], size: f32, x: f32, y: f32, text: &str) {
        self.content.begin_text();
        self.content.set_font(Name(font), size);
        self.content.next_line(x, y);
        self.content.show(Str(&win_ansi(text)));
        self.content.end_text();
    }

    fn right(&mut self, font: &[u8], size: f32, right: f32, y: f32, text: &str) {
        self.text(font, size, right - width(text, size), y, text);
    }

    fn rule(&mut self, y: f32) {
        self.content.set_stroke_gray(0.6);
        self.content.set_line_width(0.5);
        self.content.move_to(LEFT, y);
        self.content.line_to(RIGHT, y);
        self.content.stroke();
    }
}

const REGULAR: &[u8] = b"F1";
const BOLD: &[u8] = b"F2";

fn table_header(page: &mut PageText, labels: &Labels, y: f32) {
    page.text(BOLD, TABLE_SIZE, LEFT, y, labels.sku);
    page.text(BOLD, TABLE_SIZE, 122.0, y, labels.item);
    let headers = [labels.qty, labels.unit_price, labels.net, labels.rate, labels.tax, labels.total];
    for (label, right) in headers.into_iter().zip(COLUMNS) {
        page.right(BOLD, TABLE_SIZE, right, y, label);
    }
    page.rule(y - 4.0);
}

/// An address as printed, one line each.
fn address_lines(a: &Address) -> Vec<String> {
    let mut lines = Vec::with_capacity(6);
    lines.extend(a.recipient.clone());
    lines.push(a.line1.clone());
    lines.extend(a.line2.clone());
    lines.push(match &a.postal_code {
        Some(code) => format!("{code} {}", a.city),
        None => a.city.clone(),
    });
    lines.extend(a.region.clone());
    lines.push(a.country.to_string());
    lines
}

fn render(doc: &Doc<'_>, lang: Lang) -> Vec<u8> {
    let labels = lang.labels();
    let money = |amount: i64| lang.money(amount, doc.currency);
    let mut pages: Vec<PageText> = Vec::new();

    // The first page: title, references, the customer's address.
    let mut page = PageText::new();
    let mut y = PAGE_HEIGHT - 70.0;
    page.text(BOLD, 20.0, LEFT, y, &format!("{} {}", doc.title, doc.number));
    y -= 24.0;
    page.text(REGULAR, 10.0, LEFT, y, &format!("{}: {}", labels.date, lang.date(doc.issued_at)));
    y -= 14.0;
    page.text(REGULAR, 10.0, LEFT, y, &format!("{}: {}", labels.order, doc.order_id));
    if let Some(invoice) = doc.corrects {
        y -= 14.0;
        page.text(REGULAR, 10.0, LEFT, y, &format!("{}: {invoice}", labels.corrects));
    }
    // The seller, top right, as the market names it.
    if let Some(seller) = doc.seller {
        let mut sy = PAGE_HEIGHT - 100.0;
        page.right(BOLD, 9.0, RIGHT, sy, &fit(&seller.legal_name, 9.0, 200.0));
        let mut lines = address_lines(&seller.address);
        lines.extend(seller.vat_id.as_ref().map(|id| format!("{}: {id}", labels.vat_id)));
        for line in lines {
            sy -= 11.0;
            page.right(REGULAR, 9.0, RIGHT, sy, &fit(&line, 9.0, 200.0));
        }
    }
    y -= 30.0;
    page.text(BOLD, 10.0, LEFT, y, labels.bill_to);
    let mut address = vec![doc.customer_name.to_owned()];
    address.extend(address_lines(doc.address));
    address.extend(doc.customer_vat_id.map(|id| format!("{}: {id}", labels.vat_id)));
    for line in address {
        y -= 13.0;
        page.text(REGULAR, 10.0, LEFT, y, &fit(&line, 10.0, 250.0));
    }

    // The lines, as many pages as they take.
    y -= 36.0;
    table_header(&mut page, labels, y);
    y -= ROW + 2.0;
    for row in &doc.rows {
        if y < BOTTOM {
            pages.push(page);
            page = PageText::new();
            y = PAGE_HEIGHT - 70.0;
            page.text(BOLD, 12.0, LEFT, y, &format!("{} {}", doc.title, doc.number));
            y -= 30.0;
            table_header(&mut page, labels, y);
            y -= ROW + 2.0;
        }
        page.text(REGULAR, TABLE_SIZE, LEFT, y, &fit(&row.sku, TABLE_SIZE, 68.0));
        page.text(REGULAR, TABLE_SIZE, 122.0, y, &fit(&row.name, TABLE_SIZE, 112.0));
        let amounts = [
            row.quantity.to_string(),
            row.unit_price.map(money).unwrap_or_default(),
            money(row.net),
            lang.percent(row.rate_bp),
            money(row.tax),
            money(row.total),
        ];
        for (text, right) in amounts.iter().zip(COLUMNS) {
            page.right(REGULAR, TABLE_SIZE, right, y, text);
        }
        y -= ROW;
    }

    // The tax breakdown and totals, on a new page if they do not fit.
    let needed = 30.0 + ROW * (doc.tax_breakdown.len() as f32 + 4.0);
    if y - needed < 50.0 {
        pages.push(page);
        page = PageText::new();
        y = PAGE_HEIGHT - 70.0;
    }
    page.rule(y + ROW - 4.0);
    y -= 10.0;
    page.text(BOLD, 9.0, 300.0, y, labels.tax_rate);
    page.right(BOLD, 9.0, 430.0, y, labels.net);
    page.right(BOLD, 9.0, RIGHT, y, labels.tax);
    for tax in doc.tax_breakdown {
        y -= ROW;
        page.text(REGULAR, 9.0, 300.0, y, &lang.percent(tax.rate_bp));
        page.right(REGULAR, 9.0, 430.0, y, &money(tax.net));
        page.right(REGULAR, 9.0, RIGHT, y, &money(tax.tax));
    }
    y -= ROW + 6.0;
    page.text(REGULAR, 10.0, 300.0, y, labels.net);
    page.right(REGULAR, 10.0, RIGHT, y, &money(doc.subtotal));
    y -= ROW;
    page.text(REGULAR, 10.0, 300.0, y, labels.tax);
    page.right(REGULAR, 10.0, RIGHT, y, &money(doc.tax));
    y -= ROW + 4.0;
    page.text(BOLD, 11.0, 300.0, y, doc.total_label);
    page.right(BOLD, 11.0, RIGHT, y, &money(doc.total));
    pages.push(page);

    // The document: catalog, page tree, fonts, pages with their footers.
    let mut pdf = Pdf::new();
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let regular = Ref::new(3);
    let bold = Ref::new(4);
    let info = Ref::new(5);
    let first_page = 6;
    let count = pages.len() as i32;
    let page_ids: Vec<Ref> = (0..count).map(|i| Ref::new(first_page + 2 * i)).collect();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree).kids(page_ids.iter().copied()).count(count);
    pdf.type1_font(regular).base_font(Name(b"Helvetica")).encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.type1_font(bold).base_font(Name(b"Helvetica-Bold")).encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.document_info(info).title(TextStr(&format!("{} {}", doc.title, doc.number))).producer(TextStr("Ordo"));
    for (i, mut page) in pages.into_iter().enumerate() {
        let footer = format!("{} {} · {} {} {} {count}", doc.title, doc.number, labels.page, i + 1, labels.of);
        page.right(REGULAR, 8.0, RIGHT, 40.0, &footer);
        let id = page_ids[i];
        let content_id = Ref::new(id.get() + 1);
        let mut writer = pdf.page(id);
        writer.media_box(Rect::new(0.0, 0.0, PAGE_WIDTH, PAGE_HEIGHT));
        writer.parent(tree);
        writer.contents(content_id);
        let mut resources = writer.resources();
        let mut fonts = resources.fonts();
        fonts.pair(Name(REGULAR), regular);
        fonts.pair(Name(BOLD), bold);
        fonts.finish();
        resources.finish();
        writer.finish();
        pdf.stream(content_id, &page.content.finish());
    }
    pdf.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_dates_and_rates_read_as_each_language_writes_them() {
        let eur = Currency::parse("EUR").unwrap();
        assert_eq!(Lang::En.money(123_456_789, eur), "€1,234,567.89");
        assert_eq!(Lang::De.money(123_456_789, eur), "1.234.567,89 €");
        assert_eq!(Lang::De.money(-150, eur), "-1,50 €");
        assert_eq!(Lang::En.money(5, eur), "€0.05");
        let chf = Currency::parse("CHF").unwrap();
        assert_eq!(Lang::En.money(100_000, chf), "CHF 1,000.00");
        assert_eq!(Lang::De.money(100_000, chf), "1.000,00 CHF");
        assert_eq!(Lang::De.money(1500, Currency::parse("JPY").unwrap()), "1.500 ¥");
        let at = "2026-12-03T10:00:00Z".parse().unwrap();
        assert_eq!(Lang::En.date(at), "3 December 2026");
        assert_eq!(Lang::De.date(at), "03.12.2026");
        assert_eq!((Lang::En.percent(1900), Lang::De.percent(1900)), ("19%".to_owned(), "19 %".to_owned()));
        assert_eq!((Lang::En.percent(750), Lang::De.percent(750)), ("7.5%".to_owned(), "7,5 %".to_owned()));
        assert_eq!(Lang::of_locale("de-AT"), Lang::De);
        assert_eq!(Lang::of_locale("en-GB"), Lang::En);
        assert_eq!(Lang::of_locale("fr-FR"), Lang::En);
    }

    #[test]
    fn many_lines_take_as_many_pages_each_with_its_footer() {
        let lines: Vec<serde_json::Value> = (1..=120)
            .map(|n| serde_json::json!({"sku": format!("SKU-{n}"), "name": "Tee", "quantity": 1, "unit_price": 1000, "subtotal": 1000, "tax_rate_bp": 1900, "tax": 190, "total": 1190}))
            .collect();
        let invoice: Invoice = serde_json::from_value(serde_json::json!({
            "id": uuid::Uuid::now_v7(), "number": "INV-DE-2026-000042", "order_id": uuid::Uuid::now_v7(),
            "market": "DE", "currency": "EUR", "issued_at": "2026-12-03T10:00:00Z",
            "customer_name": "Jürgen Groß", "customer_email": "j@example.com",
            "billing_address": {"line1": "Hauptstraße 1", "city": "Berlin", "country": "DE"},
            "lines": lines, "tax_breakdown": [{"rate_bp": 1900, "net": 120_000, "tax": 22_800}],
            "subtotal": 120_000, "tax": 22_800, "total": 142_800
        }))
        .unwrap();
        let pdf = super::invoice(&invoice, "en-GB");
        let text = String::from_utf8_lossy(&pdf);
        assert!(text.starts_with("%PDF-"));
        assert!(text.contains("/Count 3"), "120 lines take three pages");
        for page in 1..=3 {
            assert!(shows(&pdf, &format!("Invoice INV-DE-2026-000042 · Page {page} of 3")), "page {page}'s footer");
        }
        assert!(!shows(&pdf, "Page 4 of 3"));
        assert!(shows(&pdf, "SKU-1") && shows(&pdf, "SKU-120"), "every line is on a page");
        assert!(shows(&pdf, "Jürgen Groß") && shows(&pdf, "€1,428.00"));
    }

    #[test]
    fn text_is_win_ansi_and_long_names_are_cut() {
        assert_eq!(win_ansi("Grüße €5 – 日"), b"Gr\xfc\xdfe \x805 \x96 ?");
        let cut = fit(&"W".repeat(100), 10.0, 100.0);
        assert!(cut.ends_with('…') && width(&cut, 10.0) <= 100.0, "{cut}");
        assert_eq!(fit("Tee", 10.0, 100.0), "Tee");
    }
}
