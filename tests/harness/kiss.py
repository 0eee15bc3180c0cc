"""Nodes on a KISS serial link (a TNC, or the serial emulator's pty)."""
import os

from .node import KEY, Node


def kiss_node(tmp_path, node_id, device, rate, extra=""):
    """A node with the network key and one KISS link "radio" on device at
    rate bit/s, callsign N0CALL-<id>, txdelay 0 (the emulator keys up at
    once); extra goes into the link's section.  Not started."""
    n = Node(tmp_path, node_id)
    key = n.dir / "network.key"
    key.write_text(KEY)
    os.chmod(key, 0o600)
    n.conf.write_text(n.conf.read_text() +
                      f"[security]\nkey_file = {key}\n"
                      f"[link radio]\ntype = kiss\ndevice = {device}\ncallsign = N0CALL-{node_id}\n"
                      f"rate = {rate}\ntxdelay = 0\n{extra}")
    return n
