"""zkraw: a small raw-socket ZooKeeper client for byte-level protocol tests.

Written from docs/zookeeper-wire-protocol.md (our own restatement of the
wire format).  It does as little as possible on its own: the caller decides
xids, what to send, and in which order; the helpers only encode requests,
split frames and decode replies.  Every socket is closed by Conn.close()
(Conn is a context manager).

Layout
  * jute primitives: Writer (encode) and Reader (decode, bounds-checked)
  * record encoders per opcode (functions named after the request record)
  * record decoders (Stat, Create2Response, GetDataResponse, multi results,
    WatcherEvent)
  * Conn: frames over a TCP socket with timeouts, handshake, request/reply
    with notifications (xid -1) kept apart in Conn.events
"""

import select
import socket
import struct
import time
from collections import namedtuple

# ---------------------------------------------------------------------------
# Constants (§5.1, §6)

OP_NOTIFICATION = 0
OP_CREATE = 1
OP_DELETE = 2
OP_EXISTS = 3
OP_GETDATA = 4
OP_SETDATA = 5
OP_GETACL = 6
OP_SETACL = 7
OP_GETCHILDREN = 8
OP_SYNC = 9
OP_PING = 11
OP_GETCHILDREN2 = 12
OP_CHECK = 13
OP_MULTI = 14
OP_CREATE2 = 15
OP_RECONFIG = 16
OP_CHECKWATCHES = 17
OP_REMOVEWATCHES = 18
OP_CREATECONTAINER = 19
OP_DELETECONTAINER = 20
OP_CREATETTL = 21
OP_MULTIREAD = 22
OP_AUTH = 100
OP_SETWATCHES = 101
OP_SASL = 102
OP_GETEPHEMERALS = 103
OP_GETALLCHILDRENNUMBER = 104
OP_SETWATCHES2 = 105
OP_ADDWATCH = 106
OP_WHOAMI = 107
OP_CLOSESESSION = -11
OP_ERROR = -1

XID_NOTIFICATION = -1
XID_PING = -2
XID_AUTH = -4
XID_SETWATCHES = -8

OK = 0
E_RUNTIMEINCONSISTENCY = -2
E_MARSHALLING = -5
E_UNIMPLEMENTED = -6
E_BADARGUMENTS = -8
E_NONODE = -101
E_NOAUTH = -102
E_BADVERSION = -103
E_NOCHILDRENFOREPHEMERALS = -108
E_NODEEXISTS = -110
E_NOTEMPTY = -111
E_SESSIONEXPIRED = -112
E_INVALIDACL = -114
E_AUTHFAILED = -115
E_NOTREADONLY = -119
E_NOWATCHER = -121
E_RECONFIGDISABLED = -123

EV_CREATED = 1
EV_DELETED = 2
EV_DATACHANGED = 3
EV_CHILDRENCHANGED = 4
STATE_SYNCCONNECTED = 3

F_PERSISTENT = 0
F_EPHEMERAL = 1
F_SEQUENTIAL = 2
F_EPHEMERAL_SEQUENTIAL = 3
F_CONTAINER = 4
F_TTL = 5
F_TTL_SEQUENTIAL = 6

PERM_ALL = 31
OPEN_ACL = [(PERM_ALL, "world", "anyone")]

MAXBUFFER_DEFAULT = 0xFFFFF

# ---------------------------------------------------------------------------
# jute primitives (§1.2)


class Writer:
    """Accumulates jute-encoded fields; every method returns self."""

    def __init__(self):
        self.parts = []

    def int(self, v):
        self.parts.append(struct.pack(">i", v))
        return self

    def long(self, v):
        self.parts.append(struct.pack(">q", v))
        return self

    def bool(self, v):
        self.parts.append(b"\x01" if v else b"\x00")
        return self

    def buffer(self, b):
        if b is None:
            return self.int(-1)
        self.int(len(b))
        self.parts.append(bytes(b))
        return self

    def ustring(self, s):
        if s is None:
            return self.int(-1)
        return self.buffer(s.encode("utf-8") if isinstance(s, str) else s)

    def vector(self, items, fn):
        if items is None:
            return self.int(-1)
        self.int(len(items))
        for it in items:
            fn(self, it)
        return self

    def strings(self, items):
        return self.vector(items, Writer.ustring)

    def acl(self, acls):
        def one(w, a):
            perms, scheme, ident = a
            w.int(perms).ustring(scheme).ustring(ident)
        return self.vector(acls, one)

    def raw(self, b):
        self.parts.append(bytes(b))
        return self

    def bytes(self):
        return b"".join(self.parts)


