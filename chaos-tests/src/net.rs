//! Network namespaces, the bridge, and the per-node nftables table used by network nemeses.
//!
//! Layout (everything named with the `mch-` prefix so `cleanup` can find leftovers):
//! bridge `mch-br0` in the root namespace at 10.213.0.254/16 (the workload's address);
//! node N of region R in namespace `mch-nN` at 10.213.R.N/16 on `eth0`, a veth whose other end
//! `mch-vN` is a bridge port. Regions are address ranges (10.213.R.0/24) on the one bridge.
//! The monitored target of region R has address 10.213.R.200; a regional outage puts target
//! addresses in a node's `unreachable` set (dropped on output).

use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

/// Name prefix of every namespace and link this suite creates.
pub const PREFIX: &str = "mch-";
pub const BRIDGE: &str = "mch-br0";
/// Address of the workload (root namespace) on the bridge.
pub const HOST_ADDR: Ipv4Addr = Ipv4Addr::new(10, 213, 0, 254);
/// Per-namespace nftables table holding the partition and loss rules.
pub const TABLE: &str = "mchaos";

/// Runs a command, failing with its stderr when it exits non-zero.
pub fn run(program: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {program}"))?;
    if !out.status.success() {
        bail!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `program` inside namespace `ns`, feeding `stdin`.
pub fn run_in(ns: &str, program: &str, args: &[&str], stdin: &str) -> Result<String> {
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, program])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {program} in {ns}"))?;
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "{program} in {ns}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// One node's place in the network.
#[derive(Debug, Clone)]
pub struct Slot {
    pub id: u32,
    pub region: u32,
    pub ns: String,
    pub ip: Ipv4Addr,
}

/// Address of the monitored HTTP target of region `region` (`10.213.R.200`), outside the
/// range of node addresses (`10.213.R.N`, N < 200).
pub fn target_addr(region: u32) -> Ipv4Addr {
    assert!(
        (1..=250).contains(&region),
        "region {region} out of the address plan"
    );
    Ipv4Addr::new(10, 213, region as u8, 200)
}

/// Namespace name of node `id`.
pub fn ns_name(id: u32) -> String {
    format!("{PREFIX}n{id}")
}

/// The created network; dropping it tears everything down.
pub struct Network {
    pub slots: Vec<Slot>,
}

impl Network {
    /// Creates the bridge and one namespace per `(id, region)`; cleans leftovers first.
    pub fn create(nodes: &[(u32, u32)]) -> Result<Network> {
        cleanup();
        let net = Network { slots: Vec::new() };
        run("ip", &["link", "add", BRIDGE, "type", "bridge"])?;
        run(
            "ip",
            &["addr", "add", &format!("{HOST_ADDR}/16"), "dev", BRIDGE],
        )?;
        run("ip", &["link", "set", BRIDGE, "up"])?;
        let mut net = net;
        for &(id, region) in nodes {
            let slot = Slot {
                id,
                region,
                ns: ns_name(id),
                ip: Ipv4Addr::new(10, 213, region as u8, id as u8),
            };
            add_namespace(&slot)?;
            net.slots.push(slot);
        }
        let peers: Vec<String> = net.slots.iter().map(|s| s.ip.to_string()).collect();
        for slot in &net.slots {
            run_in(&slot.ns, "nft", &["-f", "-"], &table_script(&peers))?;
        }
        Ok(net)
    }

    pub fn slot(&self, id: u32) -> &Slot {
        self.slots
            .iter()
            .find(|s| s.id == id)
            .expect("known node id")
    }

    /// Atomically replaces the set of addresses node `id` cannot exchange packets with.
    pub fn set_blocked(&self, id: u32, blocked: &[Ipv4Addr]) -> Result<()> {
        let slot = self.slot(id);
        run_in(
            &slot.ns,
            "nft",
            &["-f", "-"],
            &set_script("blocked", blocked),
        )?;
        Ok(())
    }

    /// Atomically replaces the set of monitored targets node `id` cannot reach (a regional
    /// outage: the targets' addresses in every node of one region). Node traffic is untouched.
    pub fn set_unreachable(&self, id: u32, targets: &[Ipv4Addr]) -> Result<()> {
        let script = set_script("unreachable", targets);
        run_in(&self.slot(id).ns, "nft", &["-f", "-"], &script)?;
        Ok(())
    }

    /// Replaces the loss rule of node `id`: drop `percent` % of packets to other nodes.
    pub fn set_loss(&self, id: u32, percent: u32) -> Result<()> {
        let mut script = format!("flush chain inet {TABLE} loss\n");
        if percent > 0 {
            script += &format!(
                "add rule inet {TABLE} loss ip daddr @peers numgen random mod 100 < {percent} drop\n"
            );
        }
        run_in(&self.slot(id).ns, "nft", &["-f", "-"], &script)?;
        Ok(())
    }

    /// Current nftables rules of node `id` (used to verify that a fault is in place).
    pub fn ruleset(&self, id: u32) -> Result<String> {
        run_in(
            &self.slot(id).ns,
            "nft",
            &["list", "table", "inet", TABLE],
            "",
        )
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        cleanup();
    }
}

fn add_namespace(slot: &Slot) -> Result<()> {
    let (veth, peer) = (
        format!("{PREFIX}v{}", slot.id),
        format!("{PREFIX}p{}", slot.id),
    );
    run("ip", &["netns", "add", &slot.ns])?;
    run(
        "ip",
        &["link", "add", &veth, "type", "veth", "peer", "name", &peer],
    )?;
    run("ip", &["link", "set", &peer, "netns", &slot.ns])?;
    run("ip", &["link", "set", &veth, "master", BRIDGE])?;
    run("ip", &["link", "set", &veth, "up"])?;
    let ns = slot.ns.as_str();
    run("ip", &["-n", ns, "link", "set", &peer, "name", "eth0"])?;
    run(
        "ip",
        &[
            "-n",
            ns,
            "addr",
            "add",
            &format!("{}/16", slot.ip),
            "dev",
            "eth0",
        ],
    )?;
    run("ip", &["-n", ns, "link", "set", "eth0", "up"])?;
    run("ip", &["-n", ns, "link", "set", "lo", "up"])?;
    Ok(())
}

fn table_script(peers: &[String]) -> String {
    format!(
        "table inet {TABLE} {{\n\
         set blocked {{ type ipv4_addr; }}\n\
         set peers {{ type ipv4_addr; elements = {{ {} }} }}\n\
         set unreachable {{ type ipv4_addr; }}\n\
         chain loss {{ }}\n\
         chain input {{ type filter hook input priority 0; policy accept; ip saddr @blocked drop; }}\n\
         chain output {{ type filter hook output priority 0; policy accept; \
         ip daddr @blocked drop; ip daddr @unreachable drop; jump loss; }}\n\
         }}\n",
        peers.join(", ")
    )
}

fn set_script(set: &str, addrs: &[Ipv4Addr]) -> String {
    let mut script = format!("flush set inet {TABLE} {set}\n");
    if !addrs.is_empty() {
        let list: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
        script += &format!("add element inet {TABLE} {set} {{ {} }}\n", list.join(", "));
    }
    script
}

/// The addresses in set `set` of an `nft list table` output (empty when the set is absent
/// or has no elements). Used to verify a fault by exact membership, not by a substring.
pub fn set_elements(ruleset: &str, set: &str) -> Vec<Ipv4Addr> {
    let header = format!("set {set} {{");
    let Some(start) = ruleset.find(&header) else {
        return Vec::new();
    };
    let body = &ruleset[start + header.len()..];
    // the set's body ends at the first "}" that does not close its element list
    let end = match (body.find("elements = {"), body.find('}')) {
        (Some(e), Some(close)) if e < close => body[e..].find('}').map_or(body.len(), |c| e + c),
        (_, Some(close)) => close,
        _ => body.len(),
    };
    let Some(list) = body[..end].split("elements = {").nth(1) else {
        return Vec::new();
    };
    list.split(|c: char| c == ',' || c.is_whitespace())
        .filter_map(|item| item.parse().ok())
        .collect()
}

/// Removes every namespace and link with the suite's prefix, first killing (by PID) the
/// processes still running inside those namespaces. Best effort; safe to call repeatedly.
pub fn cleanup() -> Vec<String> {
    let mut removed = Vec::new();
    let list = run("ip", &["netns", "list"]).unwrap_or_default();
    for name in list.lines().filter_map(|l| l.split_whitespace().next()) {
        if !name.starts_with(PREFIX) {
            continue;
        }
        let pids = run("ip", &["netns", "pids", name]).unwrap_or_default();
        for pid in pids
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
        {
            crate::procs::signal(pid, nix::sys::signal::Signal::SIGCONT);
            crate::procs::signal(pid, nix::sys::signal::Signal::SIGKILL);
        }
        if run("ip", &["netns", "del", name]).is_ok() {
            removed.push(format!("netns {name}"));
        }
    }
    let links = run("ip", &["-o", "link", "show"]).unwrap_or_default();
    for line in links.lines() {
        let Some(name) = line
            .split(':')
            .nth(1)
            .map(|n| n.trim().split('@').next().unwrap_or(""))
        else {
            continue;
        };
        if name.starts_with(PREFIX) && run("ip", &["link", "del", name]).is_ok() {
            removed.push(format!("link {name}"));
        }
    }
    removed
}

/// True when running as root (network namespaces need it).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regional outages drop output to the `unreachable` set, apart from the partition set,
    /// and target addresses never collide with node addresses.
    #[test]
    fn regional_outage_rules() {
        let table = table_script(&["10.213.1.1".into()]);
        assert!(
            table.contains("set unreachable { type ipv4_addr; }"),
            "{table}"
        );
        assert!(table.contains("ip daddr @unreachable drop;"), "{table}");
        let set = set_script("unreachable", &[target_addr(2), target_addr(3)]);
        assert_eq!(
            set,
            "flush set inet mchaos unreachable\n\
             add element inet mchaos unreachable { 10.213.2.200, 10.213.3.200 }\n"
        );
        assert_eq!(
            set_script("unreachable", &[]),
            "flush set inet mchaos unreachable\n"
        );
        assert_ne!(target_addr(1), Ipv4Addr::new(10, 213, 1, 1));
    }

    /// `nft list table inet mchaos` as nftables 1.0.6 printed it in a private namespace
    /// after the table and set scripts above.
    const LISTED: &str = "table inet mchaos {
\tset blocked {
\t\ttype ipv4_addr
\t\telements = { 10.213.2.2, 10.213.3.3 }
\t}

\tset peers {
\t\ttype ipv4_addr
\t\telements = { 10.213.1.1, 10.213.2.2,
\t\t\t     10.213.3.3 }
\t}

\tset unreachable {
\t\ttype ipv4_addr
\t\telements = { 10.213.2.200 }
\t}

\tset empty {
\t\ttype ipv4_addr
\t}

\tchain output {
\t\ttype filter hook output priority filter; policy accept;
\t\tip daddr @blocked drop
\t}
}
";

    #[test]
    fn set_elements_by_exact_membership() {
        let ip = |d: u8, h: u8| Ipv4Addr::new(10, 213, d, h);
        assert_eq!(set_elements(LISTED, "blocked"), vec![ip(2, 2), ip(3, 3)]);
        assert_eq!(
            set_elements(LISTED, "peers"),
            vec![ip(1, 1), ip(2, 2), ip(3, 3)]
        );
        assert_eq!(set_elements(LISTED, "unreachable"), vec![ip(2, 200)]);
        assert!(set_elements(LISTED, "empty").is_empty());
        assert!(set_elements(LISTED, "missing").is_empty());
        // an empty set before a set with elements borrows none of them
        let healed = LISTED.replace("\t\telements = { 10.213.2.2, 10.213.3.3 }\n", "");
        assert!(set_elements(&healed, "blocked").is_empty());
        assert_eq!(set_elements(&healed, "peers").len(), 3);
        // 10.213.2.20 is a substring of 10.213.2.200, but not a member
        assert!(!set_elements(LISTED, "unreachable").contains(&ip(2, 20)));
    }
}
