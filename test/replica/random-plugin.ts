/**
 * A deliberately non-deterministic plugin: `apply` reads Math.random, which
 * the determinism rules forbid, so every replica ends in a different state
 * from the same input. The divergence test proves that this is caught.
 */
import type { StateMachine } from '../../clients/replica/state-machine.js';

export const pluginName = 'random-counter';

export class RandomCounter implements StateMachine<{ op: 'sum' }, number> {
  private values: number[] = [];

  apply(): void {
    this.values.push(Math.random());
  }

  snapshot(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify(this.values));
  }

  restore(snapshot: Uint8Array): void {
    this.values = JSON.parse(new TextDecoder().decode(snapshot)) as number[];
  }

  query(): number {
    return this.values.reduce((a, b) => a + b, 0);
  }
}

export default function createRandomCounter(): RandomCounter {
  return new RandomCounter();
}
