import parsePrometheusTextFormat from 'parse-prometheus-text-format';

export type MetricFamilies = ReturnType<typeof parsePrometheusTextFormat>;

/** Fetches a node's /metrics and parses it with a Prometheus text-format parser. */
export async function scrape(httpUrl: string): Promise<MetricFamilies> {
  const response = await fetch(`${httpUrl}/metrics`);
  if (response.status !== 200) throw new Error(`${httpUrl}/metrics answered ${response.status}`);
  const type = response.headers.get('content-type') ?? '';
  if (!type.startsWith('text/plain'))
    throw new Error(`${httpUrl}/metrics has content type ${type}`);
  return parsePrometheusTextFormat(await response.text());
}

/** The sum of every sample of a counter or gauge (over all label values). */
export function total(families: MetricFamilies, name: string): number {
  const family = families.find((f) => f.name === name);
  if (family === undefined) throw new Error(`no metric ${name}`);
  return family.metrics.reduce((sum, m) => sum + Number(m.value ?? 0), 0);
}

/** The value of one sample (a counter or gauge), matched by its labels; throws when absent. */
export function sample(
  families: MetricFamilies,
  name: string,
  labels: Record<string, string> = {},
): number {
  const family = families.find((f) => f.name === name);
  if (family === undefined) throw new Error(`no metric ${name}`);
  const match = family.metrics.find((m) =>
    Object.entries(labels).every(([k, v]) => m.labels?.[k] === v),
  );
  if (match === undefined) throw new Error(`no sample of ${name} with ${JSON.stringify(labels)}`);
  return Number(match.value ?? match.count);
}

/** The number of observations of a histogram. */
export function histogramCount(families: MetricFamilies, name: string): number {
  const family = families.find((f) => f.name === name);
  if (family === undefined || family.type !== 'HISTOGRAM') throw new Error(`no histogram ${name}`);
  // The +Inf bucket counts every observation (the parser drops _count when samples carry labels).
  return Number(family.metrics[0]?.buckets?.['+Inf'] ?? 0);
}
