"""A client for haltd's order entry, standard library only (Python 3.8+).

Two transports, the same operations:

    # HTTP on the admin listener, with an engine's token (role `engine`)
    client = HaltdClient(url="http://127.0.0.1:7707", token=TOKEN)
    # the Unix domain socket (`orderEntry.socketPath`), for latency
    client = HaltdClient(socket_path="/var/lib/haltd/entry.sock", token=TOKEN)

    answer = client.submit("BTC/USDT:USDT", "limit", "buy", 0.01, price=60000, client_order_id="q-1")
    answers = client.submit_many([dict(symbol="BTC/USDT:USDT", type="limit", side="sell", amount=0.01,
                                       price=61000, client_order_id="q-2"), ...])   # pipelined on the socket
    answer["outcome"]          # accepted | rejected | refused | unknown
    answer["order"]["id"]      # haltd's id; ["venueOrderId"] the venue's; ["status"] ccxt's
    client.cancel(client_order_id="q-1")
    for update in client.updates():   # the engine's own order updates and fills
        ...

A submit is idempotent by `client_order_id`: sending it again (after a timeout, a lost
connection, a restart) returns the order the first one made, with `duplicate: True`, and never
makes a second one. This client sends a request again once on a fresh connection when the kept-alive
one was lost, except a submit without `client_order_id`: that one could become a second order, so
the error is raised instead (give every order an id). Errors come back as `HaltdError` with the HTTP status and haltd's message,
which names the field at fault.
"""

import http.client
import json
import socket
import urllib.parse

__all__ = ["HaltdClient", "HaltdError"]


class HaltdError(Exception):
    """haltd refused a request: `status` (400 bad request, 401/403 credentials, 404, 409), `code`, `message`."""

    def __init__(self, status, code, message):
        super().__init__("%s %s: %s" % (status, code, message))
        self.status = status
        self.code = code
        self.message = message


class _Http:
    def __init__(self, url, token, timeout):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise ValueError("url must be http:// or https://, got %r" % url)
        self._scheme, self._host, self._port = parts.scheme, parts.hostname, parts.port
        self._token = token
        self._timeout = timeout
        self._conn = None

    def _connection(self):
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
            self._conn = cls(self._host, self._port, timeout=self._timeout)
        return self._conn

    def request(self, method, path, body=None, query=None):
        if query:
            path += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        headers = {"Authorization": "Bearer " + self._token, "Content-Type": "application/json"}
        data = None if body is None else json.dumps(body)
        # A connection lost before the answer may have carried the request to haltd: sent again, a
        # submit is found by its client order id; one without could become a second order.
        again = not (method == "POST" and path == "/engine/orders" and not (body or {}).get("clientOrderId"))
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request(method, path, body=data, headers=headers)
                res = conn.getresponse()
                text = res.read()
                break
            except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine):
                # a kept-alive connection the server closed: once more on a fresh one, where that is safe
                self.close()
                if attempt == 2 or not again:
                    raise
        payload = json.loads(text) if text else None
        if res.status >= 400:
            err = (payload or {}).get("error", {})
            raise HaltdError(res.status, err.get("code", "HTTP_%d" % res.status), err.get("message", text.decode("utf-8", "replace")))
        return payload

    def stream(self):
        conn = http.client.HTTPConnection(self._host, self._port, timeout=None)
        conn.request("GET", "/engine/stream", headers={"Authorization": "Bearer " + self._token})
        res = conn.getresponse()
        if res.status != 200:
            raise HaltdError(res.status, "STREAM", res.read().decode("utf-8", "replace"))
        try:
            for line in res:
                line = line.strip()
                if line:
                    update = json.loads(line)
                    if update.get("type") != "hello":
                        yield update
        finally:
            conn.close()

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class _Socket:
    """Newline-delimited JSON on haltd's Unix socket: one request per line, each answered by its id (haltd answers pipelined requests as each is done; this client waits for each answer in turn)."""

    def __init__(self, path, token, timeout):
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        self._sock.connect(path)
        self._file = self._sock.makefile("rb")
        self._next = 0
        self._updates = []
        self._subscribed = False
        self.call("auth", token=token)

    def _read(self):
        line = self._file.readline()
        if not line:
            raise ConnectionError("haltd closed the order-entry socket")
        return json.loads(line)

    def call(self, op, body=None, **extra):
        answer = self.pipeline([(op, body, extra)])[0]
        if isinstance(answer, HaltdError):
            raise answer
        return answer

    def pipeline(self, requests):
        """Send every (op, body, extra) at once and wait for all: haltd starts them in this order and
        answers each when it is done. Returns the results in the order given, a HaltdError in place
        of each refused request."""
        ids = []
        lines = []
        for op, body, extra in requests:
            self._next += 1
            request = dict(extra or {}, id=self._next, op=op)
            if body is not None:
                request["body"] = body
            ids.append(self._next)
            lines.append(json.dumps(request) + "\n")
        self._sock.sendall("".join(lines).encode("utf-8"))
        answers = {}
        while len(answers) < len(ids):
            line = self._read()
            if "stream" in line:
                # an update that arrived while waiting for the answers: kept for updates()
                self._updates.append(_as_update(line))
                continue
            if line.get("id") not in ids:
                continue
            if line.get("ok"):
                answers[line["id"]] = line.get("result")
            else:
                err = line.get("error", {})
                answers[line["id"]] = HaltdError(line.get("status", 500), err.get("code", "ERROR"), err.get("message", ""))
        return [answers[i] for i in ids]

    def request(self, method, path, body=None, query=None):
        op = _OPS[(method, path)]
        return self.call(op, body if body is not None else {k: v for k, v in (query or {}).items() if v is not None})

    def stream(self):
        if not self._subscribed:
            self.call("subscribe")
            self._subscribed = True
        while True:
            while self._updates:
                yield self._updates.pop(0)
            line = self._read()
            if "stream" in line:
                update = _as_update(line)
                if update["type"] == "cut-off":
                    # haltd stopped the updates of a subscriber too far behind: the next stream() subscribes again
                    self._subscribed = False
                yield update
                if update["type"] == "cut-off":
                    return

    def pending_updates(self):
        """Updates already received (while waiting for answers), without blocking."""
        out, self._updates = self._updates, []
        return out

    def close(self):
        try:
            self._file.close()
        finally:
            self._sock.close()


