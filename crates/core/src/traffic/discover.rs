//! `prefix discover`: which prefixes the traffic in request logs actually shares.
//!
//! Each request's blocks (tools, system, messages) are tokenized under its model's tokenizer
//! (the first registry entry serving `provider/model` with a file and no template; each
//! distinct block once) and inserted in a radix tree per tokenizer whose edges are blocks.
//! A candidate is a node at least `min_requests` requests pass through, `min_tokens` deep,
//! that no child continues with all of its requests (the longest prefix they share); at a
//! branch, the tokens the diverging next blocks still have in common are added. Each candidate
//! is compared with the registered prompts' ids under the same tokenizer: registered (it
//! contains one), or where it diverges from the closest one.
//!
//! Output is ids, counts and fingerprints; text only goes to `--write-prompts` files
//! ([`super::stub`]).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use super::reader::{read_log, ReadStats};
use crate::analyzer::Analyzer;
use crate::error::{Error, Result};
use crate::fingerprint::{common_prefix_len, fingerprint};
use crate::prefix::TokenizedPrefix;

use super::blocks::{BlockId, BlockStore, Keep};
use super::lengths::{First, Gathered, Lengths};
use super::shadow;

/// Called once after the logs are read, with the usage facts of each model no tokenizer
/// serves; returns the lengths of the models it can cover (the others stay unserved).
pub type LengthsFor<'a> =
    dyn Fn(BTreeMap<String, (Gathered, First)>) -> Result<BTreeMap<String, Arc<Lengths>>> + 'a;

pub struct Options<'a> {
    pub min_tokens: usize,
    pub min_requests: usize,
    pub top: usize,
    /// Keep block texts (for `--write-prompts`).
    pub keep_text: bool,
    /// Block lengths of models no tokenizer serves ([`super::lengths`]); `None`: such models
    /// are only counted as unserved.
    pub lengths: Option<&'a LengthsFor<'a>>,
}

#[derive(Debug, Serialize)]
pub struct Discovery {
    pub read: ReadStats,
    /// Requests per `provider/model` that no registered tokenizer serves.
    pub unserved_models: BTreeMap<String, usize>,
    pub requests: usize,
    /// Distinct blocks tokenized (each once).
    pub distinct_blocks: usize,
    /// Hours between the first and last timestamp (when the logs have timestamps).
    pub span_hours: Option<f64>,
    pub candidates: Vec<Candidate>,
    /// Models no tokenizer serves whose block lengths came from usage, counts or a stand-in.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub lengths: BTreeMap<String, super::lengths::LengthsReport>,
    /// Models no tokenizer serves whose usage facts passed their bounds: why they stay unserved.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub lengths_too_large: BTreeMap<String, String>,
    #[serde(skip)]
    texts: Vec<Vec<String>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    /// `discovered-<12 hex of the fingerprint>`.
    pub id: String,
    pub tokenizer: String,
    /// The most frequent model of its requests.
    pub model: String,
    pub requests: usize,
    pub requests_per_hour: Option<f64>,
    pub tokens: usize,
    pub blocks: usize,
    pub fingerprint: String,
    /// The registered prompt this prefix contains, if any.
    pub registered: Option<String>,
    /// Otherwise the registered prompt (same tokenizer) it shares the most tokens with, and
    /// the token where they diverge.
    pub diverges_from: Option<(String, usize)>,
    /// Or the registered prompt whose beginning this prefix is (all its tokens match): the
    /// part of the prompt that traffic sending several versions of it still shares.
    pub prefix_of: Option<String>,
}

struct Node {
    count: u32,
    block: BlockId,
    first_child: u32,
    next_sibling: u32,
    /// The model of the first request through it (all of them while `count` is 1).
    first_model: u16,
}

const NONE: u32 = u32::MAX;

/// Requests per model index.
type ModelCounts = Vec<(u16, usize)>;

