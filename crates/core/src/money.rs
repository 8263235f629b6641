//! Money as people read it: USD rounded to a fixed number of decimals, in JSON and in text,
//! without float noise (`0.060300000000000006`) or a negative zero (`-0.00`).

use serde::Serializer;

/// Decimals of USD in JSON output (a hundredth of a cent).
pub const JSON_DECIMALS: i32 = 4;

/// `usd` rounded to `decimals`, with -0 as 0.
pub fn round(usd: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    let r = (usd * f).round() / f;
    if r == 0.0 || !r.is_finite() {
        0.0
    } else {
        r
    }
}

/// `usd` in text with `decimals` decimals (`{:.2}` without "-0.00").
pub fn text(usd: f64, decimals: usize) -> String {
    format!("{:.*}", decimals, round(usd, decimals as i32))
}

/// As [`text`], with a sign always (`+1.50`, `-0.25`, `0.00`).
pub fn signed(usd: f64, decimals: usize) -> String {
    let r = round(usd, decimals as i32);
    if r > 0.0 {
        format!("+{:.*}", decimals, r)
    } else {
        format!("{:.*}", decimals, r)
    }
}

/// `#[serde(serialize_with = "crate::money::serialize")]` for USD fields.
pub fn serialize<S: Serializer>(usd: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(round(*usd, JSON_DECIMALS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_removes_noise_and_negative_zero() {
        assert_eq!(
            serde_json::to_string(&round(0.060300000000000006, JSON_DECIMALS)).unwrap(),
            "0.0603"
        );
        assert_eq!(
            serde_json::to_string(&round(183.68750000000003, JSON_DECIMALS)).unwrap(),
            "183.6875"
        );
        assert_eq!(
            serde_json::to_string(&round(-0.3200000000000074, JSON_DECIMALS)).unwrap(),
            "-0.32"
        );
        assert_eq!(serde_json::to_string(&round(-0.00001, 4)).unwrap(), "0.0");
        assert_eq!(text(-0.001, 2), "0.00");
        assert_eq!(signed(-0.001, 2), "0.00");
        assert_eq!(signed(1.5, 2), "+1.50");
        assert_eq!(signed(-0.25, 2), "-0.25");
        assert_eq!(round(f64::NAN, 4), 0.0);
    }
}
