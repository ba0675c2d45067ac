"""Fault injection for ensemble tests (issue 7): a TCP proxy per peer
link that a test can cut, stall and heal, and a Network of them that
isolates one member at a time.

Two kinds of partition:

* cut   -- every connection on the link is closed and new ones are
  refused: the members see the link go down at once (PEER_DOWN);
* stall -- connections stay open but no byte is forwarded until the heal
  (what a switch that drops packets looks like): the members notice only
  through their timeouts (syncLimit ticks of silence).  Bytes held back
  are delivered, in order, after the heal.

and two one-way partitions (issue 14), stalls of one direction only: a
link carries data one way (its dialler sends, the other end receives), so
stalling the links *into* a member makes it deaf (it hears nobody, the
others still hear it: a firewall dropping packets to its peer port), and
stalling the links *out of* it makes it mute.
"""

import socket
import threading
import time


class LinkProxy:
    """A TCP proxy on one peer link (server i dialling server j) that a
    test can cut (every connection closed, new ones refused at once),
    stall (nothing forwarded, nothing closed) and heal."""

    def __init__(self, target_port):
        self.target = target_port
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.cut_ = threading.Event()
        self.stall_ = threading.Event()
        self.conns = []
        self.lock = threading.Lock()
        self.done = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.done.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            if self.cut_.is_set():
                c.close()
                continue
            try:
                u = socket.create_connection(("127.0.0.1", self.target), 2)
            except OSError:
                c.close()
                continue
            # The 2 s was for the connect only: left on, it timed out the
            # pump's recv on a link quiet for 2 s (a peer link carries
            # data one way), and the link was dropped every 2 s.
            u.settimeout(None)
            with self.lock:
                self.conns += [c, u]
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pump, args=(a, b),
                                 daemon=True).start()

    def _pump(self, a, b):
        try:
            while True:
                d = a.recv(65536)
                # A stalled link holds what it read until the heal (or a
                # cut, which drops it with the connection).
                while self.stall_.is_set() and not self.cut_.is_set():
                    time.sleep(0.01)
                if not d or self.cut_.is_set():
                    break
                b.sendall(d)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def cut(self):
        self.cut_.set()
        with self.lock:
            for s in self.conns:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.conns = []

    def stall(self):
        self.stall_.set()

    def heal(self):
        self.cut_.clear()
        self.stall_.clear()

    def close(self):
        self.done.set()
        self.cut()
        self.sock.close()


class Network:
    """A LinkProxy on every peer link of an ensemble: pass route to
    ensemble_factory, then isolate(myid) cuts or stalls every link to and
    from that member, heal() restores all of them."""

    def __init__(self):
        self.proxies = {}  # (i, j) -> LinkProxy for i dialling j

    def route(self, i, j, port):
        self.proxies[(i, j)] = LinkProxy(port)
        return self.proxies[(i, j)].port

    def links_of(self, myid):
        return [p for (i, j), p in self.proxies.items() if myid in (i, j)]

    def isolate(self, myid, how="cut"):
        """how: 'cut' or 'stall' every link of myid, or stall only the
        links into it ('deaf': it hears nobody) or out of it ('mute':
        nobody hears it)."""
        if how == "deaf":
            links = [p for (i, j), p in self.proxies.items() if j == myid]
        elif how == "mute":
            links = [p for (i, j), p in self.proxies.items() if i == myid]
        else:
            links = self.links_of(myid)
        for p in links:
            if how == "cut":
                p.cut()
            elif how in ("stall", "deaf", "mute"):
                p.stall()
            else:
                raise ValueError("isolate how=%r: 'cut', 'stall', 'deaf' or "
                                 "'mute'" % how)

    def heal(self):
        for p in self.proxies.values():
            p.heal()

    def close(self):
        for p in self.proxies.values():
            p.close()
