//! `prefix daemon`: placeholder until the daemon lands.

use std::path::Path;

#[derive(clap::Args, Debug)]
pub struct DaemonArgs {}

pub fn run(_config: &Path, _args: DaemonArgs) -> crate::error::Result<()> {
    Err(crate::error::Error::Other(
        "the daemon is not built yet".into(),
    ))
}
