import { LIMITS } from '../limits.js';

/**
 * The live status page every node serves at `/`: one self-contained HTML
 * file (no external scripts, styles or fonts) that polls `/api/cluster` and
 * redraws the nodes, the sequencer, epochs, commit rate, lag per follower and
 * per subscriber, and the replicas with their digests.
 */
export const STATUS_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Ordo cluster status</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d1d1f; background: #fafafa; }
  h1 { font-size: 1.3rem; margin: 0 0 .5rem; }
  h2 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; }
  .summary { display: flex; gap: 2rem; flex-wrap: wrap; margin-bottom: .5rem; }
  .summary div span { font-weight: 600; }
  table { border-collapse: collapse; background: #fff; }
  th, td { padding: .25rem .7rem; border-bottom: 1px solid #e3e3e3; text-align: left; }
  td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
  .healthy { color: #137333; } .degraded { color: #b26a00; } .unreachable { color: #c5221f; }
  tr.down td { color: #999; }
  tr.leader td:first-child { font-weight: 700; }
  .diverged { color: #c5221f; font-weight: 700; }
  ul.problems { color: #b26a00; margin: .3rem 0; }
  code { font-size: 12px; }
  .muted { color: #777; }
</style>
</head>
<body>
<h1>Ordo cluster status</h1>
<div class="summary">
  <div>Health: <span id="health">loading…</span></div>
  <div>Sequencer: <span id="sequencer">?</span></div>
  <div>Epoch: <span id="epoch">?</span></div>
  <div>Commit rate: <span id="commit-rate">?</span></div>
  <div class="muted">Updated <span id="updated">never</span></div>
</div>
<ul class="problems" id="problems"></ul>
<h2>Nodes</h2>
<table id="nodes">
  <thead><tr><th>node</th><th>role</th><th class="n">epoch</th><th>leader</th><th class="n">first</th>
  <th class="n">last</th><th class="n">commit</th><th class="n">commits/s</th><th class="n">catch-up</th>
  <th>fsync</th><th>version</th><th class="n">uptime</th><th>endpoint</th></tr></thead>
  <tbody></tbody>
</table>
<h2>Followers (as the sequencer sees them)</h2>
<table id="followers">
  <thead><tr><th>follower</th><th class="n">match seq</th><th class="n">lag</th><th>active</th></tr></thead>
  <tbody></tbody>
</table>
<h2>Subscribers</h2>
<table id="subscribers">
  <thead><tr><th>node</th><th class="n">subscription</th><th class="n">next seq</th><th class="n">acked seq</th>
  <th class="n">lag</th><th>topics</th></tr></thead>
  <tbody></tbody>
</table>
<h2>Replicas</h2>
<table id="replicas">
  <thead><tr><th>replica</th><th>plugin</th><th class="n">applied</th><th class="n">digest seq</th><th>digest</th>
  <th>state</th></tr></thead>
  <tbody></tbody>
</table>
<script>
"use strict";
const refreshMs = ${LIMITS.statusPageRefreshMs};
const previous = new Map();
const rates = new Map();

function cell(text, numeric) {
  const td = document.createElement("td");
  td.textContent = String(text);
  if (numeric) td.className = "n";
  return td;
}

function fill(tableId, rows) {
  const body = document.querySelector("#" + tableId + " tbody");
  body.replaceChildren(...rows);
  if (rows.length === 0) {
    const tr = document.createElement("tr");
    const td = cell("none");
    td.colSpan = 20;
    td.className = "muted";
    tr.append(td);
    body.append(tr);
  }
}

function row(cells, className, key) {
  const tr = document.createElement("tr");
  if (className) tr.className = className;
  if (key) tr.dataset.key = key;
  tr.append(...cells);
  return tr;
}

function uptime(ms) {
  const s = Math.floor(ms / 1000);
  if (s < 120) return s + " s";
  if (s < 7200) return Math.floor(s / 60) + " min";
  return Math.floor(s / 3600) + " h";
}

function commitRate(id, commitSeq, nowMs) {
  const last = previous.get(id);
  previous.set(id, { commitSeq, nowMs });
  if (last !== undefined && nowMs > last.nowMs) {
    rates.set(id, Math.max(0, ((commitSeq - last.commitSeq) * 1000) / (nowMs - last.nowMs)));
  }
  return rates.get(id);
}

function render(report) {
  const nowMs = Date.now();
  const health = document.getElementById("health");
  health.textContent = report.health;
  health.className = report.health;
  document.getElementById("sequencer").textContent = report.sequencer ? report.sequencer.id : "none";
  document.getElementById("epoch").textContent = report.sequencer ? String(report.sequencer.epoch) : "-";
  document.getElementById("problems").replaceChildren(
    ...report.problems.map((p) => { const li = document.createElement("li"); li.textContent = p; return li; }),
  );
  const up = report.nodes.filter((n) => n.status !== null).map((n) => n.status);
  const leader = up.find((s) => report.sequencer && s.id === report.sequencer.id);
  const clusterRate = leader ? commitRate("cluster", leader.commitSeq, nowMs) : undefined;
  document.getElementById("commit-rate").textContent =
    clusterRate === undefined ? "-" : clusterRate.toFixed(1) + " entries/s";
  fill("nodes", report.nodes.map((n) => {
    const s = n.status;
    if (s === null) {
      return row([cell("?"), cell("unreachable"), cell("", true), cell(""), cell("", true), cell("", true),
        cell("", true), cell("", true), cell("", true), cell(""), cell(""), cell("", true),
        cell(n.endpoint + " (" + n.error + ")")], "down", n.endpoint);
    }
    const rate = commitRate(s.id, s.commitSeq, nowMs);
    return row([cell(s.id), cell(s.witness ? s.role + " (witness)" : s.role), cell(s.epoch, true), cell(s.leaderId || "-"), cell(s.firstSeq, true),
      cell(s.lastSeq, true), cell(s.commitSeq, true), cell(rate === undefined ? "-" : rate.toFixed(1), true),
      cell(s.catchUpRemaining, true), cell(s.fsync), cell(s.version), cell(uptime(s.uptimeMs), true),
      cell(s.clientEndpoint)], s.role === "leader" ? "leader" : "", s.id);
  }));
  fill("followers", (leader ? leader.peers : []).map((p) =>
    row([cell(p.id), cell(p.matchSeq, true), cell(p.lagEntries, true), cell(p.active ? "yes" : "no")], "", p.id)));
  fill("subscribers", up.flatMap((s) => s.subscribers.map((sub) =>
    row([cell(s.id), cell(sub.subscriptionId, true), cell(sub.nextSeq, true), cell(sub.ackedSeq, true),
      cell(sub.lagEntries, true), cell(sub.topics.length === 0 ? "all" : sub.topics.join(", "))]))));
  fill("replicas", report.replicas.map((r) => {
    const state = cell(r.diverged ? "DIVERGED at seq " + r.divergedAtSeq : "ok");
    if (r.diverged) state.className = "diverged";
    const digest = document.createElement("td");
    const code = document.createElement("code");
    code.textContent = r.digest;
    digest.append(code);
    return row([cell(r.replicaId), cell(r.plugin), cell(r.appliedSeq, true), cell(r.digestSeq, true), digest, state],
      r.diverged ? "diverged" : "", r.replicaId);
  }));
  document.getElementById("updated").textContent = new Date(nowMs).toLocaleTimeString();
}

async function refresh() {
  try {
    const response = await fetch("/api/cluster", { cache: "no-store" });
    if (!response.ok) throw new Error("HTTP " + response.status);
    render(await response.json());
  } catch (error) {
    const health = document.getElementById("health");
    health.textContent = "this node does not answer (" + error.message + ")";
    health.className = "unreachable";
  } finally {
    setTimeout(refresh, refreshMs);
  }
}
refresh();
</script>
</body>
</html>
`;
