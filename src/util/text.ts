/**
 * Strings from run folders, configs and plans are untrusted: these put them into Markdown, file
 * names and terminal lines without letting them act as markup, paths or escape sequences.
 */

/**
 * Text for Markdown (a table cell, a heading, a caption): the characters that start markup, `<` and
 * `>` among them, are backslash-escaped (a CommonMark renderer shows them literally, so no raw HTML
 * or link gets through), `|` cannot end a table cell, and line breaks become spaces (a cell or a
 * heading is one line).
 */
export function escapeMarkdown(s: string): string {
  return s
    .replace(/\\/g, '\\\\')
    .replace(/\|/g, '\\|')
    .replace(/[*_`<>[\]]/g, (ch) => `\\${ch}`)
    .replace(/[\r\n]+/g, ' ');
}

/**
 * A name that is safe as one file-name component: letters, digits, `.`, `_`, `+` and `-` kept, any
 * other character `_`, and no leading dot (so never `.`, `..` or a hidden file). The same name always
 * gives the same result, so links stay stable between reports.
 */
export function safeFileName(s: string): string {
  const name = s.replace(/[^A-Za-z0-9._+-]/g, '_').replace(/^\.+/, (dots) => '_'.repeat(dots.length));
  return name === '' ? '_' : name;
}

/**
 * Text for one terminal line: control characters (escape sequences, carriage returns, line breaks)
 * shown as `\xNN`/`\n` instead of being sent to the terminal.
 */
export function printable(s: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are what this looks for
  return s.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => (c === '\n' ? '\\n' : c === '\t' ? ' ' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}

/** A word for the shell: bare when it is plainly safe, else single-quoted (nothing inside is special). */
export const shellQuote = (s: string): string => (/^[A-Za-z0-9_./:=@%+,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
