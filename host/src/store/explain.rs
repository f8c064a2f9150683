//! Why an item is (not) in a C-FIND answer: the SCP's own filter
//! ([`super::find::WorklistFilter`]) split into one filter per constraint,
//! each run by the same query ([`super::find::for_each_item`]), so an
//! explanation can never disagree with what the SCP matches.

use super::db::{Db, DbResult};
use super::find::{for_each_item, Range, Text, WorklistFilter};
use std::collections::HashSet;
use std::ops::ControlFlow;

/// Sets one text key of a filter.
type SetText = fn(&mut WorklistFilter, Option<Text>);

/// One constraint of a filter, alone.
pub struct Check {
    /// The key or rule (`PatientName`, `visible statuses`, ...).
    pub name: &'static str,
    /// What it asks, in words.
    pub wants: String,
    filter: WorklistFilter,
}

fn text(value: &Text) -> String {
    match value {
        Text::Exact(v) => format!("exactly {v:?}"),
        Text::Wildcard(v) => format!("wildcard {v:?}"),
    }
}

fn range(value: &Range<String>) -> String {
    format!(
        "range {} to {}",
        value.lower.as_deref().unwrap_or("(open)"),
        value.upper.as_deref().unwrap_or("(open)")
    )
}

/// The ids of every item `filter` matches.
pub fn matching_ids(db: &dyn Db, filter: &WorklistFilter) -> DbResult<HashSet<i64>> {
    let mut ids = HashSet::new();
    for_each_item(db, filter, |row| {
        ids.insert(row.id);
        ControlFlow::Continue(())
    })?;
    Ok(ids)
}

/// `filter`'s constraints, one filter each; every stored status and retracted
/// items are visible in each but the status and retraction checks, so each
/// fails for its own reason only.
pub fn checks(db: &dyn Db, filter: &WorklistFilter) -> DbResult<Vec<Check>> {
    let mut all: Vec<String> = db
        .query(
            "SELECT DISTINCT COALESCE(performed_procedure_step_status, 'SCHEDULED') \
             FROM worklist_items",
            &[],
        )?
        .iter()
        .filter_map(|row| row.text(0))
        .collect();
    all.push("SCHEDULED".into());
    let base = WorklistFilter {
        visible_statuses: all,
        default_station_aet: filter.default_station_aet.clone(),
        include_retracted: true,
        ..WorklistFilter::default()
    };
    let mut checks = Vec::new();
    let mut add = |name: &'static str, wants: String, set: &dyn Fn(&mut WorklistFilter)| {
        let mut one = base.clone();
        set(&mut one);
        checks.push(Check {
            name,
            wants,
            filter: one,
        });
    };
    add(
        "retracted",
        "an item its source still returns".to_string(),
        &|f| f.include_retracted = false,
    );
    add(
        "status not visible",
        format!("status one of {:?}", filter.visible_statuses),
        &|f| f.visible_statuses = filter.visible_statuses.clone(),
    );
    if !filter.windows.is_empty() {
        let windows: Vec<String> = filter
            .windows
            .iter()
            .map(|w| {
                format!(
                    "{}: {} {} to {} {}",
                    w.source, w.from.0, w.from.1, w.to.0, w.to.1
                )
            })
            .collect();
        add("visibility window", windows.join("; "), &|f| {
            f.windows = filter.windows.clone()
        });
    }
    let texts: [(&'static str, &Option<Text>, SetText); 10] = [
        ("PatientName", &filter.patient_name, |f, v| {
            f.patient_name = v
        }),
        ("PatientID", &filter.patient_id, |f, v| f.patient_id = v),
        ("PatientSex", &filter.patient_sex, |f, v| f.patient_sex = v),
        ("AccessionNumber", &filter.accession_number, |f, v| {
            f.accession_number = v
        }),
        (
            "RequestedProcedureID",
            &filter.requested_procedure_id,
            |f, v| f.requested_procedure_id = v,
        ),
        (
            "ReferringPhysicianName",
            &filter.referring_physician,
            |f, v| f.referring_physician = v,
        ),
        ("ScheduledStationAETitle", &filter.station_aet, |f, v| {
            f.station_aet = v
        }),
        ("Modality", &filter.modality, |f, v| f.modality = v),
        (
            "ScheduledPerformingPhysicianName",
            &filter.performing_physician,
            |f, v| f.performing_physician = v,
        ),
        ("ScheduledProcedureStepID", &filter.sps_id, |f, v| {
            f.sps_id = v
        }),
    ];
    for (name, value, set) in texts {
        if let Some(value) = value {
            add(name, text(value), &|f| set(f, Some(value.clone())));
        }
    }
    if let Some(uids) = &filter.study_uids {
        add("StudyInstanceUID", format!("one of {uids:?}"), &|f| {
            f.study_uids = Some(uids.clone())
        });
    }
    if let Some(statuses) = &filter.sps_status {
        add(
            "ScheduledProcedureStepStatus",
            format!("one of {statuses:?}"),
            &|f| f.sps_status = Some(statuses.clone()),
        );
    }
    if let Some(birth) = &filter.birth_date {
        add("PatientBirthDate", range(birth), &|f| {
            f.birth_date = Some(birth.clone())
        });
    }
    if filter.sps_date.is_some() || filter.sps_time.is_some() {
        let wants = [("date", &filter.sps_date), ("time", &filter.sps_time)]
            .iter()
            .filter_map(|(what, r)| r.as_ref().map(|r| format!("{what} {}", range(r))))
            .collect::<Vec<_>>()
            .join(", ");
        add("ScheduledProcedureStepStartDate/Time", wants, &|f| {
            f.sps_date = filter.sps_date.clone();
            f.sps_time = filter.sps_time.clone();
        });
    }
    Ok(checks)
}

impl Check {
    /// The ids of the items this constraint alone lets through.
    pub fn passing(&self, db: &dyn Db) -> DbResult<HashSet<i64>> {
        matching_ids(db, &self.filter)
    }
}

/// The ids of the items of a patient, in id order.
pub fn ids_of_patient(db: &dyn Db, patient_id: &str) -> DbResult<Vec<i64>> {
    Ok(db
        .query(
            "SELECT id FROM worklist_items WHERE patient_id = ?1 ORDER BY id",
            &[patient_id.into()],
        )?
        .iter()
        .filter_map(|row| row.int(0))
        .collect())
}

/// Whether an item with this id exists.
pub fn exists(db: &dyn Db, id: i64) -> DbResult<bool> {
    Ok(db
        .query_row("SELECT 1 FROM worklist_items WHERE id = ?1", &[id.into()])?
        .is_some())
}
