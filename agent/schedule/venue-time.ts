/**
 * Times for people: the box keeps and compares every time in UTC; a person at the venue or in the fleet
 * reads kick-off in the venue's time zone (the schedule message's `timezone`), with its abbreviation, so a
 * summer-time change or an operator abroad cannot misread it.
 */

const human = new Map<string, Intl.DateTimeFormat>();
const parts = new Map<string, Intl.DateTimeFormat>();

function cached(cache: Map<string, Intl.DateTimeFormat>, key: string, make: () => Intl.DateTimeFormat): Intl.DateTimeFormat {
  let format = cache.get(key);
  if (!format) {
    format = make();
    cache.set(key, format);
  }
  return format;
}

const toDate = (time: string | number): Date => new Date(time);

/** `Sun, 1 Jun 2025, 20:45 CEST` for 2025-06-01T18:45:00Z in Europe/Zurich. */
export function formatVenueTime(time: string | number, timeZone: string, locale = 'en-GB'): string {
  return cached(human, `${locale}/${timeZone}`, () =>
    new Intl.DateTimeFormat(locale, { timeZone, weekday: 'short', year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZoneName: 'short' }),
  ).format(toDate(time));
}

/** The same instant as ISO 8601 with the venue's offset: `2025-06-01T20:45:00+02:00`. */
export function venueIsoString(time: string | number, timeZone: string): string {
  const format = cached(parts, timeZone, () =>
    new Intl.DateTimeFormat('en-US', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23', timeZoneName: 'longOffset' }),
  );
  const p = Object.fromEntries(format.formatToParts(toDate(time)).map((part) => [part.type, part.value]));
  // longOffset is `GMT+02:00`, or plain `GMT` at offset zero.
  const offset = (p['timeZoneName'] ?? 'GMT').replace(/^GMT/, '') || '+00:00';
  return `${p['year']}-${p['month']}-${p['day']}T${p['hour']}:${p['minute']}:${p['second']}${offset}`;
}
