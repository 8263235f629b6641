//! The README's example runs are what the binary prints: every one-line `prefix ...` command in
//! a code block that is followed by `# ` output lines is run from the repository root, and
//! each output line shown must start a line of the real output (`…` ends an abridged value).
//! Examples whose output is elided (`...`) or that continue over lines are skipped.

use crate::support::{root, run_in, stderr, stdout};

#[test]
fn readme_example_outputs_match_the_binary() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let lines: Vec<&str> = readme.lines().collect();
    let squash = |l: &str| l.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut checked = 0;
    for (i, l) in lines.iter().enumerate() {
        let Some(cmd) = l.strip_prefix("prefix ") else {
            continue;
        };
        if cmd.ends_with('\\') {
            continue;
        }
        let shown: Vec<&str> = lines[i + 1..]
            .iter()
            .take_while(|x| x.starts_with('#'))
            .map(|x| x.trim_start_matches('#'))
            .collect();
        if shown.is_empty() || shown.iter().any(|x| x.contains("...")) {
            continue;
        }
        let args: Vec<&str> = cmd.split('#').next().unwrap().split_whitespace().collect();
        let o = run_in(&root(), &args);
        assert!(
            o.status.code().is_some_and(|c| c <= 1),
            "`prefix {cmd}`: {}",
            stderr(&o)
        );
        let printed: Vec<String> = stdout(&o).lines().map(squash).collect();
        for row in shown.iter().map(|r| squash(r)).filter(|r| !r.is_empty()) {
            let want = row.trim_end_matches('…');
            assert!(
                printed.iter().any(|p| p.starts_with(want)),
                "README line {}: `{row}` is not in the output of `prefix {cmd}`:\n{}",
                i + 1,
                stdout(&o)
            );
        }
        checked += 1;
    }
    assert!(
        checked >= 2,
        "the README examples this test runs: {checked}"
    );
}