/// A radix tree per tokenizer whose edges are blocks. Nodes are compact, 20 bytes (a million
/// requests make about as many nodes; no parent link: paths are walked from the root); the
/// per-model counts of a node are kept once a second request passes through it.
struct Tree {
    blocks: BlockStore,
    nodes: Vec<Node>,
    child: HashMap<(u32, BlockId), u32>,
    shared_models: HashMap<u32, ModelCounts>,
}

impl Tree {
    fn new(blocks: BlockStore) -> Self {
        let root = Node {
            count: 0,
            block: BlockId::MAX,
            first_child: NONE,
            next_sibling: NONE,
            first_model: 0,
        };
        Tree {
            blocks,
            nodes: vec![root],
            child: HashMap::new(),
            shared_models: HashMap::new(),
        }
    }

    /// A request's blocks, interned, on the tree.
    fn add(&mut self, blocks: &[super::request::Block], model: u16) -> Result<()> {
        let mut ids = Vec::with_capacity(blocks.len());
        for b in blocks {
            ids.push(self.blocks.intern(&b.text)?);
        }
        self.insert(&ids, model)
    }

    fn insert(&mut self, blocks: &[BlockId], model: u16) -> Result<()> {
        let mut at = 0u32;
        self.pass(0, model);
        for &b in blocks {
            at = match self.child.get(&(at, b)) {
                Some(&n) => n,
                None => {
                    let n = u32::try_from(self.nodes.len())
                        .ok()
                        .filter(|&n| n != NONE)
                        .ok_or_else(|| Error::Other("more than 4 billion prefix nodes".into()))?;
                    let parent = &self.nodes[at as usize];
                    let node = Node {
                        count: 0,
                        block: b,
                        first_child: NONE,
                        next_sibling: parent.first_child,
                        first_model: model,
                    };
                    self.nodes[at as usize].first_child = n;
                    self.nodes.push(node);
                    self.child.insert((at, b), n);
                    n
                }
            };
            self.pass(at, model);
        }
        Ok(())
    }

    /// One more request of `model` through node `n`.
    fn pass(&mut self, n: u32, model: u16) {
        let node = &mut self.nodes[n as usize];
        node.count += 1;
        if node.count == 1 {
            node.first_model = model;
            return;
        }
        let first = (node.first_model, node.count as usize - 1);
        let counts = self.shared_models.entry(n).or_insert_with(|| vec![first]);
        match counts.iter_mut().find(|(m, _)| *m == model) {
            Some(c) => c.1 += 1,
            None => counts.push((model, 1)),
        }
    }

    fn models(&self, n: u32) -> ModelCounts {
        match self.shared_models.get(&n) {
            Some(c) => c.clone(),
            None => vec![(
                self.nodes[n as usize].first_model,
                self.nodes[n as usize].count as usize,
            )],
        }
    }

    fn children(&self, n: u32) -> impl Iterator<Item = u32> + '_ {
        let mut c = self.nodes[n as usize].first_child;
        std::iter::from_fn(move || {
            let now = c;
            (now != NONE).then(|| {
                c = self.nodes[now as usize].next_sibling;
                now
            })
        })
    }
}

/// A prefix found at a node: its ids, requests, their models, and its whole blocks.
type Found = (Vec<u32>, usize, ModelCounts, Vec<BlockId>);

/// Children of a node whose first blocks share a token prefix.
struct Group {
    prefix: Vec<u32>,
    count: usize,
    models: ModelCounts,
}

/// Tokens a prefix must add to one that more requests share to be reported on its own.
const MIN_GAIN: usize = 64;

/// Most children a node may have for its token groups to be computed (sorting their blocks).
const MAX_GROUPED_CHILDREN: usize = 100_000;

