//! The four conditions for an outcome, with `lastTransitionTime` kept unless a status flips.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::api::conditions::{FAILED, READY, RECONCILING, Reason, STALLED};

/// `(Ready, Reconciling, Failed, Stalled)` for a reason.
fn statuses(reason: Reason) -> [bool; 4] {
    match reason {
        Reason::JobSucceeded => [true, false, false, false],
        Reason::JobFailed | Reason::DeadlineExceeded => [false, false, true, true],
        other if other.needs_a_person() => [false, false, false, true],
        _ => [false, true, false, false],
    }
}

/// Finds a condition by type.
pub fn condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|condition| condition.type_ == type_)
}

/// The conditions to write for `reason`, keeping each `lastTransitionTime` that did not flip.
pub(super) fn for_outcome(
    previous: Option<&[Condition]>,
    reason: Reason,
    message: &str,
    generation: Option<i64>,
    now: jiff::Timestamp,
) -> Vec<Condition> {
    let types = [READY, RECONCILING, FAILED, STALLED];
    types
        .iter()
        .zip(statuses(reason))
        .map(|(type_, value)| {
            let status = if value { "True" } else { "False" }.to_owned();
            let last_transition_time = previous
                .and_then(|conditions| condition(conditions, type_))
                .filter(|old| old.status == status)
                .map(|old| old.last_transition_time.clone())
                .unwrap_or(Time(now));
            Condition {
                type_: (*type_).to_owned(),
                status,
                reason: reason.as_str().to_owned(),
                message: message.to_owned(),
                observed_generation: generation,
                last_transition_time,
            }
        })
        .collect()
}
