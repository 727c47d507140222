// The deploy files are checked here, so `npm test` catches a broken one:
// - compose.yaml against the Compose Specification's JSON schema (the copy dclint ships);
// - deploy/k8s/*.yaml against the Kubernetes OpenAPI schemas (kubernetes-models' validators:
//   types, enums, required fields — like kubeconform without -strict, so unknown fields are not
//   caught by the schema; the fields that matter are asserted below);
// - railway.json against Railway's documented config-as-code fields (Railway publishes its schema
//   only on its web site, not in a package: this is our subset, strict about unknown keys);
// - fly.toml structurally (Fly publishes no schema): the keys Fly reads, and what must agree;
// and what must agree across them and with the image: the data path and its volume, the health
// probes (readiness where a traffic cut helps, liveness where only a restart would), kill and
// drain times, the sandbox's security options, the agent uid. The Dockerfile itself is linted by
// `npm run lint` (dockerfilelint).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv } from 'ajv';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { parse as parseToml } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { loadConfig } from '../../src/config.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const read = (p: string) => readFileSync(path.join(ROOT, p), 'utf8');
const DEFAULT_GRACE_MS = loadConfig({ DATA_DIR: '/tmp' }).shutdownGraceMs;
const AGENT_UID = 10001;

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => v as Obj;

/** Seconds of a Compose/Go duration such as "45s", "1m30s". */
function seconds(d: string): number {
  let total = 0;
  for (const [, n, unit] of d.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g))
    total += Number(n) * { ms: 0.001, s: 1, m: 60, h: 3600 }[unit as 'ms' | 's' | 'm' | 'h'];
  return total;
}

describe('compose.yaml', () => {
  const schema = JSON.parse(
    readFileSync(path.join(ROOT, 'node_modules/dclint/schemas/compose.schema.json'), 'utf8'),
  );
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false, validateSchema: false });
  const validate = ajv.compile(schema);
  const compose = obj(parseYaml(read('compose.yaml')));
  const services = obj(compose.services);
  const agent = obj(services.agent);

  it('is valid against the Compose Specification schema (which refuses unknown keys)', () => {
    expect(validate(compose), JSON.stringify(validate.errors, null, 2)).toBe(true);
    // the schema can fail: a misspelt key is refused
    expect(validate({ ...compose, services: { ...services, agent: { ...agent, securty_opt: [] } } })).toBe(
      false,
    );
  });

  it('runs the server with PostgreSQL and Redis, secrets from .env, a data volume, and a drain-length stop', () => {
    expect(Object.keys(services).sort()).toEqual(['agent', 'postgres', 'redis']);
    expect(agent.env_file).toEqual([{ path: '.env', required: true }]);
    expect(existsSync(path.join(ROOT, 'deploy/compose.env.example'))).toBe(true);
    const env = obj(agent.environment);
    expect(env.DATABASE_URL).toMatch(
      /^postgres:\/\/agent:\$\{POSTGRES_PASSWORD:\?[^}]+\}@postgres:5432\/agent$/,
    );
    expect(env.REDIS_URL).toBe('redis://redis:6379');
    expect(agent.volumes).toEqual([`agent-data:${env.DATA_DIR}`]);
    expect(seconds(String(agent.stop_grace_period)) * 1000).toBeGreaterThan(DEFAULT_GRACE_MS);
    expect(agent.depends_on).toEqual({
      postgres: { condition: 'service_healthy' },
      redis: { condition: 'service_healthy' },
    });
    for (const s of ['postgres', 'redis']) expect(obj(services[s]).healthcheck).toBeDefined();
  });

  it('gives the sandbox what it needs under Docker: the seccomp profile file, an unmasked /proc, no AppArmor mount ban', () => {
    expect(agent.security_opt).toEqual([
      'seccomp=./deploy/seccomp/bwrap.json',
      'systempaths=unconfined',
      'apparmor=unconfined',
    ]);
    expect(existsSync(path.join(ROOT, 'deploy/seccomp/bwrap.json'))).toBe(true);
    expect(agent).not.toHaveProperty('privileged');
    expect(agent).not.toHaveProperty('cap_add');
  });
});

