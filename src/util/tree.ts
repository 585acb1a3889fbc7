/** A JSON mapping (an object that is not a list): what a config section or a YAML mapping parses to. */
export const isMapping = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === 'object' && !Array.isArray(x);
