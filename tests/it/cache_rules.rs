//! Table-driven tests of the shipped cache rules (data/cache-rules.toml): one case per rule in
//! shared/reference/provider-cache-semantics.md.

use prefix_warden::cache_rules::{CacheRules, Layout};

use crate::support::root;

fn rules() -> CacheRules {
    CacheRules::load(&root().join("data/cache-rules.toml")).unwrap()
}

struct Case {
    name: &'static str,
    model: &'static str,
    /// Block ends of the old and new requests (token offsets); every block is a breakpoint
    /// unless `breakpoints` says otherwise.
    old_blocks: &'static [usize],
    new_blocks: &'static [usize],
    breakpoints: Option<&'static [usize]>,
    /// Breakpoints of the new request when they differ from the old one's.
    new_breakpoints: Option<&'static [usize]>,
    lcp: usize,
    want_rule: &'static str,
    want: usize,
}

fn check(c: &Case, r: &CacheRules) {
    let ap = r
        .for_model(c.model)
        .unwrap_or_else(|| panic!("{}: no rule for {}", c.name, c.model));
    assert_eq!(ap.rule.id, c.want_rule, "{}: rule", c.name);
    let all_old: Vec<usize> = (0..c.old_blocks.len()).collect();
    let all_new: Vec<usize> = (0..c.new_blocks.len()).collect();
    let old = Layout {
        len: *c.old_blocks.last().unwrap(),
        block_ends: c.old_blocks,
        breakpoints: c.breakpoints.unwrap_or(&all_old),
    };
    let new = Layout {
        len: *c.new_blocks.last().unwrap(),
        block_ends: c.new_blocks,
        breakpoints: c.new_breakpoints.or(c.breakpoints).unwrap_or(&all_new),
    };
    assert_eq!(ap.surviving(&old, &new, c.lcp), c.want, "{}", c.name);
}

