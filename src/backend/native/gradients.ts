/**
 * The gradients of Sum and Mean for the native back end, without tfjs's `ones(x.shape)`. tfjs fills
 * that array in JS and copies it into the back end on every backward pass, only to multiply dy by 1:
 * in a 256² matMul training step this was about a sixth of the time. Here dy is broadcast to x's
 * shape instead (tf.broadcastTo, which runs the Tile kernel, in C on native). The values are the same
 * to the bit: dy·1 = dy in IEEE arithmetic, and mean's (dy·1)/n is dy/n, divided before the
 * broadcast rather than after. registerNativeKernels installs these and unregisterNativeKernels puts
 * tfjs's back (the gradient registry is global, not per back end).
 */
import * as tf from '@tensorflow/tfjs';
import { Mean, Sum } from '@tensorflow/tfjs';

/** dy with the reduced axes of x put back as 1s, so that it broadcasts against x, and how many entries each dy entry sums. */
function expandedDy(dy: tf.Tensor, x: tf.Tensor, axis: unknown): { dy: tf.Tensor; count: number } {
  const shape = x.shape.slice();
  let count = 1;
  for (const a of tf.util.parseAxisParam(axis as number | number[], x.shape)) {
    count *= x.shape[a];
    shape[a] = 1;
  }
  return { dy: tf.reshape(dy, shape), count };
}

const GRADIENTS: readonly tf.GradConfig[] = [
  {
    kernelName: Sum,
    inputsToSave: ['x'],
    gradFunc: (dy, [x], attrs) => ({ x: () => tf.broadcastTo(expandedDy(dy as tf.Tensor, x, attrs.axis).dy, x.shape) }),
  },
  {
    kernelName: Mean,
    inputsToSave: ['x'],
    gradFunc: (dy, [x], attrs) => ({
      x: () => {
        const e = expandedDy(dy as tf.Tensor, x, attrs.axis);
        return tf.broadcastTo(tf.div(e.dy, e.count), x.shape);
      },
    }),
  },
];

/** tfjs's gradients that ours replaced, while ours are installed. */
const replaced = new Map<string, tf.GradConfig | undefined>();

/** Install the broadcast gradients (idempotent). */
export function registerNativeGradients(): void {
  if (replaced.size > 0) return;
  for (const g of GRADIENTS) {
    replaced.set(g.kernelName, tf.getGradient(g.kernelName));
    tf.registerGradient(g);
  }
}

/** Put tfjs's gradients back (idempotent). */
export function unregisterNativeGradients(): void {
  for (const [, previous] of replaced) if (previous) tf.registerGradient(previous);
  replaced.clear();
}
