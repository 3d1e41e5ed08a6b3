import { invariant } from '../src/core/assert.js';

/**
 * A publisher's outstanding messages by producerSeq, in the order they were
 * given their producerSeqs (increasing). It replaces a Map that took one
 * insertion and one deletion per message: with a window of thousands of
 * messages turning over, the Map's rehashing cost about a tenth of the
 * publisher's time. Here a message is appended, found by its position (or a
 * binary search once holes appear), and leaves a hole that is dropped when
 * it reaches the front or when holes outnumber the messages.
 */
export class OutstandingQueue<T> {
  /** The producerSeq each slot was added under, increasing. */
  private seqs: number[] = [];
  /** The message of each slot; undefined once it left. */
  private items: (T | undefined)[] = [];
  private head = 0;
  private live = 0;

  get size(): number {
    return this.live;
  }

  /** Adds `item` under `seq`, which must be above every seq added since the last clear(). */
  add(seq: number, item: T): void {
    const last = this.seqs.length > 0 ? this.seqs[this.seqs.length - 1]! : 0;
    if (seq <= last) invariant(false, `producerSeq ${seq} added after ${last}`);
    this.seqs.push(seq);
    this.items.push(item);
    this.live++;
  }

  get(seq: number): T | undefined {
    const at = this.indexOf(seq);
    return at < 0 ? undefined : this.items[at];
  }

  has(seq: number): boolean {
    return this.get(seq) !== undefined;
  }

  /** Removes the message under `seq`; false when there is none. */
  delete(seq: number): boolean {
    const at = this.indexOf(seq);
    if (at < 0 || this.items[at] === undefined) return false;
    this.items[at] = undefined;
    this.live--;
    while (this.head < this.items.length && this.items[this.head] === undefined) this.head++;
    this.compact();
    return true;
  }

  /** The oldest message still outstanding. */
  first(): T | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined;
  }

  /** The outstanding messages in producerSeq order. */
  values(): T[] {
    const out: T[] = [];
    for (let i = this.head; i < this.items.length; i++) {
      const item = this.items[i];
      if (item !== undefined) out.push(item);
    }
    return out;
  }

  clear(): void {
    this.seqs = [];
    this.items = [];
    this.head = 0;
    this.live = 0;
  }

  /** The slot of `seq`, or -1: where it would be if the seqs since the front had no gap, else by binary search. */
  private indexOf(seq: number): number {
    const end = this.seqs.length;
    if (this.head >= end) return -1;
    const guess = this.head + (seq - this.seqs[this.head]!);
    if (guess >= this.head && guess < end && this.seqs[guess] === seq) return guess;
    let low = this.head;
    let high = end - 1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      const at = this.seqs[mid]!;
      if (at === seq) return mid;
      if (at < seq) low = mid + 1;
      else high = mid - 1;
    }
    return -1;
  }

  /**
   * Drops the slots before the front once they are half the arrays, and the
   * holes once they outnumber the messages: memory stays within a small
   * multiple of what is outstanding, at a cost spread over the deletions.
   */
  private compact(): void {
    const slots = this.items.length - this.head;
    if (slots > 2 * this.live + 1024) {
      const seqs: number[] = [];
      const items: T[] = [];
      for (let i = this.head; i < this.items.length; i++) {
        const item = this.items[i];
        if (item === undefined) continue;
        seqs.push(this.seqs[i]!);
        items.push(item);
      }
      this.seqs = seqs;
      this.items = items;
      this.head = 0;
      return;
    }
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.seqs = this.seqs.slice(this.head);
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
