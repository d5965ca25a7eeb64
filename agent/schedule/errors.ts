/** The schedule's errors: an invalid schedule (every issue, by path), and a command the scheduler refuses. */

export interface ScheduleIssue {
  /** `(root)`, `timezone`, `events[2].end`. */
  path: string;
  message: string;
}

export class ScheduleValidationError extends Error {
  override readonly name = 'ScheduleValidationError';
  readonly issues: ScheduleIssue[];

  constructor(issues: ScheduleIssue[], what = 'schedule', options?: { cause?: unknown }) {
    const count = issues.length === 1 ? '1 issue' : `${issues.length} issues`;
    super(`invalid ${what}: ${count}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, options);
    this.issues = issues;
  }
}

/** A command (extend, start-now, stop) that cannot be done now; the message says why and what to do instead. */
export class ScheduleCommandRefused extends Error {
  override readonly name = 'ScheduleCommandRefused';
}

/** A schedule file that cannot be read (missing, unreadable); an invalid one is a ScheduleValidationError. */
export class ScheduleFileError extends Error {
  override readonly name = 'ScheduleFileError';
}
