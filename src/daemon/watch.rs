//! Change detection for the files the daemon depends on: the config, every prompt definition
//! and text file, every tokenizer file and spec. A snapshot is (path, size, mtime) per file;
//! two snapshots differ when any file was added, removed, resized or touched. Polling keeps this
//! portable and cheap (a few dozen `stat` calls); content hashes decide what actually changed.

use std::path::PathBuf;
use std::time::SystemTime;

use crate::analyzer::Analyzer;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot(Vec<(PathBuf, Option<(u64, SystemTime)>)>);

impl Snapshot {
    pub fn take(a: &Analyzer) -> Self {
        let mut paths = vec![
            a.config.path.clone(),
            a.config.cache_rules.clone(),
            a.config.model_lifecycle.clone(),
        ];
        if let Ok(rd) = std::fs::read_dir(&a.config.prompts_dir) {
            paths.extend(rd.filter_map(|e| e.ok().map(|e| e.path())));
        }
        for p in &a.prompts {
            paths.extend(p.text_file.clone());
        }
        for t in a.config.tokenizers.iter().filter(|t| !t.format.is_count()) {
            paths.push(t.file.clone());
            paths.extend(t.spec.clone());
            paths.extend(
                t.template
                    .iter()
                    .filter(|te| !te.harmony)
                    .map(|te| te.file.clone()),
            );
        }
        paths.sort();
        paths.dedup();
        Snapshot(
            paths
                .into_iter()
                .map(|p| {
                    let meta = std::fs::metadata(&p)
                        .ok()
                        .and_then(|m| Some((m.len(), m.modified().ok()?)));
                    (p, meta)
                })
                .collect(),
        )
    }

    /// The first path that differs, for the log line.
    pub fn describe_change(&self, before: &Snapshot) -> String {
        self.0
            .iter()
            .find(|e| !before.0.contains(e))
            .or_else(|| before.0.iter().find(|e| !self.0.contains(e)))
            .map(|(p, _)| p.display().to_string())
            .unwrap_or_default()
    }
}
