//! Reads `docker compose ps --all --format json` (one JSON object per line in Compose
//! v2.21+, a JSON array before) into [`Container`]s, and tells which revision each belongs
//! to from the driver's labels.

use crate::revision::{LABEL_ARTIFACT, LABEL_REVISION, LABEL_SERVICE};
use serde::Deserialize;
use shipcore::model::RevisionId;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// A published port as compose reports it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Publisher {
    /// Host address (`127.0.0.1`, `0.0.0.0`, empty).
    #[serde(rename = "URL", default)]
    pub url: String,
    /// Container port.
    #[serde(rename = "TargetPort", default)]
    pub target_port: u16,
    /// Host port (0 when not published).
    #[serde(rename = "PublishedPort", default)]
    pub published_port: u16,
    /// `tcp` or `udp`.
    #[serde(rename = "Protocol", default)]
    pub protocol: String,
}

#[derive(Debug, Deserialize)]
struct RawContainer {
    #[serde(rename = "ID", default)]
    id: String,
    #[serde(rename = "Name", default)]
    name: String,
    #[serde(rename = "Service", default)]
    service: String,
    #[serde(rename = "State", default)]
    state: String,
    #[serde(rename = "Health", default)]
    health: String,
    #[serde(rename = "Image", default)]
    image: String,
    #[serde(rename = "Labels", default)]
    labels: String,
    #[serde(rename = "Publishers", default)]
    publishers: Option<Vec<Publisher>>,
}

/// One container of the project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    /// Engine id.
    pub id: String,
    /// Container name (`shop-web-v2-1`).
    pub name: String,
    /// Compose service.
    pub service: String,
    /// `running`, `created`, `exited`, `restarting`…
    pub state: String,
    /// `healthy`, `unhealthy`, `starting`, or empty without a healthcheck.
    pub health: String,
    /// Image as the engine names it.
    pub image: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Published ports.
    pub publishers: Vec<Publisher>,
}

impl Container {
    /// The revision this container runs, when the driver created it for `service`.
    pub fn revision_of(&self, service: &str) -> Option<RevisionId> {
        if self.labels.get(LABEL_SERVICE).map(String::as_str) != Some(service) {
            return None;
        }
        self.labels
            .get(LABEL_REVISION)
            .map(|r| RevisionId::new(r.clone()))
    }

    /// The artifact label (the image the revision was deployed with).
    pub fn artifact(&self) -> Option<&str> {
        self.labels.get(LABEL_ARTIFACT).map(String::as_str)
    }

