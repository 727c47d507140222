import { describe, expect, it } from 'vitest';
import { OutputCap } from '../../src/sandbox/output-cap.ts';

describe('OutputCap', () => {
  it('keeps everything under the limit', () => {
    const cap = new OutputCap(100);
    cap.push('hello ');
    cap.push('world');
    expect(cap.toString()).toBe('hello world');
    expect(cap.truncated).toBe(false);
  });

  it('keeps head and tail and counts the cut bytes', () => {
    const cap = new OutputCap(10);
    for (let i = 0; i < 1000; i++) cap.push(String(i % 10));
    const out = cap.toString();
    expect(out.startsWith('01234')).toBe(true);
    expect(out.endsWith('56789')).toBe(true);
    expect(out).toContain('…[truncated 990 bytes]…');
    expect(cap.truncated).toBe(true);
  });

  it('stays bounded for huge input and never splits surrogate pairs', () => {
    const cap = new OutputCap(1000);
    const chunk = '😀'.repeat(5000);
    for (let i = 0; i < 2000; i++) cap.push(chunk);
    const out = cap.toString();
    expect(out.length).toBeLessThan(1100);
    expect(out).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/);
  });
});
