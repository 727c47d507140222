// The sandbox's runtime directory: a sanitized copy of /etc and a synthetic passwd per home.
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  cpSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isInside } from './paths.ts';
import { SANDBOX_GID } from './probe.ts';

/** /etc entries a sandbox sees (when they exist). Everything else in /etc is absent. */
const ETC_ALLOW = [
  'hosts',
  'host.conf',
  'resolv.conf',
  'nsswitch.conf',
  'gai.conf',
  'networks',
  'protocols',
  'services',
  'localtime',
  'timezone',
  'ld.so.cache',
  'ld.so.conf',
  'ld.so.conf.d',
  'alternatives',
  'ssl/certs',
  'ssl/openssl.cnf',
  'ca-certificates',
  'ca-certificates.conf',
  'pki/tls/certs',
  'pki/ca-trust/extracted',
  'crypto-policies',
  'mime.types',
  'magic',
  'magic.mime',
  'os-release',
  'lsb-release',
  'debian_version',
  'bash.bashrc',
  'profile',
  'inputrc',
  'locale.alias',
  'locale.conf',
  'terminfo',
  'ssh/ssh_config',
  'ssh/ssh_config.d',
  'ssh/ssh_known_hosts',
  'vim',
  'perl',
  'manpath.config',
];
/** Directory-name patterns under /etc that language runtimes need (python3.11, java-17-openjdk…). */
const ETC_ALLOW_PATTERN = /^(python3(\.\d+)?|java-\d+-openjdk|java|gitattributes)$/;

/**
 * The sandbox's /etc: copies of the ETC_ALLOW entries only (symlinks into /usr kept as links,
 * others dereferenced), a synthetic group file and a placeholder passwd (bound per home). Taken
 * once at start-up: host changes to these files reach sandboxes after a restart.
 */
export function buildEtc(runtimeDir: string, gid: number = SANDBOX_GID): string {
  const etc = path.join(runtimeDir, 'etc');
  mkdirSync(etc, { mode: 0o755 });
  const names = [...ETC_ALLOW];
  try {
    for (const n of readdirSync('/etc')) if (ETC_ALLOW_PATTERN.test(n)) names.push(n);
  } catch {
    // no /etc listing
  }
  for (const name of names) {
    const src = path.join('/etc', name);
    const dst = path.join(etc, name);
    try {
      const st = lstatSync(src);
      mkdirSync(path.dirname(dst), { recursive: true, mode: 0o755 });
      if (st.isSymbolicLink()) {
        const target = readlinkSync(src);
        if (isInside('/usr', path.resolve(path.dirname(src), target))) symlinkSync(target, dst);
        else cpSync(src, dst, { recursive: true, dereference: true });
      } else if (st.isDirectory()) {
        cpSync(src, dst, { recursive: true, verbatimSymlinks: true });
      } else if (st.isFile()) {
        copyFileSync(src, dst);
      }
    } catch {
      // absent or unreadable: the sandbox goes without it
    }
  }
  writeFileSync(path.join(etc, 'group'), `root:x:0:\nagent:x:${gid}:\nnogroup:x:65534:\n`, {
    mode: 0o644,
  });
  writeFileSync(path.join(etc, 'passwd'), '', { mode: 0o644 });
  writeFileSync(path.join(etc, 'hostname'), 'sandbox\n', { mode: 0o644 });
  symlinkSync('/proc/self/mounts', path.join(etc, 'mtab'));
  return etc;
}

/** Runtime files bound into sandboxes (synthetic passwd/group, the forwarder, the proxy socket). */
export function makeRuntimeDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'duyetbot-sbx-'));
  return realpathSync(dir);
}

function sha(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 16);
}

/**
 * Writes (once per home and user) the synthetic passwd bound at /etc/passwd; returns its path.
 * The agent's entry names the uid it really runs as (ssh and git want one for the current uid).
 */
export function passwdWriter(
  runtimeDir: string,
): (home: string, user: { uid: number; gid: number }) => string {
  const passwdFiles = new Map<string, string>();
  return (home, user) => {
    const key = `${home}\0${user.uid}:${user.gid}`;
    let f = passwdFiles.get(key);
    if (f) return f;
    f = path.join(runtimeDir, `passwd-${sha(key)}`);
    const h = home.replace(/[:\n]/g, '_');
    writeFileSync(
      f,
      `root:x:0:0:root:/root:/usr/sbin/nologin\nagent:x:${user.uid}:${user.gid}:agent:${h}:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`,
      { mode: 0o644 },
    );
    passwdFiles.set(key, f);
    return f;
  };
}
