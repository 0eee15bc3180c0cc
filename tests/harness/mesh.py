"""Nodes over UDP links on loopback, and what tests ask them about their
neighbours, routes and links."""
from .node import KEY, Node


def mesh_node(tmp_path, node_id, port, peers, extra=""):
    """A node with the network key and one UDP link "mesh" on port, with a
    peer line for each of peers (ports on 127.0.0.1); extra goes into the
    link's section.  Not started."""
    n = Node(tmp_path, node_id)
    key = n.write_key(KEY)
    peer_lines = "".join(f"peer = 127.0.0.1:{p}\n" for p in peers)
    n.conf.write_text(n.conf.read_text() +
                      f"[security]\nkey_file = {key}\n"
                      f"[link mesh]\ntype = udp\nport = {port}\n{peer_lines}{extra}")
    return n


def udp_node(tmp_path, node_id, links):
    """A node with the network key and one UDP link per (name, port, peer
    port, extra section lines) in links.  Not started."""
    n = Node(tmp_path, node_id)
    key = n.write_key(KEY)
    text = f"[security]\nkey_file = {key}\n"
    for name, port, peer, extra in links:
        text += f"[link {name}]\ntype = udp\nport = {port}\npeer = 127.0.0.1:{peer}\n{extra}"
    n.conf.write_text(n.conf.read_text() + text)
    return n


def neighbours(n):
    """The node ids n hears."""
    return {x["node"] for x in n.cli_json("neighbors")[0]["neighbors"]}


def route(n, dst):
    """n's route to dst through a neighbour (learned or configured), or None."""
    for r in n.cli_json("routes")[0]["routes"]:
        if r["dst"] == dst and r.get("via") is not None:
            return r
    return None


def link(n):
    """n's first (or only) link's JSON."""
    return n.cli_json("links")[0]["links"][0]


def links_by_name(n):
    """n's links as {name: the link's JSON}."""
    return {l["name"]: l for l in n.cli_json("links")[0]["links"]}


def recv_texts(n, service, count, wait):
    """Wait (up to wait seconds) for count bundles at service and take them: their texts."""
    return [g["text"] for g in n.cli_json("recv", "-n", count, "-w", str(service), timeout=wait)]
