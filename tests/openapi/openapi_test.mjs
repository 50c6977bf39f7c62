// docs/openapi.json against the real batchproxy:
// 1. the document is valid OpenAPI 3.1 (@apidevtools/swagger-parser);
// 2. every path front.c routes is in it, and every path in it is routed
//    (answers something but 404 on the listener it is served on);
// 3. real answers of running proxies (each status the test can make them
//    give: 200s, 400, 401, 404, 405, 408, 413, 417, 429, 431, 501, 502, 503,
//    504, 505) match what the document says of that path, method and
//    status: the body against its schema (ajv, JSON Schema 2020-12), the
//    Content-Type, and each header it marks required;
// 4. GET /openapi.json serves the document, on the client and the admin
//    listener; /stats/history's answer (samples with a client's requests in
//    them) matches its schema, on both listeners where it is served.
// The npm packages (package.json) are installed into --npm DIR at the first
// run. Exit 0 pass, 1 fail, 77 skip (npm or the packages unavailable).
//
// Usage: node openapi_test.mjs --build DIR --source DIR --npm DIR
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const build = resolve(args.build || 'build');
const source = args.source || '.';
const npmDir = resolve(args.npm || join(build, 'tests', 'openapi-npm'));
const docPath = join(source, 'docs', 'openapi.json');

// --- the npm packages ---

function loadPackages() {
  const need = join(npmDir, 'node_modules', '@apidevtools', 'swagger-parser');
  const want = readFileSync(join(source, 'tests', 'openapi', 'package.json'), 'utf8');
  const have = existsSync(join(npmDir, 'package.json')) ? readFileSync(join(npmDir, 'package.json'), 'utf8') : '';
  if (!existsSync(need) || have !== want) {
    mkdirSync(npmDir, { recursive: true });
    copyFileSync(join(source, 'tests', 'openapi', 'package.json'), join(npmDir, 'package.json'));
    const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--no-package-lock', '--prefix', npmDir],
      { encoding: 'utf8', timeout: 120000 });
    if (r.error || r.status !== 0) {
      console.log(`SKIP: npm install failed (${r.error ? r.error.message : `exit ${r.status}`}): ${(r.stderr || '').slice(-500)}`);
      process.exit(77);
    }
  }
  const require = createRequire(join(npmDir, 'package.json'));
  return { SwaggerParser: require('@apidevtools/swagger-parser'), Ajv2020: require('ajv/dist/2020').default };
}

// --- processes and raw HTTP ---

const started = [];
let failures = 0;
const tmp = mkdtempSync(join(tmpdir(), 'bp-openapi-'));

function start(name, argv) {
  const proc = spawn(join(build, name), argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ent = { name, proc, log: '', exited: null };
  proc.stderr.on('data', (d) => (ent.log += d));
  proc.on('exit', (code, sig) => (ent.exited = { code, sig }));
  proc.on('error', (e) => (ent.exited = { error: e.message, log: (ent.log += e.message) }));
  started.push(ent);
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const check = () => {
      const m = /^listening on [^ \n]*:(\d+)$/m.exec(ent.log);
      const admin = /^admin listening on [^ \n]*:(\d+)$/m.exec(ent.log);
      if (m && (admin || !argv.includes('--admin-listen'))) return resolve({ ent, port: +m[1], admin: admin && +admin[1] });
      if (ent.exited) return reject(new Error(`${name} exited before listening:\n${ent.log}`));
      if (Date.now() - t0 > 15000) return reject(new Error(`${name}: no "listening on" in 15 s:\n${ent.log}`));
      setTimeout(check, 20);
    };
    check();
  });
}

async function stopAll() {
  for (const ent of started.reverse()) {
    if (ent.exited) continue;
    ent.proc.kill('SIGKILL');
    await new Promise((r) => (ent.exited ? r() : ent.proc.on('exit', r)));
  }
  rmSync(tmp, { recursive: true, force: true });
}

