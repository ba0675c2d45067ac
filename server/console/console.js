// Roost web console: read-only views of one member, built from
// /api/* (server/console.c), the AdminServer commands and /metrics.
// No libraries; every value from the server goes into the page as text.
'use strict';

const REFRESH_MS = 2000;
const HISTORY = 90;

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) {
    if (k === null || k === undefined) continue;
    e.append(k instanceof Node ? k : String(k));
  }
  return e;
}

async function getJSON(url) {
  const r = await fetch(url, {cache: 'no-store'});
  const body = await r.text();
  let j;
  try { j = JSON.parse(body); } catch (e) { throw new Error(url + ': ' + r.status + ' ' + body.slice(0, 80)); }
  if (!r.ok) throw new Error(j.error || (url + ': ' + r.status));
  return j;
}

const hex64 = (n) => '0x' + BigInt.asUintN(64, BigInt(n)).toString(16);
const fmtTime = (ms) => ms ? new Date(ms).toISOString().replace('T', ' ').replace('Z', ' UTC') : '-';

function table(t, head, rows) {
  t.replaceChildren(el('tr', {}, ...head.map((h) => el('th', {}, h))),
                    ...rows.map((r) => el('tr', {}, ...r.map((c) => el('td', {}, c)))));
}

// ------------------------------------------------------------------
// Tree: lazy, a node's children load when it is opened.

const tree = {open: new Set(['/']), selected: '/', view: 'text'};

function childPath(parent, name) { return (parent === '/' ? '' : parent) + '/' + name; }

// One list item per child, kept across refreshes (updated in place, so a
// click in progress keeps its target).
function makeItem(p) {
  const li = el('li', {'data-path': p});
  const tw = el('span', {class: 'tw'});
  const name = el('span', {class: 'name'}, p.slice(p.lastIndexOf('/') + 1));
  const meta = el('span', {class: 'meta'});
  const sub = el('ul');
  tw.addEventListener('click', () => {
    if (li.dataset.kids !== '1') return;
    if (tree.open.has(p)) { tree.open.delete(p); sub.replaceChildren(); updateItem(li, null); }
    else { tree.open.add(p); updateItem(li, null); renderChildren(p, sub); }
  });
  name.addEventListener('click', () => select(p));
  li.append(tw, name, meta, sub);
  return li;
}

function updateItem(li, st) {
  const p = li.dataset.path;
  const [tw, name, meta] = li.children;
  if (st) {
    li.dataset.kids = st.numChildren > 0 ? '1' : '0';
    meta.textContent = (st.numChildren > 0 ? st.numChildren + ' children · ' : '') + st.dataLength + ' B' +
      (st.ephemeralOwner ? ' · ephemeral' : '');
    name.className = 'name' + (p === tree.selected ? ' sel' : '') + (st.ephemeralOwner ? ' eph' : '');
  }
  tw.textContent = li.dataset.kids === '1' ? (tree.open.has(p) ? '▾' : '▸') : '·';
}

async function renderChildren(path, ul) {
  let j;
  try { j = await getJSON('/api/children?path=' + encodeURIComponent(path)); } catch (e) {
    ul.replaceChildren(el('li', {class: 'err'}, e.message));
    return;
  }
  const have = new Map();
  for (const li of [...ul.children]) {
    if (li.dataset.path) have.set(li.dataset.path, li); else li.remove();
  }
  const items = j.children.map((c) => {
    const p = childPath(path, c.name);
    const li = have.get(p) || makeItem(p);
    have.delete(p);
    updateItem(li, c.stat || {numChildren: 0, dataLength: 0});
    return li;
  });
  for (const li of have.values()) li.remove();
  items.forEach((li, i) => { if (ul.children[i] !== li) ul.insertBefore(li, ul.children[i] || null); });
  if (j.truncated) ul.append(el('li', {class: 'meta'}, '… more children than shown'));
  for (const li of items) {
    const p = li.dataset.path;
    if (li.dataset.kids === '1' && tree.open.has(p)) await renderChildren(p, li.querySelector(':scope > ul'));
    else if (!tree.open.has(p)) li.querySelector(':scope > ul').replaceChildren();
  }
}

