//! The `dns` backend: a TXT record holds the color, SRV records list the targets; one
//! configured server, no cache.

use super::*;

/// `host:port`, or an IP alone for port 53.
pub(super) fn parse_server(s: &str) -> Result<SocketAddr, String> {
    s.parse::<SocketAddr>()
        .or_else(|_| {
            s.parse::<std::net::IpAddr>()
                .map(|ip| SocketAddr::new(ip, 53))
        })
        .map_err(|_| format!("`{s}` is not an address such as 127.0.0.1:5353"))
}

/// `name` as a fully qualified name, so no search domain is ever appended.
pub(super) fn fqdn(name: &str) -> Result<Name, String> {
    let name = name.trim();
    let dotted = if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    };
    match Name::from_ascii(&dotted) {
        Ok(n) if !name.is_empty() && !n.is_root() => Ok(n),
        _ => Err(format!("`{name}` is not a dns name")),
    }
}

/// A resolver that asks only `server` (UDP, TCP on truncation), once, and caches nothing.
pub(super) fn dns_resolver(server: SocketAddr) -> TokioResolver {
    let mut group = NameServerConfigGroup::new();
    for protocol in [Protocol::Udp, Protocol::Tcp] {
        let mut ns = NameServerConfig::new(server, protocol);
        // NXDOMAIN from the one server is the answer; do not ask it again over the other
        // protocol.
        ns.trust_negative_responses = true;
        group.push(ns);
    }
    let config = ResolverConfig::from_parts(None, vec![], group);
    let mut opts = ResolverOpts::default();
    opts.cache_size = 0;
    opts.positive_max_ttl = Some(Duration::ZERO);
    opts.negative_max_ttl = Some(Duration::ZERO);
    // One try; the warm-up loop decides about retries.
    opts.attempts = 0;
    opts.timeout = DNS_TIMEOUT;
    opts.num_concurrent_reqs = 1;
    opts.ndots = 0;
    opts.use_hosts_file = ResolveHosts::Never;
    opts.preserve_intermediates = false;
    TokioResolver::builder_with_config(config, TokioConnectionProvider::default())
        .with_options(opts)
        .build()
}

/// A DNS failure: `Ok(())` when the name or its records do not exist (NXDOMAIN, NODATA),
/// `Err(Unavailable)` for everything else (timeout, SERVFAIL, REFUSED, IO).
pub(super) fn absent_or_unavailable(src: &str, e: &ResolveError) -> Result<(), LookupError> {
    if let Some(p) = e.proto() {
        if let ProtoErrorKind::NoRecordsFound { response_code, .. } = p.kind() {
            return match response_code {
                ResponseCode::NXDomain | ResponseCode::NoError => Ok(()),
                rc => Err(LookupError::Unavailable(format!(
                    "{src}: server answered {}",
                    rc.to_string().to_lowercase()
                ))),
            };
        }
    }
    Err(LookupError::Unavailable(format!("{src}: {}", one_line(e))))
}

pub(super) async fn resolve_dns(
    resolver: &TokioResolver,
    server: SocketAddr,
    color_txt: &str,
    targets_srv: &str,
    scheme: &str,
) -> Result<LiveColor, LookupError> {
    // Belt and braces: the cache is off, but a stale answer here is the one bug that must not
    // happen.
    resolver.clear_cache();
    let src = format!("dns {server} txt {color_txt}");
    let name = fqdn(color_txt).map_err(|m| LookupError::Malformed(format!("{src}: {m}")))?;
    let mut records: Vec<Vec<u8>> = Vec::new();
    match resolver.txt_lookup(name).await {
        Ok(txt) => {
            for record in txt.iter() {
                // One record may be split into several strings; they form one value.
                records.push(
                    record
                        .txt_data()
                        .iter()
                        .flat_map(|s| s.iter())
                        .copied()
                        .collect(),
                );
            }
        }
        Err(e) => absent_or_unavailable(&src, &e)?,
    }
    let color = txt_color(&src, &records)?;
    let srv_name = targets_srv.replace("{color}", &color);
    let srv_src = format!("dns {server} srv {srv_name}");
    let name = fqdn(&srv_name).map_err(|m| LookupError::Malformed(format!("{srv_src}: {m}")))?;
    let mut records: Vec<(u16, u16, String, u16)> = Vec::new();
    match resolver.srv_lookup(name).await {
        Ok(srv) => {
            for r in srv.iter() {
                // RFC 2782: a target of "." means the service is not offered there.
                if r.target().is_root() {
                    continue;
                }
                let host = r.target().to_ascii();
                let host = host.trim_end_matches('.').to_string();
                records.push((r.priority(), r.weight(), host, r.port()));
            }
        }
        Err(e) => absent_or_unavailable(&srv_src, &e)?,
    }
    // Lowest priority first; within a priority, highest weight first; then by name for a
    // stable order.
    records.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then(b.1.cmp(&a.1))
            .then_with(|| (&a.2, a.3).cmp(&(&b.2, b.3)))
    });
    let mut targets: Vec<String> = Vec::with_capacity(records.len());
    for (_, _, host, port) in records {
        let t = format!("{scheme}://{host}:{port}");
        if !targets.contains(&t) {
            targets.push(t);
        }
    }
    let reason = format!("dns {server}: txt {color_txt}={color}, srv {srv_name}");
    live(color, targets, None, reason)
}

/// The color named by TXT records (each one's strings joined): exactly one distinct value.
pub fn txt_color(src: &str, records: &[Vec<u8>]) -> Result<String, LookupError> {
    let mut values: Vec<String> = Vec::new();
    for bytes in records {
        let v = std::str::from_utf8(bytes)
            .map_err(|_| LookupError::Malformed(format!("{src}: record is not utf-8")))?;
        let v = v.trim().trim_matches('"').trim().to_string();
        if !values.contains(&v) {
            values.push(v);
        }
    }
    let raw = match values.as_slice() {
        [] => return Err(LookupError::Malformed(format!("{src}: no txt record"))),
        [one] => one,
        many => {
            let shown: Vec<String> = many
                .iter()
                .take(4)
                .map(|v| v.escape_default().to_string())
                .collect();
            return Err(LookupError::Malformed(format!(
                "{src}: txt records disagree: {}",
                shown.join(", ")
            )));
        }
    };
    check_color(src, "value", raw)
}
