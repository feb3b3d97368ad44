import ipaddress

from pexen.sched.meta import func_meta


@func_meta
def test_loopback():
    assert ipaddress.ip_address("127.0.0.1").is_loopback


@func_meta
def test_network_size():
    assert ipaddress.ip_network("10.0.0.0/24").num_addresses == 256
