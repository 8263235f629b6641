//! API keys of warm-up groups: from an environment variable or a file (systemd credentials),
//! never from the config itself, and never shown by `Debug`.

use std::path::Path;

use crate::config::WarmupConfig;
use crate::error::{Error, Result};

/// An API key. `Debug` never shows it; it is only sent in request headers.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// Reads the group's key from its environment variable or file; `None` when neither is set.
pub fn api_key(cfg: &WarmupConfig, base_dir: &Path) -> Result<Option<ApiKey>> {
    key_from(
        cfg.api_key_env.as_deref(),
        cfg.api_key_file.as_deref(),
        base_dir,
        &format!("warm-up group `{}`", cfg.group),
    )
}

/// A key from environment variable `env` (or the file `<env>_FILE` names) or from `file`;
/// `None` when neither is configured, an error naming `what` when they are but give nothing.
pub fn key_from(
    env: Option<&str>,
    file: Option<&str>,
    base_dir: &Path,
    what: &str,
) -> Result<Option<ApiKey>> {
    if let Some(var) = env {
        if let Some(v) = std::env::var_os(var)
            .and_then(|v| v.into_string().ok())
            .filter(|v| !v.trim().is_empty())
        {
            return Ok(Some(ApiKey(v.trim().to_string())));
        }
    }
    // `<VAR>_FILE` (the systemd unit sets ANTHROPIC_API_KEY_FILE=%d/anthropic-api-key): the
    // key is read from that file when the variable itself is unset.
    if let Some(var) = env {
        if let Some(p) = std::env::var_os(format!("{var}_FILE")).filter(|p| !p.is_empty()) {
            let p = std::path::PathBuf::from(p);
            let v = read_key_file(&p)?;
            if !v.is_empty() {
                return Ok(Some(ApiKey(v)));
            }
        }
    }
    if let Some(f) = file {
        let expanded = match std::env::var("CREDENTIALS_DIRECTORY") {
            Ok(d) => f.replace("$CREDENTIALS_DIRECTORY", &d),
            Err(_) => f.to_string(),
        };
        let p = base_dir.join(expanded);
        let v = read_key_file(&p)?;
        if !v.is_empty() {
            return Ok(Some(ApiKey(v)));
        }
    }
    match (env, file) {
        (None, None) => Ok(None),
        _ => Err(Error::Other(format!(
            "{what}: no API key (set {} or fill the key file)",
            env.unwrap_or("the variable")
        ))),
    }
}

/// A key file's content, trimmed; at most 16 KiB.
fn read_key_file(p: &Path) -> Result<String> {
    let raw = crate::bounded::read_limited(p, 16 << 10)?;
    let v = String::from_utf8(raw)
        .map_err(|_| Error::Other(format!("{}: the key file is not UTF-8", p.display())))?;
    Ok(v.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_never_show_in_debug_output() {
        let k = ApiKey("sk-ant-very-secret".into());
        assert_eq!(format!("{k:?}"), "ApiKey(<redacted>)");
        assert_eq!(format!("{:?}", Some(k.clone())), "Some(ApiKey(<redacted>))");
        assert_eq!(k.expose(), "sk-ant-very-secret");
    }

    #[test]
    fn keys_come_from_the_environment_or_a_file() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("key"), "  from-file \n").unwrap();
        let mut cfg: WarmupConfig = toml::from_str(
            "group = \"g\"\nschedule = \"* * * * *\"\nprovider = \"anthropic\"\nmodel = \"m\"\nprompts = [\"p\"]\n\
             api_key_file = \"key\"\nlookup = { backend = \"file\", path = \"x\" }\n",
        )
        .unwrap();
        assert_eq!(
            api_key(&cfg, d.path()).unwrap().unwrap().expose(),
            "from-file"
        );
        cfg.api_key_env = Some("PREFIX_WARDEN_TEST_KEY_UNSET".into());
        assert_eq!(
            api_key(&cfg, d.path()).unwrap().unwrap().expose(),
            "from-file",
            "file when the variable is unset"
        );
        std::fs::write(d.path().join("key"), "\n").unwrap();
        let e = api_key(&cfg, d.path()).unwrap_err().to_string();
        assert!(
            e.contains("no API key") && e.contains("PREFIX_WARDEN_TEST_KEY_UNSET"),
            "{e}"
        );
        // The unit's convention: VAR_FILE names the file holding VAR's value.
        std::fs::write(d.path().join("cred"), "from-var-file\n").unwrap();
        cfg.api_key_env = Some("PREFIX_WARDEN_TEST_KEY_VIA_FILE".into());
        std::env::set_var(
            "PREFIX_WARDEN_TEST_KEY_VIA_FILE_FILE",
            d.path().join("cred"),
        );
        assert_eq!(
            api_key(&cfg, d.path()).unwrap().unwrap().expose(),
            "from-var-file"
        );
        std::env::remove_var("PREFIX_WARDEN_TEST_KEY_VIA_FILE_FILE");
        cfg.api_key_env = None;
        cfg.api_key_file = None;
        assert!(
            api_key(&cfg, d.path()).unwrap().is_none(),
            "self-hosted engines need none"
        );
    }
}
