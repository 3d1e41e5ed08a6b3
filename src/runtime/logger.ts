import winston from 'winston';

export type Logger = winston.Logger;

/**
 * Builds the node's winston logger. Level comes from the argument or
 * ORDO_LOG_LEVEL (default 'info'); ORDO_LOG_FORMAT=json gives one JSON object
 * per line for log shippers, otherwise a compact human format.
 */
export function createLogger(component: string, level?: string): Logger {
  const json = process.env['ORDO_LOG_FORMAT'] === 'json';
  return winston.createLogger({
    level: level ?? process.env['ORDO_LOG_LEVEL'] ?? 'info',
    defaultMeta: { component },
    format: json
      ? winston.format.combine(winston.format.timestamp(), winston.format.json())
      : winston.format.combine(
          winston.format.timestamp({ format: 'HH:mm:ss.SSS' }),
          winston.format.printf((info) => {
            const { timestamp, level: lvl, message, component: c, ...rest } = info;
            const extra = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : '';
            return `${String(timestamp)} ${lvl.padEnd(5)} [${String(c)}] ${String(message)}${extra}`;
          }),
        ),
    transports: [
      new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug'] }),
    ],
  });
}
