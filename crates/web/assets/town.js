// The town page: the map with its agents, the timeline, the selected agent, the feeds.
"use strict";
(function () {
  const { $, api, el, svg, fmtTime, fmtClock, colour } = Hamlet;
  const T = {
    summary: null,
    tile: 12,
    time: 0,          // the playback position, simulated seconds
    playing: false,
    speed: 300,
    shown: null,      // the snapshot on screen
    wanted: null,     // the time asked for next
    inflight: false,
    selected: null,
    follow: false,    // live: stay at the newest record
    lastTick: 0,
  };

  function walls(ch) { return ch === "#"; }

  function drawMap(s) {
    const rows = s.map.length;
    const cols = Math.max(...s.map.map((r) => [...r].length));
    const room = Math.max(600, Math.min(window.innerWidth * 0.62, 1100));
    T.tile = Math.max(6, Math.floor(room / cols));
    const w = cols * T.tile, h = rows * T.tile;
    const canvas = $("map");
    canvas.width = w; canvas.height = h;
    const overlay = $("overlay");
    overlay.setAttribute("width", w); overlay.setAttribute("height", h);
    overlay.setAttribute("viewBox", `0 0 ${w} ${h}`);
    const ctx = canvas.getContext("2d");
    s.map.forEach((row, y) => {
      [...row].forEach((ch, x) => {
        const arena = s.legend[ch];
        ctx.fillStyle = walls(ch) ? "#5b5346" : arena ? colour(arena.split(":")[0], 45, 78) : "#e9e4d8";
        ctx.fillRect(x * T.tile, y * T.tile, T.tile, T.tile);
      });
    });
    for (const p of s.places) {
      if (p.kind === "object" && p.tile) {
        ctx.fillStyle = "rgba(0,0,0,.18)";
        ctx.fillRect(p.tile.x * T.tile + 2, p.tile.y * T.tile + 2, T.tile - 4, T.tile - 4);
      }
    }
    const labels = svg("g", { id: "arena-labels" });
    for (const p of s.places) {
      if (p.kind !== "arena" || !p.tile) continue;
      const name = p.path.split(":").slice(-1)[0];
      const t = svg("text", {
        class: "arena-label", x: (p.tile.x + 0.5) * T.tile, y: (p.tile.y + 0.5) * T.tile - T.tile,
        "data-arena": p.path,
      }, name);
      t.append(svg("title", {}, p.path));
      labels.append(t);
    }
    overlay.append(labels);
    overlay.append(svg("g", { id: "markers" }));
  }

  function agentList(s) {
    const list = $("agent-list");
    for (const a of s.agents) {
      const b = el("button", { "data-agent": a.name, title: a.occupation, text: a.name });
      b.style.borderColor = colour(a.name);
      b.onclick = () => select(a.name);
      list.append(b);
    }
  }

  function marker(name, view) {
    const g = svg("g", { class: "agent", id: `agent-${name.replace(/\W+/g, "-")}`, "data-agent": name });
    g.append(svg("circle", { r: T.tile * 0.85, fill: colour(name) }));
    g.append(svg("text", {}, view.initials));
    g.append(svg("text", { class: "emoji", x: T.tile * 0.9, y: -T.tile * 0.7 }, ""));
    g.addEventListener("click", (e) => { e.stopPropagation(); select(name); });
    g.addEventListener("mouseenter", () => tooltip(name));
    g.addEventListener("mouseleave", () => { $("tooltip").hidden = true; });
    return g;
  }

  function tooltip(name) {
    const a = T.shown && T.shown.agents[name];
    if (!a) return;
    const tip = $("tooltip");
    tip.replaceChildren(
      el("b", { text: name }), " ", el("span", { text: a.emoji || "" }), el("br"),
      el("span", { text: a.action || "idle" }), el("br"),
      el("span", { class: "muted", text: a.place || "" }),
      a.last_utterance ? el("div", { text: `“${a.last_utterance}”` }) : null,
    );
    tip.style.left = `${(a.tile.x + 1.5) * T.tile}px`;
    tip.style.top = `${(a.tile.y + 1) * T.tile}px`;
    tip.hidden = false;
    tip.dataset.agent = name;
  }

  function drawAgents(snap) {
    const layer = $("markers");
    for (const [name, a] of Object.entries(snap.agents)) {
      let g = layer.querySelector(`[data-agent="${CSS.escape(name)}"]`);
      if (!g) { g = marker(name, a); layer.append(g); }
      g.dataset.x = a.tile.x; g.dataset.y = a.tile.y;
      g.dataset.action = a.action || "";
      g.setAttribute("transform", `translate(${(a.tile.x + 0.5) * T.tile}, ${(a.tile.y + 0.5) * T.tile})`);
      g.style.transform = `translate(${(a.tile.x + 0.5) * T.tile}px, ${(a.tile.y + 0.5) * T.tile}px)`;
      g.querySelector(".emoji").textContent = a.emoji || "";
      g.classList.toggle("selected", name === T.selected);
    }
    const tip = $("tooltip");
    if (!tip.hidden && tip.dataset.agent) tooltip(tip.dataset.agent);
  }

  function feeds(snap) {
    $("feed").replaceChildren(...snap.talk.slice().reverse().map((l) => el("li", { "data-conversation": l.conversation },
      el("span", { class: "t", text: fmtClock(l.time) }), el("b", { text: l.speaker }), ` → ${l.listener}: ${l.text}`)));
    $("events").replaceChildren(...snap.events.slice().reverse().map(([t, e]) => el("li", {},
      el("span", { class: "t", text: fmtClock(t) }), e)));
    $("checks").replaceChildren(...snap.checks.map(([name, passed, detail]) => el("li", { class: passed ? "pass" : "fail", "data-check": name },
      `${passed ? "✔" : "✘"} ${name}: ${detail}`)));
    diffusion(snap);
    graph(snap);
  }

  function diffusion(snap) {
    const box = $("diffusion");
    const s = T.summary;
    const W = 320, H = 160, L = 28, B = 18;
    const n = Math.max(1, s.agents.length);
    const t0 = s.start, t1 = Math.max(s.until, s.last, t0 + 1);
    const x = (t) => L + (W - L - 6) * (t - t0) / (t1 - t0);
    const y = (k) => H - B - (H - B - 8) * k / n;
    const parts = [
      svg("line", { x1: L, y1: H - B, x2: W - 6, y2: H - B, stroke: "#999" }),
      svg("line", { x1: L, y1: 8, x2: L, y2: H - B, stroke: "#999" }),
      svg("text", { x: 2, y: 14, "font-size": 9 }, String(n)),
      svg("text", { x: L, y: H - 4, "font-size": 9 }, fmtTime(t0)),
      svg("text", { x: W - 70, y: H - 4, "font-size": 9 }, fmtTime(t1)),
      svg("line", { x1: x(snap.time), y1: 8, x2: x(snap.time), y2: H - B, stroke: "#c0392b", "stroke-dasharray": "3 2" }),
    ];
    Object.entries(snap.learned).forEach(([topic, who], i) => {
      let pts = `${x(t0)},${y(0)}`;
      who.forEach((l, k) => { pts += ` ${x(l.time)},${y(k)} ${x(l.time)},${y(k + 1)}`; });
      pts += ` ${x(snap.time)},${y(who.length)}`;
      const c = colour(topic, 65, 40);
      parts.push(svg("polyline", { points: pts, fill: "none", stroke: c, "stroke-width": 2, "data-topic": topic, "data-count": who.length }));
      parts.push(svg("text", { x: L + 4, y: 18 + 11 * i, "font-size": 10, fill: c }, `${topic}: ${who.length}/${n}`));
    });
    if (!Object.keys(snap.learned).length) parts.push(svg("text", { x: L + 6, y: 40, "font-size": 10, fill: "#777" }, "no topic has spread yet"));
    box.replaceChildren(...parts);
  }

  function graph(snap) {
    const box = $("graph");
    const names = T.summary.agents.map((a) => a.name);
    const R = 130, C = 160;
    const pos = {};
    names.forEach((n, i) => {
      const a = 2 * Math.PI * i / names.length - Math.PI / 2;
      pos[n] = [C + R * Math.cos(a), C + R * Math.sin(a)];
    });
    const parts = [];
    for (const [a, others] of Object.entries(snap.talked)) {
      for (const [b, count] of Object.entries(others)) {
        if (a >= b || !pos[a] || !pos[b]) continue;
        parts.push(svg("line", { x1: pos[a][0], y1: pos[a][1], x2: pos[b][0], y2: pos[b][1], stroke: "#2f6fb0",
          "stroke-opacity": 0.6, "stroke-width": Math.min(6, count), "data-a": a, "data-b": b, "data-count": count }));
      }
    }
    for (const n of names) {
      const initials = T.summary.agents.find((a) => a.name === n).initials;
      const g = svg("g", { "data-agent": n, cursor: "pointer" });
      g.append(svg("circle", { cx: pos[n][0], cy: pos[n][1], r: 10, fill: colour(n), stroke: n === T.selected ? "#000" : "none" }));
      g.append(svg("text", { x: pos[n][0], y: pos[n][1] + 3, "font-size": 8, fill: "#fff", "text-anchor": "middle" }, initials));
      g.append(svg("title", {}, n));
      g.addEventListener("click", () => select(n));
      parts.push(g);
    }
    box.replaceChildren(...parts);
  }

  function planList(id, items, now) {
    // The item under way: the last one that has started (and not ended, when it says how long).
    let current = -1;
    items.forEach((p, i) => { if (p.start <= now) current = i; });
    if (current >= 0 && items[current].minutes && now >= items[current].start + items[current].minutes * 60) current = -1;
    if (!items.length) { $(id).replaceChildren(el("li", { class: "muted empty", text: "none" })); return; }
    $(id).replaceChildren(...items.map((p, i) => {
      return el("li", { class: i === current ? "current" : "", "data-start": p.start },
        el("span", { class: "t", text: fmtClock(p.start) }), p.description, p.place ? el("span", { class: "muted", text: ` @ ${p.place}` }) : null);
    }));
  }

  async function showAgent() {
    if (!T.selected || !T.shown) return;
    const name = T.selected;
    const d = await api(`/api/town/agent/${encodeURIComponent(name)}?index=${T.shown.index}`);
    if (name !== T.selected) return;
    $("agent-panel").hidden = false;
    $("agent-panel").dataset.agent = name;
    $("agent-name").textContent = `${name} ${d.emoji || ""}`;
    $("agent-occupation").textContent = d.occupation;
    $("agent-action").textContent = `${d.action || "idle"} — ${d.place}`;
    planList("agent-day-plan", d.day_plan, d.time);
    planList("agent-hour-plan", d.plan, d.time);
    planList("agent-now-plan", d.now_plan, d.time);
    $("agent-knows").textContent = d.knows.length ? d.knows.join(", ") : "nothing from the scenario yet";
    $("agent-talked").textContent = d.talked ? Object.entries(d.talked).map(([n, c]) => `${n} (${c})`).join(", ") : "nobody yet";
    $("agent-memories").replaceChildren(...d.memories.map((m) => el("li", { "data-importance": m.importance, "data-kind": m.kind },
      el("span", { class: "imp", text: m.importance }), el("span", { class: "t", text: fmtClock(m.time) }), m.text)));
    if (!d.memories.length) $("agent-memories").replaceChildren(el("li", { class: "muted empty", text: "none yet" }));
    $("agent-reflections").replaceChildren(...d.reflections.map((r) => el("li", {},
      el("span", { class: "t", text: fmtTime(r.time) }), r.insights.join(" · "),
      r.evidence.length ? el("div", { class: "evidence", text: `from: ${r.evidence.map((e) => `[${e.importance}] ${e.text}`).join(" | ")}` }) : null)));
    if (!d.reflections.length) $("agent-reflections").replaceChildren(el("li", { class: "muted empty", text: "none yet" }));
  }

  function select(name) {
    T.selected = name;
    for (const b of $("agent-list").children) b.classList.toggle("selected", b.dataset.agent === name);
    if (T.shown) { drawAgents(T.shown); graph(T.shown); }
    showAgent().catch((e) => Hamlet.status(e.message));
  }

  function show(snap) {
    T.shown = snap;
    const clock = $("clock");
    clock.textContent = snap.label;
    clock.dataset.time = snap.time;
    clock.dataset.index = snap.index;
    $("seek").value = snap.time;
    drawAgents(snap);
    feeds(snap);
    if (T.selected) showAgent().catch((e) => Hamlet.status(e.message));
  }

  async function fetchWanted() {
    if (T.inflight || T.wanted === null) return;
    const at = T.wanted;
    T.wanted = null;
    T.inflight = true;
    try {
      show(await api(at === "latest" ? "/api/town/snapshot" : `/api/town/snapshot?at=${Math.floor(at)}`));
    } catch (e) {
      Hamlet.status(e.message);
    } finally {
      T.inflight = false;
    }
    if (T.wanted !== null) fetchWanted();
  }

  function seek(t) {
    T.time = Math.max(T.summary.first, Math.min(t, T.summary.last));
    T.wanted = T.time;
    fetchWanted();
  }

  function setPlaying(on) {
    T.playing = on;
    const b = $("play");
    b.dataset.playing = String(on);
    b.textContent = on ? "❚❚ Pause" : "▶ Play";
    T.lastTick = performance.now();
    if (on && T.time >= T.summary.last && T.summary.ended) seek(T.summary.first);
  }

  function tick(now) {
    const dt = (now - T.lastTick) / 1000;
    T.lastTick = now;
    if (T.playing && !T.follow) {
      const next = Math.min(T.time + dt * T.speed, T.summary.last);
      if (Math.floor(next) !== Math.floor(T.time)) seek(next);
      else T.time = next;
      if (next >= T.summary.last && T.summary.ended) setPlaying(false);
    }
    requestAnimationFrame(tick);
  }

  function onRecord(index, rec) {
    const s = T.summary;
    const atHead = T.follow || T.time >= s.last;
    s.records = Math.max(s.records, index + 1);
    s.last = Math.max(s.last, rec.time);
    if (rec.type === "metrics") { s.ended = true; $("live").hidden = true; }
    $("seek").max = s.last;
    if (atHead && T.follow) { T.time = s.last; T.wanted = "latest"; fetchWanted(); }
  }

  Hamlet.town = {
    async start(summary) {
      T.summary = summary;
      $("town-page").hidden = false;
      if (!summary.map) throw new Error("the town run has no RunStarted record yet");
      $("title").textContent = `${summary.world}${summary.scenario ? ` · ${summary.scenario}` : ""}`;
      $("subtitle").textContent = `${summary.agents.length} agents · seed ${summary.seed} · ${fmtTime(summary.start)} → ${fmtTime(summary.until)}`;
      drawMap(summary);
      agentList(summary);
      const range = $("seek");
      range.min = summary.first; range.max = summary.last;
      range.oninput = () => { T.follow = false; seek(Number(range.value)); };
      $("play").onclick = () => { T.follow = false; setPlaying(!T.playing); };
      $("speed").onchange = (e) => { T.speed = Number(e.target.value); };
      T.speed = Number($("speed").value);
      const go = async () => {
        const text = $("seek-time").value.trim();
        if (!text) return;
        try {
          T.follow = false;
          const snap = await api(`/api/town/snapshot?at=${encodeURIComponent(text)}`);
          T.time = snap.time;
          show(snap);
        } catch (e) { Hamlet.status(e.message); }
      };
      $("seek-go").onclick = go;
      $("seek-time").addEventListener("keydown", (e) => { if (e.key === "Enter") go(); });
      document.addEventListener("keydown", (e) => {
        if (e.target.tagName === "INPUT") return;
        if (e.key === " ") { e.preventDefault(); T.follow = false; setPlaying(!T.playing); }
      });
      $("map-wrap").addEventListener("click", () => { $("tooltip").hidden = true; });
      const params = new URLSearchParams(location.search);
      T.follow = !summary.ended && !params.has("at");
      $("live").hidden = summary.ended;
      if (params.has("at")) {
        const snap = await api(`/api/town/snapshot?at=${encodeURIComponent(params.get("at"))}`);
        T.time = snap.time;
        show(snap);
      } else if (T.follow) {
        T.time = summary.last;
        show(await api("/api/town/snapshot"));
      } else {
        T.time = summary.first;
        show(await api(`/api/town/snapshot?index=1`));
      }
      if (params.has("agent")) select(params.get("agent"));
      Hamlet.follow(summary.records, onRecord);
      T.lastTick = performance.now();
      requestAnimationFrame(tick);
    },
    state: T,
  };
})();
