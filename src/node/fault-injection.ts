import { ConfigError } from './config-error.js';

/**
 * Deliberate message loss, for tests only: it proves that NACK repair and
 * retries deliver identical streams over a lossy path. Set through the
 * ORDO_TEST_FAULTS environment variable, e.g.
 * `{"dropMulticastFraction":0.2,"dropNackFraction":0.3,"dropDeliveryFraction":0.1}`.
 */
export interface FaultInjection {
  dropMulticast(): boolean;
  dropNack(): boolean;
  dropDelivery(): boolean;
  readonly description: string;
}

export const NO_FAULTS: FaultInjection = {
  dropMulticast: () => false,
  dropNack: () => false,
  dropDelivery: () => false,
  description: 'none',
};

export function faultInjectionFromEnv(
  text: string | undefined,
  random: () => number = Math.random,
): FaultInjection {
  if (text === undefined || text === '') return NO_FAULTS;
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text) as Record<string, unknown>;
  } catch (error) {
    throw new ConfigError(`ORDO_TEST_FAULTS is not valid JSON: ${(error as Error).message}`);
  }
  const fraction = (name: string): number => {
    const value = raw[name] ?? 0;
    if (typeof value !== 'number' || value < 0 || value >= 1) {
      throw new ConfigError(
        `ORDO_TEST_FAULTS.${name} must be a number in [0, 1), got ${JSON.stringify(value)}`,
      );
    }
    return value;
  };
  const multicast = fraction('dropMulticastFraction');
  const nack = fraction('dropNackFraction');
  const delivery = fraction('dropDeliveryFraction');
  return {
    dropMulticast: () => multicast > 0 && random() < multicast,
    dropNack: () => nack > 0 && random() < nack,
    dropDelivery: () => delivery > 0 && random() < delivery,
    description: `drop multicast ${multicast}, NACK ${nack}, delivery ${delivery}`,
  };
}
