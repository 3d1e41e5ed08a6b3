import type { ClientIdentity, ClusterConfig } from './cluster-config.js';

/** Topic patterns: `*` stands for any run of characters; a topic a deny pattern matches is refused. */
export interface TopicRules {
  readonly allow: readonly string[];
  readonly deny: readonly string[];
}

/** What one identity may do on a secured cluster. Status and snapshot reads need no permission. */
export interface Permissions {
  readonly publish: TopicRules;
  readonly subscribe: TopicRules;
  /** Transfer the sequencer role, report as a replica, offer snapshots. */
  readonly admin: boolean;
}

export const ALL_PERMISSIONS: Permissions = {
  publish: { allow: ['*'], deny: [] },
  subscribe: { allow: ['*'], deny: [] },
  admin: true,
};

/** A listed client whose entry names no permissions: publish and read every topic, no admin. */
export const DEFAULT_CLIENT_PERMISSIONS: Permissions = {
  publish: { allow: ['*'], deny: [] },
  subscribe: { allow: ['*'], deny: [] },
  admin: false,
};

/** The nodes themselves, on each other's client ports: status requests only. */
const NODE_PERMISSIONS: Permissions = {
  publish: { allow: [], deny: [] },
  subscribe: { allow: [], deny: [] },
  admin: false,
};

const patternCache = new Map<string, RegExp>();

function matches(pattern: string, topic: string): boolean {
  let regex = patternCache.get(pattern);
  if (regex === undefined) {
    const body = pattern
      .split('*')
      .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*');
    regex = new RegExp(`^${body}$`, 's');
    if (patternCache.size < 10_000) patternCache.set(pattern, regex);
  }
  return regex.test(topic);
}

/** True when the rules allow `topic`: some allow pattern matches it and no deny pattern does. */
export function topicAllowed(rules: TopicRules, topic: string): boolean {
  return rules.allow.some((p) => matches(p, topic)) && !rules.deny.some((p) => matches(p, topic));
}

/** True when the rules allow every topic there may ever be (a subscription without a topic filter). */
export function everyTopicAllowed(rules: TopicRules): boolean {
  return rules.allow.includes('*') && rules.deny.length === 0;
}

/**
 * Why `identity` may not publish under `producerId`: another identity owns
 * it. The owner is known from the log (see ProducerTable), so every node
 * that becomes sequencer refuses alike.
 */
export function producerIdRefusal(identity: string, producerId: string): string {
  return `identity '${identity}' lacks permission 'publish' under producer id '${producerId}', which belongs to another identity`;
}

/**
 * Who may do what on a secured cluster. An insecure cluster (identity null)
 * allows everything, as before keys. Who owns which producer id is not kept
 * here but in the log: the sequencer's core refuses another identity's
 * entries under an owned producer id.
 */
export class Authorizer {
  private readonly byIdentity = new Map<string, Permissions>();

  constructor(config: ClusterConfig) {
    for (const node of config.nodes) this.byIdentity.set(`node:${node.id}`, NODE_PERMISSIONS);
    for (const client of config.clients ?? ([] as ClientIdentity[]))
      this.byIdentity.set(client.identity, client.permissions ?? DEFAULT_CLIENT_PERMISSIONS);
  }

  /** Why `identity` may not publish these items on their topics, or null. */
  publishRefusal(identity: string | null, topics: readonly string[]): string | null {
    if (identity === null) return null;
    const rules = this.permissionsOf(identity).publish;
    for (const topic of topics) {
      if (!topicAllowed(rules, topic))
        return `identity '${identity}' lacks permission 'publish' on topic '${topic}'`;
    }
    return null;
  }

  /** Why `identity` may not subscribe to `topics` (empty: every topic), or null. */
  subscribeRefusal(identity: string | null, topics: readonly string[]): string | null {
    if (identity === null) return null;
    const rules = this.permissionsOf(identity).subscribe;
    if (topics.length === 0) {
      return everyTopicAllowed(rules)
        ? null
        : `identity '${identity}' lacks permission 'subscribe' on every topic (name the topics it may read)`;
    }
    for (const topic of topics) {
      if (!topicAllowed(rules, topic))
        return `identity '${identity}' lacks permission 'subscribe' on topic '${topic}'`;
    }
    return null;
  }

  /** Why `identity` may not run the admin request `what`, or null. */
  adminRefusal(identity: string | null, what: string): string | null {
    if (identity === null || this.permissionsOf(identity).admin) return null;
    return `identity '${identity}' lacks permission 'admin' (${what})`;
  }

  private permissionsOf(identity: string): Permissions {
    return this.byIdentity.get(identity) ?? NODE_PERMISSIONS;
  }
}