function decode(b64) {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

function hexdump(bytes) {
  const lines = [];
  for (let off = 0; off < bytes.length; off += 16) {
    const row = bytes.slice(off, off + 16);
    const hx = Array.from(row, (b) => b.toString(16).padStart(2, '0')).join(' ');
    const asc = Array.from(row, (b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : '.')).join('');
    lines.push(off.toString(16).padStart(8, '0') + '  ' + hx.padEnd(48) + '  ' + asc);
  }
  return lines.join('\n');
}

function dataView(bytes, view) {
  if (view === 'hex') return hexdump(bytes);
  const text = new TextDecoder('utf-8', {fatal: false}).decode(bytes);
  if (view === 'json') {
    try { return JSON.stringify(JSON.parse(text), null, 2); } catch (e) { return '(not JSON: ' + e.message + ')'; }
  }
  return text;
}

const PERMS = [[1, 'r'], [2, 'w'], [4, 'c'], [8, 'd'], [16, 'a']];

// The detail pane is built once per node and updated in place.
function nodeSkeleton(box, path) {
  const tabs = el('div', {class: 'tabs'});
  for (const v of ['text', 'json', 'hex']) {
    tabs.append(el('button', {'data-view': v, onclick: () => { tree.view = v; renderNode(); }},
                   v === 'json' ? 'pretty JSON' : v));
  }
  box.replaceChildren(el('div', {class: 'pane-title', id: 'node-size'}), tabs,
                      el('pre', {class: 'data', id: 'node-data'}),
                      el('div', {class: 'pane-title'}, 'Stat'), el('table', {class: 'grid', id: 'node-stat'}),
                      el('div', {class: 'pane-title'}, 'ACL'), el('table', {class: 'grid', id: 'node-acl'}));
  box.dataset.path = path;
}

async function renderNode() {
  const path = tree.selected;
  document.getElementById('node-path').textContent = path;
  const box = document.getElementById('node-detail');
  let j;
  try { j = await getJSON('/api/node?path=' + encodeURIComponent(path)); } catch (e) {
    box.replaceChildren(el('div', {class: 'err'}, e.message));
    box.dataset.path = '';
    box.dataset.sig = '';
    return;
  }
  if (path !== tree.selected) return; // another node was selected meanwhile
  if (box.dataset.path !== path) { nodeSkeleton(box, path); box.dataset.sig = ''; }
  const sig = JSON.stringify(j) + tree.view;
  if (box.dataset.sig === sig) return;
  box.dataset.sig = sig;
  const bytes = decode(j.data_base64 || '');
  document.getElementById('node-size').textContent = 'Data (' + bytes.length + ' bytes)';
  for (const b of box.querySelectorAll('.tabs button')) b.classList.toggle('on', b.dataset.view === tree.view);
  document.getElementById('node-data').textContent = j.data_null ? '(null)' : dataView(bytes, tree.view);
  const st = j.stat;
  table(document.getElementById('node-stat'), ['field', 'value'], [
    ['czxid', hex64(st.czxid)], ['mzxid', hex64(st.mzxid)], ['pzxid', hex64(st.pzxid)],
    ['ctime', fmtTime(st.ctime)], ['mtime', fmtTime(st.mtime)],
    ['version', st.version], ['cversion', st.cversion], ['aversion', st.aversion],
    ['ephemeralOwner', st.ephemeralOwner ? hex64(st.ephemeralOwner) : '0 (persistent)'],
    ['dataLength', st.dataLength], ['numChildren', st.numChildren]]);
  table(document.getElementById('node-acl'), ['scheme', 'id', 'permissions'],
        j.acl.map((a) => [a.scheme, a.id, PERMS.filter(([b]) => a.perms & b).map(([, c]) => c).join('')]));
}

function select(path) {
  tree.selected = path;
  for (const n of document.querySelectorAll('#tree .name')) n.classList.toggle('sel', n.parentNode.dataset.path === path);
  location.hash = 'tree:' + path;
  renderNode();
}

async function refreshTree() {
  await renderChildren('/', document.getElementById('tree'));
  await renderNode();
}

// ------------------------------------------------------------------
// Services, sessions, ensemble.

async function refreshServices() {
  const j = await getJSON('/api/services');
  document.getElementById('services-roots').textContent = '(from ' + j.roots.join(', ') + ')';
  const box = document.getElementById('services');
  if (j.services.length === 0) {
    box.replaceChildren(el('p', {}, 'No services registered under ' + j.roots.join(' or ') + '.'));
    return;
  }
  box.replaceChildren(...j.services.map((s) => {
    const t = el('table', {class: 'grid'});
    table(t, ['instance', 'address:port', 'tags', 'health', 'checks'], s.instances.map((i) => {
      // roost-agent writes "checks": [{id, name, type, status, output}] (docs/agent.md).
      const list = i.data && Array.isArray(i.data.checks) ? i.data.checks : [];
      const checks = list.map((c) => (c.id || c.name || c.type || 'check') + ': ' + (c.status || '') +
                                     (c.output ? ' — ' + c.output : '')).join('\n');
      return [i.id, (i.address || '?') + ':' + (i.port || '-'), (i.tags || []).join(', '),
              el('span', {class: 'badge ' + i.status}, i.status), checks];
    }));
    const passing = s.instances.filter((i) => i.status === 'passing').length;
    return el('div', {class: 'service'}, el('h3', {}, s.name + ' ', el('span', {class: 'hint'}, passing + '/' + s.instances.length + ' passing')), t);
  }));
}

async function refreshSessions() {
  const c = await getJSON('/commands/connections');
  table(document.getElementById('connections'),
        ['client', 'session', 'timeout ms', 'received', 'sent', 'last op', 'latency min/avg/max ms', 'established'],
        c.connections.map((x) => [x.remote_socket_address, x.session_id ? hex64(x.session_id) : '-', x.session_timeout,
                                  x.packets_received, x.packets_sent, x.last_operation,
                                  x.min_latency + '/' + x.avg_latency + '/' + x.max_latency, fmtTime(x.established)]));
  const d = await getJSON('/commands/dump');
  table(document.getElementById('ephemerals'), ['session', 'ephemeral nodes'],
        Object.entries(d.session_id_to_ephemeral_paths).map(([sid, paths]) => [hex64(sid), paths.join('\n')]));
}

async function refreshEnsemble() {
  const m = await getJSON('/commands/monitor');
  const vv = await getJSON('/commands/voting_view');
  const members = Object.entries(vv.current_config);
  // Only the leader knows each learner's progress (mntr's roost_learner_*_sid_N).
  const leading = m.server_state === 'leader';
  const progress = (id) => {
    if (Number(id) === m.roost_leader_id) return ['-', '-'];
    const lag = m['roost_learner_lag_zxids_sid_' + id];
    if (lag === undefined) return leading ? ['not synced', ''] : ['(on the leader)', ''];
    return [String(lag), hex64(m['roost_learner_acked_zxid_sid_' + id])];
  };
  const rows = members.map(([id, v]) => [id, (v.server_addresses || []).join(', '), v.client_address,
    Number(id) === m.roost_leader_id ? 'leader' : 'follower', ...progress(id),
    Number(id) === m.roost_server_id ? 'this member' : '']);
  if (rows.length === 0) rows.push(['-', '-', '-', m.server_state, '-', '-', 'this member (standalone)']);
  table(document.getElementById('members'),
        ['id', 'quorum address', 'client address', 'role', 'lag (zxids)', 'acked zxid', ''], rows);
  const keys = ['server_state', 'roost_server_id', 'roost_leader_id', 'roost_epoch', 'roost_commit_zxid',
                'roost_last_logged_zxid', 'roost_log_durable_zxid', 'synced_followers', 'roost_proposals_in_flight',
                'roost_elections', 'pending_syncs', 'avg_election_time', 'znode_count', 'num_alive_connections', 'global_sessions', 'uptime'];
  table(document.getElementById('member-figures'), ['figure', 'value'],
        keys.filter((k) => k in m).map((k) => [k, /zxid/.test(k) && m[k] >= 0 ? hex64(m[k]) : m[k]]));
}

// ------------------------------------------------------------------
// Charts from /metrics (Prometheus text), deltas between two scrapes.

function parseMetrics(text) {
  const out = new Map();
  for (const line of text.split('\n')) {
    if (!line || line[0] === '#') continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m) out.set(m[1] + (m[2] || ''), Number(m[3]));
  }
  return out;
}

