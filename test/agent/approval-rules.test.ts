// The approval rules (docs/api.md §10) against both engines' tool names and inputs: one table.
import { describe, expect, it } from 'vitest';
import {
  classifyToolCall,
  commandMatches,
  matchApprovalRule,
  mentionsGitPush,
  simpleCommands,
} from '../../src/agent/approval-rules.ts';

const ALL = ['shell', 'write', 'git.push', 'github', 'mcp'] as const;

/** [engine tool name, input, the single-word rules it matches]. */
const TABLE: Array<[string, unknown, string[]]> = [
  // native engine (docs/api.md §9)
  ['bash', { command: 'npm test' }, ['shell']],
  ['bash', { command: 'git push origin main' }, ['shell', 'git.push']],
  ['bash', {}, ['shell']],
  ['fs', { operation: 'read', path: 'a' }, []],
  ['fs', { operation: 'list', path: '.' }, []],
  ['fs', { operation: 'search', path: '.', pattern: 'x' }, []],
  ['fs', { operation: 'write', path: 'a', content: 'x' }, ['write']],
  ['fs', { operation: 'edit', path: 'a', oldString: 'x', newString: 'y' }, ['write']],
  ['fs', { operation: 'delete', path: 'a' }, ['write']],
  ['fs', { operation: 'move', path: 'a', destination: 'b' }, ['write']],
  ['fs', { operation: 'copy', path: 'a', destination: 'b' }, ['write']],
  ['git', { operation: 'push' }, ['git.push']],
  ['git', { operation: 'commit', message: 'push it' }, []],
  ['git', { operation: 'pull' }, []],
  ['gh', { operation: 'pr_create', title: 't' }, ['github']],
  ['gh', { operation: 'pr_comment', number: 1, body: 'b' }, ['github']],
  ['gh', { operation: 'issue_comment', number: 1, body: 'b' }, ['github']],
  ['gh', { operation: 'pr_view', number: 1 }, []],
  ['gh', { operation: 'pr_list' }, []],
  ['gh', { operation: 'issue_view', number: 1 }, []],
  ['gh', { operation: 'some_future_write' }, ['github']],
  ['mcp__memory__save', { text: 'x' }, ['mcp']],
  // claude-code engine: its own tools
  ['Bash', { command: 'ls -la', description: 'list' }, ['shell']],
  ['Bash', { command: 'git -C repo push --force', description: 'push' }, ['shell', 'git.push']],
  ['Read', { file_path: '/w/a' }, []],
  ['Glob', { pattern: '*.ts' }, []],
  ['Grep', { pattern: 'x' }, []],
  ['Write', { file_path: '/w/a', content: 'x' }, ['write']],
  ['Edit', { file_path: '/w/a', old_string: 'x', new_string: 'y' }, ['write']],
  ['MultiEdit', { file_path: '/w/a', edits: [] }, ['write']],
  ['NotebookEdit', { notebook_path: '/w/a.ipynb', new_source: '' }, ['write']],
  ['TodoWrite', { todos: [] }, []],
  ['Agent', { prompt: 'x' }, []],
  // claude-code engine: the server's tools over the MCP bridge
  ['mcp__server__git', { operation: 'push' }, ['git.push']],
  ['mcp__server__git', { operation: 'status' }, []],
  ['mcp__server__gh', { operation: 'pr_create', title: 't' }, ['github']],
  ['mcp__server__gh', { operation: 'pr_view', number: 2 }, []],
  ['mcp__server__mcp__memory__save', { text: 'x' }, ['mcp']],
  ['mcp__server__bash', { command: 'rm x' }, ['shell']],
  ['mcp__server__fs', { operation: 'write', path: 'a', content: '' }, ['write']],
  ['mcp__other__tool', {}, ['mcp']],
  // odd inputs never throw
  ['git', null, []],
  ['fs', 'write', []],
];

