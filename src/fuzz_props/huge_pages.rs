//! The core's one module with `unsafe` code, `tokenizer::huge` (buffers advised for 2 MiB
//! pages): each 8 bytes of input are one step (what to build, how many elements, a value),
//! run on buffers of up to 6 MiB, of bytes, words and 32-byte slots, built full, grown by
//! pushes and advised again, and shrunk.
//!
//! Must hold: no crash; every buffer holds exactly what was written to it, element by element,
//! after each advice (the advice names only whole huge pages inside the buffer and never
//! changes its contents).

use prefix_warden_core::tokenizer::parts::huge;

/// A buffer's largest size in bytes: room for three 2 MiB pages and the unaligned ends.
const MAX_BYTES: usize = 6 << 20;

#[derive(Clone, Copy, PartialEq, Debug)]
struct Slot {
    w: [u64; 2],
    len: u16,
    count: u16,
    ids: [u32; 3],
}

fn slot(v: u32, i: usize) -> Slot {
    let i = i as u32;
    Slot {
        w: [u64::from(v ^ i), u64::from(i)],
        len: i as u16,
        count: v as u16,
        ids: [v, i, v.wrapping_add(i)],
    }
}

pub fn check(data: &[u8]) {
    // A buffer kept across steps, so that advice meets buffers grown and shrunk before.
    let mut kept: Vec<u32> = Vec::new();
    for step in data.chunks_exact(8).take(64) {
        let n = u32::from_le_bytes([step[1], step[2], step[3], 0]) as usize;
        let v = u32::from_le_bytes([step[4], step[5], step[6], step[7]]);
        match step[0] % 5 {
            0 => {
                let n = n.min(MAX_BYTES);
                let b = huge::filled(n, v as u8);
                assert_eq!(b.len(), n);
                assert!(b.iter().all(|&x| x == v as u8), "a byte changed");
            }
            1 => {
                let n = n.min(MAX_BYTES / 4);
                let mut w: Vec<u32> = huge::with_capacity(n);
                assert!(w.capacity() >= n);
                w.extend((0..n as u32).map(|i| i ^ v));
                huge::advise(&mut w);
                assert!(
                    w.iter().zip(0u32..).all(|(&x, i)| x == i ^ v),
                    "a word changed"
                );
            }
            2 => {
                let n = n.min(MAX_BYTES / 32);
                let s = huge::filled(n, slot(v, 0));
                assert!(s.iter().all(|&x| x == slot(v, 0)), "a slot changed");
                let mut s: Vec<Slot> = huge::with_capacity(n);
                s.extend((0..n).map(|i| slot(v, i)));
                assert!(
                    s.iter().enumerate().all(|(i, &x)| x == slot(v, i)),
                    "a slot changed"
                );
            }
            3 => {
                // Grow the kept buffer by pushes (reallocations), then advise it.
                let n = n.min(MAX_BYTES / 4 - kept.len().min(MAX_BYTES / 4));
                let from = kept.len();
                kept.extend((0..n as u32).map(|i| i.wrapping_mul(v)));
                huge::advise(&mut kept);
                assert!(
                    kept[from..]
                        .iter()
                        .zip(0u32..)
                        .all(|(&x, i)| x == i.wrapping_mul(v)),
                    "a pushed word changed"
                );
            }
            _ => {
                // Shrink it, then advise what is left.
                kept.truncate(kept.len().min(n));
                kept.shrink_to_fit();
                let before = kept.clone();
                huge::advise(&mut kept);
                assert_eq!(kept, before, "advice changed a word");
            }
        }
    }
}
