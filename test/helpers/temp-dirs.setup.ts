// Vitest setup file (vitest.config.ts): after each test file, the directories test/helpers/temp-dir.ts
// made for it are removed (after the file's own hooks: setup files' after-hooks run last).
import { afterAll } from 'vitest';
import { removeTempDirs } from './temp-dir.ts';

afterAll(removeTempDirs);