class DecodeError(Exception):
    pass


class Reader:
    """Bounds-checked decoder over one frame's payload."""

    def __init__(self, data, pos=0):
        self.data = bytes(data)
        self.pos = pos

    def _take(self, n):
        if n < 0 or self.pos + n > len(self.data):
            raise DecodeError("need %d bytes at %d of %d" % (n, self.pos, len(self.data)))
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def int(self):
        return struct.unpack(">i", self._take(4))[0]

    def long(self):
        return struct.unpack(">q", self._take(8))[0]

    def bool(self):
        return self._take(1) != b"\x00"

    def buffer(self):
        n = self.int()
        return None if n == -1 else self._take(n)

    def ustring(self):
        b = self.buffer()
        return None if b is None else b.decode("utf-8", "surrogateescape")

    def vector(self, fn):
        n = self.int()
        if n == -1:
            return None
        return [fn(self) for _ in range(n)]

    def strings(self):
        return self.vector(Reader.ustring)

    def stat(self):
        return Stat(*struct.unpack(">qqqqiiiqiiq", self._take(68)))

    def acl(self):
        return self.vector(lambda r: (r.int(), r.ustring(), r.ustring()))

    def remaining(self):
        return len(self.data) - self.pos

    def rest(self):
        return self._take(self.remaining())


# ---------------------------------------------------------------------------
# Records

Stat = namedtuple("Stat", "czxid mzxid ctime mtime version cversion aversion "
                          "ephemeralOwner dataLength numChildren pzxid")
ConnectResponse = namedtuple("ConnectResponse",
                             "protocol_version timeout session_id passwd read_only")
Reply = namedtuple("Reply", "xid zxid err body")   # body: Reader at the record
Event = namedtuple("Event", "type state path zxid")
MultiResult = namedtuple("MultiResult", "type err value")


def connect_request(timeout_ms=30000, session_id=0, passwd=b"\0" * 16,
                    last_zxid=0, read_only=False, protocol_version=0):
    """ConnectRequest payload (§2.1); read_only=None omits the trailing byte."""
    w = (Writer().int(protocol_version).long(last_zxid).int(timeout_ms)
         .long(session_id).buffer(passwd))
    if read_only is not None:
        w.bool(read_only)
    return w.bytes()


def parse_connect_response(payload):
    r = Reader(payload)
    proto, to, sid, pw = r.int(), r.int(), r.long(), r.buffer()
    ro = r.bool() if r.remaining() else None
    return ConnectResponse(proto, to, sid, pw, ro)


# -- request record encoders (§5.2); each returns the body bytes ------------

def create_req(path, data=b"", acl=OPEN_ACL, flags=0, ttl=None):
    w = Writer().ustring(path).buffer(data).acl(acl).int(flags)
    if ttl is not None:
        w.long(ttl)
    return w.bytes()


def path_version_req(path, version=-1):     # DeleteRequest, CheckVersionRequest
    return Writer().ustring(path).int(version).bytes()


def path_watch_req(path, watch=False):      # exists, getData, getChildren(2)
    return Writer().ustring(path).bool(watch).bytes()


def path_req(path):                          # getACL, sync, getEphemerals, ...
    return Writer().ustring(path).bytes()


def set_data_req(path, data, version=-1):
    return Writer().ustring(path).buffer(data).int(version).bytes()


def set_acl_req(path, acl, version=-1):
    return Writer().ustring(path).acl(acl).int(version).bytes()


def path_type_req(path, typ):                # checkWatches, removeWatches, addWatch
    return Writer().ustring(path).int(typ).bytes()


def set_watches_req(rel_zxid, data=(), exist=(), child=(), persistent=None,
                    recursive=None):
    """SetWatches; with persistent/recursive lists given, SetWatches2."""
    w = (Writer().long(rel_zxid).strings(list(data)).strings(list(exist))
         .strings(list(child)))
    if persistent is not None or recursive is not None:
        w.strings(list(persistent or ())).strings(list(recursive or ()))
    return w.bytes()


