// A session's stored events, fetched as pages over HTTP before the live subscription takes over.
// Seqs have no gaps (docs/api.md §7): once the session's last seq is known (from the session
// itself, fetched at the same time, or from the first page), every page (`after` = 0, 1000, 2000,
// …) is fetched side by side, so a run of thousands of events arrives in about one round trip
// instead of one WebSocket frame after another. Pages are applied strictly in order; if one fails,
// the rest is left to the subscription, which resumes after the last seq applied.
import { api } from './api.ts';
import type { Event } from './types.ts';

const PAGE = 1000;
const PARALLEL = 4;

interface EventPage {
  items: Event[];
  lastSeq: number;
}

/**
 * Feeds the stored events after `after` to `apply`, in seq order; resolves with the last seq the
 * session had. `lastSeqHint` (the session's lastSeq, when it comes first) lets later pages start early.
 */
export async function loadHistory(
  sessionId: string,
  after: number,
  apply: (events: Event[]) => void,
  cancelled: () => boolean,
  lastSeqHint?: Promise<number>,
): Promise<number> {
  const pages = new Map<number, Promise<EventPage>>();
  let inFlight = 0;
  /** The next page to fetch ahead, and the highest seq the session is known to have. */
  let nextAfter = after + PAGE;
  let known = 0;
  const fetchPage = (a: number) => {
    if (pages.has(a)) return;
    inFlight++;
    const p = api<EventPage>(
      'GET',
      `/api/sessions/${encodeURIComponent(sessionId)}/events?after=${a}&limit=${PAGE}`,
    ).finally(() => {
      inFlight--;
      fill();
    });
    p.catch(() => {}); // awaited in order below; a failure is seen there
    pages.set(a, p);
  };
  const fill = () => {
    while (inFlight < PARALLEL && nextAfter < known && !cancelled()) {
      fetchPage(nextAfter);
      nextAfter += PAGE;
    }
  };
  const learn = (last: number) => {
    known = Math.max(known, last);
    fill();
  };
  fetchPage(after);
  lastSeqHint?.then(learn, () => {});
  for (let a = after; ; a += PAGE) {
    const page = await pages.get(a)!;
    if (cancelled()) return page.lastSeq;
    learn(page.lastSeq);
    apply(page.items);
    if (a + PAGE >= known) return known;
    fetchPage(a + PAGE); // normally fetched ahead already
  }
}
