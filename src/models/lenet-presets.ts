/**
 * LeNet sizes by name, apart from the network (lenet.ts), so that the OCR task's config schema can
 * list them without loading TensorFlow.
 */

/** Classic LeNet-5 sizes (6-16-120-84) and the "20-50-500" LeNet of PyTorch/Caffe's MNIST example. */
export const LENET_PRESETS = {
  lenet5: { conv: [6, 16], fc: [120, 84] },
  'lenet20-50-500': { conv: [20, 50], fc: [500] },
} as const satisfies Record<string, { conv: readonly number[]; fc: readonly number[] }>;
