/** Exit codes of the talos-upgrade command. */
export const EXIT = { ok: 0, failure: 1, invalidInput: 2 } as const;

/** An error the user can fix from its message alone: printed without a stack trace. */
export class UserError extends Error {
  override name = 'UserError';
  constructor(
    message: string,
    readonly exitCode: number = EXIT.invalidInput,
  ) {
    super(message);
  }
}
