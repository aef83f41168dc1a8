// Silt docs: the page's script. Data arrives through siltIndex() (data/index.js) and
// siltChunk() (data/chunk-N.js, loaded when a node is opened); everything works from
// file:// with no network. Kept dependency-free and fast at tens of thousands of nodes:
// the list is virtual, search is a scan of precomputed lower-case text, and the project
// graph is laid out only when opened, and drawn on a canvas past SVG_LIMIT nodes.
'use strict';

const KINDS = ['model', 'source', 'seed', 'snapshot', 'test', 'unit_test', 'analysis', 'exposure'];
const GRAPH_KINDS = new Set(['model', 'source', 'seed', 'snapshot', 'exposure']);
const SVG_LIMIT = 800;
const ROW = 30;
const S = {
  project: {}, nodes: [], children: [], byId: new Map(), chunkSize: 256,
  chunks: {}, waiting: {}, filter: null, query: '', matches: [], graph: null,
};
window.siltTimings = { start: performance.now() };

function siltMissing() {
  document.getElementById('main').innerHTML = '<p class="error-box">data/index.js is missing: run <code>silt docs generate</code>.</p>';
}

function siltIndex(data) {
  const t0 = performance.now();
  S.project = data.project;
  S.chunkSize = data.chunk;
  S.nodes = data.nodes;
  S.children = S.nodes.map(() => []);
  S.nodes.forEach((n, i) => {
    n.k = i;
    S.byId.set(n.i, i);
    for (const p of n.p) S.children[p].push(i);
    n.lname = n.n.toLowerCase();
    n.lcols = (n.c || []).map(c => c.toLowerCase());
    n.lrest = (n.i + ' ' + (n.r || '') + ' ' + (n.g || []).join(' ')).toLowerCase();
    n.ldesc = (n.d || '').toLowerCase();
  });
  siltTimings.indexBuilt = performance.now() - t0;
  setupFilters();
  setupSearch();
  document.getElementById('list').addEventListener('scroll', renderList, { passive: true });
  window.addEventListener('resize', renderList);
  window.addEventListener('hashchange', route);
  runSearch();
  route();
  siltTimings.ready = performance.now();
  document.documentElement.dataset.ready = 'true';
  // When the browser has painted the first screen after that: the next frame, then a task.
  requestAnimationFrame(() => setTimeout(() => { siltTimings.painted = performance.now(); }, 0));
}

function siltChunk(k, data) {
  S.chunks[k] = data;
  for (const cb of S.waiting[k] || []) cb(data);
  delete S.waiting[k];
}

// The details of node i, loading its chunk once.
function detail(i) {
  const k = Math.floor(i / S.chunkSize);
  if (S.chunks[k]) return Promise.resolve(S.chunks[k][S.nodes[i].i]);
  return new Promise((resolve, reject) => {
    if (!S.waiting[k]) {
      S.waiting[k] = [];
      const s = document.createElement('script');
      s.src = 'data/chunk-' + k + '.js';
      s.onerror = () => reject(new Error('cannot load ' + s.src));
      document.head.appendChild(s);
    }
    S.waiting[k].push(c => resolve(c[S.nodes[i].i]));
  });
}

// ---- helpers ----
const esc = s => String(s == null ? '' : s).replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
const href = i => '#/node/' + encodeURIComponent(S.nodes[i].i);
const kindBadge = t => `<span class="kind ${esc(t)}">${esc(t === 'unit_test' ? 'unit' : t)}</span>`;
const statusDot = s => s ? `<span class="dot st-${esc(s)}" title="${esc(s)}"></span>` : '';
function link(i) {
  const n = S.nodes[i];
  return `<a href="${href(i)}">${esc(n.n)}</a>`;
}
function when(iso) {
  if (!iso) return '';
  const t = new Date(iso);
  if (isNaN(t)) return esc(iso);
  const s = (Date.now() - t) / 1000;
  const rel = s < 90 ? Math.round(s) + ' s ago' : s < 5400 ? Math.round(s / 60) + ' min ago' : s < 172800 ? Math.round(s / 3600) + ' h ago' : Math.round(s / 86400) + ' days ago';
  return `<span title="${esc(t.toISOString())}">${esc(t.toISOString().replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC'))} (${rel})</span>`;
}
function bytes(b) {
  if (b == null) return '';
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; }
  return (i ? b.toFixed(1) : b) + ' ' + u[i];
}

