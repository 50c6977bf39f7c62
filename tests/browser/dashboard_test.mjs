// The dashboard in a real browser: starts classifyd and batchproxy on free
// local ports, opens GET /dashboard in headless Chromium (driven over the
// DevTools protocol on --remote-debugging-pipe, so no npm packages), drives
// traffic with loadgen, then checks that the page loaded without console
// errors, asked nothing of any other origin, and shows what /stats says.
// Then opens a second page after the traffic: drawn from /stats/history
// (sampled every 100 ms here, --history-interval-ms), its first poll must
// already show the traffic that came before it. Saves a screenshot. Exit 0 pass, 1 fail, 77 skip (no Chromium).
//
// Usage: node dashboard_test.mjs --build DIR --screenshot FILE.png
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const build = args.build || 'build';
const shot = args.screenshot || join(build, 'dashboard.png');
const chromiumPath = process.env.BP_CHROMIUM || '/usr/bin/chromium';
const TEST_BUDGET_MS = 60000;

if (!existsSync(chromiumPath)) {
  console.log(`SKIP: ${chromiumPath} is not installed (scripts/deps.sh check installs it)`);
  process.exit(77);
}

const started = []; // {name, proc, log}
let browser = null;
let userDir = null;

function fail(msg) {
  throw new Error(msg);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// --- processes ---

function start(name, argv, { waitListening = true } = {}) {
  const proc = spawn(join(build, name), argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  const ent = { name, proc, log: '', exited: null };
  proc.stdout.on('data', (d) => (ent.log += d));
  proc.stderr.on('data', (d) => (ent.log += d));
  proc.on('exit', (code, sig) => (ent.exited = { code, sig }));
  started.push(ent);
  if (!waitListening) return ent;
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const check = () => {
      const m = /listening on [^ \n]*:(\d+)/.exec(ent.log);
      if (m) return resolve({ ...ent, port: +m[1], ent });
      if (ent.exited) return reject(new Error(`${name} exited before listening:\n${ent.log}`));
      if (Date.now() - t0 > 10000) return reject(new Error(`${name}: no "listening on" in 10 s`));
      setTimeout(check, 20);
    };
    check();
  });
}

async function stopAll() {
  for (const ent of started.slice().reverse()) {
    if (!ent.exited) ent.proc.kill('SIGTERM');
    const t0 = Date.now();
    while (!ent.exited && Date.now() - t0 < 15000) await sleep(20);
    if (!ent.exited) {
      ent.proc.kill('SIGKILL');
      ent.bad = 'did not stop within 15 s of SIGTERM';
    }
  }
}

