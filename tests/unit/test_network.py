"""npuhub's own networks, the pure parts: names, bridge names, the create arguments;
and naming the process that holds a port."""

from __future__ import annotations

import os
import socket

import pytest
from traitlets import TraitError

from npuhub.hub.network import Net, bridge_name, create_args, plan
from npuhub.hub.portholder import holders
from npuhub.hub.settings import NPUHub


def test_plan_names_the_internal_network_and_its_outbound_sibling():
    internal, outbound = plan("npuhub")
    assert internal == Net("npuhub", "npuhub", True)
    assert outbound == Net("npuhub-out", "npuhub-out", False)
    long_in, long_out = plan("npuhubtest-abc123")
    assert len(long_in.bridge) <= 15 and len(long_out.bridge) <= 15
    assert long_in.bridge != long_out.bridge and bridge_name("npuhubtest-abc123") == long_in.bridge


def test_create_args_internal_icc_off_own_bridge_and_subnet():
    net = Net("npuhub", "npuhub", True, "10.213.7.0/24")
    args = create_args(net)
    ipam = args.pop("ipam")
    assert args == {
        "name": "npuhub",
        "driver": "bridge",
        "internal": True,
        "options": {"com.docker.network.bridge.enable_icc": "false",
                    "com.docker.network.bridge.name": "npuhub"},
        "labels": {"npuhub.network": "npuhub"},
        "check_duplicate": True,
    }
    assert [(c["Subnet"], c["Gateway"]) for c in ipam["Config"]] == [("10.213.7.0/24",
                                                                      "10.213.7.1")]
    assert net.gateway == "10.213.7.1"


def test_network_settings_follow_the_prefix_and_check_subnets():
    from traitlets.config import Config

    c = Config()
    c.NPUSpawner.prefix = "npuhubtest-x1"
    assert NPUHub(config=c).network_name == "npuhubtest-x1"
    assert NPUHub().network_name == "npuhub"
    assert NPUHub(network_subnet="10.99.0.0/24").network_subnet == "10.99.0.0/24"
    for bad in ("8.8.8.0/24", "10.0.0.0/30", "nonsense"):
        with pytest.raises(TraitError):
            NPUHub(network_subnet=bad)
    with pytest.raises(TraitError):
        NPUHub(profiles=[{"slug": "web", "image": "x", "internet": "yes"}])


def test_holder_of_a_listening_port_is_named():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert f"pid {os.getpid()} (" in " ".join(holders(port))
    assert holders(port) == []


def test_firewall_lets_a_container_open_only_the_given_ports_at_the_gateway():
    from npuhub.hub.firewall import chain_name, rules

    chain = chain_name("nh-0123456789ab")
    assert chain == "NPUHUB-nh-0123456789ab" and len(chain) <= 28  # iptables' limit
    got = rules("nh-0123456789ab", "10.213.0.1", [8081, 8082, 8081])
    assert got == [
        ["-A", chain, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN"],
        ["-A", chain, "-p", "tcp", "-d", "10.213.0.1", "-m", "multiport", "--dports",
         "8081,8082", "-j", "RETURN"],
        ["-A", chain, "-j", "DROP"],
    ]