// A small Markdown subset for descriptions: paragraphs, lists, headings, code, emphasis,
// links (http, https and relative only). Everything is escaped first.
function markdown(text) {
  if (!text) return '<p class="muted">No description.</p>';
  const blocks = [];
  const fenced = text.replace(/```[a-z]*\n?([\s\S]*?)```/g, (_, code) => { blocks.push(code); return '\u0000' + (blocks.length - 1) + '\u0000'; });
  const inline = s => esc(s)
    .replace(/`([^`]+)`/g, '<code>$1</code>')
    .replace(/\*\*([^*]+)\*\*/g, '<b>$1</b>')
    .replace(/(^|[^*])\*([^*\s][^*]*)\*/g, '$1<i>$2</i>')
    .replace(/\[([^\]]+)\]\(((?:https?:\/\/|\/|\.|#)[^)\s]*)\)/g, '<a href="$2">$1</a>');
  return fenced.split(/\n\s*\n/).map(p => {
    const m = p.match(/^\u0000(\d+)\u0000$/);
    if (m) return `<pre>${esc(blocks[+m[1]])}</pre>`;
    const lines = p.split('\n');
    if (lines.every(l => /^\s*[-*] /.test(l))) return '<ul>' + lines.map(l => '<li>' + inline(l.replace(/^\s*[-*] /, '')) + '</li>').join('') + '</ul>';
    const h = p.match(/^(#{1,4}) (.*)$/);
    if (h) return `<h${h[1].length + 2}>${inline(h[2])}</h${h[1].length + 2}>`;
    return '<p>' + inline(p).replace(/\u0000(\d+)\u0000/g, (_, k) => `<code>${esc(blocks[+k])}</code>`) + '</p>';
  }).join('');
}

const SQL_WORDS = new Set(('select from where group by order having limit join left right inner outer full cross on as and or not in is null case when then else end ' +
  'union all distinct with over partition window rows range between preceding following current row insert into values create table view ' +
  'cast like ilike exists asc desc true false interval qualify using lateral filter').split(' '));
function highlight(sql) {
  const re = /(--[^\n]*|\/\*[\s\S]*?\*\/)|('(?:[^']|'')*')|(\{\{[\s\S]*?\}\}|\{%[\s\S]*?%\})|\b(\d+(?:\.\d+)?)\b|([A-Za-z_][A-Za-z_0-9]*)/g;
  let out = '', last = 0, m;
  while ((m = re.exec(sql))) {
    out += esc(sql.slice(last, m.index));
    const [t] = m;
    if (m[1]) out += `<span class="c">${esc(t)}</span>`;
    else if (m[2]) out += `<span class="s">${esc(t)}</span>`;
    else if (m[3]) out += `<span class="j">${esc(t)}</span>`;
    else if (m[4]) out += `<span class="n">${esc(t)}</span>`;
    else if (SQL_WORDS.has(t.toLowerCase())) out += `<span class="k">${esc(t)}</span>`;
    else out += esc(t);
    last = re.lastIndex;
  }
  return out + esc(sql.slice(last));
}

// ---- list, filters and search ----
function setupFilters() {
  const counts = {};
  for (const n of S.nodes) counts[n.t] = (counts[n.t] || 0) + 1;
  const el = document.getElementById('filters');
  const button = (kind, label) => `<button data-kind="${kind}" class="${S.filter === kind ? 'on' : ''}">${label}</button>`;
  el.innerHTML = button('', 'All ' + S.nodes.length) + KINDS.filter(k => counts[k]).map(k => button(k, `${k === 'unit_test' ? 'unit tests' : k + 's'} ${counts[k]}`)).join('');
  el.onclick = e => {
    const b = e.target.closest('button');
    if (!b) return;
    S.filter = b.dataset.kind || null;
    for (const x of el.querySelectorAll('button')) x.classList.toggle('on', x === b);
    runSearch();
  };
}

function setupSearch() {
  const input = document.getElementById('search');
  let pending = 0;
  input.addEventListener('input', () => {
    cancelAnimationFrame(pending);
    pending = requestAnimationFrame(() => { S.query = input.value; runSearch(); });
  });
  input.addEventListener('keydown', e => {
    if (e.key === 'Enter' && S.matches.length) location.hash = href(S.matches[0].k);
    if (e.key === 'Escape') { input.value = ''; S.query = ''; runSearch(); }
  });
  document.addEventListener('keydown', e => {
    if (e.key === '/' && document.activeElement !== input) { e.preventDefault(); input.focus(); input.select(); }
  });
}

// Every term must match somewhere; names weigh most, then columns, then the rest.
function score(n, terms) {
  let total = 0;
  for (const t of terms) {
    let s = 0;
    if (n.lname === t) s = 100;
    else if (n.lname.startsWith(t)) s = 60;
    else if (n.lname.includes(t)) s = 40;
    else {
      for (const c of n.lcols) {
        if (c === t) { s = 30; break; }
        if (c.includes(t)) s = 15;
      }
      if (!s && n.lrest.includes(t)) s = 10;
      if (!s && n.ldesc.includes(t)) s = 5;
    }
    if (!s) return 0;
    total += s;
  }
  return total;
}

function runSearch() {
  const t0 = performance.now();
  const terms = S.query.toLowerCase().split(/\s+/).filter(Boolean);
  const pool = S.filter ? S.nodes.filter(n => n.t === S.filter) : S.nodes;
  if (!terms.length) {
    S.matches = pool.map(n => ({ k: n.k, s: 0, n }));
  } else {
    const out = [];
    for (const n of pool) {
      const s = score(n, terms);
      if (s) out.push({ k: n.k, s, n });
    }
    out.sort((a, b) => b.s - a.s || KINDS.indexOf(a.n.t) - KINDS.indexOf(b.n.t) || (a.n.n < b.n.n ? -1 : a.n.n > b.n.n ? 1 : 0));
    S.matches = out;
  }
  S.terms = terms;
  const list = document.getElementById('list');
  list.scrollTop = 0;
  renderList();
  document.getElementById('count').textContent = terms.length || S.filter
    ? `${S.matches.length} of ${S.nodes.length} match` : `${S.nodes.length} nodes`;
  siltTimings.lastSearch = performance.now() - t0;
}

// Only the rows in view exist in the page.
function renderList() {
  const list = document.getElementById('list');
  const inner = document.getElementById('list-inner');
  inner.style.height = S.matches.length * ROW + 'px';
  const first = Math.max(0, Math.floor(list.scrollTop / ROW) - 5);
  const last = Math.min(S.matches.length, Math.ceil((list.scrollTop + list.clientHeight) / ROW) + 5);
  const current = currentNode();
  let html = '';
  for (let r = first; r < last; r++) {
    const n = S.matches[r].n;
    let hint = '';
    if (S.terms && S.terms.length && !S.terms.every(t => n.lname.includes(t))) {
      const col = (n.c || []).find((c, j) => S.terms.some(t => n.lcols[j].includes(t)));
      hint = col ? 'column ' + col : (n.r || '');
    } else if (n.t === 'test' && n.a != null) hint = 'on ' + S.nodes[n.a].n;
    html += `<a class="row${n.k === current ? ' current' : ''}" role="option" data-id="${esc(n.i)}" style="top:${r * ROW}px" href="${href(n.k)}" title="${esc(n.i)}">` +
      `${kindBadge(n.t)}<span class="name">${esc(n.n)}</span>${hint ? `<span class="hint">${esc(hint)}</span>` : ''}${statusDot(n.s)}</a>`;
  }
  inner.innerHTML = html;
}

function currentNode() {
  const m = location.hash.match(/^#\/node\/([^?]+)/);
  return m ? S.byId.get(decodeURIComponent(m[1])) : undefined;
}

// ---- routing ----
function route() {
  const main = document.getElementById('main');
  main.classList.remove('graph');
  if (S.graph) { S.graph.destroy(); S.graph = null; }
  const h = location.hash;
  if (h.startsWith('#/node/')) {
    const [id, query] = h.slice(7).split('?');
    const i = S.byId.get(decodeURIComponent(id));
    if (i === undefined) main.innerHTML = `<p class="error-box">No node ${esc(decodeURIComponent(id))} in this project.</p>`;
    else nodePage(i, new URLSearchParams(query || ''));
  } else if (h.startsWith('#/graph')) {
    graphPage(new URLSearchParams(h.split('?')[1] || ''));
  } else {
    overview();
  }
  renderList();
}

function overview() {
  const counts = {};
  const status = {};
  for (const n of S.nodes) {
    counts[n.t] = (counts[n.t] || 0) + 1;
    if (n.s) status[n.s] = (status[n.s] || 0) + 1;
  }
  const main = document.getElementById('main');
  main.innerHTML = `<h1>${esc(S.project.name)}</h1>
    <p class="muted">Generated ${when(S.project.generated_at)} by ${esc(S.project.version)}.</p>
    <div class="cards">${KINDS.filter(k => counts[k]).map(k => `<div class="card"><b>${counts[k]}</b>${kindBadge(k)} ${k === 'unit_test' ? 'unit tests' : k + 's'}</div>`).join('')}</div>
    <h2>Last results</h2>
    <p>${Object.keys(status).length ? Object.entries(status).map(([s, c]) => `${statusDot(s)} ${esc(s)}: ${c}`).join(' &nbsp; ') : '<span class="muted">Nothing has run yet.</span>'}</p>
    <h2>Where to start</h2>
    <p>Search with the box above (press <code>/</code>), pick a node in the list, or open the <a href="#/graph">lineage graph</a> of the whole project.</p>`;
}

// ---- node page ----
async function nodePage(i, params) {
  const t0 = performance.now();
  const n = S.nodes[i];
  const main = document.getElementById('main');
  main.innerHTML = `<h1>${esc(n.n)} ${kindBadge(n.t)}</h1><p class="muted">Loading...</p>`;
  let d;
  try { d = await detail(i); } catch (e) { main.innerHTML += `<p class="error-box">${esc(e.message)}</p>`; return; }
  if (currentNode() !== i) return;
  const run = d.run || null;
  const facts = [];
  const fact = (label, value) => { if (value !== undefined && value !== null && value !== '') facts.push(`<div><b>${esc(label)}</b>${value}</div>`); };
  fact('Type', esc(n.t) + (d.table_type ? ` (${esc(d.table_type.toLowerCase())})` : ''));
  fact('Materialization', n.m ? esc(n.m) : '');
  fact('Relation', n.r ? `<code>${esc(n.r)}</code>` : '');
  fact('File', d.path ? `<code>${esc(d.path)}</code>` : '');
  fact('Package', esc(d.package));
  if (n.g) fact('Tags', n.g.map(t => `<span class="tag">${esc(t)}</span>`).join(''));
  const cfg = d.config || {};
  if (cfg.contract && cfg.contract.enforced) fact('Contract', 'enforced');
  if (cfg.unique_key) fact('Unique key', `<code>${esc([].concat(cfg.unique_key).join(', '))}</code>`);
  if (cfg.incremental_strategy) fact('Strategy', esc(cfg.incremental_strategy));
  if (n.t === 'test') {
    if (d.test) fact('Test', `<code>${esc((d.test.namespace ? d.test.namespace + '.' : '') + d.test.name)}</code>`);
    if (n.a != null) fact('Tests', link(n.a));
    if (cfg.severity) fact('Severity', esc(cfg.severity));
  }
  const st = d.stats || {};
  if (st.row_count != null) fact('Rows', Number(st.row_count).toLocaleString('en-US'));
  if (st.bytes != null) fact('Size', bytes(st.bytes) + (st.num_files != null ? ` in ${st.num_files} file${st.num_files === 1 ? '' : 's'}` : ''));
  if (st.delta_version != null) fact('Delta version', esc(st.delta_version));
  if (st.last_modified) fact('Last written', when(st.last_modified) + (st.last_operation ? ` <span class="muted">${esc(st.last_operation)}</span>` : ''));
  if (run) {
    fact(n.t === 'test' || n.t === 'unit_test' ? 'Last test' : 'Last run',
      `<span class="badge st-${esc(run.status)}">${esc(run.status)}</span> ${when(run.completed_at)}` +
      (run.execution_time != null ? ` <span class="muted">in ${Number(run.execution_time).toFixed(2)} s</span>` : '') +
      (run.failures ? ` <span class="muted">${run.failures} failing rows</span>` : ''));
  } else if (n.t !== 'source') fact('Last run', '<span class="muted">not run yet</span>');
  let html = `<h1>${esc(n.n)} ${kindBadge(n.t)} ${run ? `<span class="badge st-${esc(run.status)}">${esc(run.status)}</span>` : ''}</h1>
    <div class="muted mono">${esc(n.i)}</div>
    <div class="facts">${facts.join('')}</div>`;
  if (run && run.message && !['success', 'pass'].includes(run.status)) html += `<div class="error-box">${esc(run.message)}</div>`;
  if (d.source_description) html += `<h2>Source</h2><div class="desc">${markdown(d.source_description)}</div>`;
  html += `<h2>Description</h2><div class="desc">${markdown(d.description)}</div>`;
  if (d.columns.length) {
    html += `<h2>Columns</h2><table class="columns"><thead><tr><th>Column</th><th>Type</th><th>Description</th><th>Tests</th><th>Upstream columns</th></tr></thead><tbody>` +
      d.columns.map((c, j) => `<tr data-column="${esc(c.name)}" id="col-${j}"><td><code>${esc(c.name)}</code></td><td class="mono">${esc(c.type)}</td><td>${c.description ? markdown(c.description) : ''}</td>` +
        `<td class="tests">${(c.tests || []).map(testChip).join('')}</td>` +
        `<td class="ups">${upstreamCell(c, j)}</td></tr>`).join('') + `</tbody></table>`;
  }
  const tests = d.tests || [];
  if (tests.length) html += `<h2>Tests on the ${esc(n.t)}</h2><div class="tests">${tests.map(testChip).join('')}</div>`;
  const ups = n.p, downs = S.children[i];
  html += `<h2>Lineage</h2><div class="links"><div><b>Depends on (${ups.length})</b></div>${ups.map(p => `<div>${kindBadge(S.nodes[p].t)} ${link(p)}</div>`).join('') || '<div class="muted">nothing</div>'}</div>
    <div class="links" style="margin-top:8px"><div><b>Referenced by (${downs.length})</b></div>${downs.map(c => `<div>${kindBadge(S.nodes[c].t)} ${link(c)}</div>`).join('') || '<div class="muted">nothing</div>'}</div>`;
  if (n.t !== 'test' && n.t !== 'unit_test') {
    html += `<h2>Neighbourhood</h2><div class="neigh-bar">Depth <select id="depth"><option>1</option><option selected>2</option><option>3</option><option value="99">all</option></select>
      <span class="muted">upstream and downstream; click a node to open it</span>
      <a href="#/graph?focus=${encodeURIComponent(n.i)}">show in the project graph</a></div><div class="neigh" id="neigh"></div>`;
  }
  if (d.compiled || d.raw) {
    html += `<h2>Code</h2><div class="tabs">${d.compiled ? '<button data-code="compiled" class="on">Compiled</button>' : ''}${d.raw ? `<button data-code="raw"${d.compiled ? '' : ' class="on"'}>Source</button>` : ''}</div><pre class="sql" id="code"></pre>`;
  }
  main.innerHTML = html;
  main.scrollTop = 0;
  const code = document.getElementById('code');
  if (code) {
    const show = which => { code.innerHTML = highlight(d[which] || ''); for (const b of main.querySelectorAll('.tabs button')) b.classList.toggle('on', b.dataset.code === which); };
    show(d.compiled ? 'compiled' : 'raw');
    main.querySelector('.tabs').onclick = e => { const b = e.target.closest('button'); if (b) show(b.dataset.code); };
  }
  for (const b of main.querySelectorAll('.trace-toggle')) b.onclick = () => toggleTrace(b, i, d.columns[+b.dataset.col]);
  const neigh = document.getElementById('neigh');
  if (neigh) {
    const draw = () => { if (S.graph) S.graph.destroy(); S.graph = drawGraph(neigh, neighbourhood(i, +document.getElementById('depth').value), { current: i, renderer: 'auto' }); };
    document.getElementById('depth').onchange = draw;
    draw();
  }
  siltTimings.node = { id: n.i, ms: performance.now() - t0 };
  const col = params.get('column');
  if (col) {
    const row = main.querySelector(`tr[data-column="${CSS.escape(col)}"]`);
    if (row) { row.scrollIntoView({ block: 'center' }); row.classList.add('flash'); setTimeout(() => row.classList.remove('flash'), 1600); }
  }
}

function testChip(t) {
  const n = S.nodes[t];
  const name = n.n.replace(/_[0-9a-f]{10,}$/, '');
  return `<a class="test-chip" href="${href(t)}" title="${esc(n.i)}">${statusDot(n.s || 'none')}${esc(shortTest(name))}</a>`;
}
function shortTest(name) {
  for (const p of ['dbt_utils_', 'source_']) if (name.startsWith(p)) name = name.slice(p.length);
  const m = name.match(/^(not_null|unique_combination_of_columns|unique|accepted_values|relationships|accepted_range|expression_is_true|not_empty_string|not_accepted_values|recency|at_least_one|not_constant|not_null_proportion)/);
  return m ? m[1] : name;
}

// One upstream column, as a link to that column on its node's page.
function upLink(u) {
  const [node, column] = u;
  if (typeof node === 'number') return `<a href="${href(node)}?column=${encodeURIComponent(column)}">${esc(S.nodes[node].n)}.${esc(column)}</a>`;
  return `<span class="mono">${esc(node)}.${esc(column)}</span>`;
}
function upstreamCell(c, j) {
  if (!c.up) return '<span class="muted">-</span>';
  if (!c.up.length) return '<span class="muted" title="computed from no column: a constant, or count(*)">no column</span>';
  const deeper = c.up.some(u => typeof u[0] === 'number' && S.nodes[u[0]].p.length);
  return c.up.map(upLink).join('') + (deeper ? `<div><button class="trace-toggle" data-col="${j}">trace to sources</button></div>` : '');
}

// The full upstream tree of a column, following column lineage node by node.
async function toggleTrace(button, i, column) {
  const existing = button.parentElement.querySelector('.trace');
  if (existing) { existing.remove(); button.textContent = 'trace to sources'; return; }
  button.textContent = 'hide trace';
  const box = document.createElement('div');
  box.className = 'trace';
  button.parentElement.appendChild(box);
  const seen = new Set();
  async function expand(ups, depth) {
    let html = '';
    for (const u of ups) {
      const key = u[0] + '.' + u[1];
      html += `<div>${'&nbsp;'.repeat(depth * 3)}&larr; ${upLink(u)}</div>`;
      if (typeof u[0] !== 'number' || seen.has(key) || depth > 20) continue;
      seen.add(key);
      const d = await detail(u[0]);
      const c = d && d.columns.find(x => x.name.toLowerCase() === String(u[1]).toLowerCase());
      if (c && c.up) html += await expand(c.up, depth + 1);
    }
    return html;
  }
  box.innerHTML = await expand(column.up || [], 0) || '<span class="muted">no upstream columns</span>';
}

// ---- graphs ----
function neighbourhood(i, depth) {
  const keep = new Set([i]);
  let frontier = [i];
  for (let d = 0; d < depth && frontier.length; d++) {
    const next = [];
    for (const k of frontier) for (const p of S.nodes[k].p) if (GRAPH_KINDS.has(S.nodes[p].t) && !keep.has(p)) { keep.add(p); next.push(p); }
    frontier = next;
  }
  frontier = [i];
  for (let d = 0; d < depth && frontier.length; d++) {
    const next = [];
    for (const k of frontier) for (const c of S.children[k]) if (GRAPH_KINDS.has(S.nodes[c].t) && !keep.has(c)) { keep.add(c); next.push(c); }
    frontier = next;
  }
  return [...keep];
}

// A layered layout: rank = longest path from a root, order within a rank by barycentre
// sweeps. Linear in nodes and edges per sweep, so 10,000 nodes take milliseconds.
function layout(members) {
  const inSet = new Map(members.map((k, j) => [k, j]));
  const parents = members.map(k => S.nodes[k].p.filter(p => inSet.has(p)).map(p => inSet.get(p)));
  const kids = members.map(() => []);
  parents.forEach((ps, j) => ps.forEach(p => kids[p].push(j)));
  const rank = new Array(members.length).fill(0);
  const indeg = parents.map(ps => ps.length);
  const queue = [];
  indeg.forEach((d, j) => { if (!d) queue.push(j); });
  for (let q = 0; q < queue.length; q++) {
    const j = queue[q];
    for (const c of kids[j]) { rank[c] = Math.max(rank[c], rank[j] + 1); if (--indeg[c] === 0) queue.push(c); }
  }
  const layers = [];
  for (const j of queue) (layers[rank[j]] = layers[rank[j]] || []).push(j);
  const pos = new Float64Array(members.length);
  const place = () => layers.forEach(l => l.forEach((j, x) => { pos[j] = x; }));
  place();
  const bary = (j, nbrs) => nbrs.length ? nbrs.reduce((s, k) => s + pos[k], 0) / nbrs.length : pos[j];
  // Orders rank r by the mean place of each node's neighbours (parents or children).
  const reorder = (r, nbrs) => {
    const b = new Map(layers[r].map(j => [j, bary(j, nbrs[j])]));
    layers[r].sort((a, c) => b.get(a) - b.get(c));
    layers[r].forEach((j, x) => { pos[j] = x; });
  };
  for (let sweep = 0; sweep < 4; sweep++) {
    for (let r = 1; r < layers.length; r++) reorder(r, parents);
    for (let r = layers.length - 2; r >= 0; r--) reorder(r, kids);
  }
  const W = 190, H = 30, GX = 70, GY = 14;
  const tallest = Math.max(1, ...layers.map(l => l.length));
  const xs = new Float64Array(members.length), ys = new Float64Array(members.length);
  layers.forEach((l, r) => {
    const offset = (tallest - l.length) * (H + GY) / 2;
    l.forEach((j, x) => { xs[j] = r * (W + GX); ys[j] = offset + x * (H + GY); });
  });
  return { members, parents, kids, xs, ys, W, H, GX, GY, layers, rank, width: layers.length * (W + GX) - GX, height: tallest * (H + GY) - GY, inSet };
}

function fit(L, w, h) {
  const k = Math.min(2, Math.max(0.02, Math.min(w / (L.width + 40), h / (L.height + 40))));
  return { k, tx: (w - L.width * k) / 2, ty: (h - L.height * k) / 2 };
}

function clip(name, k) {
  const max = Math.floor(k);
  return name.length > max ? name.slice(0, max - 1) + '\u2026' : name;
}

// Draws members into host: SVG (DOM nodes, crisp text) up to SVG_LIMIT nodes, a canvas
// beyond or when asked. Both pan (drag), zoom (wheel) and open a node on click.
function drawGraph(host, members, opts) {
  const t0 = performance.now();
  const L = layout(members);
  const useCanvas = opts.renderer === 'canvas' || (opts.renderer !== 'svg' && members.length > SVG_LIMIT);
  const g = useCanvas ? canvasGraph(host, L, opts) : svgGraph(host, L, opts);
  const timing = siltTimings.graph = { nodes: members.length, renderer: useCanvas ? 'canvas' : 'svg', ms: performance.now() - t0 };
  // Until the browser has painted it: the next frame after layout and drawing.
  requestAnimationFrame(() => setTimeout(() => { timing.painted = performance.now() - t0; }, 0));
  return g;
}

function edgePath(L, a, b) {
  const x1 = L.xs[a] + L.W, y1 = L.ys[a] + L.H / 2, x2 = L.xs[b], y2 = L.ys[b] + L.H / 2;
  const mx = (x1 + x2) / 2;
  return [x1, y1, mx, y1, mx, y2, x2, y2];
}

function svgGraph(host, L, opts) {
  const w = host.clientWidth || 800, h = host.clientHeight || 400;
  let view = fit(L, w, h);
  const current = opts.current;
  const hot = new Set();
  if (current !== undefined && L.inSet.has(current)) {
    const c = L.inSet.get(current);
    L.parents[c].forEach(p => hot.add(p + '>' + c));
    L.kids[c].forEach(k => hot.add(c + '>' + k));
  }
  let edges = '';
  L.parents.forEach((ps, j) => ps.forEach(p => {
    const [x1, y1, a, b, c, d, x2, y2] = edgePath(L, p, j);
    edges += `<path class="edge${hot.has(p + '>' + j) ? ' hot' : ''}" d="M${x1},${y1} C${a},${b} ${c},${d} ${x2},${y2}"/>`;
  }));
  let nodes = '';
  L.members.forEach((k, j) => {
    const n = S.nodes[k];
    nodes += `<g class="gnode${k === current ? ' current' : ''}" data-id="${esc(n.i)}" data-k="${k}" transform="translate(${L.xs[j]},${L.ys[j]})">` +
      `<rect width="${L.W}" height="${L.H}" style="stroke:var(--${n.t})"/><circle cx="10" cy="${L.H / 2}" r="4" style="fill:var(--${n.t})"/>` +
      `<text x="20" y="${L.H / 2 + 4}">${esc(clip(n.n, 26))}</text><title>${esc(n.t + ' ' + n.i)}</title></g>`;
  });
  host.innerHTML = `<svg class="lineage" role="img" aria-label="lineage graph"><g class="view">${edges}${nodes}</g></svg>`;
  const svg = host.firstChild, g = svg.firstChild;
  const apply = () => g.setAttribute('transform', `translate(${view.tx},${view.ty}) scale(${view.k})`);
  apply();
  const stop = panZoom(svg, () => view, v => { view = v; apply(); }, (x, y, moved) => {
    if (moved) return;
    const el = document.elementFromPoint(x, y);
    const node = el && el.closest && el.closest('.gnode');
    if (node) location.hash = href(+node.dataset.k);
  });
  return {
    renderer: 'svg', nodes: L.members.length, destroy: stop,
    screenPosition(id) { const el = svg.querySelector(`.gnode[data-id="${CSS.escape(id)}"]`); if (!el) return null; const r = el.getBoundingClientRect(); return { x: r.left + r.width / 2, y: r.top + r.height / 2 }; },
  };
}

function canvasGraph(host, L, opts) {
  host.innerHTML = '<canvas aria-label="lineage graph"></canvas>';
  const canvas = host.firstChild;
  const ctx = canvas.getContext('2d');
  const dpr = window.devicePixelRatio || 1;
  let w = 0, h = 0, view = null, hover = -1, frame = 0;
  const colours = {};
  const css = getComputedStyle(document.documentElement);
  for (const k of KINDS) colours[k] = css.getPropertyValue('--' + k).trim() || '#2563eb';
  const resize = () => {
    w = host.clientWidth; h = host.clientHeight;
    canvas.width = Math.max(1, w * dpr); canvas.height = Math.max(1, h * dpr);
    if (!view) view = fit(L, w, h);
    draw();
  };
  const draw = () => { cancelAnimationFrame(frame); frame = requestAnimationFrame(paint); };
  const curve = e => { ctx.moveTo(e[0], e[1]); ctx.bezierCurveTo(e[2], e[3], e[4], e[5], e[6], e[7]); };
  function paint() {
    const { k, tx, ty } = view;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    ctx.setTransform(dpr * k, 0, 0, dpr * k, dpr * tx, dpr * ty);
    // What is in view, in layout coordinates; ranks outside it are skipped whole.
    const x0 = -tx / k, x1 = (w - tx) / k, y0 = -ty / k, y1 = (h - ty) / k;
    const col = L.W + L.GX;
    const r0 = Math.max(0, Math.floor(x0 / col) - 1), r1 = Math.min(L.layers.length - 1, Math.ceil(x1 / col));
    ctx.lineWidth = 1 / Math.max(k, 0.3);
    ctx.strokeStyle = '#c3c9d2';
    ctx.beginPath();
    for (let r = r0; r <= r1; r++) for (const j of L.layers[r]) for (const p of L.parents[j]) {
      const e = edgePath(L, p, j);
      if (Math.max(e[1], e[7]) < y0 || Math.min(e[1], e[7]) > y1) continue;
      curve(e);
    }
    ctx.stroke();
    if (hover >= 0) {
      ctx.strokeStyle = '#2563eb'; ctx.lineWidth = 2 / Math.max(k, 0.3);
      ctx.beginPath();
      for (const p of L.parents[hover]) curve(edgePath(L, p, hover));
      for (const c of L.kids[hover]) curve(edgePath(L, hover, c));
      ctx.stroke();
    }
    const labels = k * 12 >= 6;
    ctx.font = '12px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
    for (let r = r0; r <= r1; r++) for (const j of L.layers[r]) {
      const x = L.xs[j], y = L.ys[j];
      if (y + L.H < y0 || y > y1) continue;
      const n = S.nodes[L.members[j]];
      ctx.fillStyle = L.members[j] === opts.current || j === hover ? '#dbe7ff' : '#fff';
      ctx.fillRect(x, y, L.W, L.H);
      ctx.fillStyle = colours[n.t];
      ctx.fillRect(x, y, 5, L.H);
      if (labels) { ctx.fillStyle = '#1d2125'; ctx.fillText(clip(n.n, 26), x + 12, y + L.H / 2); }
    }
  }
  // The node under a point in page coordinates: its rank from x, its place from y.
  const at = (cx, cy) => {
    const b = canvas.getBoundingClientRect();
    const x = (cx - b.left - view.tx) / view.k, y = (cy - b.top - view.ty) / view.k;
    const r = Math.floor(x / (L.W + L.GX));
    if (r < 0 || r >= L.layers.length || x - r * (L.W + L.GX) > L.W) return -1;
    const layer = L.layers[r];
    const x0 = layer.length ? L.ys[layer[0]] : 0;
    const idx = Math.floor((y - x0) / (L.H + L.GY));
    if (idx < 0 || idx >= layer.length) return -1;
    const j = layer[idx];
    return y - L.ys[j] <= L.H ? j : -1;
  };
  const tip = document.createElement('div');
  tip.className = 'tip';
  tip.style.display = 'none';
  host.appendChild(tip);
  const onMove = e => {
    const j = at(e.clientX, e.clientY);
    if (j !== hover) { hover = j; draw(); }
    if (j >= 0) {
      const n = S.nodes[L.members[j]];
      const b = host.getBoundingClientRect();
      tip.textContent = n.t + ' ' + n.n;
      tip.style.left = (e.clientX - b.left + 12) + 'px'; tip.style.top = (e.clientY - b.top + 12) + 'px';
      tip.style.display = '';
      canvas.style.cursor = 'pointer';
    } else { tip.style.display = 'none'; canvas.style.cursor = ''; }
  };
  canvas.addEventListener('mousemove', onMove);
  const stop = panZoom(canvas, () => view, v => { view = v; draw(); }, (x, y, moved) => {
    if (moved) return;
    const j = at(x, y);
    if (j >= 0) location.hash = href(L.members[j]);
  });
  const ro = new ResizeObserver(resize);
  ro.observe(host);
  resize();
  paint();
  return {
    renderer: 'canvas', nodes: L.members.length,
    destroy() { stop(); ro.disconnect(); cancelAnimationFrame(frame); },
    screenPosition(id) {
      const j = L.inSet.get(S.byId.get(id));
      if (j === undefined) return null;
      const b = canvas.getBoundingClientRect();
      return { x: b.left + view.tx + (L.xs[j] + L.W / 2) * view.k, y: b.top + view.ty + (L.ys[j] + L.H / 2) * view.k };
    },
    zoomTo(id, k) {
      const j = L.inSet.get(S.byId.get(id));
      if (j === undefined) return;
      view = { k, tx: w / 2 - (L.xs[j] + L.W / 2) * k, ty: h / 2 - (L.ys[j] + L.H / 2) * k };
      paint();
    },
  };
}

// Drag to pan, wheel to zoom about the pointer; click(x, y, moved) after a press.
function panZoom(el, get, set, click) {
  let drag = null;
  const down = e => { if (e.button !== 0) return; drag = { x: e.clientX, y: e.clientY, v: get(), moved: false }; };
  const move = e => {
    if (!drag) return;
    const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
    if (drag.moved) set({ k: drag.v.k, tx: drag.v.tx + dx, ty: drag.v.ty + dy });
  };
  const up = e => { if (!drag) return; const moved = drag.moved; drag = null; click(e.clientX, e.clientY, moved); };
  const wheel = e => {
    e.preventDefault();
    const v = get(), b = el.getBoundingClientRect();
    const f = Math.exp(-e.deltaY * 0.0015), k = Math.min(4, Math.max(0.01, v.k * f));
    const px = e.clientX - b.left, py = e.clientY - b.top;
    set({ k, tx: px - (px - v.tx) * k / v.k, ty: py - (py - v.ty) * k / v.k });
  };
  el.addEventListener('mousedown', down);
  window.addEventListener('mousemove', move);
  window.addEventListener('mouseup', up);
  el.addEventListener('wheel', wheel, { passive: false });
  return () => { window.removeEventListener('mousemove', move); window.removeEventListener('mouseup', up); };
}

function graphPage(params) {
  const main = document.getElementById('main');
  main.classList.add('graph');
  const members = S.nodes.filter(n => GRAPH_KINDS.has(n.t)).map(n => n.k);
  const counts = {};
  for (const k of members) counts[S.nodes[k].t] = (counts[S.nodes[k].t] || 0) + 1;
  main.innerHTML = `<div class="graph-bar"><b>Project lineage</b> <span class="muted">${Object.entries(counts).map(([t, c]) => `${c} ${t}s`).join(', ')}; drag to pan, scroll to zoom, click to open</span> <button id="graph-fit">Fit</button></div><div id="graph-host"></div>`;
  const host = document.getElementById('graph-host');
  const renderer = params.get('renderer') || 'auto';
  const focus = params.get('focus');
  S.graph = drawGraph(host, members, { renderer, current: focus ? S.byId.get(focus) : undefined });
  // From a node's page: centred on it, at a zoom where names are readable.
  if (focus && S.graph.zoomTo) S.graph.zoomTo(focus, 1);
  document.getElementById('graph-fit').onclick = () => route();
  window.siltGraph = S.graph;
}
