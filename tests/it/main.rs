//! Integration tests: one binary, one module per topic. Tests that need a process drive the
//! real `prefix` binary like a user would.

mod cache_rules;
mod claude_traffic;
mod cli;
mod conventions;
mod count;
mod daemon;
mod diagnosed;
mod differential;
mod discover;
mod docs_true;
mod exact_ids;
mod first_hour;
mod fleet;
mod golden;
mod hostile;
mod kv_events;
mod lifecycle;
mod live_color;
mod observability;
mod prometheus_e2e;
mod readme;
mod regressions;
mod reload;
mod status_page;
mod support;
mod templates;
mod tidy;
mod traffic_limits;
mod trust;
mod warmup;
mod writes_and_escaping;
