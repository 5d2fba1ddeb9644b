//! `ImportRepo`: the `imports` and `import_errors` tables; with the bulk
//! lookups and inserts imports apply rows through.

use ordo_domain::Email;
use ordo_domain::audit::{AuditEvent, AuditFilter};
use ordo_domain::import::{
    BadRows, Import, ImportCounts, ImportFormat, ImportKind, ImportStage, ImportStatus, RowError,
};
use ordo_domain::page::PageRequest;
use ordo_testkit::store::StoreCtx;

use crate::fixtures::{audit_event, customer};

fn import(t: &StoreCtx, kind: ImportKind, dry_run: bool, at: i64) -> Import {
    Import {
        id: t.id(),
        kind,
        format: ImportFormat::Csv,
        dry_run,
        bad_rows: BadRows::Skip,
        status: ImportStatus::Running,
        stage: ImportStage::first(dry_run, BadRows::Skip),
        sha256: "cd".repeat(32),
        size: 4_096,
        rows: 250,
        chunk_rows: 100,
        counts: ImportCounts::default(),
        progress: 0,
        file_key: "imports/x/source.csv".to_owned(),
        error: None,
        created_by: "contract".to_owned(),
        created_at: t.at(at),
        finished_at: None,
    }
}

fn row_error(row: i64, field: &str) -> RowError {
    RowError { row, field: field.to_owned(), code: "required".to_owned(), message: format!("{field} is required") }
}

async fn imports_round_trip_advance_once_per_chunk_and_are_found_by_file(t: &StoreCtx) {
    let mut s = t.begin().await;
    let first = import(t, ImportKind::Products, false, 1);
    assert!(s.insert_import(&first).await.unwrap());
    assert_eq!(s.import(first.id).await.unwrap().as_ref(), Some(&first), "every field round-trips");
    // The same file again, while the first runs: refused, nothing written.
    let again = import(t, ImportKind::Products, false, 2);
    assert!(!s.insert_import(&again).await.unwrap());
    assert_eq!(s.import(again.id).await.unwrap(), None);
    // A dry run, or another kind, of the same file is another import.
    let dry = import(t, ImportKind::Products, true, 3);
    let stock = import(t, ImportKind::Stock, false, 4);
    assert!(s.insert_import(&dry).await.unwrap());
    assert!(s.insert_import(&stock).await.unwrap());
    let found = s.import_by_file(ImportKind::Products, &first.sha256, false).await.unwrap();
    assert_eq!(t.record("by file", found.map(|i| i.id)), Some(first.id));
    assert_eq!(s.import_by_file(ImportKind::Products, &first.sha256, true).await.unwrap().map(|i| i.id), Some(dry.id));
    assert_eq!(s.import_by_file(ImportKind::Customers, &first.sha256, false).await.unwrap(), None);
    let newest = s.imports(None, 2).await.unwrap();
    assert_eq!(t.record("newest", newest.iter().map(|i| i.id).collect::<Vec<_>>()), [stock.id, dry.id]);
    assert_eq!(s.imports(Some(dry.id), 10).await.unwrap().iter().map(|i| i.id).collect::<Vec<_>>(), [first.id]);

    // A chunk settles once: from where the import stood.
    let counts = ImportCounts { rows_done: 100, created: 90, updated: 5, unchanged: 2, rejected: 3 };
    assert!(s.advance_import(first.id, 0, &counts, 40).await.unwrap());
    assert!(!s.advance_import(first.id, 0, &counts, 40).await.unwrap(), "that chunk was done");
    let advanced = s.import(first.id).await.unwrap().unwrap();
    assert_eq!(t.record("advanced", (advanced.counts, advanced.progress)), (counts, 40));

    // Row errors, in row order, each row's numbered from 0, paged after (row, position).
    let errors = [row_error(7, "sku"), row_error(7, "name"), row_error(3, ""), row_error(12, "price_EUR")];
    s.insert_import_errors(first.id, &errors).await.unwrap();
    s.insert_import_errors(first.id, &[]).await.unwrap();
    let all = s.import_errors(first.id, (0, -1), 10).await.unwrap();
    assert_eq!(
        t.record("errors", &all),
        &vec![(0, errors[2].clone()), (0, errors[0].clone()), (1, errors[1].clone()), (0, errors[3].clone())]
    );
    assert_eq!(s.import_errors(first.id, (7, 0), 10).await.unwrap(), all[2..].to_vec());
    assert_eq!(s.import_errors(first.id, (0, -1), 1).await.unwrap(), all[..1].to_vec());
    assert!(s.import_errors(dry.id, (0, -1), 10).await.unwrap().is_empty());

    // It ends once; then takes no chunk, and the same file can come again.
    assert!(s.finish_import(first.id, ImportStatus::Cancelled, None, t.at(20)).await.unwrap());
    assert!(!s.finish_import(first.id, ImportStatus::Failed, Some("late"), t.at(21)).await.unwrap());
    assert!(!s.advance_import(first.id, 100, &counts, 80).await.unwrap(), "a cancelled import takes no chunk");
    let ended = s.import(first.id).await.unwrap().unwrap();
    assert_eq!(
        t.record("ended", (ended.status, ended.finished_at, ended.progress)),
        (ImportStatus::Cancelled, Some(t.at(20)), 40)
    );
    assert_eq!(s.import_by_file(ImportKind::Products, &first.sha256, false).await.unwrap(), None);
    assert!(s.insert_import(&again).await.unwrap(), "a cancelled file can be imported again");
    assert!(s.finish_import(again.id, ImportStatus::Succeeded, None, t.at(30)).await.unwrap());
    assert_eq!(s.import(again.id).await.unwrap().unwrap().progress, 100, "a succeeded import is done");
    s.commit().await.unwrap();
}

