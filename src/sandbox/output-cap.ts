// Bounded output collector: keeps the first and last half of a stream (the start shows what ran,
// the end shows how it finished) in O(limit) memory, however much the process prints.

function isLowSurrogate(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  return c >= 0xdc00 && c <= 0xdfff;
}

export class OutputCap {
  readonly limit: number;
  private readonly half: number;
  private head = '';
  private tail = '';
  private droppedBytes = 0;

  constructor(limit: number) {
    this.limit = Math.max(2, Math.floor(limit));
    this.half = Math.floor(this.limit / 2);
  }

  push(chunk: string): void {
    if (chunk.length === 0) return;
    let rest = chunk;
    if (this.head.length < this.half) {
      let take = this.half - this.head.length;
      // Never split a surrogate pair between head and tail.
      if (take < rest.length && isLowSurrogate(rest, take)) take--;
      this.head += rest.slice(0, take);
      rest = rest.slice(take);
      if (rest.length === 0) return;
    }
    this.tail += rest;
    // Trim only once the tail doubles, so trimming costs amortised O(1) per character.
    if (this.tail.length > this.half * 2) this.trimTail();
  }

  private trimTail(): void {
    let cut = this.tail.length - this.half;
    if (cut > 0 && cut < this.tail.length && isLowSurrogate(this.tail, cut)) cut++;
    if (cut <= 0) return;
    this.droppedBytes += Buffer.byteLength(this.tail.slice(0, cut), 'utf8');
    // Copy so the kept tail does not pin the larger string it was sliced from.
    this.tail = Buffer.from(this.tail.slice(cut), 'utf8').toString('utf8');
  }

  get truncated(): boolean {
    return this.droppedBytes > 0 || this.tail.length > this.half;
  }

  toString(): string {
    if (this.tail.length > this.half) this.trimTail();
    if (this.droppedBytes === 0) return this.head + this.tail;
    return `${this.head}\n…[truncated ${this.droppedBytes} bytes]…\n${this.tail}`;
  }
}