def auth_req(scheme, auth):
    return Writer().int(0).ustring(scheme).buffer(auth).bytes()


def multi_req(ops):
    """MultiOperationRecord from [(opcode, body bytes), ...] plus terminator."""
    w = Writer()
    for op, body in ops:
        w.int(op).bool(False).int(-1).raw(body)
    return w.int(-1).bool(True).int(-1).bytes()


def request(xid, op, body=b""):
    """A whole framed request: length + RequestHeader + body."""
    return frame(struct.pack(">ii", xid, op) + body)


def frame(payload):
    return struct.pack(">i", len(payload)) + payload


# -- reply decoders ---------------------------------------------------------

def parse_multi(r):
    """MultiResponse -> list of MultiResult (terminator consumed, not listed)."""
    out = []
    while True:
        typ, done, err = r.int(), r.bool(), r.int()
        if done:
            return out
        if typ == OP_CREATE:
            val = r.ustring()
        elif typ in (OP_CREATE2, OP_CREATETTL, OP_CREATECONTAINER):
            val = (r.ustring(), r.stat())
        elif typ == OP_SETDATA:
            val = r.stat()
        elif typ == OP_GETDATA:
            val = (r.buffer(), r.stat())
        elif typ == OP_GETCHILDREN:
            val = r.strings()
        elif typ == OP_ERROR:
            val = r.int()
        else:                                  # delete, check: no record
            val = None
        out.append(MultiResult(typ, err, val))


def parse_event(r, zxid):
    return Event(r.int(), r.int(), r.ustring(), zxid)


# ---------------------------------------------------------------------------
# Connection


class Closed(Exception):
    """The peer closed the connection (EOF or reset)."""


class Timeout(Exception):
    pass


