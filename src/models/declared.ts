import { inputError } from '../engine/errors.js';
import type { Tensor1D, Tensor4D } from '../engine/tf.js';
import type { DeclaredClassifier, LogitsRequest, ModelLossAndGradOptions } from './classifier.js';
import { logitsLossAndGrad } from '../../attacks/gradients.js';

/**
 * Resolves a request against what the model declares: omitted fields take `defaultOutput` and
 * `defaultPath`; a name the model does not offer is one InputError line naming the model and its offer,
 * e.g. `model "mobilenet": has no gradient path "e2e" (allowed: direct)`.
 */
export function resolveRequest(
  model: Pick<DeclaredClassifier, 'name' | 'outputs' | 'defaultOutput' | 'gradientPaths'>,
  defaultPath: string,
  request: LogitsRequest = {},
): { output: string; path: string } {
  const output = request.output ?? model.defaultOutput;
  const path = request.path ?? defaultPath;
  if (!model.outputs.includes(output))
    throw inputError(`model "${model.name}"`, `has no output ${JSON.stringify(output)}`, model.outputs.join(', '));
  if (!model.gradientPaths.includes(path))
    throw inputError(`model "${model.name}"`, `has no gradient path ${JSON.stringify(path)}`, model.gradientPaths.join(', '));
  return { output, path };
}

/**
 * The Classifier.lossAndGrad contract implemented on top of a model's differentiable `logitsFor`:
 * per-sample loss [N] that an attack ascends (attacks/losses.ts attackLoss: ce, C&W margin or DLR,
 * targeted as that function says) and d(sum of loss)/dx [N,H,W,C] in [0,1] pixel space, by
 * tf.valueAndGrad: attacks/gradients.ts logitsLossAndGrad, what the attacks themselves call.
 * Labels are int32 [N].
 */
export function lossAndGradVia(
  model: Pick<DeclaredClassifier, 'logitsFor'>,
  x: Tensor4D,
  y: Tensor1D,
  options: ModelLossAndGradOptions,
): { loss: Tensor1D; grad: Tensor4D } {
  const { loss, grad, logits } = logitsLossAndGrad(model, x, y, options);
  logits.dispose();
  return { loss, grad };
}