    /// Compose's number for this container within its service.
    pub fn number(&self) -> u32 {
        self.labels
            .get("com.docker.compose.container-number")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    /// True while the process runs.
    pub fn is_running(&self) -> bool {
        self.state == "running"
    }

    /// Host address of container port `port` (TCP), with wildcard hosts read as loopback.
    pub fn published(&self, port: u16) -> Option<SocketAddr> {
        let p = self.publishers.iter().find(|p| {
            p.target_port == port
                && p.published_port != 0
                && (p.protocol.is_empty() || p.protocol == "tcp")
        })?;
        let ip: IpAddr = match p.url.parse::<IpAddr>() {
            Ok(ip) if !ip.is_unspecified() => ip,
            _ => IpAddr::V4(Ipv4Addr::LOCALHOST),
        };
        Some(SocketAddr::new(ip, p.published_port))
    }
}

/// Parses compose's `Labels` text (`k=v,k=v`).
fn parse_labels(s: &str) -> BTreeMap<String, String> {
    s.split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .collect()
}

/// Parses `ps --format json` output (lines of objects, or one array).
pub fn parse(out: &str) -> Result<Vec<Container>, String> {
    let trimmed = out.trim();
    let raws: Vec<RawContainer> = if trimmed.is_empty() {
        Vec::new()
    } else if trimmed.starts_with('[') {
        serde_json::from_str(trimmed).map_err(|e| format!("unreadable `compose ps` output: {e}"))?
    } else {
        trimmed
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l)
                    .map_err(|e| format!("unreadable `compose ps` line {l:?}: {e}"))
            })
            .collect::<Result<_, _>>()?
    };
    Ok(raws
        .into_iter()
        .map(|r| Container {
            id: r.id,
            name: r.name,
            service: r.service,
            state: r.state,
            health: r.health,
            image: r.image,
            labels: parse_labels(&r.labels),
            publishers: r.publishers.unwrap_or_default(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from docker-compose 2.40.3 against Podman 4.3 (trimmed labels).
    const REAL: &str = r#"{"Command":"\"serve --version 1.0…\"","CreatedAt":"2026-11-22 19:25:23 +0000 UTC","ExitCode":0,"Health":"starting","ID":"48b29e731835","Image":"localhost/shipcore-tiny:test","Labels":"com.docker.compose.project=shipcore-hc,com.docker.compose.service=web-v1,com.docker.compose.container-number=2,io.shipcore.service=web,io.shipcore.revision=v1,io.shipcore.artifact=localhost/shipcore-tiny:test","LocalVolumes":"0","Mounts":"","Name":"shipcore-hc-web-v1-2","Names":"shipcore-hc-web-v1-2","Networks":"shipcore-hc_default","Ports":"127.0.0.1:35635->8080/tcp","Project":"shipcore-hc","Publishers":[{"URL":"127.0.0.1","TargetPort":8080,"PublishedPort":35635,"Protocol":"tcp"}],"RunningFor":"6 seconds ago","Service":"web-v1","Size":"0B","State":"running","Status":"Up 5 seconds"}
{"ID":"99","Name":"shipcore-hc-db-1","Service":"db","State":"exited","Health":"","Labels":"com.docker.compose.service=db","Publishers":null}"#;

    #[test]
    fn reads_real_output() {
        let cs = parse(REAL).unwrap();
        assert_eq!(cs.len(), 2);
        let c = &cs[0];
        assert_eq!(c.name, "shipcore-hc-web-v1-2");
        assert_eq!(c.health, "starting");
        assert!(c.is_running());
        assert_eq!(c.number(), 2);
        assert_eq!(c.revision_of("web"), Some(RevisionId::new("v1")));
        assert_eq!(
            c.revision_of("api"),
            None,
            "another service's revisions are not ours"
        );
        assert_eq!(c.artifact(), Some("localhost/shipcore-tiny:test"));
        assert_eq!(c.published(8080), Some("127.0.0.1:35635".parse().unwrap()));
        assert_eq!(c.published(9090), None);
        assert_eq!(
            cs[1].revision_of("web"),
            None,
            "containers without the driver's labels are ignored"
        );
        assert!(!cs[1].is_running());
    }

    #[test]
    fn reads_the_older_array_form_and_nothing() {
        let arr = format!("[{}]", REAL.lines().next().unwrap());
        assert_eq!(parse(&arr).unwrap().len(), 1);
        assert!(parse("").unwrap().is_empty());
        assert!(parse("\n").unwrap().is_empty());
    }

    #[test]
    fn garbage_is_an_error_that_quotes_it() {
        let err = parse("Error: something").unwrap_err();
        assert!(err.contains("Error: something"), "{err}");
    }
}

#[cfg(test)]
mod doc_examples {

    #[test]
    fn parse_reads_a_compose_ps_line() {
        let out = r#"{"ID":"a1","Name":"p-web-v1-1","Service":"web-v1","State":"running","Health":"","Labels":"io.shipcore.service=web,io.shipcore.revision=v1","Publishers":[{"URL":"0.0.0.0","TargetPort":8080,"PublishedPort":32768,"Protocol":"tcp"}]}"#;
        let cs = super::parse(out).unwrap();
        assert_eq!(cs[0].revision_of("web").unwrap().as_str(), "v1");
        assert_eq!(
            cs[0].published(8080).unwrap().to_string(),
            "127.0.0.1:32768"
        );
    }
}
