//! Privacy groups: `/groups/{type}`, `/createPrivacyGroup`, `/findPrivacyGroup`,
//! `/retrievePrivacyGroup`, `/deletePrivacyGroup`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use cloister_core::privacy_group::{GroupState, GroupType, PrivacyGroup, PrivacyGroupId};

use crate::api::body::{PrivacyGroupRequest, PrivacyGroupResponse};
use crate::api::error::ApiError;
use crate::api::media::MediaType;
use crate::api::response::Answer;
use crate::api::{input, response, AppState};
use crate::transaction::privacy_groups::NewGroup;

/// `GET /groups/{type}`: the active groups of a type; `resident` ones come from the config.
pub async fn list(State(state): State<AppState>, Path(group_type): Path<String>) -> Answer {
    let wanted = match group_type.to_ascii_lowercase().as_str() {
        "legacy" => GroupType::Legacy,
        "pantheon" => GroupType::Pantheon,
        "resident" => GroupType::Resident,
        _ => {
            return Err(ApiError::bad_request(
                "group type must be legacy, pantheon or resident",
            ))
        }
    };
    let groups: Vec<PrivacyGroup> = if wanted == GroupType::Resident {
        if !state.features.enable_multiple_private_states {
            return Err(ApiError::MultiplePrivateStatesDisabled);
        }
        state.resident_groups.as_ref().clone()
    } else {
        let rows = state.transactions.store().list_privacy_groups().await?;
        rows.iter()
            .filter_map(|row| PrivacyGroup::decode(&row.data).ok())
            .filter(|g| g.group_type == wanted && g.state == GroupState::Active)
            .collect()
    };
    Ok(groups_json(&groups))
}

/// `POST /createPrivacyGroup`: creates a group and shares it with its members.
pub async fn create(State(state): State<AppState>, body: Bytes) -> Answer {
    let request: PrivacyGroupRequest = input::json(&body)?;
    let group = state
        .transactions
        .create_privacy_group(NewGroup {
            members: input::keys(request.addresses.as_deref(), "addresses")?,
            from: input::optional_key(request.from.as_deref(), "from")?,
            name: request.name.unwrap_or_default(),
            description: request.description.unwrap_or_default(),
            seed: request
                .seed
                .as_deref()
                .map(|s| input::bytes(s, "seed"))
                .transpose()?,
        })
        .await?;
    Ok(group_json(&group))
}

/// `POST /findPrivacyGroup`: the groups with exactly these members.
pub async fn find(State(state): State<AppState>, body: Bytes) -> Answer {
    let request: PrivacyGroupRequest = input::json(&body)?;
    let addresses = request
        .addresses
        .as_deref()
        .ok_or_else(|| ApiError::bad_request("addresses is required"))?;
    let members = input::keys(Some(addresses), "addresses")?;
    let groups = state.transactions.find_privacy_groups(&members).await?;
    Ok(groups_json(&groups))
}

/// `POST /retrievePrivacyGroup`: one group by id.
pub async fn retrieve(State(state): State<AppState>, body: Bytes) -> Answer {
    let request: PrivacyGroupRequest = input::json(&body)?;
    let group = state
        .transactions
        .retrieve_privacy_group(&group_id(request.privacy_group_id.as_deref())?)
        .await?;
    Ok(group_json(&group))
}

/// `POST /deletePrivacyGroup`: marks a group deleted; answers its id.
pub async fn delete(State(state): State<AppState>, body: Bytes) -> Answer {
    let request: PrivacyGroupRequest = input::json(&body)?;
    let id = group_id(request.privacy_group_id.as_deref())?;
    let from = input::optional_key(request.from.as_deref(), "from")?;
    state.transactions.delete_privacy_group(&id, from).await?;
    Ok(response::json(
        MediaType::Json,
        StatusCode::OK,
        &id.to_base64(),
    ))
}

fn group_id(text: Option<&str>) -> Result<PrivacyGroupId, ApiError> {
    let text = text
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::bad_request("privacyGroupId is required"))?;
    input::bytes(text, "privacyGroupId").map(PrivacyGroupId::new)
}

fn group_json(group: &PrivacyGroup) -> Response {
    response::json(
        MediaType::Json,
        StatusCode::OK,
        &PrivacyGroupResponse::from(group),
    )
}

fn groups_json(groups: &[PrivacyGroup]) -> Response {
    let body: Vec<PrivacyGroupResponse> = groups.iter().map(PrivacyGroupResponse::from).collect();
    response::json(MediaType::Json, StatusCode::OK, &body)
}