// Sends `text` as is and reads one response until the server closes the
// connection (every request here says Connection: close, or is refused).
function raw(port, text, { timeout = 15000 } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`no answer in ${timeout} ms to ${text.slice(0, 60)}`)); }, timeout);
    sock.on('connect', () => sock.write(text));
    sock.on('data', (d) => (buf = Buffer.concat([buf, d])));
    sock.on('error', () => {}); // a reset after the answer
    sock.on('close', () => {
      clearTimeout(timer);
      const s = buf.toString('utf8');
      const end = s.indexOf('\r\n\r\n');
      const m = /^HTTP\/1\.1 (\d{3}) /.exec(s);
      if (end < 0 || !m) return reject(new Error(`malformed answer to ${text.slice(0, 60)}: ${s.slice(0, 200)}`));
      const headers = {};
      for (const line of s.slice(0, end).split('\r\n').slice(1)) {
        const i = line.indexOf(':');
        headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
      }
      resolve({ status: +m[1], headers, body: s.slice(end + 4) });
    });
  });
}

function request(port, method, path, { headers = {}, body = null } = {}) {
  let text = `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n`;
  for (const [k, v] of Object.entries(headers)) text += `${k}: ${v}\r\n`;
  if (body !== null) text += `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`;
  return raw(port, text + '\r\n' + (body ?? ''));
}

// --- the document's word on an answer ---

let doc, ajv;

// The response object the document gives for path/method/status: the
// operation's; for a method the path lacks, the 405 its operations
// describe (with the Allow they name); for what the HTTP server answers
// whatever the path (501, 505) or a path the document lacks (404), the
// component that describes it.
function described(path, method, status) {
  const server = { 501: 'NotImplemented', 505: 'VersionNotSupported' }[status];
  if (server) return doc.components.responses[server];
  const item = doc.paths[path];
  if (!item) return status === 404 ? doc.components.responses.NotFound : undefined;
  const op = item[method.toLowerCase()];
  if (op) return op.responses[String(status)];
  return status === 405 ? Object.values(item)[0].responses['405'] : undefined;
}

async function check(what, port, method, path, want, opts = {}, sent = null) {
  const r = sent ?? (await request(port, method, path, opts));
  const problems = [];
  if (r.status !== want) problems.push(`status ${r.status}, want ${want} (${r.body.slice(0, 200)})`);
  const d = described(path, method, r.status);
  if (!d) problems.push(`the document has no response ${r.status} for ${method} ${path}`);
  else {
    for (const [name, h] of Object.entries(d.headers || {}))
      if (h.required && !(name.toLowerCase() in r.headers)) problems.push(`no ${name} header`);
      else if (name.toLowerCase() in r.headers && h.schema) {
        const v = h.schema.type === 'integer' ? Number(r.headers[name.toLowerCase()]) : r.headers[name.toLowerCase()];
        if (!ajv.validate(h.schema, v)) problems.push(`header ${name}: ${r.headers[name.toLowerCase()]}: ${ajv.errorsText()}`);
      }
    const type = (r.headers['content-type'] || '').split(';')[0];
    const media = Object.entries(d.content || {}).find(([k]) => k.split(';')[0] === type);
    if (method === 'HEAD') {
      if (r.body !== '') problems.push('a body to HEAD');
    } else if (!media) problems.push(`Content-Type ${r.headers['content-type']} is none of ${Object.keys(d.content || {})}`);
    else {
      let body = r.body;
      if (type === 'application/json') {
        try { body = JSON.parse(r.body); } catch (e) { problems.push(`not JSON: ${r.body.slice(0, 100)}`); }
      }
      if (!ajv.validate(media[1].schema, body)) problems.push(`body ${r.body.slice(0, 200)}: ${ajv.errorsText()}`);
    }
  }
  if (problems.length) {
    failures++;
    console.log(`FAIL: ${what}: ${method} ${path}: ${problems.join('; ')}`);
  } else console.log(`ok: ${what}: ${method} ${path} ${r.status}`);
  return r;
}

async function waitReady(port) {
  for (let t0 = Date.now(); Date.now() - t0 < 15000; await new Promise((r) => setTimeout(r, 50)))
    if ((await request(port, 'GET', '/readyz')).status === 200) return;
  throw new Error('never ready');
}

// --- the checks ---

// Waits until /stats/history has a few samples, the last with the requests
// of `client` in it, so the check of its answer sees every part of a sample.
async function historyHolds(port, client) {
  for (let t0 = Date.now(); Date.now() - t0 < 15000; await new Promise((r) => setTimeout(r, 20))) {
    const r = await request(port, 'GET', '/stats/history');
    const h = r.status === 200 ? JSON.parse(r.body) : null;
    const last = h && h.samples[h.samples.length - 1];
    if (h && h.samples.length >= 3 && last.clients[client] && last.clients[client].requests > 0) return;
  }
  throw new Error(`/stats/history never showed client ${client}`);
}

