//! The `prefix` binary: parses arguments, runs the command, maps the outcome to the documented
//! exit codes (0 ok, 1 a fingerprint changed, 2 error). Everything else is library code.

use clap::Parser;

/// jemalloc with background threads: pages freed after a cold pass (tokenizers of tens of MB
/// loaded and dropped) go back to the OS within seconds, where glibc's malloc kept them
/// (183-217 MB resident instead of about 70) unless tuned with environment variables.
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
use prefix_warden::cli::{self, Cli, Outcome};

/// Returns every jemalloc arena's unused dirty pages to the OS
/// (`arena.<MALLCTL_ARENAS_ALL>.purge`); installed for the daemon to call after each pass. A
/// failure only means the pages go back later, by decay.
fn purge_jemalloc() {
    // MALLCTL_ARENAS_ALL is 4096 in jemalloc 5.
    const NAME: &[u8] = b"arena.4096.purge\0";
    // SAFETY: `NAME` is a NUL-terminated mallctl name that takes no input and gives no output,
    // so null old/new pointers with zero lengths are what jemalloc expects.
    let rc = unsafe {
        tikv_jemalloc_sys::mallctl(
            NAME.as_ptr().cast(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        )
    };
    if rc != 0 {
        tracing::debug!(rc, "jemalloc purge failed; freed pages return by decay");
    }
}

fn main() {
    prefix_warden::memory::set_release(purge_jemalloc);
    // A panic message can quote the data being processed (a string slice error prints the
    // string): prompt text must never reach stderr that way, so only the location is shown.
    std::panic::set_hook(Box::new(|info| {
        // Panics of the `tokenizers` crate on malformed files are caught and reported as an
        // error naming the file (tokenizer::HfJson); nothing to add here.
        if info
            .location()
            .is_some_and(|l| l.file().contains("/tokenizers-"))
        {
            return;
        }
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_else(|| "an unknown place".into());
        eprintln!("error: internal error at {at} (message withheld: it may quote prompt text)");
    }));
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    prefix_warden::logging::init(cli.log_format);
    match cli::run(cli) {
        Ok(Outcome::Ok) => std::process::exit(0),
        Ok(Outcome::Changed) => std::process::exit(1),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    }
}
