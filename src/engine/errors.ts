/**
 * An error caused by the user's input (a file, a config field, a flag). The CLI prints its message
 * as one line and exits with code 2; it never shows a stack trace for these.
 */
export class InputError extends Error {
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

/** Builds the conventional one-line message: `<file>: <field>: <problem> (allowed: <values>)`. */
export function inputError(where: string, problem: string, allowed?: string): InputError {
  return new InputError(`${where}: ${problem}${allowed ? ` (allowed: ${allowed})` : ''}`);
}
