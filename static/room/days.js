// Dates as the conversation names them: "Today", "Yesterday", else the date, in the reader's
// own time zone and language.

/** The local calendar day as YYYY-MM-DD: what day separators compare, and their datetime. */
export function dayKey(date) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/** "Today", "Yesterday", "Monday 3 June" this year, "3 June 2023" before. */
export function dayLabel(date, now = new Date()) {
  const key = dayKey(date);
  if (key === dayKey(now)) return 'Today';
  const yesterday = new Date(now.getFullYear(), now.getMonth(), now.getDate() - 1);
  if (key === dayKey(yesterday)) return 'Yesterday';
  if (date.getFullYear() === now.getFullYear()) {
    return date.toLocaleDateString(undefined, { weekday: 'long', day: 'numeric', month: 'long' });
  }
  return date.toLocaleDateString(undefined, { day: 'numeric', month: 'long', year: 'numeric' });
}

/** The whole date, for a separator's tooltip. */
export function fullDate(date) {
  return date.toLocaleDateString(undefined, { dateStyle: 'full' });
}
