//! What the renderer lacks, named: the Jinja2 filters, tests and globals and the Python methods
//! that transformers' environment accepts and minijinja (as [`super::hf_env`] configures it)
//! does not. A template error caused by one of them says so in one line (template line and
//! feature), so that it reads as a limit of prefix-warden, not as a broken template; and the
//! extras minijinja has and Jinja2 lacks are removed from the environment, so a template that
//! uses one fails here as it fails in transformers instead of rendering.

use minijinja::ErrorKind;

/// Jinja2 3.1's built-in filters minijinja has no equivalent of.
const JINJA2_FILTERS: &[&str] = &[
    "center",
    "filesizeformat",
    "forceescape",
    "random",
    "striptags",
    "truncate",
    "urlize",
    "wordcount",
    "wordwrap",
    "xmlattr",
];

/// Jinja2 3.1's built-in tests minijinja has no equivalent of.
const JINJA2_TESTS: &[&str] = &["callable"];

/// Jinja2's default globals minijinja has no equivalent of.
const JINJA2_GLOBALS: &[&str] = &["lipsum", "cycler", "joiner"];

/// minijinja's filters, tests and globals that Jinja2 lacks (a template using one raises in
/// transformers: `No filter named 'split'`).
pub const MINIJINJA_ONLY_FILTERS: &[&str] = &["split", "lines", "bool", "chain", "zip"];
pub const MINIJINJA_ONLY_TESTS: &[&str] = &["safe", "int", "startingwith", "endingwith"];
pub const MINIJINJA_ONLY_GLOBALS: &[&str] = &["debug"];

/// Python 3.11's `str` methods (the sandbox lets a template call any of them).
const STR_METHODS: &[&str] = &[
    "capitalize",
    "casefold",
    "center",
    "count",
    "encode",
    "endswith",
    "expandtabs",
    "find",
    "format",
    "format_map",
    "index",
    "isalnum",
    "isalpha",
    "isascii",
    "isdecimal",
    "isdigit",
    "isidentifier",
    "islower",
    "isnumeric",
    "isprintable",
    "isspace",
    "istitle",
    "isupper",
    "join",
    "ljust",
    "lower",
    "lstrip",
    "maketrans",
    "partition",
    "removeprefix",
    "removesuffix",
    "replace",
    "rfind",
    "rindex",
    "rjust",
    "rpartition",
    "rsplit",
    "rstrip",
    "split",
    "splitlines",
    "startswith",
    "strip",
    "swapcase",
    "title",
    "translate",
    "upper",
    "zfill",
];

/// `dict` and `list` methods that do not modify (transformers' immutable sandbox refuses the
/// others, as minijinja does).
const DICT_METHODS: &[&str] = &["copy", "fromkeys", "get", "items", "keys", "values"];
const LIST_METHODS: &[&str] = &["copy", "count", "index"];

/// The feature `e` reports missing, when transformers' environment has it: "the `wordwrap`
/// filter", "the str method `zfill()`".
pub fn feature(e: &minijinja::Error) -> Option<String> {
    let detail = e.detail()?;
    let name = |prefix: &str, suffix: &str| {
        detail
            .strip_prefix(prefix)
            .and_then(|d| d.strip_suffix(suffix))
            .map(str::to_string)
    };
    match e.kind() {
        ErrorKind::UnknownFilter => name("filter ", " is unknown")
            .filter(|n| JINJA2_FILTERS.contains(&n.as_str()))
            .map(|n| format!("the `{n}` filter")),
        ErrorKind::UnknownTest => name("test ", " is unknown")
            .filter(|n| JINJA2_TESTS.contains(&n.as_str()))
            .map(|n| format!("the `{n}` test")),
        ErrorKind::UnknownFunction => name("", " is unknown")
            .filter(|n| JINJA2_GLOBALS.contains(&n.as_str()))
            .map(|n| format!("the global `{n}()`")),
        ErrorKind::UnknownMethod => {
            let (kind, method) = detail.split_once(" has no method named ")?;
            let (py, known) = match kind {
                "string" => ("str", STR_METHODS),
                "map" => ("dict", DICT_METHODS),
                "sequence" => ("list", LIST_METHODS),
                _ => return None,
            };
            known
                .contains(&method)
                .then(|| format!("the {py} method `{method}()`"))
        }
        _ => None,
    }
}