function request(port, method, path, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, timeout: 10000 }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (data += d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timeout`)));
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

// --- a tiny DevTools-protocol client over the pipe (fd 3 in, fd 4 out, NUL-separated JSON) ---

function launchBrowser() {
  userDir = mkdtempSync(join(tmpdir(), 'bp-chromium-'));
  const proc = spawn(chromiumPath, [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--no-default-browser-check', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--disable-dev-shm-usage', '--hide-scrollbars', '--mute-audio',
    `--user-data-dir=${userDir}`, '--remote-debugging-pipe', 'about:blank',
  ], { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
  const b = { proc, next: 1, pending: new Map(), listeners: [], log: '', exited: false };
  proc.stderr.on('data', (d) => (b.log = (b.log + d).slice(-20000)));
  proc.on('exit', () => {
    b.exited = true;
    for (const p of b.pending.values()) p.reject(new Error('chromium exited'));
  });
  let buf = '';
  proc.stdio[4].setEncoding('utf8');
  proc.stdio[4].on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\0')) >= 0) {
      const msg = JSON.parse(buf.slice(0, i));
      buf = buf.slice(i + 1);
      if (msg.id && b.pending.has(msg.id)) {
        const p = b.pending.get(msg.id);
        b.pending.delete(msg.id);
        if (msg.error) p.reject(new Error(`${p.method}: ${msg.error.message}`));
        else p.resolve(msg.result);
      } else if (msg.method) {
        for (const l of b.listeners) l(msg);
      }
    }
  });
  proc.stdio[3].on('error', () => {});
  b.send = (method, params = {}, sessionId) =>
    new Promise((resolve, reject) => {
      const id = b.next++;
      b.pending.set(id, { resolve, reject, method });
      proc.stdio[3].write(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }) + '\0');
    });
  browser = b;
  return b;
}

async function closeBrowser() {
  if (!browser) return;
  if (!browser.exited) {
    browser.send('Browser.close').catch(() => {});
    const t0 = Date.now();
    while (!browser.exited && Date.now() - t0 < 5000) await sleep(20);
    if (!browser.exited) browser.proc.kill('SIGKILL');
  }
  if (userDir) rmSync(userDir, { recursive: true, force: true });
}

// --- the test ---

async function main() {
  const classifyd = await start('classifyd', ['--listen', '127.0.0.1:0', '--cost', '0.0005', '--quiet']);
  const proxy = await start('batchproxy', [
    '--listen', '127.0.0.1:0', '--backend', `http://127.0.0.1:${classifyd.port}`, '--max-length', '100',
    '--history-interval-ms', '100',
  ]);
  const origin = `http://127.0.0.1:${proxy.port}`;

  // The page's own headers: HTML, and a policy that keeps it on this origin.
  const page = await request(proxy.port, 'GET', '/dashboard');
  if (page.status !== 200) fail(`GET /dashboard: ${page.status}`);
  if (!/^text\/html; charset=utf-8$/.test(page.headers['content-type'])) fail(`content-type ${page.headers['content-type']}`);
  const csp = page.headers['content-security-policy'] || '';
  if (!/default-src 'none'/.test(csp) || !/connect-src 'self'/.test(csp)) fail(`CSP: ${csp}`);
  if (/https?:\/\/(?!127\.0\.0\.1)/.test(page.body.replace(/http:\/\/www\.w3\.org\/2000\/svg/g, '')))
    fail('the page names another origin');
  const post = await request(proxy.port, 'POST', '/dashboard', '{}');
  if (post.status !== 405) fail(`POST /dashboard: ${post.status}`);

  const b = launchBrowser();
  const problems = [];
  const urls = [];
  b.listeners.push((m) => {
    const p = m.params || {};
    if (m.method === 'Runtime.consoleAPICalled' && (p.type === 'error' || p.type === 'assert'))
      problems.push(`console.${p.type}: ${p.args.map((a) => a.value ?? a.description).join(' ')}`);
    else if (m.method === 'Runtime.exceptionThrown')
      problems.push(`exception: ${p.exceptionDetails.exception?.description || p.exceptionDetails.text}`);
    else if (m.method === 'Log.entryAdded' && p.entry.level === 'error')
      problems.push(`log: ${p.entry.text} ${p.entry.url || ''}`);
    else if (m.method === 'Network.requestWillBeSent') urls.push(p.request.url);
  });
  const { targetId } = await b.send('Target.createTarget', { url: 'about:blank' });
  const { sessionId } = await b.send('Target.attachToTarget', { targetId, flatten: true });
  const s = (method, params) => b.send(method, params, sessionId);
  await s('Runtime.enable');
  await s('Log.enable');
  await s('Network.enable');
  await s('Page.enable');
  await s('Emulation.setDeviceMetricsOverride', { width: 1400, height: 1000, deviceScaleFactor: 1, mobile: false });
  const evaluate = async (expr) => {
    const r = await s('Runtime.evaluate', { expression: expr, returnByValue: true, awaitPromise: true });
    if (r.exceptionDetails) fail(`evaluate ${expr}: ${r.exceptionDetails.text}`);
    return r.result.value;
  };
  await s('Page.navigate', { url: `${origin}/dashboard` });
  const waitFor = async (expr, what, ms = 15000) => {
    const t0 = Date.now();
    for (;;) {
      if (await evaluate(expr)) return;
      if (Date.now() - t0 > ms) fail(`timed out waiting for ${what}`);
      await sleep(100);
    }
  };
  await waitFor(`+(document.body && document.body.dataset.polls) >= 1`, 'the first poll');

  // Traffic while the page watches: three named clients, plus refused requests.
  for (let i = 0; i < 3; i++) {
    const r = await request(proxy.port, 'POST', '/proxy_classify', 'not json', { 'X-Client-Id': 'gamma' });
    if (r.status !== 400) fail(`bad request answered ${r.status}`);
  }
  const tooLong = JSON.stringify({ sequence: 'x'.repeat(150) });
  const r413 = await request(proxy.port, 'POST', '/proxy_classify', tooLong, { 'X-Client-Id': 'beta' });
  if (r413.status !== 413) fail(`long sequence answered ${r413.status}`);
  const lg = start('loadgen', [
    '--url', `${origin}/proxy_classify`, '--no-progress', '--seed', '7', '--timeout', '20',
    '--client', 'name=alpha,arrival=poisson:25,len=4-12,count=60',
    '--client', 'name=beta,arrival=steady:0.12,len=12-30,count=25',
    '--client', 'name=gamma,arrival=burst:5:0.02:0.4,len=3-8,count=40',
  ], { waitListening: false });
  const t0 = Date.now();
  while (!lg.exited && Date.now() - t0 < 30000) await sleep(50);
  if (!lg.exited) fail('loadgen did not finish within 30 s');
  if (lg.exited.code !== 0) fail(`loadgen exited ${lg.exited.code}:\n${lg.log}`);

  // Quiet now: /stats stops changing (but for uptime); the page must show it.
  let stats;
  for (let i = 0; ; i++) {
    stats = JSON.parse((await request(proxy.port, 'GET', '/stats')).body);
    if (stats.queue_depth === 0 && stats.inflight_requests === 0) break;
    if (i > 100) fail('the proxy did not go idle');
    await sleep(100);
  }
  const polled = await evaluate('+document.body.dataset.polls');
  await waitFor(`+document.body.dataset.polls >= ${polled + 2}`, 'two more polls');
  await sleep(300);

  const shown = await evaluate(`(() => {
    const d = (id) => Object.assign({}, document.getElementById(id).dataset);
    return {
      latency: d('latency-all'), queue: d('queue'), util: d('util'), sizes: d('batch-size'),
      longest: d('batch-longest'), cost: d('cost'),
      clients: Array.from(document.querySelectorAll('#clients tbody tr')).map(r => Object.assign({}, r.dataset)),
      reasons: Object.fromEntries(Array.from(document.querySelectorAll('#errors tr[data-reason]')).map(r => [r.dataset.reason, +r.dataset.count])),
      multiples: Array.from(document.querySelectorAll('#latency-multiples .mini')).map(m => [m.dataset.client, +m.lastChild.dataset.points]),
      paths: Array.from(document.querySelectorAll('.chart svg')).map(s => s.querySelectorAll('.series').length),
    };
  })()`);

  const eq = (what, a, b, tol = 0) => {
    if (!(Math.abs(+a - +b) <= tol)) problems.push(`${what}: page shows ${a}, /stats says ${b}`);
  };
  const names = Object.keys(stats.clients).sort();
  if (names.join() !== 'alpha,beta,gamma') problems.push(`/stats clients: ${names}`);
  const rows = Object.fromEntries(shown.clients.map((c) => [c.client, c]));
  let totalOk = 0;
  for (const n of names) {
    const c = stats.clients[n];
    if (!rows[n]) { problems.push(`client ${n} missing from the table`); continue; }
    eq(`${n} requests`, rows[n].requests, c.requests);
    eq(`${n} 200s`, rows[n].ok, c.by_status['200'] || 0);
    eq(`${n} p95 since start`, rows[n].p95Total, c.latency_seconds.p95, 1e-9);
    totalOk += c.latency_seconds.count;
  }
  eq('clients in the table', shown.clients.length, names.length);
  eq('rows sorted busiest first', shown.clients[0].requests, Math.max(...names.map((n) => stats.clients[n].requests)));
  eq('latency samples since start', shown.latency.totalCount, totalOk);
  // Everything happened after the page opened and within the last 60 s.
  eq('latency samples in the window', shown.latency.windowCount, totalOk);
  if (!(+shown.latency.points > 0)) problems.push('the latency chart is empty');
  for (const n of names) {
    const m = shown.multiples.find(([c]) => c === n);
    if (!m || !(m[1] > 0)) problems.push(`no latency panel with data for ${n}`);
  }
  eq('queue depth', shown.queue.value, stats.queue_depth);
  if (!(+shown.queue.points > 0)) problems.push('the queue chart is empty');
  eq('backend busy seconds', shown.util.busy, stats.backend_busy_seconds, 1e-6);
  if (!(+shown.util.points > 0)) problems.push('the utilisation chart is empty');
  const rb = stats.recent_batches;
  eq('recent batches', shown.sizes.count, rb.length);
  eq('last batch seq', shown.sizes.lastSeq, rb[rb.length - 1].seq);
  eq('sum of batch sizes', shown.sizes.sum, rb.reduce((a, x) => a + x.size, 0));
  eq('longest length', shown.longest.max, Math.max(...rb.map((x) => x.longest)));
  eq('cost a', shown.cost.a, stats.cost_model.a_seconds, 1e-12);
  eq('cost lin', shown.cost.lin, stats.cost_model.linear_seconds, 1e-12);
  eq('cost b', shown.cost.b, stats.cost_model.b_seconds, 1e-12);
  eq('cost observations', shown.cost.observations, stats.cost_model.observations);
  eq('cost chart points', shown.cost.points, 101 + rb.length, 0);
  const byStatus = {};
  for (const c of Object.values(stats.clients))
    for (const [k, v] of Object.entries(c.by_status)) byStatus[k] = (byStatus[k] || 0) + v;
  eq('400s', shown.reasons['400'], byStatus['400'] || 0);
  eq('413s', shown.reasons['413'], byStatus['413'] || 0);
  if (byStatus['400'] !== 3 || byStatus['413'] !== 1) problems.push(`/stats statuses ${JSON.stringify(byStatus)}`);
  eq('backend 429s', shown.reasons.busy_429, stats.backend_attempts.busy_429);
  eq('retries', shown.reasons.retries, stats.retries);
  if (shown.paths.some((n) => n === 0)) problems.push(`a chart draws no series: ${shown.paths}`);

  const foreign = urls.filter((u) => !u.startsWith(origin + '/') && !u.startsWith('data:'));
  if (foreign.length) problems.push(`requests to other origins: ${foreign.join(' ')}`);

  // Full-page screenshot for people to look at.
  const height = await evaluate('Math.ceil(document.documentElement.scrollHeight)');
  await s('Emulation.setDeviceMetricsOverride', { width: 1400, height: Math.min(height, 4000), deviceScaleFactor: 1, mobile: false });
  await sleep(200);
  const png = await s('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true });
  writeFileSync(shot, Buffer.from(png.data, 'base64'));
  console.log(`screenshot: ${shot}`);

  // A page opened now draws the history at once: with its first poll, its
  // charts hold every sample the proxy kept, from before it opened.
  const hist = JSON.parse((await request(proxy.port, 'GET', '/stats/history')).body);
  const opened = hist.samples.length ? hist.samples[hist.samples.length - 1].t : 0;
  if (!(hist.samples.length >= 20)) problems.push(`/stats/history has ${hist.samples.length} samples`);
  if (hist.samples.length > hist.capacity) problems.push('/stats/history holds more than its capacity');
  const late = await b.send('Target.createTarget', { url: 'about:blank' });
  const { sessionId: s2 } = await b.send('Target.attachToTarget', { targetId: late.targetId, flatten: true });
  await b.send('Runtime.enable', {}, s2);
  await b.send('Page.navigate', { url: `${origin}/dashboard` }, s2);
  const evaluate2 = async (expr) => (await b.send('Runtime.evaluate', { expression: expr, returnByValue: true }, s2)).result.value;
  const t1 = Date.now();
  while (!(+(await evaluate2('document.body && document.body.dataset.polls')) >= 1)) {
    if (Date.now() - t1 > 15000) fail('the second page never polled');
    await sleep(50);
  }
  const late1 = await evaluate2(`({samples: +document.body.dataset.historySamples,
    from: +document.body.dataset.historyFrom, queue: +document.getElementById('queue').dataset.points,
    latency: +document.getElementById('latency-all').dataset.points,
    window: +document.getElementById('latency-all').dataset.windowCount,
    rate: +document.getElementById('rate').dataset.points})`);
  if (!(late1.samples >= hist.samples.length)) problems.push(`second page: ${late1.samples} history samples, /stats/history had ${hist.samples.length}`);
  if (!(late1.from < opened - 1)) problems.push(`second page starts at ${late1.from} s, opened at ${opened} s`);
  // (less the samples newer than its first /stats, a page kept up to --metrics-cache-ms: 10 here)
  if (!(late1.queue >= 2 * (hist.samples.length - 12))) problems.push(`second page: ${late1.queue} queue points at its first poll`);
  if (!(late1.latency > 10)) problems.push(`second page: ${late1.latency} latency points at its first poll`);
  if (!(late1.rate > 10)) problems.push(`second page: ${late1.rate} request rate points at its first poll`);
  eq('second page: latency samples in the window', late1.window, totalOk);

  if (problems.length) fail(`problems:\n  ${problems.join('\n  ')}`);
  console.log(`ok: ${names.length} clients, ${rb.length} batches, ${polled + 2}+ polls, no console errors`);
}

const budget = setTimeout(() => {
  console.error(`FAIL: the test took over ${TEST_BUDGET_MS / 1000} s`);
  finish(1);
}, TEST_BUDGET_MS);

let finishing = false;
async function finish(code) {
  if (finishing) return;
  finishing = true;
  clearTimeout(budget);
  await closeBrowser();
  await stopAll();
  for (const ent of started) {
    const bad = ent.bad ||
      (/AddressSanitizer|LeakSanitizer|runtime error:/.test(ent.log) ? 'sanitizer report' : '') ||
      (ent.name !== 'loadgen' && ent.exited && ent.exited.code !== 0 ? `exit ${ent.exited.code} ${ent.exited.sig || ''}` : '');
    if (bad) {
      console.error(`FAIL: ${ent.name}: ${bad}\n${ent.log.slice(-4000)}`);
      code = 1;
    }
  }
  if (code && browser) console.error(`chromium log (tail):\n${browser.log.slice(-2000)}`);
  process.exit(code);
}

main().then(() => finish(0), (e) => {
  console.error(`FAIL: ${e.message}`);
  finish(1);
});
