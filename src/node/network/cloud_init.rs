//! cloud-init on Raspberry Pi OS trixie: the boot partition's `network-config` would have
//! cloud-init write its own connection for the interface at first boot, competing with the
//! one pi-imager writes. The file is removed and cloud-init's network stage is switched
//! off by the documented `network: {config: disabled}` setting, so the node's network is
//! the profile's alone. `user-data` is made to agree with the profile by `node::cloud_init`;
//! `meta-data` is left as is.

use crate::node::edit::{EditError, Editor};

/// The file on the boot partition cloud-init's NoCloud source reads.
pub const NETWORK_CONFIG: &str = "/network-config";
/// Where cloud-init reads its own settings.
pub const DISABLE: &str = "/etc/cloud/cloud.cfg.d/99-pi-imager-network.cfg";

/// Removes `network-config` and switches cloud-init's network configuration off when the
/// base has cloud-init; returns a note for the build log when it changed anything.
pub fn apply(root: &mut Editor, boot: &mut Editor) -> Result<Option<String>, EditError> {
    let removed = boot.remove(NETWORK_CONFIG)?;
    let has_cloud_init = root.exists("/etc/cloud")?;
    if has_cloud_init {
        root.write(
            DISABLE,
            "# Written by pi-imager: the network is configured from the profile.\nnetwork: {config: disabled}\n",
            0o644,
        )?;
    }
    Ok((removed || has_cloud_init).then(|| {
        "cloud-init's network configuration is switched off (network-config removed from the boot partition): the profile's [network] configures the node".to_owned()
    }))
}
