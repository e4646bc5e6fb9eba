//! The nodes under load: sender A and recipients B…F, real `cloister node` processes started
//! by the harness from Tessera config files, each with its own SQLite store.
//!
//! Recipients are added as scenarios need them, so the one-recipient figures are taken with
//! only A and B running and the extra nodes' discovery traffic does not share the CPU.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cloister_harness::http::eventually;
use cloister_harness::nodes::{NodeDir, RunningNode};
use serde_json::{json, Value};

/// Recipient names, in the order they are started.
const RECIPIENT_NAMES: [&str; 5] = ["B", "C", "D", "E", "F"];

/// How long discovery may take: nodes exchange PartyInfo every 200 ms (the harness's
/// `partyInfoInterval`), so anything near this means something is broken.
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(30);

/// A node and its process.
pub struct Member {
    /// Files, keys and addresses.
    pub dir: NodeDir,
    /// The process.
    pub process: RunningNode,
}

/// The running nodes. Dropping it kills them and, unless the directory was given, removes
/// their files.
pub struct Cluster {
    root: PathBuf,
    _temporary: Option<tempfile::TempDir>,
    sender: Member,
    recipients: Vec<Member>,
}

impl Cluster {
    /// Starts A and B (each configured with the other as its peer) under `root`, or under a
    /// fresh temporary directory when `root` is `None`. `sender_config` is merged into A's
    /// Tessera config at the top level (e.g. a `jdbc` section for another store).
    pub fn start(root: Option<&Path>, sender_config: Value) -> anyhow::Result<Self> {
        let (root, temporary) = match root {
            Some(root) => {
                std::fs::create_dir_all(root)?;
                (root.to_owned(), None)
            }
            None => {
                let temporary = tempfile::Builder::new()
                    .prefix("cloister-bench")
                    .tempdir()?;
                (temporary.path().to_owned(), Some(temporary))
            }
        };
        let a = NodeDir::new(&root, "A");
        let b = NodeDir::new(&root, RECIPIENT_NAMES[0]);
        let a_process = a.start(&a.config(&[&b], sender_config), &[]);
        let b_process = b.start(&b.config(&[&a], json!({})), &[]);
        Ok(Self {
            root,
            _temporary: temporary,
            sender: Member {
                dir: a,
                process: a_process,
            },
            recipients: vec![Member {
                dir: b,
                process: b_process,
            }],
        })
    }

    /// Starts recipients until there are `count` (at most five). New ones know only A; A
    /// learns them when they post their PartyInfo to it.
    pub fn grow_to(&mut self, count: usize) -> anyhow::Result<()> {
        anyhow::ensure!(
            count <= RECIPIENT_NAMES.len(),
            "at most {} recipients",
            RECIPIENT_NAMES.len()
        );
        while self.recipients.len() < count {
            let dir = NodeDir::new(&self.root, RECIPIENT_NAMES[self.recipients.len()]);
            let process = dir.start(&dir.config(&[&self.sender.dir], json!({})), &[]);
            self.recipients.push(Member { dir, process });
        }
        Ok(())
    }

    /// Waits until A's ThirdParty `/partyinfo/keys` lists every recipient's key, so that a
    /// `/send` to any of them can be routed.
    pub fn wait_for_discovery(&self) -> anyhow::Result<()> {
        let wanted = self.recipient_keys(self.recipients.len());
        let known = eventually(DISCOVERY_TIMEOUT, || {
            let known = self.sender.dir.known_keys();
            wanted.iter().all(|key| known.contains(key))
        });
        anyhow::ensure!(
            known,
            "A did not learn every recipient's key within {DISCOVERY_TIMEOUT:?}"
        );
        Ok(())
    }

    /// The base64 public keys of the first `count` recipients.
    pub fn recipient_keys(&self, count: usize) -> Vec<String> {
        self.recipients
            .iter()
            .take(count)
            .map(|member| member.dir.public_key.clone())
            .collect()
    }

    /// A's Q2T unix socket, where the load goes.
    pub fn q2t_socket(&self) -> PathBuf {
        self.sender.dir.q2t_socket()
    }

    /// The sender.
    pub fn sender(&self) -> &Member {
        &self.sender
    }

    /// The recipients started so far.
    pub fn recipients(&self) -> &[Member] {
        &self.recipients
    }

    /// Every node, sender first.
    pub fn members(&self) -> impl Iterator<Item = &Member> {
        std::iter::once(&self.sender).chain(&self.recipients)
    }

    /// Where the nodes' directories (config, keys, database, log) are.
    pub fn root(&self) -> &Path {
        &self.root
    }
}
