import socket

import pytest

from exporter.runtime.address import AddressError, parse_address


@pytest.mark.parametrize("text,family,target", [
    ("/run/haproxy/admin.sock", socket.AF_UNIX, "/run/haproxy/admin.sock"),
    ("unix@/var/run/hap.sock", socket.AF_UNIX, "/var/run/hap.sock"),
    ("ipv4@127.0.0.1:9999", socket.AF_INET, ("127.0.0.1", 9999)),
    ("ipv6@[::1]:9999", socket.AF_INET6, ("::1", 9999)),
    ("ipv6@::1:9999", socket.AF_INET6, ("::1", 9999)),
    ("127.0.0.1:9999", socket.AF_INET, ("127.0.0.1", 9999)),
    ("localhost:9999", socket.AF_INET, ("localhost", 9999)),
    ("[::1]:9999", socket.AF_INET6, ("::1", 9999)),
    ("abns@haproxy-stats", socket.AF_UNIX, "\0haproxy-stats"),
])
def test_haproxy_address_forms(text, family, target):
    addr = parse_address(text)
    assert (addr.family, addr.target, addr.text) == (family, target, text)


@pytest.mark.parametrize("text", ["", "ipv4@127.0.0.1", "ipv4@localhost:1", "tcp@1.2.3.4:5",
                                  "127.0.0.1:0", "127.0.0.1:70000", "host:port", "unix@", "ipv6@[::1]"])
def test_bad_addresses_are_refused_with_the_text(text):
    with pytest.raises(AddressError):
        parse_address(text)
