//! Privacy groups (tessera-api §4.11, §6.9): created, found, retrieved and deleted through Q2T,
//! shared with every member's node through `/pushPrivacyGroup`.

use cloister_core::keys::PublicKey;
use cloister_core::privacy_group::{self, GroupState, GroupType, PrivacyGroup, PrivacyGroupId};
use cloister_protocol::version;
use cloister_store::PrivacyGroupRow;
use rand_core::RngCore;

use super::{distinct, TransactionError, TransactionManager};

/// Bytes of the random seed of a new group when the client gives none.
const SEED_LENGTH: usize = 20;

/// A `/createPrivacyGroup` request.
#[derive(Debug, Clone, Default)]
pub struct NewGroup {
    /// Members (must include the creator).
    pub members: Vec<PublicKey>,
    /// The creator; the default key when absent.
    pub from: Option<PublicKey>,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Seed; random when absent.
    pub seed: Option<Vec<u8>>,
}

impl TransactionManager {
    /// Creates a PANTHEON group, stores it and shares it with every member's node.
    pub async fn create_privacy_group(
        &self,
        request: NewGroup,
    ) -> Result<PrivacyGroup, TransactionError> {
        let from = request.from.unwrap_or(*self.enclave.default_public_key());
        if !request.members.contains(&from) {
            return Err(TransactionError::PrivacyViolation(
                "The list of members in a privacy group should include self".into(),
            ));
        }
        let seed = request.seed.unwrap_or_else(|| {
            let mut seed = vec![0; SEED_LENGTH];
            rand_core::OsRng.fill_bytes(&mut seed);
            seed
        });
        let members = distinct(request.members);
        let group = PrivacyGroup::new(
            request.name,
            request.description,
            members,
            seed,
            GroupType::Pantheon,
            GroupState::Active,
        );
        self.share_group(&group).await?;
        Ok(group)
    }

    /// The ACTIVE groups whose member set is exactly `members`.
    pub async fn find_privacy_groups(
        &self,
        members: &[PublicKey],
    ) -> Result<Vec<PrivacyGroup>, TransactionError> {
        let wanted: std::collections::BTreeSet<_> = members.iter().collect();
        let rows = self
            .store
            .find_privacy_groups(privacy_group::lookup_id(members).as_bytes())
            .await?;
        Ok(rows
            .iter()
            .filter_map(|row| PrivacyGroup::decode(&row.data).ok())
            .filter(|group| {
                group.state == GroupState::Active
                    && group
                        .members
                        .iter()
                        .collect::<std::collections::BTreeSet<_>>()
                        == wanted
            })
            .collect())
    }

    /// An ACTIVE group by id.
    pub async fn retrieve_privacy_group(
        &self,
        id: &PrivacyGroupId,
    ) -> Result<PrivacyGroup, TransactionError> {
        let not_found = || TransactionError::PrivacyGroupNotFound(id.to_base64());
        let row = self
            .store
            .get_privacy_group(id.as_bytes())
            .await?
            .ok_or_else(not_found)?;
        // A row that does not decode is damage, not absence: never answer 404 for it.
        let group = PrivacyGroup::decode(&row.data).map_err(|e| {
            TransactionError::Store(cloister_store::StoreError::Corrupt {
                table: "PRIVACY_GROUP",
                reason: e.to_string(),
            })
        })?;
        if group.state != GroupState::Active {
            return Err(not_found());
        }
        Ok(group)
    }

    /// Marks a group DELETED (by one of its members) and tells every member's node.
    pub async fn delete_privacy_group(
        &self,
        id: &PrivacyGroupId,
        from: Option<PublicKey>,
    ) -> Result<(), TransactionError> {
        let mut group = self.retrieve_privacy_group(id).await?;
        let from = from.unwrap_or(*self.enclave.default_public_key());
        if !group.members.contains(&from) {
            return Err(TransactionError::PrivacyViolation(
                "Sender of request does not belong to this privacy group".into(),
            ));
        }
        group.state = GroupState::Deleted;
        self.share_group(&group).await
    }

    /// Stores a group record pushed by a peer (`/pushPrivacyGroup`).
    pub async fn store_pushed_group(&self, encoded: &[u8]) -> Result<(), TransactionError> {
        let group = PrivacyGroup::decode(encoded)
            .map_err(|e| TransactionError::BadRequest(e.to_string()))?;
        self.save_group(&group).await
    }

    async fn save_group(&self, group: &PrivacyGroup) -> Result<(), TransactionError> {
        let row = PrivacyGroupRow {
            id: group.id.as_bytes().to_vec(),
            lookup_id: privacy_group::lookup_id(&group.members).as_bytes().to_vec(),
            data: group.encode(),
            timestamp: cloister_store::now_millis(),
        };
        Ok(self.store.upsert_privacy_group(&row).await?)
    }

    /// Checks every remote member's node can take the group, pushes it to each, then stores it.
    async fn share_group(&self, group: &PrivacyGroup) -> Result<(), TransactionError> {
        let remote: Vec<PublicKey> = group
            .members
            .iter()
            .filter(|k| !self.enclave.holds(k))
            .copied()
            .collect();
        let mut nodes = Vec::new();
        for key in &remote {
            let node = self.node_of(key).await?;
            if !node.versions.iter().any(|v| v == version::V3_0) {
                return Err(TransactionError::PrivacyViolation(format!(
                    "Transactions with privacy group is not currently supported on recipient {key}"
                )));
            }
            if !nodes
                .iter()
                .any(|n: &crate::discovery::PeerNode| n.url == node.url)
            {
                nodes.push(node);
            }
        }
        let body = bytes::Bytes::from(group.encode());
        for node in nodes {
            self.peers
                .post(
                    &node.url,
                    cloister_protocol::path::PUSH_PRIVACY_GROUP,
                    cloister_protocol::media::OCTET_STREAM,
                    body.clone(),
                )
                .await
                .map_err(|error| TransactionError::from_peer(&node.url, error))?;
        }
        self.save_group(group).await
    }
}
