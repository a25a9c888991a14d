"""Wall time of an inboxready audit against its critical path and against checkdmarc.

Both tools ask the same loopback DNS server (tests/dnsserver.py) that delays every answer by a fixed
latency, so wall time is dominated by how many lookups wait on each other:

    python bench/bench_audit.py [--latency 0.03] [--runs 3]

For each domain it prints the queries each tool made, the median wall time, the critical path (the depth
of the longest chain of lookups that depend on each other × latency) and the ratios. checkdmarc runs
check_spf, check_dmarc and check_mx (TLS probing off) — the same checks the audit makes. Its process-wide
answer cache is emptied before every run so both tools start cold.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import dns.nameserver  # noqa: E402
import dns.resolver  # noqa: E402
from dnsserver import DnsServer  # noqa: E402

from auditor.audit import AuditOptions, run_audit  # noqa: E402
from auditor.target import build_target  # noqa: E402


@dataclass
class Case:
    domain: str
    zone: str
    depth: int  # longest chain of dependent lookups, worked out from the zone below
    why: str


def deep_tree() -> Case:
    # Three include chains four records deep, each leaf with an `a` term: 10 lookups, depth 5
    # (root TXT → 3 more TXT levels → leaf TXT → the leaf's A lookup for the void check).
    lines = [
        'deep.example. TXT "v=spf1 include:l1a.deep.example include:l1b.deep.example include:l1c.deep.example -all"',
        'deep.example. MX 10 mx.deep.example.',
        "mx.deep.example. A 192.0.2.25",
        "25.2.0.192.in-addr.arpa. PTR mx.deep.example.",
        '_dmarc.deep.example. TXT "v=DMARC1; p=reject; rua=mailto:d@reports.example.net"',
        'deep.example._report._dmarc.reports.example.net. TXT "v=DMARC1;"',
    ]
    for branch in "abc":
        lines += [
            f'l1{branch}.deep.example. TXT "v=spf1 include:l2{branch}.deep.example -all"',
            f'l2{branch}.deep.example. TXT "v=spf1 include:l3{branch}.deep.example -all"',
        ]
    lines += [
        'l3a.deep.example. TXT "v=spf1 a:h.deep.example -all"',
        'l3b.deep.example. TXT "v=spf1 ip4:192.0.2.0/24 -all"',
        'l3c.deep.example. TXT "v=spf1 ip4:198.51.100.0/24 -all"',
        "h.deep.example. A 192.0.2.9",
    ]
    return Case("deep.example", "\n".join(lines), depth=5, why="SPF: root, 3 include levels, leaf a:")


def simple() -> Case:
    zone = "\n".join([
        'simple.example. TXT "v=spf1 include:relay.example.net -all"',
        'relay.example.net. TXT "v=spf1 ip4:203.0.113.0/24 -all"',
        "simple.example. MX 10 mx.simple.example.",
        "mx.simple.example. A 192.0.2.26",
        "26.2.0.192.in-addr.arpa. PTR mx.simple.example.",
        '_dmarc.simple.example. TXT "v=DMARC1; p=quarantine; rua=mailto:d@simple.example"',
    ])
    return Case("simple.example", zone, depth=3, why="MX: MX → A → PTR (the PTR name is the MX host, its A already known)")


def wide() -> Case:
    includes = " ".join(f"include:w{n}.wide.example" for n in range(9))
    lines = [f'wide.example. TXT "v=spf1 {includes} -all"', '_dmarc.wide.example. TXT "v=DMARC1; p=none"',
             "wide.example. MX 10 mx.wide.example.", "mx.wide.example. A 192.0.2.27",
             "27.2.0.192.in-addr.arpa. PTR mx.wide.example."]
    lines += [f'w{n}.wide.example. TXT "v=spf1 ip4:10.0.{n}.0/24 -all"' for n in range(9)]
    return Case("wide.example", "\n".join(lines), depth=3, why="MX → A → PTR, and DMARC walk → report authorization (SPF is 2 levels, 9 wide)")


def time_inboxready(server: DnsServer, case: Case, rules) -> tuple[float, int]:
    before = len(server.log)
    started = time.perf_counter()
    run_audit(build_target(case.domain), AuditOptions(nameservers=[server.nameserver], timeout=5), rules=rules)
    return time.perf_counter() - started, len(server.log) - before


def time_checkdmarc(server: DnsServer, case: Case) -> tuple[float, int]:
    import checkdmarc
    import checkdmarc.utils

    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [server.nameserver[0]]
    resolver.nameserver_ports = {server.nameserver[0]: server.nameserver[1]}
    resolver.timeout = resolver.lifetime = 5
    # Also as `nameservers`: checkdmarc's DNSSEC probe of MX hosts ignores `resolver` and would otherwise
    # ask the system's DNS server instead of the loopback one.
    loopback = [dns.nameserver.Do53Nameserver(server.nameserver[0], server.nameserver[1])]
    checkdmarc.utils.DNS_CACHE.clear()
    before = len(server.log)
    started = time.perf_counter()
    checkdmarc.check_spf(case.domain, resolver=resolver, nameservers=loopback, timeout=5)
    checkdmarc.check_dmarc(case.domain, resolver=resolver, nameservers=loopback, timeout=5)
    checkdmarc.check_mx(case.domain, resolver=resolver, nameservers=loopback, timeout=5, skip_tls=True)
    return time.perf_counter() - started, len(server.log) - before


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.03, help="seconds added to every DNS answer")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from auditor.engine import load_rules

    started = time.perf_counter()
    rules = load_rules()  # once per process, like the CLI; reported separately below
    load_time = time.perf_counter() - started
    rows = []
    with DnsServer() as server:
        server.set_latency(args.latency)
        for case in (deep_tree(), simple(), wide()):
            server.clear()
            server.set_latency(args.latency)
            server.add_zone_text(case.zone)
            ours = [time_inboxready(server, case, rules) for _ in range(args.runs)]
            theirs = [time_checkdmarc(server, case) for _ in range(args.runs)]
            our_wall = statistics.median(t for t, _ in ours)
            their_wall = statistics.median(t for t, _ in theirs)
            critical = max(case.depth * args.latency, 1e-9)
            rows.append((case.domain, ours[0][1], theirs[0][1], our_wall, their_wall, critical, case.why))
    print(f"latency {args.latency * 1000:.0f} ms per answer, median of {args.runs} runs\n")
    header = ("domain", "queries ours", "queries checkdmarc", "wall ours", "wall checkdmarc", "critical path",
              "ours/critical", "checkdmarc/ours")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for domain, q_ours, q_theirs, w_ours, w_theirs, critical, _ in rows:
        print(f"| {domain} | {q_ours} | {q_theirs} | {w_ours * 1000:.0f} ms | {w_theirs * 1000:.0f} ms | "
              f"{critical * 1000:.0f} ms | {w_ours / critical:.2f}× | {w_theirs / w_ours:.1f}× |")
    print()
    for domain, *_, why in rows:
        print(f"critical path of {domain}: {why}")
    print(f"loading and checking the {len(rules)} rules took {load_time * 1000:.0f} ms (once per process, not in the walls)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
