//! Issue #20, item 10: numbers and paths in the docs that can go stale are checked against the
//! tree: every relative link and every backquoted repository path resolves, the alert count
//! matches the rules file and the alerts table lists every alert.

use crate::support::root;

const DOCS: &[&str] = &["README.md", "ARCHITECTURE.md", "deploy/README.md"];

/// Every Markdown file of the project (the vendored crate's own docs aside).
fn docs() -> Vec<(String, String)> {
    let mut files: Vec<String> = DOCS.iter().map(|s| s.to_string()).collect();
    for sub in [
        "docs",
        "tokenizers",
        "templates",
        "prompts/texts",
        "tests/data/corpus",
    ] {
        for e in std::fs::read_dir(root().join(sub)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "md") {
                files.push(format!(
                    "{sub}/{}",
                    p.file_name().unwrap().to_string_lossy()
                ));
            }
        }
    }
    files
        .into_iter()
        .map(|f| {
            let t = std::fs::read_to_string(root().join(&f)).unwrap();
            (f, t)
        })
        .collect()
}

#[test]
fn links_and_paths_in_the_docs_exist() {
    let mut missing = Vec::new();
    for (file, text) in docs() {
        let dir = std::path::Path::new(&file).parent().unwrap().to_path_buf();
        // Markdown links: ](target) with no scheme.
        for part in text.split("](").skip(1) {
            let target = part.split(')').next().unwrap_or("");
            let target = target.split('#').next().unwrap_or("");
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let p = root().join(&dir).join(target);
            match p.canonicalize() {
                Err(_) => missing.push(format!("{file}: link {target}")),
                Ok(c) if !c.starts_with(root().canonicalize().unwrap()) => {
                    missing.push(format!("{file}: link {target} leaves the repository"))
                }
                Ok(_) => {}
            }
        }
        // Backquoted paths of the repository's own source: `src/…`, `crates/…`, `scripts/…`.
        for (i, part) in text.split('`').enumerate() {
            // Build outputs (`fuzz/target/…`) are made by the scripts, not committed.
            if i.is_multiple_of(2)
                || part.contains(' ')
                || part.contains('*')
                || part.contains('<')
                || part.starts_with("fuzz/target/")
            {
                continue;
            }
            let looks_like_path = ["src/", "crates/", "scripts/", "deploy/", "tests/", "fuzz/"]
                .iter()
                .any(|p| part.starts_with(p))
                && (part.ends_with(".rs")
                    || part.ends_with(".sh")
                    || part.ends_with(".py")
                    || part.ends_with('/')
                    || part.ends_with(".yml")
                    || part.ends_with(".toml"));
            if looks_like_path && !root().join(part).exists() {
                missing.push(format!("{file}: path `{part}`"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "stale references:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_alert_count_and_table_match_the_rules() {
    let rules =
        std::fs::read_to_string(root().join("deploy/prometheus/prefix-warden.rules.yml")).unwrap();
    let alerts: Vec<&str> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    assert!(alerts.len() >= 11, "{alerts:?}");
    let deploy = std::fs::read_to_string(root().join("deploy/README.md")).unwrap();
    assert!(
        deploy.contains(&format!("and {} alerts", alerts.len())),
        "deploy/README.md states another alert count than the rules' {}",
        alerts.len()
    );
    let table = std::fs::read_to_string(root().join("docs/alerts.md")).unwrap();
    let runbook = std::fs::read_to_string(root().join("docs/runbook.md")).unwrap();
    for a in &alerts {
        assert!(
            table.contains(&format!("| {a} |")),
            "docs/alerts.md has no row for {a}"
        );
        assert!(
            runbook.to_lowercase().contains(&a.to_lowercase()),
            "docs/runbook.md has no entry for {a}"
        );
    }
}

/// Issue #20, item 1: the README's "Costs" lines are the ones `scripts/costs.sh` wrote, from the
/// run recorded in docs/costs.md (same commit, same total, same release-build time).
#[test]
fn the_readme_costs_come_from_the_recorded_run() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme
        .find("<!-- costs: written by scripts/costs.sh")
        .expect("costs block");
    let end = readme[start..]
        .find("<!-- /costs -->")
        .expect("end of the costs block")
        + start;
    let block = &readme[start..end];
    let Ok(costs) = std::fs::read_to_string(root().join("docs/costs.md")) else {
        // Before the first measured run (scripts/costs.sh runs these tests on the way), the
        // block must say so rather than carry figures from nowhere.
        assert!(
            block.contains("Not measured yet: run scripts/costs.sh."),
            "{block}"
        );
        return;
    };
    let commit = costs
        .split("at commit ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .expect("docs/costs.md names the commit");
    assert!(block.contains(&format!("commit {commit};")), "{block}");
    let secs = |name: &str| -> u64 {
        costs
            .lines()
            .find(|l| l.ends_with(&format!("| {name} |")))
            .and_then(|l| l.split('|').nth(1))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("docs/costs.md has no step `{name}`"))
    };
    let mins = |s: u64| format!("{} min {:02} s", s / 60, s % 60);
    let total: u64 = costs
        .lines()
        .find_map(|l| l.strip_prefix("- whole run as timed by costs.sh: "))
        .and_then(|l| l.strip_suffix(" s"))
        .and_then(|n| n.parse().ok())
        .expect("the whole run's seconds");
    assert!(
        block.contains(&format!("`scripts/test.sh` took {}", mins(total))),
        "{block}"
    );
    let build = secs("(release build from start to end, beside the debug build and the tests)");
    assert!(
        block.contains(&format!("does: at most {}", mins(build))),
        "{block}"
    );
}

/// docs/traffic.md shows the same miss-reason tables as the README (both written by
/// `scripts/reason-tables.sh`; tests/it/readme.rs runs the README's command and checks each
/// line against the binary).
#[test]
fn the_reason_tables_in_the_docs_are_the_readmes() {
    let blocks = |path: &str| -> Vec<String> {
        let text = std::fs::read_to_string(root().join(path)).unwrap();
        text.split("<!-- reasons:begin ")
            .skip(1)
            .map(|b| b.split("<!-- reasons:end -->").next().unwrap().to_string())
            .collect()
    };
    let readme = blocks("README.md");
    assert!(!readme.is_empty(), "README.md has no reason table");
    assert!(
        readme
            .iter()
            .all(|b| b.contains("# against the providers' diagnostics:")),
        "an empty reason block: run scripts/reason-tables.sh"
    );
    assert_eq!(readme, blocks("docs/traffic.md"));
}
