import winston from 'winston';

export type Logger = winston.Logger;

export const LogFormats = ['json', 'text'] as const;
export type LogFormat = (typeof LogFormats)[number];
export const LogLevels = ['error', 'warn', 'info', 'debug'] as const;

/**
 * Builds a winston logger. Level comes from the argument or ORDO_LOG_LEVEL
 * (default 'info'); the format from the argument or ORDO_LOG_FORMAT: `json`
 * gives one JSON object per line for log shippers, `text` a compact human
 * format (the default when neither says).
 */
export function createLogger(component: string, level?: string, format?: LogFormat): Logger {
  const json = (format ?? process.env['ORDO_LOG_FORMAT']) === 'json';
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
