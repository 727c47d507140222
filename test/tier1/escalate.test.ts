// shouldEscalate on a table of labelled messages: the seed's "When to Use" (quick Q&A and greetings
// stay on Tier 1; complex research, code generation with testing, multi-step workflows go to Tier 2)
// and its four routing rules. Each escalating row names the rules that must fire.

import {
  COMPLEXITY_THRESHOLD,
  complexityScore,
  type EscalationContext,
  type EscalationRule,
  extractRepo,
  shouldEscalate,
  type WorkflowType,
} from '@duyetbot/tier1';
import { describe, expect, it } from 'vitest';

interface Row {
  message: string;
  context?: EscalationContext;
  /** false: stays on Tier 1; otherwise the rules that must be among the reasons. */
  escalate: false | EscalationRule[];
  type?: WorkflowType;
  repo?: string;
}

const STAY: Row[] = [
  { message: 'hi', escalate: false },
  { message: 'Hello there!', escalate: false },
  { message: 'thanks!', escalate: false },
  { message: 'good morning 👋', escalate: false },
  { message: 'ok cool, bye', escalate: false },
  { message: 'What is a closure in JavaScript?', escalate: false },
  { message: "What's the difference between let and const?", escalate: false },
  { message: 'how do I fix a failing jest test?', escalate: false },
  { message: 'How do I run the test suite of a Go project?', escalate: false },
  { message: 'explain big-O notation briefly', escalate: false },
  { message: 'write a haiku about rust', escalate: false },
  { message: 'write a python function that reverses a string', escalate: false },
  { message: "translate 'good night' to Vietnamese", escalate: false },
  { message: 'what time is it in Hanoi?', escalate: false },
  { message: 'is node.js single threaded?', escalate: false },
  { message: 'can you explain what a git rebase does?', escalate: false },
  { message: 'How do I install node.js on Ubuntu?', escalate: false },
  { message: 'what does HTTP 429 mean?', escalate: false },
  { message: 'tell me a joke', escalate: false },
  { message: "what's 15% of 240?", escalate: false },
  { message: 'summarize this sentence: the cat sat on the mat', escalate: false },
  { message: 'why is my coffee cold?', escalate: false },
  { message: '/quick refactor my whole codebase in acme/api', escalate: false },
  { message: '@duyetbot thanks!', context: { repo: 'acme/api' }, escalate: false },
  { message: 'What is the best way to research a new market?', escalate: false },
];

const ESCALATE: Row[] = [
  {
    message: 'fix the failing test in owner/repo',
    escalate: ['filesystem'],
    type: 'custom',
    repo: 'owner/repo',
  },
  {
    message: 'please refactor the auth module in acme/api to use async/await',
    escalate: ['filesystem'],
    type: 'refactor',
    repo: 'acme/api',
  },
  {
    message: 'run the test suite on acme/widgets and tell me what fails',
    escalate: ['filesystem', 'extended_time'],
    type: 'test',
    repo: 'acme/widgets',
  },
  {
    message: 'Can you add a README to https://github.com/acme/site?',
    escalate: ['filesystem'],
    repo: 'acme/site',
  },
  {
    message: 'bump all dependencies in acme/api and make sure the build passes',
    escalate: ['filesystem'],
    repo: 'acme/api',
  },
  { message: 'update src/config.ts to read PORT from the environment', escalate: ['filesystem'] },
  {
    message: 'research the best approach to rate limiting in distributed systems and write a report',
    escalate: ['extended_time'],
    type: 'analysis',
  },
  { message: 'do a deep dive into how our billing service handles retries', escalate: ['extended_time'] },
  { message: '/long summarize the history of the project', escalate: ['explicit'] },
  {
    message: 'in long-running mode, review acme/api for security issues',
    escalate: ['explicit', 'filesystem'],
    type: 'analysis',
    repo: 'acme/api',
  },
  {
    message: 'take your time and investigate why the nightly build is flaky',
    escalate: ['explicit', 'extended_time'],
  },
  { message: 'review PR #12 in acme/api', escalate: ['filesystem'], type: 'analysis', repo: 'acme/api' },
  {
    message: 'benchmark the JSON parser in acme/fastjson against simdjson',
    escalate: ['filesystem', 'extended_time'],
    type: 'analysis',
  },
  { message: 'migrate the project from webpack to vite', escalate: ['filesystem'], type: 'refactor' },
  { message: 'implement pagination for the /users endpoint', escalate: ['filesystem'], type: 'custom' },
  {
    message: '1. clone acme/app\n2. upgrade react to 19\n3. fix the type errors\n4. open a PR',
    escalate: ['complexity', 'filesystem'],
    repo: 'acme/app',
  },
  {
    message:
      'fix this crash in acme/api:\nTypeError: Cannot read properties of undefined\n    at parse (src/parse.js:10:5)\n    at main (src/index.js:3:1)',
    escalate: ['filesystem'],
    repo: 'acme/api',
  },
  { message: 'deploy acme/site to staging', escalate: ['filesystem'], type: 'deploy', repo: 'acme/site' },
  { message: 'audit every file in the repo for hard-coded secrets', escalate: ['extended_time'] },
  { message: 'write unit tests for my parser', escalate: ['filesystem'], type: 'test' },
  { message: 'run `npm test` and fix whatever fails', escalate: ['filesystem'] },
  {
    message: '@duyetbot fix this',
    context: { repo: 'acme/api' },
    escalate: ['filesystem'],
    repo: 'acme/api',
  },
  {
    message: "summarize yesterday's discussion",
    context: { longRunningMode: true },
    escalate: ['explicit'],
  },
  {
    message: 'Compare the performance of Postgres and SQLite for our workload in depth, with benchmarks',
    escalate: ['extended_time'],
    type: 'analysis',
  },
  {
    message:
      'Design the architecture for a multi-tenant billing system. First sketch the data model, then the ' +
      'API, then the migration plan from the current single-tenant setup, and finally the rollout steps ' +
      'across multiple services.',
    escalate: ['complexity'],
  },
  {
    message: "let me know when it's done: upgrade node to 24 in acme/ci",
    escalate: ['explicit', 'filesystem'],
    repo: 'acme/ci',
  },
  { message: 'in the background, clean up the old branches of acme/api', escalate: ['explicit'] },
  { message: 'Please open a pull request that fixes the typo in the README', escalate: ['filesystem'] },
];