// Buckets of a histogram summed over every label set but `le`.
function buckets(metrics, name) {
  const by = new Map();
  for (const [k, v] of metrics) {
    if (!k.startsWith(name + '_bucket{')) continue;
    const le = /le="([^"]+)"/.exec(k)[1];
    by.set(le, (by.get(le) || 0) + v);
  }
  return [...by.entries()].map(([le, n]) => [le === '+Inf' ? Infinity : Number(le), n]).sort((a, b) => a[0] - b[0]);
}

function quantile(prev, cur, q) {
  const d = cur.map(([le, n], i) => [le, n - (prev[i] ? prev[i][1] : 0)]);
  const total = d.length ? d[d.length - 1][1] : 0;
  if (total <= 0) return null;
  for (const [le, n] of d) if (n >= q * total) return le === Infinity ? null : le;
  return null;
}

const series = {rate: [[]], latency: [[], []], fsync: [[], []], nodes: [[], []]};
let last = null;

function push(arr, v) { arr.push(v); if (arr.length > HISTORY) arr.shift(); }

function draw(id, lines, colors, unit) {
  const c = document.getElementById(id);
  const g = c.getContext('2d');
  const W = c.width, H = c.height, L = 48, B = 18;
  g.clearRect(0, 0, W, H);
  const vals = lines.flat().filter((v) => v !== null && isFinite(v));
  const top = vals.length ? Math.max(...vals) : 0;
  const max = top > 0 ? top * 1.15 : 1;
  g.strokeStyle = '#d8dee8'; g.fillStyle = '#6b7686'; g.font = '11px sans-serif';
  for (let i = 0; i <= 4; i++) {
    const y = H - B - (H - B - 8) * i / 4;
    g.beginPath(); g.moveTo(L, y); g.lineTo(W - 4, y); g.stroke();
    g.fillText((max * i / 4).toPrecision(3) + unit, 2, y + 4);
  }
  lines.forEach((pts, li) => {
    g.strokeStyle = colors[li]; g.lineWidth = 2; g.beginPath();
    let started = false;
    pts.forEach((v, i) => {
      if (v === null || !isFinite(v)) { started = false; return; }
      const x = L + (W - L - 6) * (HISTORY - pts.length + i) / (HISTORY - 1);
      const y = H - B - (H - B - 8) * v / max;
      if (started) g.lineTo(x, y); else g.moveTo(x, y);
      started = true;
    });
    g.stroke();
  });
  g.fillStyle = '#6b7686';
  g.fillText('last ' + (HISTORY * REFRESH_MS / 1000) + ' s', W - 70, H - 4);
}

