//! The enhanced-privacy rules (tessera-api §7.5), kept apart from the flows that apply them.

use std::collections::BTreeSet;

use cloister_core::enclave::AffectedTransaction;
use cloister_core::keys::PublicKey;
use cloister_core::payload::{EncodedPayload, PrivacyMode};
use cloister_protocol::version;

use super::{PrivacyRequest, TransactionError};

/// Tessera's message when enhanced privacy is off.
pub const NOT_ENABLED: &str = "Enhanced Privacy is not enabled";

fn violation(message: String) -> TransactionError {
    TransactionError::PrivacyViolation(message)
}

/// The checks of `/send` and `/sendsignedtx`, in Tessera's order.
pub fn check_send(
    request: &PrivacyRequest,
    recipients: &[PublicKey],
    affected: &[AffectedTransaction],
    enhancements_enabled: bool,
) -> Result<(), TransactionError> {
    let mode = request.mode;
    if mode != PrivacyMode::StandardPrivate && !enhancements_enabled {
        return Err(violation(NOT_ENABLED.into()));
    }
    let recipient_set: BTreeSet<&PublicKey> = recipients.iter().collect();
    if mode == PrivacyMode::MandatoryRecipients
        && !request
            .mandatory_recipients
            .iter()
            .all(|key| recipient_set.contains(key))
    {
        return Err(violation(
            "One or more mandatory recipients not included in the participant list".into(),
        ));
    }
    for tx in affected {
        let theirs: BTreeSet<&PublicKey> = tx.payload.recipient_keys.iter().collect();
        if mode == PrivacyMode::PrivateStateValidation && theirs != recipient_set {
            return Err(violation(format!(
                "Recipients mismatched for Affected Txn {}",
                tx.hash
            )));
        }
        let mandatory_ok = mode != PrivacyMode::MandatoryRecipients
            || tx
                .payload
                .mandatory_recipients
                .is_subset(&request.mandatory_recipients);
        if tx.payload.privacy_mode != mode || !mandatory_ok {
            return Err(violation(format!(
                "Privacy metadata mismatched with Affected Txn {}",
                tx.hash
            )));
        }
    }
    check_metadata(request)
}

/// The consistency rules of a payload's metadata. Tessera answers 500 for these; they are the
/// client's mistake, so Cloister answers 400.
fn check_metadata(request: &PrivacyRequest) -> Result<(), TransactionError> {
    let psv = request.mode == PrivacyMode::PrivateStateValidation;
    if psv == request.exec_hash.is_empty() {
        return Err(TransactionError::BadRequest(
            "ExecutionHash data is invalid".into(),
        ));
    }
    let mr = request.mode == PrivacyMode::MandatoryRecipients;
    if mr == request.mandatory_recipients.is_empty() {
        return Err(TransactionError::BadRequest(
            "Mandatory recipients data only applicable for Mandatory Recipients privacy mode. In case no mandatory recipient is required, consider using Party Protection privacy mode".into(),
        ));
    }
    Ok(())
}

/// Whether a recipient node's advertised versions allow this payload (checked before anything
/// is stored or pushed).
pub fn check_recipient_supports(
    payload: &EncodedPayload,
    recipient: &PublicKey,
    versions: &[String],
) -> Result<(), TransactionError> {
    let has = |v: &str| versions.iter().any(|x| x == v);
    if payload.privacy_mode != PrivacyMode::StandardPrivate && !has(version::V2) {
        return Err(violation(format!(
            "Transactions with enhanced privacy is not currently supported on recipient {recipient}"
        )));
    }
    if payload.privacy_mode == PrivacyMode::MandatoryRecipients && !has(version::V4_0) {
        return Err(violation(format!(
            "Transactions with mandatory recipients are not currently supported on recipient {recipient}"
        )));
    }
    if payload.privacy_group_id.is_some() && !has(version::V3_0) {
        return Err(violation(format!(
            "Transactions with privacy group is not currently supported on recipient {recipient}"
        )));
    }
    Ok(())
}