#[test]
fn provider_rules() {
    let r = rules();
    let cases = [
        // Anthropic
        Case { name: "anthropic: below the model minimum nothing is cached", model: "anthropic/claude-sonnet-4-5", old_blocks: &[1000], new_blocks: &[1000], breakpoints: None, new_breakpoints: None, lcp: 1000, want_rule: "anthropic", want: 0 },
        Case { name: "anthropic: sonnet 4.5 minimum is 1024", model: "anthropic/claude-sonnet-4-5-20250929", old_blocks: &[1024], new_blocks: &[1024], breakpoints: None, new_breakpoints: None, lcp: 1024, want_rule: "anthropic", want: 1024 },
        Case { name: "anthropic: opus 4.6 minimum is 4096", model: "anthropic/claude-opus-4-6", old_blocks: &[3000, 5000], new_blocks: &[3000, 5000], breakpoints: None, new_breakpoints: None, lcp: 5000, want_rule: "anthropic", want: 5000 },
        Case { name: "anthropic: opus 4.6 first breakpoint under 4096 does not count", model: "anthropic/claude-opus-4-6", old_blocks: &[3000, 5000], new_blocks: &[3000, 5001], breakpoints: None, new_breakpoints: None, lcp: 4000, want_rule: "anthropic", want: 0 },
        Case { name: "anthropic: hits only at breakpoints, no partial block", model: "anthropic/claude-sonnet-4-5", old_blocks: &[2000, 6000, 9000], new_blocks: &[2000, 6000, 9005], breakpoints: None, new_breakpoints: None, lcp: 8000, want_rule: "anthropic", want: 6000 },
        Case { name: "anthropic: block boundary moved means the block is not identical", model: "anthropic/claude-sonnet-4-5", old_blocks: &[2000, 6000], new_blocks: &[2001, 6000], breakpoints: None, new_breakpoints: None, lcp: 1990, want_rule: "anthropic", want: 0 },
        Case { name: "anthropic: haiku 3.5 minimum is 2048", model: "anthropic/claude-3-5-haiku-latest", old_blocks: &[2000], new_blocks: &[2000], breakpoints: None, new_breakpoints: None, lcp: 2000, want_rule: "anthropic", want: 0 },
        Case {
            name: "anthropic: an entry 25 blocks before the only new breakpoint is out of the 20-block lookback",
            model: "anthropic/claude-sonnet-4-5",
            old_blocks: &[2000, 2010, 2020, 2030, 2040, 2050, 2060, 2070, 2080, 2090, 2100, 2110, 2120, 2130, 2140, 2150, 2160, 2170, 2180, 2190, 2200, 2210, 2220, 2230, 2240, 2250],
            new_blocks: &[2000, 2010, 2020, 2030, 2040, 2050, 2060, 2070, 2080, 2090, 2100, 2110, 2120, 2130, 2140, 2150, 2160, 2170, 2180, 2190, 2200, 2210, 2220, 2230, 2240, 2250],
            breakpoints: Some(&[0, 25]),
            new_breakpoints: Some(&[25]),
            lcp: 2005,
            want_rule: "anthropic",
            want: 0,
        },
        Case {
            name: "anthropic: within 20 blocks the earlier entry is found",
            model: "anthropic/claude-sonnet-4-5",
            old_blocks: &[2000, 2010, 2020, 2030, 2040, 2050, 2060, 2070, 2080, 2090, 2100, 2110, 2120, 2130, 2140, 2150, 2160, 2170, 2180, 2190],
            new_blocks: &[2000, 2010, 2020, 2030, 2040, 2050, 2060, 2070, 2080, 2090, 2100, 2110, 2120, 2130, 2140, 2150, 2160, 2170, 2180, 2190],
            breakpoints: Some(&[0, 19]),
            new_breakpoints: Some(&[19]),
            lcp: 2005,
            want_rule: "anthropic",
            want: 2000,
        },
        Case { name: "anthropic: only the last 4 breakpoints are used", model: "anthropic/claude-sonnet-4-5", old_blocks: &[1100, 1200, 1300, 1400, 1500], new_blocks: &[1100, 1200, 1300, 1400, 1501], breakpoints: None, new_breakpoints: None, lcp: 1150, want_rule: "anthropic", want: 0 },
        // OpenAI before GPT-5.6
        Case { name: "openai: below 1024 nothing", model: "openai/gpt-4.1", old_blocks: &[1000], new_blocks: &[1000], breakpoints: None, new_breakpoints: None, lcp: 1000, want_rule: "openai", want: 0 },
        Case { name: "openai: 1024 minimum then 128-token steps", model: "openai/gpt-4o", old_blocks: &[5000], new_blocks: &[5000], breakpoints: None, new_breakpoints: None, lcp: 1100, want_rule: "openai", want: 1024 },
        Case { name: "openai: common prefix rounded down to 128", model: "openai/gpt-5.1", old_blocks: &[5000], new_blocks: &[5000], breakpoints: None, new_breakpoints: None, lcp: 2000, want_rule: "openai", want: 1920 },
        // OpenAI from GPT-5.6
        Case { name: "openai 5.6: only breakpoint boundaries, no 128-step partial credit", model: "openai/gpt-5.6", old_blocks: &[1500, 4000], new_blocks: &[1500, 4003], breakpoints: None, new_breakpoints: None, lcp: 3990, want_rule: "openai-gpt-5.6", want: 1500 },
        Case { name: "openai 5.6: 1024 minimum", model: "openai/gpt-5.6-mini", old_blocks: &[900, 4000], new_blocks: &[900, 4003], breakpoints: None, new_breakpoints: None, lcp: 3990, want_rule: "openai-gpt-5.6", want: 0 },
        // Gemini implicit
        Case { name: "gemini 2.5 flash: 2048 minimum", model: "gemini/gemini-2.5-flash", old_blocks: &[5000], new_blocks: &[5000], breakpoints: None, new_breakpoints: None, lcp: 2047, want_rule: "gemini-implicit", want: 0 },
        Case { name: "gemini 2.5 flash: token-granular above the minimum", model: "gemini/gemini-2.5-flash", old_blocks: &[5000], new_blocks: &[5000], breakpoints: None, new_breakpoints: None, lcp: 3001, want_rule: "gemini-implicit", want: 3001 },
        Case { name: "gemini 3: 4096 minimum", model: "gemini/gemini-3.5-flash", old_blocks: &[5000], new_blocks: &[5000], breakpoints: None, new_breakpoints: None, lcp: 4000, want_rule: "gemini-implicit", want: 0 },
        // Bedrock
        Case { name: "bedrock claude: second checkpoint needs twice the minimum", model: "bedrock/anthropic.claude-sonnet-4-5", old_blocks: &[1100, 1500, 9000], new_blocks: &[1100, 1500, 9001], breakpoints: None, new_breakpoints: None, lcp: 8000, want_rule: "bedrock-claude", want: 1100 },
        Case { name: "bedrock claude: opus 4.5 minimum 4096", model: "bedrock/anthropic.claude-opus-4-5", old_blocks: &[4000], new_blocks: &[4000], breakpoints: None, new_breakpoints: None, lcp: 4000, want_rule: "bedrock-claude", want: 0 },
        Case { name: "bedrock nova: 1K minimum", model: "bedrock/amazon.nova-pro-v1", old_blocks: &[1200], new_blocks: &[1200], breakpoints: None, new_breakpoints: None, lcp: 1200, want_rule: "bedrock-nova", want: 1200 },
        // vLLM
        Case { name: "vllm: full 16-token blocks of the common prefix", model: "vllm/Qwen3-32B", old_blocks: &[500], new_blocks: &[500], breakpoints: None, new_breakpoints: None, lcp: 100, want_rule: "vllm", want: 96 },
        Case { name: "vllm: the last token is recomputed, so its block never hits", model: "vllm/Qwen3-32B", old_blocks: &[64], new_blocks: &[64], breakpoints: None, new_breakpoints: None, lcp: 64, want_rule: "vllm", want: 48 },
        // SGLang
        Case { name: "sglang: token-granular", model: "sglang/Qwen3-32B", old_blocks: &[500], new_blocks: &[500], breakpoints: None, new_breakpoints: None, lcp: 37, want_rule: "sglang", want: 37 },
        Case { name: "sglang: capped at input length - 1", model: "sglang/Qwen3-32B", old_blocks: &[50], new_blocks: &[50], breakpoints: None, new_breakpoints: None, lcp: 50, want_rule: "sglang", want: 49 },
    ];
    for c in &cases {
        check(c, &r);
    }
}