def _as_update(line):
    update = dict(line)
    update["type"] = update.pop("stream")
    return update


_OPS = {
    ("POST", "/engine/orders"): "submit",
    ("GET", "/engine/orders"): "open-orders",
    ("POST", "/engine/orders/cancel"): "cancel",
    ("POST", "/engine/orders/cancel-all"): "cancel-all",
    ("GET", "/engine/order"): "order",
    ("GET", "/engine/ticker"): "ticker",
    ("GET", "/engine/positions"): "positions",
    ("GET", "/engine/balances"): "balances",
}


def _submit_body(symbol, type, side, amount, price=None, reduce_only=False, time_in_force=None, post_only=False, client_order_id=None, venue=None):
    body = {"symbol": symbol, "type": type, "side": side, "amount": amount, "reduceOnly": reduce_only, "postOnly": post_only}
    for key, value in (("price", price), ("timeInForce", time_in_force), ("clientOrderId", client_order_id), ("venue", venue)):
        if value is not None:
            body[key] = value
    return body


class HaltdClient:
    """haltd's order entry over HTTP (`url`) or its Unix socket (`socket_path`), with an engine's `token`."""

    def __init__(self, url=None, socket_path=None, token=None, timeout=15.0):
        if not token:
            raise ValueError("token is required (an admin.users entry with role 'engine')")
        if (url is None) == (socket_path is None):
            raise ValueError("give exactly one of url and socket_path")
        self._t = _Http(url, token, timeout) if url is not None else _Socket(socket_path, token, timeout)
        self.subscribed = False

    def submit(self, symbol, type, side, amount, price=None, reduce_only=False, time_in_force=None, post_only=False, client_order_id=None, venue=None):
        """Enter an order (ccxt's shape). Returns {outcome, duplicate, reason?, order?}."""
        body = _submit_body(symbol, type, side, amount, price, reduce_only, time_in_force, post_only, client_order_id, venue)
        return self._t.request("POST", "/engine/orders", body)

    def submit_many(self, orders):
        """Enter several orders (each a dict of submit's keyword arguments) at once. Over the socket
        they are pipelined: the whole batch waits for about one venue round trip, not one per order.
        Returns one answer per order, in order; a HaltdError in place of each one refused as a bad request."""
        bodies = [_submit_body(**o) for o in orders]
        if isinstance(self._t, _Socket):
            return self._t.pipeline([("submit", body, None) for body in bodies])
        out = []
        for body in bodies:
            try:
                out.append(self._t.request("POST", "/engine/orders", body))
            except HaltdError as e:
                out.append(e)
        return out

    def cancel(self, client_order_id=None, id=None, venue=None):
        """Cancel one of this engine's orders by its client order id (or haltd's id). Returns {result, order}."""
        body = {k: v for k, v in (("clientOrderId", client_order_id), ("id", id), ("venue", venue)) if v is not None}
        return self._t.request("POST", "/engine/orders/cancel", body)

    def cancel_all(self, venue=None, symbol=None):
        """Cancel every live order of this engine (on a venue, a symbol). Returns {results, orders}."""
        return self._t.request("POST", "/engine/orders/cancel-all", {k: v for k, v in (("venue", venue), ("symbol", symbol)) if v is not None})

    def open_orders(self, venue=None, symbol=None):
        return self._t.request("GET", "/engine/orders", query={"venue": venue, "symbol": symbol})

    def order(self, client_order_id=None, id=None, venue=None):
        return self._t.request("GET", "/engine/order", query={"clientOrderId": client_order_id, "id": id, "venue": venue})

    def ticker(self, symbol, venue=None):
        """The market's last mark as haltd recorded it: {venue, symbol, last}."""
        return self._t.request("GET", "/engine/ticker", query={"symbol": symbol, "venue": venue})

    def positions(self):
        return self._t.request("GET", "/engine/positions")

    def balances(self):
        return self._t.request("GET", "/engine/balances")

    def updates(self):
        """The engine's own order updates and fills, as they happen: {"type": "order"|"fill", "seq", "order"|"fill"}.

        Ends after {"type": "cut-off", "message"} when the engine left too much unread: read open
        orders to learn what changed, then call updates() again.
        """
        self.subscribed = True
        return self._t.stream()

    def close(self):
        self._t.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
