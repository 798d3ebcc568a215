/**
 * An error caused by the user's input (a file, a config field, a flag). The CLI prints its message
 * as one line and exits with code 2; it never shows a stack trace for these.
 *
 * The message is kept to one line whatever it quotes: names taken from hostile files (a tensor, zip
 * entry or config key containing a newline, an escape sequence or a NUL) have their control and
 * line-separator characters written as escapes (`\n`, `\u001b`), so they can neither split the line
 * nor drive the terminal.
 */
export class InputError extends Error {
  readonly exitCode = 2;
  constructor(message: string) {
    super(clip(oneLine(message)));
    this.name = 'InputError';
  }
}

/** Longest message kept whole: the longest real one (a list of allowed names) is a few hundred characters. */
const MAX_MESSAGE = 2000;
const clip = (text: string) => (text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE - 1)}…` : text);

const ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** `text` with C0/C1 control characters and U+2028/U+2029 escaped. */
export function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Builds the conventional one-line message: `<file>: <field>: <problem> (allowed: <values>)`. */
export function inputError(where: string, problem: string, allowed?: string): InputError {
  return new InputError(`${where}: ${problem}${allowed ? ` (allowed: ${allowed})` : ''}`);
}

/**
 * A value as an error message quotes it: JSON (numbers bare), cut to `max` characters so a hostile
 * megabyte-long string cannot flood the one line.
 */
export function showValue(value: unknown, max = 60): string {
  let text: string;
  try {
    // Binary values (pickle bytes) by size: their JSON would be as long as the data.
    if (ArrayBuffer.isView(value)) text = `<${value.byteLength} bytes>`;
    else text = typeof value === 'number' ? String(value) : (JSON.stringify(value) ?? String(value));
  } catch {
    text = String(value);
  }
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/**
 * The environment failed the run, not the input: a write on a full disk, a read-only or vanished
 * directory. The CLI prints the message as one line (which file, why, and what is kept) and exits with
 * code 3; no stack trace.
 */
export class StorageError extends Error {
  readonly exitCode = 3;
  constructor(message: string) {
    super(oneLine(message));
    this.name = 'StorageError';
  }
}
