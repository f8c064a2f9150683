//! The HTTP API's `/worklist` listing, on both stores: one page of the
//! items passing the filters, in id order, the same on SQLite and
//! PostgreSQL, each written as the single-item routes write it.

use pylantir::store::api_items::{self, ListFilter, STATUS};
use pylantir_tests::stores::Backend;
use serde_json::Value;

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

/// The page `filter` selects, as parsed JSON.
fn page(backend: &Backend, filter: &ListFilter) -> Vec<Value> {
    let json = api_items::list_json(&backend.conn(), filter).expect("list");
    serde_json::from_slice(&json).expect("a JSON array")
}

fn patient_ids(backend: &Backend, filter: ListFilter) -> Vec<String> {
    page(backend, &filter)
        .iter()
        .map(|item| item["patient_id"].as_str().unwrap_or_default().to_string())
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

fn a_listed_item_is_written_as_the_item_routes_write_it(backend: Backend) {
    let conn = backend.conn();
    let fields = [
        ("patient_name", Some("Ünïcode^Quote \"Q\"".to_string())),
        ("patient_id", Some("P\\1\n".to_string())),
        ("patient_weight_lb", Some("70".to_string())),
        ("modality", None),
        (STATUS, Some("SCHEDULED".to_string())),
    ];
    let created = api_items::create(&conn, &fields, "tester")
        .expect("sql")
        .expect("created");
    let listed = page(
        &backend,
        &ListFilter {
            limit: 10,
            ..ListFilter::default()
        },
    );
    let single = api_items::get(&conn, created.id)
        .expect("sql")
        .expect("found");
    assert_eq!(listed, [serde_json::to_value(&single).expect("json")]);
    let keys: Vec<&String> = listed[0].as_object().expect("an object").keys().collect();
    let mut expected = vec!["id"];
    expected.extend(api_items::FIELDS);
    assert_eq!(keys, expected, "Python's key order");
    assert_eq!(listed[0]["patient_name"], "Ünïcode^Quote \"Q\"");
    assert_eq!(listed[0]["modality"], Value::Null);
}

pylantir_tests::both_stores!(
    a_page_holds_the_filtered_items_in_id_order,
    a_listed_item_is_written_as_the_item_routes_write_it,
);
