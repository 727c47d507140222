import { describe, expect, it } from 'vitest';
import { RunScope } from '../../src/tools/run-scope.ts';

describe('RunScope', () => {
  it('makes a resource once per key and disposes everything on close, newest first', async () => {
    const scope = new RunScope();
    const order: string[] = [];
    let made = 0;
    const a1 = scope.use(
      'a',
      () => ({ n: ++made }),
      () => void order.push('a'),
    );
    const a2 = scope.use(
      'a',
      () => ({ n: ++made }),
      () => void order.push('a-again'),
    );
    scope.use(
      'b',
      () => 'b',
      () => {
        order.push('b');
        throw new Error('a failing dispose does not stop the others');
      },
    );
    expect(a1).toBe(a2);
    expect(made).toBe(1);
    await scope.close();
    expect(order).toEqual(['b', 'a']);
    await scope.close();
    expect(order).toEqual(['b', 'a']);
  });

  it('refuses new resources once the run has ended', async () => {
    const scope = new RunScope();
    await scope.close();
    expect(scope.isClosed).toBe(true);
    expect(() =>
      scope.use(
        'x',
        () => 1,
        () => {},
      ),
    ).toThrow(/run has ended/);
  });
});
