// The one place that imports TensorFlow.js. Everything else imports `tf` from here so that the
// backend registration (wasm, optional native bindings) happens exactly once and in one way.
// We use the union package because tfjs-core's Node bundle does not register gradients.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

export { tf };
export type Tensor = tf.Tensor;
export type Tensor1D = tf.Tensor1D;
export type Tensor2D = tf.Tensor2D;
export type Tensor4D = tf.Tensor4D;
export type Tensor5D = tf.Tensor5D;

// PROD silences tfjs's console warnings, among them the "install the node backend" banner on the cpu
// backend: the CLI prints the backend it chose itself, once.
tf.env().set('PROD', true);
