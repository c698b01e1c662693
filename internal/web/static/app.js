// Gantry web UI behaviour: live statuses, the pipeline graph's needs view
// and child pipelines, and the job log. Plain JavaScript, no build step;
// every piece starts from data-* attributes the templates set.
"use strict";

(function () {
  const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const esc = (s) => s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

  // ---- Live statuses (SSE) --------------------------------------------
  const statusIcon = {}; // status -> icon HTML, learnt from the page's own badges
  function liveStatuses() {
    const el = document.querySelector("[data-live]");
    if (!el || !window.EventSource) return;
    document.querySelectorAll("[data-status-of] .ci-icon, [data-status-of] .badge").forEach(() => {});
    const es = new EventSource(el.dataset.live);
    es.addEventListener("status", (ev) => {
      const d = JSON.parse(ev.data);
      const key = d.kind + "-" + d.id;
      document.querySelectorAll('[data-status-of="' + key + '"]').forEach((n) => {
        const old = n.getAttribute("data-st");
        if (old === d.status) return;
        n.setAttribute("data-st", d.status);
        const badge = n.querySelector(".badge");
        if (badge) {
          badge.className = "badge st-" + d.status;
          const span = badge.querySelector("span"); if (span) span.textContent = d.text;
          const svg = badge.querySelector("svg"); if (svg) svg.setAttribute("class", "ci-icon st-" + d.status);
        } else {
          const svg = n.querySelector("svg"); if (svg) svg.setAttribute("class", "ci-icon st-" + d.status);
        }
        const node = n.closest(".job-node");
        if (node) node.className = node.className.replace(/\bst-[a-z_]+/, "st-" + d.status);
      });
      document.querySelectorAll('[data-duration-of="' + key + '"]').forEach((n) => { if (d.duration) n.textContent = d.duration; });
    });
  }

  // Pages that re-render whole (the runners pages) reload on a change,
  // at most every two seconds.
  function reloadOnChange() {
    const el = document.querySelector("[data-reload-on]");
    if (!el || !window.EventSource) return;
    const es = new EventSource(el.dataset.reloadOn);
    let due = false;
    es.addEventListener("change", () => {
      if (due) return;
      due = true;
      setTimeout(() => { es.close(); location.reload(); }, 2000);
    });
    el.dataset.listening = "1";
    es.onopen = () => { el.dataset.listening = "2"; };
  }

  // Lists (projects, pipelines, jobs) follow their region's stream: the
  // server sends the region rendered again after each change. A reader's
  // open <details> or focus is not worth keeping: the region holds only
  // rows and links.
  function liveRegions() {
    document.querySelectorAll("[data-region]").forEach((el) => {
      if (!window.EventSource) return;
      const es = new EventSource(el.dataset.region);
      es.addEventListener("region", (ev) => {
        el.innerHTML = JSON.parse(ev.data).html;
        el.dataset.updates = String(Number(el.dataset.updates || "0") + 1);
      });
      es.onopen = () => { el.dataset.listening = "1"; };
    });
  }

  // A runners page reloads when a runner's status changes by time alone
  // (online → offline after two hours, → stale after a week): no event
  // announces that, so the page sets a timer for the next such moment,
  // which the server computed (data-reload-in, milliseconds).
  function reloadOnTime() {
    const el = document.querySelector("[data-reload-in]");
    if (!el) return;
    const ms = Number(el.dataset.reloadIn);
    if (!(ms >= 0)) return;
    setTimeout(() => location.reload(), Math.min(ms + 1000, 0x7fffffff));
  }

  // ---- Pipeline graph -----------------------------------------------------
  function drawEdges(graph) {
    const svg = graph.querySelector(":scope > svg.edges");
    if (!svg) return;
    svg.innerHTML = "";
    if (!graph.classList.contains("needs-view")) return;
    const box = graph.getBoundingClientRect();
    const byName = {};
    graph.querySelectorAll(":scope > .stage > .job-node").forEach((n) => { byName[n.dataset.name] = n; });
    let paths = "";
    Object.values(byName).forEach((n) => {
      (n.dataset.needs || "").split("\x1f").filter(Boolean).forEach((need) => {
        const from = byName[need];
        if (!from) return;
        const a = from.getBoundingClientRect(), b = n.getBoundingClientRect();
        const x1 = a.right - box.left, y1 = a.top + a.height / 2 - box.top;
        const x2 = b.left - box.left, y2 = b.top + b.height / 2 - box.top;
        const mx = (x1 + x2) / 2;
        paths += '<path class="edge" data-from="' + esc(need) + '" data-to="' + esc(n.dataset.name) +
          '" d="M' + x1 + "," + y1 + " C" + mx + "," + y1 + " " + mx + "," + y2 + " " + x2 + "," + y2 + '"/>';
      });
    });
    svg.innerHTML = paths;
  }

  // needsLayout regroups the jobs into columns by their depth in the needs
  // graph (a job sits right of everything it needs); stagesLayout restores.
  function setView(graph, view) {
    if (!graph.dataset.stagesHtml) graph.dataset.stagesHtml = "1", graph._stages = Array.from(graph.querySelectorAll(":scope > .stage"));
    const nodes = graph._stages.flatMap((s) => Array.from(s.querySelectorAll(":scope > .job-node")));
    graph.querySelectorAll(":scope > .stage.layer").forEach((l) => l.remove());
    if (view === "needs") {
      const byName = {}; nodes.forEach((n) => (byName[n.dataset.name] = n));
      const depth = {};
      const d = (n, seen) => {
        const k = n.dataset.name;
        if (depth[k] !== undefined) return depth[k];
        if (seen[k]) return 0; seen[k] = true;
        let m = 0;
        (n.dataset.needs || "").split("\x1f").filter(Boolean).forEach((x) => { if (byName[x]) m = Math.max(m, d(byName[x], seen) + 1); });
        return (depth[k] = m);
      };
      nodes.forEach((n) => d(n, {}));
      const layers = [];
      nodes.forEach((n) => { const k = depth[n.dataset.name]; (layers[k] = layers[k] || []).push(n); });
      graph._stages.forEach((s) => (s.hidden = true));
      layers.forEach((ns) => {
        const col = document.createElement("section");
        col.className = "stage layer";
        ns.forEach((n) => col.appendChild(n));
        graph.appendChild(col);
      });
      graph.classList.add("needs-view");
    } else {
      graph._stages.forEach((s) => (s.hidden = false));
      nodes.forEach((n) => n._home && n._home.appendChild(n));
      graph.classList.remove("needs-view");
    }
    requestAnimationFrame(() => drawEdges(graph));
  }

  function pipelineGraph(root) {
    root.querySelectorAll(".graph").forEach((g) => {
      g.querySelectorAll(":scope > .stage > .job-node").forEach((n) => (n._home = n.parentNode));
    });
    root.querySelectorAll(".expand").forEach((btn) => btn.addEventListener("click", async () => {
      const node = btn.closest(".job-node");
      const open = node.nextElementSibling && node.nextElementSibling.classList.contains("child-pipeline");
      if (open) { node.nextElementSibling.remove(); btn.setAttribute("aria-expanded", "false"); btn.textContent = "⊕"; return; }
      const res = await fetch(btn.dataset.child, { credentials: "same-origin" });
      if (!res.ok) return;
      const div = document.createElement("div");
      div.className = "child-pipeline";
      const id = btn.dataset.child.replace(/\/graph$/, "");
      div.innerHTML = '<a class="child-title" href="' + esc(id) + '">Child pipeline #' + esc(id.split("/").pop()) + "</a>" + await res.text();
      node.after(div);
      btn.setAttribute("aria-expanded", "true"); btn.textContent = "⊖";
      pipelineGraph(div);
      const top = document.querySelector(".graph"); if (top) drawEdges(top);
    }));
  }

  function pipelinePage() {
    const tabs = document.querySelectorAll(".view-tabs [data-view]");
    if (!tabs.length) return;
    const graph = document.querySelector("main > .graph-wrap > .graph");
    pipelineGraph(document);
    tabs.forEach((t) => t.addEventListener("click", () => {
      tabs.forEach((x) => x.classList.toggle("active", x === t));
      setView(graph, t.dataset.view);
    }));
    window.addEventListener("resize", () => drawEdges(graph));
  }

  // ---- Job log ------------------------------------------------------------
  function jobLog() {
    const panel = document.getElementById("log");
    if (!panel) return;
    const base = panel.dataset.base;
    const box = document.getElementById("log-lines");
    const more = document.getElementById("log-more");
    const follow = document.getElementById("log-follow");
    const folded = new Set();   // ids of folded sections
    let first = 0, last = 0;     // line numbers rendered
    let loading = false;

    const lineEl = (l) => {
      const div = document.createElement("div");
      div.className = "log-line" + (l.hd ? " head" : "") + (l.p ? " partial" : "");
      div.id = "L" + l.n;
      div.dataset.n = l.n;
      if (l.s && l.s.length) div.dataset.sec = " " + l.s.join(" ") + " ";
      if (l.hd) div.dataset.head = l.hd.id;
      let html = '<a class="ln" href="#L' + l.n + '">' + l.n + "</a>";
      if (l.t) html += '<span class="ts">' + esc(l.t.slice(11, 19)) + "</span>";
      html += '<span class="lc">' + l.h + "</span>";
      if (l.hd && l.hd.dur) html += '<span class="dur">' + esc(l.hd.dur) + "</span>";
      div.innerHTML = html;
      if (l.hd && l.hd.collapsed && !div._seen) folded.add(String(l.hd.id));
      return div;
    };
    const applyFolds = (root) => {
      (root || box).querySelectorAll(".log-line").forEach((el) => {
        const secs = (el.dataset.sec || "").trim().split(" ").filter(Boolean);
        el.hidden = secs.some((s) => folded.has(s));
        if (el.dataset.head) el.classList.toggle("folded", folded.has(el.dataset.head));
      });
    };
    const append = (lines) => {
      const frag = document.createDocumentFragment();
      lines.forEach((l) => {
        if (l.n <= last) {
          const old = document.getElementById("L" + l.n);
          if (old) { old.replaceWith(lineEl(l)); return; }
        }
        frag.appendChild(lineEl(l));
        last = Math.max(last, l.n);
      });
      box.appendChild(frag);
      applyFolds();
      if (follow.checked) box.scrollTop = box.scrollHeight;
    };
    const prepend = (lines) => {
      const frag = document.createDocumentFragment();
      lines.forEach((l) => frag.appendChild(lineEl(l)));
      const h = box.scrollHeight;
      more.after(frag);
      first = lines.length ? lines[0].n : first;
      applyFolds();
      box.scrollTop += box.scrollHeight - h;
      more.hidden = first <= 1;
    };
    const get = async (q) => (await fetch(base + "/log?" + q, { credentials: "same-origin" })).json();

    // Earlier lines load when the reader scrolls near the top.
    box.addEventListener("scroll", async () => {
      if (box.scrollTop < box.clientHeight / 2 && first > 1 && !loading) {
        loading = true;
        const from = Math.max(1, first - 500);
        const d = await get("from=" + from + "&to=" + (first - 1));
        prepend(d.lines);
        loading = false;
      }
      const atEnd = box.scrollHeight - box.scrollTop - box.clientHeight < 30;
      if (!atEnd && follow.checked && !box._auto) follow.checked = false;
    });
    follow.addEventListener("change", () => { if (follow.checked) box.scrollTop = box.scrollHeight; });

    box.addEventListener("click", (e) => {
      const head = e.target.closest(".log-line.head");
      if (!head || e.target.closest("a")) return;
      const id = head.dataset.head;
      folded.has(id) ? folded.delete(id) : folded.add(id);
      applyFolds();
    });

    // Ensure lines [a, b] are loaded (search results, permalinks).
    const ensure = async (n) => {
      if (n >= first) return;
      const d = await get("from=" + Math.max(1, n - 50) + "&to=" + (first - 1));
      prepend(d.lines);
    };
    const show = async (n) => {
      await ensure(n);
      const el = document.getElementById("L" + n);
      if (!el) return;
      // Unfold the sections that hide it.
      (el.dataset.sec || "").trim().split(" ").filter(Boolean).forEach((s) => folded.delete(s));
      applyFolds();
      box.querySelectorAll(".current").forEach((x) => x.classList.remove("current"));
      el.classList.add("current");
      follow.checked = false;
      el.scrollIntoView({ block: "center" });
    };

    // Search runs on the server over the whole log.
    const input = document.getElementById("log-search");
    const count = document.getElementById("log-count");
    let matches = [], cur = -1, timer = null;
    const highlight = (q) => {
      box.querySelectorAll("mark").forEach((m) => m.replaceWith(document.createTextNode(m.textContent)));
      if (!q) return;
      const lq = q.toLowerCase();
      matches.forEach((m) => {
        const el = document.getElementById("L" + m.line);
        if (!el) return;
        const walker = document.createTreeWalker(el.querySelector(".lc"), NodeFilter.SHOW_TEXT);
        const texts = []; while (walker.nextNode()) texts.push(walker.currentNode);
        texts.forEach((t) => {
          const i = t.data.toLowerCase().indexOf(lq);
          if (i < 0) return;
          const r = t.splitText(i); r.splitText(q.length);
          const mark = document.createElement("mark"); mark.textContent = r.data; r.replaceWith(mark);
        });
      });
    };
    const go = async (step) => {
      if (!matches.length) return;
      cur = (cur + step + matches.length) % matches.length;
      count.textContent = (cur + 1) + " of " + matches.length;
      await show(matches[cur].line);
      highlight(input.value);
    };
    input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(async () => {
        const q = input.value;
        if (!q) { matches = []; count.textContent = ""; highlight(""); return; }
        const res = await fetch(base + "/log/search?q=" + encodeURIComponent(q), { credentials: "same-origin" });
        const d = await res.json();
        if (input.value !== q) return;
        matches = d.matches; cur = -1;
        count.textContent = d.count === 1 ? "1 match" : d.count ? d.count + " matches" : "no matches";
        if (d.count) go(1);
      }, 250);
    });
    input.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); go(e.shiftKey ? -1 : 1); } });
    document.getElementById("log-next").addEventListener("click", () => go(1));
    document.getElementById("log-prev").addEventListener("click", () => go(-1));

    // Open at the tail, then stream what the runner sends.
    (async () => {
      const d = await get("tail=1000");
      first = d.lines.length ? d.lines[0].n : 1;
      more.hidden = first <= 1;
      append(d.lines);
      const target = /^#L(\d+)$/.exec(location.hash);
      if (target) await show(+target[1]);
      if (!window.EventSource) return;
      const nextLine = () => { const p = box.querySelector(".log-line.partial"); return p ? +p.dataset.n : last + 1; };
      const es = new EventSource(base + "/log/stream?line=" + nextLine());
      es.onopen = () => { box.dataset.streaming = "1"; };
      es.addEventListener("log", (ev) => append(JSON.parse(ev.data).lines || []));
      es.addEventListener("end", (ev) => {
        es.close();
        const st = JSON.parse(ev.data).status;
        if (panel.dataset.complete !== "true") setTimeout(() => location.reload(), 300);
        panel.dataset.status = st;
      });
    })();
  }

  document.addEventListener("DOMContentLoaded", () => {
    liveStatuses();
    reloadOnChange();
    liveRegions();
    reloadOnTime();
    pipelinePage();
    jobLog();
  });
})();
