import { canonicalJson } from '../config/cells.js';
import { MODES, OBJECTIVES, TASKS } from '../core/constants.js';

/** The order of sps's tables and figures: tasks, objectives and modes in the paper's order, swept values by size. */

/** Comparator for one axis: values of `known` first in that order, then the others alphabetically. */
export function axisOrder(known: readonly string[]): (a: string, b: string) => number {
  return (a, b) => {
    const ia = known.indexOf(a);
    const ib = known.indexOf(b);
    if (ia >= 0 && ib >= 0) return ia - ib;
    if (ia >= 0) return -1;
    if (ib >= 0) return 1;
    return a < b ? -1 : a > b ? 1 : 0;
  };
}

export const compareTasks = axisOrder(TASKS);
export const compareObjectives = axisOrder(OBJECTIVES);
export const compareModes = axisOrder(MODES);

/** Sweep values in order: numbers by size, anything else by its JSON text; an absent value last. */
export function compareValues(a: unknown, b: unknown): number {
  if (a === undefined || b === undefined) return a === b ? 0 : a === undefined ? 1 : -1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const [x, y] = [canonicalJson(a), canonicalJson(b)];
  return x < y ? -1 : x > y ? 1 : 0;
}
