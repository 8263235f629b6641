//! Which replica *should* hold each warm-up group: rendezvous hashing with bounded load.
//!
//! Every replica computes the same answer from the same inputs (the group names of the config
//! and the replica names registered in etcd), so no message is needed to agree on it. Groups
//! are taken in name order; each goes to the replica with the fewest groups so far, ties broken
//! by the highest hash of (group, replica). The spread is as even as it can be (loads differ by
//! at most one), and a replica joining or leaving moves few groups.
//!
//! The preference is advice, not ownership: the etcd key decides who holds a group. A holder
//! that is not the preferred replica hands the group over right after a run (a whole tick before
//! the next), and a free group is taken by its preferred replica at once, by anyone else only
//! after it stayed free for a whole tick.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

/// The preferred replica of each group. `replicas` need not be sorted; an empty list gives an
/// empty map.
pub fn preferred(groups: &[&str], replicas: &[&str]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if replicas.is_empty() {
        return out;
    }
    let mut groups: Vec<&str> = groups.to_vec();
    groups.sort_unstable();
    groups.dedup();
    let mut load: BTreeMap<&str, usize> = replicas.iter().map(|r| (*r, 0)).collect();
    for g in groups {
        let best = load
            .iter()
            .map(|(r, n)| (*n, std::cmp::Reverse(score(g, r)), *r))
            .min()
            .map(|(_, _, r)| r)
            .expect("at least one replica");
        *load.get_mut(best).expect("a replica of the map") += 1;
        out.insert(g.to_string(), best.to_string());
    }
    out
}

fn score(group: &str, replica: &str) -> u64 {
    let mut h = Sha256::new();
    h.update(group.as_bytes());
    h.update([0]);
    h.update(replica.as_bytes());
    u64::from_be_bytes(h.finalize()[..8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_differ_by_at_most_one_and_order_does_not_matter() {
        let groups: Vec<String> = (0..10).map(|i| format!("g{i}")).collect();
        let g: Vec<&str> = groups.iter().map(String::as_str).collect();
        let a = preferred(&g, &["a", "b", "c"]);
        assert_eq!(a, preferred(&g, &["c", "a", "b"]));
        let mut load = BTreeMap::<&str, usize>::new();
        for r in a.values() {
            *load.entry(r).or_default() += 1;
        }
        let (min, max) = (load.values().min(), load.values().max());
        assert_eq!(load.len(), 3);
        assert!(max.unwrap() - min.unwrap() <= 1, "{load:?}");
    }

    #[test]
    fn three_groups_spread_one_each_and_none_stays_on_a_replica_that_left() {
        let g = ["alpha", "beta", "gamma"];
        let three = preferred(&g, &["a", "b", "c"]);
        assert_eq!(
            three
                .values()
                .collect::<std::collections::BTreeSet<_>>()
                .len(),
            3,
            "three groups over three replicas: one each"
        );
        let gone = three["alpha"].clone();
        let left: Vec<&str> = ["a", "b", "c"].into_iter().filter(|r| *r != gone).collect();
        let two = preferred(&g, &left);
        assert!(two.values().all(|r| *r != gone));
        assert!(preferred(&g, &[]).is_empty());
    }
}
