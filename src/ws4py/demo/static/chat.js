// The ws4py chat page: plain JavaScript, no dependencies, served by the chat server.
// User text is only ever put in the page with textContent, never as HTML.
(() => {
  "use strict";

  const RECONNECT_INITIAL_MS = 500;   // first retry after 0.25-0.5 s
  const RECONNECT_MAX_MS = 10000;     // back-off cap: retries at most every 5-10 s
  const CONNECT_TIMEOUT_MS = 10000;   // a handshake hanging longer is abandoned
  const MAX_LOG_ITEMS = 500;

  const $ = (id) => document.getElementById(id);
  const nickInput = $("nick");
  const statusEl = $("status");
  const reconnectButton = $("reconnect");
  const log = $("log");
  const scroller = document.querySelector("main");
  const composer = $("composer");
  const textInput = $("text");
  const sendButton = $("send");

  const cleanNick = (value) => (value || "").replace(/\s+/g, " ").trim().slice(0, 32);

  // Each tab keeps its own nickname (sessionStorage), so several tabs are several people.
  const params = new URLSearchParams(window.location.search);
  let nick = cleanNick(params.get("nick")) || cleanNick(sessionStorage.getItem("ws4py-chat-nick"))
    || `guest-${1000 + Math.floor(Math.random() * 9000)}`;
  nickInput.value = nick;
  let myNick = null;   // the nick the server settled on: its first event to us is our join

  let socket = null;
  let attempt = 0;
  let retryTimer = null;
  let countdownTimer = null;
  let connectTimer = null;

  function socketUrl() {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${window.location.host}/ws?nick=${encodeURIComponent(nick)}`;
  }

  function setState(state, detail) {
    statusEl.dataset.state = state;
    document.body.dataset.state = state;
    statusEl.textContent = detail ? `${state} — ${detail}` : state;
    const open = state === "open";
    textInput.disabled = !open;
    sendButton.disabled = !open;
    // Offered while retrying: during back-off and during retry attempts.
    reconnectButton.hidden = state === "open" || (state === "connecting" && attempt === 0);
    if (open) textInput.focus();
  }

  function clearTimers() {
    clearTimeout(retryTimer);
    clearInterval(countdownTimer);
    clearTimeout(connectTimer);
    retryTimer = countdownTimer = connectTimer = null;
  }

  function connect() {
    clearTimers();
    setState("connecting", attempt ? `attempt ${attempt + 1}` : "");
    myNick = null;
    const ws = new WebSocket(socketUrl());
    socket = ws;
    connectTimer = setTimeout(() => {
      if (socket === ws && ws.readyState === WebSocket.CONNECTING) ws.close();
    }, CONNECT_TIMEOUT_MS);
    ws.addEventListener("open", () => {
      if (socket !== ws) return;
      clearTimeout(connectTimer);
      attempt = 0;
      setState("open");
    });
    ws.addEventListener("message", (event) => {
      if (socket !== ws || typeof event.data !== "string") return;
      let data;
      try {
        data = JSON.parse(event.data);
      } catch {
        return;
      }
      if (data && typeof data === "object") show(data);
    });
    ws.addEventListener("close", (event) => {
      if (socket !== ws) return;   // a socket we replaced on purpose
      socket = null;
      scheduleReconnect(event);
    });
  }

  // Exponential back-off with "equal jitter": the n-th retry waits between half and
  // all of min(cap, initial * 2^n), so many tabs do not all come back at once.
  function scheduleReconnect(event) {
    clearTimers();
    const ceiling = Math.min(RECONNECT_MAX_MS, RECONNECT_INITIAL_MS * 2 ** attempt);
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    attempt += 1;
    const due = Date.now() + delay;
    const why = event && event.code ? `code ${event.code}` : "";
    const tick = () => {
      const left = Math.max(0, (due - Date.now()) / 1000).toFixed(1);
      setState("closed", `${why ? why + ", " : ""}reconnecting in ${left} s`);
    };
    tick();
    countdownTimer = setInterval(tick, 250);
    retryTimer = setTimeout(connect, delay);
  }

  function reconnectNow() {
    const old = socket;
    socket = null;
    if (old) old.close(1000, "reconnecting");
    attempt = 0;
    connect();
  }

  function formatTime(ts) {
    const date = typeof ts === "number" ? new Date(ts) : new Date();
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  function span(className, text) {
    const el = document.createElement("span");
    el.className = className;
    el.textContent = text;
    return el;
  }

  function show(data) {
    const who = typeof data.nick === "string" ? data.nick : "?";
    const text = typeof data.text === "string" ? data.text : "";
    const item = document.createElement("li");
    item.dataset.type = String(data.type);
    if (data.type === "join" && myNick === null) {
      myNick = who;
      nickInput.value = who;
    }
    if (data.type === "message") {
      item.className = who === myNick ? "message mine" : "message";
      item.append(span("time", formatTime(data.ts)), span("who", who), span("text", text));
    } else if (data.type === "join" || data.type === "leave") {
      item.className = "notice";
      const verb = data.type === "join" ? "joined" : "left";
      item.textContent = `${formatTime(data.ts)} · ${who} ${verb}${who === myNick ? " (you)" : ""}`;
    } else {
      return;
    }
    const atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
    log.append(item);
    while (log.children.length > MAX_LOG_ITEMS) log.firstElementChild.remove();
    if (atBottom) scroller.scrollTop = scroller.scrollHeight;
  }

  composer.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = textInput.value;
    if (!text.trim() || !socket || socket.readyState !== WebSocket.OPEN) return;
    socket.send(JSON.stringify({ type: "message", text }));
    textInput.value = "";
  });

  nickInput.addEventListener("change", () => {
    const value = cleanNick(nickInput.value);
    if (!value || value === nick) {
      nickInput.value = myNick || nick;
      return;
    }
    nick = value;
    sessionStorage.setItem("ws4py-chat-nick", nick);
    reconnectNow();   // the server names members when they join
  });

  reconnectButton.addEventListener("click", reconnectNow);
  window.addEventListener("online", () => {
    if (!socket) reconnectNow();
  });

  sessionStorage.setItem("ws4py-chat-nick", nick);
  connect();
})();