async fn an_import_that_refuses_bad_rows_checks_then_applies_from_the_first_row(t: &StoreCtx) {
    let mut s = t.begin().await;
    let refusing = Import {
        bad_rows: BadRows::Refuse,
        stage: ImportStage::first(false, BadRows::Refuse),
        ..import(t, ImportKind::Customers, false, 1)
    };
    assert_eq!(refusing.stage, ImportStage::Checking);
    assert!(s.insert_import(&refusing).await.unwrap());
    assert_eq!(s.import(refusing.id).await.unwrap().as_ref(), Some(&refusing), "mode and stage round-trip");
    let checked = ImportCounts { rows_done: 250, created: 200, updated: 40, unchanged: 10, rejected: 0 };
    assert!(s.advance_import(refusing.id, 0, &checked, 50).await.unwrap());
    // Checked: the counts start over for applying, progress stays.
    assert!(s.start_applying_import(refusing.id).await.unwrap());
    assert!(!s.start_applying_import(refusing.id).await.unwrap(), "it applies once");
    let applying = s.import(refusing.id).await.unwrap().unwrap();
    assert_eq!(
        t.record("applying", (applying.stage, applying.counts, applying.progress)),
        (ImportStage::Applying, ImportCounts::default(), 50)
    );
    assert!(s.advance_import(refusing.id, 0, &checked, 100).await.unwrap(), "from the first row");
    // A dry run only checks; an ended import applies nothing.
    let dry = Import { bad_rows: BadRows::Refuse, ..import(t, ImportKind::Stock, true, 2) };
    assert!(s.insert_import(&dry).await.unwrap());
    assert!(!s.start_applying_import(dry.id).await.unwrap(), "a dry run never applies");
    let failed =
        Import { bad_rows: BadRows::Refuse, stage: ImportStage::Checking, ..import(t, ImportKind::Products, false, 3) };
    assert!(s.insert_import(&failed).await.unwrap());
    assert!(s.finish_import(failed.id, ImportStatus::Failed, Some("bad rows"), t.at(4)).await.unwrap());
    assert!(!s.start_applying_import(failed.id).await.unwrap(), "a failed import never applies");
    s.commit().await.unwrap();
}

async fn customers_are_found_by_email_and_audit_events_insert_in_bulk(t: &StoreCtx) {
    let mut s = t.begin().await;
    let ann = customer(t, "ann@example.com", 1);
    let bob = customer(t, "bob@example.com", 2);
    s.insert_customers(&[ann.clone(), bob.clone()]).await.unwrap();
    let email = |e: &str| Email::parse(e).unwrap();
    let found = s.customers_by_email(&[email("ann@example.com"), email("cy@example.com")]).await.unwrap();
    assert_eq!(t.record("by email", &found), &vec![ann.clone()]);
    assert!(s.customers_by_email(&[]).await.unwrap().is_empty());

    let events: Vec<AuditEvent> = (0..1_200).map(|i| audit_event(t, "product", &format!("p{i}"), i)).collect();
    s.insert_audit_events(&events).await.unwrap();
    s.insert_audit_events(&[]).await.unwrap();
    let listed =
        s.list_audit_events(&AuditFilter::default(), &PageRequest { limit: 1_500, after: None }).await.unwrap();
    assert_eq!(listed, events, "every event, every field, past the multi-row insert's batch");
    t.record("bulk audit events", listed.len());
    s.commit().await.unwrap();
}

ordo_testkit::store_tests!(
    imports_round_trip_advance_once_per_chunk_and_are_found_by_file,
    an_import_that_refuses_bad_rows_checks_then_applies_from_the_first_row,
    customers_are_found_by_email_and_audit_events_insert_in_bulk,
);
