// Breakwater live client: one websocket per tab to /ws/live/ (protocol: docs/realtime.md).
//
//   const live = BreakwaterLive.get();                       // the tab's one connection
//   const stop = live.subscribe("surface:BTC", (payload, meta) => redraw(payload), {
//     onRefused: (reason) => showNotAllowed(reason),          // "forbidden", "unknown_topic"...
//     onUnavailable: () => showNoDataYet(),                   // snapshot said available: false
//   });
//   BreakwaterLive.bindIndicator(document.getElementById("live-status"));
//
// Guarantees to a page: its handler gets the topic's snapshot first, then pushed messages in
// sequence order; a gap (seq != last + 1), a reconnect or a silent socket triggers a snapshot
// resync, so a lost push is repaired without reloading. Handlers are latest-wins by default:
// when several updates arrive within one frame only the newest is handed over (pass
// {latestWins: false} for topics whose messages are deltas, e.g. one breaker per message;
// "breakers" and "alerts" default to false). The status is one of "connecting", "live",
// "reconnecting", "stale" (open but not known current) and "signed_out" (no reconnect:
// the session ended). Close codes: 4401 = signed out, 4403 = rights changed (reconnect and
// re-subscribe; refused topics are reported).
(function () {
  "use strict";

  const DELTA_TOPICS = new Set(["breakers", "alerts"]);
  const PING_EVERY_MS = 10000;
  const PONG_WITHIN_MS = 5000;
  const RESYNC_WITHIN_MS = 3000; // a resync slower than this shows "stale"
  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 15000;
  const LABELS = {
    connecting: "Connecting…",
    live: "Live",
    reconnecting: "Reconnecting…",
    stale: "Stale: data may be out of date",
    signed_out: "Signed out: reload to sign in",
  };

  const nextFrame = window.requestAnimationFrame
    ? (fn) => window.requestAnimationFrame(fn)
    : (fn) => setTimeout(fn, 16);

  function Live(url) {
    this.url = url;
    this.topics = new Map(); // topic -> state (see subscribe)
    this.statusListeners = new Set();
    this.status = "connecting";
    this.socket = null;
    this.attempt = 0;
    this.timers = {};
    this.lastHeard = 0;
    this._connect();
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden && this.status === "reconnecting") this._reconnectNow();
    });
  }

  Live.prototype._setStatus = function (status) {
    if (status === this.status) return;
    this.status = status;
    this.statusListeners.forEach((fn) => fn(status));
  };

  Live.prototype.onStatus = function (fn) {
    this.statusListeners.add(fn);
    fn(this.status);
    return () => this.statusListeners.delete(fn);
  };

  Live.prototype._send = function (message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(message));
    }
  };

  Live.prototype._connect = function () {
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.onmessage = (event) => this._receive(JSON.parse(event.data));
    socket.onclose = (event) => {
      if (socket !== this.socket) return;
      this._stopTimers();
      this.topics.forEach((t) => {
        t.synced = false;
        t.subscribed = false;
      });
      if (event.code === 4401) {
        this._setStatus("signed_out");
        return;
      }
      this._setStatus("reconnecting");
      // Exponential backoff with jitter; 4403 (rights changed) reconnects at once.
      const base = event.code === 4403 ? 0 : Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt);
      this.attempt += 1;
      this.timers.reconnect = setTimeout(() => this._connect(), base * (0.5 + Math.random() / 2));
    };
  };

  Live.prototype._reconnectNow = function () {
    clearTimeout(this.timers.reconnect);
    this._connect();
  };

  Live.prototype._stopTimers = function () {
    clearInterval(this.timers.ping);
    clearInterval(this.timers.watch);
  };

  Live.prototype._receive = function (m) {
    this.lastHeard = Date.now();
    const t = m.topic !== undefined ? this.topics.get(m.topic) : undefined;
    switch (m.type) {
      case "hello":
        this.attempt = 0;
        this._startTimers();
        this.topics.forEach((_, topic) => this._send({ type: "subscribe", topic }));
        this._updateStatus();
        break;
      case "subscribed":
        if (t) {
          t.subscribed = true;
          this._resync(m.topic, t);
        }
        break;
      case "refused":
        if (t && m.reason !== "not_subscribed") {
          this.topics.delete(m.topic);
          t.onRefused(m.reason);
        }
        this._updateStatus();
        break;
      case "snapshot":
        if (t) this._snapshot(t, m);
        break;
      case "message":
        if (t) this._message(m.topic, t, m);
        break;
      default:
        break; // pong, unsubscribed, error: lastHeard is all we need
    }
  };

  Live.prototype._resync = function (topic, t) {
    t.synced = false;
    t.buffer = [];
    t.resyncSince = Date.now();
    this._send({ type: "snapshot", topic });
  };

  Live.prototype._snapshot = function (t, m) {
    const seq = m.seq || 0;
    t.synced = true;
    t.resyncSince = null;
    t.last = Math.max(seq, t.last || 0);
    if (m.available) {
      this._deliver(t, m.payload, { kind: "snapshot", topic: m.topic, seq });
    } else {
      t.onUnavailable();
    }
    // Messages that came while the snapshot was being built, newer than it.
    const buffered = t.buffer.filter((b) => b.seq > seq).sort((a, b) => a.seq - b.seq);
    t.buffer = [];
    buffered.forEach((b) => this._message(m.topic, t, b));
    this._updateStatus();
  };

  Live.prototype._message = function (topic, t, m) {
    if (!t.synced) {
      t.buffer.push(m);
      return;
    }
    if (m.seq <= t.last) return; // already in the snapshot, or a duplicate
    const gap = m.seq !== t.last + 1;
    t.last = m.seq;
    this._deliver(t, m.payload, { kind: "message", topic, seq: m.seq });
    if (gap) this._resync(topic, t); // something was dropped on the way: fetch the state
  };

  Live.prototype._deliver = function (t, payload, meta) {
    if (!t.latestWins || meta.kind === "snapshot") {
      this._flush(t); // keep order: a pending coalesced update goes first
      t.handler(payload, meta);
      return;
    }
    const scheduled = t.pending !== null;
    t.pending = [payload, meta];
    if (!scheduled) nextFrame(() => this._flush(t));
  };

  Live.prototype._flush = function (t) {
    if (t.pending === null) return;
    const [payload, meta] = t.pending;
    t.pending = null;
    t.handler(payload, meta);
  };

  Live.prototype._startTimers = function () {
    this._stopTimers();
    this.timers.ping = setInterval(() => this._send({ type: "ping" }), PING_EVERY_MS);
    this.timers.watch = setInterval(() => {
      // A silent socket (half-open TCP, sleeping laptop) is closed and reopened.
      if (Date.now() - this.lastHeard > PING_EVERY_MS + PONG_WITHIN_MS) {
        this._setStatus("stale");
        if (this.socket) this.socket.close();
        return;
      }
      this.topics.forEach((t, topic) => {
        if (t.subscribed && !t.synced && Date.now() - t.resyncSince > RESYNC_WITHIN_MS) {
          this._send({ type: "snapshot", topic }); // the server answers one at a time per topic
        }
      });
      this._updateStatus();
    }, 1000);
  };

  Live.prototype._updateStatus = function () {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) return;
    let stale = false;
    this.topics.forEach((t) => {
      if (!t.synced && (!t.resyncSince || Date.now() - t.resyncSince > RESYNC_WITHIN_MS)) stale = true;
    });
    this._setStatus(stale ? "stale" : "live");
  };

  Live.prototype.subscribe = function (topic, handler, options) {
    const opts = options || {};
    const t = {
      handler,
      onRefused: opts.onRefused || function () {},
      onUnavailable: opts.onUnavailable || function () {},
      latestWins: opts.latestWins !== undefined ? opts.latestWins : !DELTA_TOPICS.has(topic),
      subscribed: false,
      synced: false,
      last: 0,
      buffer: [],
      pending: null,
      resyncSince: Date.now(),
    };
    this.topics.set(topic, t);
    this._send({ type: "subscribe", topic }); // if not open yet, "hello" subscribes everything
    return () => {
      if (this.topics.get(topic) === t) {
        this.topics.delete(topic);
        this._send({ type: "unsubscribe", topic });
      }
    };
  };

  Live.prototype.resync = function (topic) {
    const t = this.topics.get(topic);
    if (t && t.subscribed) this._resync(topic, t);
  };

  let instance = null;

  function get(url) {
    if (instance === null) {
      const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
      instance = new Live(url || `${scheme}//${window.location.host}/ws/live/`);
    }
    return instance;
  }

  // A status element: word and data-state (for CSS colour), never colour alone; announced.
  function bindIndicator(element, live) {
    if (!element) return () => {};
    element.setAttribute("role", "status");
    element.setAttribute("aria-live", "polite");
    return (live || get()).onStatus((status) => {
      element.dataset.state = status;
      element.textContent = LABELS[status] || status;
    });
  }

  // `task` (an async function) runs at most once at a time; calls while it runs collapse into
  // one more run after it (latest wins), so a burst of pushes costs two fetches, not N.
  function singleFlight(task) {
    let inFlight = false;
    let queued = false;
    return async function run() {
      if (inFlight) {
        queued = true;
        return;
      }
      inFlight = true;
      try {
        await task();
      } finally {
        inFlight = false;
        if (queued) {
          queued = false;
          run();
        }
      }
    };
  }

  window.BreakwaterLive = { get, bindIndicator, singleFlight, LABELS };
})();