class Conn:
    """One TCP connection; frames in, frames out, nothing hidden."""

    def __init__(self, host, port, timeout=5.0):
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.events = []       # notifications seen while waiting for replies
        self.xid = 0
        self.session = None    # ConnectResponse after handshake()
        self.last_zxid = 0

    # -- plumbing
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise Timeout("no data within timeout")
        p = select.poll()      # poll, not select: fds may exceed FD_SETSIZE
        p.register(self.sock, select.POLLIN)
        if not p.poll(left * 1000.0):
            raise Timeout("no data within timeout")
        try:
            chunk = self.sock.recv(65536)
        except (ConnectionResetError, ConnectionAbortedError):
            raise Closed("connection reset")
        if not chunk:
            raise Closed("EOF")
        self.buf += chunk

    def recv_exact(self, n, timeout=None):
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while len(self.buf) < n:
            self._fill(deadline)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv_frame(self, timeout=None):
        """Next frame's payload (without the length)."""
        n = struct.unpack(">i", self.recv_exact(4, timeout))[0]
        if n < 0 or n > 64 * 1024 * 1024:
            raise DecodeError("bad frame length %d" % n)
        return self.recv_exact(n, timeout)

    def recv_all_until_close(self, timeout=None):
        """Everything the server sends until it closes (for 4lw and close checks)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        try:
            while True:
                self._fill(deadline)
        except Closed:
            out, self.buf = self.buf, b""
            return out

    def wait_closed(self, timeout=None):
        """True if the peer closes within timeout (buffered/unread data is
        discarded), False if the socket is still open at the deadline."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        try:
            while True:
                self._fill(deadline)
        except Closed:
            return True
        except Timeout:
            return False

    # -- session
    def handshake(self, timeout_ms=30000, session_id=0, passwd=b"\0" * 16,
                  last_zxid=0, read_only=False, check=True):
        self.send(frame(connect_request(timeout_ms, session_id, passwd,
                                        last_zxid, read_only)))
        resp = parse_connect_response(self.recv_frame())
        if check and resp.timeout <= 0:
            raise AssertionError("handshake refused: %r" % (resp,))
        self.session = resp
        return resp

    def next_frame(self, timeout=None):
        """Next frame as an Event (xid -1) or a Reply."""
        r = Reader(self.recv_frame(timeout))
        xid, zxid, err = r.int(), r.long(), r.int()
        if xid == XID_NOTIFICATION:
            return parse_event(r, zxid)
        return Reply(xid, zxid, err, r)

    def next_reply(self, timeout=None):
        """Next Reply; notifications met on the way go to self.events."""
        while True:
            f = self.next_frame(timeout)
            if isinstance(f, Event):
                self.events.append(f)
                continue
            if f.zxid > 0 and f.xid not in (XID_PING, XID_AUTH):
                self.last_zxid = max(self.last_zxid, f.zxid)
            return f

    def next_event(self, timeout=None):
        """Next notification (queued ones first); replies on the way are an error."""
        if self.events:
            return self.events.pop(0)
        f = self.next_frame(timeout)
        if not isinstance(f, Event):
            raise AssertionError("expected an event, got reply %r" % (f[:3],))
        return f

    def no_event(self, timeout=0.3):
        """True if no notification arrives within timeout."""
        if self.events:
            return False
        try:
            f = self.next_frame(timeout)
        except Timeout:
            return True
        raise AssertionError("unexpected frame %r" % (f,))

    def next_xid(self):
        self.xid += 1
        return self.xid

    def submit(self, op, body=b"", xid=None):
        """Send one request without waiting; returns its xid."""
        xid = self.next_xid() if xid is None else xid
        self.send(request(xid, op, body))
        return xid

    def call(self, op, body=b"", xid=None, timeout=None):
        """Send one request and return its Reply (xid checked)."""
        xid = self.submit(op, body, xid)
        rep = self.next_reply(timeout)
        if op == OP_PING:
            assert rep.xid == XID_PING, rep
        else:
            assert rep.xid == xid, "reply xid %d for request xid %d" % (rep.xid, xid)
        return rep

    # -- conveniences returning (Reply, decoded value or None)
    def create(self, path, data=b"", flags=0, acl=OPEN_ACL, op=OP_CREATE, ttl=None):
        rep = self.call(op, create_req(path, data, acl, flags, ttl))
        if rep.err:
            return rep, None
        if op == OP_CREATE:
            return rep, rep.body.ustring()
        return rep, (rep.body.ustring(), rep.body.stat())

    def delete(self, path, version=-1):
        return self.call(OP_DELETE, path_version_req(path, version)), None

    def exists(self, path, watch=False):
        rep = self.call(OP_EXISTS, path_watch_req(path, watch))
        return rep, (None if rep.err else rep.body.stat())

    def get_data(self, path, watch=False):
        rep = self.call(OP_GETDATA, path_watch_req(path, watch))
        return rep, (None if rep.err else (rep.body.buffer(), rep.body.stat()))

    def set_data(self, path, data, version=-1):
        rep = self.call(OP_SETDATA, set_data_req(path, data, version))
        return rep, (None if rep.err else rep.body.stat())

    def get_acl(self, path):
        rep = self.call(OP_GETACL, path_req(path))
        return rep, (None if rep.err else (rep.body.acl(), rep.body.stat()))

    def set_acl(self, path, acl, version=-1):
        rep = self.call(OP_SETACL, set_acl_req(path, acl, version))
        return rep, (None if rep.err else rep.body.stat())

    def get_children(self, path, watch=False):
        rep = self.call(OP_GETCHILDREN, path_watch_req(path, watch))
        return rep, (None if rep.err else rep.body.strings())

    def get_children2(self, path, watch=False):
        rep = self.call(OP_GETCHILDREN2, path_watch_req(path, watch))
        return rep, (None if rep.err else (rep.body.strings(), rep.body.stat()))

    def multi(self, ops, op=OP_MULTI):
        rep = self.call(op, multi_req(ops))
        return rep, (None if rep.err else parse_multi(rep.body))

    def ping(self, xid=XID_PING):
        return self.call(OP_PING, b"", xid=xid), None

    def close_session(self):
        return self.call(OP_CLOSESESSION), None


def session(host, port, timeout_ms=30000, **kw):
    """A Conn with a fresh session (handshake done)."""
    c = Conn(host, port)
    try:
        c.handshake(timeout_ms, **kw)
    except BaseException:
        c.close()
        raise
    return c


def four_letter(host, port, word, timeout=5.0):
    """Send a four-letter word, return the text reply (server closes after it)."""
    with Conn(host, port, timeout) as c:
        c.send(word.encode("ascii"))
        return c.recv_all_until_close().decode("utf-8", "replace")
