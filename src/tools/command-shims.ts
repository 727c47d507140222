// `git` and `gh` as the model's shell sees them inside the sandbox. Its commands have no network
// (only the allowlisted hosts, and never the GitHub credentials), so `git push`, `git clone` of a
// network URL and `gh pr create` cannot work there — and a model that tries them would otherwise
// get a proxy error that says nothing about what to do instead. These small programs, bound at
// /run/duyetbot/bin ahead of /usr/bin on PATH, refuse those commands with a message naming the
// server tool that does them (`git`/`gh` for the native engine, `mcp__server__git`/`mcp__server__gh`
// for Claude Code). Everything else runs the real git untouched: local commits, diffs, and pushes to
// a local repository inside the workspace.
//
// They are a signpost, not a boundary: the boundary is the sandbox's network policy. A command that
// calls /usr/bin/git directly simply fails as before.
import type { ProcessSpec } from '../sandbox/types.ts';

export const SHIM_DIR = '/run/duyetbot/bin';

export type ShimEngine = 'native' | 'claude-code';

export function toolNames(engine: ShimEngine): { git: string; gh: string } {
  return engine === 'native' ? { git: 'git', gh: 'gh' } : { git: 'mcp__server__git', gh: 'mcp__server__gh' };
}

/** The message a refused command prints (also used by tests and the prompts). */
export function networkGitMessage(engine: ShimEngine, sub: string): string {
  const { git } = toolNames(engine);
  const op = sub === 'fetch' || sub === 'ls-remote' ? 'pull' : sub;
  return (
    `git ${sub} cannot reach the network from this sandbox, and the server's GitHub credentials are ` +
    `never inside it. Use the \`${git}\` tool instead (operation "${op}"): the server runs it with ` +
    'network and credentials. Local git commands (status, add, commit, diff, log, branch) work here.'
  );
}

export function ghMessage(engine: ShimEngine): string {
  const { gh } = toolNames(engine);
  return (
    `The gh CLI is not available in this sandbox. Use the \`${gh}\` tool instead (operations pr_create, ` +
    'pr_view, pr_list, pr_comment, issue_comment, issue_view); it calls the GitHub API with the ' +
    "server's credentials. Push the branch first with the git tool."
  );
}

/**
 * The git shim: sh for the fast path (every subcommand but the network ones), node for judging
 * where a push/fetch/pull/clone/ls-remote would go (a local repository is allowed).
 */
function gitShim(engine: ShimEngine): string {
  const messages = JSON.stringify(
    Object.fromEntries(
      ['push', 'fetch', 'pull', 'clone', 'ls-remote'].map((s) => [s, networkGitMessage(engine, s)]),
    ),
  );
  return `#!/bin/sh
# duyetbot: git's network commands go through the server's git tool (see the message below).
real=
for d in /usr/bin /usr/local/bin /bin; do [ -x "$d/git" ] && { real="$d/git"; break; }; done
[ -n "$real" ] || { echo "git: not installed" >&2; exit 127; }
skip=
for a in "$@"; do
  if [ -n "$skip" ]; then skip=; continue; fi
  case "$a" in
    -C|-c|--git-dir|--work-tree|--namespace|--exec-path|--config-env) skip=1 ;;
    -*) ;;
    push|fetch|pull|clone|ls-remote) exec node -e "$DUYETBOT_GIT_NET" "$real" "$@" ;;
    *) break ;;
  esac
done
exec "$real" "$@"
`.replace('"$DUYETBOT_GIT_NET"', `'${gitNetJs(messages).replace(/'/g, `'"'"'`)}'`);
}

/** Node program: is the push/fetch/pull/clone target a network remote? (argv: real git, git args) */
function gitNetJs(messages: string): string {
  return `
const { spawnSync } = require('node:child_process');
const [real, ...args] = process.argv.slice(1);
const messages = ${messages};
const globals = []; let i = 0;
for (; i < args.length; i++) {
  const a = args[i];
  if (['-C', '-c', '--git-dir', '--work-tree', '--namespace', '--exec-path', '--config-env'].includes(a)) { globals.push(a, args[++i]); continue; }
  if (a.startsWith('-')) { globals.push(a); continue; }
  break;
}
const sub = args[i];
const rest = args.slice(i + 1);
const withValue = new Set(['-o', '--push-option', '--receive-pack', '--upload-pack', '--exec', '--repo', '-b', '--branch', '--origin', '--depth', '--reference', '--separate-git-dir', '--template', '-j', '--jobs', '--filter', '-c', '--config', '--server-option']);
const positional = [];
for (let k = 0; k < rest.length; k++) {
  const a = rest[k];
  if (a === '--') { positional.push(...rest.slice(k + 1)); break; }
  if (withValue.has(a)) { k++; continue; }
  if (a.startsWith('-')) continue;
  positional.push(a);
}
const isLocal = (u) => u.startsWith('/') || u.startsWith('./') || u.startsWith('../') || u === '.' || u === '..' || /^file:/i.test(u) || !/[:@]/.test(u);
const git = (...a) => spawnSync(real, [...globals, ...a], { encoding: 'utf8' });
let urls;
if (sub === 'clone') urls = positional.slice(0, 1);
else {
  let remote = positional[0];
  if (!remote) {
    const b = git('symbolic-ref', '--quiet', '--short', 'HEAD').stdout.trim();
    remote = (b && git('config', 'branch.' + b + '.remote').stdout.trim()) || 'origin';
  }
  const r = git('remote', 'get-url', '--all', ...(sub === 'push' ? ['--push'] : []), remote);
  urls = r.status === 0 ? r.stdout.split('\\n').filter(Boolean) : [remote];
}
if (urls.length > 0 && urls.every(isLocal)) {
  const r = spawnSync(real, args, { stdio: 'inherit' });
  process.exit(r.status === null ? 1 : r.status);
}
process.stderr.write(messages[sub] + '\\n');
process.exit(1);
`;
}

function ghShim(engine: ShimEngine): string {
  return `#!/bin/sh
# duyetbot: GitHub operations go through the server's gh tool.
cat >&2 <<'EOF'
${ghMessage(engine)}
EOF
exit 1
`;
}

/** The files to bind (executable) and the PATH that puts them first. */
export function commandShims(engine: ShimEngine): NonNullable<ProcessSpec['files']> {
  return [
    { dest: `${SHIM_DIR}/git`, content: gitShim(engine), executable: true },
    { dest: `${SHIM_DIR}/gh`, content: ghShim(engine), executable: true },
  ];
}

/** `PATH` with the shim directory first (harmless where no shims are bound: SANDBOX=none). */
export function withShimPath(path: string | undefined): string {
  const rest = (path ?? '').split(':').filter((d) => d && d !== SHIM_DIR);
  return [SHIM_DIR, ...rest].join(':');
}
