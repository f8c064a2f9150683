//! What the HTTP API records in the audit trail for a write: who (the API
//! user and the client address), what (worklist item or user, the fields
//! sent) and the status (or role) before and after.

use super::users::User;
use crate::audit::record::{Action, Patient, Via, Write};
use crate::audit::Audit;
use crate::store::api_items::{ApiItem, FIELDS, STATUS};
use serde_json::Value;
use std::net::SocketAddr;

/// The keys of a request body (the fields a write set; never their values).
pub fn fields_of(body: &Value) -> Vec<String> {
    body.as_object()
        .map(|object| object.keys().cloned().collect())
        .unwrap_or_default()
}

/// Records a worklist write by `user` from `peer`; `before` is `None` for a
/// creation, `after` for a deletion.
pub fn worklist_write(
    audit: &Audit,
    (user, peer): (&str, SocketAddr),
    action: Action,
    fields: Vec<String>,
    before: Option<&ApiItem>,
    after: Option<&ApiItem>,
) {
    let Some(item) = after.or(before) else {
        return;
    };
    audit.write(Write {
        via: Via::Http,
        user: user.to_string(),
        address: Some(peer.ip().to_string()),
        target: "worklist_item".into(),
        action,
        id: item.id.to_string(),
        fields,
        status_before: before.and_then(|i| value(i, STATUS)),
        status_after: after.and_then(|i| value(i, STATUS)),
        patients: value(item, "patient_id")
            .map(|id| Patient {
                id,
                name: value(item, "patient_name"),
            })
            .into_iter()
            .collect(),
    });
}

/// Records a users-database write by `admin` from `peer`; the "status" of a
/// user is its role, and `inactive` when deactivated.
pub fn user_write(
    audit: &Audit,
    (admin, peer): (&str, SocketAddr),
    action: Action,
    fields: Vec<String>,
    before: Option<&User>,
    after: Option<&User>,
) {
    let Some(user) = after.or(before) else {
        return;
    };
    audit.write(Write {
        via: Via::Http,
        user: admin.to_string(),
        address: Some(peer.ip().to_string()),
        target: "user".into(),
        action,
        id: user.username.clone(),
        fields,
        status_before: before.map(user_status),
        status_after: after.map(user_status),
        patients: Vec::new(),
    });
}

/// A user's role, with `(inactive)` when it cannot log in.
pub fn user_status(user: &User) -> String {
    let role = user.role.as_api();
    if user.is_active {
        role.to_string()
    } else {
        format!("{role} (inactive)")
    }
}

fn value(item: &ApiItem, field: &str) -> Option<String> {
    let index = FIELDS.iter().position(|f| *f == field)?;
    item.values.get(index).cloned().flatten()
}
