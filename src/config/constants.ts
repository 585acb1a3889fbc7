/** The axes of the paper's table, in the paper's order (rows: task, objective; columns: mode). */
export const TASKS = ['ocr', 'chunking', 'segmentation'] as const;
export const OBJECTIVES = ['cross-entropy', 'ssvm', 'log-likelihood', 'cross-entropy-mf'] as const;
export const MODES = ['stage', 'joint', 'online', 'offline', 'offline-reg'] as const;
export const BACKENDS = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;

export type Objective = (typeof OBJECTIVES)[number];
export type Mode = (typeof MODES)[number];
export type BackendChoice = (typeof BACKENDS)[number];
