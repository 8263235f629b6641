//! What live-color lookups read, without IO: a `file`/`http` JSON document
//! (`live_color::parse::document`), an etcd `/v3/kv/range` answer (`parse::etcd_range_answer`)
//! and DNS TXT records (`parse::txt_color`, records = the input split on `\n`).
//!
//! Must hold: no panic, no OOM, bounded time; an accepted color is 1 to 63 of `[A-Za-z0-9_-]`
//! with a non-empty, duplicate-free target list; errors format.

use crate::live_color::parse;

fn valid_color(c: &str) -> bool {
    (1..=63).contains(&c.len())
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

pub fn check(data: &[u8]) {
    match parse::document("fuzz", data, "live", "colors") {
        Ok(lc) => {
            assert!(valid_color(&lc.color), "{lc:?}");
            assert!(!lc.targets.is_empty(), "{lc:?}");
            for (i, t) in lc.targets.iter().enumerate() {
                assert!(!lc.targets[..i].contains(t), "duplicate target: {lc:?}");
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    if let Err(e) = parse::etcd_range_answer("fuzz", data) {
        let _ = e.to_string();
    }
    let records: Vec<Vec<u8>> = data.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    match parse::txt_color("fuzz", &records) {
        Ok(c) => assert!(valid_color(&c), "{c:?}"),
        Err(e) => {
            let _ = e.to_string();
        }
    }
}
