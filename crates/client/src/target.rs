//! Where to connect: a host name or address, or the first IPv4 address of a network
//! interface (as the tutorial's client found its server on `eth0`).

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use crate::error::ConnectError;

/// The addresses `host` names, with `port`: an IPv4 or IPv6 literal as it is (brackets
/// around IPv6 are allowed), anything else through the system's resolver.
///
/// # Errors
///
/// [`ConnectError::UnknownHost`] when the name does not resolve to any address.
pub fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, ConnectError> {
    let literal = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
    if let Ok(ip) = literal.unwrap_or(host).parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let unknown = |reason: String| ConnectError::UnknownHost {
        host: host.to_owned(),
        reason,
    };
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| unknown(e.to_string()))?
        .collect();
    if addrs.is_empty() {
        return Err(unknown("it has no address".into()));
    }
    Ok(addrs)
}

/// The first IPv4 address of the interface called `name`.
///
/// # Errors
///
/// [`ConnectError::UnknownInterface`], listing the interfaces that have an IPv4 address,
/// when there is no such interface or it has none; [`ConnectError::Interfaces`] when the
/// list cannot be read.
pub fn interface_ipv4(name: &str) -> Result<IpAddr, ConnectError> {
    let interfaces = if_addrs::get_if_addrs().map_err(ConnectError::Interfaces)?;
    let v4 = || {
        interfaces.iter().filter_map(|i| match &i.addr {
            if_addrs::IfAddr::V4(a) => Some((i.name.as_str(), IpAddr::V4(a.ip))),
            if_addrs::IfAddr::V6(_) => None,
        })
    };
    if let Some((_, ip)) = v4().find(|(n, _)| *n == name) {
        return Ok(ip);
    }
    let listed: Vec<String> = v4().map(|(n, ip)| format!("{n} ({ip})")).collect();
    Err(ConnectError::UnknownInterface {
        name: name.to_owned(),
        available: if listed.is_empty() {
            "none".into()
        } else {
            listed.join(", ")
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Address literals are taken as they are, IPv6 with or without brackets.
    #[test]
    fn literals() {
        assert_eq!(
            resolve("127.0.0.1", 7).unwrap(),
            [SocketAddr::from(([127, 0, 0, 1], 7))]
        );
        let v6: SocketAddr = "[::1]:7".parse().unwrap();
        assert_eq!(resolve("::1", 7).unwrap(), [v6]);
        assert_eq!(resolve("[::1]", 7).unwrap(), [v6]);
    }

    /// A name that cannot resolve is an error that names it and says what to do.
    #[test]
    fn unknown_host() {
        let err = resolve("no-such-host.invalid", 7).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("unknown host 'no-such-host.invalid': "),
            "{msg}"
        );
        assert!(msg.contains("such as 127.0.0.1"), "{msg}");
    }

    /// The loopback interface is found; a missing one lists those that exist.
    #[test]
    fn interfaces() {
        assert_eq!(interface_ipv4("lo").unwrap(), IpAddr::from([127, 0, 0, 1]));
        let msg = interface_ipv4("nosuch0").unwrap_err().to_string();
        assert!(msg.starts_with("no network interface 'nosuch0'"), "{msg}");
        assert!(msg.contains("lo (127.0.0.1)"), "{msg}");
    }
}
