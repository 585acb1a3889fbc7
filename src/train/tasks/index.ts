/**
 * The task registry: the built-in tasks' definitions and the plugin tasks of $SPS_PLUGINS. Only the
 * definitions are loaded here (schemas, data sets); each task loads the code that trains, and with
 * it TensorFlow, when one of its cells runs.
 */
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REGISTRY, type DatasetSpec } from '../../data/registry.js';
import { SpsError } from '../../util/errors.js';
import type { TaskDefinition } from '../../core/task.js';
import { chunkingTask } from './chunking-def.js';
import { ocrTask } from './ocr-def.js';
import { segmentationTask } from './segmentation-def.js';
import { posTask } from '../../tasks/pos/def.js';

/** The paper's three tasks, and the POS task beyond the paper (written on the public task API: src/tasks/). */
const BUILTIN: TaskDefinition[] = [ocrTask, chunkingTask, segmentationTask, posTask];

let plugins: TaskDefinition[] | undefined;

function isTask(x: unknown): x is TaskDefinition {
  const t = x as TaskDefinition;
  return !!t && typeof t.name === 'string' && typeof t.run === 'function' && typeof t.datasets === 'function';
}

/** A plugin's data set may not take the name of another data set: `sps run` would prepare the wrong one. */
function checkDatasetNames(path: string, task: TaskDefinition, taken: Map<string, string>): void {
  for (const spec of task.datasetSpecs ?? []) {
    const owner = taken.get(spec.name);
    if (owner)
      throw new SpsError(`SPS_PLUGINS: ${path}: task '${task.name}' brings data set "${spec.name}", which ${owner} already defines; give it another name`);
    taken.set(spec.name, `task '${task.name}' (${path})`);
  }
}

/**
 * Extra task modules named in $SPS_PLUGINS (paths separated by ':'), each exporting a TaskDefinition
 * (made with defineTask) as `default` or a list as `tasks`. This is how a researcher adds a task
 * without forking sps, and how the test suite exercises the runner with small real tasks of its own.
 */
async function loadPlugins(): Promise<TaskDefinition[]> {
  if (plugins) return plugins;
  const found: TaskDefinition[] = [];
  const taken = new Map(REGISTRY.map((d) => [d.name, 'sps (built in)']));
  for (const spec of (process.env.SPS_PLUGINS ?? '').split(':').filter(Boolean)) {
    const path = isAbsolute(spec) ? spec : resolve(spec);
    let mod: Record<string, unknown>;
    try {
      mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
    } catch (e) {
      throw new SpsError(`SPS_PLUGINS: cannot load task module ${path}: ${(e as Error).message}`);
    }
    const tasks = [mod.default, ...(Array.isArray(mod.tasks) ? mod.tasks : [])].filter(isTask);
    if (tasks.length === 0)
      throw new SpsError(`SPS_PLUGINS: ${path} exports no task (export a TaskDefinition as default or a list as \`tasks\`; see defineTask)`);
    for (const t of tasks) checkDatasetNames(path, t, taken);
    found.push(...tasks);
  }
  plugins = found;
  return found;
}

export async function allTasks(): Promise<TaskDefinition[]> {
  return [...BUILTIN, ...(await loadPlugins())];
}

export async function findTask(name: string): Promise<TaskDefinition | undefined> {
  return (await allTasks()).find((t) => t.name === name);
}

/** The data sets `tasks` can name: sps's own registry and those the tasks bring. */
export function datasetRegistry(tasks: readonly TaskDefinition[]): DatasetSpec[] {
  return [...REGISTRY, ...tasks.flatMap((t) => t.datasetSpecs ?? [])];
}
