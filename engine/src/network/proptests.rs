//! Property tests of `-p` parsing: any text is a mapping or an error quoting it, and every mapping
//! written in the flag's syntax parses back to itself.

use std::net::Ipv4Addr;

use proptest::prelude::*;

use super::ports::{PortMapping, Protocol};
use crate::proptest_support::cases;

fn port_like() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9.:/a-z]{0,30}",
        "(([0-9]{1,3}\\.){3}[0-9]{1,3}:)?([0-9]{0,6}:)?[0-9]{0,6}(/(tcp|udp|sctp|))?",
        "-?[0-9]{1,25}(:-?[0-9]{1,25}){0,3}",
        any::<String>(),
    ]
}

fn mapping() -> impl Strategy<Value = PortMapping> {
    (any::<u32>(), any::<u16>(), 1u16.., any::<bool>()).prop_map(|(ip, host_port, container_port, udp)| PortMapping {
        host_ip: Ipv4Addr::from(ip),
        host_port,
        container_port,
        protocol: if udp { Protocol::Udp } else { Protocol::Tcp },
    })
}

/// `IP:HOSTPORT:PORT/PROTO`, the `-p` spelling of `m`.
fn flag(m: &PortMapping) -> String {
    format!("{}:{}:{}/{}", m.host_ip, m.host_port, m.container_port, m.protocol.as_str())
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn any_text_is_a_mapping_or_a_quoted_error(text in port_like()) {
        match PortMapping::parse(&text) {
            Ok(m) => {
                prop_assert!(m.container_port > 0);
                let again = PortMapping::parse(&flag(&m)).ok();
                prop_assert_eq!(again, (m.host_port > 0).then_some(m));
            }
            Err(e) => {
                let msg = e.to_string();
                prop_assert!(msg.contains(&format!("{text:?}")), "{msg} does not quote {text:?}");
            }
        }
    }

    #[test]
    fn mappings_written_as_flags_parse_back(m in mapping()) {
        let host = if m.host_port == 0 { String::new() } else { m.host_port.to_string() };
        let text = format!("{}:{host}:{}/{}", m.host_ip, m.container_port, m.protocol.as_str());
        prop_assert_eq!(PortMapping::parse(&text).map_err(|e| e.to_string()), Ok(m));
        prop_assert_eq!(m.ps_form(), format!("{}:{}->{}", m.host_ip, m.host_port, m.container_key()));
    }
}
