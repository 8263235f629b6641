#!/usr/bin/env bash
# Coverage-guided fuzzing of prefix-warden's parsers: scripts/fuzz.sh SECONDS [TARGET...]
#
# Engine: libFuzzer through cargo-fuzz (`cargo install cargo-fuzz --locked`), built on the
# installed nightly toolchain (`cargo +nightly fuzz build`: release optimizations with debug
# assertions and overflow checks on, AddressSanitizer, SanitizerCoverage). libFuzzer because it
# needs nothing outside the registries (it ships inside the libfuzzer-sys crate), and cargo-fuzz
# is the standard Rust harness for it. The fuzz package (fuzz/) is its own workspace, built
# into fuzz/target, so the root workspace and its target/ never see nightly or libFuzzer.
#
# Each target (fuzz/fuzz_targets/<target>.rs; its doc comment says what must hold) runs for
# SECONDS, one after another (never concurrently: 2 cores), all of them when none is named.
# Its committed seeds, fuzz/corpus/<target>/, are read only; what libFuzzer finds goes to a
# scratch corpus, fuzz/target/corpus/<target>/, kept between runs (FUZZ_FRESH=1 empties it).
# Logs: fuzz/target/logs/<target>.log. Crash, timeout and OOM inputs: fuzz/artifacts/<target>/.
#
# Output: one line per target with executions, exec/s, corpus size, coverage and what it found.
# Exit status: non-zero if any target crashed (panic, abort, sanitizer report), hung (an input
# took more than 10 s), ran out of memory (2 GiB RSS, or one allocation larger) or leaked.
# `known=N`: panics a target tolerates as already-reported bugs of a dependency (hf_json: inside
# the `tokenizers` crate, see fuzz/fuzz_targets/hf_json.rs), one line each below the target's;
# they do not fail the run unless FUZZ_STRICT=1.
#
# Reproducing a finding (prints the panic and its backtrace; no fuzzing):
#   CARGO_TARGET_DIR=fuzz/target cargo +nightly fuzz run --fuzz-dir fuzz TARGET fuzz/artifacts/TARGET/crash-...
# or run the built binary on the file:
#   RUST_BACKTRACE=1 fuzz/target/x86_64-unknown-linux-gnu/release/TARGET fuzz/artifacts/TARGET/crash-...
# (a tolerated known-upstream-* input, or a fuzz/regressions/ file: the same with FUZZ_STRICT=1).
# Minimize it: CARGO_TARGET_DIR=fuzz/target cargo +nightly fuzz tmin --fuzz-dir fuzz TARGET FILE
#
# Every crash found must become a regression test: keep the (minimized) input in
# fuzz/regressions/<target>-<short-name>, add a unit or integration test that feeds it to the
# same API and asserts an error (not a panic), fix the code, and add the input to the target's
# seed corpus so later runs start from it.
set -euo pipefail

ALL_TARGETS=(config prompt_yaml tiktoken tekken sentencepiece hf_json chat_template usage_batch ratelimit_headers live_color log_reader kv_events huge_pages split_blocks)

usage() {
    echo "usage: $0 SECONDS [TARGET...]   (targets: ${ALL_TARGETS[*]})" >&2
    exit 2
}
[[ $# -ge 1 && $1 =~ ^[1-9][0-9]*$ ]] || usage
secs=$1
shift
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=("${ALL_TARGETS[@]}")
for t in "${targets[@]}"; do
    [[ " ${ALL_TARGETS[*]} " == *" $t "* ]] || { echo "unknown target: $t" >&2; usage; }
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fuzz=$root/fuzz
export CARGO_TARGET_DIR=$fuzz/target
triple=x86_64-unknown-linux-gnu

# Largest input: file formats up to 1 MiB (libFuzzer grows lengths gradually), others 64 KiB.
max_len() {
    case $1 in
        config | prompt_yaml | tiktoken | tekken | sentencepiece | hf_json) echo $((1 << 20)) ;;
        chat_template) echo $((64 << 10)) ;;
        *) echo $((64 << 10)) ;;
    esac
}