#[test]
fn model_resolution_and_prices() {
    let r = rules();
    assert!(r.for_model("acme/unknown-model").is_none());
    assert!(r.for_model("no-provider-part").is_none());
    let gpt4o = r.for_model("openai/gpt-4o-mini").unwrap();
    assert_eq!(gpt4o.read_multiplier(), 0.5, "gpt-4o-era reads are 50% off");
    let gpt41 = r.for_model("openai/gpt-4.1").unwrap();
    assert_eq!(gpt41.read_multiplier(), 0.25);
    let sonnet = r.for_model("anthropic/claude-sonnet-4-5").unwrap();
    assert_eq!(
        (sonnet.rule.write_multiplier, sonnet.read_multiplier()),
        (1.25, 0.1)
    );
    assert_eq!(sonnet.model.input_usd_per_mtok, 3.0);
    // Every rule has a source and at least one model.
    for rule in &r.rules {
        assert!(
            !rule.source.is_empty() && !rule.models.is_empty(),
            "{}",
            rule.id
        );
    }
}

#[test]
fn a_bad_rules_file_names_the_line_and_field() {
    let e = CacheRules::parse(
        std::path::Path::new("rules.toml"),
        "[[rule]]\nid = \"x\"\nprovider = \"p\"\nkind = \"sometimes\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("rules.toml:4: rule[0].kind"), "{e}");
}
