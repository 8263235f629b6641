//! A per-call memo of merged pieces, shared by the BPE engines: in real text the same words
//! come back again and again, and merging is where the time goes.

use rustc_hash::FxHashMap;

/// The ids of pieces already merged during one encode call: words repeat, merging is the cost.
/// Bounded: past [`Memo::MAX_ENTRIES`] distinct pieces, new ones are merged every time.
#[derive(Default)]
pub struct Memo {
    map: FxHashMap<Box<[u8]>, (u32, u32)>,
    arena: Vec<u32>,
}

impl Memo {
    const MAX_ENTRIES: usize = 1 << 18;
    /// Longer pieces (runs of one character, mostly) are not worth keeping.
    const MAX_PIECE: usize = 256;

    /// Appends the ids of `piece` to `out`, from the memo or by `merge`.
    pub fn encode(
        &mut self,
        piece: &[u8],
        out: &mut Vec<u32>,
        merge: impl FnOnce(&[u8], &mut Vec<u32>),
    ) {
        if piece.len() < 2 {
            return merge(piece, out);
        }
        if let Some(&(start, len)) = self.map.get(piece) {
            out.extend_from_slice(&self.arena[start as usize..(start + len) as usize]);
            return;
        }
        let first = out.len();
        merge(piece, out);
        if self.map.len() < Self::MAX_ENTRIES && piece.len() <= Self::MAX_PIECE {
            let start = self.arena.len() as u32;
            self.arena.extend_from_slice(&out[first..]);
            self.map
                .insert(piece.into(), (start, (out.len() - first) as u32));
        }
    }
}