cd "$root"
# cargo-fuzz has no --locked: check the committed fuzz/Cargo.lock is current first, so a run
# never rewrites it (a test run must leave `git status` clean).
cargo metadata --locked --offline --format-version 1 --manifest-path "$fuzz/Cargo.toml" >/dev/null 2>&1 ||
    cargo metadata --locked --format-version 1 --manifest-path "$fuzz/Cargo.toml" >/dev/null ||
    { echo "fuzz/Cargo.lock is out of date: cd fuzz && cargo update -p prefix-warden-core, and commit it" >&2; exit 1; }
echo "building fuzz targets (cargo +nightly fuzz build, into $CARGO_TARGET_DIR)" >&2
cargo +nightly fuzz build --fuzz-dir "$fuzz" --release --debug-assertions >&2

mkdir -p "$CARGO_TARGET_DIR/logs"
failed=()
for t in "${targets[@]}"; do
    bin=$CARGO_TARGET_DIR/$triple/release/$t
    work=$CARGO_TARGET_DIR/corpus/$t
    log=$CARGO_TARGET_DIR/logs/$t.log
    [[ ${FUZZ_FRESH:-0} == 1 ]] && rm -rf "$work"
    mkdir -p "$work" "$fuzz/artifacts/$t" "$fuzz/corpus/$t"
    rc=0
    FUZZ_ARTIFACTS=$fuzz/artifacts/$t RUST_BACKTRACE=1 "$bin" "$work" "$fuzz/corpus/$t" \
        -max_total_time="$secs" -max_len="$(max_len "$t")" \
        -rss_limit_mb=2048 -timeout=10 \
        -artifact_prefix="$fuzz/artifacts/$t/" -print_final_stats=1 \
        >"$log" 2>&1 || rc=$?

    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
    # The last status line: `#N  DONE  cov: C ft: F corp: U/SIZE ...`.
    status=$(grep -E '^#[0-9]+' "$log" | tail -n1 || true)
    corp=$(sed -nE 's/.* corp: ([0-9]+\/[0-9]+[a-zA-Z]*).*/\1/p' <<<"$status")
    cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$status")
    crashes=0 timeouts=0 ooms=0 leaks=0
    # Panics a target tolerates as already-reported upstream bugs (see hf_json.rs), by location.
    known=$(grep -c '^KNOWN-UPSTREAM-PANIC' "$log" || true)
    grep -qE 'ERROR: libFuzzer: timeout' "$log" && timeouts=1
    grep -qE 'ERROR: libFuzzer: (out-of-memory|malloc limit)|out-of-memory \(malloc' "$log" && ooms=1
    grep -qE 'ERROR: LeakSanitizer' "$log" && leaks=1
    if grep -qE "ERROR: libFuzzer: deadly signal|ERROR: AddressSanitizer|panicked at|ERROR: libFuzzer: fuzz target (exited|overwrites)" "$log"; then
        crashes=1
    fi
    result=ok
    if [[ $rc -ne 0 || $crashes$timeouts$ooms$leaks != 0000 ]]; then
        result="FAILED (exit $rc)"
        [[ $crashes$timeouts$ooms$leaks == 0000 ]] && crashes=1 # an unrecognized failure counts as a crash
        failed+=("$t")
    fi
    printf '%-18s execs=%-10s exec/s=%-7s corpus=%-14s cov=%-6s crashes=%d timeouts=%d ooms=%d leaks=%d known=%d  %s\n' \
        "$t" "${execs:-?}" "${rate:-?}" "${corp:-?}" "${cov:-?}" "$crashes" "$timeouts" "$ooms" "$leaks" "$known" "$result"
    grep '^KNOWN-UPSTREAM-PANIC' "$log" | sed 's/^/    /' || true
    if [[ $result != ok ]]; then
        grep -E 'Test unit written to|panicked at|SUMMARY|ERROR:' "$log" | head -n 8 | sed 's/^/    /'
        echo "    log: $log"
    fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzz: findings in: ${failed[*]} (inputs under fuzz/artifacts/; see the header to reproduce)" >&2
    exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${secs}s each, no crash, hang, OOM or leak" >&2