/// The maximal groups of `node`'s children whose first blocks share at least one token: sort
/// the blocks, take the longest common prefix of neighbours, and for each neighbour LCP `h` the
/// widest run of neighbours whose LCPs are all at least `h` (an LCP interval).
fn token_groups(tree: &Tree, node: u32, o: &Options, depth: usize) -> Vec<Group> {
    // Blocks whose ids were not kept are shorter than MIN_GAIN: in no group.
    let mut kids: Vec<(&[u32], u32)> = Vec::new();
    for c in tree.children(node) {
        if let Some(ids) = tree.blocks.ids(tree.nodes[c as usize].block) {
            kids.push((ids, c));
        }
        if kids.len() > MAX_GROUPED_CHILDREN {
            return Vec::new();
        }
    }
    if kids.len() < 2 {
        return Vec::new();
    }
    kids.sort_unstable();
    let h: Vec<usize> = kids
        .windows(2)
        .map(|w| common_prefix_len(w[0].0, w[1].0))
        .collect();
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for k in 0..h.len() {
        // A few shared tokens of the next block ("Fix bug" of different questions) are not a
        // prefix of their own: the node itself is reported instead.
        if h[k] < MIN_GAIN || depth + h[k] < o.min_tokens {
            continue;
        }
        let (mut l, mut r) = (k, k);
        while l > 0 && h[l - 1] >= h[k] {
            l -= 1;
        }
        while r + 1 < h.len() && h[r + 1] >= h[k] {
            r += 1;
        }
        if !seen.insert((l, r)) {
            continue;
        }
        let mut count = 0;
        let mut models: ModelCounts = Vec::new();
        for &(_, c) in &kids[l..=r + 1] {
            count += tree.nodes[c as usize].count as usize;
            for (m, n) in tree.models(c) {
                match models.iter_mut().find(|x| x.0 == m) {
                    Some(x) => x.1 += n,
                    None => models.push((m, n)),
                }
            }
        }
        out.push(Group {
            prefix: kids[l].0[..h[k]].to_vec(),
            count,
            models,
        });
    }
    out
}

/// `model`'s index among the models of the trees.
fn name_model(names: &mut Vec<String>, model: &str) -> Result<u16> {
    let m = u16::try_from(names.len())
        .map_err(|_| Error::Other("more than 65535 distinct models in the logs".into()))?;
    names.push(model.to_string());
    Ok(m)
}

