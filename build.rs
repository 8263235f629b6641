//! Embeds the commit and the build day in `prefix --version`: `PREFIX_WARDEN_COMMIT` (from
//! `git`, or the environment variable of that name when building from a tarball, else
//! `unknown`) and `PREFIX_WARDEN_BUILD_DATE` (UTC day of `SOURCE_DATE_EPOCH` when set, for
//! reproducible builds, else of now).

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=PREFIX_WARDEN_COMMIT");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    let commit = std::env::var("PREFIX_WARDEN_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| {
            let out = Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        })
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "unknown".into());
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        });
    println!("cargo:rustc-env=PREFIX_WARDEN_COMMIT={commit}");
    println!(
        "cargo:rustc-env=PREFIX_WARDEN_BUILD_DATE={}",
        civil_day(secs)
    );
}

/// `YYYY-MM-DD` of Unix seconds (UTC), without a date crate in the build script.
fn civil_day(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    // Howard Hinnant's days_from_civil, inverted.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    format!("{:04}-{:02}-{:02}", if m <= 2 { y + 1 } else { y }, m, d)
}