describe('approval rules', () => {
  it.each(TABLE)('%s %j matches %j (and * always)', (name, input, expected) => {
    for (const rule of ALL) {
      expect(matchApprovalRule([rule], name, input), `${name} ${rule}`).toBe(
        expected.includes(rule) ? rule : undefined,
      );
    }
    expect(matchApprovalRule(['*'], name, input)).toBe('*');
  });

  it('no rules: nothing asks; the first matching rule of the list is reported', () => {
    expect(matchApprovalRule([], 'bash', { command: 'rm -rf /' })).toBeUndefined();
    const rules = ['write', 'shell:git *', 'git.push', '*'];
    expect(matchApprovalRule(rules, 'bash', { command: 'git push' })).toBe('shell:git *');
    expect(matchApprovalRule(rules, 'git', { operation: 'push' })).toBe('git.push');
    expect(matchApprovalRule(rules, 'Read', { file_path: 'x' })).toBe('*');
    expect(matchApprovalRule(['git.push'], 'Read', {})).toBeUndefined();
  });

  it('shell:<glob> matches Bash and bash commands by their text', () => {
    expect(matchApprovalRule(['shell:rm *'], 'bash', { command: 'rm -rf build' })).toBe('shell:rm *');
    expect(matchApprovalRule(['shell:rm *'], 'Bash', { command: 'rm -rf build' })).toBe('shell:rm *');
    expect(matchApprovalRule(['shell:rm *'], 'bash', { command: 'npm rm lodash' })).toBeUndefined();
    expect(matchApprovalRule(['shell:rm *'], 'fs', { operation: 'delete', path: 'rm x' })).toBeUndefined();
  });
});

describe('shell:<glob> semantics', () => {
  const cases: Array<[glob: string, command: string, matches: boolean]> = [
    ['rm *', 'rm -rf /tmp/x', true], // `*` crosses spaces and slashes
    ['rm *', 'rm', false], // `rm *` needs the space
    ['rm*', 'rm', true],
    ['rm *', 'RM -rf x', false], // case-sensitive
    ['npm test', 'npm test', true],
    ['npm test', 'npm test --watch', false], // anchored
    ['npm ?est', 'npm best', true],
    ['npm ?est', 'npm tst', false],
    ['git [pc]*', 'git push', true],
    ['git [pc]*', 'git status', false],
    ['git [!s]*', 'git status', false],
    ['git [!s]*', 'git push', true],
    ['echo \\*', 'echo *', true],
    ['echo \\*', 'echo hi', false],
    ['a.b', 'axb', false], // regex characters are literal
    ['(x)', '(x)', true],
    ['a[', 'a[', true], // an unclosed class is a literal
    ['*', '', true],
    // what an agent would write to slip past `shell:rm *`
    ['rm *', '  rm -rf x  ', true],
    ['rm *', 'true && rm -rf x', true],
    ['rm *', 'ls; rm -rf x', true],
    ['rm *', 'ls || rm -rf x', true],
    ['rm *', 'ls | rm -rf x', true],
    ['rm *', 'ls\nrm -rf x', true],
    ['rm *', 'echo $(rm -rf x)', true],
    ['rm *', 'echo `rm -rf x`', true],
    ['rm *', '(rm -rf x)', true],
    ['rm *', '{ rm -rf x; }', true],
    ['rm *', 'sleep 1 & rm -rf x', true],
    ['rm *', '/bin/rm -rf x', true],
    ['rm *', 'FOO=1 rm -rf x', true],
    ['rm *', 'sudo rm -rf x', true],
    ['rm *', 'env A=b nohup rm -rf x', true],
    ['rm *', 'find . | xargs rm -f', true],
  ];
  it.each(cases)('%j on %j → %s', (glob, command, matches) => {
    expect(commandMatches(glob, command)).toBe(matches);
  });

  it('splits a command line into its simple commands, normalised', () => {
    expect(simpleCommands('A=1 /usr/bin/git -C x push && echo ok')).toEqual([
      'A=1 /usr/bin/git -C x push',
      'git -C x push',
      'echo ok',
    ]);
  });

  it('git push in a shell command errs towards asking', () => {
    for (const c of [
      'git push',
      'git push origin HEAD:main',
      'cd repo && git push',
      '/usr/bin/git push',
      'git -c alias.p=push p',
      'git config alias.p push && git p',
      'GIT_DIR=x git --git-dir=y push',
    ])
      expect(mentionsGitPush(c), c).toBe(true);
    for (const c of ['git status', 'git commit -m fix', 'echo push', 'npm run push-docs', 'legit push'])
      expect(mentionsGitPush(c), c).toBe(false);
    expect(classifyToolCall('bash', { command: 'git push' })).toMatchObject({
      shell: 'git push',
      gitPush: true,
    });
  });
});