/// Reads every log and finds the shared prefixes.
pub fn discover(a: &Analyzer, logs: &[&Path], o: &Options<'_>) -> Result<Discovery> {
    let mut read = ReadStats::default();
    let mut trees: Vec<Tree> = Vec::new();
    // `provider/model` -> its tree and its index in `model_names`, or unserved.
    let mut tree_of: HashMap<String, Option<(usize, u16)>> = HashMap::new();
    let mut model_names: Vec<String> = Vec::new();
    // A block seen once needs its ids only if it is long enough to start a token group.
    let keep = if o.min_requests >= 2 {
        Keep::SharedOrLong(MIN_GAIN)
    } else {
        Keep::All
    };
    let mut unserved: BTreeMap<String, usize> = BTreeMap::new();
    let mut requests = 0;
    let (mut first, mut last) = (f64::INFINITY, f64::NEG_INFINITY);
    // Usage facts of the models no tokenizer serves, gathered in the same pass.
    let mut facts: BTreeMap<String, (Gathered, First)> = BTreeMap::new();
    let mut too_large: BTreeMap<String, String> = BTreeMap::new();
    let lim = super::simulate::Limits::default();
    for (f, log) in logs.iter().enumerate() {
        read_log(log, &mut read, |rec| {
            let model = rec.model_name();
            let slot = match tree_of.get(&model) {
                Some(s) => *s,
                None => {
                    let s = match a.bare_tokenizer_for(&model) {
                        None => None,
                        Some(e) => {
                            let tree = match trees
                                .iter()
                                .position(|t| t.blocks.tokenizer().is_some_and(|k| k.id == e.id))
                            {
                                Some(i) => i,
                                None => {
                                    let tok = a.tokenizers.get(&e.id)?;
                                    trees.push(Tree::new(BlockStore::new(tok, keep, o.keep_text)));
                                    trees.len() - 1
                                }
                            };
                            Some((tree, name_model(&mut model_names, &model)?))
                        }
                    };
                    tree_of.insert(model.clone(), s);
                    s
                }
            };
            let Some((i, m)) = slot else {
                // Past the bounds of its facts, a model stays unserved, saying why.
                if o.lengths.is_some() && !too_large.contains_key(&model) {
                    if let Err(e) = super::lengths::gather_record(&mut facts, f, &rec, &lim, log) {
                        facts.remove(&model);
                        too_large.insert(model.clone(), e.to_string());
                    }
                }
                *unserved.entry(model).or_default() += 1;
                return Ok(());
            };
            if let Some(t) = rec.timestamp {
                first = first.min(t);
                last = last.max(t);
            }
            trees[i].add(&rec.blocks, m)?;
            requests += 1;
            Ok(())
        })?;
    }
    // Lengths for those models (usage, then what the caller adds: counts, a stand-in), and a
    // second pass for the ones they cover, each in a tree of its own (pseudo ids). Logs whose
    // models a tokenizer serves are read once, as before.
    let mut lengths = BTreeMap::new();
    if let (Some(find), false) = (o.lengths, facts.is_empty()) {
        let mut slot_of: HashMap<String, (usize, u16)> = HashMap::new();
        for (model, l) in find(facts)? {
            unserved.remove(&model);
            lengths.insert(model.clone(), l.report.clone());
            trees.push(Tree::new(BlockStore::from_lengths(l, keep, o.keep_text)));
            let m = name_model(&mut model_names, &model)?;
            slot_of.insert(model, (trees.len() - 1, m));
        }
        let mut again = ReadStats::default();
        for log in logs.iter().filter(|_| !slot_of.is_empty()) {
            read_log(log, &mut again, |rec| {
                let Some(&(i, m)) = slot_of.get(&rec.model_name()) else {
                    return Ok(());
                };
                if let Some(t) = rec.timestamp {
                    first = first.min(t);
                    last = last.max(t);
                }
                trees[i].add(&rec.blocks, m)?;
                requests += 1;
                Ok(())
            })?;
        }
    }
    let span_hours = (last > first).then(|| ((last - first) / 3600.0).max(1.0 / 60.0));
    let mut candidates = Vec::new();
    let mut texts = Vec::new();
    let mut all_ids: Vec<Vec<u32>> = Vec::new();
    for tree in &trees {
        // Registered prompts' ids under this tokenizer.
        // (None without a tokenizer: pseudo ids compare with no prompt.)
        let registered: Vec<(String, Vec<u32>)> = match tree.blocks.tokenizer() {
            Some(tok) => a
                .prompts
                .iter()
                .map(|p| TokenizedPrefix::new(tok, p, false).map(|t| (p.id.clone(), t.ids)))
                .collect::<Result<_>>()?,
            None => Vec::new(),
        };
        // Depth first, keeping the path's blocks and ids as it goes: each node adds its own
        // block (linear in the tree, where rebuilding each node's path was quadratic in depth).
        // A child has at most its parent's requests, so a subtree under `min_requests` is
        // skipped whole.
        let mut path: Vec<BlockId> = Vec::new();
        let mut path_ids: Vec<u32> = Vec::new();
        // (node, blocks and ids of its parent's path)
        let mut stack: Vec<(u32, usize, usize)> = vec![(0, 0, 0)];
        while let Some((n, depth, id_len)) = stack.pop() {
            let node = &tree.nodes[n as usize];
            if (node.count as usize) < o.min_requests {
                continue;
            }
            path.truncate(depth);
            path_ids.truncate(id_len);
            if n != 0 {
                path.push(node.block);
                // Every block of a path at least two requests share was kept (seen twice).
                let ids = tree.blocks.ids(node.block).ok_or_else(|| {
                    Error::Other("internal: a shared block's ids were not kept".into())
                })?;
                path_ids.extend_from_slice(ids);
            }
            for c in tree.children(n) {
                stack.push((c, path.len(), path_ids.len()));
            }
            // Next blocks that differ but start with the same tokens (a timestamp late in a
            // block): groups of children sharing a token prefix.
            let groups = token_groups(tree, n, o, path_ids.len());
            let covered = groups.iter().any(|g| g.count == node.count as usize);
            let mut found: Vec<Found> = groups
                .into_iter()
                .map(|g| {
                    let mut ids = path_ids.clone();
                    ids.extend_from_slice(&g.prefix);
                    (ids, g.count, g.models, path.clone())
                })
                .collect();
            // The node itself: a prefix its requests share that no child continues with all
            // of them (and no longer token group covers).
            let continued = tree
                .children(n)
                .any(|c| tree.nodes[c as usize].count == node.count);
            if n != 0 && !continued && !covered {
                found.push((
                    path_ids.clone(),
                    node.count as usize,
                    tree.models(n),
                    path.clone(),
                ));
            }
            for (ids, count, models, blocks) in found {
                if ids.len() < o.min_tokens || count < o.min_requests {
                    continue;
                }
                let fp = fingerprint(&ids);
                let mut registered_as = None;
                let mut closest: Option<(String, usize)> = None;
                for (pid, pids) in &registered {
                    let lcp = common_prefix_len(&ids, pids);
                    if lcp == pids.len() && !pids.is_empty() {
                        registered_as = Some(pid.clone());
                        break;
                    }
                    if lcp > closest.as_ref().map_or(0, |c| c.1) {
                        closest = Some((pid.clone(), lcp));
                    }
                }
                let model = models
                    .iter()
                    .map(|&(m, c)| (c, &model_names[m as usize]))
                    .max_by_key(|&(c, m)| (c, std::cmp::Reverse(m)))
                    .map(|(_, m)| m.clone())
                    .unwrap_or_default();
                candidates.push(Candidate {
                    id: format!("discovered-{}", &fp[7..19]),
                    tokenizer: tree.blocks.label().to_string(),
                    model,
                    requests: count,
                    requests_per_hour: span_hours.map(|h| count as f64 / h),
                    tokens: ids.len(),
                    blocks: blocks.len(),
                    fingerprint: fp,
                    prefix_of: closest
                        .as_ref()
                        .filter(|c| registered_as.is_none() && c.1 == ids.len())
                        .map(|c| c.0.clone()),
                    diverges_from: closest.filter(|c| registered_as.is_none() && c.1 < ids.len()),
                    registered: registered_as,
                });
                texts.push(if o.keep_text {
                    blocks
                        .iter()
                        .map(|&b| tree.blocks.text(b).unwrap_or_default().to_string())
                        .collect()
                } else {
                    Vec::new()
                });
                all_ids.push(ids);
            }
        }
    }
    // A prefix a few tokens longer than one more requests share is not worth its own line
    // (requests in the same minute sharing a timestamp): keep it only past MIN_GAIN tokens.
    let shadow_input: Vec<shadow::Candidate<'_>> = candidates
        .iter()
        .zip(&all_ids)
        .map(|(c, ids)| shadow::Candidate {
            tokenizer: &c.tokenizer,
            requests: c.requests,
            ids,
        })
        .collect();
    let kept = shadow::unshadowed(&shadow_input, MIN_GAIN);
    drop(shadow_input);
    // The most cached tokens per unit of traffic first.
    let mut order = kept;
    order.sort_by_key(|&i| {
        (
            std::cmp::Reverse(candidates[i].requests * candidates[i].tokens),
            candidates[i].id.clone(),
        )
    });
    order.truncate(o.top);
    let distinct_blocks = trees.iter().map(|t| t.blocks.count()).sum();
    Ok(Discovery {
        read,
        unserved_models: unserved,
        requests,
        distinct_blocks,
        span_hours,
        candidates: order.iter().map(|&i| candidates[i].clone()).collect(),
        lengths,
        lengths_too_large: too_large,
        texts: order
            .iter()
            .map(|&i| std::mem::take(&mut texts[i]))
            .collect(),
    })
}

impl Discovery {
    /// Writes a prompt YAML stub and its text for each unregistered candidate into `dir`
    /// (files mode 0600, created inside `dir`, never through a link: [`super::stub`]): the one
    /// output that holds text. Returns the files written.
    pub fn write_prompts(&self, dir: &Path) -> Result<Vec<std::path::PathBuf>> {
        super::stub::write(&self.candidates, &self.texts, dir)
    }
}