describe('deploy/k8s', () => {
  const docs = readdirSync(path.join(ROOT, 'deploy/k8s'))
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) =>
      parseAllDocuments(read(`deploy/k8s/${f}`)).map((d) => {
        expect(d.errors, f).toEqual([]);
        return { file: f, doc: obj(d.toJS()) };
      }),
    );
  const models: Record<string, new (d: Obj) => { validate(): void }> = {
    'apps/v1/StatefulSet': StatefulSet as never,
    'v1/Service': Service as never,
    'v1/Secret': Secret as never,
  };
  const byKind = (kind: string) => docs.filter((d) => d.doc.kind === kind).map((d) => d.doc);

  it('every manifest is valid against the Kubernetes OpenAPI schema of its kind', () => {
    expect(docs.length).toBeGreaterThanOrEqual(4);
    for (const { file, doc } of docs) {
      const Model = models[`${doc.apiVersion}/${doc.kind}`];
      expect(Model, `${file}: ${doc.apiVersion} ${doc.kind} has no validator here`).toBeDefined();
      expect(() => new Model!(doc).validate(), file).not.toThrow();
    }
    // the validator can fail
    const [set] = byKind('StatefulSet');
    expect(() =>
      new StatefulSet({ ...set, spec: { ...obj(set!.spec), replicas: 'two' } } as never).validate(),
    ).toThrow();
  });

  it('a StatefulSet with a volume per instance, the probes in their places, and the sandbox’s security context', () => {
    const [set] = byKind('StatefulSet');
    const spec = obj(set!.spec);
    const pod = obj(obj(spec.template).spec);
    const [c] = pod.containers as Obj[];
    const env = Object.fromEntries(
      (c!.env as Array<{ name: string; value?: string }>).map((e) => [e.name, e]),
    );
    expect(spec.serviceName).toBe('duyetbot-agent-headless');
    expect((spec.volumeClaimTemplates as Obj[]).map((v) => obj(v.metadata).name)).toEqual(['data']);
    expect((c!.volumeMounts as Obj[]).find((m) => m.name === 'data')?.mountPath).toBe(env.DATA_DIR?.value);
    // readiness cuts traffic (database, disk, sandbox, draining); liveness only catches a wedged process
    expect(obj(obj(c!.readinessProbe).httpGet).path).toBe('/health/ready');
    expect(obj(obj(c!.livenessProbe).httpGet).path).toBe('/health/live');
    expect(obj(obj(c!.startupProbe).httpGet).path).toBe('/health/live');
    expect(Number(pod.terminationGracePeriodSeconds) * 1000).toBeGreaterThan(
      Number(env.SHUTDOWN_GRACE_MS?.value),
    );
    expect(obj(obj(env.INSTANCE_ID).valueFrom)).toEqual({ fieldRef: { fieldPath: 'metadata.name' } });
    expect(pod.hostUsers).toBe(false);
    expect(pod.securityContext).toMatchObject({
      runAsUser: AGENT_UID,
      runAsGroup: AGENT_UID,
      runAsNonRoot: true,
      fsGroup: AGENT_UID,
      seccompProfile: { type: 'Localhost', localhostProfile: 'profiles/duyetbot-bwrap.json' },
      appArmorProfile: { type: 'Unconfined' },
    });
    expect(c!.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      procMount: 'Unmasked',
    });
    // a read-only root: the writable places are volumes
    expect((c!.volumeMounts as Obj[]).map((m) => m.mountPath).sort()).toEqual([
      '/data',
      '/home/agent',
      '/tmp',
    ]);
  });

  it('PostgreSQL and Redis come by URL from the Secret; every key of it is a documented setting', () => {
    const [secret] = byKind('Secret');
    const keys = Object.keys(obj(secret!.stringData));
    expect(keys).toEqual(
      expect.arrayContaining(['DATABASE_URL', 'REDIS_URL', 'API_KEYS', 'ANTHROPIC_API_KEY']),
    );
    const readme = read('README.md');
    for (const k of keys) expect(readme, k).toContain(`\`${k}\``);
    const services = byKind('Service');
    expect(services.map((s) => obj(s.spec).clusterIP ?? 'ClusterIP')).toEqual(['ClusterIP', 'None']);
  });
});