async function routes(p1, p2) {
  const front = readFileSync(join(source, 'src', 'proxy', 'front.c'), 'utf8');
  const routed = new Set([...front.matchAll(/strcmp\((?:path|httpd_req_path\(req\)), "(\/[^"]*)"\)/g)].map((m) => m[1]));
  if (routed.size < 5) { failures++; console.log(`FAIL: found only ${[...routed]} routed in front.c`); }
  for (const path of routed)
    if (!doc.paths[path]) { failures++; console.log(`FAIL: front.c routes ${path}, not in docs/openapi.json`); }
  for (const [path, item] of Object.entries(doc.paths)) {
    if (!routed.has(path)) { failures++; console.log(`FAIL: ${path} is in docs/openapi.json, front.c routes none`); }
    for (const method of Object.keys(item)) {
      // Served somewhere: on the client listener, or else the admin one.
      let r = await request(p1.port, method.toUpperCase(), path, method === 'post' ? { body: '{"sequence": "x"}' } : {});
      if (r.status === 404) r = await request(p2.admin, method.toUpperCase(), path);
      if (r.status === 404 || r.status === 405) { failures++; console.log(`FAIL: ${method} ${path}: ${r.status}`); }
    }
  }
  console.log(`ok: ${routed.size} paths routed by front.c, all in the document, each of its operations served`);
}

async function main() {
  const { SwaggerParser, Ajv2020 } = loadPackages();
  const text = readFileSync(docPath, 'utf8');
  await SwaggerParser.validate(JSON.parse(text)); // throws on any fault
  console.log(`ok: ${docPath} is valid OpenAPI ${JSON.parse(text).openapi}`);
  doc = await SwaggerParser.dereference(JSON.parse(text));
  ajv = new Ajv2020({ strict: false, allErrors: true });

  const a = await start('classifyd', ['--listen', '127.0.0.1:0', '--cost', '0', '--quiet']);
  const slow = await start('classifyd', ['--listen', '127.0.0.1:0', '--cost', '0.01', '--quiet']);
  const failing = await start('classifyd', ['--listen', '127.0.0.1:0', '--cost', '0', '--quiet', '--fail-rate', '1']);
  const url = (s) => `http://127.0.0.1:${s.port}`;
  const p1 = await start('batchproxy', ['--listen', '127.0.0.1:0', '--backend', url(a), '--max-length', '50',
    '--io-timeout', '1', '--rate-limit', '0.01', '--rate-burst', '100', '--metrics-cache-ms', '0',
    '--history-interval-ms', '20']);
  const clients = join(tmp, 'clients');
  writeFileSync(clients, '[alice]\nkey = 0123456789abcdef0123\n');
  const p2 = await start('batchproxy', ['--listen', '127.0.0.1:0', '--backend', url(a), '--clients', clients,
    '--admin-listen', '127.0.0.1:0']);
  const p3 = await start('batchproxy', ['--listen', '127.0.0.1:0', '--backend', url(failing), '--retries', '0']);
  const p4 = await start('batchproxy', ['--listen', '127.0.0.1:0', '--backend', url(slow)]);
  await Promise.all([waitReady(p1.port), waitReady(p2.port), waitReady(p3.port), waitReady(p4.port)]);
  const dead = await start('batchproxy', ['--listen', '127.0.0.1:0', '--backend', 'http://127.0.0.1:1']);

  const C = '/proxy_classify';
  const json = (body, headers = {}) => ({ body, headers });
  // 200s
  await check('one sequence', p1.port, 'POST', C, 200, json('{"sequence": "int x = 1;"}'));
  await check('several', p1.port, 'POST', C, 200, json('{"sequences": ["a", "for (;;) {}", ""]}', { 'X-Client-Id': 'bob', 'X-Timeout-Ms': '5000' }));
  await check('with its key', p2.port, 'POST', C, 200, json('{"sequence": "x"}', { Authorization: 'Bearer 0123456789abcdef0123' }));
  await historyHolds(p1.port, 'bob');
  for (const path of ['/healthz', '/readyz', '/metrics', '/stats', '/stats/history', '/dashboard', '/openapi.json'])
    for (const method of ['GET', 'HEAD']) await check('operations', p1.port, method, path, 200);
  for (const path of ['/metrics', '/stats', '/stats/history', '/dashboard', '/openapi.json'])
    await check('admin listener', p2.admin, 'GET', path, 200);
  const served = await check('client listener with --admin-listen', p2.port, 'GET', '/openapi.json', 200);
  if (JSON.stringify(JSON.parse(served.body)) !== JSON.stringify(JSON.parse(text))) {
    failures++;
    console.log('FAIL: GET /openapi.json is not docs/openapi.json');
  }
  // 4xx
  await check('not JSON', p1.port, 'POST', C, 400, json('{"sequence": '));
  await check('neither key', p1.port, 'POST', C, 400, json('{"text": "x"}'));
  await check('empty list', p1.port, 'POST', C, 400, json('{"sequences": []}'));
  await check('bad X-Client-Id', p1.port, 'POST', C, 400, json('{"sequence": "x"}', { 'X-Client-Id': 'a b' }));
  await check('bad X-Timeout-Ms', p1.port, 'POST', C, 400, json('{"sequence": "x"}', { 'X-Timeout-Ms': '-5' }));
  await check('malformed head', p1.port, 'GET', '/healthz', 400, {},
    await raw(p1.port, 'GET /healthz HTTP/1.1\r\nHost: a\r\nBad header\r\n\r\n'));
  await check('no key', p2.port, 'POST', C, 401, json('{"sequence": "x"}'));
  await check('unknown key', p2.port, 'POST', C, 401, json('{"sequence": "x"}', { Authorization: 'Bearer nope' }));
  await check('unknown path', p1.port, 'GET', '/nowhere', 404);
  await check('admin path on the client listener', p2.port, 'GET', '/metrics', 404);
  await check('admin path on the client listener', p2.port, 'GET', '/stats/history', 404);
  await check('GET the classifier', p1.port, 'GET', C, 405);
  await check('POST /healthz', p1.port, 'POST', '/healthz', 405, json('{}'));
  await check('DELETE /stats', p1.port, 'DELETE', '/stats', 405);
  await check('a head that never ends', p1.port, 'POST', C, 408, {},
    await raw(p1.port, 'POST /proxy_classify HTTP/1.1\r\nHost: a\r\n'));
  await check('too long', p1.port, 'POST', C, 413, json(JSON.stringify({ sequence: 'x'.repeat(51) })));
  await check('too large a body', p1.port, 'POST', C, 413, {},
    await raw(p1.port, 'POST /proxy_classify HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999\r\n\r\n'));
  await check('Expect', p1.port, 'POST', C, 417, json('{"sequence": "x"}', { Expect: 'something' }));
  let r;
  for (let i = 0; i < 102 && (r = await request(p1.port, 'POST', C, json('{"sequence": "x"}', { 'X-Client-Id': 'greedy' }))).status === 200; i++);
  await check('rate limit', p1.port, 'POST', C, 429, {}, r);
  await check('huge head', p1.port, 'GET', '/healthz', 431, { headers: { 'X-Big': 'b'.repeat(17000) } });
  // 5xx
  await check('unknown method', p1.port, 'FROB', '/healthz', 501);
  await check('backend fails', p3.port, 'POST', C, 502, json('{"sequence": "x"}'));
  await check('no backend', dead.port, 'GET', '/readyz', 503);
  await check('deadline passes', p4.port, 'POST', C, 504, json(JSON.stringify({ sequence: 'y'.repeat(20) }), { 'X-Timeout-Ms': '1500' }));
  await check('HTTP/2.0', p1.port, 'GET', '/healthz', 505, {},
    await raw(p1.port, 'GET /healthz HTTP/2.0\r\nHost: a\r\n\r\n'));
  // 503 when the queue can't make the deadline: the slow backend is busy.
  await check('deadline out of reach', p4.port, 'POST', C, 503,
    json(JSON.stringify({ sequences: Array.from({ length: 40 }, (_, i) => 'z'.repeat(20) + i) }), { 'X-Timeout-Ms': '100' }));

  await routes(p1, p2);
}

try {
  await main();
} catch (e) {
  failures++;
  console.log(`FAIL: ${e.stack || e}`);
  for (const ent of started) console.log(`--- ${ent.name} log:\n${ent.log.slice(-2000)}`);
} finally {
  await stopAll();
}
console.log(failures ? `${failures} failed` : 'all passed');
process.exit(failures ? 1 : 0);
