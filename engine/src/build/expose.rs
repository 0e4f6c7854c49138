//! EXPOSE values to the `<port>/<proto>` keys of an image's `ExposedPorts`, as BuildKit reads them
//! (ranges expanded, protocol lower-cased, a host IP and port tolerated but dropped).

fn number(raw: &str) -> Result<u32, String> {
    if raw.is_empty() {
        return Err("value is empty".into());
    }
    let n: i64 = raw.parse().map_err(|_| "invalid syntax".to_string())?;
    if !(0..=65535).contains(&n) {
        return Err("value out of range (0–65535)".into());
    }
    Ok(n as u32)
}

fn range(ports: &str) -> Result<(u32, u32), String> {
    if ports.is_empty() {
        return Err("empty string specified for ports".into());
    }
    let (start, end) = match ports.split_once('-') {
        Some((s, e)) => (s, Some(e)),
        None => (ports, None),
    };
    let first = number(start).map_err(|e| format!("invalid start port '{start}': {e}"))?;
    let Some(end) = end.filter(|e| *e != start) else {
        return Ok((first, first));
    };
    let last = number(end).map_err(|e| format!("invalid end port '{end}': {e}"))?;
    if last < first {
        return Err(format!("invalid port range: {ports}"));
    }
    Ok((first, last))
}

/// One EXPOSE value (`80`, `80/udp`, `8000-8010/tcp`, even `ip:host:container`) to its port keys.
pub fn expose_ports(raw: &str) -> Result<Vec<String>, String> {
    let parts: Vec<&str> = raw.split(':').collect();
    let n = parts.len();
    let (ip, host, container) = match n {
        1 => (String::new(), "", parts[0]),
        2 => (String::new(), parts[0], parts[1]),
        _ => (parts[..n - 2].join(":"), parts[n - 2], parts[n - 1]),
    };
    let (port, proto) = container.split_once('/').unwrap_or((container, ""));
    if port.is_empty() {
        return Err(format!("invalid port: {raw:?}: no port specified"));
    }
    let proto = match proto.to_ascii_lowercase().as_str() {
        "" => "tcp".to_string(),
        p @ ("tcp" | "udp" | "sctp") => p.to_string(),
        _ => return Err(format!("invalid port: {raw:?}: invalid proto: {proto}")),
    };
    let ip = match ip.strip_prefix('[') {
        Some(rest) => rest.strip_suffix(']').ok_or_else(|| format!("invalid IP address {ip}"))?.to_string(),
        None => ip,
    };
    if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
        return Err(format!("invalid IP address: {ip}"));
    }
    let (first, last) = range(port).map_err(|_| format!("invalid containerPort: {port}"))?;
    if !host.is_empty() {
        let (host_first, host_last) = range(host).map_err(|_| format!("invalid hostPort: {host}"))?;
        if last - first != host_last - host_first && last != first {
            return Err(format!("invalid ranges specified for container and host Ports: {port} and {host}"));
        }
    }
    Ok((first..=last).map(|p| format!("{p}/{proto}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(specs: &[&str]) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        for s in specs {
            out.extend(expose_ports(s)?);
        }
        Ok(out)
    }

    /// Re-expressed from BuildKit's `convert_expose_test.go`.
    #[test]
    fn bpa_expose_ports() {
        assert_eq!(expose_ports("").unwrap_err(), "invalid port: \"\": no port specified");
        assert_eq!(
            expose_ports("0.0.0.0:1234-1235:/tcp").unwrap_err(),
            "invalid port: \"0.0.0.0:1234-1235:/tcp\": no port specified"
        );
        assert_eq!(
            expose_ports("0.0.0.0:1234-1235:").unwrap_err(),
            "invalid port: \"0.0.0.0:1234-1235:\": no port specified"
        );
        assert_eq!(expose_ports("0.0.0.0:1234-1235:3333-3334/tcp").unwrap(), ["3333/tcp", "3334/tcp"]);
        for (spec, want) in [
            ("[2001:4860:0:2001::68]::333", "333/tcp"),
            ("[::1]:80:80", "80/tcp"),
            ("2001:4860:0:2001::68::333", "333/tcp"),
            ("::1:80:80", "80/tcp"),
            ("::::80", "80/tcp"),
        ] {
            assert_eq!(expose_ports(spec).unwrap(), [want], "{spec}");
        }
        let want = ["1234/tcp", "2345/udp", "3456/sctp"];
        assert_eq!(all(&["1234/tcp", "2345/udp", "3456/sctp"]).unwrap(), want);
        assert_eq!(all(&["1234:1234/tcp", "2345:2345/udp", "3456:3456/sctp"]).unwrap(), want);
        assert_eq!(all(&["0.0.0.0:1234:1234/tcp", "0.0.0.0:2345:2345/udp", "0.0.0.0:3456:3456/sctp"]).unwrap(), want);
        assert!(all(&["localhost:1234:1234/tcp"]).is_err());
        let want = [
            "1234/tcp",
            "1235/tcp",
            "1236/tcp",
            "2345/udp",
            "2346/udp",
            "2347/udp",
            "3456/sctp",
            "3457/sctp",
            "3458/sctp",
        ];
        assert_eq!(all(&["1234-1236/tcp", "2345-2347/udp", "3456-3458/sctp"]).unwrap(), want);
        assert_eq!(
            all(&["1234-1236:1234-1236/tcp", "2345-2347:2345-2347/udp", "3456-3458:3456-3458/sctp"]).unwrap(),
            want
        );
        assert!(all(&["localhost:1234-1236:1234-1236/tcp"]).is_err());
        assert_eq!(expose_ports("80/UDP").unwrap(), ["80/udp"]);
        assert_eq!(expose_ports("80/http").unwrap_err(), "invalid port: \"80/http\": invalid proto: http");
        assert_eq!(expose_ports("70000").unwrap_err(), "invalid containerPort: 70000");
        assert_eq!(expose_ports("90-80").unwrap_err(), "invalid containerPort: 90-80");
        assert_eq!(
            expose_ports("1-2:5-7").unwrap_err(),
            "invalid ranges specified for container and host Ports: 5-7 and 1-2"
        );
    }
}
