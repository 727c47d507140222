// Terminal output with its colours, without HTML: SGR escape sequences (ESC [ … m) become spans
// with classes (styles.css has the 16 colours; 256-colour and true-colour codes map to the nearest
// of them), every other escape sequence is dropped. The text is rendered as text nodes, so output
// cannot inject markup, and no inline style is needed (the CSP allows none).

export interface AnsiSegment {
  text: string;
  /** CSS classes: `a-fg-N`, `a-bg-N` (N 0–15), `a-b` bold, `a-d` dim, `a-i` italic, `a-u` underline. */
  cls: string;
}

interface Sgr {
  fg?: number;
  bg?: number;
  b?: boolean;
  d?: boolean;
  i?: boolean;
  u?: boolean;
}

// CSI sequences (SGR and others), OSC sequences (…BEL or …ESC \), and lone two-byte escapes.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching terminal escapes is the point
const ESCAPES = /\u001b\[([0-9;:?]*)([@-~])|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)|\u001b[@-Z\\-_]/g;

/** The nearest of the 16 basic colours for a 256-colour palette index. */
function nearest16(n: number): number {
  if (n < 16) return n;
  if (n >= 232) return n < 244 ? 8 : 7; // greys
  const c = n - 16;
  const r = Math.floor(c / 36);
  const g = Math.floor((c % 36) / 6);
  const b = c % 6;
  const bright = Math.max(r, g, b) > 3 ? 8 : 0;
  return bright + (r > 2 ? 1 : 0) + (g > 2 ? 2 : 0) + (b > 2 ? 4 : 0);
}

function rgbTo16(r: number, g: number, b: number): number {
  const bright = Math.max(r, g, b) > 200 ? 8 : 0;
  return bright + (r > 127 ? 1 : 0) + (g > 127 ? 2 : 0) + (b > 127 ? 4 : 0);
}

function applySgr(state: Sgr, params: string): Sgr {
  const codes = params === '' ? [0] : params.split(/[;:]/).map((p) => Number(p) || 0);
  const s: Sgr = { ...state };
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i] ?? 0;
    if (c === 0) {
      for (const k of Object.keys(s)) delete s[k as keyof Sgr];
    } else if (c === 1) s.b = true;
    else if (c === 2) s.d = true;
    else if (c === 3) s.i = true;
    else if (c === 4) s.u = true;
    else if (c === 22) s.b = s.d = false;
    else if (c === 23) s.i = false;
    else if (c === 24) s.u = false;
    else if (c >= 30 && c <= 37) s.fg = c - 30;
    else if (c >= 90 && c <= 97) s.fg = c - 90 + 8;
    else if (c === 39) delete s.fg;
    else if (c >= 40 && c <= 47) s.bg = c - 40;
    else if (c >= 100 && c <= 107) s.bg = c - 100 + 8;
    else if (c === 49) delete s.bg;
    else if (c === 38 || c === 48) {
      let colour: number | undefined;
      if (codes[i + 1] === 5) {
        colour = nearest16(codes[i + 2] ?? 0);
        i += 2;
      } else if (codes[i + 1] === 2) {
        colour = rgbTo16(codes[i + 2] ?? 0, codes[i + 3] ?? 0, codes[i + 4] ?? 0);
        i += 4;
      }
      if (colour !== undefined) {
        if (c === 38) s.fg = colour;
        else s.bg = colour;
      }
    }
  }
  return s;
}

function classOf(s: Sgr): string {
  const out: string[] = [];
  if (s.fg !== undefined) out.push(`a-fg-${s.fg}`);
  if (s.bg !== undefined) out.push(`a-bg-${s.bg}`);
  if (s.b) out.push('a-b');
  if (s.d) out.push('a-d');
  if (s.i) out.push('a-i');
  if (s.u) out.push('a-u');
  return out.join(' ');
}

/** Splits terminal output into styled segments (consecutive equal styles merged). */
export function parseAnsi(input: string): AnsiSegment[] {
  const out: AnsiSegment[] = [];
  let state: Sgr = {};
  let last = 0;
  const push = (text: string) => {
    if (!text) return;
    const cls = classOf(state);
    const prev = out[out.length - 1];
    if (prev && prev.cls === cls) prev.text += text;
    else out.push({ text, cls });
  };
  for (const m of input.matchAll(ESCAPES)) {
    push(input.slice(last, m.index));
    last = m.index + m[0].length;
    if (m[2] === 'm') state = applySgr(state, m[1] ?? '');
  }
  push(input.slice(last));
  return out;
}