async function refreshCharts() {
  const r = await fetch('/metrics', {cache: 'no-store'});
  const m = parseMetrics(await r.text());
  const now = performance.now();
  const lat = buckets(m, 'roost_request_latency_seconds');
  const fs = buckets(m, 'roost_fsync_latency_seconds');
  if (last) {
    const dt = (now - last.t) / 1000;
    push(series.rate[0], Math.max(0, (m.get('packets_received') - last.m.get('packets_received')) / dt));
    const p50 = quantile(last.lat, lat, 0.5), p99 = quantile(last.lat, lat, 0.99);
    push(series.latency[0], p50 === null ? null : p50 * 1000);
    push(series.latency[1], p99 === null ? null : p99 * 1000);
    const dn = m.get('roost_fsync_latency_seconds_count') - last.m.get('roost_fsync_latency_seconds_count');
    const ds = m.get('roost_fsync_latency_seconds_sum') - last.m.get('roost_fsync_latency_seconds_sum');
    push(series.fsync[0], dn > 0 ? ds / dn * 1000 : null);
    const f99 = quantile(last.fs, fs, 0.99);
    push(series.fsync[1], f99 === null ? null : f99 * 1000);
  }
  push(series.nodes[0], m.get('znode_count'));
  push(series.nodes[1], m.get('watch_count'));
  last = {t: now, m, lat, fs};
  draw('chart-rate', series.rate, ['#1f77b4'], '');
  draw('chart-latency', series.latency, ['#2e8540', '#c0392b'], '');
  draw('chart-fsync', series.fsync, ['#1f77b4', '#c77700'], '');
  draw('chart-nodes', series.nodes, ['#1f3347', '#7fc4ff'], '');
  document.getElementById('page-charts').dataset.samples = String(series.nodes[0].length);
}

// ------------------------------------------------------------------
// Pages and the refresh loop.

const pages = {tree: refreshTree, services: refreshServices, sessions: refreshSessions, ensemble: refreshEnsemble, charts: refreshCharts};
let current = 'tree';

async function refreshSummary() {
  try {
    const m = await getJSON('/commands/monitor');
    document.getElementById('summary').textContent = m.server_state + ' · ' + m.znode_count + ' znodes · ' +
      m.num_alive_connections + ' connections · ' + m.global_sessions + ' sessions · ' + m.version.split(',')[0];
  } catch (e) { document.getElementById('summary').textContent = 'server not answering'; }
}

function route() {
  const h = location.hash.slice(1);
  let page = h.split(':')[0] || 'tree';
  if (!(page in pages)) page = 'tree';
  if (page === 'tree' && h.startsWith('tree:')) tree.selected = decodeURIComponent(h.slice(5)) || '/';
  if (page !== current || !document.querySelector('.page.active')) {
    current = page;
    for (const s of document.querySelectorAll('.page')) s.classList.toggle('active', s.id === 'page-' + page);
    for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.page === page);
  }
  tick();
}

let busy = false;
async function tick() {
  if (busy) return;
  busy = true;
  try { await pages[current](); document.body.dataset.loaded = current; }
  catch (e) { console.error(e); }
  finally { busy = false; }
  refreshSummary();
}

window.addEventListener('hashchange', route);
route();
setInterval(tick, REFRESH_MS);
// The charts keep their history while another page shows.
setInterval(() => { if (current !== 'charts') refreshCharts().catch(() => {}); }, REFRESH_MS);
