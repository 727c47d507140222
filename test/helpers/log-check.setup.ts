// Vitest setup file (vitest.config.ts): after each test file, fail it if a server it started wrote
// a log line that is not valid JSON or that contains a configured secret (test/helpers/log-check.ts).
import { afterAll } from 'vitest';
import { takeLogProblems } from './log-check.ts';

afterAll(() => {
  const { problems } = takeLogProblems();
  if (problems.length > 0)
    throw new Error(`log check failed (${problems.length}):\n${problems.slice(0, 20).join('\n')}`);
});
