/**
 * Structured logging for the daemon: one record per line on stderr.
 * JSON lines by default (machines read them); "text" for a human at a terminal.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFormat = 'json' | 'text';
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

/** JSON.stringify that survives the values a map dump or an error can carry. */
export function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) return { name: value.name, message: value.message };
  if (value && typeof value === 'object' && (value as { type?: string }).type === 'Buffer' && Array.isArray((value as { data?: unknown }).data)) {
    return Buffer.from((value as { data: number[] }).data).toString('hex');
  }
  if (value instanceof Map) return Object.fromEntries(value);
  return value;
}

function formatJson(level: LogLevel, msg: string, fields: LogFields | undefined, now: Date): string {
  const record: Record<string, unknown> = { ts: now.toISOString(), level, msg };
  if (fields && Object.keys(fields).length > 0) record.fields = fields;
  return JSON.stringify(record, jsonReplacer);
}

function formatText(level: LogLevel, msg: string, fields: LogFields | undefined, now: Date): string {
  const parts = [now.toISOString(), level.toUpperCase().padEnd(5), msg];
  for (const [key, value] of Object.entries(fields ?? {})) {
    const text = typeof value === 'string' ? value : JSON.stringify(value, jsonReplacer);
    parts.push(`${key}=${text}`);
  }
  return parts.join(' ');
}

const formatters: Record<LogFormat, typeof formatJson> = { json: formatJson, text: formatText };

export function createLogger(format: LogFormat, write: (line: string) => void = (line) => process.stderr.write(line + '\n')): Logger {
  const emit = (level: LogLevel) => (msg: string, fields?: LogFields) => write(formatters[format](level, msg, fields, new Date()));
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') };
}

/** A logger that drops everything (library use, tests). */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
