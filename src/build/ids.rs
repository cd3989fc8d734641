//! Every id a card carries (MBR disk id or GPT GUIDs, filesystem UUIDs, the FAT volume id,
//! the ext4 directory hash seed), derived from the profile digest and the node's name, so
//! the same profile always gives a node the same identity and two nodes never share one.
//!
//! Nothing here is random and nothing reads the clock.

use sha2::{Digest, Sha256};

use crate::image::mke2fs::FsUuid;
use crate::image::partition::Guid;

/// The ids of one node's card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeIds {
    /// The MBR disk id (never 0: some tools treat 0 as "none").
    pub disk_id: u32,
    /// The GPT disk GUID.
    pub disk_guid: Guid,
    /// The GPT boot partition's GUID.
    pub boot_guid: Guid,
    /// The GPT root partition's GUID.
    pub root_guid: Guid,
    /// The FAT volume id.
    pub volume_id: u32,
    /// The root filesystem's UUID.
    pub root_uuid: FsUuid,
    /// The root filesystem's directory hash seed.
    pub hash_seed: FsUuid,
}

/// 32 bytes for one purpose of one node.
fn derive(profile_digest: &[u8; 32], node: &str, purpose: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"pi-imager id\0");
    hasher.update(profile_digest);
    hasher.update(node.as_bytes());
    hasher.update(b"\0");
    hasher.update(purpose.as_bytes());
    hasher.finalize().into()
}

/// A version-4-shaped UUID (RFC 9562 layout) from derived bytes, so tools that check the
/// variant and version accept it.
fn uuid_bytes(bytes: [u8; 32]) -> [u8; 16] {
    let mut out = [0u8; 16];
    out.copy_from_slice(&bytes[..16]);
    out[6] = (out[6] & 0x0f) | 0x40;
    out[8] = (out[8] & 0x3f) | 0x80;
    out
}

/// A GUID whose canonical text is the UUID of `bytes` (GPT stores the first three fields
/// little-endian).
fn guid(bytes: [u8; 16]) -> Guid {
    let [a, b, c, d, e, f, g, h, rest @ ..] = bytes;
    Guid::from_fields(
        u32::from_be_bytes([a, b, c, d]),
        u16::from_be_bytes([e, f]),
        u16::from_be_bytes([g, h]),
        rest,
    )
}

fn nonzero_u32(bytes: [u8; 32]) -> u32 {
    let value = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if value == 0 { 1 } else { value }
}

impl NodeIds {
    /// The ids of node `node` of the profile with digest `profile_digest`.
    pub fn derive(profile_digest: &[u8; 32], node: &str) -> Self {
        let d = |purpose| derive(profile_digest, node, purpose);
        Self {
            disk_id: nonzero_u32(d("mbr disk id")),
            disk_guid: guid(uuid_bytes(d("gpt disk"))),
            boot_guid: guid(uuid_bytes(d("gpt boot"))),
            root_guid: guid(uuid_bytes(d("gpt root"))),
            volume_id: nonzero_u32(d("fat volume id")),
            root_uuid: FsUuid(uuid_bytes(d("root uuid"))),
            hash_seed: FsUuid(uuid_bytes(d("root hash seed"))),
        }
    }
}

impl NodeIds {
    /// The UUID and hash seed of the drive image a node's mount at `mount_path` asks for.
    pub fn drive(profile_digest: &[u8; 32], node: &str, mount_path: &str) -> (FsUuid, FsUuid) {
        let d = |purpose: &str| {
            FsUuid(uuid_bytes(derive(
                profile_digest,
                node,
                &format!("drive {mount_path} {purpose}"),
            )))
        };
        (d("uuid"), d("hash seed"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_per_node_and_differ_between_nodes() {
        let digest = [7u8; 32];
        let a = NodeIds::derive(&digest, "pi3");
        assert_eq!(a, NodeIds::derive(&digest, "pi3"));
        let b = NodeIds::derive(&digest, "pi2");
        assert_ne!(a.disk_id, b.disk_id);
        assert_ne!(a.root_uuid, b.root_uuid);
        assert_ne!(a.root_uuid, a.hash_seed);
        let c = NodeIds::derive(&[8u8; 32], "pi3");
        assert_ne!(a.disk_id, c.disk_id);
        assert_eq!(a.root_uuid.0[6] >> 4, 4);
        assert_eq!(a.root_uuid.0[8] >> 6, 2);
        let (www, seed) = NodeIds::drive(&digest, "pi3", "/var/www");
        assert_ne!(www, seed);
        assert_ne!(www, NodeIds::drive(&digest, "pi2", "/var/www").0);
        assert_ne!(www, a.root_uuid);
    }
}