describe('fly.toml', () => {
  const fly = parseToml(read('fly.toml')) as Obj;
  const KNOWN = new Set([
    'app',
    'primary_region',
    'kill_signal',
    'kill_timeout',
    'swap_size_mb',
    'console_command',
    'build',
    'deploy',
    'env',
    'http_service',
    'services',
    'mounts',
    'vm',
    'processes',
    'checks',
    'metrics',
    'statics',
    'files',
    'experimental',
    'restart',
  ]);

  it('uses only keys Fly reads', () => {
    expect(Object.keys(fly).filter((k) => !KNOWN.has(k))).toEqual([]);
    expect(typeof fly.app).toBe('string');
    expect(fly.kill_signal).toBe('SIGTERM');
  });

  it('a volume at /workspace as DATA_DIR, readiness checks, and a kill timeout longer than the drain', () => {
    const env = obj(fly.env);
    const mounts = fly.mounts as Obj[];
    expect(env.DATA_DIR).toBe('/workspace');
    expect(mounts).toEqual([{ source: 'workspace', destination: '/workspace' }]);
    expect(Number(fly.kill_timeout) * 1000).toBeGreaterThan(Number(env.SHUTDOWN_GRACE_MS));
    expect(Number(fly.kill_timeout)).toBeLessThanOrEqual(300); // Fly's maximum
    const http = obj(fly.http_service);
    expect(http.internal_port).toBe(Number(env.PORT));
    expect(http.auto_stop_machines).toBe('off');
    expect((http.checks as Obj[]).map((c) => c.path)).toEqual(['/health/ready']);
  });
});

describe('railway.json', () => {
  // Railway's config-as-code fields (docs: "Config as Code" reference), strict about unknown keys.
  const RAILWAY_SCHEMA = {
    type: 'object',
    additionalProperties: false,
    properties: {
      $schema: { type: 'string' },
      build: {
        type: 'object',
        additionalProperties: false,
        properties: {
          builder: { enum: ['RAILPACK', 'DOCKERFILE', 'NIXPACKS'] },
          dockerfilePath: { type: 'string' },
          buildCommand: { type: ['string', 'null'] },
          watchPatterns: { type: 'array', items: { type: 'string' } },
        },
      },
      deploy: {
        type: 'object',
        additionalProperties: false,
        properties: {
          startCommand: { type: ['string', 'null'] },
          preDeployCommand: { type: ['string', 'array', 'null'] },
          healthcheckPath: { type: ['string', 'null'] },
          healthcheckTimeout: { type: ['integer', 'null'], minimum: 1 },
          restartPolicyType: { enum: ['ON_FAILURE', 'ALWAYS', 'NEVER'] },
          restartPolicyMaxRetries: { type: 'integer', minimum: 0 },
          numReplicas: { type: 'integer', minimum: 1 },
          overlapSeconds: { type: 'integer', minimum: 0 },
          drainingSeconds: { type: 'integer', minimum: 0 },
          cronSchedule: { type: ['string', 'null'] },
          sleepApplication: { type: 'boolean' },
          region: { type: 'string' },
          multiRegionConfig: { type: 'object' },
        },
      },
    },
  };
  const railway = JSON.parse(read('railway.json')) as Obj;

  it('is valid against the documented config-as-code fields', () => {
    const validate = new Ajv({ allErrors: true }).compile(RAILWAY_SCHEMA);
    expect(validate(railway), JSON.stringify(validate.errors)).toBe(true);
    expect(validate({ ...railway, deploy: { healthcheckPth: '/' } })).toBe(false);
  });

  it('builds the Dockerfile, switches traffic only to a ready deployment, drains like the server', () => {
    expect(obj(railway.build)).toEqual({ builder: 'DOCKERFILE', dockerfilePath: 'Dockerfile' });
    const deploy = obj(railway.deploy);
    expect(deploy.healthcheckPath).toBe('/health/ready');
    expect(Number(deploy.drainingSeconds) * 1000).toBeGreaterThan(DEFAULT_GRACE_MS);
  });
});

describe('Dockerfile', () => {
  const text = read('Dockerfile');
  it('probes readiness, starts through the entry point that drops to the agent uid, and has no USER line', () => {
    expect(text).toMatch(/^HEALTHCHECK .*CMD \["node", "scripts\/healthcheck\.js"\]$/m);
    expect(text).toContain('ENTRYPOINT ["/usr/bin/tini", "--", "/app/scripts/docker-entrypoint.sh"]');
    expect(text).toContain('CMD ["node", "src/main.ts"]');
    expect(text).not.toMatch(/^USER /m);
    expect(text).toContain(`useradd --system --uid ${AGENT_UID} --gid agent`);
    expect(text).toContain(`groupadd --system --gid ${AGENT_UID} agent`);
    const entry = read('scripts/docker-entrypoint.sh');
    expect(entry).toContain(`AGENT_UID=${AGENT_UID}`);
    expect(entry).toContain(`AGENT_GID=${AGENT_UID}`);
    expect(text).toMatch(/^\s*DATA_DIR=\/data/m);
  });
});
