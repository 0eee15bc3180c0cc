"""Compact framing between two fieldrelayd over an emulated narrow link (UDP on
loopback through tests/sim/linkemu at 64 kbit/s with 20 ms delay and 2% loss):
MTU 256, 8-byte tags.  200 small bundles arrive exactly once, and what each cost
on the wire is measured, printed and bounded, beside the same 200 sent in full
form over the same link."""

from harness import Node, free_ports, stop_all, wait_for
from harness.mesh import neighbours
from harness.sim import LinkEmu

KEY = "1 " + "c3" * 32 + " send\n"
COUNT = 200
# A position-report-sized text: 30 bytes.
TEXTS = [f"pos {i:04d} 47.3769N 8.5417E h408" for i in range(COUNT)]


def radio_node(tmp_path, node_id, port, peer, compact):
    n = Node(tmp_path, node_id, name=f"node{node_id}-{compact}")
    key = n.write_key(KEY)
    n.conf.write_text(n.conf.read_text() +
                      f"[security]\nkey_file = {key}\n"
                      f"[link radio]\ntype = udp\nport = {port}\npeer = 127.0.0.1:{peer}\n"
                      f"mtu = 256\nrate = 64k\ntag = 8\ncompact = {compact}\n")
    return n


def radio_link(n):
    return n.cli_json("links")[0]["links"][0]


def send_200(tmp_path, compact):
    """Send the 200 texts A -> B; returns bytes per bundle: data frames, acks, all on the wire."""
    pa, pb = free_ports(2)
    with LinkEmu(peer_a=pa, peer_b=pb, rate="64k", delay="20ms", loss=0.02, seed=5, queue="256k") as emu:
        a = radio_node(tmp_path, 1, pa, emu.a_port, compact)
        b = radio_node(tmp_path, 2, pb, emu.b_port, compact)
        try:
            a.start()
            b.start()
            wait_for(lambda: neighbours(a) == {2} and neighbours(b) == {1}, 10, "A and B to hear each other")
            la0, lb0, st0 = radio_link(a), radio_link(b), emu.stats()
            assert la0["compact"] == (compact == "yes") and lb0["compact"] == (compact == "yes")
            r = a.cli("send", "--batch", "ipn:2.5", input="".join(t + "\n" for t in TEXTS).encode(),
                      timeout=120)
            assert r.stdout.count(b"accepted") == COUNT
            got = b.cli_json("recv", "-n", str(COUNT), "-w", "5", timeout=120)
            texts = [g["text"] for g in got]
            assert len(texts) == len(set(texts)) == COUNT, "lost or duplicated bundles"
            assert set(texts) == set(TEXTS)
            wait_for(lambda: a.status()["store"]["bundles"] == 0, 30, "A to let go once B committed")
            la1, lb1, st1 = radio_link(a), radio_link(b), emu.stats()
            # Every bundle rebuilt from its compact form was accepted: nothing malformed, no forgery.
            assert lb1["dropped"]["malformed body"] == 0 and lb1["dropped"]["bad tag"] == 0
            if compact == "yes":
                assert la1["compact_tx"] - la0["compact_tx"] >= COUNT
                assert lb1["compact_rx"] - lb0["compact_rx"] >= COUNT
            else:
                assert la1["compact_tx"] == 0
            wire = sum(st1[d]["in_bytes"] - st0[d]["in_bytes"] for d in ("ab", "ba"))
            return {
                "data": (la1["data_bytes_tx"] - la0["data_bytes_tx"]) / COUNT,
                "acks": (lb1["ack_bytes_tx"] - lb0["ack_bytes_tx"]) / COUNT,
                "wire": wire / COUNT,
                "retransmissions": la1["retransmissions"] - la0["retransmissions"],
                "lost": st1["ab"]["drop_loss"] + st1["ba"]["drop_loss"],
            }
        finally:
            stop_all((a, b))


def test_200_small_bundles_compact_exactly_once(tmp_path):
    small = send_200(tmp_path, "yes")
    full = send_200(tmp_path, "no")
    payload = len(TEXTS[0])
    for name, m in (("compact", small), ("full form", full)):
        print(f"{name}: per bundle of {payload} bytes: {m['data']:.1f} B of data frames, "
              f"{m['acks']:.1f} B of acks, {m['wire']:.1f} B on the wire in all (beacons and routes "
              f"included); {m['retransmissions']} retransmissions, {m['lost']} frames lost by the channel")
    # Headers, entries and tags shared in frames of several bundles, retransmissions
    # at 2% loss included: well under the payload's own size again.
    assert small["data"] <= payload + 24
    assert small["acks"] <= 8
    assert small["data"] + small["acks"] < 0.6 * (full["data"] + full["acks"])
