/** Parses `--brokers` (comma-separated endpoints; host:port is taken as tcp://host:port). */
export function parseBrokers(value: string | string[]): string[] {
  const parts = (Array.isArray(value) ? value : [value])
    .flatMap((v) => v.split(','))
    .map((s) => s.trim());
  const endpoints = parts
    .filter((s) => s.length > 0)
    .map((s) => (s.includes('://') ? s : `tcp://${s}`));
  if (endpoints.length === 0)
    throw new Error('--brokers needs at least one endpoint, e.g. 127.0.0.1:7001');
  return endpoints;
}

export const brokersOption = {
  type: 'string',
  demandOption: true,
  describe: 'Broker client endpoints, comma-separated (e.g. 127.0.0.1:7001,127.0.0.1:7004)',
} as const;