describe('shouldEscalate: the labelled table', () => {
  it('has at least 40 rows, both labels well represented', () => {
    expect(STAY.length + ESCALATE.length).toBeGreaterThanOrEqual(40);
    expect(STAY.length).toBeGreaterThanOrEqual(15);
    expect(ESCALATE.length).toBeGreaterThanOrEqual(15);
  });

  for (const row of [...STAY, ...ESCALATE]) {
    it(`${row.escalate === false ? 'stays' : 'escalates'}: ${JSON.stringify(row.message).slice(0, 80)}`, () => {
      const d = shouldEscalate(row.message, row.context);
      const rules = d.reasons.map((r) => r.rule);
      if (row.escalate === false) {
        expect(d.escalate, `reasons: ${JSON.stringify(d.reasons)}`).toBe(false);
        expect(d.reasons).toEqual([]);
      } else {
        expect(d.escalate).toBe(true);
        for (const rule of row.escalate) expect(rules, JSON.stringify(d.reasons)).toContain(rule);
        for (const r of d.reasons) expect(r.evidence.length).toBeGreaterThan(0);
      }
      if (row.type) expect(d.type).toBe(row.type);
      if (row.repo) expect(d.repo).toBe(row.repo);
    });
  }
});

describe('shouldEscalate: details', () => {
  it('strips the command from the instructions and keeps the rest verbatim', () => {
    expect(shouldEscalate('/long fix the bug in acme/api').instructions).toBe('fix the bug in acme/api');
    expect(shouldEscalate('/agent@duyetbot check acme/x').instructions).toBe('check acme/x');
    expect(shouldEscalate('/quick what is 2+2').instructions).toBe('what is 2+2');
  });

  it('an explicit request wins over small talk', () => {
    expect(shouldEscalate('/long hi').escalate).toBe(true);
    expect(shouldEscalate('hi').escalate).toBe(false);
  });

  it('the complexity score adds up as documented', () => {
    expect(complexityScore('hi')).toBe(0);
    expect(complexityScore('- a\n- b\n- c')).toBe(2);
    expect(complexityScore('first this, then that')).toBe(1);
    expect(complexityScore('```\nx\n```')).toBe(1);
    expect(complexityScore(`\`\`\`\n${'line\n'.repeat(20)}\`\`\``)).toBe(2);
    expect(complexityScore(`${'word '.repeat(81)}`)).toBe(1);
    expect(complexityScore(`${'word '.repeat(201)}`)).toBe(2);
    expect(complexityScore('architecture, migration, end-to-end')).toBe(2);
    const big = `- migrate the db\n- then redesign the api\n- finally deploy\n\`\`\`\n${'x\n'.repeat(20)}\`\`\``;
    expect(complexityScore(big)).toBeGreaterThanOrEqual(COMPLEXITY_THRESHOLD);
  });

  it('extracts repositories and not file paths', () => {
    expect(extractRepo('fix it in acme/api please')).toBe('acme/api');
    expect(extractRepo('see https://github.com/acme/api.git')).toBe('acme/api');
    expect(extractRepo('see git@github.com:acme/api.git')).toBe('acme/api');
    expect(extractRepo('fix the test in owner/repo.')).toBe('owner/repo');
    expect(extractRepo('update the file in src/index.ts')).toBeUndefined();
    expect(extractRepo('look in src/lib/util')).toBeUndefined();
    expect(extractRepo('fix src/parser now')).toBeUndefined();
    expect(extractRepo('review acme/api for leaks')).toBe('acme/api');
    expect(extractRepo('is it input and/or output')).toBeUndefined();
    expect(extractRepo('no repo here')).toBeUndefined();
  });

  it('the context repo is used when the message names none', () => {
    expect(shouldEscalate('refactor the parser', { repo: 'acme/x' }).repo).toBe('acme/x');
    expect(shouldEscalate('refactor the parser in acme/y', { repo: 'acme/x' }).repo).toBe('acme/y');
  });
});
