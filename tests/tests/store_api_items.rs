//! The HTTP API's `/worklist` listing, on both stores: one page of the
//! items passing the filters, in id order, the same on SQLite and
//! PostgreSQL.

use pylantir::store::api_items::{self, ListFilter, STATUS};
use pylantir_tests::stores::Backend;

/// Creates items of these (patient id, modality, status), in this order.
fn create_items(backend: &Backend, items: &[(&str, &str, &str)]) {
    let conn = backend.conn();
    for (patient_id, modality, status) in items {
        let fields = [
            ("patient_name", Some(format!("{patient_id}^TEST"))),
            ("patient_id", Some(patient_id.to_string())),
            ("modality", Some(modality.to_string())),
            (STATUS, Some(status.to_string())),
        ];
        api_items::create(&conn, &fields, "tester")
            .expect("sql")
            .expect("created");
    }
}

fn patient_ids(backend: &Backend, filter: ListFilter) -> Vec<String> {
    api_items::list(&backend.conn(), &filter)
        .expect("list")
        .into_iter()
        .map(|item| item.values[2].clone().unwrap_or_default())
        .collect()
}

fn a_page_holds_the_filtered_items_in_id_order(backend: Backend) {
    create_items(
        &backend,
        &[
            ("P1", "MR", "SCHEDULED"),
            ("P2", "CT", "COMPLETED"),
            ("P3", "MR", "IN_PROGRESS"),
            ("P4", "MR", "SCHEDULED"),
            ("P5", "CT", "SCHEDULED"),
            ("P6", "MR", "DISCONTINUED"),
            ("P7", "MR", "SCHEDULED"),
        ],
    );
    let scheduled_or_in_progress = || ListFilter {
        statuses: vec!["SCHEDULED".into(), "IN_PROGRESS".into()],
        limit: 100,
        ..ListFilter::default()
    };
    assert_eq!(
        patient_ids(&backend, scheduled_or_in_progress()),
        ["P1", "P3", "P4", "P5", "P7"]
    );
    assert_eq!(
        patient_ids(
            &backend,
            ListFilter {
                limit: 2,
                offset: 1,
                ..scheduled_or_in_progress()
            }
        ),
        ["P3", "P4"]
    );
    assert_eq!(
        patient_ids(
            &backend,
            ListFilter {
                modality: Some("MR".into()),
                offset: 3,
                ..scheduled_or_in_progress()
            }
        ),
        ["P7"]
    );
    assert_eq!(
        patient_ids(
            &backend,
            ListFilter {
                limit: 100,
                ..ListFilter::default()
            }
        ),
        ["P1", "P2", "P3", "P4", "P5", "P6", "P7"]
    );
    assert!(patient_ids(
        &backend,
        ListFilter {
            limit: 0,
            ..scheduled_or_in_progress()
        }
    )
    .is_empty());
}

pylantir_tests::both_stores!(a_page_holds_the_filtered_items_in_id_order);
