import { InvalidRequestError } from './errors.js';

/** What a broker endpoint looks like, for error messages. */
const expectedForm = 'expected host:port or tcp://host:port, e.g. 127.0.0.1:7001';

/** A host name or an IPv4 address: letters, digits, dots and hyphens. */
const hostNamePattern = /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/;
/** An IPv6 address in brackets, as in `[::1]:7001`. */
const ipv6Pattern = /^\[[0-9A-Fa-f:.]+\]$/;

/**
 * Reads one broker client endpoint, written `host:port` or
 * `tcp://host:port` (the form ZeroMQ takes), and returns it as
 * `tcp://host:port`. Anything else (no port, a port out of 1-65535,
 * another scheme, a wildcard host) is an InvalidRequestError naming the
 * endpoint, raised here rather than later from inside ZeroMQ, where it
 * could only surface as an exception with no caller to catch it.
 */
export function parseEndpoint(text: string): string {
  const problem = endpointProblem(text);
  if (problem !== null)
    throw new InvalidRequestError(
      `invalid broker endpoint "${text}": ${problem} (${expectedForm})`,
    );
  const trimmed = text.trim();
  return trimmed.startsWith('tcp://') ? trimmed : `tcp://${trimmed}`;
}

/**
 * Reads a list of broker endpoints (each as parseEndpoint does); `what`
 * names the list's owner in the error an empty list gets.
 */
export function parseEndpoints(endpoints: readonly string[], what: string): string[] {
  if (!Array.isArray(endpoints))
    throw new InvalidRequestError(`${what} needs a list of broker endpoints (${expectedForm})`);
  if (endpoints.length === 0)
    throw new InvalidRequestError(`${what} needs at least one broker endpoint (${expectedForm})`);
  return endpoints.map((endpoint) => parseEndpoint(endpoint));
}

/** The endpoint as `tcp://host:port`, or null when it is not a valid one (a broker's leader hint). */
export function tryParseEndpoint(text: string): string | null {
  return endpointProblem(text) === null ? parseEndpoint(text) : null;
}

/** What is wrong with an endpoint, or null when nothing is. */
function endpointProblem(text: unknown): string | null {
  if (typeof text !== 'string') return `not a string but ${typeof text}`;
  let rest = text.trim();
  if (rest.length === 0) return 'it is empty';
  const schemeEnd = rest.indexOf('://');
  if (schemeEnd >= 0) {
    const scheme = rest.slice(0, schemeEnd);
    if (scheme !== 'tcp') return `the scheme ${scheme}:// is not supported, only tcp://`;
    rest = rest.slice(schemeEnd + 3);
  }
  const colon = rest.lastIndexOf(':');
  if (colon < 0 || (rest.startsWith('[') && !rest.slice(colon - 1).startsWith(']:')))
    return 'it has no port';
  const host = rest.slice(0, colon);
  const port = rest.slice(colon + 1);
  if (port.length === 0) return 'it has no port';
  if (host.length === 0) return 'it has no host';
  if (!hostNamePattern.test(host) && !ipv6Pattern.test(host))
    return `"${host}" is not a host name or IP address`;
  if (!/^[0-9]+$/.test(port)) return `the port "${port}" is not a number`;
  const portNumber = Number(port);
  if (portNumber < 1 || portNumber > 65_535) return `the port ${port} is out of range 1-65535`;
  return null;
}
