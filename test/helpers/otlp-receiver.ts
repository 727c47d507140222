// An OTLP/HTTP trace receiver on loopback for tests: it checks requests as a collector would
// (POST to /v1/traces, Content-Type application/x-protobuf or application/json, a body that decodes)
// and keeps the spans, decoded from protobuf by the small wire-format reader below (no generated
// code: it reads the bytes the exporter really sent) or from OTLP/JSON.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  /** 1 internal, 2 server, 3 client. */
  kind: number;
  attributes: Record<string, unknown>;
  status: { code: number; message?: string };
  resource: Record<string, unknown>;
  startNs: bigint;
  endNs: bigint;
}

export interface OtlpReceiver {
  url: string;
  spans: ReceivedSpan[];
  /** Every request: its content type and whether it was accepted. */
  requests: Array<{ path: string; contentType: string; status: number }>;
  close(): Promise<void>;
}

// ---- protobuf wire format ---------------------------------------------------------------------

type Field = { no: number; wire: number; value: bigint | Uint8Array };

function* fields(buf: Uint8Array): Generator<Field> {
  let i = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (i >= buf.length) throw new Error('truncated varint');
      const b = buf[i++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (i < buf.length) {
    const tag = Number(varint());
    const no = tag >>> 3;
    const wire = tag & 7;
    if (wire === 0) yield { no, wire, value: varint() };
    else if (wire === 1 || wire === 5) {
      const n = wire === 1 ? 8 : 4;
      if (i + n > buf.length) throw new Error('truncated fixed');
      const view = new DataView(buf.buffer, buf.byteOffset + i, n);
      yield { no, wire, value: n === 8 ? view.getBigUint64(0, true) : BigInt(view.getUint32(0, true)) };
      i += n;
    } else if (wire === 2) {
      const len = Number(varint());
      if (i + len > buf.length) throw new Error('truncated bytes');
      yield { no, wire, value: buf.subarray(i, i + len) };
      i += len;
    } else throw new Error(`unsupported wire type ${wire}`);
  }
}

const bytes = (f: Field) => f.value as Uint8Array;
const text = (f: Field) => new TextDecoder().decode(bytes(f));
const hex = (f: Field) => Buffer.from(bytes(f)).toString('hex');

function anyValue(buf: Uint8Array): unknown {
  for (const f of fields(buf)) {
    switch (f.no) {
      case 1:
        return text(f);
      case 2:
        return f.value === 1n;
      case 3:
        return Number(BigInt.asIntN(64, f.value as bigint));
      case 4: {
        const dv = new DataView(new ArrayBuffer(8));
        dv.setBigUint64(0, f.value as bigint, true);
        return dv.getFloat64(0, true);
      }
      case 5:
        return [...fields(bytes(f))].filter((x) => x.no === 1).map((x) => anyValue(bytes(x)));
      default:
        return undefined;
    }
  }
  return undefined;
}

function keyValues(list: Field[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of list) {
    let key = '';
    let value: unknown;
    for (const f of fields(bytes(kv))) {
      if (f.no === 1) key = text(f);
      else if (f.no === 2) value = anyValue(bytes(f));
    }
    out[key] = value;
  }
  return out;
}

function decodeProtobuf(body: Uint8Array): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  for (const rs of fields(body)) {
    if (rs.no !== 1) continue;
    let resource: Record<string, unknown> = {};
    const scopeSpans: Uint8Array[] = [];
    for (const f of fields(bytes(rs))) {
      if (f.no === 1) resource = keyValues([...fields(bytes(f))].filter((x) => x.no === 1));
      else if (f.no === 2) scopeSpans.push(bytes(f));
    }
    for (const ss of scopeSpans) {
      for (const sf of fields(ss)) {
        if (sf.no !== 2) continue;
        const s: ReceivedSpan = {
          traceId: '',
          spanId: '',
          name: '',
          kind: 0,
          attributes: {},
          status: { code: 0 },
          resource,
          startNs: 0n,
          endNs: 0n,
        };
        const attrs: Field[] = [];
        for (const f of fields(bytes(sf))) {
          if (f.no === 1) s.traceId = hex(f);
          else if (f.no === 2) s.spanId = hex(f);
          else if (f.no === 4 && bytes(f).length > 0) s.parentSpanId = hex(f);
          else if (f.no === 5) s.name = text(f);
          else if (f.no === 6) s.kind = Number(f.value);
          else if (f.no === 7) s.startNs = f.value as bigint;
          else if (f.no === 8) s.endNs = f.value as bigint;
          else if (f.no === 9) attrs.push(f);
          else if (f.no === 15)
            for (const st of fields(bytes(f))) {
              if (st.no === 2) s.status.message = text(st);
              if (st.no === 3) s.status.code = Number(st.value);
            }
        }
        s.attributes = keyValues(attrs);
        spans.push(s);
      }
    }
  }
  return spans;
}

// ---- OTLP/JSON -------------------------------------------------------------------------------

type JsonAny = {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number;
  arrayValue?: { values?: JsonAny[] };
};
type JsonKv = { key: string; value: JsonAny };

function jsonValue(v: JsonAny): unknown {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(jsonValue);
  return undefined;
}

const jsonAttrs = (list: JsonKv[] | undefined) =>
  Object.fromEntries((list ?? []).map((kv) => [kv.key, jsonValue(kv.value)]));

function decodeJson(body: string): ReceivedSpan[] {
  const req = JSON.parse(body) as {
    resourceSpans?: Array<{
      resource?: { attributes?: JsonKv[] };
      scopeSpans?: Array<{
        spans?: Array<{
          traceId: string;
          spanId: string;
          parentSpanId?: string;
          name: string;
          kind: number;
          startTimeUnixNano: string;
          endTimeUnixNano: string;
          attributes?: JsonKv[];
          status?: { code?: number; message?: string };
        }>;
      }>;
    }>;
  };
  const out: ReceivedSpan[] = [];
  for (const rs of req.resourceSpans ?? []) {
    const resource = jsonAttrs(rs.resource?.attributes);
    for (const ss of rs.scopeSpans ?? [])
      for (const s of ss.spans ?? [])
        out.push({
          traceId: s.traceId,
          spanId: s.spanId,
          ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
          name: s.name,
          kind: s.kind,
          attributes: jsonAttrs(s.attributes),
          status: { code: s.status?.code ?? 0, ...(s.status?.message ? { message: s.status.message } : {}) },
          resource,
          startNs: BigInt(s.startTimeUnixNano),
          endNs: BigInt(s.endTimeUnixNano),
        });
  }
  return out;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const requests: OtlpReceiver['requests'] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const contentType = String(req.headers['content-type'] ?? '')
        .split(';')[0]!
        .trim();
      const answer = (status: number, body = '') => {
        requests.push({ path: req.url ?? '', contentType, status });
        res.writeHead(status, { 'Content-Type': contentType || 'text/plain' }).end(body);
      };
      if (req.method !== 'POST') return answer(405);
      if (req.url !== '/v1/traces') return answer(404);
      const body = Buffer.concat(chunks);
      try {
        if (contentType === 'application/x-protobuf') spans.push(...decodeProtobuf(new Uint8Array(body)));
        else if (contentType === 'application/json') spans.push(...decodeJson(body.toString('utf8')));
        else return answer(415);
      } catch {
        return answer(400);
      }
      // An empty ExportTraceServiceResponse: no bytes in protobuf, `{}` in JSON.
      answer(200, contentType === 'application/json' ? '{}' : '');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
